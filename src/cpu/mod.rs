//! The CPU backends: every op in plain Rust loops. The plain-loop twins in
//! the submodules carry the same names as the shader entry points; they are
//! the test oracle for the WGSL kernels and the specification the fast CPU
//! path ([`fast`]) is held to.
//!
//! [`CpuKernels`] holds one method per kernel, each defaulting to its twin;
//! every `CpuKernels` is a [`Backend`] over host tensors (the impl below),
//! so [`CpuBackend`] is the twins as they are and [`FastCpuBackend`]
//! overrides only the kernels it makes faster.

pub mod activation;
pub mod adam;
pub mod attention;
pub mod avg_pool2d;
pub mod conv2d;
pub mod copy;
pub mod dense;
pub mod dropout;
pub mod embedding;
pub mod fast;
pub mod grad_norm;
pub mod layer_norm;
pub mod max_pool2d;
pub mod position;
pub mod recurrent;
pub mod residual;
pub mod softmax_xent;

use std::future::{Future, ready};

pub use fast::FastCpuBackend;

use crate::backend::{Backend, Indices, Tensor};
use crate::error::{Error, Result};
use crate::params::{
    AdamParams, AttentionParams, Conv2dParams, CopyParams, DenseParams, DropoutParams,
    ElementwiseParams, EmbeddingParams, LayerNormParams, NormParams, PoolParams, PositionParams,
    RecurrentParams, SoftmaxParams,
};

/// A tensor in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuTensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl CpuTensor {
    pub fn data(&self) -> &[f32] {
        &self.data
    }
}

impl Tensor for CpuTensor {
    fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// Index vector in host memory.
#[derive(Clone, Debug, PartialEq)]
pub struct CpuIndices(Vec<u32>);

impl Indices for CpuIndices {
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The plain-loop twins, one thread.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

/// The kernels of a CPU backend over host slices, shapes already checked by
/// [`Backend`]'s provided methods. Each defaults to its plain-loop twin.
#[allow(clippy::too_many_arguments)]
pub trait CpuKernels {
    /// What [`Backend::name`] says.
    fn describe(&self) -> String;

