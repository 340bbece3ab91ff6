//! One timestep of each recurrent cell as plain loops: the specification of
//! `shaders/recurrent.wgsl`. Sequence tensors are time-major, [steps *
//! batch, width] (see [`crate::shapes::SeqStep`]); gate orders are
//! PyTorch's (RNN: one pre-activation; GRU r, z, n; LSTM i, f, g, o). The
//! input projection x W_ih^T + b_ih of the whole sequence is one
//! `dense_forward` before the time loop; only the recurrence runs step by
//! step.
//!
//! Recurrent dropout (Keras's `recurrent_dropout`) multiplies h_(t-1) by one
//! mask per sequence where it feeds the recurrent product: a step writes its
//! h masked into h_in[t+1], the product's input, and unmasked into h_out[t].
//! The mask of row r, unit j is the dropout mask of (seed, step, r * H + j)
//! (src/cpu/dropout.rs), so the same at every timestep.

use super::dropout::{mask_key, mask_value};
use crate::params::RecurrentParams;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// (hidden, batch, t) as usize.
fn dims(p: &RecurrentParams) -> (usize, usize, usize) {
    (p.hidden as usize, p.batch as usize, p.t as usize)
}

/// The recurrent dropout mask of row r, unit j.
fn mask(p: &RecurrentParams, r: usize, j: usize) -> f32 {
    let e = (r * p.hidden as usize + j) as u32;
    mask_value(mask_key(p.seed, p.step), e, p.rate, p.scale)
}

/// The recurrent product of row r at timestep t: h_in[t][r] . W_hh^T + b_hh,
/// [gates * H].
fn product(
    p: &RecurrentParams,
    gates: usize,
    r: usize,
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &[f32],
) -> Vec<f32> {
    let (hd, b, t) = dims(p);
    let row = t * b + r;
    (0..gates * hd)
        .map(|k| {
            let dot: f32 = (0..hd).map(|m| h_in[row * hd + m] * w_hh[k * hd + m]).sum();
            dot + b_hh[k]
        })
        .collect()
}

/// Store row r's new h: to h_out[t], and masked to h_in[t+1] unless t is
/// the last step.
fn put_h(p: &RecurrentParams, r: usize, j: usize, h: f32, h_in: &mut [f32], h_out: &mut [f32]) {
    let (hd, b, t) = dims(p);
    let s = (t * b + r) * hd + j;
    h_out[s] = h;
    if t + 1 < p.steps as usize {
        h_in[s + b * hd] = h * mask(p, r, j);
    }
}

/// h = tanh(xg[t] + h_in[t] W_hh^T + b_hh), [batch, H] at timestep t.
pub fn rnn_step_forward(
    p: &RecurrentParams,
    xg: &[f32],
    w_hh: &[f32],
    b_hh: &[f32],
    h_in: &mut [f32],
    h_out: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    for r in 0..b {
        let a = product(p, 1, r, w_hh, b_hh, h_in);
        for j in 0..hd {
            let h = (xg[(t * b + r) * hd + j] + a[j]).tanh();
            put_h(p, r, j, h, h_in, h_out);
        }
    }
}

/// dgates[t] = dh[t] * (1 - h^2): the pre-activation's gradient.
pub fn rnn_step_backward(p: &RecurrentParams, h_out: &[f32], dh: &[f32], dgates: &mut [f32]) {
    let (hd, b, t) = dims(p);
    for s in t * b * hd..(t + 1) * b * hd {
        dgates[s] = dh[s] * (1.0 - h_out[s] * h_out[s]);
    }
}

/// PyTorch's GRU at timestep t, with a = h_in[t] W_hh^T + b_hh:
/// r = sigmoid(xg_r + a_r), z = sigmoid(xg_z + a_z), n = tanh(xg_n + r a_n),
/// h = (1 - z) n + z h_prev, h_prev being h0 at t = 0 and h_out[t-1] after
/// (unmasked: dropout only touches the product). gates[t] = r, z, n, a_n.
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
) {
    let (hd, b, t) = dims(p);
    for r in 0..b {
        let row = t * b + r;
        let a = product(p, 3, r, w_hh, b_hh, h_in);
        let x = &xg[row * 3 * hd..(row + 1) * 3 * hd];
        for j in 0..hd {
            let rg = sigmoid(x[j] + a[j]);
            let z = sigmoid(x[hd + j] + a[hd + j]);
            let n = (x[2 * hd + j] + rg * a[2 * hd + j]).tanh();
            let prev = if t == 0 {
                h0[r * hd + j]
            } else {
                h_out[(row - b) * hd + j]
            };
            let h = (1.0 - z) * n + z * prev;
            for (k, v) in [rg, z, n, a[2 * hd + j]].into_iter().enumerate() {
                gates[row * 4 * hd + k * hd + j] = v;
            }
            put_h(p, r, j, h, h_in, h_out);
        }
    }
}

