//! Every kernel entry point run on two backends over the same seeded random
//! inputs, outputs compared as |a - b| <= ATOL + RTOL * |b|. The native GPU
//! tests, the in-browser wasm tests and the page's "kernel self-test" all run
//! these same cases: one test body, every backend and every runtime.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::backend::{Act, Backend, KeyRows, Mask, SeqStep};
use crate::error::Result;
use crate::shapes::{AdamConfig, Cell, conv_output_size, pool_output_size};

/// Absolute tolerance. Sums of up to a few thousand f32 products in another
/// order differ by ~1e-5 relative; an indexing bug is off by O(1).
pub const ATOL: f32 = 1e-4;
/// Relative tolerance.
pub const RTOL: f32 = 1e-3;

/// The ops under test, one per WGSL entry point (dense_forward_rows, the
/// few-row path of dense_forward, runs in every dense_forward case of up to
/// eight rows).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Conv2dForward,
    Conv2dBackwardInput,
    Conv2dBackwardWeight,
    Conv2dBackwardBias,
    MaxPool2dForward,
    MaxPool2dBackward,
    AvgPool2dForward,
    AvgPool2dBackward,
    DenseForward,
    DenseBackwardInput,
    DenseBackwardWeight,
    DenseBackwardBias,
    ReluForward,
    ReluBackward,
    SigmoidForward,
    SigmoidBackward,
    TanhForward,
    TanhBackward,
    DropoutForward,
    DropoutBackward,
    EmbeddingForward,
    EmbeddingBackward,
    RnnStepForward,
    RnnStepBackward,
    RnnStepBackwardHidden,
    GruStepForward,
    GruStepBackward,
    GruStepBackwardHidden,
    LstmStepForward,
    LstmStepBackward,
    LstmStepBackwardHidden,
    SoftmaxForward,
    SoftmaxXentForward,
    SoftmaxXentBackward,
    AdamStep,
    SumSquares,
    ClipByNorm,
    CopySlice,
    GeluForward,
    GeluBackward,
    ResidualForward,
    ResidualBackward,
    LayerNormForward,
    LayerNormBackwardInput,
    LayerNormBackwardWeight,
    PositionForward,
    PositionBackward,
    AttentionScoresForward,
    AttentionValuesForward,
    AttentionBackwardScores,
    AttentionBackwardQuery,
    AttentionBackwardKey,
    AttentionBackwardValue,
    AttentionCacheWrite,
}

pub const OPS: [Op; 54] = [
    Op::Conv2dForward,
    Op::Conv2dBackwardInput,
    Op::Conv2dBackwardWeight,
    Op::Conv2dBackwardBias,
    Op::MaxPool2dForward,
    Op::MaxPool2dBackward,
    Op::AvgPool2dForward,
    Op::AvgPool2dBackward,
    Op::DenseForward,
    Op::DenseBackwardInput,
    Op::DenseBackwardWeight,
    Op::DenseBackwardBias,
    Op::ReluForward,
    Op::ReluBackward,
    Op::SigmoidForward,
    Op::SigmoidBackward,
    Op::TanhForward,
    Op::TanhBackward,
    Op::DropoutForward,
    Op::DropoutBackward,
    Op::EmbeddingForward,
    Op::EmbeddingBackward,
    Op::RnnStepForward,
    Op::RnnStepBackward,
    Op::RnnStepBackwardHidden,
    Op::GruStepForward,
    Op::GruStepBackward,
    Op::GruStepBackwardHidden,
    Op::LstmStepForward,
    Op::LstmStepBackward,
    Op::LstmStepBackwardHidden,
    Op::SoftmaxForward,
    Op::SoftmaxXentForward,
    Op::SoftmaxXentBackward,
    Op::AdamStep,
    Op::SumSquares,
    Op::ClipByNorm,
    Op::CopySlice,
    Op::GeluForward,
    Op::GeluBackward,
    Op::ResidualForward,
    Op::ResidualBackward,
    Op::LayerNormForward,
    Op::LayerNormBackwardInput,
    Op::LayerNormBackwardWeight,
    Op::PositionForward,
    Op::PositionBackward,
    Op::AttentionScoresForward,
    Op::AttentionValuesForward,
    Op::AttentionBackwardScores,
    Op::AttentionBackwardQuery,
    Op::AttentionBackwardKey,
    Op::AttentionBackwardValue,
    Op::AttentionCacheWrite,
];

