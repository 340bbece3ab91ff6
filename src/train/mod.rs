//! Training: the optimizer, the loop over a data set, and metrics. No UI and
//! no file I/O here, so the page and the command line share it.

pub mod adam;
pub mod digit_run;
pub mod last_good;
pub mod metrics;
pub mod mnist;
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
