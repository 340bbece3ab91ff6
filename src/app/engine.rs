//! The two models on whichever backend the browser offers, and every request
//! the page makes of them. One request runs at a time (a GPU read-back is
//! awaited, and the models are not shared across awaits); requests made
//! meanwhile queue, and a newer drawing replaces an older one still waiting,
//! so input is never blocked and the network never falls behind the pen.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use rand::SeedableRng;

use crate::backend::{Backend, Tensor};
use crate::cpu::CpuBackend;
use crate::cpu::fast::FastCpuBackend;
use crate::data::corpus::Vocab;
use crate::data::mnist::Dataset;
use crate::error::{Error, Result};
use crate::gpu::GpuBackend;
use crate::nn::char_model::{
    AttentionView, CellView, CharModel, Sampling, TextStepStats, top_chars,
};
use crate::nn::classifier::{Classifier, PIXELS, StepStats, is_text_file};
use crate::nn::explain::{self, CharInfluence, MadeIt, MakeIt, Occlusion, Patch, Saliencies};
use crate::nn::plan::Plan;
use crate::nn::spec::LayerKind;
use crate::selftest::{self, Comparison, Dims, Op};
use crate::train::backprop::{self, ParamStep};
use crate::train::digit_run::{DigitRun, DigitRunConfig};
use crate::train::mnist;
use crate::train::own::{self, Start, TRANSFERRED};
use crate::train::text_run::{self, TextRun, TextRunConfig};
use crate::weights;

use super::lab::trainer::{Lab, LabJob};

/// Characters of typed text the model reads at most: the LSTM's memory is
/// far shorter, and a pasted book must not stall the page.
pub const MAX_TEXT: usize = 400;
/// The last characters whose gates and cell the page shows (the heatmap).
pub const SHOWN_STEPS: usize = 80;

/// Everything the page shows about one classification.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DigitOut {
    pub probs: Vec<f32>,
    /// Each layer's output for the drawing, by position in the network
    /// (empty for a layer without its own: flatten, the final softmax).
    pub layers: Vec<Vec<f32>>,
    /// The network's own time: record, run, read back everything (ms).
    pub net_ms: f64,
}

/// The first layer's filters when it is a convolution reading the drawing:
/// the filter view and the hover formula show them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filters {
    /// [filters, channels, k, k].
    pub shape: [usize; 4],
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// The digit model as the views draw it: its layers' shapes, its classes,
/// and its first convolution's filters.
#[derive(Clone, Debug, PartialEq)]
pub struct DigitNet {
    pub plan: Plan,
    pub classes: Vec<String>,
    pub filters: Option<Filters>,
}

/// The text model as the views describe it.
#[derive(Clone, Debug, PartialEq)]
pub struct TextNet {
    pub plan: Plan,
    /// The built-in text model it is one of (`api::TEXT_MODELS`), by
    /// [`builtin_of`].
    pub id: &'static str,
    /// Whether it writes Chinese poems (its vocabulary has ，and 。): the
    /// form of five- or seven-character lines can be asked of it.
    pub writes_poems: bool,
}

/// Which built-in text model weights are of (trained here or shipped): a
/// Transformer is "transformer"; a vocabulary of Chinese poems (，and 。)
/// "tang"; any other "lstm". What the page reads this from is the model
/// itself, so weights kept from an earlier visit are told apart too.
pub fn builtin_of(spec: &crate::nn::spec::NetworkSpec, vocab: &Vocab) -> &'static str {
    if spec
        .layers
        .iter()
        .any(|l| matches!(l.kind, LayerKind::Transformer { .. }))
    {
        "transformer"
    } else if writes_poems(vocab) {
        "tang"
    } else {
        "lstm"
    }
}

fn writes_poems(vocab: &Vocab) -> bool {
    ['，', '。']
        .iter()
        .all(|&c| vocab.id(c) != vocab.unknown_id())
}

impl TextNet {
    /// Whether it is a Transformer (its attention is shown), not a
    /// recurrent network (its gates are).
    pub fn is_transformer(&self) -> bool {
        self.plan.layers.iter().any(|l| l.transformer().is_some())
    }

    pub fn has_recurrent(&self) -> bool {
        self.plan.layers.iter().any(|l| l.recurrent().is_some())
    }
}

/// Where a Transformer's last character looked, and at what.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionOut {
    pub view: AttentionView,
    /// The characters the weights cover, oldest first; the last is the one
    /// just read.
    pub chars: Vec<char>,
}

/// One typed character as the text model's first recurrent layer saw it.
#[derive(Clone, Debug, PartialEq)]
pub struct CharStep {
    pub ch: char,
    pub cell: Option<CellView>,
}