impl Op {
    /// The WGSL entry point (and CPU twin) name.
    pub fn entry(self) -> &'static str {
        match self {
            Op::Conv2dForward => "conv2d_forward",
            Op::Conv2dBackwardInput => "conv2d_backward_input",
            Op::Conv2dBackwardWeight => "conv2d_backward_weight",
            Op::Conv2dBackwardBias => "conv2d_backward_bias",
            Op::MaxPool2dForward => "max_pool2d_forward",
            Op::MaxPool2dBackward => "max_pool2d_backward",
            Op::AvgPool2dForward => "avg_pool2d_forward",
            Op::AvgPool2dBackward => "avg_pool2d_backward",
            Op::DenseForward => "dense_forward",
            Op::DenseBackwardInput => "dense_backward_input",
            Op::DenseBackwardWeight => "dense_backward_weight",
            Op::DenseBackwardBias => "dense_backward_bias",
            Op::ReluForward => "relu_forward",
            Op::ReluBackward => "relu_backward",
            Op::SigmoidForward => "sigmoid_forward",
            Op::SigmoidBackward => "sigmoid_backward",
            Op::TanhForward => "tanh_forward",
            Op::TanhBackward => "tanh_backward",
            Op::DropoutForward => "dropout_forward",
            Op::DropoutBackward => "dropout_backward",
            Op::EmbeddingForward => "embedding_forward",
            Op::EmbeddingBackward => "embedding_backward",
            Op::RnnStepForward => "rnn_step_forward",
            Op::RnnStepBackward => "rnn_step_backward",
            Op::RnnStepBackwardHidden => "rnn_step_backward_hidden",
            Op::GruStepForward => "gru_step_forward",
            Op::GruStepBackward => "gru_step_backward",
            Op::GruStepBackwardHidden => "gru_step_backward_hidden",
            Op::LstmStepForward => "lstm_step_forward",
            Op::LstmStepBackward => "lstm_step_backward",
            Op::LstmStepBackwardHidden => "lstm_step_backward_hidden",
            Op::SoftmaxForward => "softmax_forward",
            Op::SoftmaxXentForward => "softmax_xent_forward",
            Op::SoftmaxXentBackward => "softmax_xent_backward",
            Op::AdamStep => "adam_step",
            Op::SumSquares => "sum_squares",
            Op::ClipByNorm => "clip_by_norm",
            Op::CopySlice => "copy_slice",
            Op::GeluForward => "gelu_forward",
            Op::GeluBackward => "gelu_backward",
            Op::ResidualForward => "residual_forward",
            Op::ResidualBackward => "residual_backward",
            Op::LayerNormForward => "layer_norm_forward",
            Op::LayerNormBackwardInput => "layer_norm_backward_input",
            Op::LayerNormBackwardWeight => "layer_norm_backward_weight",
            Op::PositionForward => "position_forward",
            Op::PositionBackward => "position_backward",
            Op::AttentionScoresForward => "attention_scores_forward",
            Op::AttentionValuesForward => "attention_values_forward",
            Op::AttentionBackwardScores => "attention_backward_scores",
            Op::AttentionBackwardQuery => "attention_backward_query",
            Op::AttentionBackwardKey => "attention_backward_key",
            Op::AttentionBackwardValue => "attention_backward_value",
            Op::AttentionCacheWrite => "attention_cache_write",
        }
    }
}

/// Entry points tested under another op's name: the few-row kernel that
/// dense_forward dispatches for batches of up to eight rows.
pub const TESTED_AS: [(&str, Op); 1] = [("dense_forward_rows", Op::DenseForward)];

/// Sizes of one case. Each op reads the fields it needs:
/// conv: x [n, c, h, w], weight [o, c, k, k]; pools: x [n, c, h, w] and
/// `pool` x `pool` windows; dense: x [n, c], weight [o, c]; elementwise and
/// dropout: n * c * h * w values; embedding: n ids into a [o, c] table;
/// recurrent cells: batch n, hidden c, h steps (the op runs at step h / 2),
/// with recurrent dropout when n is odd; softmax: [n, o]; Adam, norms and
/// copies: n * c * h * w values; GELU and residual adds: n * c * h * w
/// values; layer norm: n * h rows of c * w; positions: n rows of h steps,
/// c wide, from a table of h + o positions; attention: n rows of h steps,
/// `pool` heads of c values each (see `attention`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub o: usize,
    pub k: usize,
    pub pool: usize,
}

