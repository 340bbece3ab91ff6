#![cfg(not(target_arch = "wasm32"))]
//! The character Transformer as a model: reading one character at a time
//! (incremental decoding with the key/value caches, refilled when a row's
//! context is full) gives what a full-context window gives, on every
//! backend; the attention view is a softmax per head over the characters
//! read; rows of a server's batch keep their own contexts; training from
//! initialisation lowers the held-out loss; the weights file round-trips
//! with PyTorch's names.

use neuralpad::data::corpus::{self, Corpus, Vocab};
use neuralpad::nn::char_model::{CharModel, TextStep};
use neuralpad::nn::network::{Mode, Until};
use neuralpad::nn::spec::{self, NetworkSpec};
use neuralpad::nn::transformer::refill_len;
use neuralpad::train::text::evaluate_with_context;
use neuralpad::train::text_run::{TextRun, TextRunConfig};
use neuralpad::{Backend, CpuBackend, FastCpuBackend, GpuBackend, Result};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const TEXT: &str = "The quick brown fox jumps over the lazy dog; naïve 你好 🎉 again and again.";

/// A small Transformer: 2 blocks, 2 heads of 4, a context of 8.
fn small_spec() -> NetworkSpec {
    NetworkSpec::from_json(
        r#"{"input": "chars", "layers": [
            {"type": "embedding", "dim": 8, "name": "embed"},
            {"type": "transformer", "blocks": 2, "heads": 2, "dim_feedforward": 12, "context": 8},
            {"type": "dense", "units": "vocab", "activation": "softmax", "name": "head"}]}"#,
    )
    .unwrap()
}

fn small<B: Backend>(be: &B) -> CharModel<B> {
    CharModel::init(
        be,
        &small_spec(),
        Vocab::from_text(TEXT),
        &mut ChaCha8Rng::seed_from_u64(7),
    )
    .unwrap()
}

/// The probabilities after the last of `ids`, read as one window from
/// position 0.
fn window_probs<B: Backend>(be: &B, m: &CharModel<B>, ids: &[u32]) -> Result<Vec<f32>> {
    let net = m.net();
    let mut a = net.acts(be, ids.len(), 1);
    a.set_ids(be, ids)?;
    net.forward(be, &mut a, Mode::Infer, Until::Probs)?;
    let probs = pollster::block_on(be.read(&[&a.probs]))?.remove(0);
    let v = m.vocab().len();
    Ok(probs[(ids.len() - 1) * v..].to_vec())
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Each character of a text three times the context long, read one at a
/// time, against a window over the characters its row's context holds: the
/// whole text so far until the context is full, then (after each refill)
/// the last context / 2 and those read since.
fn reading_equals_windows<B: Backend>(be: &B) -> Result<()> {
    let mut m = small(be);
    let context = 8;
    let chars: Vec<char> = TEXT.chars().take(3 * context).collect();
    let mut held: Vec<u32> = Vec::new();
    m.reset_reading();
    for (i, &c) in chars.iter().enumerate() {
        if held.len() == context {
            held.drain(..context - refill_len(context));
        }
        held.push(m.vocab().id(c));
        let TextStep {
            probs, attention, ..
        } = pollster::block_on(m.step(be, c))?;
        let want = window_probs(be, &m, &held)?;
        let d = max_diff(&probs, &want);
        assert!(
            d < 2e-5,
            "{}: character {i} ({c:?}), context {}: |diff| {d}",
            be.name(),
            held.len()
        );
        let view = attention.expect("a Transformer shows its attention");
        assert_eq!(view.weights.len(), 2, "blocks");
        for heads in &view.weights {
            assert_eq!(heads.len(), 2, "heads");
            for w in heads {
                assert_eq!(w.len(), held.len(), "weights over the context");
                let sum: f32 = w.iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "a softmax: {w:?}");
            }
        }
    }
    Ok(())
}

#[test]
fn incremental_reading_equals_the_full_window_on_the_cpu_twins() -> Result<()> {
    reading_equals_windows(&CpuBackend)
}

#[test]
fn incremental_reading_equals_the_full_window_on_the_fast_cpu_path() -> Result<()> {
    reading_equals_windows(&FastCpuBackend::default())
}

#[test]
fn incremental_reading_equals_the_full_window_on_the_gpu() -> Result<()> {
    let gpu = pollster::block_on(GpuBackend::new())
        .unwrap_or_else(|e| panic!("the GPU test needs a Vulkan adapter: {e}"));
    reading_equals_windows(&gpu)
}

