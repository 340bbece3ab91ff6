//! max_pool2d over row slices: the common 2x2 window's forward with the
//! same comparisons as the twin in src/cpu/max_pool2d.rs, without its
//! per-tap index sums and bounds checks (other window sizes run the twin),
//! and the backward of every size.

use crate::params::PoolParams;

/// y [N, C, OH, OW] = 2x2 window maxima of x [N, C, H, W]; argmax the
/// position in its window of each. The taps are compared in the twin's
/// order, (0,0) (0,1) (1,0) (1,1), and `>` keeps the first maximum, so ties
/// and NaN resolve exactly as there.
pub fn max_pool2d_forward_2x2(p: &PoolParams, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let [h, w, oh, ow] = [p.h, p.w, p.oh, p.ow].map(|v| v as usize);
    let out_plane = oh * ow;
    let planes = y
        .chunks_exact_mut(out_plane)
        .zip(argmax.chunks_exact_mut(out_plane));
    for (pl, (yp, ap)) in planes.enumerate() {
        let base = pl * h * w;
        for (oy, (yr, ar)) in yp
            .chunks_exact_mut(ow)
            .zip(ap.chunks_exact_mut(ow))
            .enumerate()
        {
            let top = base + 2 * oy * w;
            let (r0, r1) = (&x[top..top + 2 * ow], &x[top + w..top + w + 2 * ow]);
            let (yr, ar) = (&mut yr[..ow], &mut ar[..ow]);
            for ox in 0..ow {
                let taps = [r0[2 * ox + 1], r1[2 * ox], r1[2 * ox + 1]];
                // Selects rather than branches: the winner is random data.
                let (mut best, mut at) = (r0[2 * ox], 0);
                for (v, k) in taps.into_iter().zip([1, 2, 3]) {
                    let wins = v > best;
                    best = if wins { v } else { best };
                    at = if wins { k } else { at };
                }
                yr[ox] = best;
                ar[ox] = at;
            }
        }
    }
}

/// dx [N, C, H, W] += dy routed to the argmax of each window, as the twin
/// (an argmax past the window counts as its last position), a row of
/// windows at a time: the twin's divisions per element took 40% of a
/// CNN training step on this path.
pub fn max_pool2d_backward(p: &PoolParams, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    let [h, w, oh, ow, s] = [p.h, p.w, p.oh, p.ow, p.size].map(|v| v as usize);
    let taps = s * s;
    if taps == 0 {
        return;
    }
    // Where tap k of a window lies from its top-left corner.
    let offsets: Vec<usize> = (0..taps).map(|k| (k / s) * w + k % s).collect();
    let out_plane = oh * ow;
    let planes = dy
        .chunks_exact(out_plane)
        .zip(argmax.chunks_exact(out_plane))
        .zip(dx.chunks_exact_mut(h * w));
    for ((dyp, ap), dxp) in planes {
        for (oy, (dyr, ar)) in dyp.chunks_exact(ow).zip(ap.chunks_exact(ow)).enumerate() {
            let top = s * oy * w;
            for (ox, (&d, &k)) in dyr.iter().zip(ar).enumerate() {
                dxp[top + s * ox + offsets[(k as usize).min(taps - 1)]] += d;
            }
        }
    }
}
