//! Golden values for the ops, small enough to derive by hand; the derivation
//! sits beside each number (STYLE.md item 8). Layouts are PyTorch's: NCHW
//! activations, conv weight [out, in, 3, 3], dense weight [out, in], LSTM
//! gates in the order i, f, g, o.
//!
//! Each test body is generic over [`Backend`] and instantiated for the CPU
//! at the bottom of the file.

#![cfg(not(target_arch = "wasm32"))]

use std::f64::consts::LN_2;

use neuralpad::backend::{Act, Mask, SeqStep};
use neuralpad::shapes::AdamConfig;
use neuralpad::{Backend, CpuBackend, Error, Result};

/// Default tolerance: the hand-derived values are exact reals, the ops run
/// in f32 (spacing 6e-8 near 1), so 1e-6 leaves room for a few roundings.
const TOL: f64 = 1e-6;

fn ln(x: f64) -> f64 {
    x.ln()
}

/// Reads one tensor back; the CPU backend's future is ready at once.
fn read<B: Backend>(b: &B, t: &B::Tensor) -> Result<Vec<f32>> {
    Ok(pollster::block_on(b.read(&[t]))?.remove(0))
}

/// Panics with the first index where |got - want| > tol, naming `what`.
fn assert_close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}: index {i}: got {g}, expected {w} (tolerance {tol})\n got: {got:?}\nwant: {want:?}"
        );
    }
}

/// 0, 1, ..., n-1 as f32.
fn arange(n: usize) -> Vec<f32> {
    (0..n).map(|i| i as f32).collect()
}

// ---- conv2d -----------------------------------------------------------------

/// x = 0..16 as [1, 1, 4, 4], two 3x3 filters, with and without relu.
fn conv2d_forward_arange<B: Backend>(b: &B) -> Result<()> {
    // x:            filter 0 = all ones, bias 0.5
    //  0  1  2  3   filter 1 = 0..9 (w[ky][kx] = 3ky + kx), bias -300
    //  4  5  6  7
    //  8  9 10 11   y is [1, 2, 2, 2]; window (oy, ox) covers x[oy..oy+3][ox..ox+3].
    // 12 13 14 15
    let x = b.tensor(&[1, 1, 4, 4], &arange(16))?;
    let mut w = vec![1.0; 9];
    w.extend(arange(9));
    let w = b.tensor(&[2, 1, 3, 3], &w)?;
    let bias = b.tensor(&[2], &[0.5, -300.0])?;

    // Filter 0 sums the window: the window is symmetric about its centre
    // x[oy+1][ox+1] = 5, 6, 9, 10, so its sum is 9 * centre = 45, 54, 81, 90;
    // plus 0.5.
    // Filter 1, window (0,0): sum over ky, kx of (3ky + kx)(4ky + kx)
    //   = 12 * sum ky^2 * 3 + 7 * (sum ky)(sum kx) + sum kx^2 * 3
    //   = 12 * 5 * 3 + 7 * 3 * 3 + 5 * 3 = 180 + 63 + 15 = 258.
    // Moving the window by (oy, ox) adds 4oy + ox to every x under it, so it
    // adds (4oy + ox) * sum(w) = (4oy + ox) * 36: 258, 294, 402, 438; minus 300.
    // (A flipped kernel, i.e. true convolution, would give 8 * 45 - 258 = 102,
    // then 138, 246, 282, before the bias.)
    let mut y = b.zeros(&[1, 2, 2, 2]);
    b.conv2d_forward(&x, &w, &bias, &mut y, Act::Linear)?;
    assert_close(
        "conv2d_forward",
        &read(b, &y)?,
        &[45.5, 54.5, 81.5, 90.5, -42.0, -6.0, 102.0, 138.0],
        TOL,
    );

    // relu fused: the two negative outputs of filter 1 become 0.
    b.conv2d_forward(&x, &w, &bias, &mut y, Act::Relu)?;
    assert_close(
        "conv2d_forward relu",
        &read(b, &y)?,
        &[45.5, 54.5, 81.5, 90.5, 0.0, 0.0, 102.0, 138.0],
        TOL,
    );
    Ok(())
}

