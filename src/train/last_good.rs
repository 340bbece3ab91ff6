//! The weights to fall back on when a step diverges. A non-finite loss at
//! step j means the weights that step started from are already bad (they
//! came out of step j - 1's update), so the last good weights are the ones
//! step j - 1 started from: two copies are kept, alternating, on the device
//! (a copy is one kernel per parameter, no read-back).

use super::adam::Adam;
use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
use crate::nn::Param;

pub struct LastGood<B: Backend> {
    /// Two copies of every parameter; `slots[j % 2]` holds the weights step
    /// j started from.
    slots: [Vec<B::Tensor>; 2],
}

impl<B: Backend> Default for LastGood<B> {
    fn default() -> Self {
        Self {
            slots: [Vec::new(), Vec::new()],
        }
    }
}

impl<B: Backend> LastGood<B> {
    /// Record the weights step `step` (counting from 1) starts from.
    pub fn keep(&mut self, be: &B, params: &[&mut Param<B>], step: usize) -> Result<()> {
        let slot = &mut self.slots[step % 2];
        if slot.len() != params.len() {
            *slot = params.iter().map(|p| be.zeros(p.value.shape())).collect();
        }
        for (p, copy) in params.iter().zip(slot.iter_mut()) {
            be.copy_slice(&p.value, 0, copy, 0, p.value.len())?;
        }
        Ok(())
    }

    /// The weights step `step` started from, in the parameters' order, as
    /// [`Self::keep`] copied them; None before any step was kept.
    pub fn started_from(&self, step: usize) -> Option<&[B::Tensor]> {
        let slot = &self.slots[step % 2];
        (!slot.is_empty()).then_some(slot.as_slice())
    }

    /// Step `step` gave the non-finite `loss`: put back the last good
    /// weights, start `opt` over (its moments came from the bad step), and
    /// return the error that says so.
    pub fn diverged(
        &self,
        be: &B,
        params: &mut [&mut Param<B>],
        step: usize,
        loss: f32,
        opt: &mut Adam<B>,
    ) -> Error {
        match self.restore(be, params, step) {
            Ok(kept) => {
                *opt = Adam::new(opt.cfg);
                Error::Diverged { step, loss, kept }
            }
            Err(e) => e,
        }
    }

    /// Put back the weights step `step - 1` started from (or, for the first
    /// step, the ones it started from itself), and return the number of
    /// steps those weights had seen.
    fn restore(&self, be: &B, params: &mut [&mut Param<B>], step: usize) -> Result<usize> {
        let (slot, seen) = if step >= 2 && !self.slots[(step - 1) % 2].is_empty() {
            (&self.slots[(step - 1) % 2], step - 2)
        } else {
            (&self.slots[step % 2], step.saturating_sub(1))
        };
        for (p, copy) in params.iter_mut().zip(slot) {
            be.copy_slice(copy, 0, &mut p.value, 0, copy.len())?;
        }
        Ok(seen)
    }
}
