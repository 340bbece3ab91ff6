//! Dense (fully connected) layer with its activation fused.

use rand::Rng;

use super::{
    Param,
    init::{glorot_uniform, uniform},
};
use crate::backend::{Act, Backend};
use crate::error::Result;

/// How a dense layer's weights start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenseInit {
    /// Keras: Glorot-uniform weight, zero bias (the digit networks).
    Glorot,
    /// PyTorch's nn.Linear: weight and bias uniform in +-1/sqrt(fan_in)
    /// (the text networks, so they start where a PyTorch twin does).
    Torch,
}

/// Dense(in -> out); weight [out, in] as PyTorch's nn.Linear, bias [out].
pub struct Dense<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
    pub act: Act,
}

impl<B: Backend> Dense<B> {
    /// Fresh weights; `name` is the state_dict prefix.
    pub fn init(
        be: &B,
        rng: &mut impl Rng,
        name: &str,
        [inp, out]: [usize; 2],
        act: Act,
        how: DenseInit,
    ) -> Result<Self> {
        let (w, b) = match how {
            DenseInit::Glorot => (glorot_uniform(rng, inp, out, out * inp), vec![0.0; out]),
            DenseInit::Torch => {
                let k = 1.0 / (inp as f32).sqrt();
                let w = uniform(rng, k, out * inp);
                (w, uniform(rng, k, out))
            }
        };
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[out, inp], &w)?,
            bias: Param::new(be, format!("{name}.bias"), &[out], &b)?,
            act,
        })
    }

    /// y [n, out] = act(x [n, ...] . weight^T + bias), x flattened per row.
    pub fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor) -> Result<()> {
        be.dense_forward(x, &self.weight.value, &self.bias.value, y, self.act)
    }

    /// Given dy = d loss / d y (turned into the pre-activation's gradient in
    /// place), accumulate the parameter gradients when `params` and, when
    /// asked, dx += d loss / d x.
    pub fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        y: &B::Tensor,
        dy: &mut B::Tensor,
        dx: Option<&mut B::Tensor>,
        params: bool,
    ) -> Result<()> {
        be.activation_backward(self.act, y, dy)?;
        if params {
            be.dense_backward_weight(x, dy, &mut self.weight.grad)?;
            be.dense_backward_bias(dy, &mut self.bias.grad)?;
        }
        if let Some(dx) = dx {
            be.dense_backward_input(dy, &self.weight.value, dx)?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.weight, &mut self.bias]
    }
}