/// What the text model says about the typed text.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextOut {
    /// (character, probability) of the ten likeliest.
    pub top: Vec<(char, f32)>,
    /// The last [`SHOWN_STEPS`] characters as the LSTM saw them.
    pub steps: Vec<CharStep>,
    /// A Transformer's attention for the last character.
    pub attention: Option<AttentionOut>,
}

/// Where a training run's weights start.
#[derive(Clone, Debug, PartialEq)]
pub enum Init {
    /// Fresh random weights from the run's seed.
    Random,
    /// The weights the model has now (shipped, uploaded or trained).
    Current,
    /// The weights of this file (the shipped ones, for a fresh start).
    File(Rc<Vec<u8>>),
}

/// What one training step did to the weights the single-step view shows
/// (src/train/backprop.rs), and the labels of its batch.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedStep {
    pub params: Vec<ParamStep>,
    pub labels: Vec<u32>,
}

/// Where a digit run stands after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigitProgress {
    pub stats: StepStats,
    pub step: usize,
    pub epoch: usize,
    pub total_steps: usize,
    pub finished: bool,
}

/// Where a text run stands after a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextProgress {
    pub stats: TextStepStats,
    pub step: usize,
    pub epoch: usize,
    pub finished: bool,
}

/// The shape of a text run, told when it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextRunShape {
    pub rows: usize,
    pub chars_per_step: usize,
    pub text_chars: usize,
    pub vocab: usize,
}

/// The models on one backend, what the text model has read so far, and the
/// training runs in progress (each trains the model the page shows, so a
/// drawing is always read by the weights of the latest step).
pub struct Models<B: Backend> {
    be: B,
    digits: Classifier<B>,
    text: CharModel<B>,
    /// The other built-in text models once chosen, kept while this one
    /// is, so that switching back keeps what each was trained to.
    parked: Vec<CharModel<B>>,
    steps: Vec<CharStep>,
    last_probs: Vec<f32>,
    last_attention: Option<AttentionView>,
    digit_run: Option<DigitRun<B>>,
    text_run: Option<TextRun<B>>,
    /// A person's own classes: the model trained (or loaded) for them, and
    /// its run while it trains.
    own: Option<Classifier<B>>,
    own_run: Option<DigitRun<B>>,
    lab: Lab<B>,
}

/// What a run of one's own classes starts from.
pub struct OwnStart {
    pub start: Start,
    pub classes: Vec<String>,
    /// The augmented drawings.
    pub train: Dataset,
    pub cfg: DigitRunConfig,
    /// The digit network whose convolutions transfer borrows.
    pub digits: Rc<Vec<u8>>,
}

/// One engine per page, so the two variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Engine {
    Gpu(Models<GpuBackend>),
    Cpu(Models<FastCpuBackend>),
}

/// Run `$body` with `$m` bound to the models, whichever the backend.
macro_rules! with_models {
    ($engine:expr, $m:ident => $body:expr) => {
        match $engine {
            Engine::Gpu($m) => $body,
            Engine::Cpu($m) => $body,
        }
    };
}

fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

impl<B: Backend> Models<B> {
    fn new(be: B, digits: &[u8], text: &[u8]) -> Result<Self> {
        Ok(Self {
            digits: Classifier::from_drawable_file(&be, digits)?,
            text: CharModel::from_safetensors(&be, text)?,
            parked: Vec::new(),
            be,
            steps: Vec::new(),
            last_probs: Vec::new(),
            last_attention: None,
            digit_run: None,
            text_run: None,
            own: None,
            own_run: None,
            lab: Lab::default(),
        })
    }

    /// One blank digit and one character through each model while the page
    /// loads: a browser may compile a pipeline only at its first dispatch
    /// (SwiftShader's takes seconds), and that must not be a person's first
    /// drawing. Also sizes every buffer of the one-character path.
    async fn warm_up(&mut self) -> Result<()> {
        self.digits.predict_inside(&self.be, &[0.0; PIXELS]).await?;
        self.text.next_probs(&self.be, ' ').await?;
        self.text.reset_reading();
        Ok(())
    }

    async fn classify(&mut self, input: &[f32]) -> Result<DigitOut> {
        let start = now_ms();
        let v = self.digits.predict_inside(&self.be, input).await?;
        Ok(DigitOut {
            probs: v.probs,
            layers: v.layers,
            net_ms: now_ms() - start,
        })
    }

