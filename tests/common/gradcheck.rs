//! Finite differences for the gradient checks (tests/gradcheck.rs, the
//! kernels; tests/network_gradcheck.rs, whole networks).
#![allow(dead_code)]

use neuralpad::{Backend, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Finite-difference step h, applied to the f32 input.
pub const STEP: f32 = 1e-2;
/// A check passes when |numerical - analytic| <= TOL * max(1, |analytic|).
/// Error sources: f32 rounding of the outputs summed into L, divided by 2h
/// (for the linear ops this is the only one), and for the smooth nonlinear
/// ops (LSTM, softmax) a truncation error of order h^2 * |f'''| ~ 1e-4. The
/// largest difference seen on these shapes is 5e-5 (conv2d_backward_input),
/// so 1e-3 leaves a 20x margin while still catching a gradient that is off
/// by a tenth of a percent of its scale.
pub const TOL: f64 = 1e-3;

// ---- helpers ----------------------------------------------------------------

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// `n` values drawn uniformly from [lo, hi).
pub fn uniform(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// Like [`uniform`] but redraws every value with |v| < `margin`, so that a
/// step of h cannot cross zero (the kink of relu).
pub fn away_from_zero(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32, margin: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            loop {
                let v: f32 = rng.random_range(lo..hi);
                if v.abs() >= margin {
                    break v;
                }
            }
        })
        .collect()
}

/// Reads one tensor back; the CPU backend's future is ready at once.
pub fn read<B: Backend>(b: &B, t: &B::Tensor) -> Result<Vec<f32>> {
    Ok(pollster::block_on(b.read(&[t]))?.remove(0))
}

/// sum(y * r) in f64.
pub fn dot(y: &[f32], r: &[f32]) -> f64 {
    assert_eq!(y.len(), r.len());
    y.iter().zip(r).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Compares `analytic` with central differences of `loss` around `x`, one
/// element at a time, and panics naming the op, the first bad indices and
/// both values when any element is outside [`TOL`].
pub fn check_grad(
    op: &str,
    x: &[f32],
    analytic: &[f32],
    mut loss: impl FnMut(&[f32]) -> Result<f64>,
) -> Result<()> {
    assert_eq!(
        x.len(),
        analytic.len(),
        "{op}: gradient length differs from its input's"
    );
    let mut xs = x.to_vec();
    let mut bad = Vec::new();
    let mut max_err = 0.0f64;
    for i in 0..x.len() {
        let (hi, lo) = (x[i] + STEP, x[i] - STEP);
        xs[i] = hi;
        let l_hi = loss(&xs)?;
        xs[i] = lo;
        let l_lo = loss(&xs)?;
        xs[i] = x[i];
        // Divide by the step actually taken after rounding to f32.
        let num = (l_hi - l_lo) / (hi as f64 - lo as f64);
        let ana = analytic[i] as f64;
        let err = (num - ana).abs();
        max_err = max_err.max(err);
        if !(err <= TOL * ana.abs().max(1.0)) {
            bad.push((i, num, ana));
        }
    }
    if !bad.is_empty() {
        for (i, num, ana) in bad.iter().take(8) {
            eprintln!("{op}: index {i}: numerical {num:.6}, analytic {ana:.6}");
        }
        panic!(
            "{op}: {} of {} gradient values off (max |difference| {max_err:.3e}, tolerance {TOL} * max(1, |analytic|))",
            bad.len(),
            x.len()
        );
    }
    Ok(())
}
