//! The recurrent cells with their recurrent products as SGEMM over the
//! batch and the gate arithmetic as whole-row slice loops over the
//! vectorising functions of `math`. An LSTM or RNN step is one job over
//! blocks of the batch's rows (`threads::for_blocks`): each thread computes
//! its rows' product and then their cells, so the second core shares the
//! cell arithmetic too instead of waiting for it. Same formulas as the
//! twins in src/cpu/recurrent.rs, which document them.

use super::gemm::{MatMut, MatRef, gemm, gemm_here};
use super::math::{sigmoid_in_place, tanh_in_place};
use super::threads::{RowsMut, for_blocks};
use crate::cpu::dropout::{mask_key, mask_value};
use crate::params::RecurrentParams;

/// (hidden, batch, t) as usize.
fn dims(p: &RecurrentParams) -> (usize, usize, usize) {
    (p.hidden as usize, p.batch as usize, p.t as usize)
}

/// A step's blocks of batch rows are multiples of this: whole AVX2
/// vectors of the products' rows.
const ROWS: usize = 8;

/// W_hh^T [H, G * H] row by row, kept for the steps of one sequence: the
/// products h . W_hh^T read it without packing W_hh first, which each
/// thread's product would do at every step otherwise (measured here: 1.35x
/// the speed at 32 rows, 1.8x at 16). Built at a sequence's first step and
/// reused only by the step right after the last one, of the same weights
/// and hidden-state buffers (the recurrence reads what that step wrote, so
/// such a step continues the sequence); anything else builds it again. A
/// one-step sequence (typing, generating) reads W_hh as it is.
#[derive(Debug, Default)]
pub struct TransposedWeights {
    /// The addresses and lengths of W_hh and h_in, and the step that may
    /// reuse `data`.
    of: (usize, usize, usize, usize, u32),
    data: Vec<f32>,
}

impl TransposedWeights {
    /// W_hh^T as a [H, G * H] view (`g` = G * H), for step `p.t` reading
    /// `h_in`.
    pub fn get<'a>(
        &'a mut self,
        p: &RecurrentParams,
        w_hh: &'a [f32],
        h_in: &[f32],
        g: usize,
    ) -> MatRef<'a> {
        let hd = p.hidden as usize;
        let w_hh = &w_hh[..g * hd];
        if p.steps <= 1 || hd == 0 {
            return MatRef::rows(w_hh, g, hd).t();
        }
        let key = |t: u32| {
            let (w, h) = (w_hh.as_ptr() as usize, h_in.as_ptr() as usize);
            (w, w_hh.len(), h, h_in.len(), t)
        };
        if p.t == 0 || self.of != key(p.t) {
            self.data.clear();
            self.data.resize(w_hh.len(), 0.0);
            for (i, row) in w_hh.chunks_exact(hd).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    self.data[j * g + i] = v;
                }
            }
        }
        self.of = key(p.t + 1);
        MatRef::rows(&self.data, hd, g)
    }
}

/// z [batch, G * H] = b_hh + h_in[t] . W_hh^T, as one product into the
/// scratch `z` (the GRU's, whose n gate needs the recurrent part alone).
fn product(p: &RecurrentParams, w_hh_t: MatRef<'_>, b_hh: &[f32], h_in: &[f32], z: &mut Vec<f32>) {
    let (hd, b, t) = dims(p);
    z.clear();
    for _ in 0..b {
        z.extend_from_slice(b_hh);
    }
    gemm(
        MatRef::rows(&h_in[t * b * hd..(t + 1) * b * hd], b, hd),
        w_hh_t,
        1.0,
        MatMut::rows(z, b, b_hh.len()),
    );
}

/// Rows `rows` of the batch at step t: z = xg[t] + b_hh + h_in[t] . W_hh^T
/// into `z` (those rows' [n, G * H] block), on this thread.
fn rows_product(
    p: &RecurrentParams,
    rows: &std::ops::Range<usize>,
    xg: &[f32],
    w_hh_t: MatRef<'_>,
    b_hh: &[f32],
    h_now: &[f32],
    z: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    let g = b_hh.len();
    let first = t * b + rows.start;
    let xg = &xg[first * g..(first + rows.len()) * g];
    for (zr, xr) in z.chunks_exact_mut(g).zip(xg.chunks_exact(g)) {
        for ((z, x), bias) in zr.iter_mut().zip(xr).zip(b_hh) {
            *z = x + bias;
        }
    }
    gemm_here(
        MatRef::rows(&h_now[rows.start * hd..rows.end * hd], rows.len(), hd),
        w_hh_t,
        1.0,
        MatMut::rows(z, rows.len(), g),
    );
}

