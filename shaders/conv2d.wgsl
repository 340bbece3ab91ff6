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

// The weight and bias gradients are sums over batch x space: thousands of
// terms for few outputs (conv1 has 288 weights, each a sum of n * 676 terms).
// One workgroup per filter slice dw[o, c, :, :] keeps a GPU busy: its RED
// threads stride over (n, oy, ox), each keeping the 3x3 partial sums in
// registers (every dy value is loaded once for 9 products), then a tree sum
// in workgroup memory. The order is fixed, so results are deterministic.
const RED: u32 = 64u;

var<workgroup> part_w: array<vec3<f32>, 192>; // [RED][3 rows of the 3x3 slice]
var<workgroup> part_b: array<f32, RED>;

@compute @workgroup_size(RED)
fn conv2d_backward_weight(
    @builtin(workgroup_id) wid: vec3u,
    @builtin(num_workgroups) nwg: vec3u,
    @builtin(local_invocation_index) lid: u32,
) {
    let slice = wid.x + wid.y * nwg.x;
    if (slice >= p.o * p.c) {
        return;
    }
    let ci = slice % p.c;
    let oi = slice / p.c;
    let plane = p.oh * p.ow;
    var r0 = vec3<f32>();
    var r1 = vec3<f32>();
    var r2 = vec3<f32>();
    for (var e = lid; e < p.n * plane; e += RED) {
        let ni = e / plane;
        let oy = (e % plane) / p.ow;
        let ox = e % p.ow;
        let g = vec3<f32>(dy[(ni * p.o + oi) * plane + oy * p.ow + ox]);
        let xb = ((ni * p.c + ci) * p.h + oy) * p.w + ox;
        r0 = fma(g, vec3<f32>(x[xb], x[xb + 1u], x[xb + 2u]), r0);
        r1 = fma(g, vec3<f32>(x[xb + p.w], x[xb + p.w + 1u], x[xb + p.w + 2u]), r1);
        r2 = fma(g, vec3<f32>(x[xb + 2u * p.w], x[xb + 2u * p.w + 1u], x[xb + 2u * p.w + 2u]), r2);
    }
    part_w[lid * 3u] = r0;
    part_w[lid * 3u + 1u] = r1;
    part_w[lid * 3u + 2u] = r2;
    for (var s = RED / 2u; s > 0u; s = s >> 1u) {
        workgroupBarrier();
        if (lid < s) {
            for (var k = 0u; k < 3u; k++) {
                part_w[lid * 3u + k] += part_w[(lid + s) * 3u + k];
            }
        }
    }
    workgroupBarrier();
    if (lid < K * K) {
        dw[slice * K * K + lid] += part_w[lid / K][lid % K];
    }
}

// One workgroup per bias db[o], reduced like the weights.
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
