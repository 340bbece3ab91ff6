// One LSTM timestep t inside time-major sequences [steps * batch, width],
// PyTorch gate order i, f, g, o. The input projection xg = x W_ih^T + b_ih of
// the whole sequence is one dense_forward before the time loop; here only the
// recurrence, which must go step by step. CPU twin: src/cpu/lstm.rs.
//
// bindings: 0 params
//   forward:         1 xg, 2 w_hh, 3 b_hh, 4 h_in, 5 h_out, 6 c, 7 gates
//   backward:        8 gates_in, 9 c_in, 10 dh, 11 dc, 12 dgates
//   backward_hidden: 13 dgates_in, 2 w_hh, 14 dh_acc

struct Params {
    batch: u32, hidden: u32, t: u32, steps: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> w_hh: array<f32>;
@group(0) @binding(3) var<storage, read> b_hh: array<f32>;
@group(0) @binding(4) var<storage, read_write> h_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> h_out: array<f32>;
@group(0) @binding(6) var<storage, read_write> c: array<f32>;
@group(0) @binding(7) var<storage, read_write> gates: array<f32>;
@group(0) @binding(8) var<storage, read> gates_in: array<f32>;
@group(0) @binding(9) var<storage, read> c_in: array<f32>;
@group(0) @binding(10) var<storage, read> dh: array<f32>;
@group(0) @binding(11) var<storage, read_write> dc: array<f32>;
@group(0) @binding(12) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(13) var<storage, read> dgates_in: array<f32>;
@group(0) @binding(14) var<storage, read_write> dh_acc: array<f32>;

// The matmul kernels stage one row chunk of 64 values in workgroup memory.
const CHUNK: u32 = 64u;
var<workgroup> row_chunk: array<f32, 64>;

override WG: u32 = 64u;

fn sigmoid(v: f32) -> f32 {
    return 1.0 / (1.0 + exp(-v));
}

// tanh through exp(-2|v|), which stays finite: some drivers' built-in tanh
// returns NaN for large |v| instead of +-1.
fn tanh_safe(v: f32) -> f32 {
    let e = exp(-2.0 * abs(v));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, v >= 0.0);
}

// Workgroup (x: 64 units j, y: batch row r). Each thread forms its unit's
// four gate pre-activations from h_in[t][r], staged 64 values at a time,
// then runs the cell: the product and the elementwise step in one dispatch.
@compute @workgroup_size(64)
fn lstm_step_forward(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let hd = p.hidden;
    let j = wg.x * CHUNK + lid.x;
    let row = p.t * p.batch + wg.y;
    let live = j < hd;
    var z = vec4f(0.0);
    for (var k0 = 0u; k0 < hd; k0 += CHUNK) {
        let k = k0 + lid.x;
        row_chunk[lid.x] = select(0.0, h_in[row * hd + min(k, hd - 1u)], k < hd);
        workgroupBarrier();
        if (live) {
            let kn = min(CHUNK, hd - k0);
            for (var kk = 0u; kk < kn; kk += 1u) {
                let m = k0 + kk;
                let w = vec4f(w_hh[j * hd + m], w_hh[(hd + j) * hd + m],
                              w_hh[(2u * hd + j) * hd + m], w_hh[(3u * hd + j) * hd + m]);
                z += row_chunk[kk] * w;
            }
        }
        workgroupBarrier();
    }
    if (!live) {
        return;
    }
    let g0 = row * 4u * hd + j;
    z += vec4f(xg[g0] + b_hh[j], xg[g0 + hd] + b_hh[hd + j],
               xg[g0 + 2u * hd] + b_hh[2u * hd + j], xg[g0 + 3u * hd] + b_hh[3u * hd + j]);
    let gi = sigmoid(z.x);
    let gf = sigmoid(z.y);
    let gg = tanh_safe(z.z);
    let go = sigmoid(z.w);
    let s = row * hd + j;
    let cs = gf * c[s] + gi * gg;
    c[s + p.batch * hd] = cs;
    let h = go * tanh_safe(cs);
    h_out[s] = h;
    if (p.t + 1u < p.steps) {
        h_in[s + p.batch * hd] = h;
    }
    gates[g0] = gi;
    gates[g0 + hd] = gf;
    gates[g0 + 2u * hd] = gg;
    gates[g0 + 3u * hd] = go;
}

// One thread per (row r, unit j) of timestep t; see src/cpu/lstm.rs for the
// derivation. dc is read and overwritten by the same thread.
@compute @workgroup_size(WG)
fn lstm_step_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let s = gid.x + gid.y * nwg.x * WG;
    if (s >= p.batch * p.hidden) {
        return;
    }
    let hd = p.hidden;
    let row = p.t * p.batch + s / hd;
    let j = s % hd;
    let g0 = row * 4u * hd + j;
    let gi = gates_in[g0];
    let gf = gates_in[g0 + hd];
    let gg = gates_in[g0 + 2u * hd];
    let go = gates_in[g0 + 3u * hd];
    let tc = tanh_safe(c_in[(row + p.batch) * hd + j]);
    let dhv = dh[row * hd + j];
    let dct = dc[s] + dhv * go * (1.0 - tc * tc);
    dgates[g0] = dct * gg * gi * (1.0 - gi);
    dgates[g0 + hd] = dct * c_in[row * hd + j] * gf * (1.0 - gf);
    dgates[g0 + 2u * hd] = dct * gi * (1.0 - gg * gg);
    dgates[g0 + 3u * hd] = dhv * tc * go * (1.0 - go);
    dc[s] = dct * gf;
}

// Workgroup (x: 64 units m, y: batch row r): dh[t-1][r][m] += sum over the
// 4H gates k of dgates[t][r][k] * W_hh[k][m], the gate row staged 64 at a
// time; reads of W_hh are coalesced along m.
@compute @workgroup_size(64)
fn lstm_step_backward_hidden(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
    let hd = p.hidden;
    let g4 = 4u * hd;
    let m = wg.x * CHUNK + lid.x;
    let row = p.t * p.batch + wg.y;
    var acc = 0.0;
    for (var k0 = 0u; k0 < g4; k0 += CHUNK) {
        let k = k0 + lid.x;
        row_chunk[lid.x] = select(0.0, dgates_in[row * g4 + min(k, g4 - 1u)], k < g4);
        workgroupBarrier();
        if (m < hd) {
            let kn = min(CHUNK, g4 - k0);
            for (var kk = 0u; kk < kn; kk += 1u) {
                acc += row_chunk[kk] * w_hh[(k0 + kk) * hd + m];
            }
        }
        workgroupBarrier();
    }
    if (m < hd) {
        dh_acc[(row - p.batch) * hd + m] += acc;
    }
}
