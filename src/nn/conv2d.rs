//! Conv2d layer: 3x3, stride 1, no padding, with relu fused.

use rand::Rng;

use super::{Param, init::glorot_uniform};
use crate::backend::Backend;
use crate::error::Result;

/// Conv2d(in -> out, 3x3) + relu; weight [out, in, 3, 3], bias [out].
pub struct Conv2d<B: Backend> {
    pub weight: Param<B>,
    pub bias: Param<B>,
}

impl<B: Backend> Conv2d<B> {
    /// Glorot-uniform weight, zero bias; `name` is the state_dict prefix.
    pub fn init(be: &B, rng: &mut impl Rng, name: &str, inp: usize, out: usize) -> Result<Self> {
        let w = glorot_uniform(rng, inp * 9, out * 9, out * inp * 9);
        Ok(Self {
            weight: Param::new(be, format!("{name}.weight"), &[out, inp, 3, 3], &w)?,
            bias: Param::new(be, format!("{name}.bias"), &[out], &vec![0.0; out])?,
        })
    }

    /// y [n, out, h-2, w-2] = relu(conv(x [n, in, h, w])).
    pub fn forward(&self, be: &B, x: &B::Tensor, y: &mut B::Tensor) -> Result<()> {
        be.conv2d_forward(x, &self.weight.value, &self.bias.value, y, true)
    }

    /// Given dy = d loss / d y (masked by relu in place), accumulate the
    /// parameter gradients and, when asked, dx += d loss / d x.
    pub fn backward(
        &mut self,
        be: &B,
        x: &B::Tensor,
        y: &B::Tensor,
        dy: &mut B::Tensor,
        dx: Option<&mut B::Tensor>,
    ) -> Result<()> {
        be.relu_backward(y, dy)?;
        be.conv2d_backward_weight(x, dy, &mut self.weight.grad)?;
        be.conv2d_backward_bias(dy, &mut self.bias.grad)?;
        if let Some(dx) = dx {
            be.conv2d_backward_input(dy, &self.weight.value, dx)?;
        }
        Ok(())
    }

    pub fn params_mut(&mut self) -> [&mut Param<B>; 2] {
        [&mut self.weight, &mut self.bias]
    }
}
