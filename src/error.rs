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
}

/// Build a [`Error::Shape`] from a format string; used by the shape checks.
macro_rules! shape_err {
    ($op:expr, $($arg:tt)*) => {
        $crate::error::Error::Shape { op: $op, detail: format!($($arg)*) }
    };
}
pub(crate) use shape_err;
