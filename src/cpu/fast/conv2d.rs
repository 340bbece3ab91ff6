//! conv2d (k x k, stride 1, valid) as matrix products over the whole batch.
//!
//! With T = C*k*k taps and NP = N*OH*OW output positions, im2col lays the
//! input out as `col` [T, NP] (row (c*k + ky)*k + kx, column (n*OH + oy)*OW +
//! ox holds x[n, c, oy+ky, ox+kx]); the weight is already a [O, T] matrix. Then
//!
//!   forward          Y  [O, NP] = W . col
//!   backward_weight  dW [O, T] += dY . col^T
//!   backward_input   dcol [T, NP] = W^T . dY, scattered back by col2im
//!
//! Y and dY are [O, NP] here, NCHW ([N, O, OH*OW]) in the tensors: one
//! GEMM over the batch beats N small ones, and the transposing copy is
//! cheap beside it. The copies around a product (im2col, col2im, the
//! epilogue) are shared between the threads whenever the product is: on
//! one thread they took half of a training step's time on this path.

use super::activation::activate_in_place;
use super::gemm::{MatMut, MatRef, gemm};
use super::threads::{RowsMut, for_blocks, for_row_blocks};
use crate::params::Conv2dParams;

/// Sizes as usize: (n, c, h, w, o, oh, ow, k).
fn dims(p: &Conv2dParams) -> [usize; 8] {
    [p.n, p.c, p.h, p.w, p.o, p.oh, p.ow, p.k].map(|v| v as usize)
}

/// The first `len` values of a scratch buffer, grown when too short. Old
/// contents are left in place: every caller overwrites all `len` values.
fn scratch(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
    if buf.len() < len {
        buf.resize(len, 0.0);
    }
    &mut buf[..len]
}

/// col [C*k*k, N*OH*OW] from x [N, C, H, W], one contiguous output row
/// (OW values) at a time; blocks of col's rows on the threads when the
/// product of `macs` multiply-adds that reads it is shared.
fn im2col(p: &Conv2dParams, x: &[f32], col: &mut [f32], macs: usize) {
    let [n, c, h, w, _, oh, ow, k] = dims(p);
    let np = n * oh * ow;
    for_row_blocks(col, c * k * k, np, 1, macs, &|taps, rows| {
        for (tap, row) in taps.zip(rows.chunks_exact_mut(np)) {
            let (ci, ky, kx) = (tap / (k * k), tap / k % k, tap % k);
            for (r, dst) in row.chunks_exact_mut(ow).enumerate() {
                let (ni, oy) = (r / oh, r % oh);
                let src = ((ni * c + ci) * h + oy + ky) * w + kx;
                dst.copy_from_slice(&x[src..src + ow]);
            }
        }
    });
}

/// dx [N, C, H, W] += every tap of col [C*k*k, N*OH*OW] at the input pixel
/// it was read from: the adjoint of [`im2col`]. Blocks of input channels
/// (which write disjoint planes of dx) on the threads as in `im2col`.
fn col2im(p: &Conv2dParams, col: &[f32], dx: &mut [f32], macs: usize) {
    let [n, c, h, w, _, oh, ow, k] = dims(p);
    let np = n * oh * ow;
    let dx = RowsMut::new(&mut dx[..n * c * h * w]);
    for_blocks(c, 1, macs, &|channels| {
        for ci in channels {
            for ky in 0..k {
                for kx in 0..k {
                    let row = &col[((ci * k + ky) * k + kx) * np..][..np];
                    for (r, src) in row.chunks_exact(ow).enumerate() {
                        let (ni, oy) = (r / oh, r % oh);
                        let at = ((ni * c + ci) * h + oy + ky) * w + kx;
                        // SAFETY: channel ci's planes of dx are this block's alone.
                        let dst = unsafe { dx.get(at..at + ow) };
                        for (d, s) in dst.iter_mut().zip(src) {
                            *d += s;
                        }
                    }
                }
            }
        }
    });
}

