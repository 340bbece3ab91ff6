//! What several test files share.
#![allow(dead_code)]

pub mod gradcheck;
#[cfg(not(target_arch = "wasm32"))]
pub mod server;