/// The three conv2d backward ops on the same arange input with dy = 1.
fn conv2d_backward_arange<B: Backend>(b: &B) -> Result<()> {
    let x = b.tensor(&[1, 1, 4, 4], &arange(16))?;
    let w = b.tensor(&[1, 1, 3, 3], &[1.0; 9])?;
    let dy = b.tensor(&[1, 1, 2, 2], &[1.0; 4])?;

    // dx[iy][ix] = sum of w over the windows covering (iy, ix); with w = 1
    // and dy = 1 that counts the 2x2 output windows touching the pixel:
    // corners 1, edges 2, the four middle pixels 4.
    let mut dx = b.zeros(&[1, 1, 4, 4]);
    b.conv2d_backward_input(&dy, &w, &mut dx)?;
    #[rustfmt::skip]
    let want = [1.0, 2.0, 2.0, 1.0,
                2.0, 4.0, 4.0, 2.0,
                2.0, 4.0, 4.0, 2.0,
                1.0, 2.0, 2.0, 1.0];
    assert_close("conv2d_backward_input", &read(b, &dx)?, &want, TOL);

    // dw[ky][kx] = sum over oy, ox in {0, 1} of x[oy+ky][ox+kx]
    //   = sum of 4(oy+ky) + (ox+kx) = 4 * (4ky + kx) + (0 + 1 + 4 + 5)
    //   = 16ky + 4kx + 10.
    let mut dw = b.zeros(&[1, 1, 3, 3]);
    b.conv2d_backward_weight(&x, &dy, &mut dw)?;
    #[rustfmt::skip]
    let want = [10.0, 14.0, 18.0,
                26.0, 30.0, 34.0,
                42.0, 46.0, 50.0];
    assert_close("conv2d_backward_weight", &read(b, &dw)?, &want, TOL);

    // db = sum of dy = 4.
    let mut db = b.zeros(&[1]);
    b.conv2d_backward_bias(&dy, &mut db)?;
    assert_close("conv2d_backward_bias", &read(b, &db)?, &[4.0], TOL);
    Ok(())
}

// ---- max_pool2d -------------------------------------------------------------

/// Channel 0 is 0..20 as 4x5 (floor drops the last column); channel 1 is all
/// ones (ties: the first element of each window wins, as in PyTorch).
fn max_pool2d_arange<B: Backend>(b: &B) -> Result<()> {
    // channel 0:          channel 1 (flat indices 20..40), all 1.0
    //  0  1 |  2  3 |  4
    //  5  6 |  7  8 |  9   windows {0,1,5,6} {2,3,7,8}; column 4 is dropped
    // ------+-------+
    // 10 11 | 12 13 | 14   windows {10,11,15,16} {12,13,17,18}
    // 15 16 | 17 18 | 19
    let mut x = arange(20);
    x.extend([1.0; 20]);
    let x = b.tensor(&[1, 2, 4, 5], &x)?;
    let (mut y, mut argmax) = (b.zeros(&[1, 2, 2, 2]), b.indices(&[0; 8]));
    b.max_pool2d_forward(&x, &mut y, &mut argmax, 2)?;

    // Channel 0: each window's maximum is its bottom-right value (position
    // 1 * 2 + 1 = 3 in the window), and as x is an arange, its value is also
    // its flat index: 6, 8, 16, 18.
    // Channel 1: all equal, so the top-left of each window wins (position
    // 0); the windows start at rows 0, 2 and columns 0, 2 of the plane at
    // offset 20: flat 20 + 0, 20 + 2, 20 + 2*5, 20 + 2*5 + 2 = 20, 22, 30, 32.
    assert_close(
        "max_pool2d_forward",
        &read(b, &y)?,
        &[6.0, 8.0, 16.0, 18.0, 1.0, 1.0, 1.0, 1.0],
        TOL,
    );
    let argmax_host = pollster::block_on(b.read_indices(&argmax))?;
    assert_eq!(
        argmax_host,
        [3, 3, 3, 3, 0, 0, 0, 0],
        "max_pool2d_forward argmax"
    );

    // Backward routes dy = 1..=8 to those positions; every other dx stays 0,
    // the dropped column 4 included.
    let dy = b.tensor(&[1, 2, 2, 2], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0])?;
    let mut dx = b.zeros(&[1, 2, 4, 5]);
    b.max_pool2d_backward(&dy, &argmax, &mut dx, 2)?;
    let mut want = [0.0; 40];
    for (at, v) in [6, 8, 16, 18, 20, 22, 30, 32].into_iter().zip(1..) {
        want[at] = v as f64;
    }
    assert_eq!(want[6], 1.0);
    assert_eq!(want[32], 8.0);
    assert_close("max_pool2d_backward", &read(b, &dx)?, &want, TOL);
    Ok(())
}

