//! The residual connection's two ops as plain loops: the specification of
//! `shaders/residual.wgsl`. A Transformer block adds each sub-layer's
//! output to its input (y = x + f(x)); backward, the gradient of y reaches
//! x unchanged, on top of what flows back through f.

use crate::params::ElementwiseParams;

/// y = a + b.
pub fn residual_forward(p: &ElementwiseParams, a: &[f32], b: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = a[i] + b[i];
    }
}

/// dx += dy.
pub fn residual_backward(p: &ElementwiseParams, dy: &[f32], dx: &mut [f32]) {
    for i in 0..p.len as usize {
        dx[i] += dy[i];
    }
}
