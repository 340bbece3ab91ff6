//! Recurrent text networks against PyTorch: for an RNN, a two-layer GRU and
//! an LSTM with Keras's dropout and recurrent dropout (in training mode, so
//! with its masks), the mean cross-entropy of one forward pass and the
//! gradient of every parameter must be what PyTorch's autograd computed, on
//! the CPU twins, the fast CPU path and the GPU kernels.
//!
//! The fixture, tests/fixtures/recurrent_twins.safetensors, is written by
//! tests/fixtures/recurrent_twins.py (its docstring says how every number was
//! made): per case, the weights under "{case}/{parameter}", the gradients
//! under "{case}/grad/{parameter}", the input and target ids [steps, batch]
//! and the mean loss, all float32, and in the metadata the case's network
//! spec, mode and float64 loss. The LSTM case's masks are reproduced in
//! Python from the dropout hash and recorded beside them
//! ("lstm_dropout/mask_input", "lstm_dropout/mask_recurrent"). To
//! regenerate it (needs torch and numpy, and safetensors):
//!
//!     python3 tests/fixtures/recurrent_twins.py
//!
//! Sequences are time-major: position t of row r is element t * batch + r.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use neuralpad::cpu::dropout::{mask_key, mask_value, mix};
use neuralpad::nn::network::{Grads, Mode, Network, Seed, Until};
use neuralpad::nn::plan::Plan;
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::weights::{self, Expected, Loaded, NamedTensor};
use neuralpad::{Backend, CpuBackend, FastCpuBackend, GpuBackend, Result};
use serde_json::Value;

const FIXTURE: &[u8] = include_bytes!("fixtures/recurrent_twins.safetensors");

const VOCAB: usize = 7;
const STEPS: usize = 6;
const BATCH: usize = 3;
const TRAIN: Mode = Mode::Train { seed: 99, step: 6 };

/// Largest |ours - recorded| / |recorded| of the mean loss: ours is f32
/// through a few dozen sums, recorded float64.
const LOSS_TOLERANCE: f64 = 1e-5;
/// A gradient element passes when |ours - recorded| <= ABS + REL * |recorded|.
const GRAD_ABS: f64 = 1e-5;
const GRAD_REL: f64 = 1e-3;

struct Case {
    name: &'static str,
    spec: &'static str,
    mode: Mode,
}

static CASES: [Case; 3] = [
    Case {
        name: "rnn",
        spec: r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 5},
            {"type": "rnn", "units": 4},
            {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
        mode: Mode::Infer,
    },
    Case {
        name: "gru",
        spec: r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 5},
            {"type": "gru", "units": 4, "layers": 2},
            {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
        mode: Mode::Infer,
    },
    Case {
        name: "lstm_dropout",
        spec: r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 5},
            {"type": "lstm", "units": 4, "dropout": 0.2, "recurrent_dropout": 0.3},
            {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
        mode: TRAIN,
    },
];

fn case(name: &str) -> &'static Case {
    CASES.iter().find(|c| c.name == name).expect("a case")
}

fn spec_of(case: &Case) -> NetworkSpec {
    NetworkSpec::from_json(case.spec).expect("the case's spec reads")
}

/// The parameters of a case's network, (name, shape), in the plan's order.
fn params(case: &Case) -> Vec<(String, Vec<usize>)> {
    Plan::new(&spec_of(case), Some(VOCAB))
        .expect("the case's network plans")
        .params()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect()
}

/// Every tensor the file must hold, and nothing else (the load is strict).
fn every_tensor() -> Vec<(String, Vec<usize>)> {
    let mut all = Vec::new();
    for c in &CASES {
        for (name, shape) in params(c) {
            all.push((format!("{}/{name}", c.name), shape.clone()));
            all.push((format!("{}/grad/{name}", c.name), shape));
        }
        for what in ["ids", "targets"] {
            all.push((format!("{}/{what}", c.name), vec![STEPS, BATCH]));
        }
        all.push((format!("{}/loss", c.name), vec![1]));
    }
    all.push(("lstm_dropout/mask_input".into(), vec![BATCH, 5]));
    all.push(("lstm_dropout/mask_recurrent".into(), vec![BATCH, 4]));
    all
}

struct Fixture {
    tensors: BTreeMap<String, NamedTensor>,
    metadata: BTreeMap<String, String>,
}

impl Fixture {
    fn load() -> Fixture {
        let all = every_tensor();
        let expected: Vec<Expected> = all
            .iter()
            .map(|(name, shape)| Expected { name, shape })
            .collect();
        let Loaded { tensors, metadata } = weights::load(FIXTURE, &expected)
            .expect("the fixture holds exactly the cases' tensors");
        Fixture {
            tensors: tensors.into_iter().map(|t| (t.name.clone(), t)).collect(),
            metadata,
        }
    }