/// Batch 1, batch 64, odd sizes that are not multiples of any workgroup
/// size or matmul tile, kernels of 1, 2, 3 and 5, windows of 2 and 3, and
/// the seed networks' own layer shapes.
pub const DIMS: [Dims; 5] = [
    Dims {
        n: 1,
        c: 1,
        h: 28,
        w: 28,
        o: 32,
        k: 3,
        pool: 2,
    },
    Dims {
        n: 64,
        c: 3,
        h: 9,
        w: 11,
        o: 5,
        k: 5,
        pool: 3,
    },
    Dims {
        n: 3,
        c: 7,
        h: 5,
        w: 6,
        o: 67,
        k: 2,
        pool: 2,
    },
    Dims {
        n: 2,
        c: 32,
        h: 13,
        w: 13,
        o: 64,
        k: 3,
        pool: 2,
    },
    Dims {
        n: 65,
        c: 130,
        h: 3,
        w: 3,
        o: 129,
        k: 1,
        pool: 3,
    },
];

/// The page's quick check while it loads: batch 1 at conv1's real shape and
/// one odd shape. The tests run all of [`DIMS`].
pub const QUICK_DIMS: [Dims; 2] = [DIMS[0], DIMS[2]];

/// Outcome of one (op, dims) comparison.
#[derive(Clone, Debug)]
pub struct Comparison {
    pub op: Op,
    pub dims: Dims,
    pub values: usize,
    pub max_abs_diff: f32,
    /// First index outside the tolerance, with (a, b) there.
    pub first_bad: Option<(usize, f32, f32)>,
}

impl Comparison {
    pub fn passed(&self) -> bool {
        self.first_bad.is_none()
    }
}

impl std::fmt::Display for Comparison {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?}: {} values, max |diff| {:.3e}",
            self.op.entry(),
            self.dims,
            self.values,
            self.max_abs_diff
        )?;
        if let Some((i, a, b)) = self.first_bad {
            write!(
                f,
                ", first bad index {i}: {a} vs {b} (atol {ATOL}, rtol {RTOL})"
            )?;
        }
        Ok(())
    }
}

/// Run `op` at `dims` on both backends from inputs drawn with `seed`.
pub async fn compare<A: Backend, B: Backend>(
    a: &A,
    b: &B,
    op: Op,
    dims: Dims,
    seed: u64,
) -> Result<Comparison> {
    let ra = run(a, op, dims, seed).await?;
    let rb = run(b, op, dims, seed).await?;
    let (mut max_abs_diff, mut first_bad, mut values) = (0.0f32, None, 0);
    let mut offset = 0;
    for (xa, xb) in ra.iter().zip(&rb) {
        assert_eq!(xa.len(), xb.len(), "{} output lengths", op.entry());
        for (i, (&va, &vb)) in xa.iter().zip(xb).enumerate() {
            let d = (va - vb).abs();
            let bad = !(d <= ATOL + RTOL * vb.abs()) && !(va.is_nan() && vb.is_nan());
            if !d.is_nan() {
                max_abs_diff = max_abs_diff.max(d);
            }
            if bad && first_bad.is_none() {
                first_bad = Some((offset + i, va, vb));
            }
        }
        offset += xa.len();
        values += xa.len();
    }
    Ok(Comparison {
        op,
        dims,
        values,
        max_abs_diff,
        first_bad,
    })
}

/// Every op at every size in `sizes`, each case with its own seed.
pub async fn compare_all<A: Backend, B: Backend>(
    a: &A,
    b: &B,
    sizes: &[Dims],
    seed: u64,
) -> Result<Vec<Comparison>> {
    let mut out = Vec::new();
    for (op, dims, seed) in cases(sizes, seed) {
        out.push(compare(a, b, op, dims, seed).await?);
    }
    Ok(out)
}

/// Every (op, size, seed) that [`compare_all`] runs, in its order, for a
/// caller that runs them one at a time (the page, between a person's requests).
pub fn cases(sizes: &[Dims], seed: u64) -> Vec<(Op, Dims, u64)> {
    let mut out = Vec::new();
    for (k, op) in OPS.into_iter().enumerate() {
        for (j, &dims) in sizes.iter().enumerate() {
            out.push((op, dims, seed + (k * sizes.len() + j) as u64));
        }
    }
    out
}

struct Gen(ChaCha8Rng);

impl Gen {
    /// Uniform in [-1, 1).
    fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len)
            .map(|_| self.0.random::<f32>() * 2.0 - 1.0)
            .collect()
    }
    fn ids(&mut self, len: usize, below: usize) -> Vec<u32> {
        (0..len)
            .map(|_| self.0.random::<u32>() % below as u32)
            .collect()
    }
    fn tensor<B: Backend>(&mut self, b: &B, shape: &[usize]) -> Result<B::Tensor> {
        b.tensor(shape, &self.vec(shape.iter().product()))
    }
}

