//! Runtime sizes handed to every kernel. Each struct is `#[repr(C)]` and
//! mirrors the WGSL `Params` struct of the shader(s) named beside it; the
//! CPU twins take the very same struct, so both sides read one description.
//! Uniform buffers want 16-byte multiples, hence the explicit padding.
//!
//! [`params!`] writes each struct and its [`Layout`] (field names and types
//! in order) from one list, and `tests/wgsl_validate.rs` reads every
//! shader's `Params` with naga and checks it against that layout, so a
//! field added on one side only fails a test.

use bytemuck::{Pod, Zeroable};

/// A `Params` struct as both sides must see it.
pub struct Layout {
    pub name: &'static str,
    /// (field, "u32" or "f32"), in memory order.
    pub fields: &'static [(&'static str, &'static str)],
    /// The shaders (file stems) whose `Params` is this struct.
    pub shaders: &'static [&'static str],
    pub size: usize,
}

macro_rules! params {
    ($(
        $(#[$doc:meta])*
        $name:ident for [$($shader:literal),+] {
            $( $(#[$fdoc:meta])* $field:ident : $ty:ident ),+ $(,)?
        }
    )+) => {
        $(
            $(#[$doc])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
            pub struct $name {
                $( $(#[$fdoc])* pub $field: $ty ),+
            }
        )+
        /// Every `Params` struct, for the shader contract test.
        pub static LAYOUTS: &[Layout] = &[$(
            Layout {
                name: stringify!($name),
                fields: &[$((stringify!($field), stringify!($ty))),+],
                shaders: &[$($shader),+],
                size: size_of::<$name>(),
            }
        ),+];
    };
}

params! {
    /// conv2d, k x k, stride 1, no padding: x [n, c, h, w] -> y [n, o, oh, ow].
    Conv2dParams for ["conv2d"] {
        n: u32, c: u32, h: u32, w: u32,
        o: u32, oh: u32, ow: u32,
        /// The kernel's side.
        k: u32,
        /// The activation fused into the forward pass (`shapes::Act::code`).
        act: u32,
        _pad0: u32, _pad1: u32, _pad2: u32,
    }

    /// max_pool2d and avg_pool2d: size x size windows at stride size, rounding
    /// down: x [n, c, h, w] -> y [n, c, oh, ow].
    PoolParams for ["max_pool2d", "avg_pool2d"] {
        n: u32, c: u32, h: u32, w: u32,
        oh: u32, ow: u32,
        /// The window's side, which is also the stride.
        size: u32,
        _pad0: u32,
    }

    /// dense: x [n, inp] . w[out, inp]^T + b -> y [n, out].
    DenseParams for ["dense"] {
        n: u32, inp: u32, out: u32,
        /// The activation fused into the forward pass (`shapes::Act::code`).
        act: u32,
    }

    /// Elementwise ops over `len` values (activations, GELU, residual adds).
    ElementwiseParams for ["activation", "residual"] {
        len: u32, _pad0: u32, _pad1: u32, _pad2: u32,
    }

    /// Inverted dropout over `len` values. Element e keeps its value times
    /// `scale` = 1 / (1 - rate) when the counter-based hash of (seed, step,
    /// e % period) falls at or above `rate`, and becomes 0 otherwise. A
    /// `period` below `len` repeats one mask: a sequence's, at every step.
    DropoutParams for ["dropout"] {
        len: u32, period: u32, seed: u32, step: u32,
        rate: f32, scale: f32,
        _pad0: u32, _pad1: u32,
    }

    /// embedding: ids [n] into table [vocab, dim] -> y [n, dim].
    EmbeddingParams for ["embedding"] {
        n: u32, vocab: u32, dim: u32, _pad0: u32,
    }

    /// One timestep of a recurrent cell (RNN, GRU, LSTM) inside sequences
    /// laid out time-major, [steps * batch, ...]: rows t * batch .. (t + 1)
    /// * batch are timestep t. Recurrent dropout masks h_(t-1) where it
    /// feeds the recurrent product, with the mask of (seed, step,
    /// row * hidden + unit): one mask per sequence, reused at every timestep.
    RecurrentParams for ["recurrent"] {
        batch: u32, hidden: u32,
        /// The timestep, 0-based.
        t: u32,
        /// Timesteps in the sequence tensors.
        steps: u32,
        /// The recurrent dropout mask's key and rate (rate 0: no dropout).
        seed: u32, step: u32, rate: f32, scale: f32,
    }

    /// Row-wise softmax (+ cross-entropy) over logits [n, classes].
    SoftmaxParams for ["softmax_xent"] {
        n: u32, classes: u32,
        /// Factor on the gradient, usually 1 / (number of rows averaged over).
        scale: f32,
        _pad0: u32,
    }

    /// One Adam step over `len` parameters. The bias corrections
    /// `1 - beta^t` are computed on the host in f64 so both sides agree.
    AdamParams for ["adam"] {
        len: u32, lr: f32, beta1: f32, beta2: f32, eps: f32,
        bias_correction1: f32, bias_correction2: f32, _pad0: u32,
    }

    /// Gradient-norm clipping: `sum_squares` writes the sum of squares of
    /// `len` values into slot `slot` of a sums vector; `clip_by_norm` scales
    /// `len` values by min(1, max_norm / sqrt(sum of the first `count` slots)).
    NormParams for ["grad_norm"] {
        len: u32, slot: u32, count: u32, max_norm: f32,
    }

    /// Layer normalisation over the last dimension, as PyTorch's
    /// nn.LayerNorm(dim, eps): x [n, dim] -> y [n, dim], with each row's
    /// mean and 1 / sqrt(var + eps) (biased variance) kept in stats [n, 2].
    LayerNormParams for ["layer_norm"] {
        n: u32, dim: u32, eps: f32, _pad0: u32,
    }

    /// Causal softmax attention per head over sequences laid out time-major
    /// (query t of sequence r is row t * rows + r of qkv [q_steps * rows,
    /// 3 * dim], its q in columns 0..dim, head h's in h * head_dim..). Keys
    /// and values come from kv, 3 * dim wide like qkv (k in columns dim..2
    /// dim, v in 2 dim..3 dim): key s of sequence r is row s *
    /// k_step_stride + r * k_row_stride, so one kernel reads a training
    /// window (kv = qkv: strides rows, 1) and a decoding cache ([rows *
    /// k_steps, 3 dim], row-major by sequence: strides 1, k_steps). Query t
    /// of sequence r sits at position starts[r] + t and sees the keys
    /// 0..=that position (capped at k_steps - 1). Weights are [rows, heads,
    /// q_steps, k_steps].
    AttentionParams for ["attention"] {
        rows: u32, q_steps: u32, k_steps: u32, heads: u32,
        head_dim: u32, k_step_stride: u32, k_row_stride: u32,
        /// 1 / sqrt(head_dim), computed on the host.
        scale: f32,
    }

    /// Learned positions added to a time-major sequence x [steps * rows,
    /// dim]: row t * rows + r gets table row starts[r] + t of table
    /// [context, dim] (none past the table).
    PositionParams for ["position"] {
        rows: u32, steps: u32, dim: u32, context: u32,
    }

    /// copy_slice: dst[dst_offset + i] = src[src_offset + i] for i < len.
    CopyParams for ["copy"] {
        len: u32, src_offset: u32, dst_offset: u32, _pad0: u32,
    }
}
