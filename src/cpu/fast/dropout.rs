//! Inverted dropout a period at a time: the twin's mask (src/cpu/dropout.rs)
//! without its `e % period` per element, an integer division that cost
//! more than the hash itself; the loop over one period vectorises.

use crate::cpu::dropout::{mask_key, mask_value};
use crate::params::DropoutParams;

/// (len, period) as usize (the shape checks keep the period at least 1).
fn dims(p: &DropoutParams) -> (usize, usize) {
    let len = p.len as usize;
    (len, (p.period as usize).max(1))
}

/// y[e] = x[e] * mask(e % period).
pub fn dropout_forward(p: &DropoutParams, x: &[f32], y: &mut [f32]) {
    let (len, period) = dims(p);
    let key = mask_key(p.seed, p.step);
    for (ys, xs) in y[..len].chunks_mut(period).zip(x[..len].chunks(period)) {
        for (e, (y, x)) in ys.iter_mut().zip(xs).enumerate() {
            *y = x * mask_value(key, e as u32, p.rate, p.scale);
        }
    }
}

/// dx[e] += dy[e] * mask(e % period).
pub fn dropout_backward(p: &DropoutParams, dy: &[f32], dx: &mut [f32]) {
    let (len, period) = dims(p);
    let key = mask_key(p.seed, p.step);
    for (dxs, dys) in dx[..len].chunks_mut(period).zip(dy[..len].chunks(period)) {
        for (e, (dx, dy)) in dxs.iter_mut().zip(dys).enumerate() {
            *dx += dy * mask_value(key, e as u32, p.rate, p.scale);
        }
    }
}
