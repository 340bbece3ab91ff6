//! Layer normalisation as plain loops: the specification of
//! `shaders/layer_norm.wgsl`. PyTorch's nn.LayerNorm over the last
//! dimension: y = (x - mean) / sqrt(var + eps) * weight + bias, with the
//! biased variance (divided by dim). The forward pass keeps each row's
//! mean and 1 / sqrt(var + eps) in stats [n, 2] for the backward pass; the
//! bias gradient is a column sum, `dense_backward_bias`.

use crate::params::LayerNormParams;

/// y [N, D] = (x - mean) * rstd * gamma + beta; stats [N, 2] = (mean, rstd).
/// Sums in f64, so the twin is the exact answer the shader approximates.
pub fn layer_norm_forward(
    p: &LayerNormParams,
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    y: &mut [f32],
    stats: &mut [f32],
) {
    let d = p.dim as usize;
    for r in 0..p.n as usize {
        let row = &x[r * d..(r + 1) * d];
        let mean = row.iter().map(|&v| v as f64).sum::<f64>() / d as f64;
        let var = row
            .iter()
            .map(|&v| (v as f64 - mean) * (v as f64 - mean))
            .sum::<f64>()
            / d as f64;
        let rstd = 1.0 / (var + p.eps as f64).sqrt();
        for k in 0..d {
            let xhat = (row[k] as f64 - mean) * rstd;
            y[r * d + k] = (xhat * gamma[k] as f64 + beta[k] as f64) as f32;
        }
        stats[2 * r] = mean as f32;
        stats[2 * r + 1] = rstd as f32;
    }
}

/// dx [N, D] += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma,
/// xhat = (x - mean) * rstd from the forward pass's stats.
pub fn layer_norm_backward_input(
    p: &LayerNormParams,
    x: &[f32],
    gamma: &[f32],
    stats: &[f32],
    dy: &[f32],
    dx: &mut [f32],
) {
    let d = p.dim as usize;
    for r in 0..p.n as usize {
        let (mean, rstd) = (stats[2 * r], stats[2 * r + 1]);
        let (mut sum_g, mut sum_gx) = (0.0f32, 0.0f32);
        for k in 0..d {
            let g = dy[r * d + k] * gamma[k];
            sum_g += g;
            sum_gx += g * (x[r * d + k] - mean) * rstd;
        }
        let (mg, mgx) = (sum_g / d as f32, sum_gx / d as f32);
        for k in 0..d {
            let g = dy[r * d + k] * gamma[k];
            let xhat = (x[r * d + k] - mean) * rstd;
            dx[r * d + k] += rstd * (g - mg - xhat * mgx);
        }
    }
}

/// dgamma [D] += sum over rows of dy * xhat.
pub fn layer_norm_backward_weight(
    p: &LayerNormParams,
    x: &[f32],
    stats: &[f32],
    dy: &[f32],
    dgamma: &mut [f32],
) {
    let d = p.dim as usize;
    for (k, dg) in dgamma.iter_mut().enumerate().take(d) {
        let mut acc = 0.0f32;
        for r in 0..p.n as usize {
            let xhat = (x[r * d + k] - stats[2 * r]) * stats[2 * r + 1];
            acc += dy[r * d + k] * xhat;
        }
        *dg += acc;
    }
}