    async fn digit_net(&mut self) -> Result<DigitNet> {
        let plan = self.digits.net().plan().clone();
        let filters = match plan.layers.first().map(|l| &l.kind) {
            Some(LayerKind::Conv2d { .. }) => {
                let params = self.digits.params();
                let (w, b) = (&params[0].value, &params[1].value);
                let mut v = self.be.read(&[w, b]).await?.into_iter();
                let s = w.shape();
                Some(Filters {
                    shape: [s[0], s[1], s[2], s[3]],
                    weight: v.next().unwrap_or_default(),
                    bias: v.next().unwrap_or_default(),
                })
            }
            _ => None,
        };
        Ok(DigitNet {
            plan,
            classes: self.digits.classes().to_vec(),
            filters,
        })
    }

    fn text_net(&self) -> TextNet {
        TextNet {
            plan: self.text.net().plan().clone(),
            id: builtin_of(self.text.spec(), self.text.vocab()),
            writes_poems: writes_poems(self.text.vocab()),
        }
    }

    /// Bring the text model up to `text` (its last [`MAX_TEXT`] characters,
    /// a Transformer's last context): one step per new character when
    /// `text` extends what was read, else from the start.
    async fn read_text(&mut self, text: &str) -> Result<TextOut> {
        let chars: Vec<char> = text.chars().collect();
        let most = self.text.context().unwrap_or(MAX_TEXT);
        let chars = &chars[chars.len().saturating_sub(most)..];
        let read: Vec<char> = self.steps.iter().map(|s| s.ch).collect();
        let new = if chars.starts_with(&read) && !read.is_empty() {
            &chars[read.len()..]
        } else {
            self.text.reset_reading();
            self.steps.clear();
            self.last_probs.clear();
            self.last_attention = None;
            chars
        };
        for &ch in new {
            let step = self.text.step(&self.be, ch).await?;
            self.last_probs = step.probs;
            self.last_attention = step.attention;
            self.steps.push(CharStep {
                ch,
                cell: step.cell,
            });
        }
        let attention = self.last_attention.clone().map(|view| {
            let read = &self.steps[self.steps.len().saturating_sub(view.len())..];
            AttentionOut {
                chars: read.iter().map(|s| s.ch).collect(),
                view,
            }
        });
        Ok(TextOut {
            top: top_chars(&self.last_probs, self.text.vocab(), 10),
            // Only what the heatmap shows: copying all MAX_TEXT steps (640
            // floats each) on every keystroke would be work for nothing.
            steps: self.steps[self.steps.len().saturating_sub(SHOWN_STEPS)..].to_vec(),
            attention,
        })
    }

    /// Make the built-in text model `id` the one the pad reads and
    /// training trains: the parked one of that id, else the one `bytes`
    /// holds (its shipped file). The current one is parked. A run of the
    /// text model ends.
    fn switch_text(&mut self, bytes: &[u8], id: &str) -> Result<()> {
        let id_of = |m: &CharModel<B>| builtin_of(m.spec(), m.vocab());
        if id_of(&self.text) == id {
            return Ok(());
        }
        let next = match self.parked.iter().position(|m| id_of(m) == id) {
            Some(i) => self.parked.swap_remove(i),
            None => CharModel::from_safetensors(&self.be, bytes)?,
        };
        self.parked.push(std::mem::replace(&mut self.text, next));
        self.text.reset_reading();
        self.steps.clear();
        self.last_probs.clear();
        self.last_attention = None;
        self.text_run = None;
        Ok(())
    }

    async fn generate(
        &mut self,
        prompt: &str,
        length: usize,
        s: Sampling,
        seed: u64,
    ) -> Result<String> {
        // generate starts from zero state: what was read is gone.
        self.steps.clear();
        self.last_attention = None;
        self.text.generate(&self.be, prompt, length, s, seed).await
    }

