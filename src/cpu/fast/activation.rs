//! Activations over whole slices in loops the compiler vectorises: the
//! fused epilogue of the fast conv2d and dense, and the elementwise kernels
//! whose twins would call libm or branch per value.

use super::math::{sigmoid, tanh};

/// v = act(v) in place, for the activation of `code` (`shapes::Act::code`).
pub fn activate_in_place(code: u32, v: &mut [f32]) {
    match code {
        1 => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        2 => v.iter_mut().for_each(|x| *x = sigmoid(*x)),
        3 => v.iter_mut().for_each(|x| *x = tanh(*x)),
        _ => {}
    }
}

/// y = act(x) for the activation of `code`.
pub fn activate(code: u32, x: &[f32], y: &mut [f32]) {
    y.copy_from_slice(x);
    activate_in_place(code, y);
}

/// grad *= (y > 0), in place, as a select the compiler vectorises (the
/// twin's `if` is a branch that mispredicts on half of the values); where y
/// is NaN the gradient passes, as in the twin.
pub fn relu_backward(y: &[f32], grad: &mut [f32]) {
    for (g, &v) in grad.iter_mut().zip(y) {
        *g = if v <= 0.0 { 0.0 } else { *g };
    }
}
