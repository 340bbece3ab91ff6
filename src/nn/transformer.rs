//! The Transformer body of a character model: learned positions added to
//! the embedded characters, `blocks` of PyTorch's
//! nn.TransformerEncoderLayer(d, heads, dim_feedforward, activation="gelu",
//! batch_first=True, norm_first=True) under a causal mask, and a final
//! LayerNorm, in PyTorch's layouts and names:
//!
//! ```text
//! x0 = x + pos[position]                         position_forward
//! per block:
//!   a   = norm1(x)                               layer_norm_forward
//!   qkv = a in_proj_weight^T + in_proj_bias      dense_forward   [n, 3d]: q, k, v
//!   att = softmax(q k^T / sqrt(d / heads)) v     attention_scores_forward, attention_values_forward
//!         (each head on its d / heads columns; position t sees 0..=t)
//!   x1  = x + D1(att out_proj.weight^T + out_proj.bias)        dense_forward, residual_forward
//!   x'  = x1 + D3(linear2(D2(gelu(linear1(norm2(x1))))))       dense, gelu_forward, residual
//! out = norm(x of the last block)
//! ```
//!
//! D1, D2, D3 are the block's dropout1, feed-forward dropout and dropout2
//! (dropout_forward at the plan's rate, in training only; identity
//! otherwise). PyTorch's layer also drops attention weights: this one keeps
//! them whole, so that the fused attention backward needs no mask.
//!
//! Sequences are time-major like the recurrent layers' ([steps * rows, d],
//! row t * rows + r), so every op but attention and the positions reads it
//! row by row. A pass of several steps is a window of its own, positions 0
//! .. steps (training, evaluation). A pass of one step is incremental
//! decoding: each row keeps a cache of its keys and values (the 3d-wide
//! qkv rows of every position read so far, per block), so a character
//! costs one position, not the whole context. When a row's context is full
//! the caller re-reads its last `context / 2` characters as a window into
//! the cache ([`TransformerSeq::full_rows`], [`TransformerSeq::refill_row`]):
//! from then on each character is read with 64 to 127 characters before it
//! (for a context of 128), never fewer.

use rand::Rng;

use super::Param;
use super::init::{glorot_uniform, standard_normal, uniform};
use super::plan::TransformerPlan;
use crate::backend::{Act, Backend, KeyRows, Mask, Tensor};
use crate::error::{Error, Result};

/// PyTorch's nn.LayerNorm default.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// A weight [out, in] and a bias [out] under any two names (attention's
/// in_proj_weight and in_proj_bias are not `{name}.weight`).
pub struct Linear<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
}

impl<B: Backend> Linear<B> {
    /// y = x . weight^T + bias.
    fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor) -> Result<()> {
        be.dense_forward(x, &self.weight.value, &self.bias.value, y, Act::Linear)
    }

    /// The parameters' gradients from dy, and dx += dy . weight when asked.
    fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        dy: &B::Tensor,
        dx: Option<&mut B::Tensor>,
    ) -> Result<()> {
        be.dense_backward_weight(x, dy, &mut self.weight.grad)?;
        be.dense_backward_bias(dy, &mut self.bias.grad)?;
        if let Some(dx) = dx {
            be.dense_backward_input(dy, &self.weight.value, dx)?;
        }
        Ok(())
    }
}

/// nn.LayerNorm(d): weight (ones at first) and bias (zeros).
pub struct Norm<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
}

impl<B: Backend> Norm<B> {
    fn init(be: &B, name: &str, d: usize) -> Result<Self> {
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[d], &vec![1.0; d])?,
            bias: Param::new(be, format!("{name}.bias"), &[d], &vec![0.0; d])?,
        })
    }

    fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor, st: &mut B::Tensor) -> Result<()> {
        let (w, b) = (&self.weight.value, &self.bias.value);
        be.layer_norm_forward(x, w, b, y, st, LAYER_NORM_EPS)
    }

    /// The parameters' gradients, and dx += d loss / d x.
    fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        st: &B::Tensor,
        dy: &B::Tensor,
        dx: &mut B::Tensor,
    ) -> Result<()> {
        be.layer_norm_backward_input(x, &self.weight.value, st, dy, dx)?;
        be.layer_norm_backward_weight(x, st, dy, &mut self.weight.grad)?;
        be.dense_backward_bias(dy, &mut self.bias.grad)
    }
}

