//! One LSTM timestep as plain loops: the specification of `shaders/lstm.wgsl`.
//! Sequence tensors are time-major, [steps * batch, width] (see
//! [`crate::shapes::SeqStep`]); gate order is PyTorch's i, f, g, o. The input
//! projection x W_ih^T + b_ih of the whole sequence is one `dense_forward`
//! before the time loop; only the recurrence runs step by step.

use crate::params::LstmParams;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// For each row r of timestep t and unit j, with
/// z = xg[t] + h_in[t] W_hh^T + b_hh ([batch, 4H]):
/// i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o),
/// c[t+1] = f * c[t] + i * g, h = o * tanh(c[t+1]). h goes to h_out[t] and,
/// when t + 1 < steps, to h_in[t+1], the next step's input; gates[t] keeps
/// i, f, g, o for the backward pass.
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
) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
    for r in 0..b {
        let row = t * b + r;
        let z: Vec<f32> = (0..4 * hd)
            .map(|k| {
                let dot: f32 = (0..hd).map(|m| h_in[row * hd + m] * w_hh[k * hd + m]).sum();
                xg[row * 4 * hd + k] + dot + b_hh[k]
            })
            .collect();
        for j in 0..hd {
            let (i, f, g, o) = (
                sigmoid(z[j]),
                sigmoid(z[hd + j]),
                z[2 * hd + j].tanh(),
                sigmoid(z[3 * hd + j]),
            );
            let cs = f * c[row * hd + j] + i * g;
            c[(row + b) * hd + j] = cs;
            let h = o * cs.tanh();
            h_out[row * hd + j] = h;
            if t + 1 < p.steps as usize {
                h_in[(row + b) * hd + j] = h;
            }
            for (k, v) in [i, f, g, o].into_iter().enumerate() {
                gates[row * 4 * hd + k * hd + j] = v;
            }
        }
    }
}

/// Back through the cell of timestep t. dh[t] is the whole d loss / d h_t
/// (from the head and from step t+1); dc [batch, H] holds d loss / d c[t+1]
/// and is overwritten with d loss / d c[t]. With dc_t = dc + dh * o * (1 - tanh(c)^2):
/// dz_i = dc_t * g * i(1-i), dz_f = dc_t * c[t] * f(1-f),
/// dz_g = dc_t * i * (1-g^2), dz_o = dh * tanh(c) * o(1-o); dc = dc_t * f.
/// dgates[t] (the gate pre-activations' gradient) is overwritten.
pub fn lstm_step_backward(
    p: &LstmParams,
    gates: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dgates: &mut [f32],
) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
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

/// The recurrence's share of the hidden gradient, for t >= 1:
/// dh[t-1] += dgates[t] W_hh (accumulates onto what the head put there).
pub fn lstm_step_backward_hidden(p: &LstmParams, dgates: &[f32], w_hh: &[f32], dh: &mut [f32]) {
    let (hd, b, t) = (p.hidden as usize, p.batch as usize, p.t as usize);
    for r in 0..b {
        let (row, prev) = (t * b + r, (t - 1) * b + r);
        for m in 0..hd {
            let sum: f32 = (0..4 * hd)
                .map(|k| dgates[row * 4 * hd + k] * w_hh[k * hd + m])
                .sum();
            dh[prev * hd + m] += sum;
        }
    }
}