    /// The current drawing on the plain-loop CPU twins, for `verify`.
    async fn verify(&mut self, input: &[f32], probs: &[f32]) -> Result<f32> {
        let bytes = self.digits.to_safetensors(&self.be).await?;
        let mut twin = Classifier::from_safetensors(&CpuBackend, &bytes)?;
        let reference = twin.predict(&CpuBackend, input).await?;
        Ok(reference
            .iter()
            .zip(probs)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f32::max))
    }

    /// Replace one model from a weights file; which one is told by the file
    /// (a vocabulary in its metadata means the text model). A run of the
    /// replaced model ends: its optimizer belongs to the old weights. On any
    /// problem the current model and run stay.
    async fn load(&mut self, bytes: &[u8]) -> Result<WeightsKind> {
        if is_text_file(bytes)? {
            self.text = CharModel::from_safetensors(&self.be, bytes)?;
            self.text_run = None;
            self.steps.clear();
            self.last_attention = None;
            Ok(WeightsKind::Text)
        } else {
            self.digits = Classifier::from_drawable_file(&self.be, bytes)?;
            self.digit_run = None;
            Ok(WeightsKind::Digits)
        }
    }

    async fn save(&mut self, kind: WeightsKind) -> Result<Vec<u8>> {
        match kind {
            WeightsKind::Digits => self.digits.to_safetensors(&self.be).await,
            WeightsKind::Text => self.text.to_safetensors(&self.be).await,
            WeightsKind::Own => {
                self.own
                    .as_ref()
                    .ok_or_else(no_own)?
                    .to_safetensors(&self.be)
                    .await
            }
        }
    }

    /// A new run of one's own classes, with a new model: transfer borrows
    /// (and freezes) the digit network's convolutions from `s.digits`.
    fn start_own(&mut self, s: OwnStart) -> Result<usize> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.cfg.seed);
        let digits = Classifier::from_drawable_file(&self.be, &s.digits)?;
        let model = own::own_classifier(&self.be, s.start, s.classes, &digits, &mut rng)?;
        let mut run = DigitRun::new(s.train, s.cfg, model.classes().len())?;
        if s.start == Start::Transfer {
            run.freeze(&TRANSFERRED);
        }
        let total = run.total_steps();
        self.own = Some(model);
        self.own_run = Some(run);
        Ok(total)
    }

    async fn own_step(&mut self) -> Result<DigitProgress> {
        let (Some(run), Some(model)) = (self.own_run.as_mut(), self.own.as_mut()) else {
            return Err(no_run());
        };
        let stats = run.step(&self.be, model).await?;
        Ok(DigitProgress {
            stats,
            step: run.step,
            epoch: run.epoch,
            total_steps: run.total_steps(),
            finished: run.finished(),
        })
    }

    /// Class probabilities of the own model for `images` ([n * 784]).
    async fn predict_own(&mut self, images: &[f32]) -> Result<Vec<f32>> {
        let model = self.own.as_mut().ok_or_else(no_own)?;
        model.predict(&self.be, images).await
    }

    /// The own model from a file (kept in the browser), checked as any.
    fn load_own(&mut self, bytes: &[u8]) -> Result<Vec<String>> {
        let model = Classifier::from_drawable_file(&self.be, bytes)?;
        let classes = model.classes().to_vec();
        self.own = Some(model);
        self.own_run = None;
        Ok(classes)
    }

    /// A new digit run on `train`; the digit model starts from `init`.
    /// Nothing changes when the settings or the weights are refused.
    fn start_digits(&mut self, init: &Init, train: Dataset, cfg: DigitRunConfig) -> Result<usize> {
        let model = match init {
            Init::Random => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
                let spec = self.digits.spec().clone();
                let classes = self.digits.classes().to_vec();
                Some(Classifier::init(&self.be, &spec, classes, &mut rng)?)
            }
            Init::Current => None,
            Init::File(bytes) => Some(Classifier::from_drawable_file(&self.be, bytes)?),
        };
        let trained = model.as_ref().unwrap_or(&self.digits);
        if !trained.is_digits() {
            return Err(Error::Input {
                what: "training",
                problem: format!(
                    "this model's classes are {:?}: MNIST trains the digits 0 to 9",
                    trained.classes()
                ),
            });
        }
        let run = DigitRun::new(train, cfg, trained.classes().len())?;
        if let Some(model) = model {
            self.digits = model;
        }
        let total = run.total_steps();
        self.digit_run = Some(run);
        Ok(total)
    }

    /// One step of the digit run; `poison` first writes a NaN into the
    /// output layer's bias, as a diverging learning rate would (the page's
    /// `?nan-at-step` drill, so the recovery can be seen and tested).
    async fn digit_step(
        &mut self,
        poison: bool,
        trace: bool,
    ) -> Result<(DigitProgress, Option<Rc<TracedStep>>)> {
        let run = self.digit_run.as_mut().ok_or_else(no_run)?;
        if poison {
            let bias = &mut self.digits.output_bias_mut().value;
            let classes = bias.len();
            self.be.write(bias, &vec![f32::NAN; classes])?;
        }
        let (stats, traced) = if trace {
            let names = backprop::shown_weights(&self.digits);
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let (stats, params) = run.step_traced(&self.be, &mut self.digits, &names).await?;
            let labels = run.last_batch().1.to_vec();
            (stats, Some(Rc::new(TracedStep { params, labels })))
        } else {
            (run.step(&self.be, &mut self.digits).await?, None)
        };
        let progress = DigitProgress {
            stats,
            step: run.step,
            epoch: run.epoch,
            total_steps: run.total_steps(),
            finished: run.finished(),
        };
        Ok((progress, traced))
    }

    fn teach(&mut self, image: &[f32], label: u8) -> Result<usize> {
        let run = self.digit_run.as_mut().ok_or_else(no_run)?;
        run.teach(image, label)?;
        Ok(run.taught())
    }

    /// A new text run on `text`. From random weights the vocabulary is the
    /// text's own; the current weights must already know every character.
    fn start_text(&mut self, init: &Init, text: &str, cfg: TextRunConfig) -> Result<TextRunShape> {
        text_run::check_text(text)?;
        let model = match init {
            Init::Random => {
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(cfg.seed);
                let spec = self.text.spec().clone();
                Some(CharModel::init(
                    &self.be,
                    &spec,
                    Vocab::from_text(text),
                    &mut rng,
                )?)
            }
            Init::Current => None,
            Init::File(bytes) => Some(CharModel::from_safetensors(&self.be, bytes)?),
        };
        let run = TextRun::new(model.as_ref().unwrap_or(&self.text), text, cfg)?;
        if let Some(model) = model {
            self.text = model;
        }
        self.text.reset_state();
        self.steps.clear();
        self.last_attention = None;
        let shape = TextRunShape {
            rows: run.rows(),
            chars_per_step: run.chars_per_step(),
            text_chars: run.text_len(),
            vocab: self.text.vocab().len(),
        };
        self.text_run = Some(run);
        Ok(shape)
    }

    async fn text_step(&mut self) -> Result<TextProgress> {
        let run = self.text_run.as_mut().ok_or_else(no_run)?;
        let stats = run.step(&self.be, &mut self.text).await?;
        Ok(TextProgress {
            stats,
            step: run.step,
            epoch: run.epoch,
            finished: run.finished(),
        })
    }
}

