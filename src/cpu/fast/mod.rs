//! The fast CPU backend: conv2d and dense as matrix products (im2col plus
//! blocked SGEMM: the `gemm` crate's natively, on every core;
//! `matrixmultiply`'s simd128 one in wasm32, on the page's one thread) with
//! the activation fused into the epilogue; an LSTM or RNN step as one job
//! per block of the batch's rows (the recurrent product and the cell's
//! arithmetic of those rows on one thread, so the second core shares both);
//! the 2x2 max-pool, every max-pool's backward, dropout, relu's backward,
//! sigmoid, tanh, GELU (on every core), layer norm's weight gradient and
//! the bias gradients as loops over slices that the compiler vectorises;
//! attention as SGEMM per (row, head), blocks of rows on every core. Every other kernel is the plain-loop twin,
//! inherited from [`CpuKernels`]'s defaults. Same tensors as
//! [`CpuBackend`](super::CpuBackend), so the two mix freely, and the twins
//! stay the specification that tests/fast_cpu.rs holds this backend to.

mod activation;
mod attention;
mod conv2d;
mod dense;
mod dropout;
mod gemm;
mod math;
mod max_pool2d;
mod recurrent;
mod threads;

use std::cell::RefCell;

use super::CpuKernels;
use crate::params::{
    AttentionParams, Conv2dParams, DenseParams, DropoutParams, ElementwiseParams, LayerNormParams,
    PoolParams, RecurrentParams,
};

/// im2col matrices and transposed activations live here between calls, so
/// a training step reuses the buffers of the last one instead of allocating.
#[derive(Debug, Default)]
pub struct FastCpuBackend {
    /// [C*k*k, N*OH*OW]: the im2col matrix, or its gradient.
    col: RefCell<Vec<f32>>,
    /// [O, N*OH*OW]: a conv output or output gradient, batch side by side;
    /// or a GRU step's recurrent products [batch, 3H].
    rows: RefCell<Vec<f32>>,
    /// A recurrent layer's W_hh^T over the steps of a sequence.
    w_hh_t: RefCell<recurrent::TransposedWeights>,
}

impl CpuKernels for FastCpuBackend {
    fn describe(&self) -> String {
        "CPU (fast: im2col + SGEMM)".to_string()
    }

