//! Dense (fully connected) layer, relu optional.

use rand::Rng;

use super::{Param, init::glorot_uniform};
use crate::backend::Backend;
use crate::error::Result;

/// Dense(in -> out); weight [out, in] as PyTorch's nn.Linear, bias [out].
pub struct Dense<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
    pub relu: bool,
}

impl<B: Backend> Dense<B> {
    /// Glorot-uniform weight, zero bias; `name` is the state_dict prefix.
    pub fn init(
        be: &B,
        rng: &mut impl Rng,
        name: &str,
        inp: usize,
        out: usize,
        relu: bool,
    ) -> Result<Self> {
        let w = glorot_uniform(rng, inp, out, out * inp);
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[out, inp], &w)?,
            bias: Param::new(be, format!("{name}.bias"), &[out], &vec![0.0; out])?,
            relu,
        })
    }

    /// y [n, out] = x [n, ...] . weight^T + bias (x flattened per row), relu if set.
    pub fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor) -> Result<()> {
        be.dense_forward(x, &self.weight.value, &self.bias.value, y, self.relu)
    }

    /// Given dy = d loss / d y (masked by relu in place when set), accumulate
    /// the parameter gradients and, when asked, dx += d loss / d x.
    pub fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        y: &B::Tensor,
        dy: &mut B::Tensor,
        dx: Option<&mut B::Tensor>,
    ) -> Result<()> {
        if self.relu {
            be.relu_backward(y, dy)?;
        }
        be.dense_backward_weight(x, dy, &mut self.weight.grad)?;
        be.dense_backward_bias(dy, &mut self.bias.grad)?;
        if let Some(dx) = dx {
            be.dense_backward_input(dy, &self.weight.value, dx)?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.weight, &mut self.bias]
    }
}
