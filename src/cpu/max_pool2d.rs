//! max_pool2d, size x size windows at stride size, rounding down, as plain
//! loops: the specification of `shaders/max_pool2d.wgsl`.

use crate::params::PoolParams;

/// y [N, C, OH, OW] = max over each window of x [N, C, H, W]; argmax
/// [N*C*OH*OW] = where in its window that maximum was, ky * size + kx (the
/// first one on ties, scanning row by row, as PyTorch does). A window-local
/// index cannot point outside x, whatever is written into argmax.
pub fn max_pool2d_forward(p: &PoolParams, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let [planes, h, w, oh, ow, s] = dims(p);
    for pl in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let at = |k: usize| pl * h * w + (s * oy + k / s) * w + s * ox + k % s;
                let mut best = 0;
                for k in 1..s * s {
                    // `>` keeps the first maximum; NaN never wins, matching the shader.
                    if x[at(k)] > x[at(best)] {
                        best = k;
                    }
                }
                let o = (pl * oh + oy) * ow + ox;
                y[o] = x[at(best)];
                argmax[o] = best as u32;
            }
        }
    }
}

/// dx [N, C, H, W] += dy routed to the argmax of each window (an argmax past
/// the window counts as its last position). Windows do not overlap, so every
/// dx element receives at most one value.
pub fn max_pool2d_backward(p: &PoolParams, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let [planes, h, w, oh, ow, s] = dims(p);
    for o in 0..planes * oh * ow {
        let (pl, oy, ox) = (o / (oh * ow), (o / ow) % oh, o % ow);
        let k = (argmax[o] as usize).min(s * s - 1);
        dx[pl * h * w + (s * oy + k / s) * w + s * ox + k % s] += dy[o];
    }
}

/// (planes = n * c, h, w, oh, ow, size) as usize.
pub(crate) fn dims(p: &PoolParams) -> [usize; 6] {
    [p.n * p.c, p.h, p.w, p.oh, p.ow, p.size].map(|v| v as usize)
}
