//! A character language model: any network whose input is characters and
//! whose answer is one probability per character of its vocabulary, such
//! as the seed's Embedding(vocab, 64) -> LSTM(128) -> Dense(vocab, softmax).
//! It is trained to predict the next character at every position of a
//! window (many-to-many) with truncated BPTT; at inference the state
//! carries from one character to the next, so each keystroke costs one step.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};

use super::Param;
use super::network::{Acts, Grads, Mode, Network, Seed, Until};
use super::spec::{self, NETWORK_KEY, NetworkSpec};
use super::verse::Verse;
use crate::backend::Backend;
use crate::data::corpus::Vocab;
use crate::error::{Error, Result};
use crate::shapes::Cell;
use crate::weights::{self, Expected};

/// The metadata key of the vocabulary in a weights file.
pub const VOCAB_KEY: &str = "vocab";

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

/// What the first recurrent layer's top cell did at one character.
#[derive(Clone, Debug, PartialEq)]
pub struct CellView {
    pub cell: Cell,
    /// What the step keeps per unit: the LSTM's gates i, f, g, o; the GRU's
    /// r, z, n and its recurrent n part; nothing for the RNN [kept * H].
    pub gates: Vec<f32>,
    /// The new state [H]: the LSTM's cell c, the GRU's and the RNN's h.
    pub state: Vec<f32>,
}

/// Where a Transformer's last character looked: each block's and head's
/// attention weights over the characters of its context.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionView {
    /// [blocks][heads][len]: the weights over the last `len` characters
    /// read, oldest first; the last is the character itself. They sum to 1.
    pub weights: Vec<Vec<Vec<f32>>>,
}

impl AttentionView {
    /// Characters the weights cover.
    pub fn len(&self) -> usize {
        self.weights
            .first()
            .and_then(|b| b.first())
            .map_or(0, Vec::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One character's step, seen from inside.
#[derive(Clone, Debug, PartialEq)]
pub struct TextStep {
    /// Probabilities of the next character [vocab].
    pub probs: Vec<f32>,
    /// None when the network has no recurrent layer.
    pub cell: Option<CellView>,
    /// None when the network has no Transformer.
    pub attention: Option<AttentionView>,
}

/// How `generate` picks each next character.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
    /// Divides the log-probabilities: below 1 sharper, above 1 flatter.
    pub temperature: f32,
    /// Sample among the `top_k` likeliest characters only; 0 for all.
    pub top_k: usize,
    /// Write lines of this many characters with ，and 。 in their places
    /// (a poem's form, [`Verse`]); None: whatever the model writes.
    pub line_chars: Option<usize>,
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
        if let Some(n) = self.line_chars {
            Verse::new(n)?;
        }
        Ok(())
    }

    /// The form of [`Sampling::line_chars`] after `prompt`, checked against
    /// `vocab`; None when there is none.
    pub fn verse(&self, vocab: &Vocab, prompt: &str) -> Result<Option<Verse>> {
        self.line_chars
            .map(|n| {
                let v = Verse::new(n)?;
                v.check_vocab(vocab)?;
                Ok(v.after(prompt))
            })
            .transpose()
    }
}

/// Whether `id` may be sampled: a character (the unknown symbol stands for
/// none), and one the form allows when there is one.
pub fn may_sample(vocab: &Vocab, verse: Option<&Verse>, id: u32) -> bool {
    vocab
        .char_of(id)
        .is_some_and(|c| verse.is_none_or(|v| v.allows(c)))
}

pub struct CharModel<B: Backend> {
    vocab: Vocab,
    net: Network<B>,
    /// The buffers, and the carried state, of each sequence shape used.
    runs: Vec<Acts<B>>,
    /// One sum of squares per parameter gradient, for clipping.
    grad_sums: B::Tensor,
}

impl<B: Backend> CharModel<B> {
    /// Fresh weights for `spec` (a text network) over `vocab`.
    pub fn init(be: &B, spec: &NetworkSpec, vocab: Vocab, rng: &mut impl Rng) -> Result<Self> {
        if !spec.is_text() {
            return Err(Error::Input {
                what: "network",
                problem: "it reads images: a text model's input is \"chars\"".into(),
            });
        }
        let net = Network::init(be, spec, Some(vocab.len()), rng)?;
        Ok(Self::with(be, net, vocab))
    }

    /// The seed LSTM over `vocab`, fresh weights.
    pub fn seed_lstm(be: &B, vocab: Vocab, rng: &mut impl Rng) -> Result<Self> {
        Self::init(be, &spec::seed_lstm(), vocab, rng)
    }

