//! A two-block Transformer against PyTorch: the mean cross-entropy of one
//! forward pass, the gradient of every parameter and the next-character
//! probabilities at every position must be what PyTorch's
//! nn.TransformerEncoderLayer computed; and reading the same characters one
//! at a time with the key/value caches (incremental decoding) must give
//! the probabilities of the full-context forward pass. On the CPU twins,
//! the fast CPU path and the GPU kernels.
//!
//! The fixture, tests/fixtures/transformer_twin.safetensors, is written by
//! tests/fixtures/transformer_twin.py (its docstring says how every number
//! was made) from scripts/pytorch_char_transformer.py's module: the weights
//! under their state_dict names, the gradients under "grad/{name}", the
//! input and target ids [steps, batch], the probabilities [steps, batch,
//! vocab] and the mean loss, float32, and in the metadata the network spec
//! and the float64 loss. To regenerate it (needs torch, numpy, safetensors):
//!
//!     python3 tests/fixtures/transformer_twin.py
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use neuralpad::nn::network::{Grads, Mode, Network, Seed, Until};
use neuralpad::nn::plan::Plan;
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::weights::{self, Expected, Loaded, NamedTensor};
use neuralpad::{Backend, CpuBackend, FastCpuBackend, GpuBackend, Result};
use serde_json::Value;

const FIXTURE: &[u8] = include_bytes!("fixtures/transformer_twin.safetensors");

const VOCAB: usize = 7;
const STEPS: usize = 6;
const BATCH: usize = 3;

/// |ours - recorded| / |recorded| of the mean loss: f32 through a few
/// hundred sums against float64.
const LOSS_TOLERANCE: f64 = 1e-5;
/// A gradient or probability passes when |ours - recorded| <= ABS + REL * |recorded|.
const ABS: f64 = 1e-5;
const REL: f64 = 1e-3;

struct Fixture {
    tensors: BTreeMap<String, NamedTensor>,
    metadata: BTreeMap<String, String>,
}

fn spec() -> NetworkSpec {
    let metadata = weights::read_metadata(FIXTURE).expect("the fixture has a header");
    NetworkSpec::from_json(&metadata["network"]).expect("the recorded spec reads")
}

fn params() -> Vec<(String, Vec<usize>)> {
    Plan::new(&spec(), Some(VOCAB))
        .expect("the fixture's network plans")
        .params()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect()
}

impl Fixture {
    fn load() -> Fixture {
        let mut all = Vec::new();
        for (name, shape) in params() {
            all.push((format!("grad/{name}"), shape.clone()));
            all.push((name, shape));
        }
        all.push(("ids".into(), vec![STEPS, BATCH]));
        all.push(("targets".into(), vec![STEPS, BATCH]));
        all.push(("probs".into(), vec![STEPS, BATCH, VOCAB]));
        all.push(("loss".into(), vec![1]));
        let expected: Vec<Expected> = all
            .iter()
            .map(|(name, shape)| Expected { name, shape })
            .collect();
        let Loaded { tensors, metadata } =
            weights::load(FIXTURE, &expected).expect("the fixture holds exactly these tensors");
        Fixture {
            tensors: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
            metadata,
        }
    }

    fn data(&self, name: &str) -> &[f32] {
        &self.tensors[name].data
    }

    fn ids(&self, what: &str) -> Vec<u32> {
        self.data(what).iter().map(|&v| v as u32).collect()
    }

    fn loss(&self) -> f64 {
        let about: Value = serde_json::from_str(&self.metadata["about"]).expect("JSON");
        about["loss"].as_f64().expect("a loss")
    }

    fn weights(&self) -> Vec<NamedTensor> {
        params()
            .into_iter()
            .map(|(name, _)| self.tensors[&name].clone())
            .collect()
    }
}

fn read<B: Backend>(be: &B, t: &B::Tensor) -> Result<Vec<f32>> {
    Ok(pollster::block_on(be.read(&[t]))?.remove(0))
}

