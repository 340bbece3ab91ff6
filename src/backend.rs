//! One trait over the GPU kernels and their CPU twins. Models are written
//! once against it.
//!
//! Conventions shared by every op:
//! - layouts follow PyTorch: activations NCHW, conv weight [out, in, kh, kw],
//!   dense weight [out, in], LSTM gates in the order i, f, g, o;
//! - outputs are preallocated by the caller and passed as `&mut`, so a model
//!   allocates its buffers once and a training step allocates nothing;
//! - forward ops overwrite their output; `*_backward_*` ops ACCUMULATE into
//!   their gradient (`+=`), so gradients from several uses add up and the
//!   caller zeroes them with [`Backend::fill_zero`] once per step;
//! - on the GPU, ops are only recorded; [`Backend::read`] submits everything
//!   recorded so far and reads the requested tensors back in one go.

use std::future::Future;

use crate::error::Result;
pub use crate::shapes::{AdamConfig, SeqStep};

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

    // ---- conv2d (3x3, stride 1, valid) --------------------------------

    /// y [n, o, h-2, w-2] = conv(x [n, c, h, w], w [o, c, 3, 3]) + b [o], then relu if asked.
    fn conv2d_forward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
        relu: bool,
    ) -> Result<()>;
    /// dx [n, c, h, w] += full correlation of dy [n, o, h-2, w-2] with w.
    fn conv2d_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    ) -> Result<()>;
    /// dw [o, c, 3, 3] += correlation of x with dy, summed over the batch.
    fn conv2d_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    ) -> Result<()>;
    /// db [o] += dy summed over batch and space.
    fn conv2d_backward_bias(&self, dy: &Self::Tensor, db: &mut Self::Tensor) -> Result<()>;

    // ---- max_pool2d (2x2, stride 2, floor) ----------------------------

    /// y [n, c, h/2, w/2] = window maxima of x; argmax records each one's flat index into x.
    fn max_pool2d_forward(
        &self,
        x: &Self::Tensor,
        y: &mut Self::Tensor,
        argmax: &mut Self::Indices,
    ) -> Result<()>;
    /// dx += dy routed to the recorded argmax positions.
    fn max_pool2d_backward(
        &self,
        dy: &Self::Tensor,
        argmax: &Self::Indices,
        dx: &mut Self::Tensor,
    ) -> Result<()>;

    // ---- dense (tiled matmul) ----------------------------------------

    /// y [n, out] = x [n, ...] (flattened to [n, in]) . w [out, in]^T + b [out], then relu if asked.
    fn dense_forward(
        &self,
        x: &Self::Tensor,
        w: &Self::Tensor,
        b: &Self::Tensor,
        y: &mut Self::Tensor,
        relu: bool,
    ) -> Result<()>;
    /// dx [n, in] += dy [n, out] . w [out, in].
    fn dense_backward_input(
        &self,
        dy: &Self::Tensor,
        w: &Self::Tensor,
        dx: &mut Self::Tensor,
    ) -> Result<()>;
    /// dw [out, in] += dy [n, out]^T . x [n, in].
    fn dense_backward_weight(
        &self,
        x: &Self::Tensor,
        dy: &Self::Tensor,
        dw: &mut Self::Tensor,
    ) -> Result<()>;
    /// db [out] += dy [n, out] summed over rows.
    fn dense_backward_bias(&self, dy: &Self::Tensor, db: &mut Self::Tensor) -> Result<()>;

    // ---- relu -----------------------------------------------------------

    /// y = max(x, 0).
    fn relu_forward(&self, x: &Self::Tensor, y: &mut Self::Tensor) -> Result<()>;
    /// grad *= (y > 0), in place: turns d loss / d y into d loss / d pre-activation.
    /// Done once so the three backward kernels of a fused conv/dense+relu share it.
    fn relu_backward(&self, y: &Self::Tensor, grad: &mut Self::Tensor) -> Result<()>;

    // ---- embedding ------------------------------------------------------

    /// y [n, dim] = table [vocab, dim] rows picked by ids [n]; an id >= vocab gives a zero row.
    fn embedding_forward(
        &self,
        ids: &Self::Indices,
        table: &Self::Tensor,
        y: &mut Self::Tensor,
    ) -> Result<()>;
    /// dtable [vocab, dim] += dy rows added at their ids (no atomics: one thread per table entry).
    fn embedding_backward(
        &self,
        ids: &Self::Indices,
        dy: &Self::Tensor,
        dtable: &mut Self::Tensor,
    ) -> Result<()>;

    // ---- LSTM, one timestep of a time-major sequence ----------------------
    //
    // Sequence tensors are [steps * batch, width] (see `SeqStep`); the input
    // projection xg = x W_ih^T + b_ih of the whole sequence is one
    // `dense_forward`, and so are the weight gradients after the time loop.

    /// Timestep t: z = xg[t] + h_in[t] W_hh^T + b_hh, gates i, f, g, o;
    /// c[t+1] = f * c[t] + i * g; h = o * tanh(c[t+1]) goes to h_out[t] and,
    /// unless t is the last step, to h_in[t+1]. The activated gates go to
    /// gates[t]. xg, gates [T*b, 4h]; h_in, h_out [T*b, h]; c [(T+1)*b, h].
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
    ) -> Result<()>;
    /// Back through the cell of timestep t: dh[t] must hold the whole
    /// d loss / d h_t; dc [b, h] holds d loss / d c[t+1] and is OVERWRITTEN
    /// with d loss / d c[t]; dgates[t] is overwritten.
    fn lstm_step_backward(
        &self,
        at: SeqStep,
        gates: &Self::Tensor,
        c: &Self::Tensor,
        dh: &Self::Tensor,
        dc: &mut Self::Tensor,
        dgates: &mut Self::Tensor,
    ) -> Result<()>;
    /// The recurrence's gradient for t >= 1: dh[t-1] += dgates[t] . W_hh.
    fn lstm_step_backward_hidden(
        &self,
        at: SeqStep,
        dgates: &Self::Tensor,
        w_hh: &Self::Tensor,
        dh: &mut Self::Tensor,
    ) -> Result<()>;

    // ---- gradient-norm clipping and copies ---------------------------------

    /// sums[slot] = sum of x^2 (sums is a vector with one slot per tensor).
    fn sum_squares(&self, x: &Self::Tensor, sums: &mut Self::Tensor, slot: usize) -> Result<()>;
    /// x *= max_norm / norm when norm = sqrt(sum of all sums) exceeds max_norm:
    /// with `sum_squares`, clipping by the global norm without a read-back.
    fn clip_by_norm(&self, sums: &Self::Tensor, max_norm: f32, x: &mut Self::Tensor) -> Result<()>;
    /// dst[dst_offset..][..len] = src[src_offset..][..len], flat indices.
    fn copy_slice(
        &self,
        src: &Self::Tensor,
        src_offset: usize,
        dst: &mut Self::Tensor,
        dst_offset: usize,
        len: usize,
    ) -> Result<()>;

    // ---- softmax + cross-entropy -----------------------------------------

    /// probs [n, classes] = softmax of logits, row by row.
    fn softmax_forward(&self, logits: &Self::Tensor, probs: &mut Self::Tensor) -> Result<()>;
    /// probs as above, and loss [n] = -ln probs[label] per row.
    fn softmax_xent_forward(
        &self,
        logits: &Self::Tensor,
        labels: &Self::Indices,
        probs: &mut Self::Tensor,
        loss: &mut Self::Tensor,
    ) -> Result<()>;
    /// dlogits += scale * (probs - onehot(label)): the fused backward of both.
    fn softmax_xent_backward(
        &self,
        probs: &Self::Tensor,
        labels: &Self::Indices,
        dlogits: &mut Self::Tensor,
        scale: f32,
    ) -> Result<()>;

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
    ) -> Result<()>;
}