    fn with(be: &B, net: Network<B>, vocab: Vocab) -> Self {
        let count = net.plan().params().count();
        Self {
            vocab,
            net,
            runs: Vec::new(),
            grad_sums: be.zeros(&[count]),
        }
    }

    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    pub fn net(&self) -> &Network<B> {
        &self.net
    }

    /// The network, for passes over buffers of its own (explanations).
    pub(crate) fn net_mut(&mut self) -> &mut Network<B> {
        &mut self.net
    }

    pub fn spec(&self) -> &NetworkSpec {
        self.net.spec()
    }

    /// The Transformer's heads (0 for a network without one).
    pub fn heads(&self) -> usize {
        self.net
            .plan()
            .layers
            .iter()
            .find_map(|l| l.transformer())
            .map_or(0, |t| t.heads)
    }

    /// The longest window the network reads in one pass: a Transformer's
    /// context (None: any, a recurrent network carries its state).
    pub fn context(&self) -> Option<usize> {
        self.net.context()
    }

    /// Every parameter, in the plan's order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        self.net.params_mut()
    }

    pub fn params(&self) -> Vec<&Param<B>> {
        self.net.params()
    }

    /// Take the buffers of shape (steps, batch) out of the cache, or make them.
    fn take_run(&mut self, be: &B, steps: usize, batch: usize) -> Acts<B> {
        match self
            .runs
            .iter()
            .position(|r| r.steps == steps && r.rows == batch)
        {
            Some(i) => self.runs.swap_remove(i),
            None => self.net.acts(be, steps, batch),
        }
    }

