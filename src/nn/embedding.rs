//! Embedding: one learned row per token id.

use rand::Rng;

use super::{Param, init::standard_normal};
use crate::backend::Backend;
use crate::error::Result;

/// Embedding(vocab, dim); weight [vocab, dim] as PyTorch's nn.Embedding.
pub struct Embedding<B: Backend> {
    pub weight: Param<B>,
}

impl<B: Backend> Embedding<B> {
    /// N(0, 1) rows, PyTorch's default; `name` is the state_dict prefix.
    pub fn init(be: &B, rng: &mut impl Rng, name: &str, vocab: usize, dim: usize) -> Result<Self> {
        let w = standard_normal(rng, vocab * dim);
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[vocab, dim], &w)?,
        })
    }

    /// y [n, dim] = the rows of `ids` (n of them).
    pub fn forward(&self, be: &B, ids: &B::Indices, y: &mut B::Tensor) -> Result<()> {
        be.embedding_forward(ids, &self.weight.value, y)
    }

    /// Accumulates dy's rows into the gradient of the rows they came from.
    pub fn backward(&mut self, be: &B, ids: &B::Indices, dy: &B::Tensor) -> Result<()> {
        be.embedding_backward(ids, dy, &mut self.weight.grad)
    }
}
