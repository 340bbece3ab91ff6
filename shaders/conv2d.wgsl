// conv2d, k x k, stride 1, no padding, NCHW; weight [O, C, k, k].
// CPU twin: src/cpu/conv2d.rs. Backward entry points accumulate (+=).
//
// Every preset uses 3x3 kernels, so each entry point has a path written for
// k = 3 (the register blocks below, which make Chromium's SwiftShader fast)
// and a plain path for other sizes; the branch is on a uniform, so every
// thread of a dispatch takes the same one.
//
// bindings: 0 params | forward: 1 x, 2 w, 3 b, 4 y
//           backward_input: 5 dy, 2 w, 6 dx | backward_weight: 1 x, 5 dy, 7 dw
//           backward_bias: 5 dy, 8 db

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    o: u32, oh: u32, ow: u32, k: u32,
    act: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;
@group(0) @binding(8) var<storage, read_write> db: array<f32>;

override WG: u32 = 64u;

fn sigmoid4(v: vec4<f32>) -> vec4<f32> {
    return 1.0 / (1.0 + exp(-v));
}

// tanh through exp(-2|v|), which stays finite: some drivers' built-in tanh
// returns NaN for large |v| instead of +-1.
fn tanh4(v: vec4<f32>) -> vec4<f32> {
    let e = exp(-2.0 * abs(v));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, v >= vec4<f32>(0.0));
}

// The activation fused into the forward pass: 0 linear, 1 relu, 2 sigmoid,
// 3 tanh (shapes::Act::code).
fn activate(v: vec4<f32>) -> vec4<f32> {
    switch p.act {
        case 1u: { return max(v, vec4<f32>(0.0)); }
        case 2u: { return sigmoid4(v); }
        case 3u: { return tanh4(v); }
        default: { return v; }
    }
}

// Each thread of the forward and input-gradient kernels computes a block of
// CB channels x XB neighbouring columns of one output row, in CB vec4
// accumulators. Per input row it loads XB + 2 values once and reuses each
// for up to 3 columns and CB channels: about 0.3 loads per multiply-add
// where one thread per output needed 2. That matters most on CPU WebGPU
// (Chromium's SwiftShader), where every load is a bounds-checked gather per
// lane: conv2's forward pass at batch 32 went from 437 ms to ... there.
const CB: u32 = 8u;
const XB: u32 = 4u;

// The thread's block: batch item, first channel, row, first column.
struct Block {
    n: u32, ch0: u32, row: u32, col0: u32,
}

// Thread i of a grid over [n][channels / CB][rows][cols / XB], columns
// fastest; None (n == p.n) past the end.
fn block(i: u32, channels: u32, rows: u32, cols: u32) -> Block {
    let ncol = (cols + XB - 1u) / XB;
    let nch = (channels + CB - 1u) / CB;
    let col0 = (i % ncol) * XB;
    let row = (i / ncol) % rows;
    let ch0 = ((i / (ncol * rows)) % nch) * CB;
    return Block(i / (ncol * rows * nch), ch0, row, col0);
}

fn block_count(channels: u32, rows: u32, cols: u32) -> u32 {
    return p.n * ((channels + CB - 1u) / CB) * rows * ((cols + XB - 1u) / XB);
}

// acc + the three taps w[at], w[at + 1], w[at + 2] applied to the inputs
// under the block's columns shifted by 0, 1 and 2. Channels past the end
// read the last channel's weights (their sums are never stored).
fn taps(acc: vec4<f32>, at: u32, t0: vec4<f32>, t1: vec4<f32>, t2: vec4<f32>) -> vec4<f32> {
    return fma(vec4<f32>(w[at + 2u]), t2, fma(vec4<f32>(w[at + 1u]), t1, fma(vec4<f32>(w[at]), t0, acc)));
}