/// Run one op on one backend; returns every output it writes. Gradient
/// outputs start from random values, so accumulation (+=) is tested too.
async fn run<B: Backend>(be: &B, op: Op, d: Dims, seed: u64) -> Result<Vec<Vec<f32>>> {
    let mut g = Gen(ChaCha8Rng::seed_from_u64(seed));
    let Dims {
        n,
        c,
        h,
        w,
        o,
        k,
        pool,
    } = d;
    let (oh, ow) = (conv_output_size(h, k), conv_output_size(w, k));
    let (ph, pw) = (pool_output_size(h, pool), pool_output_size(w, pool));
    let len = n * c * h * w;
    Ok(match op {
        Op::Conv2dForward
        | Op::Conv2dBackwardInput
        | Op::Conv2dBackwardWeight
        | Op::Conv2dBackwardBias => {
            let x = g.tensor(be, &[n, c, h, w])?;
            let wt = g.tensor(be, &[o, c, k, k])?;
            let bias = g.tensor(be, &[o])?;
            let dy = g.tensor(be, &[n, o, oh, ow])?;
            match op {
                Op::Conv2dForward => {
                    let mut outs = Vec::new();
                    for act in [Act::Linear, Act::Relu, Act::Sigmoid, Act::Tanh] {
                        let mut y = be.zeros(&[n, o, oh, ow]);
                        be.conv2d_forward(&x, &wt, &bias, &mut y, act)?;
                        outs.push(y);
                    }
                    be.read(&outs.iter().collect::<Vec<_>>()).await?
                }
                Op::Conv2dBackwardInput => {
                    let mut dx = g.tensor(be, &[n, c, h, w])?;
                    be.conv2d_backward_input(&dy, &wt, &mut dx)?;
                    be.read(&[&dx]).await?
                }
                Op::Conv2dBackwardWeight => {
                    let mut dw = g.tensor(be, &[o, c, k, k])?;
                    be.conv2d_backward_weight(&x, &dy, &mut dw)?;
                    be.read(&[&dw]).await?
                }
                _ => {
                    let mut db = g.tensor(be, &[o])?;
                    be.conv2d_backward_bias(&dy, &mut db)?;
                    be.read(&[&db]).await?
                }
            }
        }
        Op::MaxPool2dForward | Op::MaxPool2dBackward => {
            let x = g.tensor(be, &[n, c, h, w])?;
            let mut y = be.zeros(&[n, c, ph, pw]);
            let mut arg = be.indices(&vec![0; n * c * ph * pw]);
            be.max_pool2d_forward(&x, &mut y, &mut arg, pool)?;
            if op == Op::MaxPool2dForward {
                let ys = be.read(&[&y]).await?;
                let args = be.read_indices(&arg).await?;
                vec![ys[0].clone(), args.into_iter().map(|i| i as f32).collect()]
            } else {
                let dy = g.tensor(be, &[n, c, ph, pw])?;
                let mut dx = g.tensor(be, &[n, c, h, w])?;
                be.max_pool2d_backward(&dy, &arg, &mut dx, pool)?;
                be.read(&[&dx]).await?
            }
        }
        Op::AvgPool2dForward | Op::AvgPool2dBackward => {
            if op == Op::AvgPool2dForward {
                let x = g.tensor(be, &[n, c, h, w])?;
                let mut y = be.zeros(&[n, c, ph, pw]);
                be.avg_pool2d_forward(&x, &mut y, pool)?;
                be.read(&[&y]).await?
            } else {
                let dy = g.tensor(be, &[n, c, ph, pw])?;
                let mut dx = g.tensor(be, &[n, c, h, w])?;
                be.avg_pool2d_backward(&dy, &mut dx, pool)?;
                be.read(&[&dx]).await?
            }
        }
        Op::DenseForward
        | Op::DenseBackwardInput
        | Op::DenseBackwardWeight
        | Op::DenseBackwardBias => {
            let x = g.tensor(be, &[n, c])?;
            let wt = g.tensor(be, &[o, c])?;
            let bias = g.tensor(be, &[o])?;
            let dy = g.tensor(be, &[n, o])?;
            match op {
                Op::DenseForward => {
                    let mut outs = Vec::new();
                    for act in [Act::Linear, Act::Relu, Act::Sigmoid, Act::Tanh] {
                        let mut y = be.zeros(&[n, o]);
                        be.dense_forward(&x, &wt, &bias, &mut y, act)?;
                        outs.push(y);
                    }
                    // Also an input flattened from [n, c, h] (c * h inputs per
                    // row: several of the few-rows kernel's 64-input chunks).
                    let x3 = g.tensor(be, &[n, c, h])?;
                    let w3 = g.tensor(be, &[o, c * h])?;
                    let mut y3 = be.zeros(&[n, o]);
                    be.dense_forward(&x3, &w3, &bias, &mut y3, Act::Relu)?;
                    outs.push(y3);
                    be.read(&outs.iter().collect::<Vec<_>>()).await?
                }
                Op::DenseBackwardInput => {
                    let mut dx = g.tensor(be, &[n, c])?;
                    be.dense_backward_input(&dy, &wt, &mut dx)?;
                    be.read(&[&dx]).await?
                }
                Op::DenseBackwardWeight => {
                    let mut dw = g.tensor(be, &[o, c])?;
                    be.dense_backward_weight(&x, &dy, &mut dw)?;
                    be.read(&[&dw]).await?
                }
                _ => {
                    let mut db = g.tensor(be, &[o])?;
                    be.dense_backward_bias(&dy, &mut db)?;
                    be.read(&[&db]).await?
                }
            }
        }
        Op::ReluForward
        | Op::ReluBackward
        | Op::SigmoidForward
        | Op::SigmoidBackward
        | Op::TanhForward
        | Op::TanhBackward => {
            // Spread over [-8, 8) so that the sigmoid and tanh saturate somewhere.
            let x: Vec<f32> = g.vec(len).into_iter().map(|v| 8.0 * v).collect();
            let x = be.tensor(&[len], &x)?;
            let act = match op {
                Op::ReluForward | Op::ReluBackward => Act::Relu,
                Op::SigmoidForward | Op::SigmoidBackward => Act::Sigmoid,
                _ => Act::Tanh,
            };
            let mut y = be.zeros(&[len]);
            be.activation_forward(act, &x, &mut y)?;
            match op {
                Op::ReluForward | Op::SigmoidForward | Op::TanhForward => be.read(&[&y]).await?,
                _ => {
                    let mut grad = g.tensor(be, &[len])?;
                    be.activation_backward(act, &y, &mut grad)?;
                    be.read(&[&grad]).await?
                }
            }
        }
        Op::DropoutForward | Op::DropoutBackward => {
            let mask = Mask {
                seed: g.0.random(),
                step: g.0.random_range(1..1000),
                rate: 0.3,
            };
            // One mask per example, repeated over the batch (as a
            // sequence's repeats over time), and one over everything.
            let mut outs = Vec::new();
            for period in [c * h * w, len] {
                let x = g.tensor(be, &[len])?;
                let mut y = g.tensor(be, &[len])?;
                if op == Op::DropoutForward {
                    be.dropout_forward(&x, &mut y, mask, period)?;
                } else {
                    be.dropout_backward(&x, &mut y, mask, period)?;
                }
                outs.push(y);
            }
            be.read(&outs.iter().collect::<Vec<_>>()).await?
        }
        Op::EmbeddingForward | Op::EmbeddingBackward => {
            // Ids run one past the table so that the out-of-range rule is tested too.
            let ids = be.indices(&g.ids(n, o + 1));
            let table = g.tensor(be, &[o, c])?;
            if op == Op::EmbeddingForward {
                let mut y = be.zeros(&[n, c]);
                be.embedding_forward(&ids, &table, &mut y)?;
                be.read(&[&y]).await?
            } else {
                let dy = g.tensor(be, &[n, c])?;
                let mut dt = g.tensor(be, &[o, c])?;
                be.embedding_backward(&ids, &dy, &mut dt)?;
                be.read(&[&dt]).await?
            }
        }
        Op::RnnStepForward
        | Op::RnnStepBackward
        | Op::RnnStepBackwardHidden
        | Op::GruStepForward
        | Op::GruStepBackward
        | Op::GruStepBackwardHidden
        | Op::LstmStepForward
        | Op::LstmStepBackward
        | Op::LstmStepBackwardHidden => recurrent(be, &mut g, op, d).await?,
        Op::SoftmaxForward | Op::SoftmaxXentForward | Op::SoftmaxXentBackward => {
            // Logits spread over [-8, 8) so that some probabilities are tiny.
            let logits: Vec<f32> = g.vec(n * o).into_iter().map(|v| 8.0 * v).collect();
            let logits = be.tensor(&[n, o], &logits)?;
            let labels = be.indices(&g.ids(n, o));
            let mut probs = be.zeros(&[n, o]);
            match op {
                Op::SoftmaxForward => {
                    be.softmax_forward(&logits, &mut probs)?;
                    be.read(&[&probs]).await?
                }
                Op::SoftmaxXentForward => {
                    let mut loss = be.zeros(&[n]);
                    be.softmax_xent_forward(&logits, &labels, &mut probs, &mut loss)?;
                    be.read(&[&probs, &loss]).await?
                }
                _ => {
                    be.softmax_forward(&logits, &mut probs)?;
                    let mut dl = g.tensor(be, &[n, o])?;
                    be.softmax_xent_backward(&probs, &labels, &mut dl, 1.0 / n as f32)?;
                    be.read(&[&dl]).await?
                }
            }
        }
        Op::AdamStep => {
            let mut param = g.tensor(be, &[len])?;
            let grad = g.tensor(be, &[len])?;
            let mut m = g.tensor(be, &[len])?;
            let v: Vec<f32> = g.vec(len).into_iter().map(f32::abs).collect();
            let mut v = be.tensor(&[len], &v)?;
            be.adam_step(&mut param, &grad, &mut m, &mut v, AdamConfig::default(), 1)?;
            let cfg = AdamConfig {
                lr: 0.01,
                ..AdamConfig::default()
            };
            be.adam_step(&mut param, &grad, &mut m, &mut v, cfg, 2)?;
            be.read(&[&param, &m, &v]).await?
        }
        Op::SumSquares | Op::ClipByNorm => {
            let x = g.tensor(be, &[len])?;
            let mut sums = g.tensor(be, &[3])?;
            be.sum_squares(&x, &mut sums, 1)?;
            if op == Op::SumSquares {
                be.read(&[&sums]).await?
            } else {
                // Once with a bound below the norm (scales) and once above it (does not).
                let norm = be.read(&[&sums]).await?[0].iter().sum::<f32>().sqrt();
                let (mut a, mut b) = (g.tensor(be, &[len])?, g.tensor(be, &[len])?);
                be.clip_by_norm(&sums, 0.5 * norm, &mut a)?;
                be.clip_by_norm(&sums, 2.0 * norm + 1.0, &mut b)?;
                be.read(&[&a, &b]).await?
            }
        }
        Op::CopySlice => {
            let src = g.tensor(be, &[len])?;
            let mut dst = g.tensor(be, &[len + o])?;
            be.copy_slice(&src, len / 3, &mut dst, o, len - len / 3)?;
            be.read(&[&dst]).await?
        }
        Op::GeluForward | Op::GeluBackward => {
            let x: Vec<f32> = g.vec(len).into_iter().map(|v| 8.0 * v).collect();
            let x = be.tensor(&[len], &x)?;
            if op == Op::GeluForward {
                let mut y = be.zeros(&[len]);
                be.gelu_forward(&x, &mut y)?;
                be.read(&[&y]).await?
            } else {
                let mut grad = g.tensor(be, &[len])?;
                be.gelu_backward(&x, &mut grad)?;
                be.read(&[&grad]).await?
            }
        }
        Op::ResidualForward | Op::ResidualBackward => {
            let (a, b) = (g.tensor(be, &[len])?, g.tensor(be, &[len])?);
            let mut y = g.tensor(be, &[len])?;
            if op == Op::ResidualForward {
                be.residual_forward(&a, &b, &mut y)?;
            } else {
                be.residual_backward(&a, &mut y)?;
            }
            be.read(&[&y]).await?
        }
        Op::LayerNormForward | Op::LayerNormBackwardInput | Op::LayerNormBackwardWeight => {
            let (rows, dim) = (n * h, c * w);
            // Rows off zero and of unequal spread, as a residual stream is.
            let x: Vec<f32> = g
                .vec(rows * dim)
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let r = (i / dim) as f32;
                    v * (1.0 + 0.3 * (r % 5.0)) + 0.5 * (r % 3.0 - 1.0)
                })
                .collect();
            let x = be.tensor(&[rows, dim], &x)?;
            let (gamma, beta) = (g.tensor(be, &[dim])?, g.tensor(be, &[dim])?);
            let mut y = be.zeros(&[rows, dim]);
            let mut stats = be.zeros(&[rows, 2]);
            be.layer_norm_forward(&x, &gamma, &beta, &mut y, &mut stats, 1e-5)?;
            let dy = g.tensor(be, &[rows, dim])?;
            match op {
                Op::LayerNormForward => be.read(&[&y, &stats]).await?,
                Op::LayerNormBackwardInput => {
                    let mut dx = g.tensor(be, &[rows, dim])?;
                    be.layer_norm_backward_input(&x, &gamma, &stats, &dy, &mut dx)?;
                    be.read(&[&dx]).await?
                }
                _ => {
                    let mut dgamma = g.tensor(be, &[dim])?;
                    be.layer_norm_backward_weight(&x, &stats, &dy, &mut dgamma)?;
                    be.read(&[&dgamma]).await?
                }
            }
        }
        Op::PositionForward | Op::PositionBackward => {
            // Starts run past the table's end, so that rule is tested too.
            let (rows, steps, context) = (n, h, h + o);
            let starts = be.indices(&g.ids(rows, o + 2));
            let table = g.tensor(be, &[context, c])?;
            if op == Op::PositionForward {
                let x = g.tensor(be, &[steps * rows, c])?;
                let mut y = be.zeros(&[steps * rows, c]);
                be.position_forward(&x, &table, &starts, &mut y)?;
                be.read(&[&y]).await?
            } else {
                let dy = g.tensor(be, &[steps * rows, c])?;
                let mut dt = g.tensor(be, &[context, c])?;
                be.position_backward(&dy, &starts, &mut dt)?;
                be.read(&[&dt]).await?
            }
        }
        Op::AttentionScoresForward
        | Op::AttentionValuesForward
        | Op::AttentionBackwardScores
        | Op::AttentionBackwardQuery
        | Op::AttentionBackwardKey
        | Op::AttentionBackwardValue
        | Op::AttentionCacheWrite => attention(be, &mut g, op, d).await?,
    })
}