// ---- avg_pool2d -------------------------------------------------------------

/// The same 0..20 plane as above, averaged: each 2x2 window's mean is the
/// mean of an arange square, its top-left value plus (0 + 1 + 5 + 6) / 4 = 3.
fn avg_pool2d_arange<B: Backend>(b: &B) -> Result<()> {
    let x = b.tensor(&[1, 1, 4, 5], &arange(20))?;
    let mut y = b.zeros(&[1, 1, 2, 2]);
    b.avg_pool2d_forward(&x, &mut y, 2)?;
    // Windows start at 0, 2, 10, 12: means 3, 5, 13, 15.
    assert_close(
        "avg_pool2d_forward",
        &read(b, &y)?,
        &[3.0, 5.0, 13.0, 15.0],
        TOL,
    );
    // Backward spreads dy / 4 over each window; column 4 stays 0.
    let dy = b.tensor(&[1, 1, 2, 2], &[4.0, 8.0, 12.0, 16.0])?;
    let mut dx = b.zeros(&[1, 1, 4, 5]);
    b.avg_pool2d_backward(&dy, &mut dx, 2)?;
    #[rustfmt::skip]
    let want = [1.0, 1.0, 2.0, 2.0, 0.0,
                1.0, 1.0, 2.0, 2.0, 0.0,
                3.0, 3.0, 4.0, 4.0, 0.0,
                3.0, 3.0, 4.0, 4.0, 0.0];
    assert_close("avg_pool2d_backward", &read(b, &dx)?, &want, TOL);
    Ok(())
}

// ---- sigmoid, tanh ------------------------------------------------------------

/// sigmoid(ln 3) = 3/4, sigmoid(0) = 1/2, tanh(ln 2) = 3/5, tanh(-ln 3) = -4/5;
/// the backward multiplies by y(1 - y) and 1 - y^2: 3/16, 1/4, 16/25, 9/25.
fn sigmoid_tanh_golden<B: Backend>(b: &B) -> Result<()> {
    let x = b.tensor(&[2], &[ln(3.0) as f32, 0.0])?;
    let mut y = b.zeros(&[2]);
    b.sigmoid_forward(&x, &mut y)?;
    assert_close("sigmoid_forward", &read(b, &y)?, &[0.75, 0.5], TOL);
    let mut g = b.tensor(&[2], &[1.0, 2.0])?;
    b.sigmoid_backward(&y, &mut g)?;
    assert_close("sigmoid_backward", &read(b, &g)?, &[0.1875, 0.5], TOL);
    let x = b.tensor(&[2], &[LN_2 as f32, -ln(3.0) as f32])?;
    b.tanh_forward(&x, &mut y)?;
    assert_close("tanh_forward", &read(b, &y)?, &[0.6, -0.8], TOL);
    let mut g = b.tensor(&[2], &[1.0, 2.0])?;
    b.tanh_backward(&y, &mut g)?;
    assert_close("tanh_backward", &read(b, &g)?, &[0.64, 0.72], TOL);
    Ok(())
}

// ---- dropout ------------------------------------------------------------------

