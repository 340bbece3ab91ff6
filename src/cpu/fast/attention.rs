//! Attention as matrix products, one (sequence, head) at a time: the
//! scores q k^T, the weighted sum P v and the four backward products are
//! each an SGEMM over the head's strided slices of qkv (no copies of q, k
//! or v), with the mask and the softmax as loops over the product. The
//! weights that feed a product are first copied with the mask applied, so
//! this agrees with the twins (src/cpu/attention.rs) on any input.
//!
//! A head's products are small (128 x 32 x 128 in the character
//! Transformer): cut further they cost more in hand-offs than they gain, so
//! the threads take whole sequences instead, each a block of the batch's
//! rows with every head of them, writing only those rows' values.

use std::cell::RefCell;
use std::ops::Range;

use super::gemm::{MatMut, MatRef, gemm_here};
use super::threads::{self, RowsMut};
use crate::params::AttentionParams;

thread_local! {
    /// A (sequence, head)'s product and its masked weights, kept between
    /// calls on each thread (the caller's and the helpers').
    static SCRATCH: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

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
    /// Multiply-adds of one of the six products over every row and head.
    fn macs(&self) -> usize {
        self.b * self.heads * self.tq * self.tk * self.hd
    }
    /// Whether key step s of row r is a position of its own for every
    /// (s, r), so that blocks of rows add into disjoint key rows: the
    /// training layout (kv = qkv, s * b + r) and the cache's (r * Tk + s).
    fn key_rows_disjoint(&self) -> bool {
        self.kr >= self.ks * self.tk || self.ks >= self.kr * self.b
    }
    /// `job(rows, product, masked)` over blocks of the batch's rows, on the
    /// threads when `shared` and the work repays it, with this thread's
    /// scratch.
    fn for_rows(
        &self,
        shared: bool,
        job: &(dyn Fn(Range<usize>, &mut Vec<f32>, &mut Vec<f32>) + Sync),
    ) {
        let macs = if shared { self.macs() } else { 0 };
        threads::for_blocks(self.b, 1, macs, &|rows| {
            SCRATCH.with_borrow_mut(|(c, m)| job(rows, c, m));
        });
    }
    /// Per (row, head): the product lhs . rhs^T [Tq, n], then for each
    /// query step t `row_of(at, seen, out_row)` with `at` the row's offset
    /// in `out` (laid out like the weights), `seen` the products of the
    /// keys t may see, and the masked rest of the row zeroed.
    fn score_rows<'m>(
        &self,
        starts: &[u32],
        out: &mut [f32],
        product: &(dyn Fn(usize, usize, usize) -> (MatRef<'m>, MatRef<'m>) + Sync),
        row_of: &(dyn Fn(usize, &[f32], &mut [f32]) + Sync),
    ) {
        let per_row = self.heads * self.tq * self.tk;
        let out = RowsMut::new(&mut out[..self.b * per_row]);
        self.for_rows(true, &|rows, scratch, _| {
            // SAFETY: row r's values are its own per_row ones.
            let out = unsafe { out.get(rows.start * per_row..rows.end * per_row) };
            let base = rows.start * per_row;
            for r in rows {
                let n = self.keys(starts, r);
                for h in 0..self.heads {
                    let c = sized(scratch, self.tq * n);
                    let (lhs, rhs) = product(r, h, n);
                    gemm_here(lhs, rhs.t(), 0.0, MatMut::rows(c, self.tq, n));
                    for t in 0..self.tq {
                        let (at, pos) = (self.w(t, r, h), self.pos(starts, t, r));
                        let row = &mut out[at - base..at - base + self.tk];
                        row_of(at, &c[t * n..t * n + pos + 1], row);
                        row[pos + 1..].fill(0.0);
                    }
                }
            }
        });
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
            let (at, seen) = (self.w(t, r, h), (self.pos(starts, t, r) + 1).min(n));
            out.extend_from_slice(&w[at..at + seen]);
            out.resize(out.len() + n - seen, 0.0);
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
) {
    let a = At::of(p);
    let product = |r, h, n| (a.q_mat(qkv, r, h), a.k_mat(kv, r, h, n, 0));
    a.score_rows(starts, weights, &product, &|_, scores, row| {
        let max = scores
            .iter()
            .fold(f32::NEG_INFINITY, |m, &v| m.max(v * p.scale));
        let mut sum = 0.0;
        for (w, &v) in row.iter_mut().zip(scores) {
            *w = (v * p.scale - max).exp();
            sum += *w;
        }
        for w in &mut row[..scores.len()] {
            *w /= sum;
        }
    });
}