    fn data(&self, name: &str) -> &[f32] {
        &self.tensors[name].data
    }

    fn ids(&self, case: &Case, what: &str) -> Vec<u32> {
        self.data(&format!("{}/{what}", case.name))
            .iter()
            .map(|&v| {
                assert!(
                    v >= 0.0 && v < VOCAB as f32 && v.fract() == 0.0,
                    "{what}: {v}"
                );
                v as u32
            })
            .collect()
    }

    /// The case's metadata object.
    fn about(&self, case: &Case) -> Value {
        let text = self
            .metadata
            .get(case.name)
            .unwrap_or_else(|| panic!("the fixture's metadata has no {:?}", case.name));
        serde_json::from_str(text).expect("a case's metadata is JSON")
    }

    /// The float64 mean loss PyTorch computed.
    fn loss(&self, case: &Case) -> f64 {
        self.about(case)["loss"].as_f64().expect("a loss")
    }

    /// The case's weights in the plan's order, as `Network::from_tensors`
    /// takes them.
    fn weights(&self, case: &Case) -> Vec<NamedTensor> {
        params(case)
            .into_iter()
            .map(|(name, shape)| {
                let t = &self.tensors[&format!("{}/{name}", case.name)];
                assert_eq!(t.shape, shape);
                NamedTensor {
                    name,
                    shape,
                    data: t.data.clone(),
                }
            })
            .collect()
    }
}

fn read<B: Backend>(be: &B, t: &B::Tensor) -> Result<Vec<f32>> {
    Ok(pollster::block_on(be.read(&[t]))?.remove(0))
}

/// The worst element of one gradient: (index, ours, recorded) with the
/// largest excess over the tolerance, and whether every element passes.
fn worst(ours: &[f32], want: &[f32]) -> (usize, f32, f32, bool) {
    assert_eq!(ours.len(), want.len());
    let mut at = (0, f64::NEG_INFINITY);
    for (i, (&a, &b)) in ours.iter().zip(want).enumerate() {
        let excess = (a as f64 - b as f64).abs() - (GRAD_ABS + GRAD_REL * (b as f64).abs());
        if excess > at.1 {
            at = (i, excess);
        }
    }
    (at.0, ours[at.0], want[at.0], at.1 <= 0.0)
}

/// Loads the case's weights into a network on `be`, runs the forward pass
/// in the case's mode to the loss and the backward pass, and compares the
/// mean loss and every gradient with the fixture; the problems found, one
/// per line (empty when everything agrees).
fn run_case<B: Backend>(
    be: &B,
    backend: &str,
    fixture: &Fixture,
    case: &Case,
) -> Result<Vec<String>> {
    let spec = spec_of(case);
    let mut net = Network::from_tensors(be, &spec, Some(VOCAB), &fixture.weights(case))?;
    let n = STEPS * BATCH;
    let ids = fixture.ids(case, "ids");
    let targets = fixture.ids(case, "targets");
    let mut a = net.acts(be, STEPS, BATCH);
    be.write_indices(a.ids.as_mut().expect("a text network reads ids"), &ids)?;
    net.forward(be, &mut a, case.mode, Until::Loss(&targets))?;
    let losses = read(be, a.loss().expect("a loss pass"))?;
    assert_eq!(losses.len(), n);
    let loss = losses.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let want = fixture.loss(case);
    let mut problems = Vec::new();
    let rel = (loss - want).abs() / want.abs();
    println!(
        "{backend} {}: mean loss {loss:.9} recorded {want:.9} (relative diff {rel:.1e})",
        case.name
    );
    if rel > LOSS_TOLERANCE {
        problems.push(format!(
            "{}: mean loss {loss:.9}, recorded {want:.9}: relative diff {rel:.2e} > {LOSS_TOLERANCE:.0e}",
            case.name
        ));
    }

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
        let ours = read(be, &p.grad)?;
        let want = fixture.data(&format!("{}/grad/{}", case.name, p.name));
        let max = ours
            .iter()
            .zip(want)
            .map(|(&a, &b)| (a as f64 - b as f64).abs())
            .fold(0.0, f64::max);
        let (i, a, b, ok) = worst(&ours, want);
        println!(
            "{backend} {}: d/d {}: max |diff| {max:.1e}; worst at [{i}]: ours {a:.7e} recorded {b:.7e}",
            case.name, p.name
        );
        if !ok {
            problems.push(format!(
                "{}: d loss / d {} [{i}] (of {}): ours {a:.7e}, recorded {b:.7e} (|diff| {:.2e} > {GRAD_ABS:.0e} + {GRAD_REL:.0e} * |recorded|)",
                case.name,
                p.name,
                ours.len(),
                (a - b).abs()
            ));
        }
    }
    Ok(problems)
}

