//! Runtime sizes handed to every kernel. Each struct is `#[repr(C)]` and
//! mirrors the WGSL `Params` struct of the shader with the same name; the CPU
//! twins take the very same struct, so both sides read one description.
//! Uniform buffers want 16-byte multiples, hence the explicit padding.

use bytemuck::{Pod, Zeroable};

/// conv2d, 3x3, stride 1, no padding: x [n, c, h, w] -> y [n, o, oh, ow].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct Conv2dParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub o: u32,
    pub oh: u32,
    pub ow: u32,
    /// 1 when relu is fused into the forward pass.
    pub relu: u32,
}

/// max_pool2d, 2x2, stride 2, floor: x [n, c, h, w] -> y [n, c, oh, ow].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct PoolParams {
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub oh: u32,
    pub ow: u32,
    pub _pad: [u32; 2],
}

/// dense: x [n, inp] . w[out, inp]^T + b -> y [n, out].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct DenseParams {
    pub n: u32,
    pub inp: u32,
    pub out: u32,
    /// 1 when relu is fused into the forward pass.
    pub relu: u32,
}

/// Elementwise ops over `len` values.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct ElementwiseParams {
    pub len: u32,
    pub _pad: [u32; 3],
}

/// embedding: ids [n] into table [vocab, dim] -> y [n, dim].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct EmbeddingParams {
    pub n: u32,
    pub vocab: u32,
    pub dim: u32,
    pub _pad: u32,
}

/// One LSTM timestep inside sequences laid out time-major, [steps * batch, ...]:
/// rows t * batch .. (t + 1) * batch are timestep t. Gates are [.., 4 * hidden].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct LstmParams {
    pub batch: u32,
    pub hidden: u32,
    /// The timestep, 0-based.
    pub t: u32,
    /// Timesteps in the sequence tensors.
    pub steps: u32,
}

/// Row-wise softmax (+ cross-entropy) over logits [n, classes].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct SoftmaxParams {
    pub n: u32,
    pub classes: u32,
    /// Factor on the gradient, usually 1 / (number of rows averaged over).
    pub scale: f32,
    pub _pad: u32,
}

/// One Adam step over `len` parameters. The bias corrections
/// `1 - beta^t` are computed on the host in f64 so both sides agree.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct AdamParams {
    pub len: u32,
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
    pub _pad: u32,
}

/// Gradient-norm clipping: `sum_squares` writes the sum of squares of `len`
/// values into slot `slot` of a sums vector; `clip_by_norm` scales `len`
/// values by min(1, max_norm / sqrt(sum of the first `count` slots)).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct NormParams {
    pub len: u32,
    pub slot: u32,
    pub count: u32,
    pub max_norm: f32,
}

/// copy_slice: dst[dst_offset + i] = src[src_offset + i] for i < len.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct CopyParams {
    pub len: u32,
    pub src_offset: u32,
    pub dst_offset: u32,
    pub _pad: u32,
}
