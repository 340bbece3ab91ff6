//! dense as matrix products: x [N, IN], w [OUT, IN], y and dy [N, OUT].

use super::activation::activate_in_place;
use super::gemm::{MatMut, MatRef, gemm};
use super::threads::for_row_blocks;
use crate::params::DenseParams;

fn dims(p: &DenseParams) -> (usize, usize, usize) {
    (p.n as usize, p.inp as usize, p.out as usize)
}

/// y = act(x . w^T + b), act being `p.act`: the product, then the bias
/// and activation in blocks of rows on the threads when the product was
/// shared.
pub fn dense_forward(p: &DenseParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let (n, inp, out) = dims(p);
    gemm(
        MatRef::rows(x, n, inp),
        MatRef::rows(w, out, inp).t(),
        0.0,
        MatMut::rows(y, n, out),
    );
    if out == 0 {
        return;
    }
    for_row_blocks(y, n, out, 1, n * inp * out, &|_, block| {
        for row in block.chunks_exact_mut(out) {
            for (v, bias) in row.iter_mut().zip(b) {
                *v += bias;
            }
        }
        activate_in_place(p.act, block);
    });
}

/// dx += dy . w.
pub fn dense_backward_input(p: &DenseParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (n, inp, out) = dims(p);
    gemm(
        MatRef::rows(dy, n, out),
        MatRef::rows(w, out, inp),
        1.0,
        MatMut::rows(dx, n, inp),
    );
}

/// dw += dy^T . x.
pub fn dense_backward_weight(p: &DenseParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (n, inp, out) = dims(p);
    gemm(
        MatRef::rows(dy, n, out).t(),
        MatRef::rows(x, n, inp),
        1.0,
        MatMut::rows(dw, out, inp),
    );
}

/// db += dy summed over rows, a whole row at a time (the twin walks a column
/// at a time, which strides through memory).
pub fn dense_backward_bias(p: &DenseParams, dy: &[f32], db: &mut [f32]) {
    let (n, _, out) = dims(p);
    if out == 0 {
        return;
    }
    for row in dy[..n * out].chunks_exact(out) {
        for (d, v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
}