fn check<B: Backend>(be: &B, backend: &str, names: &[&str]) {
    let fixture = Fixture::load();
    let mut problems = Vec::new();
    for name in names {
        problems.extend(run_case(be, backend, &fixture, case(name)).expect("the passes run"));
    }
    assert!(
        problems.is_empty(),
        "{backend}: {} disagreement(s) with PyTorch:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_fixture_holds_the_three_cases_as_the_tests_run_them() {
    let fixture = Fixture::load();
    assert_eq!(
        fixture.metadata.get("format").map(String::as_str),
        Some("pt")
    );
    let names: Vec<String> = serde_json::from_str(&fixture.metadata["cases"]).unwrap();
    assert_eq!(names, CASES.iter().map(|c| c.name).collect::<Vec<_>>());
    for c in &CASES {
        let about = fixture.about(c);
        let recorded =
            NetworkSpec::from_value(about["network"].clone()).expect("the recorded spec reads");
        assert_eq!(recorded, spec_of(c), "{}: the recorded network", c.name);
        assert_eq!(about["vocab"], VOCAB, "{}", c.name);
        assert_eq!(about["steps"], STEPS, "{}", c.name);
        assert_eq!(about["batch"], BATCH, "{}", c.name);
        let mode = match c.mode {
            Mode::Infer => serde_json::json!("infer"),
            Mode::Train { seed, step } => {
                serde_json::json!({"train": {"seed": seed, "step": step}})
            }
        };
        assert_eq!(about["mode"], mode, "{}", c.name);
        let loss = fixture.loss(c);
        assert_eq!(
            fixture.data(&format!("{}/loss", c.name)),
            [loss as f32],
            "{}",
            c.name
        );
    }
}

/// The masks the fixture's script drew in Python are the ones neuralpad's
/// hash gives for the LSTM (layer 1) in the training mode: use k = 1 (input,
/// [batch, 5]) and k = 2 (recurrent, [batch, 4]), seed mix(99 ^ mix(64 + k
/// + 1)). A failure here is the script's (or the hash's), not the cells'.
#[test]
fn the_recorded_masks_are_neuralpads_dropout_hash() {
    let fixture = Fixture::load();
    let Mode::Train { seed, step } = TRAIN else {
        unreachable!()
    };
    for (k, what, rate, width) in [
        (1u32, "mask_input", 0.2f32, 5usize),
        (2, "mask_recurrent", 0.3, 4),
    ] {
        let key = mask_key(mix(seed ^ mix(64 + k + 1)), step);
        let scale = (1.0 / (1.0 - rate as f64)) as f32;
        let ours: Vec<f32> = (0..BATCH * width)
            .map(|e| mask_value(key, e as u32, rate, scale))
            .collect();
        assert_eq!(
            ours,
            fixture.data(&format!("lstm_dropout/{what}")),
            "{what}"
        );
    }
}

#[test]
fn rnn_on_the_cpu_twins() {
    check(&CpuBackend, "cpu", &["rnn"]);
}

#[test]
fn rnn_on_the_fast_cpu_path() {
    check(&FastCpuBackend::default(), "fast-cpu", &["rnn"]);
}

#[test]
fn stacked_gru_on_the_cpu_twins() {
    check(&CpuBackend, "cpu", &["gru"]);
}

#[test]
fn stacked_gru_on_the_fast_cpu_path() {
    check(&FastCpuBackend::default(), "fast-cpu", &["gru"]);
}

#[test]
fn lstm_with_dropout_on_the_cpu_twins() {
    check(&CpuBackend, "cpu", &["lstm_dropout"]);
}

#[test]
fn lstm_with_dropout_on_the_fast_cpu_path() {
    check(&FastCpuBackend::default(), "fast-cpu", &["lstm_dropout"]);
}

/// No adapter is a failure, never a skip (on a machine without a GPU wgpu
/// finds Mesa's lavapipe).
#[test]
fn all_three_cases_on_the_gpu() {
    let gpu = match pollster::block_on(GpuBackend::new()) {
        Ok(g) => g,
        Err(e) => {
            panic!("the GPU test needs a Vulkan adapter (apt-get install mesa-vulkan-drivers): {e}")
        }
    };
    eprintln!("adapter: {}", gpu.name());
    check(&gpu, "gpu", &["rnn", "gru", "lstm_dropout"]);
}
