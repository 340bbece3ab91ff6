//! Gradient-norm clipping as plain loops: the specification of
//! `shaders/grad_norm.wgsl`. The norm is taken over all of a model's
//! gradients at once, as `torch.nn.utils.clip_grad_norm_` does: one slot of
//! `sums` per tensor, then every tensor scaled by the same factor.

use crate::params::NormParams;

/// sums[slot] = sum of x^2.
pub fn sum_squares(p: &NormParams, x: &[f32], sums: &mut [f32]) {
    sums[p.slot as usize] = x[..p.len as usize].iter().map(|v| v * v).sum();
}

/// x *= max_norm / norm when norm = sqrt(sum of sums) exceeds max_norm.
/// A NaN norm leaves x alone: the NaN is in the gradient already and the
/// training loop stops on the loss it produces.
pub fn clip_by_norm(p: &NormParams, sums: &[f32], x: &mut [f32]) {
    let norm = sums[..p.count as usize].iter().sum::<f32>().sqrt();
    if norm > p.max_norm {
        let scale = p.max_norm / norm;
        for v in &mut x[..p.len as usize] {
            *v *= scale;
        }
    }
}
