//! An image classifier's training run, one step at a time: the page drives
//! it between a person's requests and the command line in a loop, so both
//! train the same way. It can stop between any two steps, take drawings a
//! person labels into its data, and survive a diverging step with the last
//! good weights.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::backprop::ParamStep;
use super::last_good::LastGood;
use crate::backend::Backend;
use crate::data::mnist::Dataset;
use crate::error::{Error, Result};
use crate::nn::classifier::{Classifier, StepStats};
use crate::nn::network::Mode;
use crate::shapes::AdamConfig;

/// The largest batch the page offers: activations of 512 digits take about
/// 100 MB on the device.
pub const MAX_BATCH: usize = 512;
pub const MAX_EPOCHS: usize = 100;

/// The settings of one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DigitRunConfig {
    pub batch: usize,
    pub lr: f32,
    /// The learning rate is multiplied by this after every epoch.
    pub lr_decay: f32,
    pub epochs: usize,
    /// Stop after this many steps, if sooner than the epochs.
    pub max_steps: Option<usize>,
    /// Seeds the batch order and the dropout masks.
    pub seed: u64,
}

impl Default for DigitRunConfig {
    /// DESIGN.md's recipe: Adam at 1e-3, batch 32.
    fn default() -> Self {
        Self {
            batch: 32,
            lr: 1e-3,
            lr_decay: 1.0,
            epochs: 1,
            max_steps: None,
            seed: 1,
        }
    }
}

impl DigitRunConfig {
    /// The settings a run can start with, or which one cannot and why.
    pub fn check(&self) -> Result<()> {
        super::check_count("batch size", self.batch, MAX_BATCH)?;
        super::check_lr(self.lr)?;
        super::check_decay(self.lr_decay)?;
        super::check_count("epochs", self.epochs, MAX_EPOCHS)?;
        if self.max_steps == Some(0) {
            return Err(Error::Input {
                what: "steps",
                problem: "0: use at least 1".into(),
            });
        }
        Ok(())
    }
}

/// One test image the model got wrong.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Mistake {
    /// Index into the test set.
    pub index: usize,
    pub truth: u8,
    pub predicted: u8,
    /// The probability the model gave its (wrong) answer.
    pub confidence: f32,
}

pub struct DigitRun<B: Backend> {
    pub cfg: DigitRunConfig,
    data: Dataset,
    /// The model's classes: every label is below this.
    classes: usize,
    /// Index in `data` of the first digit a person taught; those after it
    /// also go into every batch (see [`Self::teach`]).
    taught_from: usize,
    /// Taught digits put into batches so far, to cycle through them.
    taught_used: usize,
    opt: Adam<B>,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    /// Position in `order` of the next batch.
    cursor: usize,
    /// Completed epochs.
    pub epoch: usize,
    /// Completed steps.
    pub step: usize,
    last_good: LastGood<B>,
    /// The batch's images, as indices into `data`, and as tensors' data.
    indices: Vec<usize>,
    x: Vec<f32>,
    y: Vec<u32>,
    /// Layers whose parameters this run leaves as they are (their names'
    /// prefixes, "conv1."): the optimizer sees only the others.
    frozen: Vec<String>,
}

impl<B: Backend> DigitRun<B> {
    /// A run over `data` for a model of `classes` classes.
    pub fn new(data: Dataset, cfg: DigitRunConfig, classes: usize) -> Result<Self> {
        cfg.check()?;
        if data.is_empty() {
            return Err(Error::Data {
                source_name: "training images".into(),
                problem: "none: nothing to train on".into(),
            });
        }
        if let Some(l) = data.labels.iter().find(|&&l| usize::from(l) >= classes) {
            return Err(Error::Data {
                source_name: "training images".into(),
                problem: format!("a label {l} for a model of {classes} classes"),
            });
        }
        let mut run = Self {
            cfg,
            classes,
            taught_from: data.len(),
            data,
            taught_used: 0,
            opt: Adam::new(AdamConfig {
                lr: cfg.lr,
                ..AdamConfig::default()
            }),
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            order: Vec::new(),
            cursor: 0,
            epoch: 0,
            step: 0,
            last_good: LastGood::default(),
            indices: Vec::new(),
            x: Vec::new(),
            y: Vec::new(),
            frozen: Vec::new(),
        };
        run.shuffle();
        Ok(run)
    }

    /// Train only the layers not named in `layers` (such as "conv1", the
    /// prefix of "conv1.weight" and "conv1.bias"): transfer learning keeps
    /// the convolutions it borrowed. Gradients still flow through the
    /// frozen layers to those before them; only their update is skipped.
    pub fn freeze(&mut self, layers: &[&str]) {
        self.frozen = layers.iter().map(|l| format!("{l}.")).collect();
    }

    /// The layers [`Self::freeze`] left out of training.
    pub fn frozen(&self) -> Vec<&str> {
        self.frozen
            .iter()
            .map(|f| f.trim_end_matches('.'))
            .collect()
    }

    fn shuffle(&mut self) {
        self.order = (0..self.data.len()).collect();
        self.order.shuffle(&mut self.rng);
        self.cursor = 0;
    }

