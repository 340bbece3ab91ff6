//! dense (fully connected) layer as plain loops: the specification of the
//! tiled matmuls in `shaders/dense.wgsl`.

use super::activation::activate;
use crate::params::DenseParams;

/// y [N, OUT] = act(x [N, IN] . w [OUT, IN]^T + b [OUT]), act being `p.act`.
pub fn dense_forward(p: &DenseParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let (n, inp, out) = (p.n as usize, p.inp as usize, p.out as usize);
    for r in 0..n {
        for o in 0..out {
            let mut acc = b[o];
            for i in 0..inp {
                acc += x[r * inp + i] * w[o * inp + i];
            }
            y[r * out + o] = activate(p.act, acc);
        }
    }
}

/// dx [N, IN] += dy [N, OUT] . w [OUT, IN].
pub fn dense_backward_input(p: &DenseParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (n, inp, out) = (p.n as usize, p.inp as usize, p.out as usize);
    for r in 0..n {
        for i in 0..inp {
            let mut acc = 0.0;
            for o in 0..out {
                acc += dy[r * out + o] * w[o * inp + i];
            }
            dx[r * inp + i] += acc;
        }
    }
}

/// dw [OUT, IN] += dy [N, OUT]^T . x [N, IN].
pub fn dense_backward_weight(p: &DenseParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (n, inp, out) = (p.n as usize, p.inp as usize, p.out as usize);
    for o in 0..out {
        for i in 0..inp {
            let mut acc = 0.0;
            for r in 0..n {
                acc += dy[r * out + o] * x[r * inp + i];
            }
            dw[o * inp + i] += acc;
        }
    }
}

/// db [OUT] += sum over rows of dy [N, OUT].
pub fn dense_backward_bias(p: &DenseParams, dy: &[f32], db: &mut [f32]) {
    let (n, out) = (p.n as usize, p.out as usize);
    for (o, d) in db.iter_mut().enumerate().take(out) {
        let mut acc = 0.0;
        for r in 0..n {
            acc += dy[r * out + o];
        }
        *d += acc;
    }
}
