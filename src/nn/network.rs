//! A network built from a spec: its layers, its parameters found by walking
//! them (never listed by hand), and the buffers of one batch shape with the
//! forward and backward passes over them. The image classifier and the
//! character model are thin wrappers that say what goes in and comes out.

use rand::{Rng, SeedableRng};

use super::Param;
use super::conv2d::Conv2d;
use super::dense::{Dense, DenseInit};
use super::embedding::Embedding;
use super::plan::{Plan, Recurrent as RecurrentPlan, Shape};
use super::recurrent::{Masks, Recurrent, RecurrentSeq};
use super::spec::{Activation, LayerKind, NetworkSpec};
use super::transformer::{Transformer, TransformerSeq};
use crate::backend::{Act, Backend, Mask, Tensor};
use crate::cpu::dropout::mix;
use crate::error::{Error, Result};
use crate::weights::NamedTensor;

/// One layer at run time.
pub enum Layer<B: Backend> {
    Conv2d(Conv2d<B>),
    MaxPool2d(usize),
    AvgPool2d(usize),
    /// Free: a dense layer reads any trailing shape as flat.
    Flatten,
    Dense(Dense<B>),
    Dropout(f32),
    Activation(Act),
    /// A softmax activation ending the network: the loss applies it.
    Softmax,
    Embedding(Embedding<B>),
    Recurrent(Recurrent<B>),
    Transformer(Transformer<B>),
}

impl<B: Backend> Layer<B> {
    fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        match self {
            Layer::Conv2d(c) => c.params_mut().into(),
            Layer::Dense(d) => d.params_mut().into(),
            Layer::Embedding(e) => vec![&mut e.weight],
            Layer::Recurrent(r) => r.params_mut(),
            Layer::Transformer(t) => t.params_mut(),
            _ => Vec::new(),
        }
    }

    /// Whether the layer keeps state from one pass to the next (one-step
    /// reading): a recurrent layer's cells, a Transformer's caches.
    fn is_stateful(&self) -> bool {
        matches!(self, Layer::Recurrent(_) | Layer::Transformer(_))
    }

    /// Whether the layer writes a buffer of its own (the others pass their
    /// input on: flatten, and the final softmax the loss applies).
    fn has_output(&self) -> bool {
        !matches!(self, Layer::Flatten | Layer::Softmax)
    }
}

/// How a pass runs: at inference every dropout is off; in training the
/// masks are keyed by the run's seed and the step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Infer,
    Train {
        seed: u32,
        step: u32,
    },
}

/// How far a forward pass goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until<'a> {
    /// To the probabilities.
    Probs,
    /// To the probabilities and the cross-entropy of these labels.
    Loss(&'a [u32]),
    /// Only as far as the last layer with state (recurrent or Transformer):
    /// the state moves on, and nothing is asked of the head (a prompt's
    /// characters before its last).
    State,
}

/// Where a backward pass starts: the gradient it puts on the logits (the
/// last layer's pre-softmax scores).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Seed<'a> {
    /// Training: the mean cross-entropy of the labels of the last forward
    /// pass to [`Until::Loss`], times `scale` (1 / the rows averaged
    /// over, usually): d logits = scale * (probs - onehot(label)), the
    /// fused kernel.
    Loss { scale: f32 },
    /// Explaining: d logits given, [n, outputs] row-major. A one-hot row
    /// e_k gives the gradient of class k's logit; e_a - e_b that of logit
    /// a minus logit b ("why 7 and not 1"); e_k - probs that of log p_k.
    /// The forward pass need only go to [`Until::Probs`].
    Logits(&'a [f32]),
}

/// What a backward pass fills besides the gradients between layers
/// (which [`Acts::grad`] shows afterwards).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grads {
    /// Accumulate every parameter's gradient (training). Off, the
    /// parameters' gradients are left as they are and their kernels do
    /// not run: an explanation between two training steps changes nothing.
    pub params: bool,
    /// d / d images into [`Acts::d_images`] (an image network's saliency).
    pub images: bool,
}