/// The counter-based mask of seed 7, step 1 at rate 0.5 over elements 0..10,
/// from an independent Python copy of the hash:
///   M = 0xffffffff
///   def mix(x): x ^= x >> 16; x = x * 0x7feb352d & M; x ^= x >> 15
///               x = x * 0x846ca68b & M; return x ^ (x >> 16)
///   key = mix(1 ^ mix(7))
///   [(mix(e ^ key) >> 8) / 2**24 for e in range(10)]
///   = 0.285, 0.8903, 0.7949, 0.1297, 0.2125, 0.9675, 0.4197, 0.9041, 0.5713, 0.9188
/// Kept where >= 0.5, times 1 / (1 - 0.5) = 2.
fn dropout_golden<B: Backend>(b: &B) -> Result<()> {
    let mask = Mask {
        seed: 7,
        step: 1,
        rate: 0.5,
    };
    let x = b.tensor(&[10], &[1.0; 10])?;
    let mut y = b.zeros(&[10]);
    b.dropout_forward(&x, &mut y, mask, 10)?;
    let want = [0.0, 2.0, 2.0, 0.0, 0.0, 2.0, 0.0, 2.0, 2.0, 2.0];
    assert_close("dropout_forward", &read(b, &y)?, &want, TOL);
    // A period of 5 repeats the first five elements' mask.
    b.dropout_forward(&x, &mut y, mask, 5)?;
    let want = [0.0, 2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.0, 0.0];
    assert_close("dropout_forward, period 5", &read(b, &y)?, &want, TOL);
    Ok(())
}

// ---- LSTM step --------------------------------------------------------------

