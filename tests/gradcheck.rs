//! Every backward op of the CPU backend checked against central finite
//! differences of its forward op (DESIGN.md, "Contracts").
//!
//! Method, the same for every op: pick a fixed random `r` of the forward
//! output's shape and take the scalar loss L = sum(forward_output * r),
//! summed in f64 from the f32 outputs. Then dL/d(output) = r, so the
//! analytic gradient is the backward op called with dy = r, and the
//! numerical one is (L(x + h) - L(x - h)) / (2h), one input element at a
//! time. softmax + cross-entropy uses L = mean of the per-row losses
//! instead, which is what `scale = 1/n` in its fused backward stands for.
//!
//! Backward ops ACCUMULATE into their gradient, so every gradient buffer
//! starts at zero here; `backward_ops_accumulate` checks the `+=` itself.
//! Inputs of relu and max-pool are kept away from kinks and ties, where the
//! finite difference would straddle two branches.
//!
//! Each test body is generic over [`Backend`] and instantiated for the CPU
//! at the bottom of the file.

#![cfg(not(target_arch = "wasm32"))]

use neuralpad::backend::{Act, KeyRows, Mask, SeqStep};
use neuralpad::shapes::Cell;
use neuralpad::{Backend, CpuBackend, Result};
use rand::Rng;

mod common;

use common::gradcheck::{away_from_zero, check_grad, dot, read, rng, uniform};

// ---- conv2d -----------------------------------------------------------------

fn conv2d_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(1);
    // x [2, 3, 6, 5], w [4, 3, 3, 3] -> y [2, 4, 4, 3]: batch 2, odd sizes.
    let (xs, ws, ys) = ([2, 3, 6, 5], [4, 3, 3, 3], [2, 4, 4, 3]);
    let x = uniform(&mut rng, 180, -1.0, 1.0);
    let w = uniform(&mut rng, 108, -1.0, 1.0);
    let bias = uniform(&mut rng, 4, -1.0, 1.0);
    let r = uniform(&mut rng, 96, -1.0, 1.0);

    let loss = |x: &[f32], w: &[f32], bias: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&ys);
        b.conv2d_forward(
            &b.tensor(&xs, x)?,
            &b.tensor(&ws, w)?,
            &b.tensor(&[4], bias)?,
            &mut y,
            Act::Linear,
        )?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let (xt, wt, dy) = (b.tensor(&xs, &x)?, b.tensor(&ws, &w)?, b.tensor(&ys, &r)?);
    let (mut dx, mut dw, mut db) = (b.zeros(&xs), b.zeros(&ws), b.zeros(&[4]));
    b.conv2d_backward_input(&dy, &wt, &mut dx)?;
    b.conv2d_backward_weight(&xt, &dy, &mut dw)?;
    b.conv2d_backward_bias(&dy, &mut db)?;

    check_grad("conv2d_backward_input", &x, &read(b, &dx)?, |x| {
        loss(x, &w, &bias)
    })?;
    check_grad("conv2d_backward_weight", &w, &read(b, &dw)?, |w| {
        loss(&x, w, &bias)
    })?;
    check_grad("conv2d_backward_bias", &bias, &read(b, &db)?, |bias| {
        loss(&x, &w, bias)
    })
}

// ---- max_pool2d -------------------------------------------------------------

fn max_pool2d_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(2);
    // x [2, 3, 5, 7] -> y [2, 3, 2, 3]: floor drops the last row and column,
    // whose gradient must stay zero.
    let (xs, ys) = ([2, 3, 5, 7], [2, 3, 2, 3]);
    // A shuffled 0.1 * (0..210): all values distinct and 0.1 apart, so a
    // step of h = 0.01 never changes which element wins a window.
    let mut x: Vec<f32> = (0..210).map(|i| i as f32 * 0.1 - 10.0).collect();
    for i in (1..x.len()).rev() {
        x.swap(i, rng.random_range(0..=i));
    }
    let r = uniform(&mut rng, 36, -1.0, 1.0);

    let loss = |x: &[f32]| -> Result<f64> {
        let (mut y, mut am) = (b.zeros(&ys), b.indices(&[0; 36]));
        b.max_pool2d_forward(&b.tensor(&xs, x)?, &mut y, &mut am, 2)?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let (mut y, mut argmax) = (b.zeros(&ys), b.indices(&[0; 36]));
    b.max_pool2d_forward(&b.tensor(&xs, &x)?, &mut y, &mut argmax, 2)?;
    let mut dx = b.zeros(&xs);
    b.max_pool2d_backward(&b.tensor(&ys, &r)?, &argmax, &mut dx, 2)?;
    check_grad("max_pool2d_backward", &x, &read(b, &dx)?, loss)
}

// ---- dense ------------------------------------------------------------------

fn dense_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(3);
    // x [3, 2, 5] is flattened to [3, 10]; w [4, 10] -> y [3, 4].
    let (xs, ws, ys) = ([3, 2, 5], [4, 10], [3, 4]);
    let x = uniform(&mut rng, 30, -1.0, 1.0);
    let w = uniform(&mut rng, 40, -1.0, 1.0);
    let bias = uniform(&mut rng, 4, -1.0, 1.0);
    let r = uniform(&mut rng, 12, -1.0, 1.0);

    let loss = |x: &[f32], w: &[f32], bias: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&ys);
        b.dense_forward(
            &b.tensor(&xs, x)?,
            &b.tensor(&ws, w)?,
            &b.tensor(&[4], bias)?,
            &mut y,
            Act::Linear,
        )?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let (xt, wt, dy) = (b.tensor(&xs, &x)?, b.tensor(&ws, &w)?, b.tensor(&ys, &r)?);
    let (mut dx, mut dw, mut db) = (b.zeros(&xs), b.zeros(&ws), b.zeros(&[4]));
    b.dense_backward_input(&dy, &wt, &mut dx)?;
    b.dense_backward_weight(&xt, &dy, &mut dw)?;
    b.dense_backward_bias(&dy, &mut db)?;

    check_grad("dense_backward_input", &x, &read(b, &dx)?, |x| {
        loss(x, &w, &bias)
    })?;
    check_grad("dense_backward_weight", &w, &read(b, &dw)?, |w| {
        loss(&x, w, &bias)
    })?;
    check_grad("dense_backward_bias", &bias, &read(b, &db)?, |bias| {
        loss(&x, &w, bias)
    })
}