impl Grads {
    /// A training step's: the parameters' gradients.
    pub const PARAMS: Grads = Grads {
        params: true,
        images: false,
    };
    /// An explanation's: the gradient with respect to the input images
    /// (a text network's with respect to its characters' embeddings is
    /// the embedding layer's [`Acts::grad`], filled either way).
    pub const INPUT: Grads = Grads {
        params: false,
        images: true,
    };
}

/// What a layer holds for one batch shape.
enum Slot<B: Backend> {
    None,
    Out(B::Tensor),
    MaxPool(B::Tensor, B::Indices),
    Recurrent(Vec<RecurrentSeq<B>>),
    Transformer(Box<TransformerSeq<B>>),
}

/// The buffers of one batch shape: `rows` sequences of `steps` positions
/// (images: one step), allocated once and reused, so that a training step
/// allocates nothing. The recurrent state carries over between passes.
pub struct Acts<B: Backend> {
    pub steps: usize,
    pub rows: usize,
    /// The images [n, C, H, W] of an image network.
    pub images: Option<B::Tensor>,
    /// The characters [T*b] of a text network, and the same on the host
    /// (a Transformer's decoding keeps what each row read); see [`Acts::set_ids`].
    pub ids: Option<B::Indices>,
    host_ids: Vec<u32>,
    slots: Vec<Slot<B>>,
    /// d loss / d output of each layer with an output (a recurrent layer's
    /// is its top sub-layer's `dh`); made by the first training pass.
    grads: Option<Vec<Option<B::Tensor>>>,
    /// d loss / d images, when a pass asks for it (saliency).
    pub d_images: Option<B::Tensor>,
    /// [n, outputs].
    pub probs: B::Tensor,
    /// Labels and per-row cross-entropy [n], made by the first loss pass.
    loss: Option<(B::Indices, B::Tensor)>,
    /// The last forward pass's mode: its backward pass reuses the masks.
    mode: Mode,
}

impl<B: Backend> Acts<B> {
    /// Rows of every tensor: steps * rows.
    pub fn n(&self) -> usize {
        self.steps * self.rows
    }

    /// Layer i's output [n, ...], if it has its own.
    pub fn output(&self, i: usize) -> Option<&B::Tensor> {
        slot_out(&self.slots[i])
    }

    /// d / d (layer i's output) from the last backward pass [n, ...], if
    /// the layer has an output of its own: all the paths to the seed
    /// summed. A convolution or dense layer with a fused activation holds
    /// the gradient of its pre-activation instead (its backward turns it
    /// in place: the dy its weight gradient is made from); a recurrent
    /// layer, that of its top sub-layer's h at every step, recurrence
    /// included.
    pub fn grad(&self, i: usize) -> Option<&B::Tensor> {
        match &self.slots[i] {
            Slot::Recurrent(s) => s.last().map(|s| &s.dh),
            _ => self.grads.as_ref()?.get(i)?.as_ref(),
        }
    }

    /// The sub-layer states of recurrent layer i.
    pub fn recurrent(&mut self, i: usize) -> Option<&mut [RecurrentSeq<B>]> {
        match &mut self.slots[i] {
            Slot::Recurrent(s) => Some(s),
            _ => None,
        }
    }

    pub fn recurrent_seqs(&self, i: usize) -> Option<&[RecurrentSeq<B>]> {
        match &self.slots[i] {
            Slot::Recurrent(s) => Some(s),
            _ => None,
        }
    }

    /// Every recurrent sub-layer's state, for resets and restarts.
    pub fn seqs_mut(&mut self) -> impl Iterator<Item = &mut RecurrentSeq<B>> {
        self.slots.iter_mut().flat_map(|s| match s {
            Slot::Recurrent(s) => s.as_mut_slice(),
            _ => &mut [],
        })
    }

    pub fn seqs(&self) -> impl Iterator<Item = &RecurrentSeq<B>> {
        self.slots.iter().flat_map(|s| match s {
            Slot::Recurrent(s) => s.as_slice(),
            _ => &[],
        })
    }

