//! The recurrent cells with their recurrent products as SGEMM over the
//! whole batch and the gate arithmetic as whole-row slice loops over the
//! vectorising functions of `math`. Same formulas as the twins in
//! src/cpu/recurrent.rs, which document them.

use super::gemm::{MatMut, MatRef, gemm};
use super::math::{sigmoid_in_place, tanh, tanh_in_place};
use crate::cpu::dropout::{mask_key, mask_value};
use crate::params::RecurrentParams;

/// (hidden, batch, t) as usize.
fn dims(p: &RecurrentParams) -> (usize, usize, usize) {
    (p.hidden as usize, p.batch as usize, p.t as usize)
}

/// z [batch, gates * H] = xg[t] + b_hh + h_in[t] . W_hh^T, as one product
/// into the scratch `z` (`with_x`: false leaves xg out, for the GRU, whose
/// n gate needs the recurrent part alone).
fn product(
    p: &RecurrentParams,
    gates: usize,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &[f32],
    z: &mut Vec<f32>,
    with_x: bool,
) {
    let (hd, b, t) = dims(p);
    let (g, rows) = (gates * hd, t * b..(t + 1) * b);
    z.clear();
    for r in rows.clone() {
        if with_x {
            let xr = &xg[r * g..(r + 1) * g];
            z.extend(xr.iter().zip(b_hh).map(|(x, bias)| x + bias));
        } else {
            z.extend_from_slice(b_hh);
        }
    }
    gemm(
        MatRef::rows(&h_in[rows.start * hd..rows.end * hd], b, hd),
        MatRef::rows(w_hh, g, hd).t(),
        1.0,
        MatMut::rows(z, b, g),
    );
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
    let next = &mut h_in[(row + b) * hd..(row + b + 1) * hd];
    next.copy_from_slice(h);
    if p.rate > 0.0 {
        let key = mask_key(p.seed, p.step);
        for (j, v) in next.iter_mut().enumerate() {
            *v *= mask_value(key, (r * hd + j) as u32, p.rate, p.scale);
        }
    }
}

/// `recurrent::rnn_step_forward`.
pub fn rnn_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, _) = dims(p);
    product(p, 1, xg, w_hh, b_hh, h_in, z, true);
    tanh_in_place(z);
    for r in 0..b {
        put_h(p, r, &z[r * hd..(r + 1) * hd], h_in, h_out);
    }
}

/// `recurrent::gru_step_forward`; `z` holds the recurrent products a.
#[allow(clippy::too_many_arguments)]
pub fn gru_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h0: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    gates: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, t) = dims(p);
    product(p, 3, xg, w_hh, b_hh, h_in, z, false);
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

/// `recurrent::lstm_step_forward`: z = xg[t] + b_hh + h_in[t] . W_hh^T as one
/// product, activated in place into gates[t].
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    c: &mut [f32],
    gates: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, t) = dims(p);
    let g4 = 4 * hd;
    product(p, 4, xg, w_hh, b_hh, h_in, z, true);
    let mut h = vec![0.0; hd];
    for r in 0..b {
        let row = t * b + r;
        let gr = &mut gates[row * g4..(row + 1) * g4];
        gr.copy_from_slice(&z[r * g4..(r + 1) * g4]);
        let (ifg, o) = gr.split_at_mut(3 * hd);
        let (if_, g) = ifg.split_at_mut(2 * hd);
        sigmoid_in_place(if_);
        tanh_in_place(g);
        sigmoid_in_place(o);
        let (i, f) = if_.split_at(hd);
        let (c_prev, c_next) = c[row * hd..(row + b + 1) * hd].split_at_mut(b * hd);
        let (c_prev, c_next) = (&c_prev[..hd], &mut c_next[..hd]);
        for j in 0..hd {
            let cs = f[j] * c_prev[j] + i[j] * g[j];
            c_next[j] = cs;
            h[j] = o[j] * tanh(cs);
        }
        put_h(p, r, &h, h_in, h_out);
    }
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

/// `recurrent::lstm_step_backward`, a row at a time.
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
    for r in 0..b {
        let row = t * b + r;
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
        let dcr = &mut dc[r * hd..(r + 1) * hd];
        let (di, rest) = dgates[row * g4..(row + 1) * g4].split_at_mut(hd);
        let (df, rest) = rest.split_at_mut(hd);
        let (dg, do_) = rest.split_at_mut(hd);
        for j in 0..hd {
            let tc = tanh(c_cur[j]);
            let dct = dcr[j] + dhr[j] * o[j] * (1.0 - tc * tc);
            di[j] = dct * g[j] * i[j] * (1.0 - i[j]);
            df[j] = dct * c_prev[j] * f[j] * (1.0 - f[j]);
            dg[j] = dct * i[j] * (1.0 - g[j] * g[j]);
            do_[j] = dhr[j] * tc * o[j] * (1.0 - o[j]);
            dcr[j] = dct * f[j];
        }
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
