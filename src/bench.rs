//! `neuralpad bench kernels`: every kernel at the two networks' real shapes,
//! batch 1 and 32, timed on a backend. GPU work is recorded `reps` times and
//! then read back once (a 4-byte probe), so the time per op includes its
//! share of one submission, as in a real training step.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{Act, Backend, Mask, SeqStep};
use crate::error::Result;
use crate::nn::spec::NetworkSpec;
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
            tm(&mut || be.conv2d_forward(&x, &w, &b, &mut y, Act::Relu))?,
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
            tm(&mut || be.max_pool2d_forward(&x, &mut y, &mut arg, 2))?,
        );
        add(
            "max_pool2d_backward",
            layer,
            (n * c * p * p) as f64,
            tm(&mut || be.max_pool2d_backward(&dy, &arg, &mut dx, 2))?,
        );
        // The avg-pool-cnn preset's: four adds per window, four stores back.
        add(
            "avg_pool2d_forward",
            layer,
            (4 * n * c * p * p) as f64,
            tm(&mut || be.avg_pool2d_forward(&x, &mut y, 2))?,
        );
        add(
            "avg_pool2d_backward",
            layer,
            (4 * n * c * p * p) as f64,
            tm(&mut || be.avg_pool2d_backward(&dy, &mut dx, 2))?,
        );
    }
    // Dense layers of both networks, including the LSTM's input projection.
    for (layer, i, o) in [
        ("fc1", 1600, 64),
        ("fc2", 64, 10),
        ("lstm W_ih", 64, 512),
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
            tm(&mut || be.dense_forward(&x, &w, &b, &mut y, Act::Linear))?,
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
        for (act, forward, backward) in [
            (Act::Sigmoid, "sigmoid_forward", "sigmoid_backward"),
            (Act::Tanh, "tanh_forward", "tanh_backward"),
        ] {
            add(
                forward,
                "fc1-sized x64",
                len as f64,
                tm(&mut || be.activation_forward(act, &x, &mut y))?,
            );
            add(
                backward,
                "fc1-sized x64",
                len as f64,
                tm(&mut || be.activation_backward(act, &y, &mut grad))?,
            );
        }
        // seed-lstm's recurrent dropout: one mask per sequence of 64 steps.
        let mask = Mask {
            seed: 1,
            step: 1,
            rate: 0.2,
        };
        add(
            "dropout_forward",
            "fc1-sized x64",
            len as f64,
            tm(&mut || be.dropout_forward(&x, &mut y, mask, len / 64))?,
        );
        add(
            "dropout_backward",
            "fc1-sized x64",
            len as f64,
            tm(&mut || be.dropout_backward(&x, &mut grad, mask, len / 64))?,
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
        // One timestep in the middle of a 2-step sequence of the text model.
        let (hd, at) = (128, SeqStep { t: 1, batch: n });
        let (xg, w_hh, b_hh, mut dc) = (
            t(&[2 * n, 4 * hd])?,
            t(&[4 * hd, hd])?,
            t(&[4 * hd])?,
            t(&[n, hd])?,
        );
        let (mut h_in, mut h_out, mut c, mut gates) = (
            t(&[2 * n, hd])?,
            t(&[2 * n, hd])?,
            t(&[3 * n, hd])?,
            t(&[2 * n, 4 * hd])?,
        );
        let (mut dh, mut dg) = (t(&[2 * n, hd])?, t(&[2 * n, 4 * hd])?);
        let product = 2.0 * (n * 4 * hd * hd) as f64;
        // The product plus about 20 flops per unit for the gates, 25 backward.
        add(
            "lstm_step_forward",
            "lstm",
            product + (20 * n * hd) as f64,
            tm(&mut || {
                be.lstm_step_forward(
                    at,
                    &xg,
                    &w_hh,
                    &b_hh,
                    &mut h_in,
                    &mut h_out,
                    &mut c,
                    &mut gates,
                    Mask::NONE,
                )
            })?,
        );
        add(
            "lstm_step_backward",
            "lstm",
            (25 * n * hd) as f64,
            tm(&mut || be.lstm_step_backward(at, &gates, &c, &dh, &mut dc, &mut dg))?,
        );
        add(
            "lstm_step_backward_hidden",
            "lstm",
            product,
            tm(&mut || be.lstm_step_backward_hidden(at, &dg, &w_hh, &mut dh, Mask::NONE))?,
        );
        // gru-128 and rnn-128 at the same sizes.
        let (gx, gw, gb) = (t(&[2 * n, 3 * hd])?, t(&[3 * hd, hd])?, t(&[3 * hd])?);
        let (h0, mut dgh) = (t(&[n, hd])?, t(&[2 * n, 3 * hd])?);
        let mut dgi = t(&[2 * n, 3 * hd])?;
        let gru_product = 2.0 * (n * 3 * hd * hd) as f64;
        add(
            "gru_step_forward",
            "gru",
            gru_product + (20 * n * hd) as f64,
            tm(&mut || {
                be.gru_step_forward(
                    at,
                    &gx,
                    &gw,
                    &gb,
                    &h0,
                    &mut h_in,
                    &mut h_out,
                    &mut gates,
                    Mask::NONE,
                )
            })?,
        );
        add(
            "gru_step_backward",
            "gru",
            (25 * n * hd) as f64,
            tm(&mut || be.gru_step_backward(at, &gates, &h0, &h_out, &mut dh, &mut dgi, &mut dgh))?,
        );
        add(
            "gru_step_backward_hidden",
            "gru",
            gru_product,
            tm(&mut || be.gru_step_backward_hidden(at, &dgh, &gw, &mut dh, Mask::NONE))?,
        );
        let (rx, rw, rb) = (t(&[2 * n, hd])?, t(&[hd, hd])?, t(&[hd])?);
        let mut rg = t(&[2 * n, hd])?;
        let rnn_product = 2.0 * (n * hd * hd) as f64;
        add(
            "rnn_step_forward",
            "rnn",
            rnn_product + (5 * n * hd) as f64,
            tm(&mut || be.rnn_step_forward(at, &rx, &rw, &rb, &mut h_in, &mut h_out, Mask::NONE))?,
        );
        add(
            "rnn_step_backward",
            "rnn",
            (3 * n * hd) as f64,
            tm(&mut || be.rnn_step_backward(at, &h_out, &dh, &mut rg))?,
        );
        add(
            "rnn_step_backward_hidden",
            "rnn",
            rnn_product,
            tm(&mut || be.rnn_step_backward_hidden(at, &rg, &rw, &mut dh, Mask::NONE))?,
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
        // Clipping's two passes over the same parameter's gradient.
        let (mut sums, mut gc) = (be.zeros(&[1]), t(&[len])?);
        add(
            "sum_squares",
            "fc1.weight",
            (2 * len) as f64,
            tm(&mut || be.sum_squares(&g, &mut sums, 0))?,
        );
        add(
            "clip_by_norm",
            "fc1.weight",
            len as f64,
            tm(&mut || be.clip_by_norm(&sums, 1.0, &mut gc))?,
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

/// Median over `samples` of each measurement of the digit network `spec`,
/// on random images (speed does not depend on the pixels).
pub fn mnist<B: Backend>(
    be: &B,
    spec: &NetworkSpec,
    steps: usize,
    samples: usize,
) -> Result<MnistSpeed> {
    use crate::nn::classifier::{Classifier, PIXELS, digit_classes};
    use crate::nn::network::Mode;
    use crate::train::adam::Adam;

    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut model = Classifier::init(be, spec, digit_classes(), &mut rng)?;
    let mut opt = Adam::new(AdamConfig::default());
    let batch = 32;
    let images: Vec<f32> = (0..256 * PIXELS).map(|_| rng.random::<f32>()).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let x32 = &images[..batch * PIXELS];
    let mut train = |n: usize| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let mode = Mode::Train {
                seed: 1,
                step: opt.step + 1,
            };
            pollster::block_on(
                model.train_step(be, x32, &labels, mode, |be, p| opt.update(be, p)),
            )?;
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Speed of the text model on one backend.
#[derive(Clone, Debug)]
pub struct TextSpeed {
    /// Training input characters per second at batch 32, window 64 (forward,
    /// BPTT, clipping, Adam, the per-step read-back of the loss).
    pub train_chars_per_s: f64,
    /// Milliseconds per generated character: one step with the state carried,
    /// the read-back of the probabilities, and sampling.
    pub generate_ms_per_char: f64,
}

/// Median over `samples` of each measurement of the text network `spec`,
/// on random characters from a vocabulary of [`VOCAB`] ids (speed does not
/// depend on the text).
pub fn text<B: Backend>(
    be: &B,
    spec: &NetworkSpec,
    steps: usize,
    samples: usize,
) -> Result<TextSpeed> {
    use crate::data::corpus::Vocab;
    use crate::nn::char_model::{CharModel, Sampling, sample};
    use crate::nn::network::Mode;
    use crate::train::adam::Adam;

    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let chars: String = (0..VOCAB as u32 - 1)
        .map(|i| char::from_u32(32 + i).expect("printable ASCII and Latin-1"))
        .collect();
    let vocab = Vocab::from_text(&chars);
    let mut model = CharModel::init(be, spec, vocab, &mut rng)?;
    // A Transformer trains on windows of its context, as `train text` does.
    let (window, batch) = (model.context().unwrap_or(64), 32);
    let mut opt = Adam::new(AdamConfig::default());
    let ids: Vec<u32> = (0..window * batch + 1)
        .map(|_| rng.random_range(0..VOCAB as u32 - 1))
        .collect();
    let (x, y) = (&ids[..window * batch], &ids[1..]);
    let mut train = |n: usize| -> Result<f64> {
        let t = Instant::now();
        for _ in 0..n {
            let mode = Mode::Train {
                seed: 1,
                step: opt.step + 1,
            };
            pollster::block_on(model.train_step(
                be,
                x,
                y,
                (window, batch),
                Some(5.0),
                mode,
                |be, p| opt.update(be, p),
            ))?;
        }
        Ok(t.elapsed().as_secs_f64())
    };
    train(2)?;
    let mut rates = Vec::new();
    for _ in 0..samples {
        rates.push((steps * window * batch) as f64 / train(steps)?);
    }

    let sampling = Sampling {
        temperature: 1.0,
        top_k: 0,
        line_chars: None,
    };
    let unknown = model.vocab().unknown_id();
    let mut c = 'a';
    let mut per_char = Vec::new();
    for _ in 0..samples.max(5) {
        let n = 100;
        let t = Instant::now();
        for _ in 0..n {
            let probs = pollster::block_on(model.next_probs(be, c))?;
            let id = sample(&probs, |id| id != unknown, sampling, &mut rng);
            c = model.vocab().char_of(id).unwrap_or('a');
        }
        per_char.push(t.elapsed().as_secs_f64() * 1e3 / n as f64);
    }
    Ok(TextSpeed {
        train_chars_per_s: median(rates),
        generate_ms_per_char: median(per_char),
    })
}