/// The attention cases: `n` rows of `h` steps, `pool` heads of `c` values.
/// The forward ops run on a training window (keys are the queries' own
/// rows, every row from position 0) and on a decoding cache of h + 1
/// positions read two steps at a time from random starts (some past the
/// cache's end, which caps the position); the backward ops on a window
/// whose rows start at random positions, after the forward ops on the same
/// backend, so their weights are real softmax rows.
async fn attention<B: Backend>(be: &B, g: &mut Gen, op: Op, d: Dims) -> Result<Vec<Vec<f32>>> {
    let Dims {
        n: rows,
        c: head_dim,
        h: steps,
        pool: heads,
        ..
    } = d;
    let dim = heads * head_dim;
    let window = KeyRows::window(rows);
    // q . k over head_dim values: scaled by 1/sqrt(head_dim) already, but
    // spread to [-3, 3) so that some weights are tiny and some near 1.
    let mut wide = |len: usize| -> Vec<f32> { g.vec(len).into_iter().map(|v| 3.0 * v).collect() };
    let qkv = be.tensor(&[steps * rows, 3 * dim], &wide(steps * rows * 3 * dim))?;
    let zero = be.indices(&vec![0; rows]);
    Ok(match op {
        Op::AttentionScoresForward | Op::AttentionValuesForward => {
            let mut w = be.zeros(&[rows, heads, steps, steps]);
            be.attention_scores_forward(&qkv, &qkv, &zero, &mut w, window)?;
            let mut out = be.zeros(&[steps * rows, dim]);
            be.attention_values_forward(&w, &qkv, &zero, &mut out, window)?;
            // Decoding: two query steps against a cache of steps + 1 positions.
            let (tq, tk) = (2.min(steps), steps + 1);
            let q = be.tensor(&[tq * rows, 3 * dim], &wide(tq * rows * 3 * dim))?;
            let cache = be.tensor(&[rows * tk, 3 * dim], &wide(rows * tk * 3 * dim))?;
            let starts = be.indices(&g.ids(rows, tk + 1));
            let mut wc = be.zeros(&[rows, heads, tq, tk]);
            let keys = KeyRows::cache(tk);
            be.attention_scores_forward(&q, &cache, &starts, &mut wc, keys)?;
            let mut oc = be.zeros(&[tq * rows, dim]);
            be.attention_values_forward(&wc, &cache, &starts, &mut oc, keys)?;
            if op == Op::AttentionScoresForward {
                be.read(&[&w, &wc]).await?
            } else {
                be.read(&[&out, &oc]).await?
            }
        }
        Op::AttentionCacheWrite => {
            let (tq, tk) = (2.min(steps), steps + 1);
            let q = g.tensor(be, &[tq * rows, 3 * dim])?;
            let mut cache = g.tensor(be, &[rows * tk, 3 * dim])?;
            let starts = be.indices(&g.ids(rows, tk + 1));
            be.attention_cache_write(&q, &starts, &mut cache)?;
            be.read(&[&cache]).await?
        }
        _ => {
            let starts = be.indices(&g.ids(rows, steps));
            let mut w = be.zeros(&[rows, heads, steps, steps]);
            be.attention_scores_forward(&qkv, &qkv, &starts, &mut w, window)?;
            let dout = g.tensor(be, &[steps * rows, dim])?;
            let mut ds = g.tensor(be, &[rows, heads, steps, steps])?;
            be.attention_backward_scores(&w, &qkv, &starts, &dout, &mut ds)?;
            let mut dqkv = g.tensor(be, &[steps * rows, 3 * dim])?;
            match op {
                Op::AttentionBackwardScores => return be.read(&[&ds]).await,
                Op::AttentionBackwardQuery => {
                    be.attention_backward_query(&ds, &qkv, &starts, &mut dqkv)?
                }
                Op::AttentionBackwardKey => {
                    be.attention_backward_key(&ds, &qkv, &starts, &mut dqkv)?
                }
                _ => be.attention_backward_value(&w, &dout, &starts, &mut dqkv)?,
            }
            be.read(&[&dqkv]).await?
        }
    })
}