    fn conv2d_forward(&self, p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        conv2d::conv2d_forward(p, x, w, b, y)
    }
    fn conv2d_backward_input(&self, p: &Conv2dParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
        conv2d::conv2d_backward_input(p, dy, w, dx)
    }
    fn conv2d_backward_weight(&self, p: &Conv2dParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        conv2d::conv2d_backward_weight(p, x, dy, dw)
    }
    fn conv2d_backward_bias(&self, p: &Conv2dParams, dy: &[f32], db: &mut [f32]) {
        conv2d::conv2d_backward_bias(p, dy, db)
    }
    fn max_pool2d_forward(&self, p: &PoolParams, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
        max_pool2d::max_pool2d_forward(p, x, y, argmax)
    }
    fn max_pool2d_backward(&self, p: &PoolParams, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
        max_pool2d::max_pool2d_backward(p, dy, argmax, dx)
    }
    fn avg_pool2d_forward(&self, p: &PoolParams, x: &[f32], y: &mut [f32]) {
        avg_pool2d::avg_pool2d_forward(p, x, y)
    }
    fn avg_pool2d_backward(&self, p: &PoolParams, dy: &[f32], dx: &mut [f32]) {
        avg_pool2d::avg_pool2d_backward(p, dy, dx)
    }
    fn dense_forward(&self, p: &DenseParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
        dense::dense_forward(p, x, w, b, y)
    }
    fn dense_backward_input(&self, p: &DenseParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
        dense::dense_backward_input(p, dy, w, dx)
    }
    fn dense_backward_weight(&self, p: &DenseParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
        dense::dense_backward_weight(p, x, dy, dw)
    }
    fn dense_backward_bias(&self, p: &DenseParams, dy: &[f32], db: &mut [f32]) {
        dense::dense_backward_bias(p, dy, db)
    }
    fn relu_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        activation::relu_forward(p, x, y)
    }
    fn relu_backward(&self, p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
        activation::relu_backward(p, y, grad)
    }
    fn sigmoid_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        activation::sigmoid_forward(p, x, y)
    }
    fn sigmoid_backward(&self, p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
        activation::sigmoid_backward(p, y, grad)
    }
    fn tanh_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        activation::tanh_forward(p, x, y)
    }
    fn tanh_backward(&self, p: &ElementwiseParams, y: &[f32], grad: &mut [f32]) {
        activation::tanh_backward(p, y, grad)
    }
    fn dropout_forward(&self, p: &DropoutParams, x: &[f32], y: &mut [f32]) {
        dropout::dropout_forward(p, x, y)
    }
    fn dropout_backward(&self, p: &DropoutParams, dy: &[f32], dx: &mut [f32]) {
        dropout::dropout_backward(p, dy, dx)
    }
    fn embedding_forward(&self, p: &EmbeddingParams, ids: &[u32], table: &[f32], y: &mut [f32]) {
        embedding::embedding_forward(p, ids, table, y)
    }
    fn embedding_backward(&self, p: &EmbeddingParams, ids: &[u32], dy: &[f32], dtable: &mut [f32]) {
        embedding::embedding_backward(p, ids, dy, dtable)
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
        recurrent::rnn_step_forward(p, xg, w_hh, b_hh, h_in, h_out)
    }
    fn rnn_step_backward(
        &self,
        p: &RecurrentParams,
        h_out: &[f32],
        dh: &[f32],
        dgates: &mut [f32],
    ) {
        recurrent::rnn_step_backward(p, h_out, dh, dgates)
    }
    fn rnn_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgates: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::rnn_step_backward_hidden(p, dgates, w_hh, dh)
    }
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
        recurrent::gru_step_forward(p, xg, w_hh, b_hh, h0, h_in, h_out, gates)
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
        recurrent::gru_step_backward(p, gates, h0, h_out, dh, dgi, dgh)
    }
    fn gru_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgh: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::gru_step_backward_hidden(p, dgh, w_hh, dh)
    }
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
        recurrent::lstm_step_forward(p, xg, w_hh, b_hh, h_in, h_out, c, gates)
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
        recurrent::lstm_step_backward(p, gates, c, dh, dc, dgates)
    }
    fn lstm_step_backward_hidden(
        &self,
        p: &RecurrentParams,
        dgates: &[f32],
        w_hh: &[f32],
        dh: &mut [f32],
    ) {
        recurrent::lstm_step_backward_hidden(p, dgates, w_hh, dh)
    }
    fn sum_squares(&self, p: &NormParams, x: &[f32], sums: &mut [f32]) {
        grad_norm::sum_squares(p, x, sums)
    }
    fn clip_by_norm(&self, p: &NormParams, sums: &[f32], x: &mut [f32]) {
        grad_norm::clip_by_norm(p, sums, x)
    }
    fn copy_slice(&self, p: &CopyParams, src: &[f32], dst: &mut [f32]) {
        copy::copy_slice(p, src, dst)
    }
    fn softmax_forward(&self, p: &SoftmaxParams, logits: &[f32], probs: &mut [f32]) {
        softmax_xent::softmax_forward(p, logits, probs)
    }
    fn softmax_xent_forward(
        &self,
        p: &SoftmaxParams,
        logits: &[f32],
        labels: &[u32],
        probs: &mut [f32],
        loss: &mut [f32],
    ) {
        softmax_xent::softmax_xent_forward(p, logits, labels, probs, loss)
    }
    fn softmax_xent_backward(
        &self,
        p: &SoftmaxParams,
        probs: &[f32],
        labels: &[u32],
        dlogits: &mut [f32],
    ) {
        softmax_xent::softmax_xent_backward(p, probs, labels, dlogits)
    }
    fn adam_step(
        &self,
        p: &AdamParams,
        param: &mut [f32],
        grad: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        adam::adam_step(p, param, grad, m, v)
    }
    fn gelu_forward(&self, p: &ElementwiseParams, x: &[f32], y: &mut [f32]) {
        activation::gelu_forward(p, x, y)
    }
    fn gelu_backward(&self, p: &ElementwiseParams, x: &[f32], grad: &mut [f32]) {
        activation::gelu_backward(p, x, grad)
    }
    fn residual_forward(&self, p: &ElementwiseParams, a: &[f32], b: &[f32], y: &mut [f32]) {
        residual::residual_forward(p, a, b, y)
    }
    fn residual_backward(&self, p: &ElementwiseParams, dy: &[f32], dx: &mut [f32]) {
        residual::residual_backward(p, dy, dx)
    }
    fn layer_norm_forward(
        &self,
        p: &LayerNormParams,
        x: &[f32],
        gamma: &[f32],
        beta: &[f32],
        y: &mut [f32],
        stats: &mut [f32],
    ) {
        layer_norm::layer_norm_forward(p, x, gamma, beta, y, stats)
    }
    fn layer_norm_backward_input(
        &self,
        p: &LayerNormParams,
        x: &[f32],
        gamma: &[f32],
        stats: &[f32],
        dy: &[f32],
        dx: &mut [f32],
    ) {
        layer_norm::layer_norm_backward_input(p, x, gamma, stats, dy, dx)
    }
    fn layer_norm_backward_weight(
        &self,
        p: &LayerNormParams,
        x: &[f32],
        stats: &[f32],
        dy: &[f32],
        dgamma: &mut [f32],
    ) {
        layer_norm::layer_norm_backward_weight(p, x, stats, dy, dgamma)
    }
    fn position_forward(
        &self,
        p: &PositionParams,
        x: &[f32],
        table: &[f32],
        starts: &[u32],
        y: &mut [f32],
    ) {
        position::position_forward(p, x, table, starts, y)
    }
    fn position_backward(
        &self,
        p: &PositionParams,
        dy: &[f32],
        starts: &[u32],
        dtable: &mut [f32],
    ) {
        position::position_backward(p, dy, starts, dtable)
    }
    fn attention_scores_forward(
        &self,
        p: &AttentionParams,
        qkv: &[f32],
        kv: &[f32],
        starts: &[u32],
        weights: &mut [f32],
    ) {
        attention::attention_scores_forward(p, qkv, kv, starts, weights)
    }
    fn attention_values_forward(
        &self,
        p: &AttentionParams,
        weights: &[f32],
        kv: &[f32],
        starts: &[u32],
        out: &mut [f32],
    ) {
        attention::attention_values_forward(p, weights, kv, starts, out)
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
        attention::attention_backward_scores(p, weights, qkv, starts, dout, dscores)
    }
    fn attention_backward_query(
        &self,
        p: &AttentionParams,
        dscores: &[f32],
        qkv: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_query(p, dscores, qkv, starts, dqkv)
    }
    fn attention_backward_key(
        &self,
        p: &AttentionParams,
        dscores: &[f32],
        qkv: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_key(p, dscores, qkv, starts, dqkv)
    }
    fn attention_backward_value(
        &self,
        p: &AttentionParams,
        weights: &[f32],
        dout: &[f32],
        starts: &[u32],
        dqkv: &mut [f32],
    ) {
        attention::attention_backward_value(p, weights, dout, starts, dqkv)
    }
    fn attention_cache_write(
        &self,
        p: &AttentionParams,
        qkv: &[f32],
        starts: &[u32],
        cache: &mut [f32],
    ) {
        attention::attention_cache_write(p, qkv, starts, cache)
    }
}