/// One LSTM step, batch 1, input size 1, hidden 2, with pre-activations
/// chosen so every gate and state is a simple fraction.
fn lstm_step_golden<B: Backend>(b: &B) -> Result<()> {
    // Values used below:
    //   sigmoid(0) = 1/2;  sigmoid(ln 3) = 3 / (3 + 1) = 3/4;
    //   tanh(ln a) = (a^2 - 1) / (a^2 + 1): tanh(ln 2) = 3/5, tanh(ln 3) = 4/5.
    //
    // Target pre-activations z = xg + hg, laid out [i0 i1 f0 f1 g0 g1 o0 o1]
    // (gate k of unit j at k * hidden + j):
    //   unit 0: z_i = ln 3, z_f = 0,    z_g = ln 3,  z_o = 0
    //   unit 1: z_i = 0,    z_f = ln 3, z_g = -ln 2, z_o = ln 3
    let (l2, l3) = (LN_2, ln(3.0));
    let z = [l3, 0.0, 0.0, l3, l3, -l2, 0.0, l3];

    // xg = x W_ih^T + b_ih with x = [1], W_ih [8, 1] = z, b_ih = -1: xg = z - 1.
    let x = b.tensor(&[1, 1], &[1.0])?;
    let w_ih = b.tensor(&[8, 1], &z.map(|v| v as f32))?;
    let b_ih = b.tensor(&[8], &[-1.0; 8])?;
    let mut xg = b.zeros(&[1, 8]);
    b.dense_forward(&x, &w_ih, &b_ih, &mut xg, Act::Linear)?;
    // The step adds h W_hh^T + b_hh with h_prev = [1, 2], every row of W_hh
    // [8, 2] = [1, -0.5] and b_hh = 1: 1 * 1 - 0.5 * 2 + 1 = 1. So z as above.
    let mut h_in = b.tensor(&[1, 2], &[1.0, 2.0])?;
    let w_hh = b.tensor(&[8, 2], &[1.0, -0.5].repeat(8))?;
    let b_hh = b.tensor(&[8], &[1.0; 8])?;

    // Gates: unit 0: i = 3/4, f = 1/2, g = 4/5,  o = 1/2;
    //        unit 1: i = 1/2, f = 3/4, g = -3/5, o = 3/4.
    // c_prev is picked so that c lands on a logarithm:
    //   unit 0: c_prev = 2 ln 2 - 6/5:      c = 1/2 (2 ln 2 - 6/5) + 3/4 * 4/5 = ln 2 - 3/5 + 3/5 = ln 2
    //   unit 1: c_prev = 2/5 - (4/3) ln 3:  c = 3/4 (2/5 - (4/3) ln 3) + 1/2 * (-3/5) = 3/10 - ln 3 - 3/10 = -ln 3
    // h = o tanh(c): unit 0: 1/2 * 3/5 = 3/10; unit 1: 3/4 * (-4/5) = -3/5.
    let cp = [2.0 * l2 - 1.2, 0.4 - 4.0 / 3.0 * l3];
    // A sequence of one step: c holds [c_prev; c].
    let at = SeqStep { t: 0, batch: 1 };
    let mut c = b.tensor(&[2, 2], &[cp[0] as f32, cp[1] as f32, 0.0, 0.0])?;
    let (mut h, mut gates) = (b.zeros(&[1, 2]), b.zeros(&[1, 8]));
    b.lstm_step_forward(
        at,
        &xg,
        &w_hh,
        &b_hh,
        &mut h_in,
        &mut h,
        &mut c,
        &mut gates,
        Mask::NONE,
    )?;
    assert_close(
        "lstm gates",
        &read(b, &gates)?,
        &[0.75, 0.5, 0.5, 0.75, 0.8, -0.6, 0.5, 0.75],
        TOL,
    );
    assert_close("lstm c", &read(b, &c)?, &[cp[0], cp[1], l2, -l3], TOL);
    assert_close("lstm h", &read(b, &h)?, &[0.3, -0.6], TOL);
    // The last step of a sequence leaves h_in alone (there is no next step).
    assert_close("lstm h_in", &read(b, &h_in)?, &[1.0, 2.0], TOL);

    // Backward with dh = [1, 0], dc = [0, 1]. First dc_t = dc + dh o (1 - tanh(c)^2):
    //   unit 0: 0 + 1 * 1/2 * (1 - 9/25) = 8/25;  unit 1: 1 + 0 = 1.
    // unit 0:
    //   dz_i = dc_t g i(1-i)       = 8/25 * 4/5 * 3/16 = 6/125 = 0.048
    //   dz_f = dc_t c_prev f(1-f)  = 8/25 * (2 ln 2 - 6/5) / 4 = (2/25)(2 ln 2 - 6/5)
    //   dz_g = dc_t i (1 - g^2)    = 8/25 * 3/4 * 9/25 = 54/625 = 0.0864
    //   dz_o = dh tanh(c) o(1-o)   = 1 * 3/5 * 1/4 = 3/20 = 0.15
    //   dc_prev = dc_t f           = 8/25 * 1/2 = 4/25 = 0.16
    // unit 1:
    //   dz_i = 1 * (-3/5) * 1/4    = -3/20 = -0.15
    //   dz_f = 1 * (2/5 - (4/3) ln 3) * 3/16 = 3/40 - (ln 3)/4
    //   dz_g = 1 * 1/2 * (1 - 9/25) = 8/25 = 0.32
    //   dz_o = 0 (dh = 0)
    //   dc_prev = 1 * 3/4          = 0.75
    let (dh, mut dc) = (
        b.tensor(&[1, 2], &[1.0, 0.0])?,
        b.tensor(&[1, 2], &[0.0, 1.0])?,
    );
    let mut dgates = b.zeros(&[1, 8]);
    b.lstm_step_backward(at, &gates, &c, &dh, &mut dc, &mut dgates)?;
    let want = [
        0.048,
        -0.15,
        2.0 / 25.0 * cp[0],
        3.0 / 40.0 - l3 / 4.0,
        0.0864,
        0.32,
        0.15,
        0.0,
    ];
    assert_close("lstm dgates", &read(b, &dgates)?, &want, TOL);
    assert_close("lstm dc_prev", &read(b, &dc)?, &[0.16, 0.75], TOL);
    Ok(())
}

// ---- softmax + cross-entropy ------------------------------------------------

