//! Attention as matrix products, one (sequence, head) at a time: the
//! scores q k^T, the weighted sum P v and the four backward products are
//! each an SGEMM over the head's strided slices of qkv (no copies of q, k
//! or v), with the mask and the softmax as loops over the product. The
//! weights that feed a product are first copied with the mask applied, so
//! this agrees with the twins (src/cpu/attention.rs) on any input.

use super::gemm::{MatMut, MatRef, gemm};
use crate::params::AttentionParams;

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
    fn pos(&self, starts: &[u32], t: usize, r: usize) -> usize {
        (starts[r] as usize + t).min(self.tk - 1)
    }
    /// Keys any query of row r sees: 0..this.
    fn keys(&self, starts: &[u32], r: usize) -> usize {
        self.pos(starts, self.tq - 1, r) + 1
    }
    fn q(&self, t: usize, r: usize, h: usize) -> usize {
        (t * self.b + r) * 3 * self.dim + h * self.hd
    }
    fn k(&self, s: usize, r: usize, h: usize) -> usize {
        (s * self.ks + r * self.kr) * 3 * self.dim + self.dim + h * self.hd
    }
    fn w(&self, t: usize, r: usize, h: usize) -> usize {
        ((r * self.heads + h) * self.tq + t) * self.tk
    }
    fn o(&self, t: usize, r: usize, h: usize) -> usize {
        (t * self.b + r) * self.dim + h * self.hd
    }
    /// Head h of row r's q [Tq, hd] in qkv.
    fn q_mat<'a>(&self, qkv: &'a [f32], r: usize, h: usize) -> MatRef<'a> {
        MatRef::strided(
            &qkv[self.q(0, r, h)..],
            self.tq,
            self.hd,
            self.b * 3 * self.dim,
            1,
        )
    }
    /// Head h of row r's k (or v, `extra` = dim) [n, hd] in kv.
    fn k_mat<'a>(&self, kv: &'a [f32], r: usize, h: usize, n: usize, extra: usize) -> MatRef<'a> {
        let rs = self.ks * 3 * self.dim;
        MatRef::strided(&kv[self.k(0, r, h) + extra..], n, self.hd, rs, 1)
    }
    /// Head h of row r's slice [Tq, hd] of a [T*b, dim] tensor.
    fn o_mat<'a>(&self, t: &'a [f32], r: usize, h: usize) -> MatRef<'a> {
        MatRef::strided(
            &t[self.o(0, r, h)..],
            self.tq,
            self.hd,
            self.b * self.dim,
            1,
        )
    }
    /// The first `n` columns of head h of row r's weights [Tq, Tk], masked, into `out`.
    fn masked(&self, w: &[f32], starts: &[u32], r: usize, h: usize, n: usize, out: &mut Vec<f32>) {
        out.clear();
        for t in 0..self.tq {
            let (at, pos) = (self.w(t, r, h), self.pos(starts, t, r));
            out.extend((0..n).map(|s| if s <= pos { w[at + s] } else { 0.0 }));
        }
    }
}

fn sized(v: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if v.len() < len {
        v.resize(len, 0.0);
    }
    &mut v[..len]
}

pub fn attention_scores_forward(
    p: &AttentionParams,
    qkv: &[f32],
    kv: &[f32],
    starts: &[u32],
    weights: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let a = At::of(p);
    for r in 0..a.b {
        let n = a.keys(starts, r);
        for h in 0..a.heads {
            let c = sized(scratch, a.tq * n);
            gemm(
                a.q_mat(qkv, r, h),
                a.k_mat(kv, r, h, n, 0).t(),
                0.0,
                MatMut::rows(c, a.tq, n),
            );
            for t in 0..a.tq {
                let pos = a.pos(starts, t, r);
                let row = &mut weights[a.w(t, r, h)..a.w(t, r, h) + a.tk];
                let scores = &c[t * n..t * n + pos + 1];
                let max = scores
                    .iter()
                    .fold(f32::NEG_INFINITY, |m, &v| m.max(v * p.scale));
                let mut sum = 0.0;
                for (w, &v) in row.iter_mut().zip(scores) {
                    *w = (v * p.scale - max).exp();
                    sum += *w;
                }
                for w in &mut row[..=pos] {
                    *w /= sum;
                }
                row[pos + 1..].fill(0.0);
            }
        }
    }
}