impl CpuKernels for CpuBackend {
    fn describe(&self) -> String {
        "CPU".to_string()
    }
}

fn check_len(op: &'static str, shape: &[usize], len: usize) -> Result<()> {
    let expected = shape.iter().product();
    if len != expected {
        return Err(Error::DataLength {
            op,
            len,
            shape: shape.to_vec(),
            expected,
        });
    }
    Ok(())
}

/// Every set of CPU kernels is a backend over host memory; the provided
/// methods of [`Backend`] check shapes before any of these runs.
impl<K: CpuKernels> Backend for K {
    type Tensor = CpuTensor;
    type Indices = CpuIndices;

    fn name(&self) -> String {
        self.describe()
    }

    fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<CpuTensor> {
        check_len("tensor", shape, data.len())?;
        Ok(CpuTensor {
            shape: shape.to_vec(),
            data: data.to_vec(),
        })
    }

    fn zeros(&self, shape: &[usize]) -> CpuTensor {
        CpuTensor {
            shape: shape.to_vec(),
            data: vec![0.0; shape.iter().product()],
        }
    }

    fn write(&self, dst: &mut CpuTensor, data: &[f32]) -> Result<()> {
        check_len("write", &dst.shape, data.len())?;
        dst.data.copy_from_slice(data);
        Ok(())
    }