    /// Forget the carried state of every sequence shape: the next window or
    /// character starts from zeros.
    pub fn reset_state(&mut self) {
        for r in &mut self.runs {
            r.reset_state();
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
            .filter(|r| r.steps == 1 && r.rows == rows)
        {
            r.reset_state();
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

    /// Record a pass over `ids` (time-major: position t of row r at
    /// t * batch + r), as far as `until` says.
    fn record(
        &mut self,
        be: &B,
        r: &mut Acts<B>,
        ids: &[u32],
        mode: Mode,
        until: Until<'_>,
    ) -> Result<()> {
        self.refill(be, r)?;
        r.set_ids(be, ids)?;
        self.net.forward(be, r, mode, until)
    }

    /// One-character reading with a Transformer: a row whose context is
    /// full re-reads its last context / 2 characters as one window into its
    /// caches, and goes on from there (see [`super::transformer`]).
    fn refill(&mut self, be: &B, r: &mut Acts<B>) -> Result<()> {
        let full = match r.transformer() {
            Some(t) if t.decoding() => t.full_rows(),
            _ => return Ok(()),
        };
        for (row, ids) in full {
            let mut w = self.take_run(be, ids.len(), 1);
            let out = w
                .set_ids(be, &ids)
                .and_then(|()| self.net.forward(be, &mut w, Mode::Infer, Until::State));
            let out = out.and_then(|()| match (r.transformer_mut(), w.transformer()) {
                (Some(t), Some(window)) => t.refill_row(be, window, row, &ids),
                _ => Ok(()),
            });
            self.runs.push(w);
            out?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn record_train(
        &mut self,
        be: &B,
        r: &mut Acts<B>,
        inputs: &[u32],
        targets: &[u32],
        clip: Option<f32>,
        mode: Mode,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<()> {
        self.record(be, r, inputs, mode, Until::Loss(targets))?;
        for p in self.net.params_mut() {
            be.fill_zero(&mut p.grad);
        }
        // Mean over every predicted position.
        self.net.backward(
            be,
            r,
            Seed::Loss {
                scale: 1.0 / inputs.len() as f32,
            },
            Grads::PARAMS,
        )?;
        // Global-norm clipping as torch's clip_grad_norm_; the sums of
        // squares stay in grad_sums for the step's report.
        let mut params = self.net.params_mut();
        for (slot, p) in params.iter().enumerate() {
            be.sum_squares(&p.grad, &mut self.grad_sums, slot)?;
        }
        if let Some(max) = clip {
            for p in &mut params {
                be.clip_by_norm(&self.grad_sums, max, &mut p.grad)?;
            }
        }
        update(be, &mut params)
    }

    /// One training step on a window of `steps` x `batch` characters
    /// (time-major): forward, loss, back through time, clipping to `clip`
    /// when given, and `update`. The state carries over from the previous
    /// window of the same shape; `mode` keys the dropout masks. One read-back.
    #[allow(clippy::too_many_arguments)]
    pub async fn train_step(
        &mut self,
        be: &B,
        inputs: &[u32],
        targets: &[u32],
        (steps, batch): (usize, usize),
        clip: Option<f32>,
        mode: Mode,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<TextStepStats> {
        Self::check_window(inputs, targets, steps, batch)?;
        let mut r = self.take_run(be, steps, batch);
        let out = match self.record_train(be, &mut r, inputs, targets, clip, mode, update) {
            Ok(()) => {
                let loss = r.loss().expect("a loss pass made the losses");
                be.read(&[loss, &self.grad_sums]).await
            }
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
        let out = match self.record(be, &mut r, inputs, Mode::Infer, Until::Loss(targets)) {
            Ok(()) => {
                be.read(&[r.loss().expect("a loss pass made the losses")])
                    .await
            }
            Err(e) => Err(e),
        };
        self.runs.push(r);
        Ok(out?[0].iter().map(|&v| v as f64).sum())
    }

    /// The cross-entropy (nats) of each prediction of one window [T*b],
    /// time-major, read from zero state (nothing carried in or out).
    pub async fn window_losses(
        &mut self,
        be: &B,
        inputs: &[u32],
        targets: &[u32],
        steps: usize,
        batch: usize,
    ) -> Result<Vec<f32>> {
        Self::check_window(inputs, targets, steps, batch)?;
        let mut r = self.take_run(be, steps, batch);
        r.reset_state();
        let out = match self.record(be, &mut r, inputs, Mode::Infer, Until::Loss(targets)) {
            Ok(()) => {
                be.read(&[r.loss().expect("a loss pass made the losses")])
                    .await
            }
            Err(e) => Err(e),
        };
        r.reset_state();
        self.runs.push(r);
        Ok(out?.swap_remove(0))
    }

    /// Feed one character (any; unknown ones become the unknown symbol) and
    /// return the probabilities of the next, [vocab]. The state carries from
    /// the previous call; [`Self::reset_reading`] starts over.
    pub async fn next_probs(&mut self, be: &B, c: char) -> Result<Vec<f32>> {
        Ok(self.feed(be, c, false).await?.probs)
    }

    /// [`Self::next_probs`] plus what the first recurrent layer's top cell
    /// did inside, for the page's heatmap. One read-back.
    pub async fn step(&mut self, be: &B, c: char) -> Result<TextStep> {
        self.feed(be, c, true).await
    }

    /// One step of one character; reads the probabilities, and the cell's
    /// gates and state when `inside`.
    async fn feed(&mut self, be: &B, c: char, inside: bool) -> Result<TextStep> {
        let id = self.vocab.id(c);
        let mut r = self.take_run(be, 1, 1);
        let first = self.net.first_recurrent();
        let out = match self.record(be, &mut r, &[id], Mode::Infer, Until::Probs) {
            Ok(()) => {
                let seq = first
                    .filter(|_| inside)
                    .and_then(|i| r.recurrent_seqs(i))
                    .and_then(|s| s.last());
                let attn = r.transformer().filter(|_| inside);
                let mut wanted = vec![&r.probs];
                if let Some(t) = attn {
                    wanted.extend(t.weights());
                }
                if let Some(s) = seq {
                    wanted.extend(s.gates.as_ref());
                    wanted.push(s.c.as_ref().unwrap_or(&s.h_out));
                }
                be.read(&wanted).await.map(|mut v| {
                    let probs = v.remove(0);
                    let attention = attn.map(|t| {
                        // Weights [1, heads, 1, context] per block; the
                        // character just read sits at position len - 1.
                        let len = t.positions()[0];
                        let blocks: Vec<Vec<f32>> = v.drain(..t.weights().len()).collect();
                        AttentionView {
                            weights: blocks
                                .iter()
                                .map(|w| {
                                    let keys = w.len() / self.heads().max(1);
                                    w.chunks(keys.max(1))
                                        .map(|h| h[..len.min(h.len())].to_vec())
                                        .collect()
                                })
                                .collect(),
                        }
                    });
                    let cell = seq.map(|s| {
                        let state = v.pop().unwrap_or_default();
                        CellView {
                            cell: s.cell,
                            gates: v.pop().unwrap_or_default(),
                            // c holds [c_prev; c_new]: the new state is the second half.
                            state: state[state.len() - s.hidden..].to_vec(),
                        }
                    });
                    TextStep {
                        probs,
                        cell,
                        attention,
                    }
                })
            }
            Err(e) => Err(e),
        };
        self.runs.push(r);
        out
    }

    /// Start rows `rows` of the `width` sequences read side by side from
    /// zero state at the next [`Self::step_rows`]; the others carry on.
    pub fn restart_rows(&mut self, width: usize, rows: &[usize]) {
        if let Some(r) = self
            .runs
            .iter_mut()
            .find(|r| r.steps == 1 && r.rows == width)
        {
            r.restart_rows(rows);
        }
    }

    /// Go on reading `from` sequences side by side as the first rows of
    /// `to` (more rows joining): each keeps its state.
    pub fn widen_rows(&mut self, be: &B, from: usize, to: usize) -> Result<()> {
        let old = self.take_run(be, 1, from);
        let mut new = self.take_run(be, 1, to);
        let out = new.continue_rows(be, &old);
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
        let until = if read { Until::Probs } else { Until::State };
        let out = match self.record(be, &mut r, ids, Mode::Infer, until) {
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
        let mut verse = sampling.verse(&self.vocab, prompt)?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        self.reset_reading();
        let mut probs = Vec::new();
        for c in prompt.chars() {
            probs = self.next_probs(be, c).await?;
        }
        let mut out = String::from(prompt);
        for _ in 0..length {
            let vocab = &self.vocab;
            let id = sample(
                &probs,
                |id| may_sample(vocab, verse.as_ref(), id),
                sampling,
                &mut rng,
            );
            let c = vocab
                .char_of(id)
                .unwrap_or(crate::data::corpus::UNKNOWN_CHAR);
            if let Some(v) = &mut verse {
                v.push(c);
            }
            out.push(c);
            probs = self.next_probs(be, c).await?;
        }
        Ok(out)
    }

    /// A model from a safetensors file: its vocabulary from the metadata
    /// key [`VOCAB_KEY`], its network from [`NETWORK_KEY`] (the seed LSTM
    /// when there is none, so files saved before specs load). The tensors
    /// must fit that vocabulary; every check runs before any weight is used.
    pub fn from_safetensors(be: &B, bytes: &[u8]) -> Result<Self> {
        Self::from_safetensors_as(be, bytes, None)
    }

    /// [`CharModel::from_safetensors`] read as the network `spec` instead
    /// of the metadata's, when given: the same weights under other
    /// settings that have no parameters of their own (a dropout rate), for
    /// a training run that goes on. The tensors must fit it.
    pub fn from_safetensors_as(be: &B, bytes: &[u8], spec: Option<&NetworkSpec>) -> Result<Self> {
        let metadata = weights::read_metadata(bytes)?;
        let text = metadata.get(VOCAB_KEY).ok_or_else(|| {
            Error::WeightsFile(format!(
                "no vocabulary: a text model's file carries its characters in the \
                 metadata key \"{VOCAB_KEY}\" (is this a digit model's file?)"
            ))
        })?;
        let vocab = Vocab::from_metadata(text)
            .map_err(|e| Error::WeightsFile(format!("the vocabulary in the metadata: {e}")))?;
        let spec = match spec {
            Some(spec) => spec.clone(),
            None => weights::network_of(&metadata)?.unwrap_or_else(spec::seed_lstm),
        };
        if !spec.is_text() {
            return Err(Error::WeightsFile(
                "the network in the metadata reads images, but the file has a vocabulary".into(),
            ));
        }
        let plan = super::plan::Plan::new(&spec, Some(vocab.len()))?;
        let expected: Vec<Expected> = plan
            .params()
            .map(|p| Expected {
                name: &p.name,
                shape: &p.shape,
            })
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
        let net = Network::from_tensors(be, &spec, Some(vocab.len()), &loaded.tensors)?;
        Ok(Self::with(be, net, vocab))
    }

    /// The weights as a safetensors file, the vocabulary and the network in
    /// its metadata.
    pub async fn to_safetensors(&self, be: &B) -> Result<Vec<u8>> {
        let tensors = self.net.tensors(be).await?;
        let metadata = BTreeMap::from([
            (VOCAB_KEY.to_string(), self.vocab.to_metadata()),
            (NETWORK_KEY.to_string(), self.spec().to_json()),
        ]);
        weights::save(&tensors, &metadata)
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

/// Draw an id from `probs` reshaped by `sampling`, among the ids `allowed`
/// takes (see [`may_sample`]): the others get no probability, and top-k
/// counts among the rest. When none is allowed, the likeliest of all.
pub fn sample(
    probs: &[f32],
    allowed: impl Fn(u32) -> bool,
    sampling: Sampling,
    rng: &mut impl Rng,
) -> u32 {
    let mut ranked: Vec<(u32, f64)> = probs
        .iter()
        .enumerate()
        .filter(|&(i, _)| allowed(i as u32))
        .map(|(i, &p)| (i as u32, p.max(0.0) as f64))
        .collect();
    if ranked.is_empty() {
        return probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32);
    }
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