/// The recurrent cells' cases: a forward step at timestep h / 2 of h from
/// random state, and the backward ops after it on the same backend.
async fn recurrent<B: Backend>(be: &B, g: &mut Gen, op: Op, d: Dims) -> Result<Vec<Vec<f32>>> {
    let Dims { n, c, h, .. } = d;
    let cell = match op {
        Op::RnnStepForward | Op::RnnStepBackward | Op::RnnStepBackwardHidden => Cell::Rnn,
        Op::GruStepForward | Op::GruStepBackward | Op::GruStepBackwardHidden => Cell::Gru,
        _ => Cell::Lstm,
    };
    // Step h / 2 of h: the middle of a sequence (writes h_in[t+1], and
    // the hidden gradient has a step before it) whenever h >= 2.
    let (steps, at) = (h, SeqStep { t: h / 2, batch: n });
    let rows = steps * n;
    let gh = cell.gates() * c;
    let drop = Mask {
        seed: g.0.random(),
        step: g.0.random_range(1..1000),
        rate: if n % 2 == 1 { 0.25 } else { 0.0 },
    };
    let xg = g.tensor(be, &[rows, gh])?;
    let w_hh: Vec<f32> = g.vec(gh * c).into_iter().map(|v| v * 0.5).collect();
    let w_hh = be.tensor(&[gh, c], &w_hh)?;
    let b_hh = g.tensor(be, &[gh])?;
    let h0 = g.tensor(be, &[n, c])?;
    let mut h_in = g.tensor(be, &[rows, c])?;
    let mut h_out = g.tensor(be, &[rows, c])?;
    let mut cs = g.tensor(be, &[rows + n, c])?;
    let mut gates = g.tensor(be, &[rows, cell.kept().max(1) * c])?;
    match cell {
        Cell::Rnn => be.rnn_step_forward(at, &xg, &w_hh, &b_hh, &mut h_in, &mut h_out, drop)?,
        Cell::Gru => be.gru_step_forward(
            at, &xg, &w_hh, &b_hh, &h0, &mut h_in, &mut h_out, &mut gates, drop,
        )?,
        Cell::Lstm => be.lstm_step_forward(
            at, &xg, &w_hh, &b_hh, &mut h_in, &mut h_out, &mut cs, &mut gates, drop,
        )?,
    }
    let mut dh = g.tensor(be, &[rows, c])?;
    let mut dgates = g.tensor(be, &[rows, gh])?;
    Ok(match op {
        Op::RnnStepForward => be.read(&[&h_in, &h_out]).await?,
        Op::GruStepForward => be.read(&[&h_in, &h_out, &gates]).await?,
        Op::LstmStepForward => be.read(&[&h_in, &h_out, &cs, &gates]).await?,
        Op::RnnStepBackward => {
            be.rnn_step_backward(at, &h_out, &dh, &mut dgates)?;
            be.read(&[&dgates]).await?
        }
        Op::GruStepBackward => {
            let mut dgh = g.tensor(be, &[rows, gh])?;
            be.gru_step_backward(at, &gates, &h0, &h_out, &mut dh, &mut dgates, &mut dgh)?;
            be.read(&[&dh, &dgates, &dgh]).await?
        }
        Op::LstmStepBackward => {
            let mut dc = g.tensor(be, &[n, c])?;
            be.lstm_step_backward(at, &gates, &cs, &dh, &mut dc, &mut dgates)?;
            be.read(&[&dc, &dgates]).await?
        }
        _ if at.t == 0 => Vec::new(),
        Op::RnnStepBackwardHidden => {
            be.rnn_step_backward_hidden(at, &dgates, &w_hh, &mut dh, drop)?;
            be.read(&[&dh]).await?
        }
        Op::GruStepBackwardHidden => {
            be.gru_step_backward_hidden(at, &dgates, &w_hh, &mut dh, drop)?;
            be.read(&[&dh]).await?
        }
        _ => {
            be.lstm_step_backward_hidden(at, &dgates, &w_hh, &mut dh, drop)?;
            be.read(&[&dh]).await?
        }
    })
}
