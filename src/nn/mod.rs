//! Networks as data: a spec ([`spec`]), what it means before any buffer
//! exists ([`plan`]), the layers, the network built from a spec
//! ([`network`]), and the two kinds of model the page and the CLI use, an
//! image classifier and a character model. A layer is a config, an `init`,
//! and `forward`/`backward` that record kernels into buffers the caller
//! owns; parameters carry PyTorch's state_dict names.

pub mod char_model;
pub mod classifier;
pub mod conv2d;
pub mod dense;
pub mod edit;
pub mod embedding;
pub mod explain;
pub mod gates;
pub mod init;
pub mod network;
pub mod plan;
pub mod receptive;
pub mod recurrent;
pub mod spec;
pub mod transformer;
pub mod verse;

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