fn softmax_xent_golden<B: Backend>(b: &B) -> Result<()> {
    // Rows 0 and 1: logits [0, ln 2, ln 5] -> exp = 1, 2, 5, sum 8,
    //   probs = 1/8, 2/8, 5/8.
    //   row 0, label 2: loss = -ln(5/8) = ln(8/5) = 0.4700036
    //   row 1, label 0: loss = -ln(1/8) = ln 8 = 2.0794415
    // Row 2: logits [100, 100, 100], label 1: probs 1/3 each, loss ln 3.
    //   exp(100) = 2.7e43 overflows f32 (max 3.4e38): this row passes only
    //   if the max is subtracted first.
    let (l2, l5) = (LN_2 as f32, 5f32.ln());
    let logits = b.tensor(&[3, 3], &[0.0, l2, l5, 0.0, l2, l5, 100.0, 100.0, 100.0])?;
    let labels = b.indices(&[2, 0, 1]);
    let (mut probs, mut loss) = (b.zeros(&[3, 3]), b.zeros(&[3]));
    b.softmax_xent_forward(&logits, &labels, &mut probs, &mut loss)?;

    let third = 1.0 / 3.0;
    let want_probs = [0.125, 0.25, 0.625, 0.125, 0.25, 0.625, third, third, third];
    assert_close(
        "softmax_xent_forward probs",
        &read(b, &probs)?,
        &want_probs,
        TOL,
    );
    // Row 2's loss is computed as (100 + ln 3) - 100 in f32, where the
    // spacing near 101 is 2^-17 = 7.6e-6: compare it within 1e-5.
    let loss = read(b, &loss)?;
    assert_close(
        "softmax_xent_forward loss rows 0-1",
        &loss[..2],
        &[ln(8.0 / 5.0), ln(8.0)],
        TOL,
    );
    assert_close(
        "softmax_xent_forward loss row 2",
        &loss[2..],
        &[ln(3.0)],
        1e-5,
    );

    // softmax_forward alone gives the same probabilities.
    let mut p2 = b.zeros(&[3, 3]);
    b.softmax_forward(&logits, &mut p2)?;
    assert_close("softmax_forward", &read(b, &p2)?, &want_probs, TOL);

    // Backward of the mean loss, scale = 1/n = 1/3: dlogits = (probs - onehot) / 3.
    //   row 0 (label 2): [1/8, 2/8, 5/8 - 1] / 3 = [1/24, 2/24, -3/24]
    //   row 1 (label 0): [1/8 - 1, 2/8, 5/8] / 3 = [-7/24, 2/24, 5/24]
    //   row 2 (label 1): [1/3, 1/3 - 1, 1/3] / 3 = [1/9, -2/9, 1/9]
    let mut dlogits = b.zeros(&[3, 3]);
    b.softmax_xent_backward(&probs, &labels, &mut dlogits, 1.0 / 3.0)?;
    let t = 1.0 / 24.0;
    let n = 1.0 / 9.0;
    let want = [
        t,
        2.0 * t,
        -3.0 * t,
        -7.0 * t,
        2.0 * t,
        5.0 * t,
        n,
        -2.0 * n,
        n,
    ];
    assert_close("softmax_xent_backward", &read(b, &dlogits)?, &want, TOL);
    Ok(())
}

// ---- Adam -------------------------------------------------------------------