pub fn attention_values_forward(
    p: &AttentionParams,
    weights: &[f32],
    kv: &[f32],
    starts: &[u32],
    out: &mut [f32],
) {
    let a = At::of(p);
    let out = RowsMut::new(out);
    a.for_rows(true, &|rows, scratch, masked| {
        for r in rows {
            let n = a.keys(starts, r);
            for h in 0..a.heads {
                a.masked(weights, starts, r, h, n, masked);
                let c = sized(scratch, a.tq * a.hd);
                gemm_here(
                    MatRef::rows(masked, a.tq, n),
                    a.k_mat(kv, r, h, n, a.dim),
                    0.0,
                    MatMut::rows(c, a.tq, a.hd),
                );
                for t in 0..a.tq {
                    let o = a.o(t, r, h);
                    // SAFETY: position (t, r) is row t * b + r of out: r's own.
                    unsafe { out.get(o..o + a.hd) }.copy_from_slice(&c[t * a.hd..(t + 1) * a.hd]);
                }
            }
        }
    });
}

pub fn attention_backward_scores(
    p: &AttentionParams,
    weights: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dout: &[f32],
    dscores: &mut [f32],
) {
    let a = At::of(p);
    let product = |r, h, n| (a.o_mat(dout, r, h), a.k_mat(qkv, r, h, n, a.dim));
    a.score_rows(starts, dscores, &product, &|at, dp, row| {
        let w = &weights[at..at + dp.len()];
        let dot: f32 = w.iter().zip(dp).map(|(w, d)| w * d).sum();
        for ((ds, &w), &d) in row.iter_mut().zip(w).zip(dp) {
            *ds = w * (d - dot);
        }
    });
}

pub fn attention_backward_query(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    let dqkv = RowsMut::new(dqkv);
    a.for_rows(true, &|rows, scratch, masked| {
        for r in rows {
            let n = a.keys(starts, r);
            for h in 0..a.heads {
                a.masked(dscores, starts, r, h, n, masked);
                let c = sized(scratch, a.tq * a.hd);
                gemm_here(
                    MatRef::rows(masked, a.tq, n),
                    a.k_mat(qkv, r, h, n, 0),
                    0.0,
                    MatMut::rows(c, a.tq, a.hd),
                );
                for t in 0..a.tq {
                    let q = a.q(t, r, h);
                    // SAFETY: position (t, r) is row t * b + r of qkv: r's own.
                    let dq = unsafe { dqkv.get(q..q + a.hd) };
                    for (d, v) in dq.iter_mut().zip(&c[t * a.hd..]) {
                        *d += p.scale * v;
                    }
                }
            }
        }
    });
}

/// dk (`extra` = 0, from q) or dv (`extra` = dim, from dout): the keys'
/// side, masked^T [n, Tq] . rhs [Tq, hd], scaled, added at the key rows.
/// Blocks of rows share the threads only where their key rows are
/// disjoint.
fn key_side<'a>(
    a: &At,
    w: &[f32],
    rhs: &(dyn Fn(usize, usize) -> MatRef<'a> + Sync),
    starts: &[u32],
    dqkv: &mut [f32],
    (extra, scale): (usize, f32),
) {
    let dqkv = RowsMut::new(dqkv);
    a.for_rows(a.key_rows_disjoint(), &|rows, scratch, masked| {
        for r in rows {
            let n = a.keys(starts, r);
            for h in 0..a.heads {
                a.masked(w, starts, r, h, n, masked);
                let c = sized(scratch, n * a.hd);
                gemm_here(
                    MatRef::rows(masked, a.tq, n).t(),
                    rhs(r, h),
                    0.0,
                    MatMut::rows(c, n, a.hd),
                );
                for s in 0..n {
                    let k = a.k(s, r, h) + extra;
                    // SAFETY: key step s of row r is r's own position
                    // (key_rows_disjoint), or this is the only block.
                    let dk = unsafe { dqkv.get(k..k + a.hd) };
                    for (d, v) in dk.iter_mut().zip(&c[s * a.hd..]) {
                        *d += scale * v;
                    }
                }
            }
        }
    });
}

pub fn attention_backward_key(
    p: &AttentionParams,
    dscores: &[f32],
    qkv: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    let q = |r, h| a.q_mat(qkv, r, h);
    key_side(&a, dscores, &q, starts, dqkv, (0, p.scale));
}

pub fn attention_backward_value(
    p: &AttentionParams,
    weights: &[f32],
    dout: &[f32],
    starts: &[u32],
    dqkv: &mut [f32],
) {
    let a = At::of(p);
    let d = |r, h| a.o_mat(dout, r, h);
    key_side(&a, weights, &d, starts, dqkv, (a.dim, 1.0));
}
