//! Data for the networks, without I/O beyond reading files on native
//! targets: the MNIST IDX reader ([`idx`]), MNIST as a dataset and its
//! batches ([`mnist`]), and the preprocessing that turns a person's drawing
//! ([`digit`]) or a picture file ([`picture`]) into an MNIST image, shared by
//! the page, the command line and the HTTP service; a person's own classes
//! and their drawings ([`own`]).

pub mod corpus;
pub mod digit;
pub mod idx;
pub mod mnist;
pub mod own;
pub mod picture;
