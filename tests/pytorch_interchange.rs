//! Weights interchange with PyTorch: a safetensors file written from the
//! equivalent nn.Module (state_dict names and layouts, see
//! scripts/export_pytorch.py) loads into `Classifier` and predicts what PyTorch
//! predicts; a file with a tensor of the wrong shape is refused, naming the
//! tensor, and leaves the model in use untouched.
//!
//! The fixture, tests/fixtures/pytorch_mnist_cnn.safetensors, is written by
//! tests/fixtures/pytorch_mnist_cnn.py: seeded weights at PyTorch's default
//! initialisation scale, and, in the header's `__metadata__`, three input
//! images and the probabilities an independent float64 numpy forward pass with
//! PyTorch's semantics gives for them.
#![cfg(not(target_arch = "wasm32"))]

use std::collections::BTreeMap;

use neuralpad::nn::classifier::{CLASSES, Classifier, PIXELS};
use neuralpad::nn::plan::Plan;
use neuralpad::nn::spec;
use neuralpad::weights::{self, Expected, Loaded, NamedTensor};
use neuralpad::{CpuBackend, Error};

const FIXTURE: &[u8] = include_bytes!("fixtures/pytorch_mnist_cnn.safetensors");

/// Largest allowed |ours - recorded| for any probability. The recorded values
/// are float64; ours are float32 through a 1600-long dot product, whose
/// rounding moves probabilities (about 0.1 here) by well under 1e-6. The
/// likely layout mistakes (NHWC flatten, flipped or transposed kernels, a
/// missing relu or bias) move some probability by 2e-3 or more; the fixture's
/// script checks that before writing the file.
const TOLERANCE: f64 = 1e-5;

/// The seed CNN's parameters, (name, shape), as the plan names them.
fn params() -> Vec<(String, Vec<usize>)> {
    Plan::new(&spec::seed_cnn(), None)
        .expect("the seed CNN plans")
        .params()
        .map(|p| (p.name.clone(), p.shape.clone()))
        .collect()
}

fn expected_params(params: &[(String, Vec<usize>)]) -> Vec<Expected<'_>> {
    params
        .iter()
        .map(|(name, shape)| Expected { name, shape })
        .collect()
}

fn fixture() -> Loaded {
    weights::load(FIXTURE, &expected_params(&params())).expect("the fixture loads")
}

