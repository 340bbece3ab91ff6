//! softmax and fused softmax + cross-entropy as plain loops: the
//! specification of `shaders/softmax_xent.wgsl`.

use crate::params::SoftmaxParams;

/// probs [N, C] = exp(z - max z) / sum exp(z - max z), row by row.
pub fn softmax_forward(p: &SoftmaxParams, logits: &[f32], probs: &mut [f32]) {
    let c = p.classes as usize;
    for r in 0..p.n as usize {
        softmax_row(&logits[r * c..(r + 1) * c], &mut probs[r * c..(r + 1) * c]);
    }
}

/// probs as in `softmax_forward`; loss [N] = log-sum-exp(z) - z[label], which
/// is -ln probs[label] computed without taking the log of a rounded-off 0.
/// A label >= C gives a NaN loss so that bad data cannot pass unnoticed.
pub fn softmax_xent_forward(
    p: &SoftmaxParams,
    logits: &[f32],
    labels: &[u32],
    probs: &mut [f32],
    loss: &mut [f32],
) {
    let c = p.classes as usize;
    for r in 0..p.n as usize {
        let z = &logits[r * c..(r + 1) * c];
        let lse = softmax_row(z, &mut probs[r * c..(r + 1) * c]);
        let l = labels[r] as usize;
        loss[r] = if l < c { lse - z[l] } else { f32::NAN };
    }
}

/// dlogits [N, C] += scale * (probs - onehot(label)).
pub fn softmax_xent_backward(
    p: &SoftmaxParams,
    probs: &[f32],
    labels: &[u32],
    dlogits: &mut [f32],
) {
    let c = p.classes as usize;
    for r in 0..p.n as usize {
        for k in 0..c {
            let target = if labels[r] as usize == k { 1.0 } else { 0.0 };
            dlogits[r * c + k] += p.scale * (probs[r * c + k] - target);
        }
    }
}

/// Writes the softmax of `z` into `out` and returns log-sum-exp(z).
fn softmax_row(z: &[f32], out: &mut [f32]) -> f32 {
    let m = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for (o, &v) in out.iter_mut().zip(z) {
        *o = (v - m).exp();
        sum += *o;
    }
    for o in out.iter_mut() {
        *o /= sum;
    }
    m + sum.ln()
}
