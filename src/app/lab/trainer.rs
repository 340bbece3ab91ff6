//! The lab's networks on the engine's backend: each variant of an
//! experiment as its own model and run, all from the same data, batch order
//! and seed, stepped in turn by the page; and runs kept from an earlier
//! visit, loaded back so that they can read the drawing. The page model
//! (what the pad and the inside view read) is not touched until a run is
//! picked, which loads its weights there like any file.

use std::rc::Rc;

use rand::SeedableRng;

use super::super::digits::now_ms;
use super::super::engine::Done;
use crate::backend::Backend;
use crate::data::corpus::Vocab;
use crate::data::mnist::Dataset;
use crate::error::{Error, Result};
use crate::link::Settings;
use crate::nn::char_model::{CharModel, Sampling};
use crate::nn::classifier::{Classifier, PIXELS, digit_classes};
use crate::nn::spec::NetworkSpec;
use crate::train::digit_run::{self, DigitRun, DigitRunConfig};
use crate::train::mnist;
use crate::train::text;
use crate::train::text_run::{TextRun, TextRunConfig};

/// Test images per evaluation job: a drawing waits for at most this many.
const IMAGES_PER_CHUNK: usize = 250;
/// Held-out characters per evaluation job: one 64 x 32 window.
const WINDOW: usize = 64;
const EVAL_ROWS: usize = 32;
const CHARS_PER_CHUNK: usize = WINDOW * EVAL_ROWS;
/// The held-out end of the text: enough for a steady figure, little enough
/// to test every few dozen steps.
pub const HELD_OUT_CHARS: usize = 8 * CHARS_PER_CHUNK;

/// What every run of an experiment trains and is tested on.
pub enum LabData {
    Digits {
        train: Dataset,
        test: Rc<Dataset>,
    },
    Text {
        /// The vocabulary of the whole text, so held-out characters are known.
        vocab: Vocab,
        train: Vec<u32>,
        held_out: Vec<u32>,
    },
}

impl LabData {
    /// `text` with its last [`HELD_OUT_CHARS`] characters held out (a
    /// tenth, for a short text).
    pub fn text(text: &str) -> Result<LabData> {
        crate::train::text_run::check_text(text)?;
        let vocab = Vocab::from_text(text);
        let mut ids = vocab.encode(text);
        let held = HELD_OUT_CHARS.min(ids.len() / 10).max(2);
        let held_out = ids.split_off(ids.len().saturating_sub(held));
        Ok(LabData::Text {
            vocab,
            train: ids,
            held_out,
        })
    }

    /// Evaluation jobs one test takes.
    pub fn eval_chunks(&self) -> usize {
        match self {
            LabData::Digits { test, .. } => test.len().div_ceil(IMAGES_PER_CHUNK),
            LabData::Text { held_out, .. } => (held_out.len() - 1).div_ceil(CHARS_PER_CHUNK),
        }
    }
}

enum Net<B: Backend> {
    Digits(Classifier<B>),
    Text(CharModel<B>),
}

enum Run<B: Backend> {
    Digits(DigitRun<B>),
    Text(TextRun<B>),
}

/// One variant: its model and, while it trains, its run.
struct Slot<B: Backend> {
    net: Net<B>,
    run: Option<Run<B>>,
}

/// What a new run is: its steps, and its network's size (with the real
/// vocabulary of a text).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunFacts {
    pub total: usize,
    pub params: usize,
    pub macs: u64,
}

/// Where one run stands after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LabStep {
    pub loss: f32,
    pub step: usize,
    pub total: usize,
    /// The step's own time, recorded to read back (ms).
    pub ms: f64,
    pub finished: bool,
}

/// Part of a test: (sum, count) of right answers over images, or of nats
/// over characters.
pub type Tally = (f64, usize);

/// The lab's models on one backend, by slot (a run's place in the
/// experiment; a removed run leaves its slot empty).
pub struct Lab<B: Backend> {
    slots: Vec<Option<Slot<B>>>,
    data: Option<Rc<LabData>>,
}

impl<B: Backend> Default for Lab<B> {
    fn default() -> Self {
        Self {
            slots: Vec::new(),
            data: None,
        }
    }
}

fn no_slot(i: usize) -> Error {
    Error::Input {
        what: "lab",
        problem: format!("run {} is gone: train again", i + 1),
    }
}

