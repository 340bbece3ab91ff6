//! Data for the networks, without I/O beyond reading files on native
//! targets: the MNIST IDX reader ([`idx`]), MNIST as a dataset and its
//! batches ([`mnist`]), and the preprocessing that turns a person's drawing
//! into an MNIST image ([`digit`]), shared by the page and the command line.

pub mod corpus;
pub mod digit;
pub mod idx;
pub mod mnist;
