//! conv2d, k x k, stride 1, no padding, as plain loops: the specification
//! that `shaders/conv2d.wgsl` is tested against.

use super::activation::activate;
use crate::params::Conv2dParams;

/// y [N, O, OH, OW] = act(sum_c sum_ky sum_kx x[n, c, oy+ky, ox+kx] * w[o, c, ky, kx] + b[o]),
/// act being `p.act` (linear, relu, sigmoid or tanh).
pub fn conv2d_forward(p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let [n, c, h, wd, o, oh, ow, k] = dims(p);
    for ni in 0..n {
        for oi in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[oi];
                    for ci in 0..c {
                        for ky in 0..k {
                            for kx in 0..k {
                                acc += x[((ni * c + ci) * h + oy + ky) * wd + ox + kx]
                                    * w[((oi * c + ci) * k + ky) * k + kx];
                            }
                        }
                    }
                    y[((ni * o + oi) * oh + oy) * ow + ox] = activate(p.act, acc);
                }
            }
        }
    }
}

/// dx [N, C, H, W] += sum_o sum_ky sum_kx dy[n, o, y-ky, x-kx] * w[o, c, ky, kx]
/// over the (y-ky, x-kx) that fall inside dy.
pub fn conv2d_backward_input(p: &Conv2dParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let [n, c, h, wd, o, oh, ow, k] = dims(p);
    for ni in 0..n {
        for ci in 0..c {
            for iy in 0..h {
                for ix in 0..wd {
                    let mut acc = 0.0;
                    for oi in 0..o {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (Some(oy), Some(ox)) = (iy.checked_sub(ky), ix.checked_sub(kx))
                                else {
                                    continue;
                                };
                                if oy < oh && ox < ow {
                                    acc += dy[((ni * o + oi) * oh + oy) * ow + ox]
                                        * w[((oi * c + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                    }
                    dx[((ni * c + ci) * h + iy) * wd + ix] += acc;
                }
            }
        }
    }
}

/// dw [O, C, k, k] += sum_n sum_oy sum_ox dy[n, o, oy, ox] * x[n, c, oy+ky, ox+kx].
pub fn conv2d_backward_weight(p: &Conv2dParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let [n, c, h, wd, o, oh, ow, k] = dims(p);
    for oi in 0..o {
        for ci in 0..c {
            for ky in 0..k {
                for kx in 0..k {
                    let mut acc = 0.0;
                    for ni in 0..n {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                acc += dy[((ni * o + oi) * oh + oy) * ow + ox]
                                    * x[((ni * c + ci) * h + oy + ky) * wd + ox + kx];
                            }
                        }
                    }
                    dw[((oi * c + ci) * k + ky) * k + kx] += acc;
                }
            }
        }
    }
}

/// db [O] += sum_n sum_oy sum_ox dy[n, o, oy, ox].
pub fn conv2d_backward_bias(p: &Conv2dParams, dy: &[f32], db: &mut [f32]) {
    let [n, _, _, _, o, oh, ow, _] = dims(p);
    for (oi, d) in db.iter_mut().enumerate().take(o) {
        let mut acc = 0.0;
        for ni in 0..n {
            let plane = (ni * o + oi) * oh * ow;
            acc += dy[plane..plane + oh * ow].iter().sum::<f32>();
        }
        *d += acc;
    }
}

/// (n, c, h, w, o, oh, ow, k) as usize.
fn dims(p: &Conv2dParams) -> [usize; 8] {
    [p.n, p.c, p.h, p.w, p.o, p.oh, p.ow, p.k].map(|v| v as usize)
}
