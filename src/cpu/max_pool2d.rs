//! max_pool2d, 2x2, stride 2, floor, as plain loops: the specification of
//! `shaders/max_pool2d.wgsl`.

use crate::params::PoolParams;

/// y [N, C, OH, OW] = max over each 2x2 window of x [N, C, H, W];
/// argmax [N*C*OH*OW] = flat index into x of that maximum (the first one on ties,
/// scanning the window row by row, as PyTorch does).
pub fn max_pool2d_forward(p: &PoolParams, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let (planes, h, w, oh, ow) = (
        (p.n * p.c) as usize,
        p.h as usize,
        p.w as usize,
        p.oh as usize,
        p.ow as usize,
    );
    for pl in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = pl * h * w + 2 * oy * w + 2 * ox;
                for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                    let i = pl * h * w + (2 * oy + dy) * w + 2 * ox + dx;
                    // `>` keeps the first maximum; NaN never wins, matching the shader.
                    if x[i] > x[best] {
                        best = i;
                    }
                }
                let o = (pl * oh + oy) * ow + ox;
                y[o] = x[best];
                argmax[o] = best as u32;
            }
        }
    }
}

/// dx [N, C, H, W] += dy routed to the argmax of each window. Windows do not
/// overlap, so every dx element receives at most one value.
pub fn max_pool2d_backward(p: &PoolParams, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let len = (p.n * p.c * p.oh * p.ow) as usize;
    for o in 0..len {
        dx[argmax[o] as usize] += dy[o];
    }
}
