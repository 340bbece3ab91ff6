//! Inverted dropout as plain loops: the specification of
//! `shaders/dropout.wgsl`, and the mask every recurrent cell's recurrent
//! dropout uses (`shaders/recurrent.wgsl` carries the same hash).
//!
//! The mask is counter-based: whether element e is kept is a pure function
//! of (seed, step, e), so the GPU and the CPU draw the same mask without
//! sharing any state, a run is reproducible from its seed, and the backward
//! pass recomputes the forward's mask instead of storing it.

use crate::params::DropoutParams;

/// Chris Wellons' lowbias32: a bijective 32-bit mixer with low bias, in
/// integer operations that WGSL computes bit for bit as Rust does.
pub fn mix(mut x: u32) -> u32 {
    x ^= x >> 16;
    x = x.wrapping_mul(0x7feb_352d);
    x ^= x >> 15;
    x = x.wrapping_mul(0x846c_a68b);
    x ^ (x >> 16)
}

/// The key of one mask, from its seed and training step.
pub fn mask_key(seed: u32, step: u32) -> u32 {
    mix(step ^ mix(seed))
}

/// Whether element e survives a mask of `key` at `rate`: its hash as a
/// uniform number in [0, 1) with 24 bits (exact in f32 on every device)
/// must fall at or above the rate.
pub fn kept(key: u32, e: u32, rate: f32) -> bool {
    (mix(e ^ key) >> 8) as f32 * (1.0 / 16_777_216.0) >= rate
}

/// The mask's value at element e: `scale` where kept, else 0; 1 when the
/// rate is 0 (no dropout).
pub fn mask_value(key: u32, e: u32, rate: f32, scale: f32) -> f32 {
    if rate <= 0.0 {
        1.0
    } else if kept(key, e, rate) {
        scale
    } else {
        0.0
    }
}

/// y[e] = x[e] * mask(e % period).
pub fn dropout_forward(p: &DropoutParams, x: &[f32], y: &mut [f32]) {
    let key = mask_key(p.seed, p.step);
    for e in 0..p.len {
        let m = mask_value(key, e % p.period, p.rate, p.scale);
        y[e as usize] = x[e as usize] * m;
    }
}

/// dx[e] += dy[e] * mask(e % period): the same mask, so the gradient flows
/// only through the values the forward pass kept.
pub fn dropout_backward(p: &DropoutParams, dy: &[f32], dx: &mut [f32]) {
    let key = mask_key(p.seed, p.step);
    for e in 0..p.len {
        let m = mask_value(key, e % p.period, p.rate, p.scale);
        dx[e as usize] += dy[e as usize] * m;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowbias32_golden_values() {
        // Python, masking to 32 bits after each product:
        //   def mix(x): x ^= x >> 16; x = x * 0x7feb352d & M; x ^= x >> 15;
        //               x = x * 0x846ca68b & M; return x ^ (x >> 16)
        assert_eq!(mix(0), 0);
        assert_eq!(mix(1), 0x6889_90c0);
        assert_eq!(mix(0xdead_beef), 0xe628_c683);
        assert_eq!(mix(12345), 0x912e_fcf7);
    }

    #[test]
    fn a_mask_keeps_about_one_minus_the_rate() {
        let key = mask_key(7, 3);
        let n = 100_000;
        let kept_count = (0..n).filter(|&e| kept(key, e, 0.2)).count();
        let share = kept_count as f64 / n as f64;
        assert!((share - 0.8).abs() < 0.01, "kept {share}");
        // Another step draws another mask.
        let other = mask_key(7, 4);
        let same = (0..1000)
            .filter(|&e| kept(key, e, 0.5) == kept(other, e, 0.5))
            .count();
        assert!((400..600).contains(&same), "{same} of 1000 agree");
    }
}