/// One nn.TransformerEncoderLayer (norm_first, GELU), its state_dict's
/// parameters in its order.
pub struct Block<B: Backend> {
    pub in_proj: Linear<B>,
    pub out_proj: Linear<B>,
    pub linear1: Linear<B>,
    pub linear2: Linear<B>,
    pub norm1: Norm<B>,
    pub norm2: Norm<B>,
}

impl<B: Backend> Block<B> {
    /// PyTorch's initialisation: in_proj_weight Xavier-uniform and the
    /// attention's biases zero (nn.MultiheadAttention._reset_parameters),
    /// out_proj.weight and the feed-forward as nn.Linear (uniform in
    /// +-1/sqrt(fan_in), biases too), norms ones and zeros.
    fn init(be: &B, rng: &mut impl Rng, name: &str, d: usize, ff: usize) -> Result<Self> {
        let linear = |rng: &mut _, w: &str, b: &str, [inp, out]: [usize; 2]| -> Result<Linear<B>> {
            let k = 1.0 / (inp as f32).sqrt();
            let weight = uniform(rng, k, out * inp);
            let bias = uniform(rng, k, out);
            Ok(Linear {
                weight: Param::new(be, format!("{name}.{w}"), &[out, inp], &weight)?,
                bias: Param::new(be, format!("{name}.{b}"), &[out], &bias)?,
            })
        };
        let in_proj = Linear {
            weight: Param::new(
                be,
                format!("{name}.self_attn.in_proj_weight"),
                &[3 * d, d],
                &glorot_uniform(rng, d, 3 * d, 3 * d * d),
            )?,
            bias: Param::new(
                be,
                format!("{name}.self_attn.in_proj_bias"),
                &[3 * d],
                &vec![0.0; 3 * d],
            )?,
        };
        let mut out_proj = linear(
            rng,
            "self_attn.out_proj.weight",
            "self_attn.out_proj.bias",
            [d, d],
        )?;
        be.write(&mut out_proj.bias.value, &vec![0.0; d])?;
        Ok(Self {
            in_proj,
            out_proj,
            linear1: linear(rng, "linear1.weight", "linear1.bias", [d, ff])?,
            linear2: linear(rng, "linear2.weight", "linear2.bias", [ff, d])?,
            norm1: Norm::init(be, &format!("{name}.norm1"), d)?,
            norm2: Norm::init(be, &format!("{name}.norm2"), d)?,
        })
    }

    fn params_mut(&mut self) -> [&mut Param<B>; 12] {
        let Block {
            in_proj,
            out_proj,
            linear1,
            linear2,
            norm1,
            norm2,
        } = self;
        [
            &mut in_proj.weight,
            &mut in_proj.bias,
            &mut out_proj.weight,
            &mut out_proj.bias,
            &mut linear1.weight,
            &mut linear1.bias,
            &mut linear2.weight,
            &mut linear2.bias,
            &mut norm1.weight,
            &mut norm1.bias,
            &mut norm2.weight,
            &mut norm2.bias,
        ]
    }

    fn params(&self) -> [&Param<B>; 12] {
        [
            &self.in_proj.weight,
            &self.in_proj.bias,
            &self.out_proj.weight,
            &self.out_proj.bias,
            &self.linear1.weight,
            &self.linear1.bias,
            &self.linear2.weight,
            &self.linear2.bias,
            &self.norm1.weight,
            &self.norm1.bias,
            &self.norm2.weight,
            &self.norm2.bias,
        ]
    }
}

