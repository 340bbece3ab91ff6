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

/// erf(x) to within 1.2e-7 relative error of erfc, everywhere: the
/// Chebyshev fit of Numerical Recipes (2nd ed., 6.2, `erfcc`), the same
/// formula as `erf_approx` in the shader. Rust's f32::erf is unstable.
pub fn erf(x: f32) -> f32 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_2
        + t * (1.000_023_7
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 { 1.0 - erfc } else { erfc - 1.0 }
}

/// GELU, the exact form (PyTorch's approximate="none"): x Phi(x) with
/// Phi(x) = (1 + erf(x / sqrt 2)) / 2.
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU'(x) = Phi(x) + x phi(x), phi the standard normal density.
pub fn gelu_derivative(x: f32) -> f32 {
    // 1 / sqrt(2 pi)
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * (-0.5 * x * x).exp()
}

/// y = gelu(x).
pub fn gelu_forward(p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
    for i in 0..p.len as usize {
        y[i] = gelu(x[i]);
    }
}

/// grad *= gelu'(x), in place. Unlike relu, sigmoid and tanh, GELU's
/// derivative is no function of its output, so this reads the input x.
pub fn gelu_backward(p: &ElementwiseParams, x: &[f32], grad: &mut [f32]) {
    for i in 0..p.len as usize {
        grad[i] *= gelu_derivative(x[i]);
    }
}
