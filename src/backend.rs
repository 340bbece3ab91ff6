//! One trait over the GPU kernels and their CPU twins. Models are written
//! once against it.
//!
//! Checks once, kernels many: every op is a provided method that checks the
//! shapes (the functions of [`crate::shapes`]) and then calls the backend's
//! `*_unchecked` kernel with the checked `Params`, so every backend refuses
//! the same bad shapes with the same message, and a backend implements only
//! kernels.
//!
//! Conventions shared by every op:
//! - layouts follow PyTorch: activations NCHW, conv weight [out, in, k, k],
//!   dense weight [out, in], recurrent gates in PyTorch's order (LSTM
//!   i, f, g, o; GRU r, z, n);
//! - outputs are preallocated by the caller and passed as `&mut`, so a model
//!   allocates its buffers once and a training step allocates nothing;
//! - forward ops overwrite their output; `*_backward_*` ops ACCUMULATE into
//!   their gradient (`+=`), so gradients from several uses add up and the
//!   caller zeroes them with [`Backend::fill_zero`] once per step (the
//!   recurrent `*_step_backward` ops overwrite their step's gate gradients);
//! - on the GPU, ops are only recorded; [`Backend::read`] submits everything
//!   recorded so far and reads the requested tensors back in one go.

use std::future::Future;

use crate::error::Result;
use crate::params::{
    AdamParams, AttentionParams, Conv2dParams, CopyParams, DenseParams, DropoutParams,
    ElementwiseParams, EmbeddingParams, LayerNormParams, NormParams, PoolParams, PositionParams,
    RecurrentParams, SoftmaxParams,
};
use crate::shapes::{self, Cell};
pub use crate::shapes::{Act, AdamConfig, KeyRows, Mask, SeqStep};