/// The whole body: positions, blocks, final norm.
pub struct Transformer<B: Backend> {
    pub plan: TransformerPlan,
    pub pos: Param<B>,
    pub blocks: Vec<Block<B>>,
    pub norm: Norm<B>,
}

/// What one block keeps of a pass, for the next block and for backward.
struct BlockActs<B: Backend> {
    /// norm1's output and stats [n, d], [n, 2].
    ln1: B::Tensor,
    st1: B::Tensor,
    /// in_proj's output [n, 3d]: q, k, v of every row.
    qkv: B::Tensor,
    /// Attention weights [rows, heads, steps, keys].
    weights: B::Tensor,
    /// The heads' weighted sums [n, d] (out_proj's input).
    att: B::Tensor,
    /// x + attention [n, d], norm2's output and stats.
    x1: B::Tensor,
    ln2: B::Tensor,
    st2: B::Tensor,
    /// linear1's output (GELU's input) and GELU's output [n, ff].
    h: B::Tensor,
    g: B::Tensor,
    /// out_proj's, then linear2's output [n, d] (backward needs neither).
    proj: B::Tensor,
    /// With dropout, in a window pass: GELU's output after D2 (linear2's
    /// input) [n, ff], and `proj` after D1 or D3 [n, d].
    dropped: Option<(B::Tensor, B::Tensor)>,
    /// The block's output [n, d].
    out: B::Tensor,
    /// Decoding: every position's qkv row [rows * context, 3d], one row's
    /// positions after another's.
    cache: Option<B::Tensor>,
}

/// The gradients of one pass, made by the first backward pass.
struct Grads<B: Backend> {
    /// d loss / d (each block's input) [n, d]; [blocks] is the final norm's
    /// input, [0] the positions' sum.
    dx: Vec<B::Tensor>,
    dx1: B::Tensor,
    /// d loss / d a norm's output [n, d] (norm1's and norm2's in turn).
    dln: B::Tensor,
    /// d loss / d GELU's output, then its input [n, ff].
    dg: B::Tensor,
    /// With dropout: d loss / d linear2's input [n, ff], and d loss / d a
    /// projection's output, before D1 or D3 [n, d].
    dropped: Option<(B::Tensor, B::Tensor)>,
    datt: B::Tensor,
    dscores: B::Tensor,
    dqkv: B::Tensor,
}

/// The buffers of one sequence shape, and for one-step shapes the decoding
/// state: each row's position, the characters it has read (for a refill)
/// and its key/value caches.
pub struct TransformerSeq<B: Backend> {
    pub steps: usize,
    pub rows: usize,
    context: usize,
    /// The input plus positions [n, d].
    x0: B::Tensor,
    /// Each row's first position in this pass [rows].
    starts: B::Indices,
    blocks: Vec<BlockActs<B>>,
    /// The final norm's stats, and its output: the layer's output [n, d].
    stf: B::Tensor,
    pub out: B::Tensor,
    /// d loss / d out: the layer above adds into it.
    pub dy: B::Tensor,
    grads: Option<Grads<B>>,
    /// Decoding only: positions read so far per row (the next one's
    /// position), and the ids read, at most `context` of them.
    positions: Vec<usize>,
    history: Vec<Vec<u32>>,
}

impl<B: Backend> TransformerSeq<B> {
    /// Whether this shape decodes one character at a time with caches.
    pub fn decoding(&self) -> bool {
        self.steps == 1
    }

    /// Forget every row's context: the next character is position 0.
    pub fn reset(&mut self) {
        self.positions.fill(0);
        self.history.iter_mut().for_each(Vec::clear);
    }

    /// Start rows `rows` at position 0 while the others go on.
    pub fn restart_rows(&mut self, rows: &[usize]) {
        for &r in rows.iter().filter(|&&r| r < self.rows) {
            self.positions[r] = 0;
            self.history[r].clear();
        }
    }

