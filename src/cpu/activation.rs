//! Activations as plain loops: the specification of `shaders/activation.wgsl`
//! and of the activation fused into conv2d_forward and dense_forward.
//! The backward ops work in place on the gradient and read the forward's
//! output y: relu's mask, sigmoid's y (1 - y) and tanh's 1 - y^2 are all
//! functions of y, so a fused forward need not keep its pre-activation.

use crate::params::ElementwiseParams;

/// The activation of `code` (`shapes::Act::code`: 0 linear, 1 relu,
/// 2 sigmoid, 3 tanh) at v. tanh saturates to exactly +-1 rather than NaN.
pub fn activate(code: u32, v: f32) -> f32 {
    match code {
        1 => v.max(0.0),
        2 => 1.0 / (1.0 + (-v).exp()),
        3 => v.tanh(),
        _ => v,
    }
}

/// y = max(x, 0).
pub fn relu_forward(p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = activate(1, x[i]);
    }
}

/// grad *= (y > 0), in place. The mask uses the output y: y > 0 exactly
/// where the pre-activation was > 0.
pub fn relu_backward(p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
    for i in 0..p.len as usize {
        if y[i] <= 0.0 {
            grad[i] = 0.0;
        }
    }
}

/// y = 1 / (1 + e^-x).
pub fn sigmoid_forward(p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = activate(2, x[i]);
    }
}

/// grad *= y (1 - y), in place: sigmoid'(x) written with y = sigmoid(x).
pub fn sigmoid_backward(p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
    for i in 0..p.len as usize {
        grad[i] *= y[i] * (1.0 - y[i]);
    }
}

/// y = tanh(x).
pub fn tanh_forward(p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = activate(3, x[i]);
    }
}

/// grad *= 1 - y^2, in place: tanh'(x) written with y = tanh(x).
pub fn tanh_backward(p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
    for i in 0..p.len as usize {
        grad[i] *= 1.0 - y[i] * y[i];
    }
}