pub fn attention_values_forward(
    p: &AttentionParams,
    weights: &[f32],
    kv: &[f32],
    starts: &[u32],
    out: &mut [f32],
    scratch: &mut Vec<f32>,
    masked: &mut Vec<f32>,
) {
    let a = At::of(p);
    for r in 0..a.b {
        let n = a.keys(starts, r);
        for h in 0..a.heads {
            a.masked(weights, starts, r, h, n, masked);
            let c = sized(scratch, a.tq * a.hd);
            gemm(
                MatRef::rows(masked, a.tq, n),
                a.k_mat(kv, r, h, n, a.dim),
                0.0,
                MatMut::rows(c, a.tq, a.hd),
            );
            for t in 0..a.tq {
                let o = a.o(t, r, h);
                out[o..o + a.hd].copy_from_slice(&c[t * a.hd..(t + 1) * a.hd]);
            }
        }
    }
}

pub fn attention_backward_scores(
    p: &AttentionParams,
    weights: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dout: &[f32],
    dscores: &mut [f32],
    scratch: &mut Vec<f32>,
) {
    let a = At::of(p);
    for r in 0..a.b {
        let n = a.keys(starts, r);
        for h in 0..a.heads {
            let c = sized(scratch, a.tq * n);
            gemm(
                a.o_mat(dout, r, h),
                a.k_mat(qkv, r, h, n, a.dim).t(),
                0.0,
                MatMut::rows(c, a.tq, n),
            );
            for t in 0..a.tq {
                let (at, pos) = (a.w(t, r, h), a.pos(starts, t, r));
                let dp = &c[t * n..t * n + pos + 1];
                let w = &weights[at..at + pos + 1];
                let dot: f32 = w.iter().zip(dp).map(|(w, d)| w * d).sum();
                let row = &mut dscores[at..at + a.tk];
                for ((ds, &w), &d) in row.iter_mut().zip(w).zip(dp) {
                    *ds = w * (d - dot);
                }
                row[pos + 1..].fill(0.0);
            }
        }
    }
}

pub fn attention_backward_query(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
    scratch: &mut Vec<f32>,
    masked: &mut Vec<f32>,
) {
    let a = At::of(p);
    for r in 0..a.b {
        let n = a.keys(starts, r);
        for h in 0..a.heads {
            a.masked(dscores, starts, r, h, n, masked);
            let c = sized(scratch, a.tq * a.hd);
            gemm(
                MatRef::rows(masked, a.tq, n),
                a.k_mat(qkv, r, h, n, 0),
                0.0,
                MatMut::rows(c, a.tq, a.hd),
            );
            for t in 0..a.tq {
                let q = a.q(t, r, h);
                for (d, v) in dqkv[q..q + a.hd].iter_mut().zip(&c[t * a.hd..]) {
                    *d += p.scale * v;
                }
            }
        }
    }
}

/// dk (`extra` = 0, from q) or dv (`extra` = dim, from dout): the keys'
/// side, masked^T [n, Tq] . rhs [Tq, hd], scaled, added at the key rows.
#[allow(clippy::too_many_arguments)]
fn key_side<'a>(
    a: &At,
    w: &[f32],
    rhs: &dyn Fn(usize, usize) -> MatRef<'a>,
    starts: &[u32],
    dqkv: &mut [f32],
    extra: usize,
    scale: f32,
    scratch: &mut Vec<f32>,
    masked: &mut Vec<f32>,
) {
    for r in 0..a.b {
        let n = a.keys(starts, r);
        for h in 0..a.heads {
            a.masked(w, starts, r, h, n, masked);
            let c = sized(scratch, n * a.hd);
            gemm(
                MatRef::rows(masked, a.tq, n).t(),
                rhs(r, h),
                0.0,
                MatMut::rows(c, n, a.hd),
            );
            for s in 0..n {
                let k = a.k(s, r, h) + extra;
                for (d, v) in dqkv[k..k + a.hd].iter_mut().zip(&c[s * a.hd..]) {
                    *d += scale * v;
                }
            }
        }
    }
}

pub fn attention_backward_key(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
    scratch: &mut Vec<f32>,
    masked: &mut Vec<f32>,
) {
    let a = At::of(p);
    let q = |r, h| a.q_mat(qkv, r, h);
    key_side(&a, dscores, &q, starts, dqkv, 0, p.scale, scratch, masked);
}

pub fn attention_backward_value(
    p: &AttentionParams,
    weights: &[f32],
    dout: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
    scratch: &mut Vec<f32>,
    masked: &mut Vec<f32>,
) {
    let a = At::of(p);
    let d = |r, h| a.o_mat(dout, r, h);
    key_side(&a, weights, &d, starts, dqkv, a.dim, 1.0, scratch, masked);
}