/// A server's rows: three prompts of different lengths read side by side
/// (one row joining later, one restarting) give each the probabilities it
/// gets alone.
#[test]
fn rows_side_by_side_keep_their_own_contexts() -> Result<()> {
    let be = FastCpuBackend::default();
    let mut m = small(&be);
    let v = m.vocab().len();
    let prompts: Vec<Vec<u32>> = [
        "quick brown fox jumps",
        "lazy dog; naïve 你好 again",
        "🎉 and",
    ]
    .iter()
    .map(|p| m.vocab().encode(p))
    .collect();
    // Alone: each prompt one character at a time from a fresh context.
    let mut alone = Vec::new();
    for p in &prompts {
        m.reset_reading();
        let mut last = Vec::new();
        for &id in p {
            let c = m.vocab().char_of(id).unwrap();
            last = pollster::block_on(m.next_probs(&be, c))?;
        }
        alone.push(last);
    }
    // Together: rows 0 and 1 start, row 2 joins after 5 steps (the batch
    // widens from 2 to 3 rows).
    m.reset_rows(2);
    let mut got: Vec<Option<Vec<f32>>> = vec![None; 3];
    let longest = prompts.iter().map(Vec::len).max().unwrap() + 5;
    let mut width = 2;
    for step in 0..longest {
        if step == 5 {
            m.widen_rows(&be, 2, 3)?;
            m.restart_rows(3, &[2]);
            width = 3;
        }
        let ids: Vec<u32> = (0..width)
            .map(|r| {
                let t = if r == 2 { step - 5 } else { step };
                prompts[r].get(t).copied().unwrap_or(0)
            })
            .collect();
        let probs = pollster::block_on(m.step_rows(&be, &ids, true))?.unwrap();
        for r in 0..width {
            let t = if r == 2 { step - 5 } else { step };
            if t + 1 == prompts[r].len() {
                got[r] = Some(probs[r * v..(r + 1) * v].to_vec());
            }
        }
    }
    for r in 0..3 {
        let d = max_diff(got[r].as_ref().unwrap(), &alone[r]);
        assert!(d < 2e-5, "row {r}: |diff| {d}");
    }
    Ok(())
}

/// The preset's weights file carries PyTorch's names and loads back.
#[test]
fn the_preset_names_its_parameters_as_the_issue_and_round_trips() -> Result<()> {
    let be = FastCpuBackend::default();
    let m = CharModel::init(
        &be,
        &spec::preset("transformer-char")?,
        Vocab::from_text(TEXT),
        &mut ChaCha8Rng::seed_from_u64(1),
    )?;
    let names: Vec<String> = m.params().iter().map(|p| p.name.clone()).collect();
    for want in [
        "embed.weight",
        "pos.weight",
        "layers.0.self_attn.in_proj_weight",
        "layers.0.self_attn.in_proj_bias",
        "layers.0.self_attn.out_proj.weight",
        "layers.0.self_attn.out_proj.bias",
        "layers.1.linear1.weight",
        "layers.1.linear2.bias",
        "layers.1.norm1.weight",
        "layers.1.norm2.bias",
        "norm.weight",
        "norm.bias",
        "head.weight",
        "head.bias",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert_eq!(names.len(), 2 + 2 * 12 + 2 + 2);
    let bytes = pollster::block_on(m.to_safetensors(&be))?;
    let back = CharModel::from_safetensors(&be, &bytes)?;
    assert_eq!(back.spec(), m.spec());
    Ok(())
}

/// 200 steps of 16 rows x 128 characters from initialisation, through the
/// run the page and the command line drive, lower the held-out loss (its
/// first 10,000 characters, each read with at least 64 before it) by more
/// than a nat.
#[test]
fn two_hundred_steps_lower_the_held_out_loss_by_a_nat() -> Result<()> {
    let be = FastCpuBackend::default();
    let text = corpus::load_sotu(&corpus::sotu_dir())
        .expect("npm ci puts the SOTU corpus in node_modules");
    let c = Corpus::from_text(text.chars().take(400_000).collect())?;
    let mut m = CharModel::init(
        &be,
        &spec::preset("transformer-char")?,
        c.vocab.clone(),
        &mut ChaCha8Rng::seed_from_u64(1),
    )?;
    let all: Vec<u32> = c.train.iter().chain(&c.valid).copied().collect();
    let held_out = |m: &mut CharModel<FastCpuBackend>| {
        pollster::block_on(evaluate_with_context(
            &be,
            m,
            &all,
            (c.train.len(), 10_000),
            (64, 128),
            32,
        ))
    };
    let before = held_out(&mut m)?;
    let cfg = TextRunConfig {
        batch: 16,
        window: 128,
        lr: 2e-3,
        warmup: 50,
        clip: 1.0,
        max_steps: 200,
        ..TextRunConfig::default()
    };
    let mut run = TextRun::from_ids(c.train.clone(), cfg)?;
    while !run.finished() {
        pollster::block_on(run.step(&be, &mut m))?;
    }
    let after = held_out(&mut m)?;
    eprintln!(
        "held-out loss {:.3} -> {:.3} nats ({:.3} bits per character)",
        before.nats,
        after.nats,
        after.bits_per_char()
    );
    assert!(before.nats - after.nats > 1.0, "{before:?} -> {after:?}");
    Ok(())
}
