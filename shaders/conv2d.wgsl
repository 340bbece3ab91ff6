// conv2d, 3x3, stride 1, no padding, NCHW; weight [O, C, 3, 3].
// CPU twin: src/cpu/conv2d.rs. Backward entry points accumulate (+=).
//
// bindings: 0 params | forward: 1 x, 2 w, 3 b, 4 y
//           backward_input: 5 dy, 2 w, 6 dx | backward_weight: 1 x, 5 dy, 7 dw
//           backward_bias: 5 dy, 8 db

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    o: u32, oh: u32, ow: u32, relu: u32,
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

const K: u32 = 3u;
override WG: u32 = 64u;

// One thread per output value y[n, o, oy, ox].
@compute @workgroup_size(WG)
fn conv2d_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.o * p.oh * p.ow) {
        return;
    }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let oi = (i / (p.ow * p.oh)) % p.o;
    let ni = i / (p.ow * p.oh * p.o);
    var acc = b[oi];
    for (var ci = 0u; ci < p.c; ci++) {
        let xb = ((ni * p.c + ci) * p.h + oy) * p.w + ox;
        let wb = (oi * p.c + ci) * K * K;
        for (var ky = 0u; ky < K; ky++) {
            for (var kx = 0u; kx < K; kx++) {
                acc = fma(x[xb + ky * p.w + kx], w[wb + ky * K + kx], acc);
            }
        }
    }
    if (p.relu != 0u) {
        acc = max(acc, 0.0);
    }
    y[i] = acc;
}

// One thread per input value dx[n, c, iy, ix]: a full correlation with the
// flipped kernel, skipping positions that fall outside dy.
@compute @workgroup_size(WG)
fn conv2d_backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.h * p.w) {
        return;
    }
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ci = (i / (p.w * p.h)) % p.c;
    let ni = i / (p.w * p.h * p.c);
    var acc = 0.0;
    for (var oi = 0u; oi < p.o; oi++) {
        let db_ = (ni * p.o + oi) * p.oh;
        let wb = (oi * p.c + ci) * K * K;
        for (var ky = 0u; ky < K; ky++) {
            let oy = i32(iy) - i32(ky);
            if (oy < 0 || oy >= i32(p.oh)) {
                continue;
            }
            for (var kx = 0u; kx < K; kx++) {
                let ox = i32(ix) - i32(kx);
                if (ox < 0 || ox >= i32(p.ow)) {
                    continue;
                }
                acc = fma(dy[(db_ + u32(oy)) * p.ow + u32(ox)], w[wb + ky * K + kx], acc);
            }
        }
    }
    dx[i] += acc;
}

// One thread per weight dw[o, c, ky, kx], summing over batch and space in a
// fixed order. No workgroup reduction: on CPU-emulated GPUs (lavapipe,
// SwiftShader) barriers cost more than the arithmetic, and even conv1's
// 288 weights keep a real GPU busy for only microseconds.
@compute @workgroup_size(WG)
fn conv2d_backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let j = gid.x + gid.y * nwg.x * WG;
    if (j >= p.o * p.c * K * K) {
        return;
    }
    let kx = j % K;
    let ky = (j / K) % K;
    let ci = (j / (K * K)) % p.c;
    let oi = j / (K * K * p.c);
    var acc = 0.0;
    for (var ni = 0u; ni < p.n; ni++) {
        let db_ = (ni * p.o + oi) * p.oh * p.ow;
        let xb = ((ni * p.c + ci) * p.h + ky) * p.w + kx;
        for (var oy = 0u; oy < p.oh; oy++) {
            for (var ox = 0u; ox < p.ow; ox++) {
                acc = fma(dy[db_ + oy * p.ow + ox], x[xb + oy * p.w + ox], acc);
            }
        }
    }
    dw[j] += acc;
}

// One thread per bias db[o].
@compute @workgroup_size(WG)
fn conv2d_backward_bias(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let oi = gid.x + gid.y * nwg.x * WG;
    if (oi >= p.o) {
        return;
    }
    let plane = p.oh * p.ow;
    var acc = 0.0;
    for (var ni = 0u; ni < p.n; ni++) {
        let base = (ni * p.o + oi) * plane;
        for (var e = 0u; e < plane; e++) {
            acc += dy[base + e];
        }
    }
    db[oi] += acc;
}
