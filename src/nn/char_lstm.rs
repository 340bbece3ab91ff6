//! The character language model of DESIGN.md:
//! Embedding(vocab, 64) -> LSTM(128) -> Dense(vocab, softmax), trained to
//! predict the next character at every position of a window (many-to-many)
//! with truncated BPTT; at inference the state carries from one character to
//! the next, so each keystroke costs one step.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

use super::{
    Param,
    dense::Dense,
    embedding::Embedding,
    init::uniform,
    lstm::{Lstm, LstmSeq},
};
use crate::backend::Backend;
use crate::data::corpus::Vocab;
use crate::error::{Error, Result};
use crate::weights::{self, Expected, NamedTensor};

pub const EMBED: usize = 64;
pub const HIDDEN: usize = 128;
/// The metadata key of the vocabulary in a weights file.
pub const VOCAB_KEY: &str = "vocab";

/// Parameter names and shapes in state_dict order for a vocabulary of
/// `vocab` ids: what a weights file must hold.
pub fn param_shapes(vocab: usize) -> Vec<(&'static str, Vec<usize>)> {
    let g = 4 * HIDDEN;
    vec![
        ("embed.weight", vec![vocab, EMBED]),
        ("lstm.weight_ih_l0", vec![g, EMBED]),
        ("lstm.weight_hh_l0", vec![g, HIDDEN]),
        ("lstm.bias_ih_l0", vec![g]),
        ("lstm.bias_hh_l0", vec![g]),
        ("head.weight", vec![vocab, HIDDEN]),
        ("head.bias", vec![vocab]),
    ]
}

/// The buffers of one sequence shape (`steps` x `batch`), kept between calls
/// so a training step allocates nothing and the LSTM state carries over.
struct Run<B: Backend> {
    seq: LstmSeq<B>,
    ids: B::Indices,
    labels: B::Indices,
    /// Embedded inputs [T*b, EMBED] and their gradient.
    x: B::Tensor,
    dx: B::Tensor,
    /// [T*b, vocab].
    logits: B::Tensor,
    probs: B::Tensor,
    dlogits: B::Tensor,
    /// Per-position cross-entropy [T*b].
    loss: B::Tensor,
}

impl<B: Backend> Run<B> {
    fn new(be: &B, steps: usize, batch: usize, vocab: usize) -> Self {
        let rows = steps * batch;
        Self {
            seq: LstmSeq::new(be, steps, batch, HIDDEN),
            ids: be.indices(&vec![0; rows]),
            labels: be.indices(&vec![0; rows]),
            x: be.zeros(&[rows, EMBED]),
            dx: be.zeros(&[rows, EMBED]),
            logits: be.zeros(&[rows, vocab]),
            probs: be.zeros(&[rows, vocab]),
            dlogits: be.zeros(&[rows, vocab]),
            loss: be.zeros(&[rows]),
        }
    }
}

/// What one training step reports, read back once per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextStepStats {
    /// Mean cross-entropy per predicted character, in nats.
    pub loss: f32,
    /// Global norm of the gradient before clipping.
    pub grad_norm: f32,
    /// Characters predicted in this step (steps * batch).
    pub chars: usize,
}

/// One character's step, seen from inside.
#[derive(Clone, Debug, PartialEq)]
pub struct TextStep {
    /// Probabilities of the next character [vocab].
    pub probs: Vec<f32>,
    /// The activated gates i, f, g, o [4 * HIDDEN].
    pub gates: Vec<f32>,
    /// The new cell state [HIDDEN].
    pub cell: Vec<f32>,
}

/// How `generate` picks each next character.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Divides the log-probabilities: below 1 sharper, above 1 flatter.
    pub temperature: f32,
    /// Sample among the `top_k` likeliest characters only; 0 for all.
    pub top_k: usize,
}

impl Sampling {
    /// The largest temperature accepted; beyond it the text is noise.
    pub const MAX_TEMPERATURE: f32 = 10.0;

    pub fn check(&self) -> Result<()> {
        let t = self.temperature;
        if !(t > 0.0 && t <= Self::MAX_TEMPERATURE) {
            return Err(Error::Input {
                what: "temperature",
                problem: format!(
                    "{t} is outside (0, {}]: use 1 for the model's own \
                     probabilities, less for safer text",
                    Self::MAX_TEMPERATURE
                ),
            });
        }
        Ok(())
    }
}

