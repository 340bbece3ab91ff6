//! The LSTM cell's elementwise part as plain loops: the specification of
//! `shaders/lstm.wgsl`. The matmuls x W_ih^T + b_ih and h W_hh^T + b_hh are
//! `dense_forward` calls; gate order is PyTorch's i, f, g, o.

use crate::params::LstmParams;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// For each row n and unit j, with z = xg + hg ([N, 4H]):
/// i = sigmoid(z_i), f = sigmoid(z_f), g = tanh(z_g), o = sigmoid(z_o),
/// c = f * c_prev + i * g, h = o * tanh(c). gates [N, 4H] keeps i, f, g, o.
pub fn lstm_cell_forward(
    p: &LstmParams,
    xg: &[f32],
    hg: &[f32],
    c_prev: &[f32],
    h: &mut [f32],
    c: &mut [f32],
    gates: &mut [f32],
) {
    let hd = p.hidden as usize;
    for r in 0..p.n as usize {
        for j in 0..hd {
            let z = |k: usize| xg[r * 4 * hd + k * hd + j] + hg[r * 4 * hd + k * hd + j];
            let (i, f, g, o) = (sigmoid(z(0)), sigmoid(z(1)), z(2).tanh(), sigmoid(z(3)));
            let s = r * hd + j;
            c[s] = f * c_prev[s] + i * g;
            h[s] = o * c[s].tanh();
            for (k, v) in [i, f, g, o].into_iter().enumerate() {
                gates[r * 4 * hd + k * hd + j] = v;
            }
        }
    }
}

/// Back through one cell. dh = d loss / d h_t, dc = d loss / d c_t arriving
/// from step t+1. With dc_t = dc + dh * o * (1 - tanh(c)^2):
/// dz_i = dc_t * g * i(1-i), dz_f = dc_t * c_prev * f(1-f),
/// dz_g = dc_t * i * (1-g^2), dz_o = dh * tanh(c) * o(1-o), dc_prev = dc_t * f.
#[allow(clippy::too_many_arguments)]
pub fn lstm_cell_backward(
    p: &LstmParams,
    gates: &[f32],
    c_prev: &[f32],
    c: &[f32],
    dh: &[f32],
    dc: &[f32],
    dgates: &mut [f32],
    dc_prev: &mut [f32],
) {
    let hd = p.hidden as usize;
    for r in 0..p.n as usize {
        for j in 0..hd {
            let gi = |k: usize| r * 4 * hd + k * hd + j;
            let (i, f, g, o) = (gates[gi(0)], gates[gi(1)], gates[gi(2)], gates[gi(3)]);
            let s = r * hd + j;
            let tc = c[s].tanh();
            let dct = dc[s] + dh[s] * o * (1.0 - tc * tc);
            dgates[gi(0)] = dct * g * i * (1.0 - i);
            dgates[gi(1)] = dct * c_prev[s] * f * (1.0 - f);
            dgates[gi(2)] = dct * i * (1.0 - g * g);
            dgates[gi(3)] = dh[s] * tc * o * (1.0 - o);
            dc_prev[s] = dct * f;
        }
    }
}
