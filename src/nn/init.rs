//! Weight initialisation: Glorot (Xavier) uniform for the digit model's
//! kernels, as Keras; PyTorch's defaults for the text model's layers, so it
//! starts where a PyTorch run of the same model would. Seeded, so a CPU
//! training run is reproducible.

use rand::Rng;

/// `len` values uniform in [-l, l] with l = sqrt(6 / (fan_in + fan_out)).
/// For a conv kernel [o, c, kh, kw], fan_in = c*kh*kw and fan_out = o*kh*kw.
pub fn glorot_uniform(rng: &mut impl Rng, fan_in: usize, fan_out: usize, len: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    (0..len)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * limit)
        .collect()
}

/// `len` values uniform in [-limit, limit]: PyTorch's nn.LSTM (limit
/// 1/sqrt(hidden)) and nn.Linear (1/sqrt(fan_in)) defaults.
pub fn uniform(rng: &mut impl Rng, limit: f32, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * limit)
        .collect()
}

/// `len` values from N(0, 1) by Box-Muller: PyTorch's nn.Embedding default.
pub fn standard_normal(rng: &mut impl Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            // 1 - u lies in (0, 1], so the logarithm is finite.
            let (u, v): (f64, f64) = (1.0 - rng.random::<f64>(), rng.random());
            ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
        })
        .collect()
}