/// dense with relu fused into the forward pass: `relu_backward` on the
/// output gradient, then the three dense backward ops, as a layer runs them.
fn dense_relu_fused_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(4);
    let (xs, ws, ys) = ([3, 7], [5, 7], [3, 5]);
    let x = uniform(&mut rng, 21, -1.0, 1.0);
    let w = uniform(&mut rng, 35, -1.0, 1.0);
    let r = uniform(&mut rng, 15, -1.0, 1.0);
    // Redraw the bias until every pre-activation is at least 0.05 from the
    // kink: one step of h moves a pre-activation by at most h * max(|x|, |w|, 1) = 0.01.
    let (xt, wt) = (b.tensor(&xs, &x)?, b.tensor(&ws, &w)?);
    let mut pre = b.zeros(&ys);
    let mut bias = uniform(&mut rng, 5, -1.0, 1.0);
    for draw in 1.. {
        b.dense_forward(&xt, &wt, &b.tensor(&[5], &bias)?, &mut pre, Act::Linear)?;
        if read(b, &pre)?.iter().all(|v| v.abs() >= 0.05) {
            break;
        }
        assert!(draw < 1000, "no bias kept the pre-activations off the kink");
        bias = uniform(&mut rng, 5, -1.0, 1.0);
    }
    let pre = read(b, &pre)?;
    assert!(
        pre.iter().any(|&v| v < 0.0) && pre.iter().any(|&v| v > 0.0),
        "relu must both pass and block: {pre:?}"
    );

    let loss = |x: &[f32], w: &[f32], bias: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&ys);
        b.dense_forward(
            &b.tensor(&xs, x)?,
            &b.tensor(&ws, w)?,
            &b.tensor(&[5], bias)?,
            &mut y,
            Act::Relu,
        )?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let mut y = b.zeros(&ys);
    b.dense_forward(&xt, &wt, &b.tensor(&[5], &bias)?, &mut y, Act::Relu)?;
    let mut g = b.tensor(&ys, &r)?;
    b.relu_backward(&y, &mut g)?;
    let (mut dx, mut dw, mut db) = (b.zeros(&xs), b.zeros(&ws), b.zeros(&[5]));
    b.dense_backward_input(&g, &wt, &mut dx)?;
    b.dense_backward_weight(&xt, &g, &mut dw)?;
    b.dense_backward_bias(&g, &mut db)?;

    check_grad(
        "dense_forward(relu) + relu_backward + dense_backward_input",
        &x,
        &read(b, &dx)?,
        |x| loss(x, &w, &bias),
    )?;
    check_grad(
        "dense_forward(relu) + relu_backward + dense_backward_weight",
        &w,
        &read(b, &dw)?,
        |w| loss(&x, w, &bias),
    )?;
    check_grad(
        "dense_forward(relu) + relu_backward + dense_backward_bias",
        &bias,
        &read(b, &db)?,
        |bias| loss(&x, &w, bias),
    )
}

// ---- relu -------------------------------------------------------------------

fn relu_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(5);
    let s = [2, 3, 5];
    // |x| >= 0.05 > h: no step crosses the kink at 0.
    let x = away_from_zero(&mut rng, 30, -1.0, 1.0, 0.05);
    let r = uniform(&mut rng, 30, -1.0, 1.0);

    let loss = |x: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&s);
        b.relu_forward(&b.tensor(&s, x)?, &mut y)?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let mut y = b.zeros(&s);
    b.relu_forward(&b.tensor(&s, &x)?, &mut y)?;
    // relu_backward works in place: grad = r becomes r * (y > 0).
    let mut grad = b.tensor(&s, &r)?;
    b.relu_backward(&y, &mut grad)?;
    check_grad("relu_backward", &x, &read(b, &grad)?, loss)
}

// ---- embedding --------------------------------------------------------------

fn embedding_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(6);
    // table [5, 3]; id 3 appears twice (its gradients add up), id 2 never
    // (zero gradient), and id 7 >= vocab gives a zero row and no gradient.
    let ids = [0, 3, 3, 1, 4, 7];
    let (ts, ys) = ([5, 3], [6, 3]);
    let table = uniform(&mut rng, 15, -1.0, 1.0);
    let r = uniform(&mut rng, 18, -1.0, 1.0);
    let idx = b.indices(&ids);

    let loss = |table: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&ys);
        b.embedding_forward(&idx, &b.tensor(&ts, table)?, &mut y)?;
        Ok(dot(&read(b, &y)?, &r))
    };

    let mut dtable = b.zeros(&ts);
    b.embedding_backward(&idx, &b.tensor(&ys, &r)?, &mut dtable)?;
    check_grad("embedding_backward", &table, &read(b, &dtable)?, loss)
}

// ---- LSTM over a sequence (BPTT) ---------------------------------------------

