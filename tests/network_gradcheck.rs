//! Whole networks built from specs checked against central finite
//! differences: every parameter's gradient, and the gradient with respect
//! to the input images (saliency), from `Network::backward` after a
//! training-mode forward pass, against the mean cross-entropy of the same
//! pass (same dropout masks: they are keyed by the mode's seed and step).
//! This checks how the network wires its layers together (sources past a
//! flatten, a dropout layer, an activation layer, stacked recurrent
//! sub-layers with input and recurrent dropout), which the kernel checks in
//! tests/gradcheck.rs cannot see.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::gradcheck::{check_grad, read, rng, uniform};
use neuralpad::nn::network::{Acts, Grads, Mode, Network, Seed, Until};
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::{Backend, CpuBackend, FastCpuBackend, Result};
use rand::Rng;

const MODE: Mode = Mode::Train { seed: 99, step: 4 };

/// Mean cross-entropy of one training-mode pass over fresh buffers.
fn mean_loss<B: Backend>(
    be: &B,
    net: &Network<B>,
    fill: &dyn Fn(&B, &mut Acts<B>) -> Result<()>,
    labels: &[u32],
    (steps, rows): (usize, usize),
) -> Result<f64> {
    let mut a = net.acts(be, steps, rows);
    fill(be, &mut a)?;
    net.forward(be, &mut a, MODE, Until::Loss(labels))?;
    let loss = read(be, a.loss().expect("a loss pass"))?;
    Ok(loss.iter().map(|&v| v as f64).sum::<f64>() / labels.len() as f64)
}

/// Checks every parameter of `net` (and the images, when `images` holds
/// them) against finite differences of the mean loss.
fn check_network<B: Backend>(
    be: &B,
    name: &str,
    mut net: Network<B>,
    images: Option<Vec<f32>>,
    ids: Option<Vec<u32>>,
    labels: &[u32],
    shape: (usize, usize),
) -> Result<()> {
    let fill_with = |x: Option<&[f32]>| {
        let (x, ids) = (x.map(<[f32]>::to_vec), ids.clone());
        move |be: &B, a: &mut Acts<B>| -> Result<()> {
            if let (Some(t), Some(x)) = (a.images.as_mut(), &x) {
                be.write(t, x)?;
            }
            if let Some(ids) = &ids {
                a.set_ids(be, ids)?;
            }
            Ok(())
        }
    };
    // The analytic gradients, from the second of two passes over the same
    // buffers: nothing of the first may leak into the second (a gradient
    // buffer left unzeroed would).
    let mut a = net.acts(be, shape.0, shape.1);
    for _ in 0..2 {
        fill_with(images.as_deref())(be, &mut a)?;
        a.seqs_mut().for_each(|s| s.reset());
        net.forward(be, &mut a, MODE, Until::Loss(labels))?;
        for p in net.params_mut() {
            be.fill_zero(&mut p.grad);
        }
        let grads = Grads {
            params: true,
            images: images.is_some(),
        };
        let scale = 1.0 / labels.len() as f32;
        net.backward(be, &mut a, Seed::Loss { scale }, grads)?;
    }
    let grads: Vec<(String, Vec<f32>, Vec<f32>)> = net
        .params()
        .iter()
        .map(|p| Ok((p.name.clone(), read(be, &p.value)?, read(be, &p.grad)?)))
        .collect::<Result<_>>()?;
    if let (Some(x), Some(d)) = (&images, &a.d_images) {
        let d = read(be, d)?;
        check_grad(&format!("{name}: d loss / d images"), x, &d, |x| {
            mean_loss(be, &net, &fill_with(Some(x)), labels, shape)
        })?;
    }
    let fill = fill_with(images.as_deref());
    for (k, (pname, value, grad)) in grads.iter().enumerate() {
        assert!(
            grad.iter().any(|&g| g != 0.0),
            "{name}: {pname} got no gradient"
        );
        check_grad(&format!("{name}: {pname}"), value, grad, |v| {
            be.write(&mut net.params_mut()[k].value, v)?;
            let l = mean_loss(be, &net, &fill, labels, shape);
            be.write(&mut net.params_mut()[k].value, value)?;
            l
        })?;
    }
    Ok(())
}

/// Every image layer kind in one small network: a 3x3 and a 2x2
/// convolution with tanh and sigmoid, average pooling (max pooling's kinks
/// are checked per kernel), a flatten, dropout, a tanh activation layer
/// and a softmax head.
fn image_network<B: Backend>(be: &B) -> Result<()> {
    let spec = NetworkSpec::from_json(
        r#"{"input": [7, 7, 2], "layers": [
            {"type": "conv2d", "filters": 3, "kernel": 3, "activation": "tanh"},
            {"type": "avg_pool2d", "size": 2},
            {"type": "conv2d", "filters": 2, "kernel": 2, "activation": "sigmoid"},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.3},
            {"type": "dense", "units": 5},
            {"type": "activation", "activation": "tanh"},
            {"type": "dense", "units": 3, "activation": "softmax"}]}"#,
    )?;
    let mut r = rng(40);
    let net = Network::init(be, &spec, None, &mut r)?;
    let n = 3;
    let images = uniform(&mut r, n * 2 * 7 * 7, 0.0, 1.0);
    let labels: Vec<u32> = (0..n).map(|_| r.random_range(0..3)).collect();
    check_network(
        be,
        "image network",
        net,
        Some(images),
        None,
        &labels,
        (1, n),
    )
}

