//! Causal softmax attention, per head, as plain loops: the specification
//! of `shaders/attention.wgsl` (the layouts are [`AttentionParams`]'s).
//!
//! With q, k, v the head's slices of a row's q, k and v (head_dim values
//! each) and P the weights [rows, heads, q_steps, k_steps]:
//!
//! ```text
//! scores:  P[r, h, t, s] = softmax over s <= pos of scale * q(t, r) . k(s, r)   (0 for s > pos)
//! values:  out(t, r)     = sum over s of P[r, h, t, s] v(s, r)
//! ```
//!
//! where pos = min(starts[r] + t, k_steps - 1) is query t's position. The
//! backward ops, for a training window (keys and values are the qkv tensor
//! itself), each write one gradient: the scores' (softmax's backward fused
//! with the values' product, as softmax + cross-entropy are), then q's,
//! k's and v's parts of dqkv, accumulating.

use crate::params::AttentionParams;

/// The sizes every op reads, unpacked.
struct At {
    b: usize,
    tq: usize,
    tk: usize,
    heads: usize,
    hd: usize,
    dim: usize,
    ks: usize,
    kr: usize,
}

impl At {
    fn of(p: &AttentionParams) -> Self {
        Self {
            b: p.rows as usize,
            tq: p.q_steps as usize,
            tk: p.k_steps as usize,
            heads: p.heads as usize,
            hd: p.head_dim as usize,
            dim: (p.heads * p.head_dim) as usize,
            ks: p.k_step_stride as usize,
            kr: p.k_row_stride as usize,
        }
    }
    /// Query t of row r's position, capped inside the keys.
    fn pos(&self, starts: &[u32], t: usize, r: usize) -> usize {
        (starts[r] as usize + t).min(self.tk - 1)
    }
    /// Offset of head h's q of query (t, r) in qkv.
    fn q(&self, t: usize, r: usize, h: usize) -> usize {
        (t * self.b + r) * 3 * self.dim + h * self.hd
    }
    /// Offset of head h's k of key (s, r) in kv; its v is `dim` further.
    fn k(&self, s: usize, r: usize, h: usize) -> usize {
        (s * self.ks + r * self.kr) * 3 * self.dim + self.dim + h * self.hd
    }
    /// Offset of the weights row of query (t, r), head h.
    fn w(&self, t: usize, r: usize, h: usize) -> usize {
        ((r * self.heads + h) * self.tq + t) * self.tk
    }
    /// Offset of head h's slice of row (t, r) of a [T*b, dim] tensor.
    fn o(&self, t: usize, r: usize, h: usize) -> usize {
        (t * self.b + r) * self.dim + h * self.hd
    }
}

/// weights [b, H, Tq, Tk] = causal softmax of scale * q k^T, row by row.
pub fn attention_scores_forward(
    p: &AttentionParams,
    qkv: &[f32],
    kv: &[f32],
    starts: &[u32],
    weights: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for t in 0..a.tq {
                let pos = a.pos(starts, t, r);
                let (q, w) = (a.q(t, r, h), a.w(t, r, h));
                let row = &mut weights[w..w + a.tk];
                let mut max = f32::NEG_INFINITY;
                for s in 0..=pos {
                    let k = a.k(s, r, h);
                    let dot: f32 = (0..a.hd).map(|j| qkv[q + j] * kv[k + j]).sum();
                    row[s] = dot * p.scale;
                    max = max.max(row[s]);
                }
                let mut sum = 0.0;
                for v in &mut row[..=pos] {
                    *v = (*v - max).exp();
                    sum += *v;
                }
                for v in &mut row[..=pos] {
                    *v /= sum;
                }
                row[pos + 1..].fill(0.0);
            }
        }
    }
}