/// h_in[t+1] for rows `rows` of the batch: their new h (`h`) times the
/// recurrent mask; `next` is h_in[t+1]'s block of those rows.
fn mask_next(p: &RecurrentParams, rows: &std::ops::Range<usize>, h: &[f32], next: &mut [f32]) {
    let hd = p.hidden as usize;
    next.copy_from_slice(h);
    if p.rate > 0.0 {
        let key = mask_key(p.seed, p.step);
        for (e, v) in next.iter_mut().enumerate() {
            *v *= mask_value(key, (rows.start * hd + e) as u32, p.rate, p.scale);
        }
    }
}

/// The buffers a step's row blocks share: h_in[t] (read) and h_in[t+1]
/// (written, empty at the last step).
fn split_h_in<'a>(p: &RecurrentParams, h_in: &'a mut [f32]) -> (&'a [f32], RowsMut<'a>) {
    let (hd, b, t) = dims(p);
    let (now, next) = h_in.split_at_mut((t + 1) * b * hd);
    let next_len = if t + 1 < p.steps as usize { b * hd } else { 0 };
    (&now[t * b * hd..], RowsMut::new(&mut next[..next_len]))
}

/// Row r's new h: to h_out[t], and times the recurrent mask to h_in[t+1]
/// unless t is the last step.
fn put_h(p: &RecurrentParams, r: usize, h: &[f32], h_in: &mut [f32], h_out: &mut [f32]) {
    let (hd, b, t) = dims(p);
    let row = t * b + r;
    h_out[row * hd..(row + 1) * hd].copy_from_slice(h);
    if t + 1 == p.steps as usize {
        return;
    }
    mask_next(
        p,
        &(r..r + 1),
        h,
        &mut h_in[(row + b) * hd..(row + b + 1) * hd],
    );
}

/// `recurrent::rnn_step_forward`: h_out[t] = tanh(xg[t] + b_hh + h_in[t] .
/// W_hh^T), a block of the batch's rows per thread.
pub fn rnn_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh_t: MatRef<'_>,
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    let (h_now, h_next) = split_h_in(p, h_in);
    let h_out = RowsMut::new(&mut h_out[t * b * hd..(t + 1) * b * hd]);
    for_blocks(b, ROWS, b * hd * hd, &|rows| {
        let span = rows.start * hd..rows.end * hd;
        // SAFETY: a block writes only its own rows of h_out[t] and h_in[t+1].
        let h = unsafe { h_out.get(span.clone()) };
        rows_product(p, &rows, xg, w_hh_t, b_hh, h_now, h);
        tanh_in_place(h);
        if t + 1 < p.steps as usize {
            mask_next(p, &rows, h, unsafe { h_next.get(span) });
        }
    });
}

/// `recurrent::gru_step_forward`; `z` holds the recurrent products a.
#[allow(clippy::too_many_arguments)]
pub fn gru_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh_t: MatRef<'_>,
    b_hh: &[f32],
    h0: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    gates: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, t) = dims(p);
    product(p, w_hh_t, b_hh, h_in, z);
    let mut h = vec![0.0; hd];
    for r in 0..b {
        let row = t * b + r;
        let a = &z[r * 3 * hd..(r + 1) * 3 * hd];
        let x = &xg[row * 3 * hd..(row + 1) * 3 * hd];
        let gr = &mut gates[row * 4 * hd..(row + 1) * 4 * hd];
        let (rz, rest) = gr.split_at_mut(2 * hd);
        let (n, an) = rest.split_at_mut(hd);
        for k in 0..2 * hd {
            rz[k] = x[k] + a[k];
        }
        sigmoid_in_place(rz);
        let (rg, zg) = rz.split_at(hd);
        an.copy_from_slice(&a[2 * hd..]);
        for j in 0..hd {
            n[j] = x[2 * hd + j] + rg[j] * an[j];
        }
        tanh_in_place(n);
        let prev = if t == 0 {
            &h0[r * hd..(r + 1) * hd]
        } else {
            &h_out[(row - b) * hd..(row - b + 1) * hd]
        };
        for j in 0..hd {
            h[j] = (1.0 - zg[j]) * n[j] + zg[j] * prev[j];
        }
        put_h(p, r, &h, h_in, h_out);
    }
}

