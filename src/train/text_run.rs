//! A text model's training run, one step at a time: the page drives it on
//! any text a person gives (within limits), the command line on a whole
//! corpus, both the same way: truncated BPTT over
//! [`Windows`](super::text::Windows), stopping between any two steps, and
//! the last good weights kept when a step diverges.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::adam::Adam;
use super::last_good::LastGood;
use super::text::Windows;
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::char_model::{CharModel, TextStepStats};
use crate::nn::network::Mode;
use crate::shapes::AdamConfig;

/// The most text a run takes, in UTF-8 bytes: a few books' worth, which the
/// page holds twice (the text and its ids) without strain.
pub const MAX_TEXT_BYTES: usize = 4_000_000;
pub const MAX_BATCH: usize = 256;
pub const MAX_WINDOW: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextRunConfig {
    /// Rows read side by side (fewer when the text is short).
    pub batch: usize,
    /// Characters per window: how far back a step's gradient reaches.
    pub window: usize,
    pub lr: f32,
    /// The learning rate is multiplied by this after every pass over the text.
    pub lr_decay: f32,
    /// The learning rate rises linearly from lr / warmup to lr over the
    /// first `warmup` steps (0: from the first step).
    pub warmup: usize,
    /// After the warmup, a cosine from lr down to lr / 10 at the run's last
    /// step (its `max_steps`, or its epochs' windows if fewer).
    pub cosine: bool,
    /// Global gradient-norm clip.
    pub clip: f32,
    /// The run stops after this many steps.
    pub max_steps: usize,
    /// ... or after this many passes over the text, if sooner.
    pub epochs: Option<usize>,
    /// Seeds where the windows fall and the dropout masks.
    pub seed: u64,
}

impl Default for TextRunConfig {
    /// The recipe of the shipped text model (README, issue 4).
    fn default() -> Self {
        Self {
            batch: 32,
            window: 64,
            lr: 2e-3,
            lr_decay: 1.0,
            warmup: 0,
            cosine: false,
            clip: 5.0,
            max_steps: 1000,
            epochs: None,
            seed: 1,
        }
    }
}

impl TextRunConfig {
    pub fn check(&self) -> Result<()> {
        super::check_count("batch size", self.batch, MAX_BATCH)?;
        super::check_count("window", self.window, MAX_WINDOW)?;
        super::check_lr(self.lr)?;
        super::check_decay(self.lr_decay)?;
        if self.epochs == Some(0) {
            return Err(Error::Input {
                what: "epochs",
                problem: "0: use at least 1".into(),
            });
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(Error::Input {
                what: "gradient clip",
                problem: format!("{}: use a number above 0", self.clip),
            });
        }
        if self.max_steps == 0 {
            return Err(Error::Input {
                what: "steps",
                problem: "0: use at least 1".into(),
            });
        }
        Ok(())
    }
}

/// Whether `text` can be trained on at all: not empty, not over
/// [`MAX_TEXT_BYTES`]. Checked before a vocabulary is built from it.
pub fn check_text(text: &str) -> Result<()> {
    let bad = |problem: String| {
        Err(Error::Input {
            what: "training text",
            problem,
        })
    };
    if text.len() > MAX_TEXT_BYTES {
        return bad(format!(
            "{:.1} MB: the page trains on at most {} MB of text; use an excerpt",
            text.len() as f64 / 1e6,
            MAX_TEXT_BYTES / 1_000_000
        ));
    }
    if text.trim().is_empty() {
        return bad("empty: paste some text or pick the State of the Union excerpt".into());
    }
    Ok(())
}

pub struct TextRun<B: Backend> {
    pub cfg: TextRunConfig,
    ids: Vec<u32>,
    windows: Windows,
    /// The next window of the current pass.
    next: usize,
    /// Completed passes over the text.
    pub epoch: usize,
    /// Completed steps.
    pub step: usize,
    opt: Adam<B>,
    /// lr times lr_decay for each pass done; the schedule's peak.
    epoch_lr: f32,
    rng: ChaCha8Rng,
    last_good: LastGood<B>,
    x: Vec<u32>,
    y: Vec<u32>,
}

impl<B: Backend> TextRun<B> {
    /// A run of `model` over `text` (the page's: a person's text, checked by
    /// [`check_text`]). Every character must be in the model's vocabulary: a
    /// model made for another text would learn its unknown symbol instead.
    pub fn new(model: &CharModel<B>, text: &str, cfg: TextRunConfig) -> Result<Self> {
        check_text(text)?;
        let vocab = model.vocab();
        if let Some(c) = text
            .chars()
            .find(|&c| vocab.char_of(vocab.id(c)) != Some(c))
        {
            return Err(Error::Input {
                what: "training text",
                problem: format!(
                    "{c:?} is not in the current model's vocabulary of {} characters: start from random weights, which take the text's own",
                    vocab.len() - 1
                ),
            });
        }
        Self::from_ids(vocab.encode(text), cfg)
    }