    /// Batches in one pass over the data (the last one may be smaller).
    pub fn steps_per_epoch(&self) -> usize {
        self.data.len().div_ceil(self.cfg.batch)
    }

    /// Steps the whole run takes (it grows a little when digits are taught).
    pub fn total_steps(&self) -> usize {
        let all = self.cfg.epochs * self.steps_per_epoch();
        self.cfg.max_steps.map_or(all, |m| m.min(all))
    }

    pub fn finished(&self) -> bool {
        self.epoch >= self.cfg.epochs || self.cfg.max_steps.is_some_and(|m| self.step >= m)
    }

    /// The learning rate the next step uses (decayed after each epoch).
    pub fn lr(&self) -> f32 {
        self.opt.cfg.lr
    }

    /// Digits a person taught this run.
    pub fn taught(&self) -> usize {
        self.data.len() - self.taught_from
    }

    /// Add a drawn digit (28x28 in 0..1, ink 1) with its label. It joins the
    /// data from the next epoch on, and until then, like every taught digit,
    /// also takes one of the last quarter of each batch's places, so that
    /// its effect shows within a few steps rather than an epoch.
    pub fn teach(&mut self, image: &[f32], label: u8) -> Result<()> {
        let pixels = self.data.rows * self.data.cols;
        if image.len() != pixels || usize::from(label) >= self.classes {
            return Err(Error::Input {
                what: "taught digit",
                problem: format!(
                    "{} pixels labelled {label}: expected {pixels} pixels and a label 0 to {}",
                    image.len(),
                    self.classes - 1
                ),
            });
        }
        self.data.images.extend(
            image
                .iter()
                .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8),
        );
        self.data.labels.push(label);
        Ok(())
    }

    /// The images of the last step's batch, as indices into the run's
    /// data (taught digits past the MNIST ones), and their labels.
    pub fn last_batch(&self) -> (&[usize], &[u32]) {
        (&self.indices, &self.y)
    }

    /// [`Self::step`], then, for the single-step view, what the step did
    /// to the parameters named `params` (a conv2d's or dense layer's weight
    /// or bias: "conv1.weight", "fc2.weight"): the layer's x and dy, the
    /// parameter before and after, the kernel's gradient and Adam's
    /// moments, read back together after the step's own read-back.
    /// [`ParamStep::weight`] then shows any one weight without reading again.
    pub async fn step_traced(
        &mut self,
        be: &B,
        model: &mut Classifier<B>,
        params: &[&str],
    ) -> Result<(StepStats, Vec<ParamStep>)> {
        for name in params {
            super::backprop::locate(model, name)?;
        }
        let stats = self.step(be, model).await?;
        let before = self
            .last_good
            .started_from(self.step)
            .expect("the step kept the weights it started from");
        let traced =
            super::backprop::read_params(be, model, &self.opt, before, stats.batch, params).await?;
        Ok((stats, traced))
    }

    /// One training step on the next batch. On a non-finite loss the run's
    /// weights go back to the last good ones, the optimizer starts over, and
    /// the error says so.
    pub async fn step(&mut self, be: &B, model: &mut Classifier<B>) -> Result<StepStats> {
        if self.finished() {
            return Err(Error::Input {
                what: "training",
                problem: format!(
                    "the run has finished its {} steps: reset to start another",
                    self.step
                ),
            });
        }
        let end = (self.cursor + self.cfg.batch).min(self.order.len());
        self.indices.clear();
        self.indices
            .extend_from_slice(&self.order[self.cursor..end]);
        let taught = self.taught();
        let slots = (self.indices.len() / 4).min(taught);
        for slot in self.indices.iter_mut().rev().take(slots) {
            *slot = self.taught_from + self.taught_used % taught;
            self.taught_used += 1;
        }
        self.data.batch(&self.indices, &mut self.x, &mut self.y);

        let number = self.step + 1;
        self.last_good.keep(be, &model.params_mut(), number)?;
        let (opt, frozen) = (&mut self.opt, &self.frozen);
        let mode = Mode::Train {
            seed: super::mask_seed(self.cfg.seed),
            step: number as u32,
        };
        let stats = model
            .train_step(be, &self.x, &self.y, mode, |be, params| {
                if frozen.is_empty() {
                    return opt.update(be, params);
                }
                let mut trained: Vec<&mut crate::nn::Param<B>> = params
                    .iter_mut()
                    .filter(|p| !frozen.iter().any(|f| p.name.starts_with(f.as_str())))
                    .map(|p| &mut **p)
                    .collect();
                opt.update(be, &mut trained)
            })
            .await?;
        if !stats.loss.is_finite() {
            let params = &mut model.params_mut();
            let err = self
                .last_good
                .diverged(be, params, number, stats.loss, &mut self.opt);
            return Err(err);
        }
        self.step = number;
        self.cursor = end;
        if self.cursor >= self.order.len() {
            self.epoch += 1;
            self.opt.cfg.lr *= self.cfg.lr_decay;
            self.shuffle();
        }
        Ok(stats)
    }
}