pub struct CharLstm<B: Backend> {
    vocab: Vocab,
    pub embed: Embedding<B>,
    pub lstm: Lstm<B>,
    pub head: Dense<B>,
    runs: Vec<Run<B>>,
    /// One sum of squares per parameter gradient, for clipping.
    grad_sums: B::Tensor,
}

impl<B: Backend> CharLstm<B> {
    /// Fresh weights with PyTorch's default initialisation.
    pub fn init(be: &B, vocab: Vocab, rng: &mut impl Rng) -> Result<Self> {
        let v = vocab.len();
        let embed = Embedding::init(be, rng, "embed", v, EMBED)?;
        let lstm = Lstm::init(be, rng, "lstm", EMBED, HIDDEN)?;
        // nn.Linear: weight and bias uniform in +-1/sqrt(fan_in).
        let k = 1.0 / (HIDDEN as f32).sqrt();
        let head = Dense {
            weight: Param::new(
                be,
                "head.weight",
                &[v, HIDDEN],
                &uniform(rng, k, v * HIDDEN),
            )?,
            bias: Param::new(be, "head.bias", &[v], &uniform(rng, k, v))?,
            relu: false,
        };
        Ok(Self {
            vocab,
            embed,
            lstm,
            head,
            runs: Vec::new(),
            grad_sums: be.zeros(&[param_shapes(v).len()]),
        })
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Every parameter, in state_dict order (the order of [`param_shapes`]).
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        self.params_and_sums().0
    }

    /// The parameters and, borrowed beside them, the clipping sums.
    fn params_and_sums(&mut self) -> (Vec<&mut Param<B>>, &mut B::Tensor) {
        let [a, b, c, d] = self.lstm.params_mut();
        let [e, f] = self.head.params_mut();
        (
            vec![&mut self.embed.weight, a, b, c, d, e, f],
            &mut self.grad_sums,
        )
    }

    /// Take the buffers of shape (steps, batch) out of the cache, or make them.
    fn take_run(&mut self, be: &B, steps: usize, batch: usize) -> Run<B> {
        match self
            .runs
            .iter()
            .position(|r| r.seq.steps == steps && r.seq.batch == batch)
        {
            Some(i) => self.runs.swap_remove(i),
            None => Run::new(be, steps, batch, self.vocab.len()),
        }
    }

    /// Forget the carried state of every sequence shape: the next window or
    /// character starts from zeros.
    pub fn reset_state(&mut self) {
        for r in &mut self.runs {
            r.seq.reset();
        }
    }

    /// Forget only what one-character reading ([`Self::next_probs`],
    /// [`Self::step`]) carries, so that reading or sampling in the middle of
    /// training leaves the training rows' state alone.
    pub fn reset_reading(&mut self) {
        self.reset_rows(1);
    }

    /// Forget what [`Self::step_rows`] carries for `rows` sequences read
    /// side by side: each row starts from zeros again.
    pub fn reset_rows(&mut self, rows: usize) {
        for r in self
            .runs
            .iter_mut()
            .filter(|r| r.seq.steps == 1 && r.seq.batch == rows)
        {
            r.seq.reset();
        }
    }

    fn check_window(inputs: &[u32], targets: &[u32], steps: usize, batch: usize) -> Result<()> {
        let rows = steps * batch;
        if rows == 0 || inputs.len() != rows || targets.len() != rows {
            return Err(Error::Input {
                what: "text window",
                problem: format!(
                    "{} inputs and {} targets for {steps} steps of {batch} rows",
                    inputs.len(),
                    targets.len()
                ),
            });
        }
        Ok(())
    }

    /// Record the forward pass and the per-position loss of a window.
    /// `inputs` and `targets` are time-major: position t of row r at t * batch + r.
    fn record_forward(
        &self,
        be: &B,
        r: &mut Run<B>,
        inputs: &[u32],
        targets: &[u32],
    ) -> Result<()> {
        be.write_indices(&mut r.ids, inputs)?;
        be.write_indices(&mut r.labels, targets)?;
        self.embed.forward(be, &r.ids, &mut r.x)?;
        self.lstm.forward(be, &r.x, &mut r.seq)?;
        self.head.forward(be, &r.seq.h_out, &mut r.logits)?;
        be.softmax_xent_forward(&r.logits, &r.labels, &mut r.probs, &mut r.loss)
    }