/// Back through the GRU at timestep t, given the whole d loss / d h in
/// dh[t]: with dn = dh (1 - z) (1 - n^2), dz = dh (h_prev - n) z (1 - z),
/// dr = dn a_n r (1 - r), dgi[t] = (dr, dz, dn) and dgh[t] = (dr, dz, dn r),
/// both overwritten; dh[t-1] += dh z, the direct path, when t >= 1.
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
        for j in 0..hd {
            let g = |k: usize| gates[row * 4 * hd + k * hd + j];
            let (rg, z, n, an) = (g(0), g(1), g(2), g(3));
            let prev = if t == 0 {
                h0[r * hd + j]
            } else {
                h_out[(row - b) * hd + j]
            };
            let d = dh[row * hd + j];
            let dn = d * (1.0 - z) * (1.0 - n * n);
            let dz = d * (prev - n) * z * (1.0 - z);
            let dr = dn * an * rg * (1.0 - rg);
            let at = |k: usize| row * 3 * hd + k * hd + j;
            dgi[at(0)] = dr;
            dgi[at(1)] = dz;
            dgi[at(2)] = dn;
            dgh[at(0)] = dr;
            dgh[at(1)] = dz;
            dgh[at(2)] = dn * rg;
            if t > 0 {
                dh[(row - b) * hd + j] += d * z;
            }
        }
    }
}

/// PyTorch's LSTM at timestep t, with z = xg[t] + h_in[t] W_hh^T + b_hh
/// ([batch, 4H]): i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g),
/// o = sigmoid(z_o), c[t+1] = f * c[t] + i * g, h = o * tanh(c[t+1]).
/// gates[t] keeps i, f, g, o for the backward pass.
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
) {
    let (hd, b, t) = dims(p);
    for r in 0..b {
        let row = t * b + r;
        let a = product(p, 4, r, w_hh, b_hh, h_in);
        let z: Vec<f32> = (0..4 * hd).map(|k| xg[row * 4 * hd + k] + a[k]).collect();
        for j in 0..hd {
            let (i, f, g, o) = (
                sigmoid(z[j]),
                sigmoid(z[hd + j]),
                z[2 * hd + j].tanh(),
                sigmoid(z[3 * hd + j]),
            );
            let cs = f * c[row * hd + j] + i * g;
            c[(row + b) * hd + j] = cs;
            for (k, v) in [i, f, g, o].into_iter().enumerate() {
                gates[row * 4 * hd + k * hd + j] = v;
            }
            put_h(p, r, j, o * cs.tanh(), h_in, h_out);
        }
    }
}

/// Back through the LSTM cell of timestep t. dh[t] is the whole d loss / d h_t
/// (from the layer above and from step t+1); dc [batch, H] holds d loss / d
/// c[t+1] and is overwritten with d loss / d c[t]. With
/// dc_t = dc + dh * o * (1 - tanh(c)^2): dz_i = dc_t * g * i(1-i),
/// dz_f = dc_t * c[t] * f(1-f), dz_g = dc_t * i * (1-g^2),
/// dz_o = dh * tanh(c) * o(1-o); dc = dc_t * f. dgates[t] is overwritten.
pub fn lstm_step_backward(
    p: &RecurrentParams,
    gates: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    for r in 0..b {
        let row = t * b + r;
        for j in 0..hd {
            let gi = |k: usize| row * 4 * hd + k * hd + j;
            let (i, f, g, o) = (gates[gi(0)], gates[gi(1)], gates[gi(2)], gates[gi(3)]);
            let tc = c[(row + b) * hd + j].tanh();
            let dhv = dh[row * hd + j];
            let dct = dc[r * hd + j] + dhv * o * (1.0 - tc * tc);
            dgates[gi(0)] = dct * g * i * (1.0 - i);
            dgates[gi(1)] = dct * c[row * hd + j] * f * (1.0 - f);
            dgates[gi(2)] = dct * i * (1.0 - g * g);
            dgates[gi(3)] = dhv * tc * o * (1.0 - o);
            dc[r * hd + j] = dct * f;
        }
    }
}

/// The recurrence's share of the hidden gradient for a cell of `gates`
/// pre-activations per unit, for t >= 1:
/// dh[t-1] += (dgates[t] W_hh) * mask, onto what the layer above put there.
fn step_backward_hidden(
    p: &RecurrentParams,
    gates: usize,
    dgates: &[f32],
    w_hh: &[f32],
    dh: &mut [f32],
) {
    let (hd, b, t) = dims(p);
    let g = gates * hd;
    for r in 0..b {
        let (row, prev) = (t * b + r, (t - 1) * b + r);
        for m in 0..hd {
            let sum: f32 = (0..g).map(|k| dgates[row * g + k] * w_hh[k * hd + m]).sum();
            dh[prev * hd + m] += sum * mask(p, r, m);
        }
    }
}

/// dh[t-1] += (dgates[t] [b, H] . W_hh) * mask.
pub fn rnn_step_backward_hidden(p: &RecurrentParams, dgates: &[f32], w_hh: &[f32], dh: &mut [f32]) {
    step_backward_hidden(p, 1, dgates, w_hh, dh);
}

/// dh[t-1] += (dgh[t] [b, 3H] . W_hh) * mask.
pub fn gru_step_backward_hidden(p: &RecurrentParams, dgh: &[f32], w_hh: &[f32], dh: &mut [f32]) {
    step_backward_hidden(p, 3, dgh, w_hh, dh);
}

/// dh[t-1] += (dgates[t] [b, 4H] . W_hh) * mask.
pub fn lstm_step_backward_hidden(
    p: &RecurrentParams,
    dgates: &[f32],
    w_hh: &[f32],
    dh: &mut [f32],
) {
    step_backward_hidden(p, 4, dgates, w_hh, dh);
}