@compute @workgroup_size(WG)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= block_count(p.o, p.oh, p.ow)) {
        return;
    }
    let bl = block(i, p.o, p.oh, p.ow);
    let last_o = p.o - 1u;
    let K = p.k;
    // Weight offset of channel j of the block: w[o, c, ky, kx] at ((o * C + c) * k + ky) * k + kx.
    let ws = p.c * K * K;
    let o0 = min(bl.ch0, last_o) * ws;
    let o1 = min(bl.ch0 + 1u, last_o) * ws;
    let o2 = min(bl.ch0 + 2u, last_o) * ws;
    let o3 = min(bl.ch0 + 3u, last_o) * ws;
    let o4 = min(bl.ch0 + 4u, last_o) * ws;
    let o5 = min(bl.ch0 + 5u, last_o) * ws;
    let o6 = min(bl.ch0 + 6u, last_o) * ws;
    let o7 = min(bl.ch0 + 7u, last_o) * ws;
    var a0 = vec4<f32>(b[min(bl.ch0, last_o)]);
    var a1 = vec4<f32>(b[min(bl.ch0 + 1u, last_o)]);
    var a2 = vec4<f32>(b[min(bl.ch0 + 2u, last_o)]);
    var a3 = vec4<f32>(b[min(bl.ch0 + 3u, last_o)]);
    var a4 = vec4<f32>(b[min(bl.ch0 + 4u, last_o)]);
    var a5 = vec4<f32>(b[min(bl.ch0 + 5u, last_o)]);
    var a6 = vec4<f32>(b[min(bl.ch0 + 6u, last_o)]);
    var a7 = vec4<f32>(b[min(bl.ch0 + 7u, last_o)]);
    let last_x = p.w - 1u;
    if (K != 3u) {
        for (var ci = 0u; ci < p.c; ci++) {
            for (var ky = 0u; ky < K; ky++) {
                let row = ((bl.n * p.c + ci) * p.h + bl.row + ky) * p.w;
                for (var kx = 0u; kx < K; kx++) {
                    let c0 = bl.col0 + kx;
                    let t = vec4<f32>(x[row + min(c0, last_x)], x[row + min(c0 + 1u, last_x)],
                                      x[row + min(c0 + 2u, last_x)], x[row + min(c0 + 3u, last_x)]);
                    let k = (ci * K + ky) * K + kx;
                    a0 = fma(vec4<f32>(w[o0 + k]), t, a0);
                    a1 = fma(vec4<f32>(w[o1 + k]), t, a1);
                    a2 = fma(vec4<f32>(w[o2 + k]), t, a2);
                    a3 = fma(vec4<f32>(w[o3 + k]), t, a3);
                    a4 = fma(vec4<f32>(w[o4 + k]), t, a4);
                    a5 = fma(vec4<f32>(w[o5 + k]), t, a5);
                    a6 = fma(vec4<f32>(w[o6 + k]), t, a6);
                    a7 = fma(vec4<f32>(w[o7 + k]), t, a7);
                }
            }
        }
    } else {
        for (var ci = 0u; ci < p.c; ci++) {
            for (var ky = 0u; ky < K; ky++) {
                let row = ((bl.n * p.c + ci) * p.h + bl.row + ky) * p.w;
                // Columns past the edge belong to outputs that are not stored.
                let x0 = x[row + min(bl.col0, last_x)];
                let x1 = x[row + min(bl.col0 + 1u, last_x)];
                let x2 = x[row + min(bl.col0 + 2u, last_x)];
                let x3 = x[row + min(bl.col0 + 3u, last_x)];
                let x4 = x[row + min(bl.col0 + 4u, last_x)];
                let x5 = x[row + min(bl.col0 + 5u, last_x)];
                let t0 = vec4<f32>(x0, x1, x2, x3);
                let t1 = vec4<f32>(x1, x2, x3, x4);
                let t2 = vec4<f32>(x2, x3, x4, x5);
                let k = (ci * K + ky) * K;
                a0 = taps(a0, o0 + k, t0, t1, t2);
                a1 = taps(a1, o1 + k, t0, t1, t2);
                a2 = taps(a2, o2 + k, t0, t1, t2);
                a3 = taps(a3, o3 + k, t0, t1, t2);
                a4 = taps(a4, o4 + k, t0, t1, t2);
                a5 = taps(a5, o5 + k, t0, t1, t2);
                a6 = taps(a6, o6 + k, t0, t1, t2);
                a7 = taps(a7, o7 + k, t0, t1, t2);
            }
        }
    }
    put_y(bl, 0u, a0);
    put_y(bl, 1u, a1);
    put_y(bl, 2u, a2);
    put_y(bl, 3u, a3);
    put_y(bl, 4u, a4);
    put_y(bl, 5u, a5);
    put_y(bl, 6u, a6);
    put_y(bl, 7u, a7);
}

