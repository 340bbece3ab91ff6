// Adam over a flat parameter buffer, as torch.optim.Adam without weight
// decay. The bias corrections 1 - beta^t come from the host.
// CPU twin: src/cpu/adam.rs.
//
// bindings: 0 params, 1 param, 2 grad, 3 m, 4 v

struct Params {
    len: u32, lr: f32, beta1: f32, beta2: f32,
    eps: f32, bias_correction1: f32, bias_correction2: f32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m: array<f32>;
@group(0) @binding(4) var<storage, read_write> v: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn adam_step(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    let g = grad[i];
    let mi = p.beta1 * m[i] + (1.0 - p.beta1) * g;
    let vi = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    let m_hat = mi / p.bias_correction1;
    let v_hat = vi / p.bias_correction2;
    param[i] -= p.lr * m_hat / (sqrt(v_hat) + p.eps);
}