/// Three timesteps, batch 2, hidden 3, through the step ops: the loss reads
/// every h_t and the last c, so the gradient flows back through the hidden
/// and the cell recurrences both.
fn lstm_sequence_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(7);
    let (steps, batch, hd) = (3, 2, 3);
    let (gs, ss, cs) = (
        [steps * batch, 4 * hd],
        [steps * batch, hd],
        [(steps + 1) * batch, hd],
    );
    let xg = uniform(&mut rng, steps * batch * 4 * hd, -2.0, 2.0);
    let w_hh = uniform(&mut rng, 4 * hd * hd, -1.0, 1.0);
    let b_hh = uniform(&mut rng, 4 * hd, -1.0, 1.0);
    let h0 = uniform(&mut rng, batch * hd, -1.0, 1.0);
    let c0 = uniform(&mut rng, batch * hd, -1.0, 1.0);
    // L = sum(h_out * r_h) + sum(c_T * r_c).
    let r_h = uniform(&mut rng, steps * batch * hd, -1.0, 1.0);
    let r_c = uniform(&mut rng, batch * hd, -1.0, 1.0);
    let at = |t| SeqStep { t, batch };
    let pad = |first: &[f32], rows: usize| {
        let mut v = first.to_vec();
        v.resize(rows * hd, 0.0);
        v
    };

    // The forward pass; returns the state tensors for the backward.
    let forward = |xg: &[f32], w_hh: &[f32], b_hh: &[f32], c0: &[f32]| {
        let (xg, w, bias) = (
            b.tensor(&gs, xg)?,
            b.tensor(&[4 * hd, hd], w_hh)?,
            b.tensor(&[4 * hd], b_hh)?,
        );
        let mut h_in = b.tensor(&ss, &pad(&h0, steps * batch))?;
        let mut c = b.tensor(&cs, &pad(c0, (steps + 1) * batch))?;
        let (mut h_out, mut gates) = (b.zeros(&ss), b.zeros(&gs));
        for t in 0..steps {
            b.lstm_step_forward(
                at(t),
                &xg,
                &w,
                &bias,
                &mut h_in,
                &mut h_out,
                &mut c,
                &mut gates,
                Mask::NONE,
            )?;
        }
        Result::Ok((w, h_in, h_out, c, gates))
    };
    let loss = |xg: &[f32], w_hh: &[f32], b_hh: &[f32], c0: &[f32]| -> Result<f64> {
        let (_, _, h_out, c, _) = forward(xg, w_hh, b_hh, c0)?;
        let c_last = read(b, &c)?[steps * batch * hd..].to_vec();
        Ok(dot(&read(b, &h_out)?, &r_h) + dot(&c_last, &r_c))
    };

    let (w, h_in, _, c, gates) = forward(&xg, &w_hh, &b_hh, &c0)?;
    let mut dh = b.tensor(&ss, &r_h)?;
    let mut dc = b.tensor(&[batch, hd], &r_c)?;
    let mut dgates = b.zeros(&gs);
    for t in (0..steps).rev() {
        b.lstm_step_backward(at(t), &gates, &c, &dh, &mut dc, &mut dgates)?;
        if t > 0 {
            b.lstm_step_backward_hidden(at(t), &dgates, &w, &mut dh, Mask::NONE)?;
        }
    }
    // The parameter gradients are whole-sequence dense ops, as in the model.
    let (mut dw, mut db) = (b.zeros(&[4 * hd, hd]), b.zeros(&[4 * hd]));
    b.dense_backward_weight(&h_in, &dgates, &mut dw)?;
    b.dense_backward_bias(&dgates, &mut db)?;
    let dg = read(b, &dgates)?;

    // z = xg + ..., so dL/dxg = dgates.
    check_grad("lstm_step_backward dgates (via xg)", &xg, &dg, |xg| {
        loss(xg, &w_hh, &b_hh, &c0)
    })?;
    check_grad(
        "lstm_step_backward_hidden, W_hh gradient",
        &w_hh,
        &read(b, &dw)?,
        |w| loss(&xg, w, &b_hh, &c0),
    )?;
    check_grad("lstm b_hh gradient", &b_hh, &read(b, &db)?, |bias| {
        loss(&xg, &w_hh, bias, &c0)
    })?;
    check_grad("lstm_step_backward dc (to c0)", &c0, &read(b, &dc)?, |c0| {
        loss(&xg, &w_hh, &b_hh, c0)
    })
}

/// Gradient clipping scales by max_norm / norm of all the tensors together.
fn clip_by_global_norm<B: Backend>(b: &B) -> Result<()> {
    // Norm of [3, 4] and [12] is 13; clipped to 6.5 everything halves.
    let (mut x, mut y) = (b.tensor(&[2], &[3.0, 4.0])?, b.tensor(&[1], &[12.0])?);
    let mut sums = b.zeros(&[2]);
    b.sum_squares(&x, &mut sums, 0)?;
    b.sum_squares(&y, &mut sums, 1)?;
    assert_eq!(read(b, &sums)?, [25.0, 144.0]);
    b.clip_by_norm(&sums, 6.5, &mut x)?;
    b.clip_by_norm(&sums, 6.5, &mut y)?;
    assert_eq!((read(b, &x)?, read(b, &y)?), (vec![1.5, 2.0], vec![6.0]));
    // Under the bound nothing moves.
    b.clip_by_norm(&sums, 13.5, &mut x)?;
    assert_eq!(read(b, &x)?, [1.5, 2.0]);
    Ok(())
}

// ---- softmax + cross-entropy ------------------------------------------------

fn softmax_xent_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(8);
    let (n, classes) = (4, 5);
    let s = [n, classes];
    let logits = uniform(&mut rng, n * classes, -3.0, 3.0);
    let labels: Vec<u32> = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    let lab = b.indices(&labels);

    // L = mean over rows of -ln softmax(logits)[label].
    let loss = |logits: &[f32]| -> Result<f64> {
        let (mut probs, mut loss) = (b.zeros(&s), b.zeros(&[n]));
        b.softmax_xent_forward(&b.tensor(&s, logits)?, &lab, &mut probs, &mut loss)?;
        Ok(read(b, &loss)?.iter().map(|&l| l as f64).sum::<f64>() / n as f64)
    };

    let (mut probs, mut l) = (b.zeros(&s), b.zeros(&[n]));
    b.softmax_xent_forward(&b.tensor(&s, &logits)?, &lab, &mut probs, &mut l)?;
    let mut dlogits = b.zeros(&s);
    b.softmax_xent_backward(&probs, &lab, &mut dlogits, 1.0 / n as f32)?;
    check_grad("softmax_xent_backward", &logits, &read(b, &dlogits)?, loss)
}

// ---- accumulation -----------------------------------------------------------

