// relu over a flat buffer. CPU twin: src/cpu/relu.rs. The networks fuse relu
// into conv2d_forward and dense_forward; these entry points serve the
// backward pass (mask once, shared by three backward kernels) and unfused use.
//
// bindings: 0 params | forward: 1 x, 2 y | backward: 3 act (the forward's y), 4 grad

struct Params {
    len: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> act: array<f32>;
@group(0) @binding(4) var<storage, read_write> grad: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    y[i] = max(x[i], 0.0);
}

// grad *= (act > 0), in place.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    if (act[i] <= 0.0) {
        grad[i] = 0.0;
    }
}
