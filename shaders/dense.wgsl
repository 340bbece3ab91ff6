// dense (fully connected) layer as tiled matmuls; weight [OUT, IN] like PyTorch.
// CPU twin: src/cpu/dense.rs. Backward entry points accumulate (+=).
//
// The three matmuls are one routine, C[M, N] = A[M, K] . B[K, N], reading A and
// B through strides, so each entry point only says how its operands are laid out:
//   forward          y [n, out]  = x [n, in] . w^T     a = x,  b = w, c = y (+ bias, relu)
//                    (dense_forward_rows for a few rows, same bindings)
//   backward_input   dx [n, in] += dy [n, out] . w     a = dy, b = w, c = dx
//   backward_weight  dw [out, in] += dy^T . x          a = dy, b = x, c = dw
//   backward_bias    db [out] += column sums of dy     a = dy,        c = db
//
// bindings: 0 params, 1 a, 2 b, 3 bias, 4 c

struct Params {
    n: u32, inp: u32, out: u32, relu: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

// A 16x16 workgroup computes a 64x64 tile of C, each thread a 4x4 block of
// rows lid.y + 16 i and columns lid.x + 16 j (strided, so that stores and
// shared-memory reads of neighbouring threads touch neighbouring addresses).
// K advances 16 at a time through two 16x64 tiles in workgroup memory.
//
// The 4x4 block lives in four vec4 accumulators indexed only by constants:
// an array indexed in a loop is kept in (slow, off-chip) local memory by
// drivers that do not unroll the loop, which cost 30x on NVIDIA's.
const TILE: u32 = 64u;
const TK: u32 = 16u;
const THREADS: u32 = 16u;

var<workgroup> ta: array<f32, 1024>; // [TK][TILE]: A tile, k-major
var<workgroup> tb: array<f32, 1024>; // [TK][TILE]: B tile, k-major

struct Gemm {
    m: u32, n: u32, k: u32,
    // A[m, k] = a[m * sam + k * sak]; B[k, n] = b[k * sbk + n * sbn]
    sam: u32, sak: u32, sbk: u32, sbn: u32,
}

// Row i of the thread's block is acc[i]; its column j is acc[i][j].
fn gemm(g: Gemm, wid: vec3u, lid: vec3u) -> array<vec4<f32>, 4> {
    var c0 = vec4<f32>();
    var c1 = vec4<f32>();
    var c2 = vec4<f32>();
    var c3 = vec4<f32>();
    let li = lid.y * THREADS + lid.x;
    let row0 = wid.y * TILE;
    let col0 = wid.x * TILE;
    for (var k0 = 0u; k0 < g.k; k0 += TK) {
        // 1024 values per tile, 256 threads: 4 loads each. Neighbouring
        // threads walk the operand's contiguous dimension so loads coalesce.
        for (var r = 0u; r < 4u; r++) {
            let e = li + r * THREADS * THREADS;
            var mm = e % TILE;
            var ka = e / TILE;
            if (g.sak == 1u) {
                mm = e / TK;
                ka = e % TK;
            }
            var va = 0.0;
            if (row0 + mm < g.m && k0 + ka < g.k) {
                va = a[(row0 + mm) * g.sam + (k0 + ka) * g.sak];
            }
            ta[ka * TILE + mm] = va;

            var nn = e % TILE;
            var kb = e / TILE;
            if (g.sbn != 1u) {
                nn = e / TK;
                kb = e % TK;
            }
            var vb = 0.0;
            if (col0 + nn < g.n && k0 + kb < g.k) {
                vb = b[(k0 + kb) * g.sbk + (col0 + nn) * g.sbn];
            }
            tb[kb * TILE + nn] = vb;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < TK; kk++) {
            let at = kk * TILE + lid.y;
            let bt = kk * TILE + lid.x;
            let av = vec4<f32>(ta[at], ta[at + 16u], ta[at + 32u], ta[at + 48u]);
            let bv = vec4<f32>(tb[bt], tb[bt + 16u], tb[bt + 32u], tb[bt + 48u]);
            c0 = fma(vec4<f32>(av.x), bv, c0);
            c1 = fma(vec4<f32>(av.y), bv, c1);
            c2 = fma(vec4<f32>(av.z), bv, c2);
            c3 = fma(vec4<f32>(av.w), bv, c3);
        }
        workgroupBarrier();
    }
    return array<vec4<f32>, 4>(c0, c1, c2, c3);
}

@compute @workgroup_size(16, 16)
fn dense_forward(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let acc = gemm(Gemm(p.n, p.out, p.inp, p.inp, 1u, 1u, p.inp), wid, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = wid.y * TILE + lid.y + i * THREADS;
            let o = wid.x * TILE + lid.x + j * THREADS;
            if (r < p.n && o < p.out) {
                var v = acc[i][j] + bias[o];
                if (p.relu != 0u) {
                    v = max(v, 0.0);
                }
                c[r * p.out + o] = v;
            }
        }
    }
}

// dense_forward for a few rows (batch 1 at inference; the dispatch picks it
// for n <= 8): one thread per (row, output), the row's inputs staged 64 at a
// time in workgroup memory, the weight row read in order. The 64x64 tiles
// above would compute 63 padding rows for every real one: fc1 at batch 1
// took 29 ms on Chromium's SwiftShader and 0.28 ms on an H200 that way.
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
        var v = acc + bias[o];
        if (p.relu != 0u) {
            v = max(v, 0.0);
        }
        c[r * p.out + o] = v;
    }
}

@compute @workgroup_size(16, 16)
fn dense_backward_input(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let acc = gemm(Gemm(p.n, p.inp, p.out, p.out, 1u, p.inp, 1u), wid, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let r = wid.y * TILE + lid.y + i * THREADS;
            let k = wid.x * TILE + lid.x + j * THREADS;
            if (r < p.n && k < p.inp) {
                c[r * p.inp + k] += acc[i][j];
            }
        }
    }
}

@compute @workgroup_size(16, 16)
fn dense_backward_weight(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let acc = gemm(Gemm(p.out, p.inp, p.n, 1u, p.out, p.inp, 1u), wid, lid);
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            let o = wid.y * TILE + lid.y + i * THREADS;
            let k = wid.x * TILE + lid.x + j * THREADS;
            if (o < p.out && k < p.inp) {
                c[o * p.inp + k] += acc[i][j];
            }
        }
    }
}

override WG: u32 = 64u;

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