    /// The per-row losses of the last loss pass.
    pub fn loss(&self) -> Option<&B::Tensor> {
        self.loss.as_ref().map(|l| &l.1)
    }

    /// Write the characters [T*b] the next pass reads.
    pub fn set_ids(&mut self, be: &B, ids: &[u32]) -> Result<()> {
        let x = self.ids.as_mut().ok_or_else(|| Error::Input {
            what: "network",
            problem: "an image network reads no characters".into(),
        })?;
        be.write_indices(x, ids)?;
        self.host_ids.clear();
        self.host_ids.extend_from_slice(ids);
        Ok(())
    }

    /// The Transformer's state, when the network has one.
    pub fn transformer(&self) -> Option<&TransformerSeq<B>> {
        self.slots.iter().find_map(|s| match s {
            Slot::Transformer(t) => Some(&**t),
            _ => None,
        })
    }

    pub fn transformer_mut(&mut self) -> Option<&mut TransformerSeq<B>> {
        self.slots.iter_mut().find_map(|s| match s {
            Slot::Transformer(t) => Some(&mut **t),
            _ => None,
        })
    }

    /// Forget the carried state: recurrent cells start from zeros and a
    /// Transformer's rows from position 0 at the next pass.
    pub fn reset_state(&mut self) {
        self.seqs_mut().for_each(|s| s.reset());
        if let Some(t) = self.transformer_mut() {
            t.reset();
        }
    }

    /// Start rows `rows` afresh at the next pass while the others go on.
    pub fn restart_rows(&mut self, rows: &[usize]) {
        self.seqs_mut().for_each(|s| s.restart_rows(rows));
        if let Some(t) = self.transformer_mut() {
            t.restart_rows(rows);
        }
    }

    /// Go on with `from`'s rows (one step, fewer rows) as the first rows of
    /// these buffers, each keeping its state.
    pub fn continue_rows(&mut self, be: &B, from: &Acts<B>) -> Result<()> {
        self.seqs_mut()
            .zip(from.seqs())
            .try_for_each(|(n, o)| n.continue_rows(be, o))?;
        if let (Some(t), Some(o)) = (self.transformer_mut(), from.transformer()) {
            t.continue_rows(be, o)?;
        }
        Ok(())
    }
}

fn slot_out<B: Backend>(slot: &Slot<B>) -> Option<&B::Tensor> {
    match slot {
        Slot::Out(t) | Slot::MaxPool(t, _) => Some(t),
        Slot::Recurrent(s) => s.last().map(|s| &s.h_out),
        Slot::Transformer(t) => Some(&t.out),
        Slot::None => None,
    }
}

/// Layer i's output and its gradient, borrowed together.
fn io<'a, B: Backend>(
    slot: &'a mut Slot<B>,
    grad: Option<&'a mut Option<B::Tensor>>,
) -> (Option<&'a B::Tensor>, Option<&'a mut B::Tensor>) {
    match slot {
        Slot::Out(t) | Slot::MaxPool(t, _) => (Some(&*t), grad.and_then(Option::as_mut)),
        Slot::Recurrent(s) => match s.last_mut() {
            Some(top) => (Some(&top.h_out), Some(&mut top.dh)),
            None => (None, None),
        },
        Slot::Transformer(t) => (Some(&t.out), Some(&mut t.dy)),
        Slot::None => (None, None),
    }
}

pub struct Network<B: Backend> {
    spec: NetworkSpec,
    plan: Plan,
    pub layers: Vec<Layer<B>>,
    /// For each layer, the nearest earlier layer with an output: where it
    /// reads from (None: the network's input).
    src: Vec<Option<usize>>,
}

