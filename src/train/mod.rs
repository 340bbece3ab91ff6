//! Training: the optimizer, the loop over a data set, and metrics. No UI and
//! no file I/O here, so the page and the command line share it.

pub mod adam;
pub mod digit_run;
pub mod last_good;
pub mod metrics;
pub mod mnist;
pub mod text;
pub mod text_run;
