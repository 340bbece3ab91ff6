// max_pool2d, 2x2, stride 2, floor, NCHW. CPU twin: src/cpu/max_pool2d.rs.
//
// bindings: 0 params | forward: 1 x, 2 y, 3 argmax | backward: 4 dy, 5 argmax_in, 6 dx

struct Params {
    n: u32, c: u32, h: u32, w: u32,
    oh: u32, ow: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read_write> argmax: array<u32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read> argmax_in: array<u32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

override WG: u32 = 64u;

// One thread per output; the window is scanned row by row and `>` keeps the
// first maximum, as the CPU twin (and PyTorch) do.
@compute @workgroup_size(WG)
fn max_pool2d_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) {
        return;
    }
    let ox = i % p.ow;
    let oy = (i / p.ow) % p.oh;
    let plane = i / (p.ow * p.oh);
    let base = plane * p.h * p.w + 2u * oy * p.w + 2u * ox;
    var best = base;
    var others = array<u32, 3>(base + 1u, base + p.w, base + p.w + 1u);
    for (var k = 0u; k < 3u; k++) {
        if (x[others[k]] > x[best]) {
            best = others[k];
        }
    }
    y[i] = x[best];
    argmax[i] = best;
}

// One thread per output. Windows do not overlap, so no two threads write the
// same dx element: no atomics needed.
@compute @workgroup_size(WG)
fn max_pool2d_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.c * p.oh * p.ow) {
        return;
    }
    let t = argmax_in[i];
    if (t < p.n * p.c * p.h * p.w) {
        dx[t] += dy[i];
    }
}
