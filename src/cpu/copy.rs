//! A slice copy between tensors: the specification of `shaders/copy.wgsl`.
//! The LSTM carries its last hidden and cell state into the next window
//! with it, without a round trip through the host.

use crate::params::CopyParams;

/// dst[dst_offset + i] = src[src_offset + i] for i < len.
pub fn copy_slice(p: &CopyParams, src: &[f32], dst: &mut [f32]) {
    let (len, s, d) = (p.len as usize, p.src_offset as usize, p.dst_offset as usize);
    dst[d..d + len].copy_from_slice(&src[s..s + len]);
}