// Store channel j of a forward block, activated.
fn put_y(bl: Block, j: u32, acc: vec4<f32>) {
    let o = bl.ch0 + j;
    if (o >= p.o) {
        return;
    }
    let v = activate(acc);
    let row = ((bl.n * p.o + o) * p.oh + bl.row) * p.ow;
    for (var k = 0u; k < XB; k++) {
        if (bl.col0 + k < p.ow) {
            y[row + bl.col0 + k] = v[k];
        }
    }
}

// dy at column `col` (which may be off either edge: then 0) of a row.
fn dy_at(row: u32, col: i32) -> f32 {
    let inside = col >= 0 && col < i32(p.ow);
    return select(0.0, dy[row + u32(clamp(col, 0, i32(p.ow) - 1))], inside);
}

// dx[n, c, iy, ix] = sum over o, ky, kx of dy[n, o, iy - ky, ix - kx] w[o, c, ky, kx]:
// the forward pass's block, over dy padded by k - 1 with zeros, with the
// kernel flipped and its two channel axes swapped.
@compute @workgroup_size(WG)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= block_count(p.c, p.h, p.w)) {
        return;
    }
    let bl = block(i, p.c, p.h, p.w);
    let last_c = p.c - 1u;
    let K = p.k;
    let c0 = min(bl.ch0, last_c) * K * K;
    let c1 = min(bl.ch0 + 1u, last_c) * K * K;
    let c2 = min(bl.ch0 + 2u, last_c) * K * K;
    let c3 = min(bl.ch0 + 3u, last_c) * K * K;
    let c4 = min(bl.ch0 + 4u, last_c) * K * K;
    let c5 = min(bl.ch0 + 5u, last_c) * K * K;
    let c6 = min(bl.ch0 + 6u, last_c) * K * K;
    let c7 = min(bl.ch0 + 7u, last_c) * K * K;
    var a0 = vec4<f32>();
    var a1 = vec4<f32>();
    var a2 = vec4<f32>();
    var a3 = vec4<f32>();
    var a4 = vec4<f32>();
    var a5 = vec4<f32>();
    var a6 = vec4<f32>();
    var a7 = vec4<f32>();
    let col = i32(bl.col0);
    if (K != 3u) {
        for (var oi = 0u; oi < p.o; oi++) {
            for (var ky = 0u; ky < K; ky++) {
                let sy = i32(bl.row) - i32(ky);
                if (sy < 0 || sy >= i32(p.oh)) {
                    continue;
                }
                let row = ((bl.n * p.o + oi) * p.oh + u32(sy)) * p.ow;
                for (var kx = 0u; kx < K; kx++) {
                    let s0 = col - i32(kx);
                    let t = vec4<f32>(dy_at(row, s0), dy_at(row, s0 + 1), dy_at(row, s0 + 2), dy_at(row, s0 + 3));
                    let k = oi * p.c * K * K + ky * K + kx;
                    a0 = fma(vec4<f32>(w[c0 + k]), t, a0);
                    a1 = fma(vec4<f32>(w[c1 + k]), t, a1);
                    a2 = fma(vec4<f32>(w[c2 + k]), t, a2);
                    a3 = fma(vec4<f32>(w[c3 + k]), t, a3);
                    a4 = fma(vec4<f32>(w[c4 + k]), t, a4);
                    a5 = fma(vec4<f32>(w[c5 + k]), t, a5);
                    a6 = fma(vec4<f32>(w[c6 + k]), t, a6);
                    a7 = fma(vec4<f32>(w[c7 + k]), t, a7);
                }
            }
        }
    } else {
        for (var oi = 0u; oi < p.o; oi++) {
            for (var ky = 0u; ky < K; ky++) {
                let sy = i32(bl.row) - i32(ky);
                if (sy < 0 || sy >= i32(p.oh)) {
                    continue;
                }
                let row = ((bl.n * p.o + oi) * p.oh + u32(sy)) * p.ow;
                // dy columns col - 2 .. col + 3: the block's columns shifted by kx = 2, 1, 0.
                let s0 = dy_at(row, col - 2);
                let s1 = dy_at(row, col - 1);
                let s2 = dy_at(row, col);
                let s3 = dy_at(row, col + 1);
                let s4 = dy_at(row, col + 2);
                let s5 = dy_at(row, col + 3);
                let t0 = vec4<f32>(s2, s3, s4, s5);
                let t1 = vec4<f32>(s1, s2, s3, s4);
                let t2 = vec4<f32>(s0, s1, s2, s3);
                let k = oi * p.c * K * K + ky * K;
                a0 = taps(a0, c0 + k, t0, t1, t2);
                a1 = taps(a1, c1 + k, t0, t1, t2);
                a2 = taps(a2, c2 + k, t0, t1, t2);
                a3 = taps(a3, c3 + k, t0, t1, t2);
                a4 = taps(a4, c4 + k, t0, t1, t2);
                a5 = taps(a5, c5 + k, t0, t1, t2);
                a6 = taps(a6, c6 + k, t0, t1, t2);
                a7 = taps(a7, c7 + k, t0, t1, t2);
            }
        }
    }
    add_dx(bl, 0u, a0);
    add_dx(bl, 1u, a1);
    add_dx(bl, 2u, a2);
    add_dx(bl, 3u, a3);
    add_dx(bl, 4u, a4);
    add_dx(bl, 5u, a5);
    add_dx(bl, 6u, a6);
    add_dx(bl, 7u, a7);
}