    /// Go on with `from`'s rows as the first rows of this wider one-step
    /// shape: their caches are copied; the rows beyond start afresh.
    pub fn continue_rows(&mut self, be: &B, from: &TransformerSeq<B>) -> Result<()> {
        if !self.decoding() || !from.decoding() || from.rows > self.rows {
            return Err(Error::Input {
                what: "transformer",
                problem: format!(
                    "{} rows of {} steps cannot continue as {} rows of {} steps",
                    from.rows, from.steps, self.rows, self.steps
                ),
            });
        }
        for (mine, theirs) in self.blocks.iter_mut().zip(&from.blocks) {
            if let (Some(dst), Some(src)) = (&mut mine.cache, &theirs.cache) {
                be.copy_slice(src, 0, dst, 0, src.len())?;
            }
        }
        self.reset();
        self.positions[..from.rows].copy_from_slice(&from.positions);
        self.history[..from.rows].clone_from_slice(&from.history);
        Ok(())
    }

    /// Rows whose context is full, with the characters a refill re-reads
    /// (their last context / 2).
    pub fn full_rows(&self) -> Vec<(usize, Vec<u32>)> {
        let keep = refill_len(self.context);
        (0..self.rows)
            .filter(|&r| self.positions[r] >= self.context)
            .map(|r| (r, self.history[r][self.history[r].len() - keep..].to_vec()))
            .collect()
    }

    /// Row `row`'s caches from `window` (a pass of one row over `ids`, the
    /// last context / 2 characters it read): it goes on from there.
    pub fn refill_row(
        &mut self,
        be: &B,
        window: &TransformerSeq<B>,
        row: usize,
        ids: &[u32],
    ) -> Result<()> {
        if window.rows != 1 || window.steps != ids.len() || row >= self.rows {
            return Err(Error::Input {
                what: "transformer",
                problem: format!(
                    "row {row} of {} cannot be refilled from {} rows of {} steps",
                    self.rows, window.rows, window.steps
                ),
            });
        }
        for (mine, theirs) in self.blocks.iter_mut().zip(&window.blocks) {
            let cache = mine.cache.as_mut().expect("a decoding shape has caches");
            let width = theirs.qkv.shape()[1];
            be.copy_slice(
                &theirs.qkv,
                0,
                cache,
                row * self.context * width,
                ids.len() * width,
            )?;
        }
        self.positions[row] = ids.len();
        self.history[row] = ids.to_vec();
        Ok(())
    }

    /// Row `row`'s attention weights in the last pass, [blocks][heads][keys
    /// seen]: for decoding, the last character's weights over the
    /// characters before it and itself.
    pub fn weights(&self) -> Vec<&B::Tensor> {
        self.blocks.iter().map(|b| &b.weights).collect()
    }

    /// Positions read so far by each row (decoding).
    pub fn positions(&self) -> &[usize] {
        &self.positions
    }
}

/// Block b's three masks, D1, D2, D3.
fn block_masks(masks: &[Mask], b: usize) -> [Mask; 3] {
    [masks[3 * b], masks[3 * b + 1], masks[3 * b + 2]]
}

/// x after the dropout `m`, written to `y` when it is active (and `y` is
/// there: window passes of a layer with dropout); else x itself. The mask
/// is elementwise, so the same gives d loss / d input from d loss / d
/// output on the way back.
fn dropped<'t, B: Backend>(
    be: &B,
    x: &'t B::Tensor,
    y: Option<&'t mut B::Tensor>,
    m: Mask,
) -> Result<&'t B::Tensor> {
    match y {
        Some(y) if m.is_active() => {
            be.dropout_forward(x, y, m, x.len())?;
            Ok(y)
        }
        _ => Ok(x),
    }
}

/// Characters a full row keeps when it is refilled.
pub fn refill_len(context: usize) -> usize {
    context / 2
}