    /// Record one step of reading, without targets or loss: the LSTM's
    /// new state, and the next-character probabilities in `r.probs` when
    /// `probs` (a prompt's characters before its last need only the state).
    fn record_read(&self, be: &B, r: &mut Run<B>, ids: &[u32], probs: bool) -> Result<()> {
        be.write_indices(&mut r.ids, ids)?;
        self.embed.forward(be, &r.ids, &mut r.x)?;
        self.lstm.forward(be, &r.x, &mut r.seq)?;
        if probs {
            self.head.forward(be, &r.seq.h_out, &mut r.logits)?;
            be.softmax_forward(&r.logits, &mut r.probs)?;
        }
        Ok(())
    }

    fn record_train(
        &mut self,
        be: &B,
        r: &mut Run<B>,
        inputs: &[u32],
        targets: &[u32],
        clip: Option<f32>,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<()> {
        self.record_forward(be, r, inputs, targets)?;
        for p in self.params_mut() {
            be.fill_zero(&mut p.grad);
        }
        for g in [&mut r.dlogits, &mut r.seq.dh, &mut r.dx] {
            be.fill_zero(g);
        }
        // Mean over every predicted position.
        let scale = 1.0 / inputs.len() as f32;
        be.softmax_xent_backward(&r.probs, &r.labels, &mut r.dlogits, scale)?;
        self.head.backward(
            be,
            &r.seq.h_out,
            &r.logits,
            &mut r.dlogits,
            Some(&mut r.seq.dh),
        )?;
        self.lstm.backward(be, &r.x, &mut r.seq, Some(&mut r.dx))?;
        self.embed.backward(be, &r.ids, &r.dx)?;
        // Global-norm clipping as torch's clip_grad_norm_; the sums of
        // squares stay in grad_sums for the step's report.
        let (mut params, sums) = self.params_and_sums();
        for (slot, p) in params.iter().enumerate() {
            be.sum_squares(&p.grad, sums, slot)?;
        }
        if let Some(max) = clip {
            for p in &mut params {
                be.clip_by_norm(sums, max, &mut p.grad)?;
            }
        }
        update(be, &mut params)
    }

    /// One training step on a window of `steps` x `batch` characters
    /// (time-major, see [`Self::record_forward`]): forward, loss, back
    /// through time, clipping to `clip` when given, and `update`. The state
    /// carries over from the previous window of the same shape. One read-back.
    #[allow(clippy::too_many_arguments)]
    pub async fn train_step(
        &mut self,
        be: &B,
        inputs: &[u32],
        targets: &[u32],
        steps: usize,
        batch: usize,
        clip: Option<f32>,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<TextStepStats> {
        Self::check_window(inputs, targets, steps, batch)?;
        let mut r = self.take_run(be, steps, batch);
        let out = match self.record_train(be, &mut r, inputs, targets, clip, update) {
            Ok(()) => be.read(&[&r.loss, &self.grad_sums]).await,
            Err(e) => Err(e),
        };
        self.runs.push(r);
        let out = out?;
        Ok(TextStepStats {
            loss: (out[0].iter().map(|&v| v as f64).sum::<f64>() / inputs.len() as f64) as f32,
            grad_norm: out[1].iter().sum::<f32>().sqrt(),
            chars: inputs.len(),
        })
    }

    /// Summed cross-entropy (nats) of predicting `targets` from `inputs`,
    /// one window, no training; the state carries over like `train_step`'s.
    pub async fn eval_window(
        &mut self,
        be: &B,
        inputs: &[u32],
        targets: &[u32],
        steps: usize,
        batch: usize,
    ) -> Result<f64> {
        Self::check_window(inputs, targets, steps, batch)?;
        let mut r = self.take_run(be, steps, batch);
        let out = match self.record_forward(be, &mut r, inputs, targets) {
            Ok(()) => be.read(&[&r.loss]).await,
            Err(e) => Err(e),
        };
        self.runs.push(r);
        Ok(out?[0].iter().map(|&v| v as f64).sum())
    }

    /// Feed one character (any; unknown ones become the unknown symbol) and
    /// return the probabilities of the next, [vocab]. The state carries from
    /// the previous call; [`Self::reset_reading`] starts over.
    pub async fn next_probs(&mut self, be: &B, c: char) -> Result<Vec<f32>> {
        Ok(self.feed(be, c, false).await?.swap_remove(0))
    }

    /// [`Self::next_probs`] plus what the step did inside: its activated
    /// gates and new cell state, for the page's heatmap. One read-back.
    pub async fn step(&mut self, be: &B, c: char) -> Result<TextStep> {
        let [probs, gates, cells]: [Vec<f32>; 3] = self
            .feed(be, c, true)
            .await?
            .try_into()
            .expect("feed reads three tensors when inside");
        // c holds [c_prev; c_new]: the new state is the second half.
        Ok(TextStep {
            probs,
            gates,
            cell: cells[HIDDEN..].to_vec(),
        })
    }

    /// Start rows `rows` of the `width` sequences read side by side from
    /// zero state at the next [`Self::step_rows`]; the others carry on.
    pub fn restart_rows(&mut self, width: usize, rows: &[usize]) {
        if let Some(r) = self
            .runs
            .iter_mut()
            .find(|r| r.seq.steps == 1 && r.seq.batch == width)
        {
            r.seq.restart_rows(rows);
        }
    }

    /// Go on reading `from` sequences side by side as the first rows of
    /// `to` (more rows joining): each keeps its state.
    pub fn widen_rows(&mut self, be: &B, from: usize, to: usize) -> Result<()> {
        let old = self.take_run(be, 1, from);
        let mut new = self.take_run(be, 1, to);
        let out = new.seq.continue_rows(be, &old.seq);
        self.runs.push(old);
        self.runs.push(new);
        out
    }

    /// One character for each of `ids.len()` independent sequences read side
    /// by side (a server's batch of prompts), their state carried from the
    /// previous call with as many rows. Returns the next-character
    /// probabilities [rows * vocab] when `read`; otherwise the step is only
    /// recorded, and a prompt's characters cost no wait for the GPU.
    pub async fn step_rows(&mut self, be: &B, ids: &[u32], read: bool) -> Result<Option<Vec<f32>>> {
        let mut r = self.take_run(be, 1, ids.len());
        let out = match self.record_read(be, &mut r, ids, read) {
            Ok(()) if read => be
                .read(&[&r.probs])
                .await
                .map(|mut v| Some(v.swap_remove(0))),
            Ok(()) => Ok(None),
            Err(e) => Err(e),
        };
        self.runs.push(r);
        out
    }

    /// One step of one character; reads the probabilities, and the gates and
    /// cell states when `inside`.
    async fn feed(&mut self, be: &B, c: char, inside: bool) -> Result<Vec<Vec<f32>>> {
        let id = self.vocab.id(c);
        let mut r = self.take_run(be, 1, 1);
        let out = match self.record_read(be, &mut r, &[id], true) {
            Ok(()) if inside => be.read(&[&r.probs, &r.seq.gates, &r.seq.c]).await,
            Ok(()) => be.read(&[&r.probs]).await,
            Err(e) => Err(e),
        };
        self.runs.push(r);
        out
    }

    /// `prompt` followed by `length` sampled characters. Starts from zero
    /// state; the same seed gives the same text on the same backend.
    pub async fn generate(
        &mut self,
        be: &B,
        prompt: &str,
        length: usize,
        sampling: Sampling,
        seed: u64,
    ) -> Result<String> {
        sampling.check()?;
        if prompt.is_empty() {
            return Err(Error::Input {
                what: "prompt",
                problem: "empty: give at least one character to continue".into(),
            });
        }
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        self.reset_reading();
        let mut probs = Vec::new();
        for c in prompt.chars() {
            probs = self.next_probs(be, c).await?;
        }
        let mut out = String::from(prompt);
        for _ in 0..length {
            let id = sample(&probs, self.vocab.unknown_id(), sampling, &mut rng);
            let c = self
                .vocab
                .char_of(id)
                .unwrap_or(crate::data::corpus::UNKNOWN_CHAR);
            out.push(c);
            probs = self.next_probs(be, c).await?;
        }
        Ok(out)
    }
}

/// The `k` likeliest next characters of `probs` [vocab], likeliest first;
/// the unknown symbol is no character and is left out.
pub fn top_chars(probs: &[f32], vocab: &Vocab, k: usize) -> Vec<(char, f32)> {
    let mut top: Vec<(char, f32)> = probs
        .iter()
        .enumerate()
        .filter_map(|(i, &p)| vocab.char_of(i as u32).map(|c| (c, p)))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(k);
    top
}

/// Draw an id from `probs` reshaped by `sampling`, never `exclude` (the
/// unknown symbol, which stands for no character).
pub fn sample(probs: &[f32], exclude: u32, sampling: Sampling, rng: &mut impl Rng) -> u32 {
    let mut ranked: Vec<(u32, f64)> = probs
        .iter()
        .enumerate()
        .filter(|&(i, _)| i as u32 != exclude)
        .map(|(i, &p)| (i as u32, p.max(0.0) as f64))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    if sampling.top_k > 0 {
        ranked.truncate(sampling.top_k);
    }
    // p^(1/T), renormalised: softmax(log p / T).
    let inv_t = 1.0 / sampling.temperature as f64;
    let weights: Vec<f64> = ranked.iter().map(|&(_, p)| p.powf(inv_t)).collect();
    let total: f64 = weights.iter().sum();
    if !(total > 0.0 && total.is_finite()) {
        return ranked[0].0;
    }
    let mut u = rng.random::<f64>() * total;
    for (&(id, _), w) in ranked.iter().zip(&weights) {
        if u < *w {
            return id;
        }
        u -= w;
    }
    ranked[ranked.len() - 1].0
}

impl<B: Backend> CharLstm<B> {
    /// A model from a safetensors file with PyTorch's names whose metadata
    /// holds the vocabulary under [`VOCAB_KEY`]. The tensors must fit that
    /// vocabulary; every check runs before any weight is used.
    pub fn from_safetensors(be: &B, bytes: &[u8]) -> Result<Self> {
        let metadata = weights::read_metadata(bytes)?;
        let text = metadata.get(VOCAB_KEY).ok_or_else(|| {
            Error::WeightsFile(format!(
                "no vocabulary: a text model's file carries its characters in the \
                 metadata key \"{VOCAB_KEY}\" (is this a digit model's file?)"
            ))
        })?;
        let vocab = Vocab::from_metadata(text)
            .map_err(|e| Error::WeightsFile(format!("the vocabulary in the metadata: {e}")))?;
        let shapes = param_shapes(vocab.len());
        let expected: Vec<Expected> = shapes
            .iter()
            .map(|(name, shape)| Expected { name, shape })
            .collect();
        let loaded = weights::load(bytes, &expected).map_err(|e| match e {
            Error::Weights { tensor, problem } if problem.starts_with("shape") => Error::Weights {
                problem: format!(
                    "{problem}: the vocabulary in the file's metadata has {} characters \
                         ({} ids with the unknown symbol), which the tensors do not match",
                    vocab.len() - 1,
                    vocab.len()
                ),
                tensor,
            },
            e => e,
        })?;
        let mut model = Self::init(be, vocab, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
        for (p, t) in model.params_mut().into_iter().zip(&loaded.tensors) {
            be.write(&mut p.value, &t.data)?;
        }
        Ok(model)
    }

    /// The weights as a safetensors file, the vocabulary in its metadata.
    pub async fn to_safetensors(&mut self, be: &B) -> Result<Vec<u8>> {
        let shapes = param_shapes(self.vocab.len());
        let params = self.params_mut();
        let values: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
        let data = be.read(&values).await?;
        let tensors: Vec<NamedTensor> = shapes
            .into_iter()
            .zip(data)
            .map(|((name, shape), data)| NamedTensor {
                name: name.to_string(),
                shape,
                data,
            })
            .collect();
        let metadata = BTreeMap::from([(VOCAB_KEY.to_string(), self.vocab.to_metadata())]);
        weights::save(&tensors, &metadata)
    }
}
