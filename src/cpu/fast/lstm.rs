//! The LSTM step with its recurrent products as SGEMM and the gate arithmetic
//! as whole-row slice loops over the vectorising `activation` functions.
//! Same formulas as the twins in src/cpu/lstm.rs.

use super::activation::{sigmoid_in_place, tanh, tanh_in_place};
use super::gemm::{MatMut, MatRef, gemm};
use crate::params::LstmParams;

/// `lstm::lstm_step_forward`: z = xg[t] + b_hh + h_in[t] . W_hh^T as one
/// product into `z` (scratch, [batch, 4H]), activated in place into gates[t].
#[allow(clippy::too_many_arguments)]
pub fn lstm_step_forward(
    p: &LstmParams,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
    c: &mut [f32],
    gates: &mut [f32],
    z: &mut Vec<f32>,
) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
    let (g4, rows) = (4 * hd, t * b..(t + 1) * b);
    z.clear();
    for r in rows.clone() {
        let xr = &xg[r * g4..(r + 1) * g4];
        z.extend(xr.iter().zip(b_hh).map(|(x, bias)| x + bias));
    }
    gemm(
        MatRef::rows(&h_in[rows.start * hd..rows.end * hd], b, hd),
        MatRef::rows(w_hh, g4, hd).t(),
        1.0,
        MatMut::rows(z, b, g4),
    );
    let last = t + 1 == p.steps as usize;
    for (k, row) in rows.enumerate() {
        let gr = &mut gates[row * g4..(row + 1) * g4];
        gr.copy_from_slice(&z[k * g4..(k + 1) * g4]);
        let (ifg, o) = gr.split_at_mut(3 * hd);
        let (if_, g) = ifg.split_at_mut(2 * hd);
        sigmoid_in_place(if_);
        tanh_in_place(g);
        sigmoid_in_place(o);
        let (i, f) = if_.split_at(hd);
        let (c_prev, c_next) = c[row * hd..(row + b + 1) * hd].split_at_mut(b * hd);
        let (c_prev, c_next) = (&c_prev[..hd], &mut c_next[..hd]);
        let h = &mut h_out[row * hd..(row + 1) * hd];
        for j in 0..hd {
            let cs = f[j] * c_prev[j] + i[j] * g[j];
            c_next[j] = cs;
            h[j] = o[j] * tanh(cs);
        }
        if !last {
            h_in[(row + b) * hd..(row + b + 1) * hd].copy_from_slice(h);
        }
    }
}

/// `lstm::lstm_step_backward`, a row at a time.
pub fn lstm_step_backward(
    p: &LstmParams,
    gates: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
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

/// dh[t-1] += dgates[t] . W_hh as one product.
pub fn lstm_step_backward_hidden(p: &LstmParams, dgates: &[f32], w_hh: &[f32], dh: &mut [f32]) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
    gemm(
        MatRef::rows(&dgates[t * b * 4 * hd..(t + 1) * b * 4 * hd], b, 4 * hd),
        MatRef::rows(w_hh, 4 * hd, hd),
        1.0,
        MatMut::rows(&mut dh[(t - 1) * b * hd..t * b * hd], b, hd),
    );
}
