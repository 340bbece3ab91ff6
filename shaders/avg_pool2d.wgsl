// avg_pool2d, size x size windows at stride size, rounding down, NCHW.
// CPU twin: src/cpu/avg_pool2d.rs.
//
// bindings: 0 params | forward: 1 x, 2 y | backward: 3 dy, 4 dx

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    oh: u32, ow: u32, size: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;

// One thread per output: the window's sum, times 1 / size^2 as the twin.
@compute @workgroup_size(WG)
fn avg_pool2d_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) {
        return;
    }
    let s = p.size;
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let base = (i / (p.ow * p.oh)) * p.h * p.w + s * oy * p.w + s * ox;
    var acc = 0.0;
    for (var ky = 0u; ky < s; ky++) {
        for (var kx = 0u; kx < s; kx++) {
            acc += x[base + ky * p.w + kx];
        }
    }
    y[i] = acc * (1.0 / f32(s * s));
}

// One thread per input value: windows do not overlap, so each value has at
// most one window (none past the last whole one) and nothing is shared.
@compute @workgroup_size(WG)
fn avg_pool2d_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.h * p.w) {
        return;
    }
    let s = p.size;
    let ix = i % p.w;
    let iy = (i / p.w) % p.h;
    let ox = ix / s;
    let oy = iy / s;
    if (ox >= p.ow || oy >= p.oh) {
        return;
    }
    let plane = i / (p.w * p.h);
    dx[i] += dy[(plane * p.oh + oy) * p.ow + ox] * (1.0 / f32(s * s));
}