impl<B: Backend> Lab<B> {
    fn slot(&mut self, i: usize) -> Result<&mut Slot<B>> {
        self.slots
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or_else(|| no_slot(i))
    }

    /// New runs of `specs`, slots 0.., replacing every slot; each model
    /// starts from `settings.seed`, so variants that share layers share
    /// their first weights. Nothing changes when one cannot start; the
    /// error names it.
    fn start(
        &mut self,
        be: &B,
        data: Rc<LabData>,
        specs: &[NetworkSpec],
        s: &Settings,
    ) -> Result<Vec<RunFacts>> {
        let mut slots = Vec::with_capacity(specs.len());
        let mut facts = Vec::with_capacity(specs.len());
        for (i, spec) in specs.iter().enumerate() {
            let name = |e: Error| Error::Input {
                what: "lab",
                problem: format!("network {}: {e}", i + 1),
            };
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed);
            let slot = match &*data {
                LabData::Digits { train, .. } => {
                    let net =
                        Classifier::init(be, spec, digit_classes(), &mut rng).map_err(name)?;
                    let per_epoch = train.len().div_ceil(s.batch).max(1);
                    let cfg = DigitRunConfig {
                        batch: s.batch,
                        lr: s.lr,
                        lr_decay: 1.0,
                        epochs: s.steps.div_ceil(per_epoch).clamp(1, digit_run::MAX_EPOCHS),
                        max_steps: Some(s.steps),
                        seed: s.seed,
                    };
                    let run = DigitRun::new(train.clone(), cfg, 10).map_err(name)?;
                    facts.push(RunFacts {
                        total: run.total_steps(),
                        params: net.net().plan().param_count(),
                        macs: net.net().plan().macs(),
                    });
                    Slot {
                        net: Net::Digits(net),
                        run: Some(Run::Digits(run)),
                    }
                }
                LabData::Text { vocab, train, .. } => {
                    let net = CharModel::init(be, spec, vocab.clone(), &mut rng).map_err(name)?;
                    let cfg = TextRunConfig {
                        batch: s.batch,
                        window: WINDOW,
                        lr: s.lr,
                        max_steps: s.steps,
                        seed: s.seed,
                        ..TextRunConfig::default()
                    };
                    let run = TextRun::from_ids(train.clone(), cfg).map_err(name)?;
                    facts.push(RunFacts {
                        total: s.steps,
                        params: net.net().plan().param_count(),
                        macs: net.net().plan().macs(),
                    });
                    Slot {
                        net: Net::Text(net),
                        run: Some(Run::Text(run)),
                    }
                }
            };
            slots.push(Some(slot));
        }
        self.slots = slots;
        self.data = Some(data);
        Ok(facts)
    }

    /// A kept run's weights into slot `i`, to read drawings and be tested.
    fn restore(&mut self, be: &B, i: usize, bytes: &[u8]) -> Result<()> {
        let net = if crate::nn::classifier::is_text_file(bytes)? {
            Net::Text(CharModel::from_safetensors(be, bytes)?)
        } else {
            Net::Digits(Classifier::from_safetensors(be, bytes)?)
        };
        if self.slots.len() <= i {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(Slot { net, run: None });
        Ok(())
    }

    async fn step(&mut self, be: &B, i: usize) -> Result<LabStep> {
        let slot = self.slot(i)?;
        let start = now_ms();
        let (loss, step, total, finished) = match (&mut slot.net, &mut slot.run) {
            (Net::Digits(net), Some(Run::Digits(run))) => {
                let stats = run.step(be, net).await?;
                (stats.loss, run.step, run.total_steps(), run.finished())
            }
            (Net::Text(net), Some(Run::Text(run))) => {
                let stats = run.step(be, net).await?;
                (stats.loss, run.step, run.cfg.max_steps, run.finished())
            }
            _ => return Err(no_slot(i)),
        };
        Ok(LabStep {
            loss,
            step,
            total,
            ms: now_ms() - start,
            finished,
        })
    }

    /// Part `chunk` of the test of slot `i`.
    async fn evaluate(&mut self, be: &B, i: usize, chunk: usize) -> Result<Tally> {
        let data = self.data.clone().ok_or_else(|| no_slot(i))?;
        let slot = self.slot(i)?;
        match (&mut slot.net, &*data) {
            (Net::Digits(net), LabData::Digits { test, .. }) => {
                let start = (chunk * IMAGES_PER_CHUNK).min(test.len());
                let range = start..(start + IMAGES_PER_CHUNK).min(test.len());
                let got = mnist::predict_range(be, net, test, range).await?;
                let right = got.iter().filter(|(t, p, _)| t == p).count();
                Ok((right as f64, got.len()))
            }
            (Net::Text(net), LabData::Text { held_out, .. }) => {
                let start = (chunk * CHARS_PER_CHUNK).min(held_out.len() - 1);
                let end = (start + CHARS_PER_CHUNK + 1).min(held_out.len());
                let e = text::evaluate(be, net, &held_out[start..end], WINDOW, EVAL_ROWS).await?;
                Ok((e.nats * e.chars as f64, e.chars))
            }
            _ => Err(Error::Input {
                what: "lab",
                problem: "the run and the data are of different tasks: train again".into(),
            }),
        }
    }

    /// Every digit slot's probabilities for one drawing (None for an empty
    /// slot or a text model).
    async fn classify(&mut self, be: &B, input: &[f32]) -> Result<Vec<Option<Vec<f32>>>> {
        let mut out = Vec::with_capacity(self.slots.len());
        for slot in &mut self.slots {
            out.push(match slot {
                Some(Slot {
                    net: Net::Digits(net),
                    ..
                }) => Some(net.predict(be, input).await?),
                _ => None,
            });
        }
        Ok(out)
    }

    async fn sample(&mut self, be: &B, i: usize, prompt: &str, seed: u64) -> Result<String> {
        match &mut self.slot(i)?.net {
            Net::Text(net) => {
                let s = Sampling {
                    temperature: 0.8,
                    top_k: 0,
                    line_chars: None,
                };
                net.generate(be, prompt, SAMPLE_CHARS, s, seed).await
            }
            Net::Digits(_) => Err(no_slot(i)),
        }
    }

    async fn save(&mut self, be: &B, i: usize) -> Result<Vec<u8>> {
        match &self.slot(i)?.net {
            Net::Digits(net) => net.to_safetensors(be).await,
            Net::Text(net) => net.to_safetensors(be).await,
        }
    }
}

