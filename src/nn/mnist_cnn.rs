//! The digit classifier of DESIGN.md:
//! Conv2D(32, 3x3, relu) -> MaxPool(2x2) -> Conv2D(64, 3x3, relu) -> MaxPool(2x2)
//! -> Flatten -> Dense(64, relu) -> Dense(10, softmax).
//! Shapes: 28 -> 26 -> 13 -> 11 -> 5; flatten 5*5*64 = 1600.

use rand::{Rng, SeedableRng};

use super::{Param, conv2d::Conv2d, dense::Dense};
use crate::backend::Backend;
use crate::error::Result;
use crate::shapes::{conv_output_size as conv, pool_output_size as pool};
use crate::weights::{self, Expected, NamedTensor};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
pub const PIXELS: usize = SIDE * SIDE;
pub const CLASSES: usize = 10;

const C1: usize = 32;
const C2: usize = 64;
const HIDDEN: usize = 64;
const S1: usize = conv(SIDE); // 26
const P1: usize = pool(S1); // 13
const S2: usize = conv(P1); // 11
const P2: usize = pool(S2); // 5
pub const FLAT: usize = C2 * P2 * P2; // 1600

/// Parameter names and shapes in state_dict order: what a weights file must hold.
pub const PARAMS: [(&str, &[usize]); 8] = [
    ("conv1.weight", &[C1, 1, 3, 3]),
    ("conv1.bias", &[C1]),
    ("conv2.weight", &[C2, C1, 3, 3]),
    ("conv2.bias", &[C2]),
    ("fc1.weight", &[HIDDEN, FLAT]),
    ("fc1.bias", &[HIDDEN]),
    ("fc2.weight", &[CLASSES, HIDDEN]),
    ("fc2.bias", &[CLASSES]),
];

/// Every intermediate of one batch, allocated once per batch size so that a
/// training step allocates nothing. The gradients come only with the first
/// training step of a size: a batch that is only ever predicted (a drawing,
/// an evaluation chunk) does not hold them.
pub struct Activations<B: Backend> {
    pub batch: usize,
    pub x: B::Tensor,
    pub c1: B::Tensor,
    pub p1: B::Tensor,
    arg1: B::Indices,
    pub c2: B::Tensor,
    pub p2: B::Tensor,
    arg2: B::Indices,
    pub f1: B::Tensor,
    pub logits: B::Tensor,
    pub probs: B::Tensor,
    grads: Option<Grads<B>>,
}

/// What only training needs: labels, losses and the gradients of the
/// intermediates.
struct Grads<B: Backend> {
    labels: B::Indices,
    loss: B::Tensor,
    d_c1: B::Tensor,
    d_p1: B::Tensor,
    d_c2: B::Tensor,
    d_p2: B::Tensor,
    d_f1: B::Tensor,
    d_logits: B::Tensor,
}

impl<B: Backend> Activations<B> {
    fn new(be: &B, n: usize) -> Self {
        Self {
            batch: n,
            x: be.zeros(&[n, 1, SIDE, SIDE]),
            c1: be.zeros(&[n, C1, S1, S1]),
            p1: be.zeros(&[n, C1, P1, P1]),
            arg1: be.indices(&vec![0; n * C1 * P1 * P1]),
            c2: be.zeros(&[n, C2, S2, S2]),
            p2: be.zeros(&[n, C2, P2, P2]),
            arg2: be.indices(&vec![0; n * C2 * P2 * P2]),
            f1: be.zeros(&[n, HIDDEN]),
            logits: be.zeros(&[n, CLASSES]),
            probs: be.zeros(&[n, CLASSES]),
            grads: None,
        }
    }
}

impl<B: Backend> Grads<B> {
    fn new(be: &B, n: usize) -> Self {
        Self {
            labels: be.indices(&vec![0; n]),
            loss: be.zeros(&[n]),
            d_c1: be.zeros(&[n, C1, S1, S1]),
            d_p1: be.zeros(&[n, C1, P1, P1]),
            d_c2: be.zeros(&[n, C2, S2, S2]),
            d_p2: be.zeros(&[n, C2, P2, P2]),
            d_f1: be.zeros(&[n, HIDDEN]),
            d_logits: be.zeros(&[n, CLASSES]),
        }
    }
}

/// Loss and hits of one training batch, read back once per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the batch, in nats.
    pub loss: f32,
    pub correct: usize,
    pub batch: usize,
}