/// Every element outside ABS + REL * |recorded|, described.
fn compare(what: &str, ours: &[f32], want: &[f32], problems: &mut Vec<String>) {
    assert_eq!(ours.len(), want.len(), "{what}");
    let mut max = 0.0f64;
    for (i, (&a, &b)) in ours.iter().zip(want).enumerate() {
        let d = (a as f64 - b as f64).abs();
        max = max.max(d);
        if !(d <= ABS + REL * (b as f64).abs()) {
            problems.push(format!("{what} [{i}]: ours {a:.7e}, recorded {b:.7e}"));
            return;
        }
    }
    println!("{what}: max |diff| {max:.1e}");
}

fn check<B: Backend>(be: &B, backend: &str) -> Result<()> {
    let f = Fixture::load();
    let mut net = Network::from_tensors(be, &spec(), Some(VOCAB), &f.weights())?;
    let (ids, targets) = (f.ids("ids"), f.ids("targets"));
    let n = STEPS * BATCH;
    let mut a = net.acts(be, STEPS, BATCH);
    a.set_ids(be, &ids)?;
    net.forward(be, &mut a, Mode::Infer, Until::Loss(&targets))?;
    let loss = read(be, a.loss().expect("a loss pass"))?
        .iter()
        .map(|&v| v as f64)
        .sum::<f64>()
        / n as f64;
    let want = f.loss();
    let rel = (loss - want).abs() / want;
    println!("{backend}: mean loss {loss:.9}, recorded {want:.9} (relative diff {rel:.1e})");
    let mut problems = Vec::new();
    if rel > LOSS_TOLERANCE {
        problems.push(format!("mean loss {loss:.9}, recorded {want:.9}"));
    }
    compare(
        &format!("{backend}: probabilities"),
        &read(be, &a.probs)?,
        f.data("probs"),
        &mut problems,
    );
    for p in net.params_mut() {
        be.fill_zero(&mut p.grad);
    }
    net.backward(
        be,
        &mut a,
        Seed::Loss {
            scale: 1.0 / n as f32,
        },
        Grads::PARAMS,
    )?;
    for p in net.params() {
        compare(
            &format!("{backend}: d loss / d {}", p.name),
            &read(be, &p.grad)?,
            f.data(&format!("grad/{}", p.name)),
            &mut problems,
        );
    }

    // The same characters one position at a time, the caches carrying
    // each row's keys and values: the probabilities of the full pass.
    let mut one = net.acts(be, 1, BATCH);
    for t in 0..STEPS {
        one.set_ids(be, &ids[t * BATCH..(t + 1) * BATCH])?;
        net.forward(be, &mut one, Mode::Infer, Until::Probs)?;
        compare(
            &format!("{backend}: incremental decoding, position {t}"),
            &read(be, &one.probs)?,
            &f.data("probs")[t * BATCH * VOCAB..(t + 1) * BATCH * VOCAB],
            &mut problems,
        );
    }
    assert!(
        problems.is_empty(),
        "{backend}: {} disagreement(s) with PyTorch:\n{}",
        problems.len(),
        problems.join("\n")
    );
    Ok(())
}

#[test]
fn the_fixture_names_its_parameters_as_pytorch_does() {
    let names: Vec<String> = params().into_iter().map(|p| p.0).collect();
    assert_eq!(names[0], "embed.weight");
    assert_eq!(names[1], "pos.weight");
    assert_eq!(names[2], "layers.0.self_attn.in_proj_weight");
    assert_eq!(names[13], "layers.0.norm2.bias");
    assert_eq!(names[14], "layers.1.self_attn.in_proj_weight");
    assert_eq!(
        &names[26..],
        ["norm.weight", "norm.bias", "head.weight", "head.bias"]
    );
    assert_eq!(Fixture::load().metadata["format"], "pt");
}

#[test]
fn on_the_cpu_twins() -> Result<()> {
    check(&CpuBackend, "cpu")
}

#[test]
fn on_the_fast_cpu_path() -> Result<()> {
    check(&FastCpuBackend::default(), "fast-cpu")
}

/// No adapter is a failure, never a skip (on a machine without a GPU wgpu
/// finds Mesa's lavapipe).
#[test]
fn on_the_gpu() -> Result<()> {
    let gpu = match pollster::block_on(GpuBackend::new()) {
        Ok(g) => g,
        Err(e) => {
            panic!("the GPU test needs a Vulkan adapter (apt-get install mesa-vulkan-drivers): {e}")
        }
    };
    eprintln!("adapter: {}", gpu.name());
    check(&gpu, "gpu")
}