/// Characters a finished text run writes to show what it learned.
pub const SAMPLE_CHARS: usize = 120;

/// What the lab asks of the engine.
pub enum LabJob {
    Start(Rc<LabData>, Vec<NetworkSpec>, Settings, Done<Vec<RunFacts>>),
    Restore(usize, Rc<Vec<u8>>, Done<()>),
    Step(usize, Done<LabStep>),
    Evaluate(usize, usize, Done<Tally>),
    Classify(Box<[f32; PIXELS]>, Done<Vec<Option<Vec<f32>>>>),
    Sample(usize, String, u64, Done<String>),
    Save(usize, Done<Vec<u8>>),
    /// Drop one run's model (removed from the comparison).
    Forget(usize),
}

impl LabJob {
    /// Work that fills idle time, behind a person's requests.
    pub fn is_background(&self) -> bool {
        matches!(self, LabJob::Step(..) | LabJob::Evaluate(..))
    }

    /// Whether `self` makes a waiting `other` pointless: a newer drawing.
    pub fn replaces(&self, other: &LabJob) -> bool {
        matches!((self, other), (LabJob::Classify(..), LabJob::Classify(..)))
    }

    pub async fn run<B: Backend>(self, be: &B, lab: &mut Lab<B>) {
        match self {
            LabJob::Start(data, specs, s, done) => done(lab.start(be, data, &specs, &s)),
            LabJob::Restore(i, bytes, done) => done(lab.restore(be, i, &bytes)),
            LabJob::Step(i, done) => done(lab.step(be, i).await),
            LabJob::Evaluate(i, chunk, done) => done(lab.evaluate(be, i, chunk).await),
            LabJob::Classify(input, done) => done(lab.classify(be, &input[..]).await),
            LabJob::Sample(i, prompt, seed, done) => done(lab.sample(be, i, &prompt, seed).await),
            LabJob::Save(i, done) => done(lab.save(be, i).await),
            LabJob::Forget(i) => {
                if let Some(slot) = lab.slots.get_mut(i) {
                    *slot = None;
                }
            }
        }
    }
}