impl<B: Backend> Network<B> {
    /// The network of `spec` with fresh weights: Keras's Glorot uniform for
    /// image networks (as the seed's CNN), PyTorch's defaults for text ones
    /// (as the seed's LSTM twin in PyTorch). Seeded by `rng`, drawn layer by
    /// layer in order.
    pub fn init(
        be: &B,
        spec: &NetworkSpec,
        vocab: Option<usize>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        let plan = Plan::new(spec, vocab)?;
        let text = plan.is_text();
        let mut layers = Vec::with_capacity(plan.layers.len());
        for lp in &plan.layers {
            let prefix = lp.params.first().map(|p| {
                p.name
                    .rsplit_once('.')
                    .map_or(p.name.clone(), |(pre, _)| pre.to_string())
            });
            let name = prefix.as_deref().unwrap_or("");
            layers.push(match &lp.kind {
                LayerKind::Conv2d {
                    filters,
                    kernel,
                    activation,
                } => {
                    let Shape::Maps { c, .. } = lp.input else {
                        unreachable!("the plan gives a convolution maps")
                    };
                    Layer::Conv2d(Conv2d::init(
                        be,
                        rng,
                        name,
                        [*filters, c, *kernel],
                        activation.act(),
                    )?)
                }
                LayerKind::MaxPool2d { size } => Layer::MaxPool2d(*size),
                LayerKind::AvgPool2d { size } => Layer::AvgPool2d(*size),
                LayerKind::Flatten => Layer::Flatten,
                LayerKind::Dense { activation, .. } => {
                    let how = if text {
                        DenseInit::Torch
                    } else {
                        DenseInit::Glorot
                    };
                    let io = [lp.input.size(), lp.output.size()];
                    Layer::Dense(Dense::init(be, rng, name, io, activation.act(), how)?)
                }
                LayerKind::Dropout { rate } => Layer::Dropout(*rate),
                LayerKind::Activation {
                    activation: Activation::Softmax,
                } => Layer::Softmax,
                LayerKind::Activation { activation } => Layer::Activation(activation.act()),
                LayerKind::Embedding { dim } => {
                    let rows = vocab.expect("the plan checked the vocabulary");
                    Layer::Embedding(Embedding::init(be, rng, name, rows, *dim)?)
                }
                LayerKind::Transformer { .. } => {
                    let plan = lp.transformer().expect("a Transformer");
                    let prefix = lp.params[0]
                        .name
                        .strip_suffix("pos.weight")
                        .unwrap_or("")
                        .trim_end_matches('.');
                    Layer::Transformer(Transformer::init(be, rng, prefix, plan)?)
                }
                LayerKind::Rnn { .. } | LayerKind::Gru { .. } | LayerKind::Lstm { .. } => {
                    let RecurrentPlan {
                        cell,
                        input,
                        units,
                        layers,
                        dropout,
                        recurrent_dropout,
                    } = lp.recurrent().expect("a recurrent layer");
                    Layer::Recurrent(Recurrent::init(
                        be,
                        rng,
                        name,
                        cell,
                        [input, units, layers],
                        [dropout, recurrent_dropout],
                    )?)
                }
            });
        }
        let mut src = Vec::with_capacity(layers.len());
        let mut last = None;
        for (i, l) in layers.iter().enumerate() {
            src.push(last);
            if l.has_output() {
                last = Some(i);
            }
        }
        let net = Self {
            spec: spec.clone(),
            plan,
            layers,
            src,
        };
        debug_assert!(
            net.params()
                .iter()
                .map(|p| &p.name)
                .eq(net.plan.params().map(|p| &p.name))
        );
        Ok(net)
    }

    /// The network of `spec` holding `tensors` (as the plan names and
    /// shapes them, in its order: what [`crate::weights::load`] returns).
    pub fn from_tensors(
        be: &B,
        spec: &NetworkSpec,
        vocab: Option<usize>,
        tensors: &[NamedTensor],
    ) -> Result<Self> {
        let mut net = Self::init(
            be,
            spec,
            vocab,
            &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
        )?;
        let params = net.params_mut();
        if params.len() != tensors.len() {
            return Err(Error::WeightsFile(format!(
                "{} tensors for a network of {} parameters",
                tensors.len(),
                params.len()
            )));
        }
        for (p, t) in params.into_iter().zip(tensors) {
            be.write(&mut p.value, &t.data)?;
        }
        Ok(net)
    }

