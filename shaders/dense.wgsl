// dense (fully connected) layer as register-blocked matmuls; weight [OUT, IN] like PyTorch.
// CPU twin: src/cpu/dense.rs. Backward entry points accumulate (+=).
//
// The three matmuls are one routine, C[M, N] = A[M, K] . B[K, N], reading A and
// B through strides, so each entry point only says how its operands are laid out:
//   forward          y [n, out]  = x [n, in] . w^T     a = x,  b = w, c = y (+ bias, activation)
//                    (dense_forward_rows for a few rows, same bindings)
//   backward_input   dx [n, in] += dy [n, out] . w     a = dy, b = w, c = dx
//   backward_weight  dw [out, in] += dy^T . x          a = dy, b = x, c = dw
//   backward_bias    db [out] += column sums of dy     a = dy,        c = db
//
// bindings: 0 params, 1 a, 2 b, 3 bias, 4 c

struct Params {
    n: u32, inp: u32, out: u32, act: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

override WG: u32 = 64u;

// The activation fused into the forward pass: 0 linear, 1 relu, 2 sigmoid,
// 3 tanh (shapes::Act::code). tanh through exp(-2|v|), which stays finite:
// some drivers' built-in tanh returns NaN for large |v| instead of +-1.
fn activate(v: f32, act: u32) -> f32 {
    switch act {
        case 1u: { return max(v, 0.0); }
        case 2u: { return 1.0 / (1.0 + exp(-v)); }
        case 3u: {
            let e = exp(-2.0 * abs(v));
            let t = (1.0 - e) / (1.0 + e);
            return select(-t, t, v >= 0.0);
        }
        default: { return v; }
    }
}

// Each thread computes a BR x 4 block of C, rows r0 .. r0 + BR and columns
// c0 .. c0 + 4, in BR vec4 accumulators indexed only by constants (an
// array indexed in a loop may be kept in slow local memory). Per step of K
// it loads BR values of A and four of B for 4 BR multiply-adds, with no
// workgroup memory and no barriers: on CPU WebGPU (Chromium's SwiftShader)
// a barrier switches between every thread of the workgroup, and the 64x64
// shared-memory tiles this replaced ran fc1 at batch 32 in 17 + 29 + 22 ms
// (forward, input and weight gradients) there; 4x4 blocks took 4 + 6 + 4,
// and 8 rows instead of 4 took a quarter off the text model's products.
struct Gemm {
    m: u32, n: u32, k: u32,
    // A[m, k] = a[m * sam + k * sak]; B[k, n] = b[k * sbk + n * sbn]
    sam: u32, sak: u32, sbk: u32, sbn: u32,
}

// The thread's block: first row and first column of C; None past the end.
// Rows of C per thread.
const BR: u32 = 8u;

struct Block {
    r0: u32, c0: u32, live: bool,
}

fn block(i: u32, m: u32, n: u32) -> Block {
    let cols = (n + 3u) / 4u;
    return Block((i / cols) * BR, (i % cols) * 4u, i < cols * ((m + BR - 1u) / BR));
}

// Row i of the block is acc[i]; its column j is acc[i][j]. Rows and columns
// past the end read the last one (their sums are never stored).
fn gemm(g: Gemm, bl: Block) -> array<vec4<f32>, 8> {
    let lr = g.m - 1u;
    let lc = g.n - 1u;
    let a0 = min(bl.r0 + 0u, lr) * g.sam;
    let a1 = min(bl.r0 + 1u, lr) * g.sam;
    let a2 = min(bl.r0 + 2u, lr) * g.sam;
    let a3 = min(bl.r0 + 3u, lr) * g.sam;
    let a4 = min(bl.r0 + 4u, lr) * g.sam;
    let a5 = min(bl.r0 + 5u, lr) * g.sam;
    let a6 = min(bl.r0 + 6u, lr) * g.sam;
    let a7 = min(bl.r0 + 7u, lr) * g.sam;
    let b0 = min(bl.c0, lc) * g.sbn;
    let b1 = min(bl.c0 + 1u, lc) * g.sbn;
    let b2 = min(bl.c0 + 2u, lc) * g.sbn;
    let b3 = min(bl.c0 + 3u, lc) * g.sbn;
    var c0 = vec4<f32>();
    var c1 = vec4<f32>();
    var c2 = vec4<f32>();
    var c3 = vec4<f32>();
    var c4 = vec4<f32>();
    var c5 = vec4<f32>();
    var c6 = vec4<f32>();
    var c7 = vec4<f32>();
    for (var k = 0u; k < g.k; k++) {
        let ak = k * g.sak;
        let bk = k * g.sbk;
        let bv = vec4<f32>(b[bk + b0], b[bk + b1], b[bk + b2], b[bk + b3]);
        c0 = fma(vec4<f32>(a[a0 + ak]), bv, c0);
        c1 = fma(vec4<f32>(a[a1 + ak]), bv, c1);
        c2 = fma(vec4<f32>(a[a2 + ak]), bv, c2);
        c3 = fma(vec4<f32>(a[a3 + ak]), bv, c3);
        c4 = fma(vec4<f32>(a[a4 + ak]), bv, c4);
        c5 = fma(vec4<f32>(a[a5 + ak]), bv, c5);
        c6 = fma(vec4<f32>(a[a6 + ak]), bv, c6);
        c7 = fma(vec4<f32>(a[a7 + ak]), bv, c7);
    }
    return array<vec4<f32>, 8>(c0, c1, c2, c3, c4, c5, c6, c7);
}

@compute @workgroup_size(WG)
fn dense_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let bl = block(gid.x + gid.y * nwg.x * WG, p.n, p.out);
    if (!bl.live) {
        return;
    }
    let acc = gemm(Gemm(p.n, p.out, p.inp, p.inp, 1u, 1u, p.inp), bl);
    for (var i = 0u; i < BR; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = bl.r0 + i;
            let o = bl.c0 + j;
            if (r < p.n && o < p.out) {
                c[r * p.out + o] = activate(acc[i][j] + bias[o], p.act);
            }
        }
    }
}