/// `recurrent::lstm_step_forward`: z = xg[t] + b_hh + h_in[t] . W_hh^T
/// into gates[t], activated there, then c[t+1] and h; a block of the
/// batch's rows per thread.
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh_t: MatRef<'_>,
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    c: &mut [f32],
    gates: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    let g4 = 4 * hd;
    let (h_now, h_next) = split_h_in(p, h_in);
    let h_out = RowsMut::new(&mut h_out[t * b * hd..(t + 1) * b * hd]);
    let gates = RowsMut::new(&mut gates[t * b * g4..(t + 1) * b * g4]);
    let (c_prev, c_next) = c[t * b * hd..(t + 2) * b * hd].split_at_mut(b * hd);
    let (c_prev, c_next) = (&*c_prev, RowsMut::new(c_next));
    for_blocks(b, ROWS, b * hd * g4, &|rows| {
        let span = rows.start * hd..rows.end * hd;
        // SAFETY: a block writes only its own rows of gates[t], c[t+1],
        // h_out[t] and h_in[t+1].
        let (z, c_next, h) = unsafe {
            (
                gates.get(rows.start * g4..rows.end * g4),
                c_next.get(span.clone()),
                h_out.get(span.clone()),
            )
        };
        rows_product(p, &rows, xg, w_hh_t, b_hh, h_now, z);
        for (((gr, c_prev), c_next), h) in z
            .chunks_exact_mut(g4)
            .zip(c_prev[span.clone()].chunks_exact(hd))
            .zip(c_next.chunks_exact_mut(hd))
            .zip(h.chunks_exact_mut(hd))
        {
            let (ifg, o) = gr.split_at_mut(3 * hd);
            let (if_, g) = ifg.split_at_mut(2 * hd);
            sigmoid_in_place(if_);
            tanh_in_place(g);
            sigmoid_in_place(o);
            let (i, f) = if_.split_at(hd);
            for (((c, &f), &cp), (&i, &g)) in
                c_next.iter_mut().zip(f).zip(c_prev).zip(i.iter().zip(&*g))
            {
                *c = f * cp + i * g;
            }
            // h = o * tanh(c) in loops of their own, which vectorise.
            h.copy_from_slice(c_next);
            tanh_in_place(h);
            for (h, o) in h.iter_mut().zip(&*o) {
                *h *= o;
            }
        }
        if t + 1 < p.steps as usize {
            mask_next(p, &rows, h, unsafe { h_next.get(span) });
        }
    });
}

/// `recurrent::gru_step_backward`, a row at a time.
pub fn gru_step_backward(
    p: &RecurrentParams,
    gates: &[f32],
    h0: &[f32],
    h_out: &[f32],
    dh: &mut [f32],
    dgi: &mut [f32],
    dgh: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    for r in 0..b {
        let row = t * b + r;
        let gr = &gates[row * 4 * hd..(row + 1) * 4 * hd];
        let (rg, zg, n, an) = (
            &gr[..hd],
            &gr[hd..2 * hd],
            &gr[2 * hd..3 * hd],
            &gr[3 * hd..],
        );
        let at = |k: usize| row * 3 * hd + k * hd;
        for j in 0..hd {
            let prev = if t == 0 {
                h0[r * hd + j]
            } else {
                h_out[(row - b) * hd + j]
            };
            let d = dh[row * hd + j];
            let dn = d * (1.0 - zg[j]) * (1.0 - n[j] * n[j]);
            let dz = d * (prev - n[j]) * zg[j] * (1.0 - zg[j]);
            let dr = dn * an[j] * rg[j] * (1.0 - rg[j]);
            dgi[at(0) + j] = dr;
            dgi[at(1) + j] = dz;
            dgi[at(2) + j] = dn;
            dgh[at(0) + j] = dr;
            dgh[at(1) + j] = dz;
            dgh[at(2) + j] = dn * rg[j];
            if t > 0 {
                dh[(row - b) * hd + j] += d * zg[j];
            }
        }
    }
}

