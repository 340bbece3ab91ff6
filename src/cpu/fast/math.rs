//! exp, sigmoid and tanh without libm calls, branch-free so that loops over
//! slices vectorise: the LSTM's gates are most of its elementwise time, and
//! glibc's scalar tanhf alone took a fifth of a training step.
//!
//! exp is Cephes' expf: x = n ln 2 + r with |r| <= ln 2 / 2, e^r by a degree-6
//! polynomial, 2^n put straight into the exponent bits; relative error about
//! 2e-7 over the clamped range. tanh and sigmoid follow from it, with an
//! absolute error below 1e-6, well inside the twins' test tolerance.
//!
//! Each function is written once over `Lanes`: an f32, which the native
//! build's loops vectorise, or in the page's wasm a simd128 vector of four,
//! since that build is optimised for size and leaves every loop scalar
//! (the LSTM's gates were a seventh of its training time in the page).

use std::ops::{Add, Div, Mul, Neg, Sub};

const LOG2E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split in two so that n * LN2_HI is exact for the n that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding then subtracting 1.5 * 2^23 rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// What the functions below need of a number: an f32, or four of them in
/// a wasm simd128 vector (`simd128::F32x4`), so that each function is
/// written once. Either way the same IEEE operations run in the same
/// order, nothing fused, so every lane gives the scalar's bits.
pub trait Lanes:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Add<f32, Output = Self>
    + Sub<f32, Output = Self>
    + Mul<f32, Output = Self>
{
    fn splat(v: f32) -> Self;
    /// `f32::clamp`: NaN stays NaN.
    fn clamp(self, lo: f32, hi: f32) -> Self;
    fn abs(self) -> Self;
    fn copysign(self, sign: Self) -> Self;
    /// 2^n for self = n + ROUND, n an integer in [-127, 128], read from
    /// the bits (see `exp`).
    fn pow2_of_rounded(self) -> Self;
}

impl Lanes for f32 {
    #[inline(always)]
    fn splat(v: f32) -> Self {
        v
    }
    #[inline(always)]
    fn clamp(self, lo: f32, hi: f32) -> Self {
        f32::clamp(self, lo, hi)
    }
    #[inline(always)]
    fn abs(self) -> Self {
        f32::abs(self)
    }
    #[inline(always)]
    fn copysign(self, sign: Self) -> Self {
        f32::copysign(self, sign)
    }
    #[inline(always)]
    fn pow2_of_rounded(self) -> Self {
        // n is read from k's bits rather than by `n as i32`: Rust's
        // saturating float-to-int conversion (NaN to 0) does not
        // vectorise, and its per-lane compares and moves were most of a
        // GELU loop's time. k lies in [2^23, 2^24), where the float's unit
        // in the last place is 1, so its bits less ROUND's are n exactly
        // (for NaN, exp's polynomial is NaN anyway).
        let n_bits = self.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
        f32::from_bits((n_bits.wrapping_add(127) << 23) as u32)
    }
}

#[inline(always)]
pub fn exp<F: Lanes>(x: F) -> F {
    // Beyond these bounds e^x leaves the normal range; the clamp keeps the
    // exponent arithmetic below valid and sends overflow to about 1.6e38.
    let x = x.clamp(-87.0, 88.0);
    let k = x * LOG2E + ROUND;
    let n = k - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = F::splat(1.987_569_1e-4);
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    er * k.pow2_of_rounded()
}

#[inline(always)]
pub fn sigmoid<F: Lanes>(x: F) -> F {
    F::splat(1.0) / (exp(-x) + 1.0)
}

/// 1 - 2 / (e^2x + 1): exactly +-1 far out, never NaN.
#[inline(always)]
pub fn tanh<F: Lanes>(x: F) -> F {
    F::splat(1.0) - F::splat(2.0) / (exp(x * 2.0) + 1.0)
}

/// erfcc's coefficients, innermost first: the twin's t (c1 + t (c2 + ...
/// + t c9)) as Horner's rule.
const ERFCC: [f32; 9] = [
    0.170_872_77,
    -0.822_152_23,
    1.488_515_87,
    -1.135_203_98,
    0.278_868_07,
    -0.186_288_06,
    0.096_784_18,
    0.374_091_96,
    1.000_023_7,
];