    pub fn spec(&self) -> &NetworkSpec {
        &self.spec
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Every parameter in the plan's order: the weights file's, PyTorch's
    /// state_dict's, and the optimizer's.
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        self.layers.iter_mut().flat_map(Layer::params_mut).collect()
    }

    pub fn params(&self) -> Vec<&Param<B>> {
        self.layers
            .iter()
            .flat_map(|l| -> Vec<&Param<B>> {
                match l {
                    Layer::Conv2d(c) => vec![&c.weight, &c.bias],
                    Layer::Dense(d) => vec![&d.weight, &d.bias],
                    Layer::Embedding(e) => vec![&e.weight],
                    Layer::Recurrent(r) => r.params(),
                    Layer::Transformer(t) => t.params(),
                    _ => Vec::new(),
                }
            })
            .collect()
    }

    /// The weights as tensors with their names, read back in one go.
    pub async fn tensors(&self, be: &B) -> Result<Vec<NamedTensor>> {
        let params = self.params();
        let values: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
        let data = be.read(&values).await?;
        Ok(params
            .iter()
            .zip(data)
            .map(|(p, data)| NamedTensor {
                name: p.name.clone(),
                shape: p.value.shape().to_vec(),
                data,
            })
            .collect())
    }

    /// Fresh buffers for `rows` sequences of `steps` positions (images:
    /// `steps` = 1, `rows` images).
    pub fn acts(&self, be: &B, steps: usize, rows: usize) -> Acts<B> {
        let n = steps * rows;
        let shape_of = |s: Shape| -> Vec<usize> {
            match s {
                Shape::Maps { c, h, w } => vec![n, c, h, w],
                Shape::Flat(k) | Shape::Seq(k) => vec![n, k],
                Shape::Chars => vec![n],
            }
        };
        // Elementwise layers (dropout, activation) keep the shape of what
        // they read, so that they read and write one shape even past a free
        // flatten.
        let input_shape = shape_of(self.plan.layers[0].input);
        let mut shapes: Vec<Vec<usize>> = Vec::with_capacity(self.layers.len());
        for (i, (l, lp)) in self.layers.iter().zip(&self.plan.layers).enumerate() {
            let shape = match l {
                Layer::Dropout(_) | Layer::Activation(_) => match self.src[i] {
                    Some(j) => shapes[j].clone(),
                    None => input_shape.clone(),
                },
                _ => shape_of(lp.output),
            };
            shapes.push(shape);
        }
        let slots = self
            .layers
            .iter()
            .zip(&shapes)
            .map(|(l, shape)| match l {
                Layer::Flatten | Layer::Softmax => Slot::None,
                Layer::MaxPool2d(_) => {
                    let len = shape.iter().product();
                    Slot::MaxPool(be.zeros(shape), be.indices(&vec![0; len]))
                }
                Layer::Recurrent(r) => Slot::Recurrent(r.seqs(be, steps, rows)),
                Layer::Transformer(t) => Slot::Transformer(Box::new(t.seq(be, steps, rows))),
                _ => Slot::Out(be.zeros(shape)),
            })
            .collect();
        let (images, ids) = match self.plan.layers[0].input {
            Shape::Chars => (None, Some(be.indices(&vec![0; n]))),
            _ => (Some(be.zeros(&input_shape)), None),
        };
        Acts {
            steps,
            rows,
            images,
            ids,
            host_ids: Vec::new(),
            slots,
            grads: None,
            d_images: None,
            probs: be.zeros(&[n, self.plan.outputs]),
            loss: None,
            mode: Mode::Infer,
        }
    }