    /// A run over text already encoded (the command line's corpus).
    pub fn from_ids(ids: Vec<u32>, cfg: TextRunConfig) -> Result<Self> {
        cfg.check()?;
        let rows = cfg.batch.min((ids.len().saturating_sub(1)) / cfg.window);
        if rows == 0 {
            return Err(Error::Input {
                what: "training text",
                problem: format!(
                    "{} characters: a {}-character window needs at least {}",
                    ids.len(),
                    cfg.window,
                    cfg.window + 1
                ),
            });
        }
        let windows = Windows::new(ids.len(), cfg.window, rows, 0)?;
        Ok(Self {
            cfg,
            ids,
            windows,
            next: 0,
            epoch: 0,
            step: 0,
            opt: Adam::new(AdamConfig {
                lr: cfg.lr,
                ..AdamConfig::default()
            }),
            epoch_lr: cfg.lr,
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            last_good: LastGood::default(),
            x: Vec::new(),
            y: Vec::new(),
        })
    }

    /// Characters predicted per step.
    pub fn chars_per_step(&self) -> usize {
        self.windows.steps * self.windows.batch
    }

    /// Rows read side by side: the batch, or fewer for a short text.
    pub fn rows(&self) -> usize {
        self.windows.batch
    }

    pub fn text_len(&self) -> usize {
        self.ids.len()
    }

    pub fn finished(&self) -> bool {
        self.step >= self.cfg.max_steps || self.cfg.epochs.is_some_and(|e| self.epoch >= e)
    }

    /// Windows in one pass over the text.
    pub fn steps_per_epoch(&self) -> usize {
        self.windows.count()
    }

    /// Whether the last step ended a pass over the text.
    pub fn at_epoch_end(&self) -> bool {
        self.next == self.windows.count()
    }

    /// Steps the run takes in all: its `max_steps`, or its epochs' windows.
    pub fn total_steps(&self) -> usize {
        let epochs = self
            .cfg
            .epochs
            .map_or(usize::MAX, |e| e.saturating_mul(self.windows.count()));
        self.cfg.max_steps.min(epochs)
    }

    /// The learning rate the next step uses: decayed after each pass, and
    /// shaped by the warmup and the cosine when the run has them.
    pub fn lr(&self) -> f32 {
        let step = self.step + 1;
        let warm = self.cfg.warmup;
        let mut f = if step <= warm {
            step as f64 / warm as f64
        } else {
            1.0
        };
        if self.cfg.cosine && step > warm {
            let total = self.total_steps().max(warm + 1);
            let done = ((step - warm) as f64 / (total - warm) as f64).min(1.0);
            f *= 0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * done).cos());
        }
        (self.epoch_lr as f64 * f) as f32
    }

    /// One step on the next window. A pass over the text ends with the state
    /// forgotten and the windows shifted by a random offset, so the next pass
    /// cuts the text elsewhere. On a non-finite loss the weights go back to
    /// the last good ones and the optimizer starts over.
    pub async fn step(&mut self, be: &B, model: &mut CharModel<B>) -> Result<TextStepStats> {
        if self.finished() {
            return Err(Error::Input {
                what: "training",
                problem: format!(
                    "the run has taken its {} steps: reset to start another",
                    self.step
                ),
            });
        }
        if self.next == self.windows.count() {
            let offset = self.rng.random_range(0..self.cfg.window);
            let rows = self.windows.batch;
            self.windows = Windows::new(self.ids.len(), self.cfg.window, rows, offset)
                .or_else(|_| Windows::new(self.ids.len(), self.cfg.window, rows, 0))?;
            self.next = 0;
            model.reset_state();
        }
        self.windows
            .fill(&self.ids, self.next, &mut self.x, &mut self.y);
        let number = self.step + 1;
        self.last_good.keep(be, &model.params_mut(), number)?;
        self.opt.cfg.lr = self.lr();
        let opt = &mut self.opt;
        let (steps, batch) = (self.windows.steps, self.windows.batch);
        let mode = Mode::Train {
            seed: super::mask_seed(self.cfg.seed),
            step: number as u32,
        };
        let stats = model
            .train_step(
                be,
                &self.x,
                &self.y,
                (steps, batch),
                Some(self.cfg.clip),
                mode,
                |be, p| opt.update(be, p),
            )
            .await?;
        if !stats.loss.is_finite() {
            model.reset_state();
            let params = &mut model.params_mut();
            let err = self
                .last_good
                .diverged(be, params, number, stats.loss, &mut self.opt);
            return Err(err);
        }
        self.step = number;
        self.next += 1;
        if self.next == self.windows.count() {
            self.epoch += 1;
            self.epoch_lr *= self.cfg.lr_decay;
        }
        Ok(stats)
    }
}
