//! neuralpad: a digit classifier and a character language model whose every
//! multiply-add runs in WGSL compute shaders through wgpu, with a plain-Rust
//! twin of each kernel as the test oracle and the fallback.

pub mod api;
pub mod backend;
pub mod cpu;
pub mod data;
pub mod error;
pub mod gpu;
pub mod lessons;
pub mod link;
pub mod nn;
pub mod params;
pub mod selftest;
pub mod shapes;
pub mod train;
pub mod weights;

#[cfg(not(target_arch = "wasm32"))]
pub mod bench;
#[cfg(not(target_arch = "wasm32"))]
pub mod device;
#[cfg(not(target_arch = "wasm32"))]
pub mod serve;

#[cfg(target_arch = "wasm32")]
pub mod app;

pub use backend::{Backend, Indices, Tensor};
pub use cpu::CpuBackend;
pub use cpu::fast::FastCpuBackend;
pub use error::{Error, Result};
pub use gpu::GpuBackend;