    /// The dropout mask of layer `i`'s use `k` < 64 (0 a dropout layer;
    /// 2l + 1 and 2l + 2 sub-layer l's input and recurrent masks; 3b + 1 ..=
    /// 3b + 3 a Transformer block b's, see [`Transformer::forward`]) in
    /// `mode`.
    fn mask(mode: Mode, i: usize, k: usize, rate: f32) -> Mask {
        match mode {
            Mode::Train { seed, step } if rate > 0.0 => Mask {
                seed: mix(seed ^ mix((i * 64 + k) as u32 + 1)),
                step,
                rate,
            },
            _ => Mask::NONE,
        }
    }

    fn transformer_masks(t: &Transformer<B>, mode: Mode, i: usize) -> Vec<Mask> {
        (0..3 * t.plan.blocks)
            .map(|k| Self::mask(mode, i, k + 1, t.plan.dropout))
            .collect()
    }

    fn recurrent_masks(r: &Recurrent<B>, mode: Mode, i: usize) -> Vec<Masks> {
        (0..r.subs.len())
            .map(|l| Masks {
                input: Self::mask(mode, i, 2 * l + 1, r.dropout),
                recurrent: Self::mask(mode, i, 2 * l + 2, r.recurrent_dropout),
            })
            .collect()
    }

