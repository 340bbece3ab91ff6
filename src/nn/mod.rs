//! Layers and the two networks, written once against [`Backend`]. A layer is
//! a config, an `init`, and `forward`/`backward` that record kernels into
//! buffers the caller owns; parameters carry PyTorch's state_dict names.

pub mod char_lstm;
pub mod conv2d;
pub mod dense;
pub mod embedding;
pub mod init;
pub mod lstm;
pub mod mnist_cnn;

use crate::backend::Backend;

/// A trainable tensor, its gradient, and its PyTorch name ("conv1.weight").
pub struct Param<B: Backend> {
    pub name: String,
    pub value: B::Tensor,
    pub grad: B::Tensor,
}

impl<B: Backend> Param<B> {
    /// A parameter holding `data`, with a zero gradient of the same shape.
    pub fn new(
        be: &B,
        name: impl Into<String>,
        shape: &[usize],
        data: &[f32],
    ) -> crate::Result<Self> {
        Ok(Self {
            name: name.into(),
            value: be.tensor(shape, data)?,
            grad: be.zeros(shape),
        })
    }
}