/// `second` must be twice `first`, up to rounding.
fn assert_doubled(op: &str, first: &[f32], second: &[f32]) {
    assert!(
        first.iter().any(|&v| v != 0.0),
        "{op}: the first call produced only zeros"
    );
    for (i, (&a, &b)) in first.iter().zip(second).enumerate() {
        let want = 2.0 * a;
        assert!(
            (b - want).abs() <= 1e-6 * want.abs().max(1.0),
            "{op}: index {i}: once {a}, twice {b}, expected {want}"
        );
    }
}

/// Calling a `*_backward_*` op twice on the same gradient buffer doubles it:
/// the ops add (`+=`) into their gradient, as backend.rs promises, so the
/// gradients of a weight used twice add up. The LSTM cell backward is the
/// exception: it overwrites its outputs, so a second call changes nothing.
fn backward_ops_accumulate<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(9);
    let mut rand_t = |shape: &[usize]| -> Result<B::Tensor> {
        let n = shape.iter().product();
        b.tensor(shape, &uniform(&mut rng, n, -1.0, 1.0))
    };
    // Runs `op` twice into one zeroed buffer and compares.
    fn twice<B: Backend>(
        b: &B,
        name: &str,
        shape: &[usize],
        mut op: impl FnMut(&mut B::Tensor) -> Result<()>,
    ) -> Result<()> {
        let mut g = b.zeros(shape);
        op(&mut g)?;
        let first = read(b, &g)?;
        op(&mut g)?;
        assert_doubled(name, &first, &read(b, &g)?);
        Ok(())
    }

    let (x, w, dy) = (
        rand_t(&[2, 3, 6, 5])?,
        rand_t(&[4, 3, 3, 3])?,
        rand_t(&[2, 4, 4, 3])?,
    );
    twice(b, "conv2d_backward_input", &[2, 3, 6, 5], |g| {
        b.conv2d_backward_input(&dy, &w, g)
    })?;
    twice(b, "conv2d_backward_weight", &[4, 3, 3, 3], |g| {
        b.conv2d_backward_weight(&x, &dy, g)
    })?;
    twice(b, "conv2d_backward_bias", &[4], |g| {
        b.conv2d_backward_bias(&dy, g)
    })?;

    let (x, w, dy) = (rand_t(&[3, 7])?, rand_t(&[5, 7])?, rand_t(&[3, 5])?);
    twice(b, "dense_backward_input", &[3, 7], |g| {
        b.dense_backward_input(&dy, &w, g)
    })?;
    twice(b, "dense_backward_weight", &[5, 7], |g| {
        b.dense_backward_weight(&x, &dy, g)
    })?;
    twice(b, "dense_backward_bias", &[5], |g| {
        b.dense_backward_bias(&dy, g)
    })?;

    let (x, dy) = (rand_t(&[1, 2, 4, 6])?, rand_t(&[1, 2, 2, 3])?);
    let (mut y, mut argmax) = (b.zeros(&[1, 2, 2, 3]), b.indices(&[0; 12]));
    b.max_pool2d_forward(&x, &mut y, &mut argmax, 2)?;
    twice(b, "max_pool2d_backward", &[1, 2, 4, 6], |g| {
        b.max_pool2d_backward(&dy, &argmax, g, 2)
    })?;

    let (ids, dy) = (b.indices(&[2, 0, 2]), rand_t(&[3, 4])?);
    twice(b, "embedding_backward", &[3, 4], |g| {
        b.embedding_backward(&ids, &dy, g)
    })?;

    let (logits, labels) = (rand_t(&[3, 4])?, b.indices(&[1, 3, 0]));
    let (mut probs, mut loss) = (b.zeros(&[3, 4]), b.zeros(&[3]));
    b.softmax_xent_forward(&logits, &labels, &mut probs, &mut loss)?;
    twice(b, "softmax_xent_backward", &[3, 4], |g| {
        b.softmax_xent_backward(&probs, &labels, g, 1.0 / 3.0)
    })?;

    // lstm_step_backward overwrites dgates[t] and dc (backend.rs); the
    // hidden gradient accumulates into dh[t-1].
    let at = SeqStep { t: 1, batch: 2 };
    let (xg, w_hh, b_hh) = (rand_t(&[4, 8])?, rand_t(&[8, 2])?, rand_t(&[8])?);
    let (mut h_in, mut c) = (rand_t(&[4, 2])?, rand_t(&[6, 2])?);
    let (mut h_out, mut gates) = (b.zeros(&[4, 2]), b.zeros(&[4, 8]));
    b.lstm_step_forward(
        at,
        &xg,
        &w_hh,
        &b_hh,
        &mut h_in,
        &mut h_out,
        &mut c,
        &mut gates,
        Mask::NONE,
    )?;
    let (dh, dc0) = (rand_t(&[4, 2])?, rand_t(&[2, 2])?);
    let mut dgates = b.zeros(&[4, 8]);
    let mut dc = b.tensor(&[2, 2], &read(b, &dc0)?)?;
    b.lstm_step_backward(at, &gates, &c, &dh, &mut dc, &mut dgates)?;
    let once = (read(b, &dgates)?, read(b, &dc)?);
    let mut dc = b.tensor(&[2, 2], &read(b, &dc0)?)?;
    b.lstm_step_backward(at, &gates, &c, &dh, &mut dc, &mut dgates)?;
    assert_eq!(
        once,
        (read(b, &dgates)?, read(b, &dc)?),
        "lstm_step_backward must overwrite, not accumulate"
    );
    assert!(once.0.iter().any(|&v| v != 0.0) && once.1.iter().any(|&v| v != 0.0));
    twice(b, "lstm_step_backward_hidden", &[4, 2], |g| {
        b.lstm_step_backward_hidden(at, &dgates, &w_hh, g, Mask::NONE)
    })?;
    Ok(())
}

// ---- conv2d and dense with any kernel and activation --------------------------

