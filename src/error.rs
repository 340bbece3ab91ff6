//! Typed errors. Every message names the op and the shapes involved, so a
//! person who uploads the wrong file or wires a layer wrongly knows where.

use thiserror::Error;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Error)]
pub enum Error {
    /// An op was called with tensors whose shapes do not fit together.
    #[error("{op}: {detail}")]
    Shape { op: &'static str, detail: String },

    /// Host data does not match the tensor it is written to.
    #[error("{op}: {len} values given for a tensor of shape {shape:?} ({expected} values)")]
    DataLength {
        op: &'static str,
        len: usize,
        shape: Vec<usize>,
        expected: usize,
    },

    /// No GPU adapter could be found (no WebGPU, no Vulkan driver).
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),

    /// The adapter was found but refused to give a device.
    #[error("could not open the GPU device: {0}")]
    Device(String),

    /// The GPU device was lost (driver reset, tab in background, unplugged).
    #[error("the GPU device was lost: {0}")]
    DeviceLost(String),

    /// wgpu reported a validation or out-of-memory error for recorded work.
    #[error("GPU error: {0}")]
    Gpu(String),

    /// A data file (IDX images or labels, a text corpus) is unusable.
    #[error("{source_name}: {problem}")]
    Data {
        source_name: String,
        problem: String,
    },

    /// A weights file is unusable as a whole: not safetensors, truncated.
    #[error("weights file: {0}")]
    WeightsFile(String),

    /// One tensor of a weights file is missing or has the wrong shape or dtype.
    #[error("weights file: tensor {tensor}: {problem}")]
    Weights { tensor: String, problem: String },

    /// A network spec that cannot work; `layer` is the position in the
    /// spec's `layers` of the layer at fault, when one is.
    #[error("{message}")]
    Spec {
        layer: Option<usize>,
        message: String,
    },

    /// A drawing with (nearly) no ink: there is nothing to classify.
    #[error("the drawing is empty: draw a digit")]
    EmptyDrawing,

    /// A request the model cannot serve: an empty prompt, a temperature out
    /// of range. `what` names the setting.
    #[error("{what}: {problem}")]
    Input { what: &'static str, problem: String },

    /// A training step's loss was NaN or infinite: the run stopped and the
    /// last good weights (those after step `kept`) were put back.
    #[error(
        "the loss became {loss} at step {step}: training stopped and kept the weights after step {kept}; lower the learning rate"
    )]
    Diverged { step: usize, loss: f32, kept: usize },

    /// Reading or writing a file on disk (command line only).
    #[error("{path}: {problem}")]
    Io { path: String, problem: String },
}

/// Build a [`Error::Shape`] from a format string; used by the shape checks.
macro_rules! shape_err {
    ($op:expr, $($arg:tt)*) => {
        $crate::error::Error::Shape { op: $op, detail: format!($($arg)*) }
    };
}
pub(crate) use shape_err;