impl<B: Backend> Transformer<B> {
    /// PyTorch's initialisation (nn.Embedding's N(0, 1) for the positions;
    /// see [`Block::init`]); `prefix` is the state_dict prefix, empty for
    /// none.
    pub fn init(be: &B, rng: &mut impl Rng, prefix: &str, plan: TransformerPlan) -> Result<Self> {
        let name = |s: &str| {
            if prefix.is_empty() {
                s.to_string()
            } else {
                format!("{prefix}.{s}")
            }
        };
        let d = plan.dim;
        let pos = Param::new(
            be,
            name("pos.weight"),
            &[plan.context, d],
            &standard_normal(rng, plan.context * d),
        )?;
        let blocks = (0..plan.blocks)
            .map(|b| {
                Block::init(
                    be,
                    rng,
                    &name(&format!("layers.{b}")),
                    d,
                    plan.dim_feedforward,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            plan,
            pos,
            blocks,
            norm: Norm::init(be, &name("norm"), d)?,
        })
    }

    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        let mut out = vec![&mut self.pos];
        for b in &mut self.blocks {
            out.extend(b.params_mut());
        }
        out.push(&mut self.norm.weight);
        out.push(&mut self.norm.bias);
        out
    }

    pub fn params(&self) -> Vec<&Param<B>> {
        let mut out = vec![&self.pos];
        for b in &self.blocks {
            out.extend(b.params());
        }
        out.push(&self.norm.weight);
        out.push(&self.norm.bias);
        out
    }

    /// The buffers of `steps` x `rows`: a window (steps > 1, at most the
    /// context) or one-step decoding with caches.
    pub fn seq(&self, be: &B, steps: usize, rows: usize) -> TransformerSeq<B> {
        let p = self.plan;
        let (n, d, ff) = (steps * rows, p.dim, p.dim_feedforward);
        let decoding = steps == 1;
        let keys = if decoding { p.context } else { steps };
        let blocks = (0..p.blocks)
            .map(|_| BlockActs {
                ln1: be.zeros(&[n, d]),
                st1: be.zeros(&[n, 2]),
                qkv: be.zeros(&[n, 3 * d]),
                weights: be.zeros(&[rows, p.heads, steps, keys]),
                att: be.zeros(&[n, d]),
                x1: be.zeros(&[n, d]),
                ln2: be.zeros(&[n, d]),
                st2: be.zeros(&[n, 2]),
                h: be.zeros(&[n, ff]),
                g: be.zeros(&[n, ff]),
                proj: be.zeros(&[n, d]),
                dropped: (p.dropout > 0.0 && !decoding)
                    .then(|| (be.zeros(&[n, ff]), be.zeros(&[n, d]))),
                out: be.zeros(&[n, d]),
                cache: decoding.then(|| be.zeros(&[rows * p.context, 3 * d])),
            })
            .collect();
        TransformerSeq {
            steps,
            rows,
            context: p.context,
            x0: be.zeros(&[n, d]),
            starts: be.indices(&vec![0; rows]),
            blocks,
            stf: be.zeros(&[n, 2]),
            out: be.zeros(&[n, d]),
            dy: be.zeros(&[n, d]),
            grads: None,
            positions: vec![0; rows],
            history: vec![Vec::new(); rows],
        }
    }