/// conv2d_forward with an activation fused, then the activation's backward
/// in place and the three conv backward ops, as a layer runs them; for
/// kernels of 1, 2 and 5 (3 is above) and the smooth activations.
fn conv2d_kernels_and_activations_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(21);
    for (k, act) in [(5, Act::Sigmoid), (2, Act::Tanh), (1, Act::Linear)] {
        let (h, w) = (7, 6);
        let (oh, ow) = (h - k + 1, w - k + 1);
        let (xs, ws, ys) = ([2, 3, h, w], [4, 3, k, k], [2, 4, oh, ow]);
        let x = uniform(&mut rng, 2 * 3 * h * w, -1.0, 1.0);
        let wt = uniform(&mut rng, 4 * 3 * k * k, -0.5, 0.5);
        let bias = uniform(&mut rng, 4, -1.0, 1.0);
        let r = uniform(&mut rng, 2 * 4 * oh * ow, -1.0, 1.0);
        let loss = |x: &[f32], wt: &[f32], bias: &[f32]| -> Result<f64> {
            let mut y = b.zeros(&ys);
            b.conv2d_forward(
                &b.tensor(&xs, x)?,
                &b.tensor(&ws, wt)?,
                &b.tensor(&[4], bias)?,
                &mut y,
                act,
            )?;
            Ok(dot(&read(b, &y)?, &r))
        };
        let (xt, wtt) = (b.tensor(&xs, &x)?, b.tensor(&ws, &wt)?);
        let mut y = b.zeros(&ys);
        b.conv2d_forward(&xt, &wtt, &b.tensor(&[4], &bias)?, &mut y, act)?;
        let mut g = b.tensor(&ys, &r)?;
        b.activation_backward(act, &y, &mut g)?;
        let (mut dx, mut dw, mut db) = (b.zeros(&xs), b.zeros(&ws), b.zeros(&[4]));
        b.conv2d_backward_input(&g, &wtt, &mut dx)?;
        b.conv2d_backward_weight(&xt, &g, &mut dw)?;
        b.conv2d_backward_bias(&g, &mut db)?;
        let name = |what: &str| format!("conv2d {k}x{k} {act:?}: {what}");
        check_grad(&name("backward_input"), &x, &read(b, &dx)?, |x| {
            loss(x, &wt, &bias)
        })?;
        check_grad(&name("backward_weight"), &wt, &read(b, &dw)?, |w| {
            loss(&x, w, &bias)
        })?;
        check_grad(&name("backward_bias"), &bias, &read(b, &db)?, |bi| {
            loss(&x, &wt, bi)
        })?;
    }
    Ok(())
}

/// dense_forward with sigmoid or tanh fused, as a layer runs it.
fn dense_activations_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(22);
    for act in [Act::Sigmoid, Act::Tanh] {
        let (xs, ws, ys) = ([3, 7], [5, 7], [3, 5]);
        let x = uniform(&mut rng, 21, -1.0, 1.0);
        let w = uniform(&mut rng, 35, -1.0, 1.0);
        let bias = uniform(&mut rng, 5, -1.0, 1.0);
        let r = uniform(&mut rng, 15, -1.0, 1.0);
        let loss = |x: &[f32], w: &[f32], bias: &[f32]| -> Result<f64> {
            let mut y = b.zeros(&ys);
            b.dense_forward(
                &b.tensor(&xs, x)?,
                &b.tensor(&ws, w)?,
                &b.tensor(&[5], bias)?,
                &mut y,
                act,
            )?;
            Ok(dot(&read(b, &y)?, &r))
        };
        let (xt, wt) = (b.tensor(&xs, &x)?, b.tensor(&ws, &w)?);
        let mut y = b.zeros(&ys);
        b.dense_forward(&xt, &wt, &b.tensor(&[5], &bias)?, &mut y, act)?;
        let mut g = b.tensor(&ys, &r)?;
        b.activation_backward(act, &y, &mut g)?;
        let (mut dx, mut dw, mut db) = (b.zeros(&xs), b.zeros(&ws), b.zeros(&[5]));
        b.dense_backward_input(&g, &wt, &mut dx)?;
        b.dense_backward_weight(&xt, &g, &mut dw)?;
        b.dense_backward_bias(&g, &mut db)?;
        let name = |what: &str| format!("dense {act:?}: {what}");
        check_grad(&name("backward_input"), &x, &read(b, &dx)?, |x| {
            loss(x, &w, &bias)
        })?;
        check_grad(&name("backward_weight"), &w, &read(b, &dw)?, |w| {
            loss(&x, w, &bias)
        })?;
        check_grad(&name("backward_bias"), &bias, &read(b, &db)?, |bi| {
            loss(&x, &w, bi)
        })?;
    }
    Ok(())
}

/// sigmoid and tanh as layers: forward, then the in-place backward.
fn sigmoid_tanh_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(23);
    let s = [2, 3, 5];
    for act in [Act::Sigmoid, Act::Tanh] {
        let x = uniform(&mut rng, 30, -3.0, 3.0);
        let r = uniform(&mut rng, 30, -1.0, 1.0);
        let loss = |x: &[f32]| -> Result<f64> {
            let mut y = b.zeros(&s);
            b.activation_forward(act, &b.tensor(&s, x)?, &mut y)?;
            Ok(dot(&read(b, &y)?, &r))
        };
        let mut y = b.zeros(&s);
        b.activation_forward(act, &b.tensor(&s, &x)?, &mut y)?;
        let mut grad = b.tensor(&s, &r)?;
        b.activation_backward(act, &y, &mut grad)?;
        check_grad(&format!("{act:?}_backward"), &x, &read(b, &grad)?, loss)?;
    }
    Ok(())
}

// ---- avg_pool2d -------------------------------------------------------------

