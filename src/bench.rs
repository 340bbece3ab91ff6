//! `neuralpad bench kernels`: every kernel at the two networks' real shapes,
//! batch 1 and 32, timed on a backend. GPU work is recorded `reps` times and
//! then read back once (a 4-byte probe), so the time per op includes its
//! share of one submission, as in a real training step.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{Backend, LstmCellGrads};
use crate::error::Result;
use crate::shapes::AdamConfig;

/// Vocabulary size assumed for the text model's shapes (about 100 distinct
/// characters in the corpus, plus the unknown symbol).
pub const VOCAB: usize = 100;

/// One timed kernel at one shape.
#[derive(Clone, Debug)]
pub struct Timing {
    pub kernel: &'static str,
    pub layer: &'static str,
    pub batch: usize,
    /// Floating-point operations of one call (a multiply-add counts 2).
    pub flops: f64,
    /// Median seconds per call.
    pub seconds: f64,
}

impl Timing {
    pub fn gflops(&self) -> f64 {
        self.flops / self.seconds / 1e9
    }
}

/// Median of `samples` timings of `reps` calls each, in seconds per call.
/// `reps` grows until one sample takes at least `min_sample` seconds.
fn time<B: Backend>(
    be: &B,
    probe: &B::Tensor,
    samples: usize,
    min_sample: f64,
    mut op: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let sync = |be: &B| pollster::block_on(be.read(&[probe])).map(drop);
    op()?;
    sync(be)?;
    let mut reps = 1usize;
    loop {
        let t = Instant::now();
        for _ in 0..reps {
            op()?;
        }
        sync(be)?;
        let dt = t.elapsed().as_secs_f64();
        if dt >= min_sample || reps >= 1 << 14 {
            break;
        }
        reps = (reps * 2)
            .max((reps as f64 * min_sample / dt.max(1e-9)) as usize)
            .min(1 << 14);
    }
    let mut times = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..reps {
            op()?;
        }
        sync(be)?;
        times.push(t.elapsed().as_secs_f64() / reps as f64);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Time every kernel on `be` at batch `n`.
pub fn kernels<B: Backend>(
    be: &B,
    n: usize,
    samples: usize,
    min_sample: f64,
) -> Result<Vec<Timing>> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut t = |shape: &[usize]| -> Result<B::Tensor> {
        let v: Vec<f32> = (0..shape.iter().product())
            .map(|_| rng.random::<f32>() - 0.5)
            .collect();
        be.tensor(shape, &v)
    };
    let probe = be.zeros(&[1]);
    let mut out = Vec::new();
    let mut add = |kernel, layer, flops: f64, seconds| {
        out.push(Timing {
            kernel,
            layer,
            batch: n,
            flops,
            seconds,
        })
    };
    let tm = |op: &mut dyn FnMut() -> Result<()>| time(be, &probe, samples, min_sample, op);

    // Digit classifier: conv1 1->32 on 28x28, conv2 32->64 on 13x13.
    for (layer, c, hw, o) in [("conv1", 1, 28, 32), ("conv2", 32, 13, 64)] {
        let oh = hw - 2;
        let (x, w, b, dy) = (
            t(&[n, c, hw, hw])?,
            t(&[o, c, 3, 3])?,
            t(&[o])?,
            t(&[n, o, oh, oh])?,
        );
        let (mut y, mut dx, mut dw, mut db) = (
            be.zeros(&[n, o, oh, oh]),
            be.zeros(&[n, c, hw, hw]),
            be.zeros(&[o, c, 3, 3]),
            be.zeros(&[o]),
        );
        let macs = (n * o * oh * oh * c * 9) as f64;
        add(
            "conv2d_forward",
            layer,
            2.0 * macs,
            tm(&mut || be.conv2d_forward(&x, &w, &b, &mut y, true))?,
        );
        add(
            "conv2d_backward_input",
            layer,
            2.0 * macs,
            tm(&mut || be.conv2d_backward_input(&dy, &w, &mut dx))?,
        );
        add(
            "conv2d_backward_weight",
            layer,
            2.0 * macs,
            tm(&mut || be.conv2d_backward_weight(&x, &dy, &mut dw))?,
        );
        add(
            "conv2d_backward_bias",
            layer,
            (n * o * oh * oh) as f64,
            tm(&mut || be.conv2d_backward_bias(&dy, &mut db))?,
        );
    }
    for (layer, c, hw) in [("pool1", 32, 26), ("pool2", 64, 11)] {
        let p = hw / 2;
        let (x, dy) = (t(&[n, c, hw, hw])?, t(&[n, c, p, p])?);
        let (mut y, mut dx) = (be.zeros(&[n, c, p, p]), be.zeros(&[n, c, hw, hw]));
        let mut arg = be.indices(&vec![0; n * c * p * p]);
        // Three comparisons per window; the backward moves one value.
        add(
            "max_pool2d_forward",
            layer,
            (3 * n * c * p * p) as f64,
            tm(&mut || be.max_pool2d_forward(&x, &mut y, &mut arg))?,
        );
        add(
            "max_pool2d_backward",
            layer,
            (n * c * p * p) as f64,
            tm(&mut || be.max_pool2d_backward(&dy, &arg, &mut dx))?,
        );
    }
    // Dense layers of both networks, including the LSTM's two input matmuls.
    for (layer, i, o) in [
        ("fc1", 1600, 64),
        ("fc2", 64, 10),
        ("lstm W_ih", 64, 512),
        ("lstm W_hh", 128, 512),
        ("head", 128, VOCAB),
    ] {
        let (x, w, b, dy) = (t(&[n, i])?, t(&[o, i])?, t(&[o])?, t(&[n, o])?);
        let (mut y, mut dx, mut dw, mut db) = (
            be.zeros(&[n, o]),
            be.zeros(&[n, i]),
            be.zeros(&[o, i]),
            be.zeros(&[o]),
        );
        let f = 2.0 * (n * i * o) as f64;
        add(
            "dense_forward",
            layer,
            f,
            tm(&mut || be.dense_forward(&x, &w, &b, &mut y, false))?,
        );
        add(
            "dense_backward_input",
            layer,
            f,
            tm(&mut || be.dense_backward_input(&dy, &w, &mut dx))?,
        );
        add(
            "dense_backward_weight",
            layer,
            f,
            tm(&mut || be.dense_backward_weight(&x, &dy, &mut dw))?,
        );
        add(
            "dense_backward_bias",
            layer,
            (n * o) as f64,
            tm(&mut || be.dense_backward_bias(&dy, &mut db))?,
        );
    }
    {
        let len = n * 64 * 64;
        let x = t(&[len])?;
        let mut y = be.zeros(&[len]);
        let mut grad = t(&[len])?;
        add(
            "relu_forward",
            "fc1-sized x64",
            len as f64,
            tm(&mut || be.relu_forward(&x, &mut y))?,
        );
        add(
            "relu_backward",
            "fc1-sized x64",
            len as f64,
            tm(&mut || be.relu_backward(&y, &mut grad))?,
        );
    }
    {
        let ids = be.indices(&(0..n as u32).map(|i| i % VOCAB as u32).collect::<Vec<_>>());
        let (table, dy) = (t(&[VOCAB, 64])?, t(&[n, 64])?);
        let (mut y, mut dt) = (be.zeros(&[n, 64]), be.zeros(&[VOCAB, 64]));
        add(
            "embedding_forward",
            "embed",
            (n * 64) as f64,
            tm(&mut || be.embedding_forward(&ids, &table, &mut y))?,
        );
        add(
            "embedding_backward",
            "embed",
            (n * 64) as f64,
            tm(&mut || be.embedding_backward(&ids, &dy, &mut dt))?,
        );
    }
    {
        let hd = 128;
        let (xg, hg, c_prev, dh, dc) = (
            t(&[n, 4 * hd])?,
            t(&[n, 4 * hd])?,
            t(&[n, hd])?,
            t(&[n, hd])?,
            t(&[n, hd])?,
        );
        let (mut h, mut c, mut gates) = (
            be.zeros(&[n, hd]),
            be.zeros(&[n, hd]),
            be.zeros(&[n, 4 * hd]),
        );
        let (mut dg, mut dcp) = (be.zeros(&[n, 4 * hd]), be.zeros(&[n, hd]));
        // About 20 flops per unit forward (4 activations, 2 tanh), 25 backward.
        add(
            "lstm_cell_forward",
            "lstm",
            (20 * n * hd) as f64,
            tm(&mut || be.lstm_cell_forward(&xg, &hg, &c_prev, &mut h, &mut c, &mut gates))?,
        );
        add(
            "lstm_cell_backward",
            "lstm",
            (25 * n * hd) as f64,
            tm(&mut || {
                be.lstm_cell_backward(
                    &gates,
                    &c_prev,
                    &c,
                    &dh,
                    &dc,
                    LstmCellGrads {
                        dgates: &mut dg,
                        dc_prev: &mut dcp,
                    },
                )
            })?,
        );
    }
    for (layer, classes) in [("digits", 10), ("chars", VOCAB)] {
        let logits = t(&[n, classes])?;
        let labels = be.indices(&vec![1; n]);
        let (mut probs, mut loss, mut dl) = (
            be.zeros(&[n, classes]),
            be.zeros(&[n]),
            be.zeros(&[n, classes]),
        );
        let f = (4 * n * classes) as f64;
        add(
            "softmax_forward",
            layer,
            f,
            tm(&mut || be.softmax_forward(&logits, &mut probs))?,
        );
        add(
            "softmax_xent_forward",
            layer,
            f,
            tm(&mut || be.softmax_xent_forward(&logits, &labels, &mut probs, &mut loss))?,
        );
        add(
            "softmax_xent_backward",
            layer,
            (2 * n * classes) as f64,
            tm(&mut || be.softmax_xent_backward(&probs, &labels, &mut dl, 1.0 / n as f32))?,
        );
    }
    {
        // fc1's weight, the largest parameter of either network.
        let len = 1600 * 64;
        let (mut p, g, mut m, mut v) = (t(&[len])?, t(&[len])?, be.zeros(&[len]), be.zeros(&[len]));
        let mut step = 0;
        add(
            "adam_step",
            "fc1.weight",
            (12 * len) as f64,
            tm(&mut || {
                step += 1;
                be.adam_step(&mut p, &g, &mut m, &mut v, AdamConfig::default(), step)
            })?,
        );
    }
    Ok(out)
}

