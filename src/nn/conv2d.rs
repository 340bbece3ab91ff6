//! Conv2d layer: k x k, stride 1, no padding, with its activation fused.

use rand::Rng;

use super::{Param, init::glorot_uniform};
use crate::backend::{Act, Backend};
use crate::error::Result;

/// Conv2d(in -> out, k x k) + activation; weight [out, in, k, k], bias [out].
pub struct Conv2d<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
    pub act: Act,
}

impl<B: Backend> Conv2d<B> {
    /// Glorot-uniform weight, zero bias (Keras's defaults); `name` is the
    /// state_dict prefix.
    pub fn init(
        be: &B,
        rng: &mut impl Rng,
        name: &str,
        [out, inp, k]: [usize; 3],
        act: Act,
    ) -> Result<Self> {
        let w = glorot_uniform(rng, inp * k * k, out * k * k, out * inp * k * k);
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[out, inp, k, k], &w)?,
            bias: Param::new(be, format!("{name}.bias"), &[out], &vec![0.0; out])?,
            act,
        })
    }

    /// y [n, out, h-k+1, w-k+1] = act(conv(x [n, in, h, w])).
    pub fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor) -> Result<()> {
        be.conv2d_forward(x, &self.weight.value, &self.bias.value, y, self.act)
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
            be.conv2d_backward_weight(x, dy, &mut self.weight.grad)?;
            be.conv2d_backward_bias(dy, &mut self.bias.grad)?;
        }
        if let Some(dx) = dx {
            be.conv2d_backward_input(dy, &self.weight.value, dx)?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.weight, &mut self.bias]
    }
}