    /// The first recurrent layer, whose cells the page shows.
    pub fn first_recurrent(&self) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| matches!(l, Layer::Recurrent(_)))
    }

    /// The Transformer layer, whose attention the page shows.
    pub fn transformer(&self) -> Option<usize> {
        self.layers
            .iter()
            .position(|l| matches!(l, Layer::Transformer(_)))
    }

    /// A Transformer's context, when the network has one: the longest
    /// window it reads.
    pub fn context(&self) -> Option<usize> {
        self.layers.iter().find_map(|l| match l {
            Layer::Transformer(t) => Some(t.plan.context),
            _ => None,
        })
    }

    fn last_stateful(&self) -> Option<usize> {
        self.layers.iter().rposition(Layer::is_stateful)
    }

    /// Record the forward pass over the input already in `a` (its `images`
    /// or `ids`), as far as `until` says.
    pub fn forward(&self, be: &B, a: &mut Acts<B>, mode: Mode, until: Until<'_>) -> Result<()> {
        a.mode = mode;
        let end = match until {
            Until::State => self.last_stateful().map_or(0, |i| i + 1),
            _ => self.layers.len(),
        };
        for i in 0..end {
            let (before, rest) = a.slots.split_at_mut(i);
            let x = match self.src[i] {
                Some(j) => slot_out(&before[j]),
                None => a.images.as_ref(),
            };
            let slot = &mut rest[0];
            let need = || Error::Input {
                what: "network",
                problem: format!("layer {i} has no input"),
            };
            match (&self.layers[i], slot) {
                (Layer::Embedding(e), Slot::Out(y)) => {
                    let ids = a.ids.as_ref().ok_or_else(need)?;
                    e.forward(be, ids, y)?;
                }
                (Layer::Conv2d(c), Slot::Out(y)) => c.forward(be, x.ok_or_else(need)?, y)?,
                (Layer::Dense(d), Slot::Out(y)) => d.forward(be, x.ok_or_else(need)?, y)?,
                (Layer::MaxPool2d(s), Slot::MaxPool(y, arg)) => {
                    be.max_pool2d_forward(x.ok_or_else(need)?, y, arg, *s)?
                }
                (Layer::AvgPool2d(s), Slot::Out(y)) => {
                    be.avg_pool2d_forward(x.ok_or_else(need)?, y, *s)?
                }
                (Layer::Dropout(rate), Slot::Out(y)) => {
                    let m = Self::mask(mode, i, 0, *rate);
                    be.dropout_forward(x.ok_or_else(need)?, y, m, y.len())?
                }
                (Layer::Activation(act), Slot::Out(y)) => {
                    be.activation_forward(*act, x.ok_or_else(need)?, y)?
                }
                (Layer::Recurrent(r), Slot::Recurrent(seqs)) => r.forward(
                    be,
                    x.ok_or_else(need)?,
                    seqs,
                    &Self::recurrent_masks(r, mode, i),
                )?,
                (Layer::Transformer(t), Slot::Transformer(seq)) => {
                    let masks = Self::transformer_masks(t, mode, i);
                    t.forward(be, x.ok_or_else(need)?, seq, &a.host_ids, &masks)?
                }
                (Layer::Flatten | Layer::Softmax, Slot::None) => {}
                _ => unreachable!("slots are made from the layers"),
            }
        }
        if until == Until::State {
            return Ok(());
        }
        let logits =
            slot_out(&a.slots[self.logits_layer()]).expect("the logits' layer has an output");
        match until {
            Until::Loss(labels) => {
                let n = a.n();
                let (ids, loss) = a
                    .loss
                    .get_or_insert_with(|| (be.indices(&vec![0; n]), be.zeros(&[n])));
                be.write_indices(ids, labels)?;
                be.softmax_xent_forward(logits, ids, &mut a.probs, loss)
            }
            _ => be.softmax_forward(logits, &mut a.probs),
        }
    }

    /// The logits (pre-softmax scores) [n, outputs] of the last forward
    /// pass over `a`.
    pub fn logits<'a>(&self, a: &'a Acts<B>) -> &'a B::Tensor {
        a.output(self.logits_layer())
            .expect("the logits' layer has an output")
    }

    /// What layer `i` read in the last pass over `a`: the output of the
    /// nearest earlier layer with one, or the images (None for a text
    /// network's first layer, which reads ids).
    pub fn input_of<'a>(&self, a: &'a Acts<B>, i: usize) -> Option<&'a B::Tensor> {
        match self.src[i] {
            Some(j) => a.output(j),
            None => a.images.as_ref(),
        }
    }

    /// The layer holding the parameter named `name` ("conv1.weight").
    pub fn layer_of(&self, name: &str) -> Option<usize> {
        self.layers.iter().position(|l| match l {
            Layer::Conv2d(c) => c.weight.name == name || c.bias.name == name,
            Layer::Dense(d) => d.weight.name == name || d.bias.name == name,
            Layer::Embedding(e) => e.weight.name == name,
            Layer::Recurrent(r) => r.params().iter().any(|p| p.name == name),
            _ => false,
        })
    }

    /// The last layer with an output: the one that writes the logits.
    fn logits_layer(&self) -> usize {
        let last = self.layers.len() - 1;
        if self.layers[last].has_output() {
            last
        } else {
            self.src[last].expect("a network ends in a layer with an output")
        }
    }

    /// After a forward pass over `a`: the gradient `seed` puts on the
    /// logits, back through every layer (the same masks as the forward
    /// pass), accumulated into the parameters' gradients when
    /// `grads.params` (the caller zeroes them), and written into
    /// `a.d_images` when `grads.images`.
    pub fn backward(
        &mut self,
        be: &B,
        a: &mut Acts<B>,
        seed: Seed<'_>,
        grads: Grads,
    ) -> Result<()> {
        let mode = a.mode;
        let (params, d_images) = (grads.params, grads.images);
        if a.grads.is_none() {
            a.grads = Some(
                a.slots
                    .iter()
                    .map(|s| match s {
                        Slot::Out(t) | Slot::MaxPool(t, _) => Some(be.zeros(t.shape())),
                        _ => None,
                    })
                    .collect(),
            );
        }
        if d_images && a.d_images.is_none() {
            a.d_images = a.images.as_ref().map(|x| be.zeros(x.shape()));
        }
        let grads = a.grads.as_mut().expect("made above");
        for g in grads.iter_mut().flatten() {
            be.fill_zero(g);
        }
        // A recurrent layer's output gradient is its top sub-layer's dh,
        // which the layer above adds into.
        for slot in &mut a.slots {
            match slot {
                Slot::Recurrent(seqs) => seqs.iter_mut().for_each(|s| be.fill_zero(&mut s.dh)),
                Slot::Transformer(t) => be.fill_zero(&mut t.dy),
                _ => {}
            }
        }
        if let Some(d) = &mut a.d_images {
            be.fill_zero(d);
        }
        let last = self.logits_layer();
        {
            let (_, d_logits) = io(&mut a.slots[last], Some(&mut grads[last]));
            let d_logits = d_logits.expect("the logits have a gradient");
            match seed {
                Seed::Loss { scale } => {
                    let (labels, _) = a.loss.as_ref().ok_or_else(|| Error::Input {
                        what: "training",
                        problem: "backward needs a forward pass to the loss first".into(),
                    })?;
                    be.softmax_xent_backward(&a.probs, labels, d_logits, scale)?;
                }
                Seed::Logits(d) => {
                    if d.len() != d_logits.len() {
                        return Err(Error::Input {
                            what: "logit gradient",
                            problem: format!(
                                "{} values for {} rows of {} logits",
                                d.len(),
                                a.probs.shape()[0],
                                self.plan.outputs
                            ),
                        });
                    }
                    // Overwrites the zeros above, after them (a GPU write
                    // submits the work recorded before it).
                    be.write(d_logits, d)?;
                }
            }
        }
        for i in (0..self.layers.len()).rev() {
            if !self.layers[i].has_output() {
                continue;
            }
            let (before, rest) = a.slots.split_at_mut(i);
            let (grads_before, grads_rest) = grads.split_at_mut(i);
            let (x, d_x) = match self.src[i] {
                Some(j) => io(&mut before[j], Some(&mut grads_before[j])),
                None => (
                    a.images.as_ref(),
                    if d_images { a.d_images.as_mut() } else { None },
                ),
            };
            let slot = &mut rest[0];
            let grad = &mut grads_rest[0];
            match (&mut self.layers[i], slot) {
                (Layer::Recurrent(r), Slot::Recurrent(seqs)) => {
                    let masks = Self::recurrent_masks(r, mode, i);
                    let x = x.expect("a recurrent layer reads an earlier layer");
                    r.backward(be, x, seqs, &masks, d_x, params)?;
                }
                (Layer::Transformer(t), Slot::Transformer(seq)) => {
                    let masks = Self::transformer_masks(t, mode, i);
                    t.backward(be, seq, d_x, &masks)?
                }
                (Layer::Embedding(e), Slot::Out(_)) => {
                    if params {
                        let ids = a.ids.as_ref().expect("a text network reads ids");
                        e.backward(be, ids, grad.as_ref().expect("made above"))?;
                    }
                }
                (Layer::MaxPool2d(s), Slot::MaxPool(_, arg)) => {
                    if let Some(d_x) = d_x {
                        be.max_pool2d_backward(grad.as_ref().expect("made above"), arg, d_x, *s)?;
                    }
                }
                (layer, slot) => {
                    let (y, dy) = io(slot, Some(grad));
                    let (y, dy) = (y.expect("an output"), dy.expect("a gradient"));
                    match layer {
                        Layer::Conv2d(c) => {
                            c.backward(be, x.expect("an input"), y, dy, d_x, params)?
                        }
                        Layer::Dense(d) => {
                            d.backward(be, x.expect("an input"), y, dy, d_x, params)?
                        }
                        Layer::AvgPool2d(s) => {
                            if let Some(d_x) = d_x {
                                be.avg_pool2d_backward(dy, d_x, *s)?;
                            }
                        }
                        Layer::Dropout(rate) => {
                            if let Some(d_x) = d_x {
                                let m = Self::mask(mode, i, 0, *rate);
                                be.dropout_backward(dy, d_x, m, dy.len())?;
                            }
                        }
                        Layer::Activation(act) => {
                            be.activation_backward(*act, y, dy)?;
                            if let Some(d_x) = d_x {
                                be.copy_slice(dy, 0, d_x, 0, dy.len())?;
                            }
                        }
                        _ => unreachable!("handled above or without an output"),
                    }
                }
            }
        }
        Ok(())
    }
}