/// out [Tq*b, dim] = weights . v, head by head.
pub fn attention_values_forward(
    p: &AttentionParams,
    weights: &[f32],
    kv: &[f32],
    starts: &[u32],
    out: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for t in 0..a.tq {
                let (w, o) = (a.w(t, r, h), a.o(t, r, h));
                for j in 0..a.hd {
                    let mut acc = 0.0;
                    for s in 0..=a.pos(starts, t, r) {
                        acc += weights[w + s] * kv[a.k(s, r, h) + a.dim + j];
                    }
                    out[o + j] = acc;
                }
            }
        }
    }
}

/// dscores [b, H, Tq, Tk] = P * (dP - sum over s of P dP), dP = dout . v^T:
/// the gradient of the scaled scores, overwritten (0 past the mask).
pub fn attention_backward_scores(
    p: &AttentionParams,
    weights: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dout: &[f32],
    dscores: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for t in 0..a.tq {
                let pos = a.pos(starts, t, r);
                let (w, o) = (a.w(t, r, h), a.o(t, r, h));
                let mut dot = 0.0;
                for s in 0..=pos {
                    let v = a.k(s, r, h) + a.dim;
                    let dp: f32 = (0..a.hd).map(|j| dout[o + j] * qkv[v + j]).sum();
                    dscores[w + s] = dp;
                    dot += weights[w + s] * dp;
                }
                for s in 0..=pos {
                    dscores[w + s] = weights[w + s] * (dscores[w + s] - dot);
                }
                dscores[w + pos + 1..w + a.tk].fill(0.0);
            }
        }
    }
}

/// dq (columns 0..dim of dqkv) += scale * dscores . k.
pub fn attention_backward_query(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for t in 0..a.tq {
                let (w, q) = (a.w(t, r, h), a.q(t, r, h));
                for j in 0..a.hd {
                    let mut acc = 0.0;
                    for s in 0..=a.pos(starts, t, r) {
                        acc += dscores[w + s] * qkv[a.k(s, r, h) + j];
                    }
                    dqkv[q + j] += p.scale * acc;
                }
            }
        }
    }
}

/// dk (columns dim..2 dim of dqkv, at the key rows) += scale * dscores^T . q.
pub fn attention_backward_key(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for s in 0..a.tk {
                let k = a.k(s, r, h);
                for j in 0..a.hd {
                    let mut acc = 0.0;
                    for t in 0..a.tq {
                        if s <= a.pos(starts, t, r) {
                            acc += dscores[a.w(t, r, h) + s] * qkv[a.q(t, r, h) + j];
                        }
                    }
                    dqkv[k + j] += p.scale * acc;
                }
            }
        }
    }
}

/// dv (columns 2 dim..3 dim of dqkv, at the key rows) += weights^T . dout.
pub fn attention_backward_value(
    p: &AttentionParams,
    weights: &[f32],
    dout: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    for r in 0..a.b {
        for h in 0..a.heads {
            for s in 0..a.tk {
                let v = a.k(s, r, h) + a.dim;
                for j in 0..a.hd {
                    let mut acc = 0.0;
                    for t in 0..a.tq {
                        if s <= a.pos(starts, t, r) {
                            acc += weights[a.w(t, r, h) + s] * dout[a.o(t, r, h) + j];
                        }
                    }
                    dqkv[v + j] += acc;
                }
            }
        }
    }
}

/// cache row r * positions + starts[r] + t = qkv row t * b + r, for each
/// step t whose position is inside the cache (the decoding cache of
/// [`crate::shapes::KeyRows::cache`]).
pub fn attention_cache_write(p: &AttentionParams, qkv: &[f32], starts: &[u32], cache: &mut [f32]) {
    let (b, width, positions) = (p.rows as usize, p.head_dim as usize, p.k_steps as usize);
    for t in 0..p.q_steps as usize {
        for r in 0..b {
            let pos = starts[r] as usize + t;
            if pos < positions {
                let (src, dst) = ((t * b + r) * width, (r * positions + pos) * width);
                cache[dst..dst + width].copy_from_slice(&qkv[src..src + width]);
            }
        }
    }
}