    /// Record the forward pass over x [steps * rows, d] (the embedded
    /// characters `ids`, time-major): the output lands in `s.out`. A
    /// decoding pass reads and extends each row's cache; its rows must not
    /// be full (see [`TransformerSeq::full_rows`]). `masks` holds block b's
    /// D1, D2, D3 at 3b .. 3b + 3 (all [`Mask::NONE`] outside training).
    pub fn forward(
        &self,
        be: &B,
        x: &B::Tensor,
        s: &mut TransformerSeq<B>,
        ids: &[u32],
        masks: &[Mask],
    ) -> Result<()> {
        let p = self.plan;
        if s.steps > p.context {
            return Err(Error::Input {
                what: "transformer",
                problem: format!(
                    "a window of {} characters is longer than the context of {}",
                    s.steps, p.context
                ),
            });
        }
        let decoding = s.decoding();
        if decoding {
            if let Some(r) = (0..s.rows).find(|&r| s.positions[r] >= p.context) {
                return Err(Error::Input {
                    what: "transformer",
                    problem: format!("row {r}'s context is full: refill it first"),
                });
            }
            let starts: Vec<u32> = s.positions.iter().map(|&v| v as u32).collect();
            be.write_indices(&mut s.starts, &starts)?;
        }
        be.position_forward(x, &self.pos.value, &s.starts, &mut s.x0)?;
        let keys = if decoding {
            KeyRows::cache(p.context)
        } else {
            KeyRows::window(s.rows)
        };
        for (i, w) in self.blocks.iter().enumerate() {
            let (before, rest) = s.blocks.split_at_mut(i);
            let input = before.last().map_or(&s.x0, |b| &b.out);
            let a = &mut rest[0];
            w.norm1.forward(be, input, &mut a.ln1, &mut a.st1)?;
            w.in_proj.forward(be, &a.ln1, &mut a.qkv)?;
            let kv = match &mut a.cache {
                Some(cache) => {
                    be.attention_cache_write(&a.qkv, &s.starts, cache)?;
                    &*cache
                }
                None => &a.qkv,
            };
            be.attention_scores_forward(&a.qkv, kv, &s.starts, &mut a.weights, keys)?;
            be.attention_values_forward(&a.weights, kv, &s.starts, &mut a.att, keys)?;
            let m = block_masks(masks, i);
            let (g_dropped, proj_dropped) = match &mut a.dropped {
                Some((g, p)) => (Some(g), Some(p)),
                None => (None, None),
            };
            w.out_proj.forward(be, &a.att, &mut a.proj)?;
            let branch = dropped(be, &a.proj, proj_dropped, m[0])?;
            be.residual_forward(input, branch, &mut a.x1)?;
            w.norm2.forward(be, &a.x1, &mut a.ln2, &mut a.st2)?;
            w.linear1.forward(be, &a.ln2, &mut a.h)?;
            be.gelu_forward(&a.h, &mut a.g)?;
            let g = dropped(be, &a.g, g_dropped, m[1])?;
            w.linear2.forward(be, g, &mut a.proj)?;
            let proj_dropped = a.dropped.as_mut().map(|(_, p)| p);
            let branch = dropped(be, &a.proj, proj_dropped, m[2])?;
            be.residual_forward(&a.x1, branch, &mut a.out)?;
        }
        let last = s.blocks.last().map_or(&s.x0, |b| &b.out);
        self.norm.forward(be, last, &mut s.out, &mut s.stf)?;
        if decoding {
            for r in 0..s.rows {
                s.positions[r] += 1;
                s.history[r].push(ids.get(r).copied().unwrap_or(0));
            }
        }
        Ok(())
    }