pub struct MnistCnn<B: Backend> {
    pub conv1: Conv2d<B>,
    pub conv2: Conv2d<B>,
    pub fc1: Dense<B>,
    pub fc2: Dense<B>,
    /// Buffers of the batch sizes used lately (the page alternates training
    /// batches, one drawing and evaluation chunks), the latest last.
    acts: Vec<Activations<B>>,
    /// How many batch sizes' buffers are kept at once.
    kept_sizes: usize,
}

/// Batch sizes whose buffers are kept at once unless told otherwise: the
/// page's three (a training batch, one drawing, an evaluation chunk).
const KEPT_BATCH_SIZES: usize = 3;

impl<B: Backend> MnistCnn<B> {
    /// Fresh weights: Glorot uniform, zero biases (as Keras).
    pub fn init(be: &B, rng: &mut impl Rng) -> Result<Self> {
        Ok(Self {
            conv1: Conv2d::init(be, rng, "conv1", 1, C1)?,
            conv2: Conv2d::init(be, rng, "conv2", C1, C2)?,
            fc1: Dense::init(be, rng, "fc1", FLAT, HIDDEN, true)?,
            fc2: Dense::init(be, rng, "fc2", HIDDEN, CLASSES, false)?,
            acts: Vec::new(),
            kept_sizes: KEPT_BATCH_SIZES,
        })
    }

