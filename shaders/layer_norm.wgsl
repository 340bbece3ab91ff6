// Layer normalisation over the last dimension, as PyTorch's nn.LayerNorm:
// y = (x - mean) / sqrt(var + eps) * gamma + beta, the variance biased.
// CPU twin: src/cpu/layer_norm.rs. Backward entry points accumulate (+=);
// beta's gradient is a column sum of dy (dense_backward_bias).
//
// bindings: 0 params
//   forward:         1 x, 2 gamma, 3 beta, 4 y, 5 stats (written: mean, 1 / std per row)
//   backward_input:  1 x, 2 gamma, 6 stats, 7 dy, 8 dx
//   backward_weight: 1 x, 6 stats, 7 dy, 9 dgamma

struct Params {
    n: u32, dim: u32, eps: f32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats_out: array<f32>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
@group(0) @binding(7) var<storage, read> dy: array<f32>;
@group(0) @binding(8) var<storage, read_write> dx: array<f32>;
@group(0) @binding(9) var<storage, read_write> dgamma: array<f32>;

override WG: u32 = 64u;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

// One thread per row: the mean, then the variance around it (two passes
// over the row, as the twin: one pass of sum and sum of squares loses
// digits when the mean is large), then the row.
@compute @workgroup_size(WG)
fn layer_norm_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let r = index(gid, nwg);
    if (r >= p.n) {
        return;
    }
    let at = r * p.dim;
    var sum = 0.0;
    for (var k = 0u; k < p.dim; k++) {
        sum += x[at + k];
    }
    let mean = sum / f32(p.dim);
    var sq = 0.0;
    for (var k = 0u; k < p.dim; k++) {
        let d = x[at + k] - mean;
        sq += d * d;
    }
    let rstd = inverseSqrt(sq / f32(p.dim) + p.eps);
    for (var k = 0u; k < p.dim; k++) {
        y[at + k] = (x[at + k] - mean) * rstd * gamma[k] + beta[k];
    }
    stats_out[2u * r] = mean;
    stats_out[2u * r + 1u] = rstd;
}

// One thread per row: dx += rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma.
@compute @workgroup_size(WG)
fn layer_norm_backward_input(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let r = index(gid, nwg);
    if (r >= p.n) {
        return;
    }
    let at = r * p.dim;
    let mean = stats[2u * r];
    let rstd = stats[2u * r + 1u];
    var sum_g = 0.0;
    var sum_gx = 0.0;
    for (var k = 0u; k < p.dim; k++) {
        let g = dy[at + k] * gamma[k];
        sum_g += g;
        sum_gx += g * (x[at + k] - mean) * rstd;
    }
    let mg = sum_g / f32(p.dim);
    let mgx = sum_gx / f32(p.dim);
    for (var k = 0u; k < p.dim; k++) {
        let g = dy[at + k] * gamma[k];
        let xhat = (x[at + k] - mean) * rstd;
        dx[at + k] += rstd * (g - mg - xhat * mgx);
    }
}

// One thread per column: dgamma += sum over rows of dy * xhat.
@compute @workgroup_size(WG)
fn layer_norm_backward_weight(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let k = index(gid, nwg);
    if (k >= p.dim) {
        return;
    }
    var acc = 0.0;
    for (var r = 0u; r < p.n; r++) {
        acc += dy[r * p.dim + k] * (x[r * p.dim + k] - stats[2u * r]) * stats[2u * r + 1u];
    }
    dgamma[k] += acc;
}