fn avg_pool2d_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(24);
    // x [2, 3, 5, 7]: windows of 2 drop the last row and column, windows of
    // 3 the last two rows and one column; their gradient must stay zero.
    for (size, ys) in [(2, [2, 3, 2, 3]), (3, [2, 3, 1, 2])] {
        let xs = [2, 3, 5, 7];
        let x = uniform(&mut rng, 210, -1.0, 1.0);
        let r = uniform(&mut rng, ys.iter().product(), -1.0, 1.0);
        let loss = |x: &[f32]| -> Result<f64> {
            let mut y = b.zeros(&ys);
            b.avg_pool2d_forward(&b.tensor(&xs, x)?, &mut y, size)?;
            Ok(dot(&read(b, &y)?, &r))
        };
        let mut dx = b.zeros(&xs);
        b.avg_pool2d_backward(&b.tensor(&ys, &r)?, &mut dx, size)?;
        check_grad(
            &format!("avg_pool2d_backward {size}x{size}"),
            &x,
            &read(b, &dx)?,
            loss,
        )?;
    }
    Ok(())
}

// ---- dropout ----------------------------------------------------------------

/// Dropout is linear in x for a fixed mask: its backward is the same mask,
/// at every rate, with the mask repeating or not.
fn dropout_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(25);
    let s = [4, 10];
    for (rate, period) in [(0.3, 40), (0.5, 10), (0.0, 40)] {
        let mask = Mask {
            seed: 7,
            step: 3,
            rate,
        };
        let x = uniform(&mut rng, 40, -1.0, 1.0);
        let r = uniform(&mut rng, 40, -1.0, 1.0);
        let loss = |x: &[f32]| -> Result<f64> {
            let mut y = b.zeros(&s);
            b.dropout_forward(&b.tensor(&s, x)?, &mut y, mask, period)?;
            Ok(dot(&read(b, &y)?, &r))
        };
        let mut dx = b.zeros(&s);
        b.dropout_backward(&b.tensor(&s, &r)?, &mut dx, mask, period)?;
        let dx = read(b, &dx)?;
        if rate > 0.0 {
            let dropped = dx.iter().filter(|&&v| v == 0.0).count();
            assert!(
                dropped > 0 && dropped < 40,
                "rate {rate}: {dropped} of 40 dropped"
            );
        }
        check_grad(
            &format!("dropout_backward rate {rate} period {period}"),
            &x,
            &dx,
            loss,
        )?;
    }
    Ok(())
}

// ---- RNN, GRU and LSTM over a sequence, with recurrent dropout ---------------

/// Three timesteps, batch 2, hidden 3, through a cell's step ops as a
/// recurrent layer runs them (src/nn/recurrent.rs): the initial state h0
/// enters h_in's block 0 through the recurrent mask, every step writes its
/// h masked into the next block, and the loss reads every h_t (and the
/// LSTM's last c), so the gradient flows back through every recurrence.
fn recurrent_sequence_backward<B: Backend>(b: &B, cell: Cell, rate: f32) -> Result<()> {
    let mut rng = rng(26 + cell.gates() as u64);
    let (steps, batch, hd) = (3, 2, 3);
    let g = cell.gates() * hd;
    let rows = steps * batch;
    let drop = Mask {
        seed: 11,
        step: 5,
        rate,
    };
    let xg = uniform(&mut rng, rows * g, -2.0, 2.0);
    let w_hh = uniform(&mut rng, g * hd, -1.0, 1.0);
    let b_hh = uniform(&mut rng, g, -1.0, 1.0);
    let h0 = uniform(&mut rng, batch * hd, -1.0, 1.0);
    let c0 = uniform(&mut rng, batch * hd, -1.0, 1.0);
    let r_h = uniform(&mut rng, rows * hd, -1.0, 1.0);
    let r_c = uniform(&mut rng, batch * hd, -1.0, 1.0);
    let at = |t| SeqStep { t, batch };

    struct State<T> {
        w: T,
        h0: T,
        h_in: T,
        h_out: T,
        c: T,
        gates: T,
    }
    let forward =
        |xg: &[f32], w_hh: &[f32], b_hh: &[f32], c0: &[f32]| -> Result<State<B::Tensor>> {
            let (xg, w, bias) = (
                b.tensor(&[rows, g], xg)?,
                b.tensor(&[g, hd], w_hh)?,
                b.tensor(&[g], b_hh)?,
            );
            let h0t = b.tensor(&[batch, hd], &h0)?;
            let mut masked = b.zeros(&[batch, hd]);
            b.dropout_forward(&h0t, &mut masked, drop, batch * hd)?;
            let mut h_in = b.zeros(&[rows, hd]);
            b.copy_slice(&masked, 0, &mut h_in, 0, batch * hd)?;
            let mut c = b.zeros(&[rows + batch, hd]);
            b.write(&mut c, &[c0, &vec![0.0; rows * hd]].concat())?;
            let (mut h_out, mut gates) = (b.zeros(&[rows, hd]), b.zeros(&[rows, 4 * hd]));
            for t in 0..steps {
                match cell {
                    Cell::Rnn => {
                        b.rnn_step_forward(at(t), &xg, &w, &bias, &mut h_in, &mut h_out, drop)?
                    }
                    Cell::Gru => b.gru_step_forward(
                        at(t),
                        &xg,
                        &w,
                        &bias,
                        &h0t,
                        &mut h_in,
                        &mut h_out,
                        &mut gates,
                        drop,
                    )?,
                    Cell::Lstm => b.lstm_step_forward(
                        at(t),
                        &xg,
                        &w,
                        &bias,
                        &mut h_in,
                        &mut h_out,
                        &mut c,
                        &mut gates,
                        drop,
                    )?,
                }
            }
            Ok(State {
                w,
                h0: h0t,
                h_in,
                h_out,
                c,
                gates,
            })
        };
    let loss = |xg: &[f32], w_hh: &[f32], b_hh: &[f32], c0: &[f32]| -> Result<f64> {
        let s = forward(xg, w_hh, b_hh, c0)?;
        let mut l = dot(&read(b, &s.h_out)?, &r_h);
        if cell == Cell::Lstm {
            l += dot(&read(b, &s.c)?[rows * hd..], &r_c);
        }
        Ok(l)
    };

    let s = forward(&xg, &w_hh, &b_hh, &c0)?;
    let mut dh = b.tensor(&[rows, hd], &r_h)?;
    let mut dc = b.tensor(&[batch, hd], &r_c)?;
    let (mut dgi, mut dgh) = (b.zeros(&[rows, g]), b.zeros(&[rows, g]));
    for t in (0..steps).rev() {
        match cell {
            Cell::Rnn => b.rnn_step_backward(at(t), &s.h_out, &dh, &mut dgi)?,
            Cell::Gru => b.gru_step_backward(
                at(t),
                &s.gates,
                &s.h0,
                &s.h_out,
                &mut dh,
                &mut dgi,
                &mut dgh,
            )?,
            Cell::Lstm => b.lstm_step_backward(at(t), &s.gates, &s.c, &dh, &mut dc, &mut dgi)?,
        }
        if t > 0 {
            match cell {
                Cell::Rnn => b.rnn_step_backward_hidden(at(t), &dgi, &s.w, &mut dh, drop)?,
                Cell::Gru => b.gru_step_backward_hidden(at(t), &dgh, &s.w, &mut dh, drop)?,
                Cell::Lstm => b.lstm_step_backward_hidden(at(t), &dgi, &s.w, &mut dh, drop)?,
            }
        }
    }
    // The recurrent part's gradient: the GRU's own, the others' whole one.
    let dg_hidden = if cell == Cell::Gru { &dgh } else { &dgi };
    let (mut dw, mut db) = (b.zeros(&[g, hd]), b.zeros(&[g]));
    b.dense_backward_weight(&s.h_in, dg_hidden, &mut dw)?;
    b.dense_backward_bias(dg_hidden, &mut db)?;
    let name = |what: &str| format!("{cell:?} recurrent dropout {rate}: {what}");
    check_grad(
        &name("step_backward (via xg)"),
        &xg,
        &read(b, &dgi)?,
        |xg| loss(xg, &w_hh, &b_hh, &c0),
    )?;
    check_grad(&name("W_hh gradient"), &w_hh, &read(b, &dw)?, |w| {
        loss(&xg, w, &b_hh, &c0)
    })?;
    check_grad(&name("b_hh gradient"), &b_hh, &read(b, &db)?, |bi| {
        loss(&xg, &w_hh, bi, &c0)
    })?;
    if cell == Cell::Lstm {
        check_grad(&name("dc (to c0)"), &c0, &read(b, &dc)?, |c0| {
            loss(&xg, &w_hh, &b_hh, c0)
        })?;
    }
    Ok(())
}

