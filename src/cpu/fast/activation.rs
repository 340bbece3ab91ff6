//! Activations over whole slices in loops the compiler vectorises: the
//! fused epilogue of the fast conv2d and dense, and the elementwise kernels
//! whose twins would call libm or branch per value.

use super::math;
use super::threads;

/// Multiply-adds one GELU value is worth (erf and exp as polynomials, a
/// division), for `threads::for_blocks`' judgement of whether a slice
/// repays the second core: a Transformer layer's 4096 x 512 does.
const GELU_MACS: usize = 32;

/// v = act(v) in place, for the activation of `code` (`shapes::Act::code`).
pub fn activate_in_place(code: u32, v: &mut [f32]) {
    match code {
        1 => v.iter_mut().for_each(|x| *x = x.max(0.0)),
        2 => math::sigmoid_in_place(v),
        3 => math::tanh_in_place(v),
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

/// y = gelu(x), on every core for a long slice.
pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
    let n = y.len();
    threads::for_row_blocks(y, n, 1, 64, n * GELU_MACS, &|r, y| {
        math::gelu_into(&x[r], y);
    });
}

/// grad *= gelu'(x), in place, on every core for a long slice.
pub fn gelu_backward(x: &[f32], grad: &mut [f32]) {
    let n = grad.len();
    threads::for_row_blocks(grad, n, 1, 64, n * GELU_MACS, &|r, g| {
        math::gelu_grad_in_place(&x[r], g);
    });
}
