//! Adam over the flat parameter buffers of a model: the moments live beside
//! the parameters, on the same backend, and the step is one kernel each.

use crate::backend::{Backend, Tensor};
use crate::error::Result;
use crate::nn::Param;
use crate::params::AdamParams;
use crate::shapes::{self, AdamConfig};

pub struct Adam<B: Backend> {
    pub cfg: AdamConfig,
    /// Steps taken so far; bias correction uses step + 1 on the next one.
    pub step: u32,
    /// (m, v) per parameter, in the order the parameters are given.
    moments: Vec<(B::Tensor, B::Tensor)>,
    /// The parameters' names, in that order.
    names: Vec<String>,
    /// The settings of the last step taken (the learning rate may decay
    /// after it).
    last: Option<AdamConfig>,
}

impl<B: Backend> Adam<B> {
    pub fn new(cfg: AdamConfig) -> Self {
        Self {
            cfg,
            step: 0,
            moments: Vec::new(),
            names: Vec::new(),
            last: None,
        }
    }

    /// One step over `params`; moments are created (as zeros) on first use.
    pub fn update(&mut self, be: &B, params: &mut [&mut Param<B>]) -> Result<()> {
        if self.moments.len() != params.len() {
            self.moments = params
                .iter()
                .map(|p| (be.zeros(p.value.shape()), be.zeros(p.value.shape())))
                .collect();
            self.names = params.iter().map(|p| p.name.clone()).collect();
        }
        self.step += 1;
        self.last = Some(self.cfg);
        for (p, (m, v)) in params.iter_mut().zip(&mut self.moments) {
            be.adam_step(&mut p.value, &p.grad, m, v, self.cfg, self.step)?;
        }
        Ok(())
    }

    /// The moments (m, v) of the parameter named `name`, as the last step
    /// left them; None before the first step or for a parameter it does
    /// not update.
    pub fn moments(&self, name: &str) -> Option<(&B::Tensor, &B::Tensor)> {
        let i = self.names.iter().position(|n| n == name)?;
        self.moments.get(i).map(|(m, v)| (m, v))
    }

    /// What the last step's kernel was given for a parameter of `len`
    /// values: the learning rate, betas, epsilon and bias corrections
    /// 1 - beta^step, from the one function that makes them for the kernel.
    pub fn last_params(&self, len: usize) -> Option<AdamParams> {
        let cfg = self.last?;
        let shape = [len];
        shapes::adam("adam_step", [&shape; 4], cfg, self.step).ok()
    }
}