    /// Every parameter, in state_dict order (the order of [`PARAMS`]).
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        let [a, b] = self.conv1.params_mut();
        let [c, d] = self.conv2.params_mut();
        let [e, f] = self.fc1.params_mut();
        let [g, h] = self.fc2.params_mut();
        vec![a, b, c, d, e, f, g, h]
    }

    fn acts_for(&mut self, be: &B, n: usize) -> Activations<B> {
        match self.acts.iter().position(|a| a.batch == n) {
            Some(i) => self.acts.remove(i),
            None => Activations::new(be, n),
        }
    }

    /// Keep the buffers of `sizes` batch sizes at once (at least 1): a
    /// server batching requests into a few fixed sizes keeps them all
    /// rather than allocating again as the sizes alternate.
    pub fn keep_batch_sizes(&mut self, sizes: usize) {
        self.kept_sizes = sizes.max(1);
        while self.acts.len() > self.kept_sizes {
            self.acts.remove(0);
        }
    }

    fn keep_acts(&mut self, a: Activations<B>) {
        if self.acts.len() >= self.kept_sizes {
            self.acts.remove(0);
        }
        self.acts.push(a);
    }

    /// Record the forward pass of `images` ([n, 28, 28] floats in 0..1).
    fn record_forward(&self, be: &B, a: &mut Activations<B>, images: &[f32]) -> Result<()> {
        be.write(&mut a.x, images)?;
        self.conv1.forward(be, &a.x, &mut a.c1)?;
        be.max_pool2d_forward(&a.c1, &mut a.p1, &mut a.arg1)?;
        self.conv2.forward(be, &a.p1, &mut a.c2)?;
        be.max_pool2d_forward(&a.c2, &mut a.p2, &mut a.arg2)?;
        self.fc1.forward(be, &a.p2, &mut a.f1)?;
        self.fc2.forward(be, &a.f1, &mut a.logits)?;
        be.softmax_forward(&a.logits, &mut a.probs)
    }

    /// Class probabilities [n * 10] for `images` ([n, 28, 28] in 0..1).
    pub async fn predict(&mut self, be: &B, images: &[f32]) -> Result<Vec<f32>> {
        Ok(self
            .forward_and_read(be, images, false)
            .await?
            .swap_remove(0))
    }

    /// [`Self::predict`] plus the intermediates the page shows, read back
    /// together (one wait for the GPU): [probs, c1, p1, c2, p2, f1].
    pub async fn predict_inside(&mut self, be: &B, images: &[f32]) -> Result<Vec<Vec<f32>>> {
        self.forward_and_read(be, images, true).await
    }

    /// The forward pass, then one read-back: the probabilities, and every
    /// intermediate when `inside`.
    async fn forward_and_read(
        &mut self,
        be: &B,
        images: &[f32],
        inside: bool,
    ) -> Result<Vec<Vec<f32>>> {
        let n = images.len() / PIXELS;
        let mut a = self.acts_for(be, n);
        let out = match self.record_forward(be, &mut a, images) {
            Ok(()) if inside => {
                be.read(&[&a.probs, &a.c1, &a.p1, &a.c2, &a.p2, &a.f1])
                    .await
            }
            Ok(()) => be.read(&[&a.probs]).await,
            Err(e) => Err(e),
        };
        self.keep_acts(a);
        out
    }

    /// One step of training on a batch: forward, softmax cross-entropy,
    /// backward, and `update` (the optimizer) over the parameters; one read-back.
    pub async fn train_step(
        &mut self,
        be: &B,
        images: &[f32],
        labels: &[u32],
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<StepStats> {
        let n = labels.len();
        let mut a = self.acts_for(be, n);
        let out = self.record_train(be, &mut a, images, labels, update);
        let stats = match out {
            Ok(()) => self.read_stats(be, &a, labels).await,
            Err(e) => Err(e),
        };
        self.keep_acts(a);
        stats
    }

    fn record_train(
        &mut self,
        be: &B,
        a: &mut Activations<B>,
        images: &[f32],
        labels: &[u32],
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<()> {
        let n = labels.len();
        self.record_forward(be, a, images)?;
        let g = a.grads.get_or_insert_with(|| Grads::new(be, n));
        be.write_indices(&mut g.labels, labels)?;
        be.softmax_xent_forward(&a.logits, &g.labels, &mut a.probs, &mut g.loss)?;
        for p in self.params_mut() {
            be.fill_zero(&mut p.grad);
        }
        for d in [
            &mut g.d_c1,
            &mut g.d_p1,
            &mut g.d_c2,
            &mut g.d_p2,
            &mut g.d_f1,
            &mut g.d_logits,
        ] {
            be.fill_zero(d);
        }
        // Mean over the batch: each row's gradient is scaled by 1/n.
        be.softmax_xent_backward(&a.probs, &g.labels, &mut g.d_logits, 1.0 / n as f32)?;
        self.fc2
            .backward(be, &a.f1, &a.logits, &mut g.d_logits, Some(&mut g.d_f1))?;
        self.fc1
            .backward(be, &a.p2, &a.f1, &mut g.d_f1, Some(&mut g.d_p2))?;
        be.max_pool2d_backward(&g.d_p2, &a.arg2, &mut g.d_c2)?;
        self.conv2
            .backward(be, &a.p1, &a.c2, &mut g.d_c2, Some(&mut g.d_p1))?;
        be.max_pool2d_backward(&g.d_p1, &a.arg1, &mut g.d_c1)?;
        self.conv1.backward(be, &a.x, &a.c1, &mut g.d_c1, None)?;
        update(be, &mut self.params_mut())
    }

    async fn read_stats(&self, be: &B, a: &Activations<B>, labels: &[u32]) -> Result<StepStats> {
        let g = a.grads.as_ref().expect("record_train made the gradients");
        let out = be.read(&[&g.loss, &a.probs]).await?;
        let (loss, probs) = (&out[0], &out[1]);
        let correct = probs
            .chunks(CLASSES)
            .zip(labels)
            .filter(|(p, l)| argmax(p) == **l as usize)
            .count();
        Ok(StepStats {
            loss: loss.iter().sum::<f32>() / labels.len() as f32,
            correct,
            batch: labels.len(),
        })
    }
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

impl<B: Backend> MnistCnn<B> {
    /// A model holding the weights of a safetensors file with PyTorch's names
    /// (see [`PARAMS`]). Every tensor is checked before any is used.
    pub fn from_safetensors(be: &B, bytes: &[u8]) -> Result<Self> {
        let expected: Vec<Expected> = PARAMS
            .iter()
            .map(|&(name, shape)| Expected { name, shape })
            .collect();
        let loaded = weights::load(bytes, &expected)?;
        let mut model = Self::init(be, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))?;
        for (p, t) in model.params_mut().into_iter().zip(&loaded.tensors) {
            be.write(&mut p.value, &t.data)?;
        }
        Ok(model)
    }

    /// The weights as a safetensors file with PyTorch's names.
    pub async fn to_safetensors(&mut self, be: &B) -> Result<Vec<u8>> {
        let params = self.params_mut();
        let values: Vec<&B::Tensor> = params.iter().map(|p| &p.value).collect();
        let data = be.read(&values).await?;
        let tensors: Vec<NamedTensor> = PARAMS
            .iter()
            .zip(data)
            .map(|(&(name, shape), data)| NamedTensor {
                name: name.to_string(),
                shape: shape.to_vec(),
                data,
            })
            .collect();
        weights::save(&tensors, &Default::default())
    }
}