/// A tensor of `f32` living on some backend, with a row-major shape.
pub trait Tensor {
    fn shape(&self) -> &[usize];
    fn len(&self) -> usize {
        self.shape().iter().product()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A vector of `u32` on some backend: class labels, token ids, pool argmax.
pub trait Indices {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

pub trait Backend {
    type Tensor: Tensor;
    type Indices: Indices;

    /// What runs the kernels, e.g. "WebGPU: swiftshader" or "CPU".
    fn name(&self) -> String;

    /// Why the device is gone, once it is lost for good (a GPU after a
    /// driver reset); never for the CPU.
    fn lost(&self) -> Option<String> {
        None
    }

    // ---- memory -------------------------------------------------------

    /// A new tensor holding `data` (row-major, length = product of `shape`).
    fn tensor(&self, shape: &[usize], data: &[f32]) -> Result<Self::Tensor>;
    /// A new tensor of zeros.
    fn zeros(&self, shape: &[usize]) -> Self::Tensor;
    /// Overwrite a tensor with host data of the same length.
    fn write(&self, dst: &mut Self::Tensor, data: &[f32]) -> Result<()>;
    /// Set every value to zero (gradient buffers at the start of a step).
    fn fill_zero(&self, dst: &mut Self::Tensor);
    /// A new index vector holding `data`.
    fn indices(&self, data: &[u32]) -> Self::Indices;
    /// Overwrite an index vector with host data of the same length.
    fn write_indices(&self, dst: &mut Self::Indices, data: &[u32]) -> Result<()>;
    /// Read tensors back to the host, finishing all recorded work first.
    /// Async so that the page never blocks on the GPU.
    fn read(&self, tensors: &[&Self::Tensor]) -> impl Future<Output = Result<Vec<Vec<f32>>>>;
    /// Read an index vector back to the host.
    fn read_indices(&self, ids: &Self::Indices) -> impl Future<Output = Result<Vec<u32>>>;

    // ---- the kernels, shapes already checked --------------------------
    //
    // One per WGSL entry point, named after it; each takes the `Params`
    // its shader reads. Call the checked methods below instead.

    fn conv2d_forward_unchecked(
        &self,
        p: &Conv2dParams,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
    );
    fn conv2d_backward_input_unchecked(
        &self,
        p: &Conv2dParams,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    fn conv2d_backward_weight_unchecked(
        &self,
        p: &Conv2dParams,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    );
    fn conv2d_backward_bias_unchecked(
        &self,
        p: &Conv2dParams,
        dy: &Self::Tensor,
        db: &mut Self::Tensor,
    );
    fn max_pool2d_forward_unchecked(
        &self,
        p: &PoolParams,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
        argmax: &mut Self::Indices,
    );
    fn max_pool2d_backward_unchecked(
        &self,
        p: &PoolParams,
        dy: &Self::Tensor,
        argmax: &Self::Indices,
        dx: &mut Self::Tensor,
    );
    fn avg_pool2d_forward_unchecked(&self, p: &PoolParams, x: &Self::Tensor, y: &mut Self::Tensor);
    fn avg_pool2d_backward_unchecked(
        &self,
        p: &PoolParams,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    fn dense_forward_unchecked(
        &self,
        p: &DenseParams,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
    );
    fn dense_backward_input_unchecked(
        &self,
        p: &DenseParams,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    fn dense_backward_weight_unchecked(
        &self,
        p: &DenseParams,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    );
    fn dense_backward_bias_unchecked(
        &self,
        p: &DenseParams,
        dy: &Self::Tensor,
        db: &mut Self::Tensor,
    );
    fn relu_forward_unchecked(&self, p: &ElementwiseParams, x: &Self::Tensor, y: &mut Self::Tensor);
    fn relu_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        y: &Self::Tensor,
        grad: &mut Self::Tensor,
    );
    fn sigmoid_forward_unchecked(
        &self,
        p: &ElementwiseParams,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
    );
    fn sigmoid_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        y: &Self::Tensor,
        grad: &mut Self::Tensor,
    );
    fn tanh_forward_unchecked(&self, p: &ElementwiseParams, x: &Self::Tensor, y: &mut Self::Tensor);
    fn tanh_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        y: &Self::Tensor,
        grad: &mut Self::Tensor,
    );
    fn dropout_forward_unchecked(&self, p: &DropoutParams, x: &Self::Tensor, y: &mut Self::Tensor);
    fn dropout_backward_unchecked(
        &self,
        p: &DropoutParams,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    fn embedding_forward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &Self::Indices,
        table: &Self::Tensor,
        y: &mut Self::Tensor,
    );
    fn embedding_backward_unchecked(
        &self,
        p: &EmbeddingParams,
        ids: &Self::Indices,
        dy: &Self::Tensor,
        dtable: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn rnn_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
    );
    fn rnn_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        h_out: &Self::Tensor,
        dh: &Self::Tensor,
        dgates: &mut Self::Tensor,
    );
    fn rnn_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn gru_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h0: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
        gates: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn gru_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &Self::Tensor,
        h0: &Self::Tensor,
        h_out: &Self::Tensor,
        dh: &mut Self::Tensor,
        dgi: &mut Self::Tensor,
        dgh: &mut Self::Tensor,
    );
    fn gru_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgh: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_forward_unchecked(
        &self,
        p: &RecurrentParams,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
        c: &mut Self::Tensor,
        gates: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_backward_unchecked(
        &self,
        p: &RecurrentParams,
        gates: &Self::Tensor,
        c: &Self::Tensor,
        dh: &Self::Tensor,
        dc: &mut Self::Tensor,
        dgates: &mut Self::Tensor,
    );
    fn lstm_step_backward_hidden_unchecked(
        &self,
        p: &RecurrentParams,
        dgates: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
    );
    fn sum_squares_unchecked(&self, p: &NormParams, x: &Self::Tensor, sums: &mut Self::Tensor);
    fn clip_by_norm_unchecked(&self, p: &NormParams, sums: &Self::Tensor, x: &mut Self::Tensor);
    fn copy_slice_unchecked(&self, p: &CopyParams, src: &Self::Tensor, dst: &mut Self::Tensor);
    fn softmax_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &Self::Tensor,
        probs: &mut Self::Tensor,
    );
    fn softmax_xent_forward_unchecked(
        &self,
        p: &SoftmaxParams,
        logits: &Self::Tensor,
        labels: &Self::Indices,
        probs: &mut Self::Tensor,
        loss: &mut Self::Tensor,
    );
    fn softmax_xent_backward_unchecked(
        &self,
        p: &SoftmaxParams,
        probs: &Self::Tensor,
        labels: &Self::Indices,
        dlogits: &mut Self::Tensor,
    );
    fn adam_step_unchecked(
        &self,
        p: &AdamParams,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        m: &mut Self::Tensor,
        v: &mut Self::Tensor,
    );
    fn gelu_forward_unchecked(&self, p: &ElementwiseParams, x: &Self::Tensor, y: &mut Self::Tensor);
    fn gelu_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        x: &Self::Tensor,
        grad: &mut Self::Tensor,
    );
    fn residual_forward_unchecked(
        &self,
        p: &ElementwiseParams,
        a: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
    );
    fn residual_backward_unchecked(
        &self,
        p: &ElementwiseParams,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_forward_unchecked(
        &self,
        p: &LayerNormParams,
        x: &Self::Tensor,
        gamma: &Self::Tensor,
        beta: &Self::Tensor,
        y: &mut Self::Tensor,
        stats: &mut Self::Tensor,
    );
    fn layer_norm_backward_input_unchecked(
        &self,
        p: &LayerNormParams,
        x: &Self::Tensor,
        gamma: &Self::Tensor,
        stats: &Self::Tensor,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
    );
    fn layer_norm_backward_weight_unchecked(
        &self,
        p: &LayerNormParams,
        x: &Self::Tensor,
        stats: &Self::Tensor,
        dy: &Self::Tensor,
        dgamma: &mut Self::Tensor,
    );
    fn position_forward_unchecked(
        &self,
        p: &PositionParams,
        x: &Self::Tensor,
        table: &Self::Tensor,
        starts: &Self::Indices,
        y: &mut Self::Tensor,
    );
    fn position_backward_unchecked(
        &self,
        p: &PositionParams,
        dy: &Self::Tensor,
        starts: &Self::Indices,
        dtable: &mut Self::Tensor,
    );
    fn attention_scores_forward_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &Self::Tensor,
        kv: &Self::Tensor,
        starts: &Self::Indices,
        weights: &mut Self::Tensor,
    );
    fn attention_values_forward_unchecked(
        &self,
        p: &AttentionParams,
        weights: &Self::Tensor,
        kv: &Self::Tensor,
        starts: &Self::Indices,
        out: &mut Self::Tensor,
    );
    fn attention_backward_scores_unchecked(
        &self,
        p: &AttentionParams,
        weights: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dout: &Self::Tensor,
        dscores: &mut Self::Tensor,
    );
    fn attention_backward_query_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    );
    fn attention_backward_key_unchecked(
        &self,
        p: &AttentionParams,
        dscores: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    );
    fn attention_backward_value_unchecked(
        &self,
        p: &AttentionParams,
        weights: &Self::Tensor,
        dout: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    );
    fn attention_cache_write_unchecked(
        &self,
        p: &AttentionParams,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        cache: &mut Self::Tensor,
    );

    // ---- conv2d (k x k, stride 1, valid) ------------------------------

    /// y [n, o, h-k+1, w-k+1] = act(conv(x [n, c, h, w], w [o, c, k, k]) + b [o]).
    fn conv2d_forward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
        act: Act,
    ) -> Result<()> {
        let p = shapes::conv2d_forward(x.shape(), w.shape(), b.shape(), y.shape(), act)?;
        self.conv2d_forward_unchecked(&p, x, w, b, y);
        Ok(())
    }
    /// dx [n, c, h, w] += full correlation of dy [n, o, h-k+1, w-k+1] with w.
    fn conv2d_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::conv2d(
            "conv2d_backward_input",
            dx.shape(),
            w.shape(),
            dy.shape(),
            Act::Linear,
        )?;
        self.conv2d_backward_input_unchecked(&p, dy, w, dx);
        Ok(())
    }
    /// dw [o, c, k, k] += correlation of x with dy, summed over the batch.
    fn conv2d_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::conv2d(
            "conv2d_backward_weight",
            x.shape(),
            dw.shape(),
            dy.shape(),
            Act::Linear,
        )?;
        self.conv2d_backward_weight_unchecked(&p, x, dy, dw);
        Ok(())
    }
    /// db [o] += dy summed over batch and space.
    fn conv2d_backward_bias(&self, dy: &Self::Tensor, db: &mut Self::Tensor) -> Result<()> {
        let p = shapes::conv2d_bias("conv2d_backward_bias", dy.shape(), db.shape())?;
        self.conv2d_backward_bias_unchecked(&p, dy, db);
        Ok(())
    }

    // ---- pooling (size x size windows, stride size, floor) ------------

    /// y [n, c, h/s, w/s] = window maxima of x; argmax records where in its
    /// window each one was (ky * size + kx; the first maximum on ties).
    fn max_pool2d_forward(
        &self,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
        argmax: &mut Self::Indices,
        size: usize,
    ) -> Result<()> {
        let p = shapes::max_pool2d(
            "max_pool2d_forward",
            x.shape(),
            y.shape(),
            argmax.len(),
            size,
        )?;
        self.max_pool2d_forward_unchecked(&p, x, y, argmax);
        Ok(())
    }
    /// dx += dy routed to the recorded argmax positions. An argmax past the
    /// window (written by hand) is read as its last position on every backend.
    fn max_pool2d_backward(
        &self,
        dy: &Self::Tensor,
        argmax: &Self::Indices,
        dx: &mut Self::Tensor,
        size: usize,
    ) -> Result<()> {
        let p = shapes::max_pool2d(
            "max_pool2d_backward",
            dx.shape(),
            dy.shape(),
            argmax.len(),
            size,
        )?;
        self.max_pool2d_backward_unchecked(&p, dy, argmax, dx);
        Ok(())
    }
    /// y [n, c, h/s, w/s] = window means of x.
    fn avg_pool2d_forward(
        &self,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
        size: usize,
    ) -> Result<()> {
        let p = shapes::pool2d("avg_pool2d_forward", x.shape(), y.shape(), size)?;
        self.avg_pool2d_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// dx += dy / size^2 spread over each window (rows and columns past the
    /// last whole window get nothing, as they gave nothing).
    fn avg_pool2d_backward(
        &self,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
        size: usize,
    ) -> Result<()> {
        let p = shapes::pool2d("avg_pool2d_backward", dx.shape(), dy.shape(), size)?;
        self.avg_pool2d_backward_unchecked(&p, dy, dx);
        Ok(())
    }

    // ---- dense (matmul) ----------------------------------------------

    /// y [n, out] = act(x [n, ...] (flattened to [n, in]) . w [out, in]^T + b [out]).
    fn dense_forward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
        act: Act,
    ) -> Result<()> {
        let p = shapes::dense_forward(x.shape(), w.shape(), b.shape(), y.shape(), act)?;
        self.dense_forward_unchecked(&p, x, w, b, y);
        Ok(())
    }
    /// dx [n, in] += dy [n, out] . w [out, in].
    fn dense_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::dense(
            "dense_backward_input",
            dx.shape(),
            w.shape(),
            dy.shape(),
            Act::Linear,
        )?;
        self.dense_backward_input_unchecked(&p, dy, w, dx);
        Ok(())
    }
    /// dw [out, in] += dy [n, out]^T . x [n, in].
    fn dense_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::dense(
            "dense_backward_weight",
            x.shape(),
            dw.shape(),
            dy.shape(),
            Act::Linear,
        )?;
        self.dense_backward_weight_unchecked(&p, x, dy, dw);
        Ok(())
    }
    /// db [out] += dy [n, out] summed over rows.
    fn dense_backward_bias(&self, dy: &Self::Tensor, db: &mut Self::Tensor) -> Result<()> {
        let p = shapes::dense_bias("dense_backward_bias", dy.shape(), db.shape())?;
        self.dense_backward_bias_unchecked(&p, dy, db);
        Ok(())
    }

    // ---- activations ---------------------------------------------------

    /// y = max(x, 0).
    fn relu_forward(&self, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("relu_forward", x.shape(), y.shape())?;
        self.relu_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// grad *= (y > 0), in place: turns d loss / d y into d loss / d
    /// pre-activation. Done once so the three backward kernels of a fused
    /// conv/dense share it.
    fn relu_backward(&self, y: &Self::Tensor, grad: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("relu_backward", y.shape(), grad.shape())?;
        self.relu_backward_unchecked(&p, y, grad);
        Ok(())
    }
    /// y = 1 / (1 + e^-x).
    fn sigmoid_forward(&self, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("sigmoid_forward", x.shape(), y.shape())?;
        self.sigmoid_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// grad *= y (1 - y), in place.
    fn sigmoid_backward(&self, y: &Self::Tensor, grad: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("sigmoid_backward", y.shape(), grad.shape())?;
        self.sigmoid_backward_unchecked(&p, y, grad);
        Ok(())
    }
    /// y = tanh(x).
    fn tanh_forward(&self, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("tanh_forward", x.shape(), y.shape())?;
        self.tanh_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// grad *= 1 - y^2, in place.
    fn tanh_backward(&self, y: &Self::Tensor, grad: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("tanh_backward", y.shape(), grad.shape())?;
        self.tanh_backward_unchecked(&p, y, grad);
        Ok(())
    }
    /// y = act(x); linear copies.
    fn activation_forward(&self, act: Act, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()> {
        match act {
            Act::Linear => {
                shapes::elementwise("activation_forward", x.shape(), y.shape())?;
                self.copy_slice(x, 0, y, 0, x.len())
            }
            Act::Relu => self.relu_forward(x, y),
            Act::Sigmoid => self.sigmoid_forward(x, y),
            Act::Tanh => self.tanh_forward(x, y),
        }
    }
    /// grad *= act'(the pre-activation), read off the activated y; linear
    /// leaves grad as it is.
    fn activation_backward(
        &self,
        act: Act,
        y: &Self::Tensor,
        grad: &mut Self::Tensor,
    ) -> Result<()> {
        match act {
            Act::Linear => {
                shapes::elementwise("activation_backward", y.shape(), grad.shape()).map(|_| ())
            }
            Act::Relu => self.relu_backward(y, grad),
            Act::Sigmoid => self.sigmoid_backward(y, grad),
            Act::Tanh => self.tanh_backward(y, grad),
        }
    }

    // ---- dropout -------------------------------------------------------

    /// y = x * mask, the mask of `mask` repeating every `period` values
    /// (the whole length: a fresh mask per value).
    fn dropout_forward(
        &self,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
        mask: Mask,
        period: usize,
    ) -> Result<()> {
        let p = shapes::dropout("dropout_forward", x.shape(), y.shape(), mask, period)?;
        self.dropout_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// dx += dy * mask, the same mask as the forward pass.
    fn dropout_backward(
        &self,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
        mask: Mask,
        period: usize,
    ) -> Result<()> {
        let p = shapes::dropout("dropout_backward", dy.shape(), dx.shape(), mask, period)?;
        self.dropout_backward_unchecked(&p, dy, dx);
        Ok(())
    }

    // ---- embedding ------------------------------------------------------

    /// y [n, dim] = table [vocab, dim] rows picked by ids [n]; an id >= vocab gives a zero row.
    fn embedding_forward(
        &self,
        ids: &Self::Indices,
        table: &Self::Tensor,
        y: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::embedding("embedding_forward", ids.len(), table.shape(), y.shape())?;
        self.embedding_forward_unchecked(&p, ids, table, y);
        Ok(())
    }
    /// dtable [vocab, dim] += dy rows added at their ids (no atomics: one thread per table entry).
    fn embedding_backward(
        &self,
        ids: &Self::Indices,
        dy: &Self::Tensor,
        dtable: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::embedding("embedding_backward", ids.len(), dtable.shape(), dy.shape())?;
        self.embedding_backward_unchecked(&p, ids, dy, dtable);
        Ok(())
    }

    // ---- recurrent cells, one timestep of a time-major sequence ----------
    //
    // Sequence tensors are [steps * batch, width] (see `SeqStep`); the input
    // projection xg = x W_ih^T + b_ih of the whole sequence is one
    // `dense_forward`, and so are the weight gradients after the time loop.
    // h_in[t] is h_(t-1) as the recurrent product reads it: times the
    // recurrent dropout mask `drop` when it is active. Each forward step
    // writes h_t to h_out[t] and, unless t is the last step, h_t * mask to
    // h_in[t+1]; block 0 of h_in (the initial state) is the caller's.

    /// h = tanh(xg[t] + h_in[t] W_hh^T + b_hh); xg, h_in, h_out [T*b, H].
    #[allow(clippy::too_many_arguments)]
    fn rnn_step_forward(
        &self,
        at: SeqStep,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::rnn_step_forward(
            at,
            [
                xg.shape(),
                w_hh.shape(),
                b_hh.shape(),
                h_in.shape(),
                h_out.shape(),
            ],
            drop,
        )?;
        self.rnn_step_forward_unchecked(&p, xg, w_hh, b_hh, h_in, h_out);
        Ok(())
    }
    /// dgates[t] = dh[t] * (1 - h_out[t]^2), overwritten: the gradient of
    /// the pre-activation, given the whole d loss / d h_t in dh[t].
    fn rnn_step_backward(
        &self,
        at: SeqStep,
        h_out: &Self::Tensor,
        dh: &Self::Tensor,
        dgates: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::rnn_step_backward(at, h_out.shape(), dh.shape(), dgates.shape())?;
        self.rnn_step_backward_unchecked(&p, h_out, dh, dgates);
        Ok(())
    }
    /// dh[t-1] += (dgates[t] . W_hh) * mask, for t >= 1.
    fn rnn_step_backward_hidden(
        &self,
        at: SeqStep,
        dgates: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::step_backward_hidden(
            "rnn_step_backward_hidden",
            Cell::Rnn,
            at,
            dgates.shape(),
            w_hh.shape(),
            dh.shape(),
            drop,
        )?;
        self.rnn_step_backward_hidden_unchecked(&p, dgates, w_hh, dh);
        Ok(())
    }

    /// PyTorch's GRU cell: with a = h_in[t] W_hh^T + b_hh ([b, 3H]) and
    /// xg[t] = x W_ih^T + b_ih, r = sigmoid(xg_r + a_r), z = sigmoid(xg_z + a_z),
    /// n = tanh(xg_n + r * a_n), h = (1 - z) * n + z * h_(t-1), where h_(t-1)
    /// is unmasked: h0 [b, H] for t = 0, else h_out[t-1]. gates[t] keeps r,
    /// z, n and a_n [T*b, 4H].
    #[allow(clippy::too_many_arguments)]
    fn gru_step_forward(
        &self,
        at: SeqStep,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h0: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
        gates: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::gru_step_forward(
            at,
            [
                xg.shape(),
                w_hh.shape(),
                b_hh.shape(),
                h_in.shape(),
                h_out.shape(),
            ],
            h0.shape(),
            gates.shape(),
            drop,
        )?;
        self.gru_step_forward_unchecked(&p, xg, w_hh, b_hh, h0, h_in, h_out, gates);
        Ok(())
    }
    /// Back through the GRU cell of timestep t, given the whole d loss / d h_t
    /// in dh[t]: overwrites dgi[t] (the gradient of the input projection's
    /// r, z, n) and dgh[t] (of the recurrent product's), and adds the direct
    /// path dh[t] * z to dh[t-1] when t >= 1.
    #[allow(clippy::too_many_arguments)]
    fn gru_step_backward(
        &self,
        at: SeqStep,
        gates: &Self::Tensor,
        h0: &Self::Tensor,
        h_out: &Self::Tensor,
        dh: &mut Self::Tensor,
        dgi: &mut Self::Tensor,
        dgh: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::gru_step_backward(
            at,
            gates.shape(),
            h0.shape(),
            h_out.shape(),
            dh.shape(),
            [dgi.shape(), dgh.shape()],
        )?;
        self.gru_step_backward_unchecked(&p, gates, h0, h_out, dh, dgi, dgh);
        Ok(())
    }
    /// dh[t-1] += (dgh[t] . W_hh) * mask, for t >= 1.
    fn gru_step_backward_hidden(
        &self,
        at: SeqStep,
        dgh: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::step_backward_hidden(
            "gru_step_backward_hidden",
            Cell::Gru,
            at,
            dgh.shape(),
            w_hh.shape(),
            dh.shape(),
            drop,
        )?;
        self.gru_step_backward_hidden_unchecked(&p, dgh, w_hh, dh);
        Ok(())
    }

    /// PyTorch's LSTM cell: z = xg[t] + h_in[t] W_hh^T + b_hh, gates i, f,
    /// g, o; c[t+1] = f * c[t] + i * g; h = o * tanh(c[t+1]). The activated
    /// gates go to gates[t]. xg, gates [T*b, 4H]; h_in, h_out [T*b, H];
    /// c [(T+1)*b, H].
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_forward(
        &self,
        at: SeqStep,
        xg: &Self::Tensor,
        w_hh: &Self::Tensor,
        b_hh: &Self::Tensor,
        h_in: &mut Self::Tensor,
        h_out: &mut Self::Tensor,
        c: &mut Self::Tensor,
        gates: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::lstm_step_forward(
            at,
            [
                xg.shape(),
                w_hh.shape(),
                b_hh.shape(),
                h_in.shape(),
                h_out.shape(),
            ],
            c.shape(),
            gates.shape(),
            drop,
        )?;
        self.lstm_step_forward_unchecked(&p, xg, w_hh, b_hh, h_in, h_out, c, gates);
        Ok(())
    }
    /// Back through the LSTM cell of timestep t: dh[t] must hold the whole
    /// d loss / d h_t; dc [b, h] holds d loss / d c[t+1] and is OVERWRITTEN
    /// with d loss / d c[t]; dgates[t] is overwritten.
    #[allow(clippy::too_many_arguments)]
    fn lstm_step_backward(
        &self,
        at: SeqStep,
        gates: &Self::Tensor,
        c: &Self::Tensor,
        dh: &Self::Tensor,
        dc: &mut Self::Tensor,
        dgates: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::lstm_step_backward(
            at,
            gates.shape(),
            c.shape(),
            dh.shape(),
            dc.shape(),
            dgates.shape(),
        )?;
        self.lstm_step_backward_unchecked(&p, gates, c, dh, dc, dgates);
        Ok(())
    }
    /// dh[t-1] += (dgates[t] . W_hh) * mask, for t >= 1.
    fn lstm_step_backward_hidden(
        &self,
        at: SeqStep,
        dgates: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
        drop: Mask,
    ) -> Result<()> {
        let p = shapes::step_backward_hidden(
            "lstm_step_backward_hidden",
            Cell::Lstm,
            at,
            dgates.shape(),
            w_hh.shape(),
            dh.shape(),
            drop,
        )?;
        self.lstm_step_backward_hidden_unchecked(&p, dgates, w_hh, dh);
        Ok(())
    }

    // ---- gradient-norm clipping and copies ---------------------------------

    /// sums[slot] = sum of x^2 (sums is a vector with one slot per tensor).
    fn sum_squares(&self, x: &Self::Tensor, sums: &mut Self::Tensor, slot: usize) -> Result<()> {
        let p = shapes::sum_squares(x.shape(), sums.shape(), slot)?;
        self.sum_squares_unchecked(&p, x, sums);
        Ok(())
    }
    /// x *= max_norm / norm when norm = sqrt(sum of all sums) exceeds max_norm:
    /// with `sum_squares`, clipping by the global norm without a read-back.
    fn clip_by_norm(&self, sums: &Self::Tensor, max_norm: f32, x: &mut Self::Tensor) -> Result<()> {
        let p = shapes::clip_by_norm(sums.shape(), max_norm, x.shape())?;
        self.clip_by_norm_unchecked(&p, sums, x);
        Ok(())
    }
    /// dst[dst_offset..][..len] = src[src_offset..][..len], flat indices.
    fn copy_slice(
        &self,
        src: &Self::Tensor,
        src_offset: usize,
        dst: &mut Self::Tensor,
        dst_offset: usize,
        len: usize,
    ) -> Result<()> {
        let p = shapes::copy_slice(src.shape(), src_offset, dst.shape(), dst_offset, len)?;
        self.copy_slice_unchecked(&p, src, dst);
        Ok(())
    }

    // ---- softmax + cross-entropy -----------------------------------------

    /// probs [n, classes] = softmax of logits, row by row.
    fn softmax_forward(&self, logits: &Self::Tensor, probs: &mut Self::Tensor) -> Result<()> {
        let p = shapes::softmax_forward(logits.shape(), probs.shape())?;
        self.softmax_forward_unchecked(&p, logits, probs);
        Ok(())
    }
    /// probs as above, and loss [n] = -ln probs[label] per row.
    fn softmax_xent_forward(
        &self,
        logits: &Self::Tensor,
        labels: &Self::Indices,
        probs: &mut Self::Tensor,
        loss: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::softmax_xent_forward(
            logits.shape(),
            labels.len(),
            probs.shape(),
            loss.shape(),
        )?;
        self.softmax_xent_forward_unchecked(&p, logits, labels, probs, loss);
        Ok(())
    }
    /// dlogits += scale * (probs - onehot(label)): the fused backward of both.
    fn softmax_xent_backward(
        &self,
        probs: &Self::Tensor,
        labels: &Self::Indices,
        dlogits: &mut Self::Tensor,
        scale: f32,
    ) -> Result<()> {
        let p = shapes::softmax_xent_backward(probs.shape(), labels.len(), dlogits.shape(), scale)?;
        self.softmax_xent_backward_unchecked(&p, probs, labels, dlogits);
        Ok(())
    }

    // ---- the Transformer's parts -------------------------------------------
    //
    // Sequences are time-major [steps * rows, width] as for the recurrent
    // cells; `starts` [rows] holds each row's first position (zeros for a
    // training window, where every row starts at 0). Attention's weights
    // [rows, heads, q_steps, k_steps] size its ops; see `AttentionParams`
    // for where queries, keys and values live.

    /// y = gelu(x) = x Phi(x), the exact (erf) form.
    fn gelu_forward(&self, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("gelu_forward", x.shape(), y.shape())?;
        self.gelu_forward_unchecked(&p, x, y);
        Ok(())
    }
    /// grad *= gelu'(x), in place, reading the forward's input x.
    fn gelu_backward(&self, x: &Self::Tensor, grad: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("gelu_backward", x.shape(), grad.shape())?;
        self.gelu_backward_unchecked(&p, x, grad);
        Ok(())
    }
    /// y = a + b: a residual connection.
    fn residual_forward(
        &self,
        a: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::elementwise("residual_forward", a.shape(), b.shape())?;
        shapes::elementwise("residual_forward", a.shape(), y.shape())?;
        self.residual_forward_unchecked(&p, a, b, y);
        Ok(())
    }
    /// dx += dy: the skip path of a residual connection.
    fn residual_backward(&self, dy: &Self::Tensor, dx: &mut Self::Tensor) -> Result<()> {
        let p = shapes::elementwise("residual_backward", dy.shape(), dx.shape())?;
        self.residual_backward_unchecked(&p, dy, dx);
        Ok(())
    }
    /// y [n, dim] = layer_norm(x) * gamma + beta, row by row; stats [n, 2]
    /// keeps each row's mean and 1 / sqrt(var + eps).
    #[allow(clippy::too_many_arguments)]
    fn layer_norm_forward(
        &self,
        x: &Self::Tensor,
        gamma: &Self::Tensor,
        beta: &Self::Tensor,
        y: &mut Self::Tensor,
        stats: &mut Self::Tensor,
        eps: f32,
    ) -> Result<()> {
        const OP: &str = "layer_norm_forward";
        let p = shapes::layer_norm(OP, x.shape(), gamma.shape(), stats.shape(), eps)?;
        shapes::elementwise(OP, gamma.shape(), beta.shape())?;
        shapes::elementwise(OP, x.shape(), y.shape())?;
        self.layer_norm_forward_unchecked(&p, x, gamma, beta, y, stats);
        Ok(())
    }
    /// dx [n, dim] += d loss / d x, given dy and the forward's x and stats.
    fn layer_norm_backward_input(
        &self,
        x: &Self::Tensor,
        gamma: &Self::Tensor,
        stats: &Self::Tensor,
        dy: &Self::Tensor,
        dx: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "layer_norm_backward_input";
        let p = shapes::layer_norm(OP, x.shape(), gamma.shape(), stats.shape(), 0.0)?;
        shapes::elementwise(OP, x.shape(), dy.shape())?;
        shapes::elementwise(OP, x.shape(), dx.shape())?;
        self.layer_norm_backward_input_unchecked(&p, x, gamma, stats, dy, dx);
        Ok(())
    }
    /// dgamma [dim] += sum over rows of dy * xhat (dbeta is the column sum
    /// of dy: `dense_backward_bias`).
    fn layer_norm_backward_weight(
        &self,
        x: &Self::Tensor,
        stats: &Self::Tensor,
        dy: &Self::Tensor,
        dgamma: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "layer_norm_backward_weight";
        let p = shapes::layer_norm(OP, x.shape(), dgamma.shape(), stats.shape(), 0.0)?;
        shapes::elementwise(OP, x.shape(), dy.shape())?;
        self.layer_norm_backward_weight_unchecked(&p, x, stats, dy, dgamma);
        Ok(())
    }
    /// y [T*b, dim] = x + table[starts[r] + t] (nothing past the table).
    fn position_forward(
        &self,
        x: &Self::Tensor,
        table: &Self::Tensor,
        starts: &Self::Indices,
        y: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "position_forward";
        let p = shapes::position(OP, x.shape(), table.shape(), starts.len())?;
        shapes::elementwise(OP, x.shape(), y.shape())?;
        self.position_forward_unchecked(&p, x, table, starts, y);
        Ok(())
    }
    /// dtable [context, dim] += dy's rows at their positions.
    fn position_backward(
        &self,
        dy: &Self::Tensor,
        starts: &Self::Indices,
        dtable: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::position(
            "position_backward",
            dy.shape(),
            dtable.shape(),
            starts.len(),
        )?;
        self.position_backward_unchecked(&p, dy, starts, dtable);
        Ok(())
    }
    /// weights [b, H, Tq, Tk] = causal softmax over keys of q . k / sqrt(head_dim),
    /// queries from qkv, keys from the rows of kv that `keys` names.
    fn attention_scores_forward(
        &self,
        qkv: &Self::Tensor,
        kv: &Self::Tensor,
        starts: &Self::Indices,
        weights: &mut Self::Tensor,
        keys: KeyRows,
    ) -> Result<()> {
        let p = shapes::attention(
            "attention_scores_forward",
            weights.shape(),
            qkv.shape(),
            kv.shape(),
            starts.len(),
            keys,
        )?;
        self.attention_scores_forward_unchecked(&p, qkv, kv, starts, weights);
        Ok(())
    }
    /// out [Tq*b, dim] = weights . v, each head into its columns.
    fn attention_values_forward(
        &self,
        weights: &Self::Tensor,
        kv: &Self::Tensor,
        starts: &Self::Indices,
        out: &mut Self::Tensor,
        keys: KeyRows,
    ) -> Result<()> {
        const OP: &str = "attention_values_forward";
        let s = weights.shape();
        let queries = [s.first().copied().unwrap_or(0) * s.get(2).copied().unwrap_or(0)];
        let qkv = [queries[0], kv.shape().get(1).copied().unwrap_or(0)];
        let p = shapes::attention(OP, s, &qkv, kv.shape(), starts.len(), keys)?;
        shapes::elementwise(OP, out.shape(), &[qkv[0], qkv[1] / 3])?;
        self.attention_values_forward_unchecked(&p, weights, kv, starts, out);
        Ok(())
    }
    /// dscores = weights * (dP - sum over keys of weights * dP), dP = dout . v^T:
    /// overwritten; keys and values are qkv's own rows (a training window).
    fn attention_backward_scores(
        &self,
        weights: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dout: &Self::Tensor,
        dscores: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "attention_backward_scores";
        let p = self::window_attention(OP, weights.shape(), qkv.shape(), starts.len())?;
        shapes::elementwise(OP, weights.shape(), dscores.shape())?;
        shapes::elementwise(OP, dout.shape(), &[qkv.shape()[0], qkv.shape()[1] / 3])?;
        self.attention_backward_scores_unchecked(&p, weights, qkv, starts, dout, dscores);
        Ok(())
    }
    /// dqkv's q columns += dscores . k / sqrt(head_dim).
    fn attention_backward_query(
        &self,
        dscores: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "attention_backward_query";
        let p = self::window_attention(OP, dscores.shape(), qkv.shape(), starts.len())?;
        shapes::elementwise(OP, qkv.shape(), dqkv.shape())?;
        self.attention_backward_query_unchecked(&p, dscores, qkv, starts, dqkv);
        Ok(())
    }
    /// dqkv's k columns += dscores^T . q / sqrt(head_dim).
    fn attention_backward_key(
        &self,
        dscores: &Self::Tensor,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "attention_backward_key";
        let p = self::window_attention(OP, dscores.shape(), qkv.shape(), starts.len())?;
        shapes::elementwise(OP, qkv.shape(), dqkv.shape())?;
        self.attention_backward_key_unchecked(&p, dscores, qkv, starts, dqkv);
        Ok(())
    }
    /// dqkv's v columns += weights^T . dout.
    fn attention_backward_value(
        &self,
        weights: &Self::Tensor,
        dout: &Self::Tensor,
        starts: &Self::Indices,
        dqkv: &mut Self::Tensor,
    ) -> Result<()> {
        const OP: &str = "attention_backward_value";
        let p = self::window_attention(OP, weights.shape(), dqkv.shape(), starts.len())?;
        shapes::elementwise(OP, dout.shape(), &[dqkv.shape()[0], dqkv.shape()[1] / 3])?;
        self.attention_backward_value_unchecked(&p, weights, dout, starts, dqkv);
        Ok(())
    }
    /// cache [b * positions, 3 dim] row r * positions + starts[r] + t =
    /// qkv [T*b, 3 dim] row t * b + r (steps past the cache are dropped).
    fn attention_cache_write(
        &self,
        qkv: &Self::Tensor,
        starts: &Self::Indices,
        cache: &mut Self::Tensor,
    ) -> Result<()> {
        let p = shapes::attention_cache_write(qkv.shape(), starts.len(), cache.shape())?;
        self.attention_cache_write_unchecked(&p, qkv, starts, cache);
        Ok(())
    }

    // ---- Adam -------------------------------------------------------------

    /// One bias-corrected Adam step (`step` counts from 1) over a flat parameter.
    fn adam_step(
        &self,
        param: &mut Self::Tensor,
        grad: &Self::Tensor,
        m: &mut Self::Tensor,
        v: &mut Self::Tensor,
        cfg: AdamConfig,
        step: u32,
    ) -> Result<()> {
        let p = shapes::adam(
            "adam_step",
            [param.shape(), grad.shape(), m.shape(), v.shape()],
            cfg,
            step,
        )?;
        self.adam_step_unchecked(&p, param, grad, m, v);
        Ok(())
    }
}

/// The backward attention ops read a training window: keys and values are
/// the queries' own rows of qkv, time-major.
fn window_attention(
    op: &'static str,
    weights: &[usize],
    qkv: &[usize],
    starts: usize,
) -> Result<AttentionParams> {
    shapes::attention(op, weights, qkv, qkv, starts, KeyRows::window(starts))
}