/// The numbers of a JSON array of numbers, nested or not, in order. The
/// fixture's metadata holds nothing else, so no JSON crate is needed.
fn numbers(json: &str) -> Vec<f64> {
    json.split(|c: char| matches!(c, '[' | ']' | ','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}")))
        .collect()
}

/// The recorded inputs, as the model takes them ([n, 1, 28, 28] in 0..1), and
/// the recorded probabilities ([n, 10]).
fn recorded(file: &Loaded) -> (Vec<f32>, Vec<f64>) {
    let field = |key: &str| {
        file.metadata
            .get(key)
            .unwrap_or_else(|| panic!("the fixture has no {key:?} in its metadata"))
    };
    // Pixels 0..255; the script made its images as float32(k) / float32(255),
    // which is this division, correctly rounded in both.
    let images: Vec<f32> = numbers(field("inputs"))
        .into_iter()
        .map(|k| k as f32 / 255.0)
        .collect();
    let probs = numbers(field("probabilities"));
    assert!(!images.is_empty() && images.len() % PIXELS == 0);
    assert_eq!(probs.len(), images.len() / PIXELS * CLASSES);
    (images, probs)
}

fn predict(model: &mut Classifier<CpuBackend>, images: &[f32]) -> Vec<f32> {
    pollster::block_on(model.predict(&CpuBackend, images)).expect("predict")
}

/// Largest |ours - recorded|, and a table of both for a failure message.
fn compare(ours: &[f32], want: &[f64]) -> (f64, String) {
    assert_eq!(ours.len(), want.len());
    let mut max = 0f64;
    let mut table = String::new();
    for (i, (o, w)) in ours.chunks(CLASSES).zip(want.chunks(CLASSES)).enumerate() {
        table.push_str(&format!(
            "image {i}:\n  ours     {o:.7?}\n  recorded {w:.7?}\n"
        ));
        for (&a, &b) in o.iter().zip(w) {
            max = max.max((a as f64 - b).abs());
        }
    }
    (max, table)
}

#[test]
fn a_pytorch_file_predicts_the_recorded_probabilities() {
    let file = fixture();
    assert_eq!(
        file.metadata.get("format").map(String::as_str),
        Some("pt"),
        "the fixture carries PyTorch's format tag"
    );
    let (images, want) = recorded(&file);
    let mut model = Classifier::from_safetensors(&CpuBackend, FIXTURE).expect("the fixture loads");

    // All images in one batch, then each alone: the batch size changes nothing.
    let batch = predict(&mut model, &images);
    let (max, table) = compare(&batch, &want);
    println!("batch of {}: max |diff| {max:.2e}", want.len() / CLASSES);
    assert!(
        max <= TOLERANCE,
        "max |diff| {max:.2e} exceeds {TOLERANCE:.0e}\n{table}"
    );
    for (i, (image, w)) in images.chunks(PIXELS).zip(want.chunks(CLASSES)).enumerate() {
        let one = predict(&mut model, image);
        let (max, table) = compare(&one, w);
        println!("image {i} alone: max |diff| {max:.2e}");
        assert!(
            max <= TOLERANCE,
            "image {i} alone: max |diff| {max:.2e} exceeds {TOLERANCE:.0e}\n{table}"
        );
    }
}

/// The fixture's tensors with `name` given another shape of the same size
/// (the dimensions reversed, as a Keras/TensorFlow layout would have them;
/// [n] becomes [1, n]), written with the same metadata.
fn with_shape_changed(name: &str) -> (Vec<u8>, Vec<usize>) {
    let file = fixture();
    let mut tensors: Vec<NamedTensor> = file.tensors;
    let t = tensors.iter_mut().find(|t| t.name == name).unwrap();
    t.shape = if t.shape.len() == 1 {
        vec![1, t.shape[0]]
    } else {
        t.shape.iter().rev().copied().collect()
    };
    let shape = t.shape.clone();
    (weights::save(&tensors, &file.metadata).unwrap(), shape)
}

#[test]
fn a_tensor_of_another_shape_is_refused_naming_it() {
    for (name, want_shape) in params() {
        let name = name.as_str();
        let (bytes, shape) = with_shape_changed(name);
        match Classifier::from_safetensors(&CpuBackend, &bytes) {
            Ok(_) => panic!("{name} with shape {shape:?} was accepted"),
            Err(Error::Weights { tensor, problem }) => {
                assert_eq!(tensor, name, "{problem}");
                assert!(
                    problem.contains(&format!("{shape:?}"))
                        && problem.contains(&format!("{want_shape:?}")),
                    "{name}: the message gives both shapes: {problem}"
                );
            }
            Err(e) => panic!("{name}: expected an error naming the tensor, got {e}"),
        }
        let message = Classifier::from_safetensors(&CpuBackend, &bytes)
            .err()
            .unwrap()
            .to_string();
        assert!(message.contains(name), "{message}");
    }
}

#[test]
fn a_refused_file_changes_nothing_in_the_model() {
    let file = fixture();
    let (images, want) = recorded(&file);
    let mut model = Classifier::from_safetensors(&CpuBackend, FIXTURE).expect("the fixture loads");
    let before = predict(&mut model, &images);

    let truncated = &FIXTURE[..FIXTURE.len() - 4];
    let (reshaped, _) = with_shape_changed("fc2.weight");
    let mut other_metadata = BTreeMap::new();
    other_metadata.insert("format".to_string(), "pt".to_string());
    let missing = weights::save(&fixture().tensors[..7], &other_metadata).unwrap();
    for (what, bad) in [
        ("reshaped fc2.weight", &reshaped[..]),
        ("truncated", truncated),
        ("missing fc2.bias", &missing[..]),
    ] {
        // What the page and the CLI do: swap in the new model only on Ok.
        match Classifier::from_safetensors(&CpuBackend, bad) {
            Ok(_) => panic!("{what}: accepted"),
            Err(e) => println!("{what}: refused: {e}"),
        }
        assert_eq!(
            predict(&mut model, &images),
            before,
            "{what}: predictions changed"
        );
    }

    // Its weights are still exactly the file's.
    let saved = pollster::block_on(model.to_safetensors(&CpuBackend)).unwrap();
    let reloaded = weights::load(&saved, &expected_params(&params())).unwrap();
    assert_eq!(reloaded.tensors, file.tensors);
    let (max, table) = compare(&before, &want);
    assert!(max <= TOLERANCE, "max |diff| {max:.2e}\n{table}");
}
