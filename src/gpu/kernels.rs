//! The WGSL sources and, for every entry point, the buffers it binds. This
//! table is the contract between `shaders/` and the dispatch code; the test
//! `tests/wgsl_validate.rs` checks it against what naga reads in each shader.

/// One `.wgsl` file: an op family.
#[derive(Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// How an entry point uses a storage buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    ReadWrite,
}

/// One entry point: binding 0 is always the `Params` uniform; `buffers`
/// lists the storage bindings in the order the dispatch passes them.
#[derive(Debug)]
pub struct Kernel {
    pub shader: &'static Shader,
    pub entry: &'static str,
    pub buffers: &'static [(u32, Access)],
    pub workgroup: Workgroup,
}

/// Threads per workgroup of an entry point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Workgroup {
    /// `@workgroup_size(WG)` with `override WG`: the size is set here, at
    /// pipeline creation, and the WGSL default is only a fallback.
    Override(u32),
    /// A size fixed in the shader because its shared-memory tiles depend on it.
    Fixed(u32),
}

impl Workgroup {
    pub fn threads(self) -> u32 {
        match self {
            Workgroup::Override(n) | Workgroup::Fixed(n) => n,
        }
    }
}

macro_rules! shader {
    ($id:ident, $name:literal) => {
        pub static $id: Shader = Shader {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
        };
    };
}

shader!(ACTIVATION, "activation");
shader!(ADAM, "adam");
shader!(ATTENTION, "attention");
shader!(AVG_POOL2D, "avg_pool2d");
shader!(CONV2D, "conv2d");
shader!(COPY, "copy");
shader!(DENSE, "dense");
shader!(DROPOUT, "dropout");
shader!(EMBEDDING, "embedding");
shader!(GRAD_NORM, "grad_norm");
shader!(LAYER_NORM, "layer_norm");
shader!(MAX_POOL2D, "max_pool2d");
shader!(POSITION, "position");
shader!(RECURRENT, "recurrent");
shader!(RESIDUAL, "residual");
shader!(SOFTMAX_XENT, "softmax_xent");

pub static SHADERS: [&Shader; 16] = [
    &ACTIVATION,
    &ADAM,
    &ATTENTION,
    &AVG_POOL2D,
    &CONV2D,
    &COPY,
    &DENSE,
    &DROPOUT,
    &EMBEDDING,
    &GRAD_NORM,
    &LAYER_NORM,
    &MAX_POOL2D,
    &POSITION,
    &RECURRENT,
    &RESIDUAL,
    &SOFTMAX_XENT,
];

use Access::{Read as R, ReadWrite as W};
use Workgroup::{Fixed, Override};

/// Declares each entry point and [`KERNELS`], the list of them all.
macro_rules! kernels {
    ($($id:ident = $shader:ident $entry:literal $wg:expr, [$(($b:literal, $a:ident)),*];)+) => {
        $(pub static $id: Kernel = Kernel { shader: &$shader, entry: $entry, buffers: &[$(($b, $a)),*], workgroup: $wg };)+
        /// Every entry point, for warm-up (compile all pipelines while the
        /// page loads) and for the shader contract test.
        pub static KERNELS: &[&Kernel] = &[$(&$id),+];
    };
}