/// rows [O, N*P] from t [N, O, P] (P = OH*OW): the batch side by side.
fn nchw_to_rows(p: &Conv2dParams, t: &[f32], rows: &mut [f32]) {
    let [n, _, _, _, o, oh, ow, _] = dims(p);
    let plane = oh * ow;
    for (i, src) in t.chunks_exact(plane).enumerate() {
        let (ni, oi) = (i / o, i % o);
        rows[(oi * n + ni) * plane..][..plane].copy_from_slice(src);
    }
}

/// y [N, O, OH, OW] = act(conv(x [N, C, H, W], w [O, C, k, k]) + b [O]),
/// act being `p.act`; `col` and `rows` are scratch.
pub fn conv2d_forward(
    p: &Conv2dParams,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    y: &mut [f32],
    col: &mut Vec<f32>,
    rows: &mut Vec<f32>,
) {
    let [n, c, _, _, o, oh, ow, k] = dims(p);
    let (taps, plane) = (c * k * k, oh * ow);
    let np = n * plane;
    let col = scratch(col, taps * np);
    let rows = scratch(rows, o * np);
    let macs = o * taps * np;
    im2col(p, x, col, macs);
    gemm(
        MatRef::rows(w, o, taps),
        MatRef::rows(col, taps, np),
        0.0,
        MatMut::rows(rows, o, np),
    );
    // Back to NCHW, adding the bias and applying the activation on the
    // way, blocks of y's planes on the threads.
    let rows = &*rows;
    for_row_blocks(y, n * o, plane, 1, macs, &|planes, dst| {
        for (i, dst) in planes.zip(dst.chunks_exact_mut(plane)) {
            let (ni, oi) = (i / o, i % o);
            let src = &rows[(oi * n + ni) * plane..][..plane];
            let bias = b[oi];
            for (d, s) in dst.iter_mut().zip(src) {
                *d = s + bias;
            }
            activate_in_place(p.act, dst);
        }
    });
}

/// dx [N, C, H, W] += full correlation of dy [N, O, OH, OW] with w.
pub fn conv2d_backward_input(
    p: &Conv2dParams,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    col: &mut Vec<f32>,
    rows: &mut Vec<f32>,
) {
    let [n, c, _, _, o, oh, ow, k] = dims(p);
    let (taps, np) = (c * k * k, n * oh * ow);
    let col = scratch(col, taps * np);
    let rows = scratch(rows, o * np);
    nchw_to_rows(p, dy, rows);
    gemm(
        MatRef::rows(w, o, taps).t(),
        MatRef::rows(rows, o, np),
        0.0,
        MatMut::rows(col, taps, np),
    );
    col2im(p, col, dx, o * taps * np);
}

/// dw [O, C, k, k] += correlation of x [N, C, H, W] with dy [N, O, OH, OW],
/// summed over the batch.
pub fn conv2d_backward_weight(
    p: &Conv2dParams,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    col: &mut Vec<f32>,
    rows: &mut Vec<f32>,
) {
    let [n, c, _, _, o, oh, ow, k] = dims(p);
    let (taps, np) = (c * k * k, n * oh * ow);
    let col = scratch(col, taps * np);
    let rows = scratch(rows, o * np);
    im2col(p, x, col, o * taps * np);
    nchw_to_rows(p, dy, rows);
    gemm(
        MatRef::rows(rows, o, np),
        MatRef::rows(col, taps, np).t(),
        1.0,
        MatMut::rows(dw, o, taps),
    );
}

/// db [O] += dy [N, O, OH, OW] summed over batch and space.
pub fn conv2d_backward_bias(p: &Conv2dParams, dy: &[f32], db: &mut [f32]) {
    let [n, _, _, _, o, oh, ow, _] = dims(p);
    let plane = oh * ow;
    for (oi, d) in db.iter_mut().enumerate().take(o) {
        let mut acc = 0.0;
        for ni in 0..n {
            acc += lane_sum(&dy[(ni * o + oi) * plane..][..plane]);
        }
        *d += acc;
    }
}

/// The sum of `v` in 16 interleaved partial sums, which the compiler keeps
/// in vector registers; a single running sum is one dependent add per value.
fn lane_sum(v: &[f32]) -> f32 {
    const LANES: usize = 16;
    let mut acc = [0.0f32; LANES];
    let chunks = v.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}