    fn fill_zero(&self, dst: &mut CpuTensor) {
        dst.data.fill(0.0);
    }

    fn indices(&self, data: &[u32]) -> CpuIndices {
        CpuIndices(data.to_vec())
    }

    fn write_indices(&self, dst: &mut CpuIndices, data: &[u32]) -> Result<()> {
        check_len("write_indices", &[dst.0.len()], data.len())?;
        dst.0.copy_from_slice(data);
        Ok(())
    }

    fn read(&self, tensors: &[&CpuTensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>> {
        ready(Ok(tensors.iter().map(|t| t.data.clone()).collect()))
    }

    fn read_indices(&self, ids: &CpuIndices) -> impl Future<Output = Result<Vec<u32>>> {
        ready(Ok(ids.0.clone()))
    }

    fn conv2d_forward_unchecked(
        &self,
        p: &Conv2dParams,
        x: &CpuTensor,
        w: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
    ) {
        CpuKernels::conv2d_forward(self, p, &x.data, &w.data, &b.data, &mut y.data)
    }
    fn conv2d_backward_input_unchecked(
        &self,
        p: &Conv2dParams,
        dy: &CpuTensor,
        w: &CpuTensor,
        dx: &mut CpuTensor,
    ) {
        CpuKernels::conv2d_backward_input(self, p, &dy.data, &w.data, &mut dx.data)
    }
    fn conv2d_backward_weight_unchecked(
        &self,
        p: &Conv2dParams,
        x: &CpuTensor,
        dy: &CpuTensor,
        dw: &mut CpuTensor,
    ) {
        CpuKernels::conv2d_backward_weight(self, p, &x.data, &dy.data, &mut dw.data)
    }
    fn conv2d_backward_bias_unchecked(&self, p: &Conv2dParams, dy: &CpuTensor, db: &mut CpuTensor) {
        CpuKernels::conv2d_backward_bias(self, p, &dy.data, &mut db.data)
    }
    fn max_pool2d_forward_unchecked(
        &self,
        p: &PoolParams,
        x: &CpuTensor,
        y: &mut CpuTensor,
        argmax: &mut CpuIndices,
    ) {
        CpuKernels::max_pool2d_forward(self, p, &x.data, &mut y.data, &mut argmax.0)
    }
    fn max_pool2d_backward_unchecked(
        &self,
        p: &PoolParams,
        dy: &CpuTensor,
        argmax: &CpuIndices,
        dx: &mut CpuTensor,
    ) {
        CpuKernels::max_pool2d_backward(self, p, &dy.data, &argmax.0, &mut dx.data)
    }
    fn avg_pool2d_forward_unchecked(&self, p: &PoolParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::avg_pool2d_forward(self, p, &x.data, &mut y.data)
    }
    fn avg_pool2d_backward_unchecked(&self, p: &PoolParams, dy: &CpuTensor, dx: &mut CpuTensor) {
        CpuKernels::avg_pool2d_backward(self, p, &dy.data, &mut dx.data)
    }
    fn dense_forward_unchecked(
        &self,
        p: &DenseParams,
        x: &CpuTensor,
        w: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
    ) {
        CpuKernels::dense_forward(self, p, &x.data, &w.data, &b.data, &mut y.data)
    }
    fn dense_backward_input_unchecked(
        &self,
        p: &DenseParams,
        dy: &CpuTensor,
        w: &CpuTensor,
        dx: &mut CpuTensor,
    ) {
        CpuKernels::dense_backward_input(self, p, &dy.data, &w.data, &mut dx.data)
    }
    fn dense_backward_weight_unchecked(
        &self,
        p: &DenseParams,
        x: &CpuTensor,
        dy: &CpuTensor,
        dw: &mut CpuTensor,
    ) {
        CpuKernels::dense_backward_weight(self, p, &x.data, &dy.data, &mut dw.data)
    }
    fn dense_backward_bias_unchecked(&self, p: &DenseParams, dy: &CpuTensor, db: &mut CpuTensor) {
        CpuKernels::dense_backward_bias(self, p, &dy.data, &mut db.data)
    }
    fn relu_forward_unchecked(&self, p: &ElementwiseParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::relu_forward(self, p, &x.data, &mut y.data)
    }
    fn relu_backward_unchecked(&self, p: &ElementwiseParams, y: &CpuTensor, grad: &mut CpuTensor) {
        CpuKernels::relu_backward(self, p, &y.data, &mut grad.data)
    }
    fn sigmoid_forward_unchecked(&self, p: &ElementwiseParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::sigmoid_forward(self, p, &x.data, &mut y.data)
    }
    fn sigmoid_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        y: &CpuTensor,
        grad: &mut CpuTensor,
    ) {
        CpuKernels::sigmoid_backward(self, p, &y.data, &mut grad.data)
    }
    fn tanh_forward_unchecked(&self, p: &ElementwiseParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::tanh_forward(self, p, &x.data, &mut y.data)
    }
    fn tanh_backward_unchecked(&self, p: &ElementwiseParams, y: &CpuTensor, grad: &mut CpuTensor) {
        CpuKernels::tanh_backward(self, p, &y.data, &mut grad.data)
    }
    fn dropout_forward_unchecked(&self, p: &DropoutParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::dropout_forward(self, p, &x.data, &mut y.data)
    }
    fn dropout_backward_unchecked(&self, p: &DropoutParams, dy: &CpuTensor, dx: &mut CpuTensor) {
        CpuKernels::dropout_backward(self, p, &dy.data, &mut dx.data)
    }
    fn embedding_forward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &CpuIndices,
        table: &CpuTensor,
        y: &mut CpuTensor,
    ) {
        CpuKernels::embedding_forward(self, p, &ids.0, &table.data, &mut y.data)
    }
    fn embedding_backward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &CpuIndices,
        dy: &CpuTensor,
        dtable: &mut CpuTensor,
    ) {
        CpuKernels::embedding_backward(self, p, &ids.0, &dy.data, &mut dtable.data)
    }
    fn rnn_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &CpuTensor,
        w_hh: &CpuTensor,
        b_hh: &CpuTensor,
        h_in: &mut CpuTensor,
        h_out: &mut CpuTensor,
    ) {
        CpuKernels::rnn_step_forward(
            self,
            p,
            &xg.data,
            &w_hh.data,
            &b_hh.data,
            &mut h_in.data,
            &mut h_out.data,
        )
    }
    fn rnn_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        h_out: &CpuTensor,
        dh: &CpuTensor,
        dgates: &mut CpuTensor,
    ) {
        CpuKernels::rnn_step_backward(self, p, &h_out.data, &dh.data, &mut dgates.data)
    }
    fn rnn_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &CpuTensor,
        w_hh: &CpuTensor,
        dh: &mut CpuTensor,
    ) {
        CpuKernels::rnn_step_backward_hidden(self, p, &dgates.data, &w_hh.data, &mut dh.data)
    }
    fn gru_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &CpuTensor,
        w_hh: &CpuTensor,
        b_hh: &CpuTensor,
        h0: &CpuTensor,
        h_in: &mut CpuTensor,
        h_out: &mut CpuTensor,
        gates: &mut CpuTensor,
    ) {
        CpuKernels::gru_step_forward(
            self,
            p,
            &xg.data,
            &w_hh.data,
            &b_hh.data,
            &h0.data,
            &mut h_in.data,
            &mut h_out.data,
            &mut gates.data,
        )
    }
    fn gru_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &CpuTensor,
        h0: &CpuTensor,
        h_out: &CpuTensor,
        dh: &mut CpuTensor,
        dgi: &mut CpuTensor,
        dgh: &mut CpuTensor,
    ) {
        CpuKernels::gru_step_backward(
            self,
            p,
            &gates.data,
            &h0.data,
            &h_out.data,
            &mut dh.data,
            &mut dgi.data,
            &mut dgh.data,
        )
    }
    fn gru_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgh: &CpuTensor,
        w_hh: &CpuTensor,
        dh: &mut CpuTensor,
    ) {
        CpuKernels::gru_step_backward_hidden(self, p, &dgh.data, &w_hh.data, &mut dh.data)
    }
    fn lstm_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &CpuTensor,
        w_hh: &CpuTensor,
        b_hh: &CpuTensor,
        h_in: &mut CpuTensor,
        h_out: &mut CpuTensor,
        c: &mut CpuTensor,
        gates: &mut CpuTensor,
    ) {
        CpuKernels::lstm_step_forward(
            self,
            p,
            &xg.data,
            &w_hh.data,
            &b_hh.data,
            &mut h_in.data,
            &mut h_out.data,
            &mut c.data,
            &mut gates.data,
        )
    }
    fn lstm_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &CpuTensor,
        c: &CpuTensor,
        dh: &CpuTensor,
        dc: &mut CpuTensor,
        dgates: &mut CpuTensor,
    ) {
        CpuKernels::lstm_step_backward(
            self,
            p,
            &gates.data,
            &c.data,
            &dh.data,
            &mut dc.data,
            &mut dgates.data,
        )
    }
    fn lstm_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &CpuTensor,
        w_hh: &CpuTensor,
        dh: &mut CpuTensor,
    ) {
        CpuKernels::lstm_step_backward_hidden(self, p, &dgates.data, &w_hh.data, &mut dh.data)
    }
    fn sum_squares_unchecked(&self, p: &NormParams, x: &CpuTensor, sums: &mut CpuTensor) {
        CpuKernels::sum_squares(self, p, &x.data, &mut sums.data)
    }
    fn clip_by_norm_unchecked(&self, p: &NormParams, sums: &CpuTensor, x: &mut CpuTensor) {
        CpuKernels::clip_by_norm(self, p, &sums.data, &mut x.data)
    }
    fn copy_slice_unchecked(&self, p: &CopyParams, src: &CpuTensor, dst: &mut CpuTensor) {
        CpuKernels::copy_slice(self, p, &src.data, &mut dst.data)
    }
    fn softmax_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &CpuTensor,
        probs: &mut CpuTensor,
    ) {
        CpuKernels::softmax_forward(self, p, &logits.data, &mut probs.data)
    }
    fn softmax_xent_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &CpuTensor,
        labels: &CpuIndices,
        probs: &mut CpuTensor,
        loss: &mut CpuTensor,
    ) {
        CpuKernels::softmax_xent_forward(
            self,
            p,
            &logits.data,
            &labels.0,
            &mut probs.data,
            &mut loss.data,
        )
    }
    fn softmax_xent_backward_unchecked(
        &self,
        p: &SoftmaxParams,
        probs: &CpuTensor,
        labels: &CpuIndices,
        dlogits: &mut CpuTensor,
    ) {
        CpuKernels::softmax_xent_backward(self, p, &probs.data, &labels.0, &mut dlogits.data)
    }
    fn adam_step_unchecked(
        &self,
        p: &AdamParams,
        param: &mut CpuTensor,
        grad: &CpuTensor,
        m: &mut CpuTensor,
        v: &mut CpuTensor,
    ) {
        CpuKernels::adam_step(
            self,
            p,
            &mut param.data,
            &grad.data,
            &mut m.data,
            &mut v.data,
        )
    }
    fn gelu_forward_unchecked(&self, p: &ElementwiseParams, x: &CpuTensor, y: &mut CpuTensor) {
        CpuKernels::gelu_forward(self, p, &x.data, &mut y.data)
    }
    fn gelu_backward_unchecked(&self, p: &ElementwiseParams, x: &CpuTensor, grad: &mut CpuTensor) {
        CpuKernels::gelu_backward(self, p, &x.data, &mut grad.data)
    }
    fn residual_forward_unchecked(
        &self,
        p: &ElementwiseParams,
        a: &CpuTensor,
        b: &CpuTensor,
        y: &mut CpuTensor,
    ) {
        CpuKernels::residual_forward(self, p, &a.data, &b.data, &mut y.data)
    }
    fn residual_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        dy: &CpuTensor,
        dx: &mut CpuTensor,
    ) {
        CpuKernels::residual_backward(self, p, &dy.data, &mut dx.data)
    }
    fn layer_norm_forward_unchecked(
        &self,
        p: &LayerNormParams,
        x: &CpuTensor,
        gamma: &CpuTensor,
        beta: &CpuTensor,
        y: &mut CpuTensor,
        stats: &mut CpuTensor,
    ) {
        CpuKernels::layer_norm_forward(
            self,
            p,
            &x.data,
            &gamma.data,
            &beta.data,
            &mut y.data,
            &mut stats.data,
        )
    }
    fn layer_norm_backward_input_unchecked(
        &self,
        p: &LayerNormParams,
        x: &CpuTensor,
        gamma: &CpuTensor,
        stats: &CpuTensor,
        dy: &CpuTensor,
        dx: &mut CpuTensor,
    ) {
        CpuKernels::layer_norm_backward_input(
            self,
            p,
            &x.data,
            &gamma.data,
            &stats.data,
            &dy.data,
            &mut dx.data,
        )
    }
    fn layer_norm_backward_weight_unchecked(
        &self,
        p: &LayerNormParams,
        x: &CpuTensor,
        stats: &CpuTensor,
        dy: &CpuTensor,
        dgamma: &mut CpuTensor,
    ) {
        CpuKernels::layer_norm_backward_weight(
            self,
            p,
            &x.data,
            &stats.data,
            &dy.data,
            &mut dgamma.data,
        )
    }
    fn position_forward_unchecked(
        &self,
        p: &PositionParams,
        x: &CpuTensor,
        table: &CpuTensor,
        starts: &CpuIndices,
        y: &mut CpuTensor,
    ) {
        CpuKernels::position_forward(self, p, &x.data, &table.data, &starts.0, &mut y.data)
    }
    fn position_backward_unchecked(
        &self,
        p: &PositionParams,
        dy: &CpuTensor,
        starts: &CpuIndices,
        dtable: &mut CpuTensor,
    ) {
        CpuKernels::position_backward(self, p, &dy.data, &starts.0, &mut dtable.data)
    }
    fn attention_scores_forward_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &CpuTensor,
        kv: &CpuTensor,
        starts: &CpuIndices,
        weights: &mut CpuTensor,
    ) {
        CpuKernels::attention_scores_forward(
            self,
            p,
            &qkv.data,
            &kv.data,
            &starts.0,
            &mut weights.data,
        )
    }
    fn attention_values_forward_unchecked(
        &self,
        p: &AttentionParams,
        weights: &CpuTensor,
        kv: &CpuTensor,
        starts: &CpuIndices,
        out: &mut CpuTensor,
    ) {
        CpuKernels::attention_values_forward(
            self,
            p,
            &weights.data,
            &kv.data,
            &starts.0,
            &mut out.data,
        )
    }
    fn attention_backward_scores_unchecked(
        &self,
        p: &AttentionParams,
        weights: &CpuTensor,
        qkv: &CpuTensor,
        starts: &CpuIndices,
        dout: &CpuTensor,
        dscores: &mut CpuTensor,
    ) {
        CpuKernels::attention_backward_scores(
            self,
            p,
            &weights.data,
            &qkv.data,
            &starts.0,
            &dout.data,
            &mut dscores.data,
        )
    }
    fn attention_backward_query_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &CpuTensor,
        qkv: &CpuTensor,
        starts: &CpuIndices,
        dqkv: &mut CpuTensor,
    ) {
        CpuKernels::attention_backward_query(
            self,
            p,
            &dscores.data,
            &qkv.data,
            &starts.0,
            &mut dqkv.data,
        )
    }
    fn attention_backward_key_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &CpuTensor,
        qkv: &CpuTensor,
        starts: &CpuIndices,
        dqkv: &mut CpuTensor,
    ) {
        CpuKernels::attention_backward_key(
            self,
            p,
            &dscores.data,
            &qkv.data,
            &starts.0,
            &mut dqkv.data,
        )
    }
    fn attention_backward_value_unchecked(
        &self,
        p: &AttentionParams,
        weights: &CpuTensor,
        dout: &CpuTensor,
        starts: &CpuIndices,
        dqkv: &mut CpuTensor,
    ) {
        CpuKernels::attention_backward_value(
            self,
            p,
            &weights.data,
            &dout.data,
            &starts.0,
            &mut dqkv.data,
        )
    }
    fn attention_cache_write_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &CpuTensor,
        starts: &CpuIndices,
        cache: &mut CpuTensor,
    ) {
        CpuKernels::attention_cache_write(self, p, &qkv.data, &starts.0, &mut cache.data)
    }
}
