//! Training: the optimizer, the step-by-step runs (the page and the command
//! line drive the same ones), evaluation and metrics. No UI and no file I/O
//! here, so the page and the command line share it.

pub mod adam;
pub mod backprop;
pub mod digit_run;
pub mod last_good;
pub mod metrics;
pub mod mnist;
pub mod own;
pub mod text;
pub mod text_run;

use crate::error::{Error, Result};

/// A count setting within 1..=max, or an error naming it.
pub(crate) fn check_count(what: &'static str, value: usize, max: usize) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::Input {
            what,
            problem: format!("{value}: use 1 to {max}"),
        })
    }
}

/// A learning-rate decay per epoch in (0, 1], or an error saying so.
pub(crate) fn check_decay(decay: f32) -> Result<()> {
    if decay.is_finite() && decay > 0.0 && decay <= 1.0 {
        Ok(())
    } else {
        Err(Error::Input {
            what: "learning-rate decay",
            problem: format!("{decay}: use a factor above 0, at most 1"),
        })
    }
}

/// The 32-bit seed of a run's dropout masks, from its 64-bit seed.
pub(crate) fn mask_seed(seed: u64) -> u32 {
    crate::cpu::dropout::mix(seed as u32 ^ crate::cpu::dropout::mix((seed >> 32) as u32))
}

/// A learning rate in (0, 1], or an error saying so.
pub(crate) fn check_lr(lr: f32) -> Result<()> {
    if lr.is_finite() && lr > 0.0 && lr <= 1.0 {
        Ok(())
    } else {
        Err(Error::Input {
            what: "learning rate",
            problem: format!("{lr}: use a number above 0, at most 1"),
        })
    }
}
