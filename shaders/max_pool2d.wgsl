// max_pool2d, size x size windows at stride size, rounding down, NCHW.
// CPU twin: src/cpu/max_pool2d.rs. argmax holds each maximum's position in
// its window (ky * size + kx), so it can never point outside x.
//
// bindings: 0 params | forward: 1 x, 2 y, 3 argmax | backward: 4 dy, 5 argmax_in, 6 dx

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    oh: u32, ow: u32, size: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;

// Flat index into x of position k of output i's window.
fn tap(i: u32, k: u32) -> u32 {
    let s = p.size;
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    return plane * p.h * p.w + (s * oy + k / s) * p.w + s * ox + k % s;
}

// One thread per output; the window is scanned row by row and `>` keeps the
// first maximum, as the CPU twin (and PyTorch) do.
@compute @workgroup_size(WG)
fn max_pool2d_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) {
        return;
    }
    var best = 0u;
    var v = x[tap(i, 0u)];
    for (var k = 1u; k < p.size * p.size; k++) {
        let u = x[tap(i, k)];
        if (u > v) {
            best = k;
            v = u;
        }
    }
    y[i] = v;
    argmax[i] = best;
}

// One thread per output. Windows do not overlap, so no two threads write the
// same dx element: no atomics needed. An argmax past the window (written by
// hand) counts as its last position, as on the CPU.
@compute @workgroup_size(WG)
fn max_pool2d_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) {
        return;
    }
    dx[tap(i, min(argmax_in[i], p.size * p.size - 1u))] += dy[i];
}
