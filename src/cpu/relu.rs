//! relu as plain loops: the specification of `shaders/relu.wgsl`.

use crate::params::ElementwiseParams;

/// y = max(x, 0).
pub fn relu_forward(p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = x[i].max(0.0);
    }
}

/// grad *= (y > 0), in place. The mask uses the output y: y > 0 exactly
/// where the pre-activation was > 0, so a fused forward need not keep it.
pub fn relu_backward(p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
    for i in 0..p.len as usize {
        if y[i] <= 0.0 {
            grad[i] = 0.0;
        }
    }
}