// dense_forward for a few rows (batch 1 at inference; the dispatch picks it
// for n <= 8): one thread per (row, output), the row's inputs staged 64 at a
// time in workgroup memory, the weight row read in order. The blocks above
// would compute 7 padding rows for every real one and give a layer at
// batch 1 only out / 4 threads (64x64 shared-memory tiles, before them, ran
// fc1 at batch 1 in 29 ms on Chromium's SwiftShader).
const ROW_CHUNK: u32 = 64u;
var<workgroup> xrow: array<f32, 64>;

@compute @workgroup_size(64)
fn dense_forward_rows(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let r = wid.y;
    let o = wid.x * ROW_CHUNK + lid.x;
    var acc = 0.0;
    for (var k0 = 0u; k0 < p.inp; k0 += ROW_CHUNK) {
        let k = k0 + lid.x;
        xrow[lid.x] = select(0.0, a[r * p.inp + min(k, p.inp - 1u)], k < p.inp);
        workgroupBarrier();
        if (o < p.out) {
            let kn = min(ROW_CHUNK, p.inp - k0);
            for (var kk = 0u; kk < kn; kk++) {
                acc += xrow[kk] * b[o * p.inp + k0 + kk];
            }
        }
        workgroupBarrier();
    }
    if (o < p.out) {
        c[r * p.out + o] = activate(acc + bias[o], p.act);
    }
}

@compute @workgroup_size(WG)
fn dense_backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let bl = block(gid.x + gid.y * nwg.x * WG, p.n, p.inp);
    if (!bl.live) {
        return;
    }
    let acc = gemm(Gemm(p.n, p.inp, p.out, p.out, 1u, p.inp, 1u), bl);
    for (var i = 0u; i < BR; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = bl.r0 + i;
            let k = bl.c0 + j;
            if (r < p.n && k < p.inp) {
                c[r * p.inp + k] += acc[i][j];
            }
        }
    }
}

@compute @workgroup_size(WG)
fn dense_backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let bl = block(gid.x + gid.y * nwg.x * WG, p.out, p.inp);
    if (!bl.live) {
        return;
    }
    let acc = gemm(Gemm(p.out, p.inp, p.n, 1u, p.out, p.inp, 1u), bl);
    for (var i = 0u; i < BR; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = bl.r0 + i;
            let k = bl.c0 + j;
            if (o < p.out && k < p.inp) {
                c[o * p.inp + k] += acc[i][j];
            }
        }
    }
}

// One thread per output unit, summing its column of dy.
@compute @workgroup_size(WG)
fn dense_backward_bias(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let o = gid.x + gid.y * nwg.x * WG;
    if (o >= p.out) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < p.n; r++) {
        acc += a[r * p.out + o];
    }
    c[o] += acc;
}
