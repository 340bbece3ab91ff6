//! avg_pool2d, size x size windows at stride size, rounding down, as plain
//! loops: the specification of `shaders/avg_pool2d.wgsl`.

use super::max_pool2d::dims;
use crate::params::PoolParams;

/// y [N, C, OH, OW] = the mean of each window of x [N, C, H, W].
pub fn avg_pool2d_forward(p: &PoolParams, x: &[f32], y: &mut [f32]) {
    let [planes, h, w, oh, ow, s] = dims(p);
    let inv = 1.0 / (s * s) as f32;
    for pl in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut acc = 0.0;
                for ky in 0..s {
                    for kx in 0..s {
                        acc += x[pl * h * w + (s * oy + ky) * w + s * ox + kx];
                    }
                }
                y[(pl * oh + oy) * ow + ox] = acc * inv;
            }
        }
    }
}

/// dx [N, C, H, W] += dy / size^2 at every position of its window; rows and
/// columns past the last whole window get nothing.
pub fn avg_pool2d_backward(p: &PoolParams, dy: &[f32], dx: &mut [f32]) {
    let [planes, h, w, oh, ow, s] = dims(p);
    let inv = 1.0 / (s * s) as f32;
    for pl in 0..planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let g = dy[(pl * oh + oy) * ow + ox] * inv;
                for ky in 0..s {
                    for kx in 0..s {
                        dx[pl * h * w + (s * oy + ky) * w + s * ox + kx] += g;
                    }
                }
            }
        }
    }
}