// Add channel j of an input-gradient block into dx.
fn add_dx(bl: Block, j: u32, acc: vec4<f32>) {
    let c = bl.ch0 + j;
    if (c >= p.c) {
        return;
    }
    let row = ((bl.n * p.c + c) * p.h + bl.row) * p.w;
    for (var k = 0u; k < XB; k++) {
        if (bl.col0 + k < p.w) {
            dx[row + bl.col0 + k] += acc[k];
        }
    }
}

// For k = 3, one thread per input channel c and four output channels o: the slices
// dw[o..o+4, c, :, :], each a sum over batch x space of dy times the 3x3
// window of x under it. Along a row the window slides one column per
// output, so each step loads one new column of three x values and four dy
// values for 36 multiply-adds. The sums run in a fixed order, so the result
// is deterministic.
const DW_OB: u32 = 4u;

struct Slices {
    r0: vec3<f32>, r1: vec3<f32>, r2: vec3<f32>,
}

// Slice s + g * window rows, where rows are the window's columns c0, c1, c2.
fn slide(s: Slices, g: f32, c0: vec3<f32>, c1: vec3<f32>, c2: vec3<f32>) -> Slices {
    let gv = vec3<f32>(g);
    return Slices(
        fma(gv, vec3<f32>(c0.x, c1.x, c2.x), s.r0),
        fma(gv, vec3<f32>(c0.y, c1.y, c2.y), s.r1),
        fma(gv, vec3<f32>(c0.z, c1.z, c2.z), s.r2),
    );
}

fn add_dw(o: u32, ci: u32, s: Slices) {
    if (o >= p.o) {
        return;
    }
    let at = (o * p.c + ci) * 9u;
    dw[at] += s.r0.x;
    dw[at + 1u] += s.r0.y;
    dw[at + 2u] += s.r0.z;
    dw[at + 3u] += s.r1.x;
    dw[at + 4u] += s.r1.y;
    dw[at + 5u] += s.r1.z;
    dw[at + 6u] += s.r2.x;
    dw[at + 7u] += s.r2.y;
    dw[at + 8u] += s.r2.z;
}

