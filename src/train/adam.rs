//! Adam over the flat parameter buffers of a model: the moments live beside
//! the parameters, on the same backend, and the step is one kernel each.

use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::nn::Param;
use crate::shapes::AdamConfig;

pub struct Adam<B: Backend> {
    pub cfg: AdamConfig,
    /// Steps taken so far; bias correction uses step + 1 on the next one.
    pub step: u32,
    /// (m, v) per parameter, in the order the parameters are given.
    moments: Vec<(B::Tensor, B::Tensor)>,
}

impl<B: Backend> Adam<B> {
    pub fn new(cfg: AdamConfig) -> Self {
        Self {
            cfg,
            step: 0,
            moments: Vec::new(),
        }
    }

    /// One step over `params`; moments are created (as zeros) on first use.
    pub fn update(&mut self, be: &B, params: &mut [&mut Param<B>]) -> Result<()> {
        if self.moments.len() != params.len() {
            self.moments = params
                .iter()
                .map(|p| (be.zeros(p.value.shape()), be.zeros(p.value.shape())))
                .collect();
        }
        self.step += 1;
        for (p, (m, v)) in params.iter_mut().zip(&mut self.moments) {
            be.adam_step(&mut p.value, &p.grad, m, v, self.cfg, self.step)?;
        }
        Ok(())
    }
}
