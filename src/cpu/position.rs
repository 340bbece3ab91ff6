//! Learned position embeddings as plain loops: the specification of
//! `shaders/position.wgsl`. A Transformer's input is its character
//! embedding plus one learned vector per position (added, not scaled).
//! Sequences are time-major: row t * rows + r is position starts[r] + t of
//! sequence r (a training window starts at 0; a decoding row wherever its
//! text has got to).

use crate::params::PositionParams;

/// y [T*b, D] = x + table[starts[r] + t]; positions past the table add nothing.
pub fn position_forward(
    p: &PositionParams,
    x: &[f32],
    table: &[f32],
    starts: &[u32],
    y: &mut [f32],
) {
    let (b, d) = (p.rows as usize, p.dim as usize);
    for t in 0..p.steps as usize {
        for r in 0..b {
            let at = (t * b + r) * d;
            let pos = starts[r] as usize + t;
            for k in 0..d {
                let add = if pos < p.context as usize {
                    table[pos * d + k]
                } else {
                    0.0
                };
                y[at + k] = x[at + k] + add;
            }
        }
    }
}

/// dtable [context, D] += the rows of dy at each position; the gradient
/// of x is dy itself (`residual_backward`).
pub fn position_backward(p: &PositionParams, dy: &[f32], starts: &[u32], dtable: &mut [f32]) {
    let (b, d) = (p.rows as usize, p.dim as usize);
    for t in 0..p.steps as usize {
        for r in 0..b {
            let pos = starts[r] as usize + t;
            if pos < p.context as usize {
                for k in 0..d {
                    dtable[pos * d + k] += dy[(t * b + r) * d + k];
                }
            }
        }
    }
}