/// Two Adam steps with a fixed gradient (STYLE.md item 10).
fn adam_two_steps<B: Backend>(b: &B) -> Result<()> {
    let cfg = AdamConfig {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    // param = [1, -2], fixed grad g = [0.5, -3], m = v = 0.
    let mut param = b.tensor(&[2], &[1.0, -2.0])?;
    let grad = b.tensor(&[2], &[0.5, -3.0])?;
    let (mut m, mut v) = (b.zeros(&[2]), b.zeros(&[2]));

    // Step 1: m = 0.1 g = [0.05, -0.3];  v = 0.001 g^2 = [0.00025, 0.009];
    //   bias corrections 1 - 0.9 = 0.1 and 1 - 0.999 = 0.001, so m_hat = g and
    //   v_hat = g^2; update = lr * g / (|g| + eps) = 0.1 * sign(g) * (1 - eps/|g|),
    //   and eps/|g| <= 2e-8 is below f32's resolution here:
    //   param = [1 - 0.1, -2 + 0.1] = [0.9, -1.9].
    b.adam_step(&mut param, &grad, &mut m, &mut v, cfg, 1)?;
    // The moments carry f32's rounding of the betas: 1 - 0.999f32 =
    // 0.000999987, 1.3e-5 relative away from 0.001 (the bias correction is
    // computed from the same f32 beta, so it cancels in the update).
    // Compare them within 2e-5 relative.
    let moments = |what: &str, got: Vec<f32>, want: [f64; 2]| {
        for (i, (&g, w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 2e-5 * w.abs(),
                "{what}[{i}]: got {g}, expected {w}"
            );
        }
    };
    assert_close("adam step 1 param", &read(b, &param)?, &[0.9, -1.9], TOL);
    moments("adam step 1 m", read(b, &m)?, [0.05, -0.3]);
    moments("adam step 1 v", read(b, &v)?, [0.00025, 0.009]);

    // Step 2: m = 0.9 * 0.1 g + 0.1 g = 0.19 g = [0.095, -0.57];
    //   v = 0.999 * 0.001 g^2 + 0.001 g^2 = 0.001999 g^2 = [0.00049975, 0.017991];
    //   bias corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999, so again
    //   m_hat = g, v_hat = g^2 and the update is 0.1 * sign(g):
    //   param = [0.9 - 0.1, -1.9 + 0.1] = [0.8, -1.8].
    b.adam_step(&mut param, &grad, &mut m, &mut v, cfg, 2)?;
    assert_close("adam step 2 param", &read(b, &param)?, &[0.8, -1.8], TOL);
    moments("adam step 2 m", read(b, &m)?, [0.095, -0.57]);
    moments("adam step 2 v", read(b, &v)?, [0.00049975, 0.017991]);
    Ok(())
}

// ---- shape errors -----------------------------------------------------------

/// A wrong shape is an `Err` naming the op and the shapes, and the output
/// is left as it was.
fn wrong_shapes_are_errors<B: Backend>(b: &B) -> Result<()> {
    // dense: x [2, 3] but w [4, 5] expects 5 inputs per row.
    let x = b.tensor(&[2, 3], &[1.0; 6])?;
    let w = b.tensor(&[4, 5], &[1.0; 20])?;
    let bias = b.tensor(&[4], &[0.0; 4])?;
    let mut y = b.tensor(&[2, 4], &[7.0; 8])?;
    let err = b
        .dense_forward(&x, &w, &bias, &mut y, Act::Linear)
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Shape {
                op: "dense_forward",
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("dense_forward") && msg.contains("[4, 5]") && msg.contains("[2, 3]"),
        "{msg}"
    );
    assert_eq!(
        read(b, &y)?,
        [7.0; 8],
        "a failed dense_forward must not write its output"
    );

    // conv2d: bias [3] for 2 filters.
    let x = b.tensor(&[1, 1, 4, 4], &[0.0; 16])?;
    let w = b.tensor(&[2, 1, 3, 3], &[0.0; 18])?;
    let bias = b.tensor(&[3], &[0.0; 3])?;
    let mut y = b.zeros(&[1, 2, 2, 2]);
    let msg = b
        .conv2d_forward(&x, &w, &bias, &mut y, Act::Linear)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("conv2d_forward") && msg.contains("[2]") && msg.contains("[3]"),
        "{msg}"
    );

    // softmax_xent: 2 labels for 3 rows.
    let logits = b.zeros(&[3, 4]);
    let (mut probs, mut loss) = (b.zeros(&[3, 4]), b.zeros(&[3]));
    let msg = b
        .softmax_xent_forward(&logits, &b.indices(&[0, 1]), &mut probs, &mut loss)
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("softmax_xent_forward") && msg.contains("[3, 4]"),
        "{msg}"
    );

    // Host data of the wrong length.
    let msg = b
        .tensor(&[2, 3], &[0.0; 5])
        .err()
        .expect("5 values for a [2, 3] tensor must fail")
        .to_string();
    assert!(
        msg.contains("[2, 3]") && msg.contains('5') && msg.contains('6'),
        "{msg}"
    );
    Ok(())
}

// ---- instantiation ------------------------------------------------------------

/// One `#[test]` per generic body above, run on the given backend.
macro_rules! backend_tests {
    ($module:ident, $backend:expr, [$($case:ident),* $(,)?]) => {
        mod $module {
            use super::*;
            $(
                #[test]
                fn $case() -> Result<()> {
                    super::$case(&$backend)
                }
            )*
        }
    };
}

backend_tests!(
    cpu,
    CpuBackend,
    [
        conv2d_forward_arange,
        conv2d_backward_arange,
        max_pool2d_arange,
        avg_pool2d_arange,
        sigmoid_tanh_golden,
        dropout_golden,
        lstm_step_golden,
        softmax_xent_golden,
        adam_two_steps,
        wrong_shapes_are_errors,
    ]
);