fn no_own() -> Error {
    Error::Input {
        what: "own classes",
        problem: "no model yet: train one first".into(),
    }
}

/// Which built-in text model a weights file is of ([`builtin_of`]); None
/// when it is no text model's file.
pub fn builtin_of_file(bytes: &[u8]) -> Option<&'static str> {
    let metadata = weights::read_metadata(bytes).ok()?;
    let vocab = Vocab::from_metadata(metadata.get(crate::nn::char_model::VOCAB_KEY)?).ok()?;
    let spec = weights::network_of(&metadata)
        .ok()?
        .unwrap_or_else(crate::nn::spec::seed_lstm);
    Some(builtin_of(&spec, &vocab))
}

fn no_run() -> Error {
    Error::Input {
        what: "training",
        problem: "no run: press Start first".into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightsKind {
    Digits,
    Text,
    /// The model of a person's own classes.
    Own,
}

impl Engine {
    /// WebGPU when an adapter is found (with its kernels compiled now, so the
    /// first prediction is not slow), else the CPU kernels; the error says
    /// why there is no GPU.
    pub async fn start(digits: &[u8], text: &[u8]) -> Result<(Engine, Option<Error>)> {
        match GpuBackend::new().await {
            Ok(gpu) => {
                gpu.warm_up();
                let mut m = Models::new(gpu, digits, text)?;
                m.warm_up().await?;
                Ok((Engine::Gpu(m), None))
            }
            Err(e) => {
                let mut m = Models::new(FastCpuBackend::default(), digits, text)?;
                m.warm_up().await?;
                Ok((Engine::Cpu(m), Some(e)))
            }
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, Engine::Gpu(_))
    }

    pub fn name(&self) -> String {
        with_models!(self, m => m.be.name())
    }

    pub async fn classify(&mut self, input: &[f32; PIXELS]) -> Result<DigitOut> {
        with_models!(self, m => m.classify(input).await)
    }

    pub async fn digit_net(&mut self) -> Result<DigitNet> {
        with_models!(self, m => m.digit_net().await)
    }

    pub fn text_net(&self) -> TextNet {
        with_models!(self, m => m.text_net())
    }

    pub async fn read_text(&mut self, text: &str) -> Result<TextOut> {
        with_models!(self, m => m.read_text(text).await)
    }

    pub async fn generate(
        &mut self,
        prompt: &str,
        length: usize,
        s: Sampling,
        seed: u64,
    ) -> Result<String> {
        with_models!(self, m => m.generate(prompt, length, s, seed).await)
    }

    /// Every class's saliency map of a drawing (d logit_k / d pixel), from
    /// one batched backward pass and one read-back: the page then shows
    /// any class, gradient x input, or "why a and not b" with
    /// [`Saliencies::get`], without asking again.
    pub async fn saliency(&mut self, input: &[f32; PIXELS]) -> Result<Saliencies> {
        with_models!(self, m => explain::saliency_all(&m.be, &mut m.digits, input).await)
    }

    /// The occlusion map of `class` (None: the class read) under a gray
    /// 4x4 patch every 2 pixels: one batched forward pass, one read-back.
    pub async fn occlusion(
        &mut self,
        input: &[f32; PIXELS],
        class: Option<usize>,
    ) -> Result<Occlusion> {
        with_models!(self, m => {
            explain::occlusion(&m.be, &mut m.digits, input, class, Patch::default()).await
        })
    }

    /// "Make it a `target`": gradient steps on the drawing, within [0, 1],
    /// until the network reads the target (at most 200).
    pub async fn make_it(&mut self, input: &[f32; PIXELS], target: usize) -> Result<MadeIt> {
        with_models!(self, m => {
            explain::make_it(&m.be, &mut m.digits, input, target, MakeIt::default()).await
        })
    }

    /// Which characters of `text` mattered to the next one predicted.
    pub async fn char_influence(&mut self, text: &str) -> Result<CharInfluence> {
        with_models!(self, m => explain::char_influence(&m.be, &mut m.text, text, None).await)
    }

    pub async fn verify(&mut self, input: &[f32; PIXELS], probs: &[f32]) -> Result<f32> {
        with_models!(self, m => m.verify(input, probs).await)
    }

    pub async fn load(&mut self, bytes: &[u8]) -> Result<WeightsKind> {
        with_models!(self, m => m.load(bytes).await)
    }

    /// One self-test case on this engine's GPU; on the CPU there is nothing
    /// to compare with.
    pub async fn self_test(&mut self, op: Op, dims: Dims, seed: u64) -> Result<Comparison> {
        match self {
            Engine::Gpu(m) => selftest::compare(&m.be, &CpuBackend, op, dims, seed).await,
            Engine::Cpu(_) => Err(Error::NoAdapter("the self-test needs a GPU".into())),
        }
    }

    pub async fn save(&mut self, kind: WeightsKind) -> Result<Vec<u8>> {
        with_models!(self, m => m.save(kind).await)
    }

    /// Why this engine's GPU device is gone for good, once it is.
    pub fn lost_reason(&self) -> Option<String> {
        match self {
            Engine::Gpu(m) => m.be.lost_reason(),
            _ => None,
        }
    }

    /// Destroy the GPU device on purpose (the page's `?lose-gpu-at-step`
    /// drill), as a driver reset would.
    pub fn lose_device(&self) {
        if let Engine::Gpu(m) = self {
            m.be.destroy_device();
        }
    }
}

pub type Done<T> = Box<dyn FnOnce(Result<T>)>;

/// A request of the page, with where its answer goes.
pub enum Job {
    /// A drawing; replaces any drawing still waiting.
    Classify(Box<[f32; PIXELS]>, Done<DigitOut>),
    /// Typed text; replaces any text still waiting.
    ReadText(String, Done<TextOut>),
    Generate(String, usize, Sampling, u64, Done<String>),
    /// Switch the text model to the built-in one of this id
    /// (`api::TEXT_MODELS`), from this shipped file unless it is parked.
    SwitchText(Rc<Vec<u8>>, &'static str, Done<()>),
    Verify(Box<[f32; PIXELS]>, Vec<f32>, Done<f32>),
    /// Why this answer (src/nn/explain.rs): every class's saliency map of
    /// a drawing, its occlusion map for a class (None: the one read),
    /// "make it a K", and which characters of a text mattered. Each
    /// replaces a waiting one of its kind.
    Saliency(Box<[f32; PIXELS]>, Done<Saliencies>),
    Occlusion(Box<[f32; PIXELS]>, Option<usize>, Done<Occlusion>),
    MakeIt(Box<[f32; PIXELS]>, usize, Done<MadeIt>),
    CharInfluence(String, Done<CharInfluence>),
    Load(Vec<u8>, Done<WeightsKind>),
    Save(WeightsKind, Done<Vec<u8>>),
    /// The digit model's layers, classes and first filters.
    DigitNet(Done<DigitNet>),
    TextNet(Done<TextNet>),
    /// One kernel self-test case on the engine's GPU against the CPU twins.
    SelfTest(Op, Dims, u64, Done<Comparison>),
    /// A new digit run (answers its total steps), one step of it (true:
    /// poison it, the NaN drill), a taught digit (answers how many so far),
    /// and the end of the run.
    StartDigits(Init, Dataset, DigitRunConfig, Done<usize>),
    /// (poison, trace): a traced step also answers what it did to the
    /// weights the single-step view shows.
    DigitStep(bool, bool, Done<(DigitProgress, Option<Rc<TracedStep>>)>),
    Teach(Box<[f32; PIXELS]>, u8, Done<usize>),
    EndDigits,
    /// Labels, answers and confidences for test images `range`.
    PredictTest(
        Rc<Dataset>,
        std::ops::Range<usize>,
        Done<Vec<(u8, u8, f32)>>,
    ),
    /// Class probabilities of many images at once ([n * 784] in, [n * 10] out).
    PredictMany(Vec<f32>, Done<Vec<f32>>),
    /// A new run of one's own classes (answers its total steps), one step
    /// of it, and its end (`true`: the model goes too).
    StartOwn(Box<OwnStart>, Done<usize>),
    OwnStep(Done<DigitProgress>),
    EndOwn(bool),
    /// The own model's probabilities for many images ([n * 784]).
    PredictOwn(Vec<f32>, Done<Vec<f32>>),
    /// The own pad's drawing; replaces any still waiting.
    ClassifyOwn(Box<[f32; PIXELS]>, Done<Vec<f32>>),
    /// The own model from a file (answers its classes).
    LoadOwn(Vec<u8>, Done<Vec<String>>),
    StartText(Init, Rc<String>, TextRunConfig, Done<TextRunShape>),
    TextStep(Done<TextProgress>),
    EndText,
    /// Destroy the GPU device (the device-loss drill).
    LoseDevice,
    /// The lab's runs, beside the page's models.
    Lab(LabJob),
}

impl Job {
    /// Whether `self` makes a waiting `other` pointless.
    fn replaces(&self, other: &Job) -> bool {
        match (self, other) {
            (Job::Lab(a), Job::Lab(b)) => a.replaces(b),
            _ => matches!(
                (self, other),
                (Job::Classify(..), Job::Classify(..))
                    | (Job::ReadText(..), Job::ReadText(..))
                    | (Job::ClassifyOwn(..), Job::ClassifyOwn(..))
                    | (Job::Saliency(..), Job::Saliency(..))
                    | (Job::Occlusion(..), Job::Occlusion(..))
                    | (Job::MakeIt(..), Job::MakeIt(..))
                    | (Job::CharInfluence(..), Job::CharInfluence(..))
            ),
        }
    }

    /// Work that fills idle time: a person's requests go ahead of it, so
    /// a drawing waits for at most one training step or test chunk.
    fn is_background(&self) -> bool {
        match self {
            Job::Lab(job) => job.is_background(),
            _ => matches!(
                self,
                Job::SelfTest(..)
                    | Job::DigitStep(..)
                    | Job::PredictTest(..)
                    | Job::TextStep(..)
                    | Job::OwnStep(..)
            ),
        }
    }

    async fn run(self, e: &mut Engine) {
        match self {
            Job::Classify(input, done) => done(e.classify(&input).await),
            Job::ReadText(text, done) => done(e.read_text(&text).await),
            Job::Generate(prompt, length, s, seed, done) => {
                done(e.generate(&prompt, length, s, seed).await)
            }
            Job::SwitchText(bytes, id, done) => {
                done(with_models!(e, m => m.switch_text(&bytes, id)))
            }
            Job::Verify(input, probs, done) => done(e.verify(&input, &probs).await),
            Job::Saliency(input, done) => done(e.saliency(&input).await),
            Job::Occlusion(input, class, done) => done(e.occlusion(&input, class).await),
            Job::MakeIt(input, target, done) => done(e.make_it(&input, target).await),
            Job::CharInfluence(text, done) => done(e.char_influence(&text).await),
            Job::Load(bytes, done) => done(e.load(&bytes).await),
            Job::Save(kind, done) => done(e.save(kind).await),
            Job::DigitNet(done) => done(e.digit_net().await),
            Job::TextNet(done) => done(Ok(e.text_net())),
            Job::SelfTest(op, dims, seed, done) => done(e.self_test(op, dims, seed).await),
            Job::StartDigits(init, data, cfg, done) => {
                done(with_models!(e, m => m.start_digits(&init, data, cfg)))
            }
            Job::DigitStep(poison, trace, done) => {
                done(with_models!(e, m => m.digit_step(poison, trace).await))
            }
            Job::Teach(image, label, done) => {
                done(with_models!(e, m => m.teach(&image[..], label)))
            }
            Job::EndDigits => with_models!(e, m => m.digit_run = None),
            Job::PredictTest(data, range, done) => done(with_models!(e, m => {
                mnist::predict_range(&m.be, &mut m.digits, &data, range).await
            })),
            Job::PredictMany(images, done) => {
                done(with_models!(e, m => m.digits.predict(&m.be, &images).await))
            }
            Job::StartText(init, text, cfg, done) => {
                done(with_models!(e, m => m.start_text(&init, &text, cfg)))
            }
            Job::TextStep(done) => done(with_models!(e, m => m.text_step().await)),
            Job::EndText => with_models!(e, m => m.text_run = None),
            Job::StartOwn(start, done) => done(with_models!(e, m => m.start_own(*start))),
            Job::OwnStep(done) => done(with_models!(e, m => m.own_step().await)),
            Job::EndOwn(model_too) => with_models!(e, m => {
                m.own_run = None;
                if model_too {
                    m.own = None;
                }
            }),
            Job::PredictOwn(images, done) => {
                done(with_models!(e, m => m.predict_own(&images).await))
            }
            Job::ClassifyOwn(input, done) => {
                done(with_models!(e, m => m.predict_own(&input[..]).await))
            }
            Job::LoadOwn(bytes, done) => done(with_models!(e, m => m.load_own(&bytes))),
            Job::LoseDevice => e.lose_device(),
            Job::Lab(job) => with_models!(e, m => job.run(&m.be, &mut m.lab).await),
        }
    }
}

/// The weights files the page last knew to be good, by model: what a CPU
/// engine starts from when the GPU device is lost (a lost device cannot be
/// read).
#[derive(Clone, Default)]
pub struct KnownGood {
    pub digits: Rc<Vec<u8>>,
    pub text: Rc<Vec<u8>>,
    /// The own model, once trained and kept.
    pub own: Option<Rc<Vec<u8>>>,
}

/// The engine and its queue; clones share both. Jobs wait until an engine
/// is installed.
#[derive(Clone, Default)]
pub struct Runner {
    engine: Rc<RefCell<Option<Engine>>>,
    queue: Rc<RefCell<VecDeque<Job>>>,
    running: Rc<Cell<bool>>,
    known_good: Rc<RefCell<KnownGood>>,
    /// Told why, when the GPU was lost and the CPU engine took over.
    on_lost: Rc<RefCell<Option<Box<dyn Fn(String)>>>>,
}

impl Runner {
    pub fn install(&self, engine: Engine) {
        *self.engine.borrow_mut() = Some(engine);
        self.kick();
    }

    /// Remember `bytes` as the latest good weights of one model.
    pub fn remember(&self, kind: WeightsKind, bytes: Rc<Vec<u8>>) {
        let mut k = self.known_good.borrow_mut();
        match kind {
            WeightsKind::Digits => k.digits = bytes,
            WeightsKind::Text => k.text = bytes,
            WeightsKind::Own => k.own = Some(bytes),
        }
    }

    pub fn on_device_lost(&self, f: impl Fn(String) + 'static) {
        *self.on_lost.borrow_mut() = Some(Box::new(f));
    }

    /// Queue `job`. A person's requests go ahead of waiting background
    /// work (self-test cases, training steps), which only fills idle time.
    pub fn submit(&self, job: Job) {
        {
            let mut q = self.queue.borrow_mut();
            q.retain(|waiting| !job.replaces(waiting));
            let at = if job.is_background() {
                q.len()
            } else {
                q.iter().position(Job::is_background).unwrap_or(q.len())
            };
            q.insert(at, job);
        }
        self.kick();
    }

    /// Queue the job `make` builds around its answer, and wait for it.
    pub async fn ask<T: 'static>(&self, make: impl FnOnce(Done<T>) -> Job) -> Result<T> {
        let (tx, rx) = futures_channel::oneshot::channel();
        self.submit(make(Box::new(move |r| {
            let _ = tx.send(r);
        })));
        rx.await
            .unwrap_or_else(|_| Err(Error::DeviceLost("the request was dropped".into())))
    }

    fn kick(&self) {
        if self.running.get() || self.engine.borrow().is_none() {
            return;
        }
        self.running.set(true);
        let this = self.clone();
        leptos::task::spawn_local(async move {
            // The engine leaves its cell while jobs run, so no borrow is held
            // across an await; jobs submitted meanwhile join the queue.
            let mut engine = this.engine.borrow_mut().take().expect("checked above");
            loop {
                let job = this.queue.borrow_mut().pop_front();
                match job {
                    Some(job) => job.run(&mut engine).await,
                    None => break,
                }
                if let Some(why) = engine.lost_reason() {
                    engine = this.take_over_on_cpu(engine, why);
                }
            }
            *this.engine.borrow_mut() = Some(engine);
            this.running.set(false);
        });
    }

    /// The CPU engine from the last good weights, in place of a GPU engine
    /// whose device is gone; a run in progress ends (its optimizer state was
    /// on the device).
    fn take_over_on_cpu(&self, lost: Engine, why: String) -> Engine {
        let known = self.known_good.borrow().clone();
        match Models::new(FastCpuBackend::default(), &known.digits, &known.text) {
            Ok(mut m) => {
                if let Some(own) = &known.own {
                    let _ = m.load_own(own);
                }
                if let Some(f) = self.on_lost.borrow().as_ref() {
                    f(format!(
                        "the GPU device was lost ({why}): the page goes on with the CPU kernels, from the last weights kept"
                    ));
                }
                Engine::Cpu(m)
            }
            // Keep the lost engine: its errors then say what happened.
            Err(_) => lost,
        }
    }
}