// Other sizes: one thread per weight dw[o, c, ky, kx], summing dy times x
// under it over batch and space.
fn backward_weight_any(i: u32) {
    let K = p.k;
    if (i >= p.o * p.c * K * K) {
        return;
    }
    let kx = i % K;
    let ky = (i / K) % K;
    let ci = (i / (K * K)) % p.c;
    let oi = i / (K * K * p.c);
    var acc = 0.0;
    for (var ni = 0u; ni < p.n; ni++) {
        for (var oy = 0u; oy < p.oh; oy++) {
            let dr = ((ni * p.o + oi) * p.oh + oy) * p.ow;
            let xr = ((ni * p.c + ci) * p.h + oy + ky) * p.w + kx;
            for (var ox = 0u; ox < p.ow; ox++) {
                acc = fma(dy[dr + ox], x[xr + ox], acc);
            }
        }
    }
    dw[i] += acc;
}

@compute @workgroup_size(WG)
fn conv2d_backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (p.k != 3u) {
        backward_weight_any(i);
        return;
    }
    let nob = (p.o + DW_OB - 1u) / DW_OB;
    if (i >= nob * p.c) {
        return;
    }
    let ci = i % p.c;
    let o0 = (i / p.c) * DW_OB;
    // Output channels past the end read the last one (never stored).
    let last_o = p.o - 1u;
    let plane = p.oh * p.ow;
    var s0 = Slices();
    var s1 = Slices();
    var s2 = Slices();
    var s3 = Slices();
    for (var ni = 0u; ni < p.n; ni++) {
        let d0 = (ni * p.o + min(o0, last_o)) * plane;
        let d1 = (ni * p.o + min(o0 + 1u, last_o)) * plane;
        let d2 = (ni * p.o + min(o0 + 2u, last_o)) * plane;
        let d3 = (ni * p.o + min(o0 + 3u, last_o)) * plane;
        for (var oy = 0u; oy < p.oh; oy++) {
            let xr = ((ni * p.c + ci) * p.h + oy) * p.w;
            // Columns ox and ox + 1 of the window's three rows.
            var c0 = vec3<f32>(x[xr], x[xr + p.w], x[xr + 2u * p.w]);
            var c1 = vec3<f32>(x[xr + 1u], x[xr + p.w + 1u], x[xr + 2u * p.w + 1u]);
            let dr = oy * p.ow;
            for (var ox = 0u; ox < p.ow; ox++) {
                let at = xr + ox + 2u;
                let c2 = vec3<f32>(x[at], x[at + p.w], x[at + 2u * p.w]);
                s0 = slide(s0, dy[d0 + dr + ox], c0, c1, c2);
                s1 = slide(s1, dy[d1 + dr + ox], c0, c1, c2);
                s2 = slide(s2, dy[d2 + dr + ox], c0, c1, c2);
                s3 = slide(s3, dy[d3 + dr + ox], c0, c1, c2);
                c0 = c1;
                c1 = c2;
            }
        }
    }
    add_dw(o0, ci, s0);
    add_dw(o0 + 1u, ci, s1);
    add_dw(o0 + 2u, ci, s2);
    add_dw(o0 + 3u, ci, s3);
}

// The bias gradient is a sum of thousands of terms for few outputs: one
// workgroup per bias db[o], its RED threads striding over batch x space,
// then a tree sum in workgroup memory (a fixed order: deterministic).
const RED: u32 = 64u;

var<workgroup> part_b: array<f32, RED>;

@compute @workgroup_size(RED)
fn conv2d_backward_bias(
    @builtin(workgroup_id) wid: vec3u,
    @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) lid: u32,
) {
    let oi = wid.x + wid.y * nwg.x;
    if (oi >= p.o) {
        return;
    }
    let plane = p.oh * p.ow;
    var acc = 0.0;
    for (var e = lid; e < p.n * plane; e += RED) {
        acc += dy[((e / plane) * p.o + oi) * plane + e % plane];
    }
    part_b[lid] = acc;
    for (var s = RED / 2u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) {
            part_b[lid] += part_b[lid + s];
        }
    }
    workgroupBarrier();
    if (lid == 0u) {
        db[oi] += part_b[0];
    }
}
