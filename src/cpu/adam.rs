//! Adam as a plain loop: the specification of `shaders/adam.wgsl`.

use crate::params::AdamParams;

/// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
/// param -= lr * (m / bc1) / (sqrt(v / bc2) + eps), as `torch.optim.Adam`.
pub fn adam_step(p: &AdamParams, param: &mut [f32], grad: &[f32], m: &mut [f32], v: &mut [f32]) {
    for i in 0..p.len as usize {
        let g = grad[i];
        m[i] = p.beta1 * m[i] + (1.0 - p.beta1) * g;
        v[i] = p.beta2 * v[i] + (1.0 - p.beta2) * g * g;
        let m_hat = m[i] / p.bias_correction1;
        let v_hat = v[i] / p.bias_correction2;
        param[i] -= p.lr * m_hat / (v_hat.sqrt() + p.eps);
    }
}
