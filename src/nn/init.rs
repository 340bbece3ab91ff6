//! Weight initialisation as Keras does it: Glorot (Xavier) uniform for
//! kernels, zeros for biases. Seeded, so a CPU training run is reproducible.

use rand::Rng;

/// `len` values uniform in [-l, l] with l = sqrt(6 / (fan_in + fan_out)).
/// For a conv kernel [o, c, kh, kw], fan_in = c*kh*kw and fan_out = o*kh*kw.
pub fn glorot_uniform(rng: &mut impl Rng, fan_in: usize, fan_out: usize, len: usize) -> Vec<f32> {
    let limit = (6.0 / (fan_in + fan_out) as f64).sqrt() as f32;
    (0..len)
        .map(|_| (rng.random::<f32>() * 2.0 - 1.0) * limit)
        .collect()
}