/// Speed of the digit classifier on one backend.
#[derive(Clone, Debug)]
pub struct MnistSpeed {
    /// Training images per second at batch 32 (forward, backward, Adam and
    /// the per-step read-back of loss and probabilities).
    pub train_images_per_s: f64,
    /// Milliseconds to classify one image (write, forward, read-back).
    pub latency_ms: f64,
    /// Images per second classified in batches of 256.
    pub infer_images_per_s: f64,
}

/// Median over `samples` of each measurement, on random images (speed does
/// not depend on the pixels).
pub fn mnist<B: Backend>(be: &B, steps: usize, samples: usize) -> Result<MnistSpeed> {
    use crate::nn::mnist_cnn::{MnistCnn, PIXELS};
    use crate::train::adam::Adam;

    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut model = MnistCnn::init(be, &mut rng)?;
    let mut opt = Adam::new(AdamConfig::default());
    let batch = 32;
    let images: Vec<f32> = (0..256 * PIXELS).map(|_| rng.random::<f32>()).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let x32 = &images[..batch * PIXELS];
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut train = |n: usize| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            pollster::block_on(model.train_step(be, x32, &labels, |be, p| opt.update(be, p)))?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    train(3)?;
    let mut rates = Vec::new();
    for _ in 0..samples {
        rates.push((steps * batch) as f64 / train(steps)?);
    }
    let train_images_per_s = median(rates);

    let mut latencies = Vec::new();
    let one = &images[..PIXELS];
    pollster::block_on(model.predict(be, one))?;
    for _ in 0..samples.max(20) {
        let t = Instant::now();
        pollster::block_on(model.predict(be, one))?;
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let mut rates = Vec::new();
    pollster::block_on(model.predict(be, &images))?;
    for _ in 0..samples {
        let t = Instant::now();
        pollster::block_on(model.predict(be, &images))?;
        rates.push(256.0 / t.elapsed().as_secs_f64());
    }
    Ok(MnistSpeed {
        train_images_per_s,
        latency_ms: median(latencies),
        infer_images_per_s: median(rates),
    })
}