// Workgroup sizes: 64 for gathers and register-blocked products, 256 for
// streaming elementwise ops; fixed 64 for the conv bias reduction and the
// few-row dense product, 256 for the sum-of-squares tree.
kernels! {
    CONV2D_FORWARD = CONV2D "conv2d_forward" Override(64), [(1, R), (2, R), (3, R), (4, W)];
    CONV2D_BACKWARD_INPUT = CONV2D "conv2d_backward_input" Override(64), [(5, R), (2, R), (6, W)];
    CONV2D_BACKWARD_WEIGHT = CONV2D "conv2d_backward_weight" Override(64), [(1, R), (5, R), (7, W)];
    CONV2D_BACKWARD_BIAS = CONV2D "conv2d_backward_bias" Fixed(64), [(5, R), (8, W)];
    MAX_POOL2D_FORWARD = MAX_POOL2D "max_pool2d_forward" Override(64), [(1, R), (2, W), (3, W)];
    MAX_POOL2D_BACKWARD = MAX_POOL2D "max_pool2d_backward" Override(64), [(4, R), (5, R), (6, W)];
    AVG_POOL2D_FORWARD = AVG_POOL2D "avg_pool2d_forward" Override(64), [(1, R), (2, W)];
    AVG_POOL2D_BACKWARD = AVG_POOL2D "avg_pool2d_backward" Override(64), [(3, R), (4, W)];
    DENSE_FORWARD = DENSE "dense_forward" Override(64), [(1, R), (2, R), (3, R), (4, W)];
    // dense_forward for n <= DENSE_ROWS_MAX; its CPU twin is dense_forward's.
    DENSE_FORWARD_ROWS = DENSE "dense_forward_rows" Fixed(64), [(1, R), (2, R), (3, R), (4, W)];
    DENSE_BACKWARD_INPUT = DENSE "dense_backward_input" Override(64), [(1, R), (2, R), (4, W)];
    DENSE_BACKWARD_WEIGHT = DENSE "dense_backward_weight" Override(64), [(1, R), (2, R), (4, W)];
    DENSE_BACKWARD_BIAS = DENSE "dense_backward_bias" Override(64), [(1, R), (4, W)];
    RELU_FORWARD = ACTIVATION "relu_forward" Override(256), [(1, R), (2, W)];
    RELU_BACKWARD = ACTIVATION "relu_backward" Override(256), [(3, R), (4, W)];
    SIGMOID_FORWARD = ACTIVATION "sigmoid_forward" Override(256), [(1, R), (2, W)];
    SIGMOID_BACKWARD = ACTIVATION "sigmoid_backward" Override(256), [(3, R), (4, W)];
    TANH_FORWARD = ACTIVATION "tanh_forward" Override(256), [(1, R), (2, W)];
    TANH_BACKWARD = ACTIVATION "tanh_backward" Override(256), [(3, R), (4, W)];
    DROPOUT_FORWARD = DROPOUT "dropout_forward" Override(256), [(1, R), (2, W)];
    DROPOUT_BACKWARD = DROPOUT "dropout_backward" Override(256), [(3, R), (4, W)];
    EMBEDDING_FORWARD = EMBEDDING "embedding_forward" Override(64), [(1, R), (2, R), (3, W)];
    EMBEDDING_BACKWARD = EMBEDDING "embedding_backward" Override(64), [(1, R), (4, R), (5, W)];
    RNN_STEP_FORWARD = RECURRENT "rnn_step_forward" Override(64), [(1, R), (2, R), (3, R), (4, W), (5, W)];
    RNN_STEP_BACKWARD = RECURRENT "rnn_step_backward" Override(64), [(16, R), (10, R), (12, W)];
    RNN_STEP_BACKWARD_HIDDEN = RECURRENT "rnn_step_backward_hidden" Override(64), [(13, R), (2, R), (14, W)];
    GRU_STEP_FORWARD = RECURRENT "gru_step_forward" Override(64), [(1, R), (2, R), (3, R), (15, R), (4, W), (5, W), (7, W)];
    GRU_STEP_BACKWARD = RECURRENT "gru_step_backward" Override(64), [(8, R), (15, R), (16, R), (17, W), (18, W), (12, W)];
    GRU_STEP_BACKWARD_HIDDEN = RECURRENT "gru_step_backward_hidden" Override(64), [(13, R), (2, R), (14, W)];
    LSTM_STEP_FORWARD = RECURRENT "lstm_step_forward" Override(64), [(1, R), (2, R), (3, R), (4, W), (5, W), (6, W), (7, W)];
    LSTM_STEP_BACKWARD = RECURRENT "lstm_step_backward" Override(64), [(8, R), (9, R), (10, R), (11, W), (12, W)];
    LSTM_STEP_BACKWARD_HIDDEN = RECURRENT "lstm_step_backward_hidden" Override(64), [(13, R), (2, R), (14, W)];
    SOFTMAX_FORWARD = SOFTMAX_XENT "softmax_forward" Override(64), [(1, R), (2, W)];
    SOFTMAX_XENT_FORWARD = SOFTMAX_XENT "softmax_xent_forward" Override(64), [(1, R), (3, R), (2, W), (4, W)];
    SOFTMAX_XENT_BACKWARD = SOFTMAX_XENT "softmax_xent_backward" Override(64), [(5, R), (3, R), (6, W)];
    ADAM_STEP = ADAM "adam_step" Override(256), [(1, W), (2, R), (3, W), (4, W)];
    SUM_SQUARES = GRAD_NORM "sum_squares" Fixed(256), [(1, R), (2, W)];
    CLIP_BY_NORM = GRAD_NORM "clip_by_norm" Override(256), [(3, R), (4, W)];
    COPY_SLICE = COPY "copy_slice" Override(256), [(1, R), (2, W)];
    GELU_FORWARD = ACTIVATION "gelu_forward" Override(256), [(1, R), (2, W)];
    GELU_BACKWARD = ACTIVATION "gelu_backward" Override(256), [(1, R), (4, W)];
    RESIDUAL_FORWARD = RESIDUAL "residual_forward" Override(256), [(1, R), (2, R), (3, W)];
    RESIDUAL_BACKWARD = RESIDUAL "residual_backward" Override(256), [(4, R), (5, W)];
    LAYER_NORM_FORWARD = LAYER_NORM "layer_norm_forward" Override(64), [(1, R), (2, R), (3, R), (4, W), (5, W)];
    LAYER_NORM_BACKWARD_INPUT = LAYER_NORM "layer_norm_backward_input" Override(64), [(1, R), (2, R), (6, R), (7, R), (8, W)];
    LAYER_NORM_BACKWARD_WEIGHT = LAYER_NORM "layer_norm_backward_weight" Override(64), [(1, R), (6, R), (7, R), (9, W)];
    POSITION_FORWARD = POSITION "position_forward" Override(256), [(1, R), (2, R), (3, R), (4, W)];
    POSITION_BACKWARD = POSITION "position_backward" Override(256), [(5, R), (3, R), (6, W)];
    ATTENTION_SCORES_FORWARD = ATTENTION "attention_scores_forward" Override(64), [(1, R), (2, R), (3, R), (4, W)];
    ATTENTION_VALUES_FORWARD = ATTENTION "attention_values_forward" Override(64), [(5, R), (2, R), (3, R), (6, W)];
    ATTENTION_BACKWARD_SCORES = ATTENTION "attention_backward_scores" Override(64), [(5, R), (1, R), (3, R), (7, R), (8, W)];
    ATTENTION_BACKWARD_QUERY = ATTENTION "attention_backward_query" Override(64), [(9, R), (1, R), (3, R), (10, W)];
    ATTENTION_BACKWARD_KEY = ATTENTION "attention_backward_key" Override(64), [(9, R), (1, R), (3, R), (10, W)];
    ATTENTION_BACKWARD_VALUE = ATTENTION "attention_backward_value" Override(64), [(5, R), (7, R), (3, R), (10, W)];
    ATTENTION_CACHE_WRITE = ATTENTION "attention_cache_write" Override(64), [(1, R), (3, R), (11, W)];
}
