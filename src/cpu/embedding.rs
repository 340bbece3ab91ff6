//! embedding as plain loops: the specification of `shaders/embedding.wgsl`.

use crate::params::EmbeddingParams;

/// y [N, D] = table[ids[n], :]; an id >= vocab gives a row of zeros (the
/// shader cannot raise an error, so both sides agree on this instead).
pub fn embedding_forward(p: &EmbeddingParams, ids: &[u32], table: &[f32], y: &mut [f32]) {
    let d = p.dim as usize;
    for r in 0..p.n as usize {
        let row = &mut y[r * d..(r + 1) * d];
        if ids[r] < p.vocab {
            let t = ids[r] as usize * d;
            row.copy_from_slice(&table[t..t + d]);
        } else {
            row.fill(0.0);
        }
    }
}

/// dtable [V, D] += sum over the n with ids[n] == v of dy[n, :].
pub fn embedding_backward(p: &EmbeddingParams, ids: &[u32], dy: &[f32], dtable: &mut [f32]) {
    let d = p.dim as usize;
    for r in 0..p.n as usize {
        if ids[r] < p.vocab {
            let t = ids[r] as usize * d;
            for k in 0..d {
                dtable[t + k] += dy[r * d + k];
            }
        }
    }
}