/// erf by the twin's formula (Numerical Recipes' erfcc) with this exp,
/// branch-free: the sign by copysign.
#[inline(always)]
pub fn erf<F: Lanes>(x: F) -> F {
    let z = x.abs();
    let t = F::splat(1.0) / (z * 0.5 + 1.0);
    let mut horner = F::splat(ERFCC[0]);
    for &c in &ERFCC[1..] {
        horner = t * horner + c;
    }
    let poly = -z * z - 1.265_512_2 + t * horner;
    (F::splat(1.0) - t * exp(poly)).copysign(x)
}

/// GELU, exact form: x Phi(x).
#[inline(always)]
pub fn gelu<F: Lanes>(x: F) -> F {
    x * 0.5 * (erf(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0)
}

/// GELU'(x) = Phi(x) + x phi(x).
#[inline(always)]
pub fn gelu_derivative<F: Lanes>(x: F) -> F {
    const INV_SQRT_2PI: f32 = 0.398_942_3;
    (erf(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 + x * INV_SQRT_2PI * exp(x * -0.5 * x)
}

/// A function of (x, v) over slices, once for every lane width.
trait Lanewise {
    fn at<F: Lanes>(&self, x: F, v: F) -> F;
}

struct Sigmoid;
impl Lanewise for Sigmoid {
    #[inline(always)]
    fn at<F: Lanes>(&self, _: F, v: F) -> F {
        sigmoid(v)
    }
}

struct Tanh;
impl Lanewise for Tanh {
    #[inline(always)]
    fn at<F: Lanes>(&self, _: F, v: F) -> F {
        tanh(v)
    }
}

struct Gelu;
impl Lanewise for Gelu {
    #[inline(always)]
    fn at<F: Lanes>(&self, x: F, _: F) -> F {
        gelu(x)
    }
}

struct GeluGrad;
impl Lanewise for GeluGrad {
    #[inline(always)]
    fn at<F: Lanes>(&self, x: F, g: F) -> F {
        g * gelu_derivative(x)
    }
}

pub fn sigmoid_in_place(v: &mut [f32]) {
    zip_map(None, v, Sigmoid);
}

pub fn tanh_in_place(v: &mut [f32]) {
    zip_map(None, v, Tanh);
}

/// y = gelu(x).
pub fn gelu_into(x: &[f32], y: &mut [f32]) {
    zip_map(Some(x), y, Gelu);
}

/// g *= gelu'(x).
pub fn gelu_grad_in_place(x: &[f32], g: &mut [f32]) {
    zip_map(Some(x), g, GeluGrad);
}

/// v[i] = f(x[i], v[i]) (x[i] = v[i] without x), 8 lanes at a time where
/// the CPU has AVX2 (checked at run time: the build targets plain x86-64,
/// whose 4-lane SSE2 loops made an LSTM step's activations a tenth of its
/// time) and 4 in wasm simd128, written out since the page's wasm is
/// optimised for size, which leaves loops scalar. Only the vector width
/// differs: the results are the same bits either way.
#[inline(always)]
fn zip_map(x: Option<&[f32]>, v: &mut [f32], f: impl Lanewise) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present, as just checked.
        unsafe { zip_map_avx2(x, v, f) };
        return;
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let (x, v) = simd128::zip_map(x, v, &f);
    zip_map_scalar(x, v, &f);
}

#[inline(always)]
fn zip_map_scalar(x: Option<&[f32]>, v: &mut [f32], f: &impl Lanewise) {
    match x {
        Some(x) => v.iter_mut().zip(x).for_each(|(v, &x)| *v = f.at(x, *v)),
        None => v.iter_mut().for_each(|v| *v = f.at(*v, *v)),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn zip_map_avx2(x: Option<&[f32]>, v: &mut [f32], f: impl Lanewise) {
    zip_map_scalar(x, v, &f);
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{Lanes, Lanewise, ROUND};
    use std::arch::wasm32::*;
    use std::ops::{Add, Div, Mul, Neg, Sub};

    #[derive(Clone, Copy)]
    pub struct F32x4(v128);

    macro_rules! binary {
        ($trait:ident, $method:ident, $op:ident) => {
            impl $trait for F32x4 {
                type Output = Self;
                #[inline(always)]
                fn $method(self, b: Self) -> Self {
                    Self($op(self.0, b.0))
                }
            }
            impl $trait<f32> for F32x4 {
                type Output = Self;
                #[inline(always)]
                fn $method(self, b: f32) -> Self {
                    Self($op(self.0, f32x4_splat(b)))
                }
            }
        };
    }
    binary!(Add, add, f32x4_add);
    binary!(Sub, sub, f32x4_sub);
    binary!(Mul, mul, f32x4_mul);
    binary!(Div, div, f32x4_div);

    impl Neg for F32x4 {
        type Output = Self;
        #[inline(always)]
        fn neg(self) -> Self {
            Self(f32x4_neg(self.0))
        }
    }

    impl Lanes for F32x4 {
        #[inline(always)]
        fn splat(v: f32) -> Self {
            Self(f32x4_splat(v))
        }
        /// pmax(x, lo) is `x < lo ? lo : x` and pmin(x, hi) `hi < x ? hi
        /// : x`: f32::clamp's comparisons, so NaN passes through.
        #[inline(always)]
        fn clamp(self, lo: f32, hi: f32) -> Self {
            Self(f32x4_pmin(
                f32x4_pmax(self.0, f32x4_splat(lo)),
                f32x4_splat(hi),
            ))
        }
        #[inline(always)]
        fn abs(self) -> Self {
            Self(f32x4_abs(self.0))
        }
        #[inline(always)]
        fn copysign(self, sign: Self) -> Self {
            Self(v128_bitselect(sign.0, self.0, u32x4_splat(0x8000_0000)))
        }
        #[inline(always)]
        fn pow2_of_rounded(self) -> Self {
            let n = i32x4_sub(self.0, i32x4_splat(ROUND.to_bits() as i32));
            Self(i32x4_shl(i32x4_add(n, i32x4_splat(127)), 23))
        }
    }

    /// `super::zip_map` over whole vectors of 4; returns the rest of x
    /// and v.
    #[inline(always)]
    pub fn zip_map<'a, 'b>(
        x: Option<&'a [f32]>,
        v: &'b mut [f32],
        f: &impl Lanewise,
    ) -> (Option<&'a [f32]>, &'b mut [f32]) {
        // As far as both go, as the scalar loop's zip.
        let n = x.map_or(v.len(), |x| x.len().min(v.len()));
        let whole = n / 4 * 4;
        let (body, rest) = v.split_at_mut(whole);
        let (xs, x_rest) = match x.map(|x| x.split_at(whole)) {
            Some((a, b)) => (Some(a), Some(b)),
            None => (None, None),
        };
        for (i, c) in body.chunks_exact_mut(4).enumerate() {
            let at = i * 4;
            // SAFETY: c and xs[at..at + 4] are 4 f32s, 16 bytes; wasm
            // loads and stores need no alignment.
            unsafe {
                let vv = F32x4(v128_load(c.as_ptr().cast()));
                let xv = xs.map_or(vv, |x| F32x4(v128_load(x[at..at + 4].as_ptr().cast())));
                v128_store(c.as_mut_ptr().cast(), f.at(xv, vv).0);
            }
        }
        (x_rest, rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slice functions (8 lanes where there is AVX2, 4 in wasm
    /// simd128) give the same bits as the scalar functions, value by value.
    #[test]
    fn slices_equal_the_scalar_functions() {
        let xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0271).collect();
        let (mut s, mut t) = (xs.clone(), xs.clone());
        sigmoid_in_place(&mut s);
        tanh_in_place(&mut t);
        let (mut g, mut d) = (vec![0.0; xs.len()], vec![1.5; xs.len()]);
        gelu_into(&xs, &mut g);
        gelu_grad_in_place(&xs, &mut d);
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