/// A text network with stacked LSTM sub-layers (input and recurrent
/// dropout), a dropout layer, a GRU and an RNN on top: the gradient must
/// pass back through time and down through every layer into the embedding.
fn text_network<B: Backend>(be: &B) -> Result<()> {
    let spec = NetworkSpec::from_json(
        r#"{"input": "chars", "layers": [
            {"type": "embedding", "dim": 4},
            {"type": "lstm", "units": 3, "layers": 2, "dropout": 0.2, "recurrent_dropout": 0.3},
            {"type": "dropout", "rate": 0.2},
            {"type": "gru", "units": 3, "recurrent_dropout": 0.25},
            {"type": "rnn", "units": 3, "dropout": 0.1},
            {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
    )?;
    let vocab = 5;
    let mut r = rng(41);
    let net = Network::init(be, &spec, Some(vocab), &mut r)?;
    let (steps, rows) = (4, 2);
    let ids: Vec<u32> = (0..steps * rows)
        .map(|_| r.random_range(0..vocab as u32))
        .collect();
    let labels: Vec<u32> = (0..steps * rows)
        .map(|_| r.random_range(0..vocab as u32))
        .collect();
    check_network(
        be,
        "text network",
        net,
        None,
        Some(ids),
        &labels,
        (steps, rows),
    )
}

/// A two-block Transformer (positions, pre-norm attention with two heads
/// under the causal mask, a GELU feed-forward, a final norm) between an
/// embedding and the head: every parameter's gradient, through both
/// residual paths of each block, back into the positions and the embedding;
/// without dropout and with it on both residual branches and the
/// feed-forward.
fn transformer_network<B: Backend>(be: &B) -> Result<()> {
    for dropout in [0.0, 0.3] {
        transformer_network_with(be, dropout)?;
    }
    Ok(())
}

fn transformer_network_with<B: Backend>(be: &B, dropout: f32) -> Result<()> {
    let spec = NetworkSpec::from_json(&format!(
        r#"{{"input": "chars", "layers": [
            {{"type": "embedding", "dim": 6}},
            {{"type": "transformer", "blocks": 2, "heads": 2, "dim_feedforward": 10, "context": 5,
              "dropout": {dropout}}},
            {{"type": "dense", "units": "vocab", "activation": "softmax"}}]}}"#
    ))?;
    let vocab = 5;
    let mut r = rng(42);
    let net = Network::init(be, &spec, Some(vocab), &mut r)?;
    let (steps, rows) = (5, 2);
    let ids: Vec<u32> = (0..steps * rows)
        .map(|_| r.random_range(0..vocab as u32))
        .collect();
    let labels: Vec<u32> = (0..steps * rows)
        .map(|_| r.random_range(0..vocab as u32))
        .collect();
    // Dropout acts in training and only there: the training pass's loss
    // differs from the reading pass's exactly when the rate is not 0.
    let loss_in = |mode: Mode| -> Result<Vec<f32>> {
        let mut a = net.acts(be, steps, rows);
        a.set_ids(be, &ids)?;
        net.forward(be, &mut a, mode, Until::Loss(&labels))?;
        read(be, a.loss().expect("a loss pass"))
    };
    let (train, infer) = (loss_in(MODE)?, loss_in(Mode::Infer)?);
    assert_eq!(train != infer, dropout > 0.0, "dropout {dropout}");
    check_network(
        be,
        &format!("transformer network, dropout {dropout}"),
        net,
        None,
        Some(ids),
        &labels,
        (steps, rows),
    )
}

#[test]
fn a_transformer_network_on_the_cpu_twins() -> Result<()> {
    transformer_network(&CpuBackend)
}

#[test]
fn a_transformer_network_on_the_fast_cpu_path() -> Result<()> {
    transformer_network(&FastCpuBackend::default())
}

#[test]
fn an_image_network_on_the_cpu_twins() -> Result<()> {
    image_network(&CpuBackend)
}

#[test]
fn an_image_network_on_the_fast_cpu_path() -> Result<()> {
    image_network(&FastCpuBackend::default())
}

#[test]
fn a_text_network_on_the_cpu_twins() -> Result<()> {
    text_network(&CpuBackend)
}

#[test]
fn a_text_network_on_the_fast_cpu_path() -> Result<()> {
    text_network(&FastCpuBackend::default())
}