    /// Back through a window pass (not a decoding one), given `s.dy` = d
    /// loss / d out from the layer above and the forward's `masks`:
    /// accumulates every parameter's gradient and, when asked, dx += d loss
    /// / d x.
    pub fn backward(
        &mut self,
        be: &B,
        s: &mut TransformerSeq<B>,
        dx: Option<&mut B::Tensor>,
        masks: &[Mask],
    ) -> Result<()> {
        if s.decoding() {
            return Err(Error::Input {
                what: "transformer",
                problem: "backward needs a window pass, not one-character decoding".into(),
            });
        }
        let p = self.plan;
        let (n, d, ff) = (s.steps * s.rows, p.dim, p.dim_feedforward);
        let g = s.grads.get_or_insert_with(|| Grads {
            dx: (0..=p.blocks).map(|_| be.zeros(&[n, d])).collect(),
            dx1: be.zeros(&[n, d]),
            dln: be.zeros(&[n, d]),
            dg: be.zeros(&[n, ff]),
            dropped: (p.dropout > 0.0).then(|| (be.zeros(&[n, ff]), be.zeros(&[n, d]))),
            datt: be.zeros(&[n, d]),
            dscores: be.zeros(&[s.rows, p.heads, s.steps, s.steps]),
            dqkv: be.zeros(&[n, 3 * d]),
        });
        let last = s.blocks.last().map_or(&s.x0, |b| &b.out);
        be.fill_zero(&mut g.dx[p.blocks]);
        self.norm
            .backward(be, last, &s.stf, &s.dy, &mut g.dx[p.blocks])?;
        for i in (0..p.blocks).rev() {
            let w = &mut self.blocks[i];
            let a = &s.blocks[i];
            let input = if i == 0 { &s.x0 } else { &s.blocks[i - 1].out };
            let (dx_in, dx_out) = g.dx.split_at_mut(i + 1);
            let (d_in, d_out) = (&mut dx_in[i], &dx_out[0]);
            let m = block_masks(masks, i);
            // The feed-forward: out = x1 + D3(linear2(D2(gelu(linear1(norm2(x1)))))).
            let (dg_dropped, dproj) = match &mut g.dropped {
                Some((dgd, dp)) => (Some(dgd), Some(dp)),
                None => (None, None),
            };
            let d_linear2 = dropped(be, d_out, dproj, m[2])?;
            let g_in = match &a.dropped {
                Some((gd, _)) if m[1].is_active() => gd,
                _ => &a.g,
            };
            match dg_dropped {
                Some(dgd) if m[1].is_active() => {
                    be.fill_zero(dgd);
                    w.linear2.backward(be, g_in, d_linear2, Some(&mut *dgd))?;
                    be.fill_zero(&mut g.dg);
                    be.dropout_backward(dgd, &mut g.dg, m[1], dgd.len())?;
                }
                _ => {
                    be.fill_zero(&mut g.dg);
                    w.linear2.backward(be, g_in, d_linear2, Some(&mut g.dg))?;
                }
            }
            be.gelu_backward(&a.h, &mut g.dg)?;
            be.fill_zero(&mut g.dln);
            w.linear1.backward(be, &a.ln2, &g.dg, Some(&mut g.dln))?;
            be.fill_zero(&mut g.dx1);
            be.residual_backward(d_out, &mut g.dx1)?;
            w.norm2.backward(be, &a.x1, &a.st2, &g.dln, &mut g.dx1)?;
            // Attention: x1 = x + D1(out_proj(attention(in_proj(norm1(x))))).
            let dproj = g.dropped.as_mut().map(|(_, dp)| dp);
            let d_out_proj = dropped(be, &g.dx1, dproj, m[0])?;
            be.fill_zero(&mut g.datt);
            w.out_proj
                .backward(be, &a.att, d_out_proj, Some(&mut g.datt))?;
            be.attention_backward_scores(&a.weights, &a.qkv, &s.starts, &g.datt, &mut g.dscores)?;
            be.fill_zero(&mut g.dqkv);
            be.attention_backward_query(&g.dscores, &a.qkv, &s.starts, &mut g.dqkv)?;
            be.attention_backward_key(&g.dscores, &a.qkv, &s.starts, &mut g.dqkv)?;
            be.attention_backward_value(&a.weights, &g.datt, &s.starts, &mut g.dqkv)?;
            be.fill_zero(&mut g.dln);
            w.in_proj.backward(be, &a.ln1, &g.dqkv, Some(&mut g.dln))?;
            be.fill_zero(d_in);
            be.residual_backward(&g.dx1, d_in)?;
            w.norm1.backward(be, input, &a.st1, &g.dln, d_in)?;
        }
        be.position_backward(&g.dx[0], &s.starts, &mut self.pos.grad)?;
        if let Some(dx) = dx {
            be.residual_backward(&g.dx[0], dx)?;
        }
        Ok(())
    }
}
