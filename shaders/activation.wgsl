// Activations over a flat buffer. CPU twins: src/cpu/activation.rs. The
// networks fuse them into conv2d_forward and dense_forward; these entry
// points serve the backward pass (one in-place multiply of the gradient,
// shared by a fused layer's three backward kernels) and activation layers.
// Each backward reads the forward's output y: relu's mask, sigmoid's
// y (1 - y) and tanh's 1 - y^2 are functions of it.
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

fn index(gid: vec3u, nwg: vec3u) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// tanh through exp(-2|v|), which stays finite: some drivers' built-in tanh
// returns NaN for large |v| instead of +-1.
fn tanh_safe(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, v >= 0.0);
}

@compute @workgroup_size(WG)
fn relu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        y[i] = max(x[i], 0.0);
    }
}

// grad *= (act > 0), in place.
@compute @workgroup_size(WG)
fn relu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len && act[i] <= 0.0) {
        grad[i] = 0.0;
    }
}

@compute @workgroup_size(WG)
fn sigmoid_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        y[i] = sigmoid(x[i]);
    }
}

// grad *= act (1 - act), in place.
@compute @workgroup_size(WG)
fn sigmoid_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        grad[i] *= act[i] * (1.0 - act[i]);
    }
}

@compute @workgroup_size(WG)
fn tanh_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        y[i] = tanh_safe(x[i]);
    }
}

// grad *= 1 - act^2, in place.
@compute @workgroup_size(WG)
fn tanh_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        grad[i] *= 1.0 - act[i] * act[i];
    }
}

// erf to within 1.2e-7 relative error of erfc: the Chebyshev fit of
// Numerical Recipes' erfcc, the same formula as the twin's `erf` (WGSL has
// no erf).
fn erf_approx(v: f32) -> f32 {
    let z = abs(v);
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.2655122 + t * (1.0000237 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * exp(poly);
    return select(erfc - 1.0, 1.0 - erfc, v >= 0.0);
}

// GELU, exact (erf) form: x Phi(x).
@compute @workgroup_size(WG)
fn gelu_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        let v = x[i];
        y[i] = 0.5 * v * (1.0 + erf_approx(v * 0.70710677));
    }
}

// grad *= Phi(x) + x phi(x), in place: GELU's derivative needs the input
// x (binding 1), not the output.
@compute @workgroup_size(WG)
fn gelu_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i < p.len) {
        let v = x[i];
        let d = 0.5 * (1.0 + erf_approx(v * 0.70710677)) + v * 0.3989423 * exp(-0.5 * v * v);
        grad[i] *= d;
    }
}
