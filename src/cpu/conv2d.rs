//! conv2d, 3x3, stride 1, no padding, as plain loops: the specification that
//! `shaders/conv2d.wgsl` is tested against.

use crate::params::Conv2dParams;

const K: usize = 3;

/// y [N, O, OH, OW] = sum_c sum_ky sum_kx x[n, c, oy+ky, ox+kx] * w[o, c, ky, kx] + b[o],
/// then max(., 0) when `p.relu` is set.
pub fn conv2d_forward(p: &Conv2dParams, x: &[f32], w: &[f32], b: &[f32], y: &mut [f32]) {
    let (n, c, h, wd, o, oh, ow) = dims(p);
    for ni in 0..n {
        for oi in 0..o {
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b[oi];
                    for ci in 0..c {
                        for ky in 0..K {
                            for kx in 0..K {
                                acc += x[((ni * c + ci) * h + oy + ky) * wd + ox + kx]
                                    * w[((oi * c + ci) * K + ky) * K + kx];
                            }
                        }
                    }
                    if p.relu != 0 {
                        acc = acc.max(0.0);
                    }
                    y[((ni * o + oi) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
}

/// dx [N, C, H, W] += sum_o sum_ky sum_kx dy[n, o, y-ky, x-kx] * w[o, c, ky, kx]
/// over the (y-ky, x-kx) that fall inside dy.
pub fn conv2d_backward_input(p: &Conv2dParams, dy: &[f32], w: &[f32], dx: &mut [f32]) {
    let (n, c, h, wd, o, oh, ow) = dims(p);
    for ni in 0..n {
        for ci in 0..c {
            for iy in 0..h {
                for ix in 0..wd {
                    let mut acc = 0.0;
                    for oi in 0..o {
                        for ky in 0..K {
                            for kx in 0..K {
                                let (Some(oy), Some(ox)) = (iy.checked_sub(ky), ix.checked_sub(kx))
                                else {
                                    continue;
                                };
                                if oy < oh && ox < ow {
                                    acc += dy[((ni * o + oi) * oh + oy) * ow + ox]
                                        * w[((oi * c + ci) * K + ky) * K + kx];
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

/// dw [O, C, 3, 3] += sum_n sum_oy sum_ox dy[n, o, oy, ox] * x[n, c, oy+ky, ox+kx].
pub fn conv2d_backward_weight(p: &Conv2dParams, x: &[f32], dy: &[f32], dw: &mut [f32]) {
    let (n, c, h, wd, o, oh, ow) = dims(p);
    for oi in 0..o {
        for ci in 0..c {
            for ky in 0..K {
                for kx in 0..K {
                    let mut acc = 0.0;
                    for ni in 0..n {
                        for oy in 0..oh {
                            for ox in 0..ow {
                                acc += dy[((ni * o + oi) * oh + oy) * ow + ox]
                                    * x[((ni * c + ci) * h + oy + ky) * wd + ox + kx];
                            }
                        }
                    }
                    dw[((oi * c + ci) * K + ky) * K + kx] += acc;
                }
            }
        }
    }
}

/// db [O] += sum_n sum_oy sum_ox dy[n, o, oy, ox].
pub fn conv2d_backward_bias(p: &Conv2dParams, dy: &[f32], db: &mut [f32]) {
    let (n, _, _, _, o, oh, ow) = dims(p);
    for (oi, d) in db.iter_mut().enumerate().take(o) {
        let mut acc = 0.0;
        for ni in 0..n {
            let plane = (ni * o + oi) * oh * ow;
            acc += dy[plane..plane + oh * ow].iter().sum::<f32>();
        }
        *d += acc;
    }
}

fn dims(p: &Conv2dParams) -> (usize, usize, usize, usize, usize, usize, usize) {
    (
        p.n as usize,
        p.c as usize,
        p.h as usize,
        p.w as usize,
        p.o as usize,
        p.oh as usize,
        p.ow as usize,
    )
}