    fn conv2d_forward(&self, p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        conv2d::conv2d_forward(
            p,
            x,
            w,
            b,
            y,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
    }
    fn conv2d_backward_input(&self, p: &Conv2dParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
        conv2d::conv2d_backward_input(
            p,
            dy,
            w,
            dx,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
    }
    fn conv2d_backward_weight(&self, p: &Conv2dParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        conv2d::conv2d_backward_weight(
            p,
            x,
            dy,
            dw,
            &mut self.col.borrow_mut(),
            &mut self.rows.borrow_mut(),
        );
    }
    fn conv2d_backward_bias(&self, p: &Conv2dParams, dy: &[f32], db: &mut [f32]) {
        conv2d::conv2d_backward_bias(p, dy, db);
    }
    fn max_pool2d_forward(&self, p: &PoolParams, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
        if p.size == 2 {
            max_pool2d::max_pool2d_forward_2x2(p, x, y, argmax);
        } else {
            super::max_pool2d::max_pool2d_forward(p, x, y, argmax);
        }
    }
    fn max_pool2d_backward(&self, p: &PoolParams, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
        max_pool2d::max_pool2d_backward(p, dy, argmax, dx);
    }
    fn dense_forward(&self, p: &DenseParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        dense::dense_forward(p, x, w, b, y);
    }
    fn dense_backward_input(&self, p: &DenseParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
        dense::dense_backward_input(p, dy, w, dx);
    }
    fn dense_backward_weight(&self, p: &DenseParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        dense::dense_backward_weight(p, x, dy, dw);
    }
    fn dense_backward_bias(&self, p: &DenseParams, dy: &[f32], db: &mut [f32]) {
        dense::dense_backward_bias(p, dy, db);
    }
    fn dropout_forward(&self, p: &DropoutParams, x: &[f32], y: &mut [f32]) {
        dropout::dropout_forward(p, x, y);
    }
    fn dropout_backward(&self, p: &DropoutParams, dy: &[f32], dx: &mut [f32]) {
        dropout::dropout_backward(p, dy, dx);
    }
    fn relu_backward(&self, p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
        let n = p.len as usize;
        activation::relu_backward(&y[..n], &mut grad[..n]);
    }
    /// A row at a time, all columns together (the twin walks a column at
    /// a time, striding through memory).
    fn layer_norm_backward_weight(
        &self,
        p: &LayerNormParams,
        x: &[f32],
        stats: &[f32],
        dy: &[f32],
        dgamma: &mut [f32],
    ) {
        let d = p.dim as usize;
        let acc = &mut self.rows.borrow_mut();
        acc.clear();
        acc.resize(d, 0.0);
        for r in 0..p.n as usize {
            let (mean, rstd) = (stats[2 * r], stats[2 * r + 1]);
            let (x, dy) = (&x[r * d..(r + 1) * d], &dy[r * d..(r + 1) * d]);
            for ((a, &x), &g) in acc.iter_mut().zip(x).zip(dy) {
                *a += g * (x - mean) * rstd;
            }
        }
        for (g, a) in dgamma[..d].iter_mut().zip(acc.iter()) {
            *g += a;
        }
    }
    fn gelu_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        let n = p.len as usize;
        activation::gelu_forward(&x[..n], &mut y[..n]);
    }
    fn gelu_backward(&self, p: &ElementwiseParams, x: &[f32], grad: &mut [f32]) {
        let n = p.len as usize;
        activation::gelu_backward(&x[..n], &mut grad[..n]);
    }
    fn sigmoid_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        let n = p.len as usize;
        activation::activate(2, &x[..n], &mut y[..n]);
    }
    fn tanh_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        let n = p.len as usize;
        activation::activate(3, &x[..n], &mut y[..n]);
    }
    fn rnn_step_forward(
        &self,
        p: &RecurrentParams,
        xg: &[f32],
        w_hh: &[f32],
        b_hh: &[f32],
        h_in: &mut [f32],
        h_out: &mut [f32],
    ) {
        let mut w_hh_t = self.w_hh_t.borrow_mut();
        let w_hh_t = w_hh_t.get(p, w_hh, h_in, p.hidden as usize);
        recurrent::rnn_step_forward(p, xg, w_hh_t, b_hh, h_in, h_out);
    }
    fn rnn_step_backward(
        &self,
        p: &RecurrentParams,
        h_out: &[f32],
        dh: &[f32],
        dgates: &mut [f32],
    ) {
        recurrent::rnn_step_backward(p, h_out, dh, dgates);
    }
    fn rnn_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgates: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::step_backward_hidden(p, 1, dgates, w_hh, dh, &mut self.rows.borrow_mut());
    }
    #[allow(clippy::too_many_arguments)]
    fn gru_step_forward(
        &self,
        p: &RecurrentParams,
        xg: &[f32],
        w_hh: &[f32],
        b_hh: &[f32],
        h0: &[f32],
        h_in: &mut [f32],
        h_out: &mut [f32],
        gates: &mut [f32],
    ) {
        let mut w_hh_t = self.w_hh_t.borrow_mut();
        let w_hh_t = w_hh_t.get(p, w_hh, h_in, 3 * p.hidden as usize);
        recurrent::gru_step_forward(
            p,
            xg,
            w_hh_t,
            b_hh,
            h0,
            h_in,
            h_out,
            gates,
            &mut self.rows.borrow_mut(),
        );
    }
    fn gru_step_backward(
        &self,
        p: &RecurrentParams,
        gates: &[f32],
        h0: &[f32],
        h_out: &[f32],
        dh: &mut [f32],
        dgi: &mut [f32],
        dgh: &mut [f32],
    ) {
        recurrent::gru_step_backward(p, gates, h0, h_out, dh, dgi, dgh);
    }
    fn gru_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgh: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::step_backward_hidden(p, 3, dgh, w_hh, dh, &mut self.rows.borrow_mut());
    }
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_forward(
        &self,
        p: &RecurrentParams,
        xg: &[f32],
        w_hh: &[f32],
        b_hh: &[f32],
        h_in: &mut [f32],
        h_out: &mut [f32],
        c: &mut [f32],
        gates: &mut [f32],
    ) {
        let mut w_hh_t = self.w_hh_t.borrow_mut();
        let w_hh_t = w_hh_t.get(p, w_hh, h_in, 4 * p.hidden as usize);
        recurrent::lstm_step_forward(p, xg, w_hh_t, b_hh, h_in, h_out, c, gates);
    }
    fn lstm_step_backward(
        &self,
        p: &RecurrentParams,
        gates: &[f32],
        c: &[f32],
        dh: &[f32],
        dc: &mut [f32],
        dgates: &mut [f32],
    ) {
        recurrent::lstm_step_backward(p, gates, c, dh, dc, dgates);
    }
    fn lstm_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgates: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::step_backward_hidden(p, 4, dgates, w_hh, dh, &mut self.rows.borrow_mut());
    }
    fn attention_scores_forward(
        &self,
        p: &AttentionParams,
        qkv: &[f32],
        kv: &[f32],
        starts: &[u32],
        weights: &mut [f32],
    ) {
        attention::attention_scores_forward(p, qkv, kv, starts, weights);
    }
    fn attention_values_forward(
        &self,
        p: &AttentionParams,
        weights: &[f32],
        kv: &[f32],
        starts: &[u32],
        out: &mut [f32],
    ) {
        attention::attention_values_forward(p, weights, kv, starts, out);
    }
    fn attention_backward_scores(
        &self,
        p: &AttentionParams,
        weights: &[f32],
        qkv: &[f32],
        starts: &[u32],
        dout: &[f32],
        dscores: &mut [f32],
    ) {
        attention::attention_backward_scores(p, weights, qkv, starts, dout, dscores);
    }
    fn attention_backward_query(
        &self,
        p: &AttentionParams,
        dscores: &[f32],
        qkv: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_query(p, dscores, qkv, starts, dqkv);
    }
    fn attention_backward_key(
        &self,
        p: &AttentionParams,
        dscores: &[f32],
        qkv: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_key(p, dscores, qkv, starts, dqkv);
    }
    fn attention_backward_value(
        &self,
        p: &AttentionParams,
        weights: &[f32],
        dout: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_value(p, weights, dout, starts, dqkv);
    }
}