/// `recurrent::lstm_step_backward`, a block of the batch's rows per thread.
pub fn lstm_step_backward(
    p: &RecurrentParams,
    gates: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    let g4 = 4 * hd;
    let dc = RowsMut::new(&mut dc[..b * hd]);
    let dgates = RowsMut::new(&mut dgates[t * b * g4..(t + 1) * b * g4]);
    // Shared when the step's product is: such a batch's cells take some
    // tens of microseconds too.
    for_blocks(b, ROWS, b * hd * g4, &|rows| {
        // SAFETY: a block writes only its own rows of dc and dgates[t].
        let (dc, dgates) = unsafe {
            (
                dc.get(rows.start * hd..rows.end * hd),
                dgates.get(rows.start * g4..rows.end * g4),
            )
        };
        for (k, (dcr, dgr)) in dc
            .chunks_exact_mut(hd)
            .zip(dgates.chunks_exact_mut(g4))
            .enumerate()
        {
            let row = t * b + rows.start + k;
            let gr = &gates[row * g4..(row + 1) * g4];
            let (i, f, g, o) = (
                &gr[..hd],
                &gr[hd..2 * hd],
                &gr[2 * hd..3 * hd],
                &gr[3 * hd..],
            );
            let c_prev = &c[row * hd..(row + 1) * hd];
            let c_cur = &c[(row + b) * hd..(row + b + 1) * hd];
            let dhr = &dh[row * hd..(row + 1) * hd];
            let (di, rest) = dgr.split_at_mut(hd);
            let (df, rest) = rest.split_at_mut(hd);
            let (dg, do_) = rest.split_at_mut(hd);
            // tanh(c) first, in do_, as a loop of its own: with it inside,
            // the loop below did not vectorise.
            do_.copy_from_slice(c_cur);
            tanh_in_place(do_);
            cell_backward([i, f, g, o], c_prev, dhr, dcr, [di, df, dg, do_]);
        }
    });
}

/// One row's LSTM cell backward, the twin's formulas, with tanh(c) already
/// in `d[3]` (d = di, df, dg, do): a function of its own so that its slices
/// are arguments the compiler knows do not overlap, and its loop vectorises
/// (it stayed scalar inline, its outputs cut from one row).
#[inline(never)]
fn cell_backward(
    [i, f, g, o]: [&[f32]; 4],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    [di, df, dg, do_]: [&mut [f32]; 4],
) {
    let hd = dc.len();
    let (i, f, g, o) = (&i[..hd], &f[..hd], &g[..hd], &o[..hd]);
    let (c_prev, dh) = (&c_prev[..hd], &dh[..hd]);
    let (di, df, dg, do_) = (&mut di[..hd], &mut df[..hd], &mut dg[..hd], &mut do_[..hd]);
    for j in 0..hd {
        let tc = do_[j];
        let dct = dc[j] + dh[j] * o[j] * (1.0 - tc * tc);
        di[j] = dct * g[j] * i[j] * (1.0 - i[j]);
        df[j] = dct * c_prev[j] * f[j] * (1.0 - f[j]);
        dg[j] = dct * i[j] * (1.0 - g[j] * g[j]);
        do_[j] = dh[j] * tc * o[j] * (1.0 - o[j]);
        dc[j] = dct * f[j];
    }
}

/// `recurrent::rnn_step_backward`: dgates[t] = dh[t] (1 - h^2).
pub fn rnn_step_backward(p: &RecurrentParams, h_out: &[f32], dh: &[f32], dgates: &mut [f32]) {
    let (hd, b, t) = dims(p);
    let rows = t * b * hd..(t + 1) * b * hd;
    for ((d, &g), &h) in dgates[rows.clone()]
        .iter_mut()
        .zip(&dh[rows.clone()])
        .zip(&h_out[rows])
    {
        *d = g * (1.0 - h * h);
    }
}

/// dh[t-1] += (dgates[t] . W_hh) * mask as one product (into the scratch
/// `z` first when the mask is active).
pub fn step_backward_hidden(
    p: &RecurrentParams,
    gates: usize,
    dgates: &[f32],
    w_hh: &[f32],
    dh: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, t) = dims(p);
    let g = gates * hd;
    let a = MatRef::rows(&dgates[t * b * g..(t + 1) * b * g], b, g);
    let w = MatRef::rows(w_hh, g, hd);
    let prev = &mut dh[(t - 1) * b * hd..t * b * hd];
    if p.rate <= 0.0 {
        gemm(a, w, 1.0, MatMut::rows(prev, b, hd));
        return;
    }
    z.clear();
    z.resize(b * hd, 0.0);
    gemm(a, w, 0.0, MatMut::rows(z, b, hd));
    let key = mask_key(p.seed, p.step);
    for (e, (d, s)) in prev.iter_mut().zip(z.iter()).enumerate() {
        *d += s * mask_value(key, e as u32, p.rate, p.scale);
    }
}