fn rnn_sequence_backward<B: Backend>(b: &B) -> Result<()> {
    recurrent_sequence_backward(b, Cell::Rnn, 0.0)?;
    recurrent_sequence_backward(b, Cell::Rnn, 0.4)
}

fn gru_sequence_backward<B: Backend>(b: &B) -> Result<()> {
    recurrent_sequence_backward(b, Cell::Gru, 0.0)?;
    recurrent_sequence_backward(b, Cell::Gru, 0.4)
}

fn lstm_sequence_backward_with_recurrent_dropout<B: Backend>(b: &B) -> Result<()> {
    recurrent_sequence_backward(b, Cell::Lstm, 0.4)
}

// ---- the Transformer's parts ---------------------------------------------------

/// GELU in the exact form: its backward, in place, reads the input.
fn gelu_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(30);
    let s = [4, 7];
    let x = uniform(&mut rng, 28, -4.0, 4.0);
    let r = uniform(&mut rng, 28, -1.0, 1.0);
    let loss = |x: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&s);
        b.gelu_forward(&b.tensor(&s, x)?, &mut y)?;
        Ok(dot(&read(b, &y)?, &r))
    };
    let mut grad = b.tensor(&s, &r)?;
    b.gelu_backward(&b.tensor(&s, &x)?, &mut grad)?;
    check_grad("gelu_backward", &x, &read(b, &grad)?, loss)
}

/// Layer norm over rows of 5 (offset, unequal spreads): the input's
/// gradient, the weight's, and the bias's (a column sum of dy).
fn layer_norm_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(31);
    let (rows, dim) = (4, 5);
    let s = [rows, dim];
    let x: Vec<f32> = uniform(&mut rng, rows * dim, -1.0, 1.0)
        .iter()
        .enumerate()
        .map(|(i, v)| v * (1.0 + (i / dim) as f32) + (i / dim) as f32 - 1.5)
        .collect();
    let gamma = uniform(&mut rng, dim, 0.5, 1.5);
    let beta = uniform(&mut rng, dim, -0.5, 0.5);
    let r = uniform(&mut rng, rows * dim, -1.0, 1.0);
    let loss = |x: &[f32], gamma: &[f32], beta: &[f32]| -> Result<f64> {
        let (mut y, mut st) = (b.zeros(&s), b.zeros(&[rows, 2]));
        b.layer_norm_forward(
            &b.tensor(&s, x)?,
            &b.tensor(&[dim], gamma)?,
            &b.tensor(&[dim], beta)?,
            &mut y,
            &mut st,
            1e-5,
        )?;
        Ok(dot(&read(b, &y)?, &r))
    };
    let (xt, gt, bt) = (
        b.tensor(&s, &x)?,
        b.tensor(&[dim], &gamma)?,
        b.tensor(&[dim], &beta)?,
    );
    let (mut y, mut st) = (b.zeros(&s), b.zeros(&[rows, 2]));
    b.layer_norm_forward(&xt, &gt, &bt, &mut y, &mut st, 1e-5)?;
    let dy = b.tensor(&s, &r)?;
    let (mut dx, mut dg, mut db) = (b.zeros(&s), b.zeros(&[dim]), b.zeros(&[dim]));
    b.layer_norm_backward_input(&xt, &gt, &st, &dy, &mut dx)?;
    b.layer_norm_backward_weight(&xt, &st, &dy, &mut dg)?;
    b.dense_backward_bias(&dy, &mut db)?;
    check_grad("layer_norm_backward_input", &x, &read(b, &dx)?, |x| {
        loss(x, &gamma, &beta)
    })?;
    check_grad("layer_norm_backward_weight", &gamma, &read(b, &dg)?, |g| {
        loss(&x, g, &beta)
    })?;
    check_grad(
        "layer_norm bias (dense_backward_bias)",
        &beta,
        &read(b, &db)?,
        |bb| loss(&x, &gamma, bb),
    )
}

