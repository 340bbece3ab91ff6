//! exp, sigmoid and tanh without libm calls, branch-free so that loops over
//! slices vectorise: the LSTM's gates are most of its elementwise time, and
//! glibc's scalar tanhf alone took a fifth of a training step.
//!
//! exp is Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by a degree-6
//! polynomial, 2^n put straight into the exponent bits; relative error about
//! 2e-7 over the clamped range. tanh and sigmoid follow from it, with an
//! absolute error below 1e-6, well inside the twins' test tolerance.

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so that n * LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding then subtracting 1.5 * 2^23 rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Beyond these bounds e^x leaves the normal range; the clamp keeps the
    // exponent arithmetic below valid and sends overflow to about 1.6e38.
    let x = x.clamp(-87.0, 88.0);
    let k = x * LOG2E + ROUND;
    let n = k - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    // n is read from k's bits rather than by `n as i32`: Rust's saturating
    // float-to-int conversion (NaN to 0) does not vectorise, and its
    // per-lane compares and moves were most of a GELU loop's time. k lies
    // in [2^23, 2^24), where the float's unit in the last place is 1, so
    // its bits less ROUND's are n exactly (for NaN, er is NaN anyway).
    let n_bits = k.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    er * f32::from_bits((n_bits.wrapping_add(127) << 23) as u32)
}

#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// 1 - 2 / (e^2x + 1): exactly +-1 far out, never NaN.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    1.0 - 2.0 / (exp(2.0 * x) + 1.0)
}

/// erf by the twin's formula (Numerical Recipes' erfcc) with this exp,
/// branch-free: the sign by copysign.
#[inline(always)]
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
    (1.0 - t * exp(poly)).copysign(x)
}

/// GELU, exact form: x Phi(x).
#[inline(always)]
pub fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// GELU'(x) = Phi(x) + x phi(x).
#[inline(always)]
pub fn gelu_derivative(x: f32) -> f32 {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)) + x * INV_SQRT_2PI * exp(-0.5 * x * x)
}

pub fn sigmoid_in_place(v: &mut [f32]) {
    map_in_place(v, sigmoid);
}

pub fn tanh_in_place(v: &mut [f32]) {
    map_in_place(v, tanh);
}

/// v = f(v) in place, 8 lanes at a time where the CPU has AVX2 (checked at
/// run time: the build targets plain x86-64, whose 4-lane SSE2 loops made
/// an LSTM step's activations a tenth of its time). Only the vector width
/// differs: without fast-math nothing is fused or reordered, so the results
/// are the same bits either way.
#[inline(always)]
fn map_in_place(v: &mut [f32], f: impl Fn(f32) -> f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present, as just checked.
        unsafe { map_avx2(v, f) };
        return;
    }
    for x in v {
        *x = f(*x);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn map_avx2(v: &mut [f32], f: impl Fn(f32) -> f32) {
    for x in v {
        *x = f(*x);
    }
}

/// v[i] = f(x[i], v[i]), 8 lanes at a time where the CPU has AVX2, the
/// same bits either way (as `map_in_place`).
#[inline(always)]
pub fn zip_map(x: &[f32], v: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present, as just checked.
        unsafe { zip_map_avx2(x, v, f) };
        return;
    }
    for (v, &x) in v.iter_mut().zip(x) {
        *v = f(x, *v);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_map_avx2(x: &[f32], v: &mut [f32], f: impl Fn(f32, f32) -> f32) {
    for (v, &x) in v.iter_mut().zip(x) {
        *v = f(x, *v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice functions (8 lanes where there is AVX2) give the same bits
    /// as the scalar functions, value by value.
    #[test]
    fn slices_equal_the_scalar_functions() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0271).collect();
        let (mut s, mut t) = (xs.clone(), xs.clone());
        sigmoid_in_place(&mut s);
        tanh_in_place(&mut t);
        let (mut g, mut d) = (vec![0.0; xs.len()], vec![1.5; xs.len()]);
        zip_map(&xs, &mut g, |x, _| gelu(x));
        zip_map(&xs, &mut d, |x, v| v * gelu_derivative(x));
        for (i, &x) in xs.iter().enumerate() {
            assert_eq!(s[i].to_bits(), sigmoid(x).to_bits(), "sigmoid({x})");
            assert_eq!(t[i].to_bits(), tanh(x).to_bits(), "tanh({x})");
            assert_eq!(g[i].to_bits(), gelu(x).to_bits(), "gelu({x})");
            assert_eq!(
                d[i].to_bits(),
                (1.5 * gelu_derivative(x)).to_bits(),
                "gelu'({x})"
            );
        }
    }

    #[test]
    fn match_the_standard_library() {
        for i in -4000..=4000 {
            let x = i as f32 * 0.025;
            let (e, want) = (exp(x), x.exp());
            if (-87.0..=88.0).contains(&x) {
                assert!(
                    (e - want).abs() <= 3e-7 * want,
                    "exp({x}) = {e}, want {want}"
                );
            } else {
                // Saturated: below every normal float, or near f32::MAX.
                assert!(!(2e-38..=1e38).contains(&e), "exp({x}) = {e}");
            }
            assert!((tanh(x) - x.tanh()).abs() <= 1e-6, "tanh({x})");
            let s = 1.0 / (1.0 + (-x).exp());
            assert!((sigmoid(x) - s).abs() <= 1e-6, "sigmoid({x})");
        }
        for i in -2000..=2000 {
            let x = i as f32 * 0.005;
            let (g, want) = (gelu(x), crate::cpu::activation::gelu(x));
            assert!((g - want).abs() <= 1e-6 * want.abs().max(1.0), "gelu({x})");
            let (d, want) = (
                gelu_derivative(x),
                crate::cpu::activation::gelu_derivative(x),
            );
            assert!((d - want).abs() <= 1e-6, "gelu'({x})");
        }
        assert_eq!((tanh(500.0), tanh(-500.0)), (1.0, -1.0));
        assert!(sigmoid(-500.0) < 1e-38 && sigmoid(500.0) == 1.0);
    }
}
