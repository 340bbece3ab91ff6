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

    /// Elementwise ops over `len` values.
    ElementwiseParams for ["activation"] {
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

    /// copy_slice: dst[dst_offset + i] = src[src_offset + i] for i < len.
    CopyParams for ["copy"] {
        len: u32, src_offset: u32, dst_offset: u32, _pad0: u32,
    }
}