/// Positions added to 3 rows of 4 steps starting at 0, 2 and 5 of a table
/// of 7: row 2's last steps fall past the table (no gradient there).
fn position_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(32);
    let (rows, steps, dim, context) = (3, 4, 2, 7);
    let starts = b.indices(&[0, 2, 5]);
    let table = uniform(&mut rng, context * dim, -1.0, 1.0);
    let x = b.tensor(
        &[steps * rows, dim],
        &uniform(&mut rng, steps * rows * dim, -1.0, 1.0),
    )?;
    let r = uniform(&mut rng, steps * rows * dim, -1.0, 1.0);
    let loss = |table: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&[steps * rows, dim]);
        b.position_forward(&x, &b.tensor(&[context, dim], table)?, &starts, &mut y)?;
        Ok(dot(&read(b, &y)?, &r))
    };
    let mut dt = b.zeros(&[context, dim]);
    b.position_backward(&b.tensor(&[steps * rows, dim], &r)?, &starts, &mut dt)?;
    check_grad("position_backward", &table, &read(b, &dt)?, loss)
}

/// Causal attention over 2 rows of 4 steps, 2 heads of 3 (the second row
/// starting at position 1, so its last query's position is capped): the
/// scores', query's, key's and value's backward ops together give d loss /
/// d qkv, and the residual's backward passes dy through unchanged.
fn attention_backward<B: Backend>(b: &B) -> Result<()> {
    let mut rng = rng(33);
    let (rows, steps, heads, hd) = (2, 4, 2, 3);
    let dim = heads * hd;
    let starts = b.indices(&[0, 1]);
    let qs = [steps * rows, 3 * dim];
    let ws = [rows, heads, steps, steps];
    let keys = KeyRows::window(rows);
    let qkv = uniform(&mut rng, steps * rows * 3 * dim, -1.5, 1.5);
    let r = uniform(&mut rng, steps * rows * dim, -1.0, 1.0);
    let loss = |qkv: &[f32]| -> Result<f64> {
        let t = b.tensor(&qs, qkv)?;
        let (mut w, mut out) = (b.zeros(&ws), b.zeros(&[steps * rows, dim]));
        b.attention_scores_forward(&t, &t, &starts, &mut w, keys)?;
        b.attention_values_forward(&w, &t, &starts, &mut out, keys)?;
        Ok(dot(&read(b, &out)?, &r))
    };
    let t = b.tensor(&qs, &qkv)?;
    let mut w = b.zeros(&ws);
    b.attention_scores_forward(&t, &t, &starts, &mut w, keys)?;
    let dout = b.tensor(&[steps * rows, dim], &r)?;
    let mut ds = b.zeros(&ws);
    b.attention_backward_scores(&w, &t, &starts, &dout, &mut ds)?;
    let mut dqkv = b.zeros(&qs);
    b.attention_backward_query(&ds, &t, &starts, &mut dqkv)?;
    b.attention_backward_key(&ds, &t, &starts, &mut dqkv)?;
    b.attention_backward_value(&w, &dout, &starts, &mut dqkv)?;
    check_grad("attention backward (d qkv)", &qkv, &read(b, &dqkv)?, loss)?;

    let a = uniform(&mut rng, 12, -1.0, 1.0);
    let r = uniform(&mut rng, 12, -1.0, 1.0);
    let other = b.tensor(&[12], &uniform(&mut rng, 12, -1.0, 1.0))?;
    let loss = |a: &[f32]| -> Result<f64> {
        let mut y = b.zeros(&[12]);
        b.residual_forward(&b.tensor(&[12], a)?, &other, &mut y)?;
        Ok(dot(&read(b, &y)?, &r))
    };
    let mut da = b.zeros(&[12]);
    b.residual_backward(&b.tensor(&[12], &r)?, &mut da)?;
    check_grad("residual_backward", &a, &read(b, &da)?, loss)
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
        conv2d_backward,
        max_pool2d_backward,
        dense_backward,
        dense_relu_fused_backward,
        relu_backward,
        embedding_backward,
        lstm_sequence_backward,
        clip_by_global_norm,
        softmax_xent_backward,
        backward_ops_accumulate,
        conv2d_kernels_and_activations_backward,
        dense_activations_backward,
        sigmoid_tanh_backward,
        avg_pool2d_backward,
        dropout_backward,
        rnn_sequence_backward,
        gru_sequence_backward,
        lstm_sequence_backward_with_recurrent_dropout,
        gelu_backward,
        layer_norm_backward,
        position_backward,
        attention_backward,
    ]
);

// The fast CPU path's kernels are held to the twins by tests/fast_cpu.rs;
// their gradients are checked here too, the same bodies.
backend_tests!(
    fast_cpu,
    neuralpad::FastCpuBackend::default(),
    [
        conv2d_backward,
        dense_backward,
        conv2d_kernels_and_activations_backward,
        dense_activations_backward,
        sigmoid_tanh_backward,
        rnn_sequence_backward,
        gru_sequence_backward,
        lstm_sequence_backward_with_recurrent_dropout,
        attention_backward,
    ]
);

/// The checker itself: a gradient 1% off must fail, the right one pass.
#[test]
#[should_panic(expected = "1 of 2 gradient values off")]
fn check_grad_rejects_a_wrong_gradient() {
    // L = 3 x0 + 5 x1, so dL/dx = [3, 5]; claim [3, 5.05].
    let loss = |x: &[f32]| Ok(3.0 * x[0] as f64 + 5.0 * x[1] as f64);
    check_grad("linear", &[1.0, 2.0], &[3.0, 5.0], loss).unwrap();
    check_grad("linear, off by 1%", &[1.0, 2.0], &[3.0, 5.05], loss).unwrap();
}
