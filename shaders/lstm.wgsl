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

override WG: u32 = 64u;

// The recurrent products give each thread RB batch rows, so that every
// weight it loads serves RB rows: no workgroup memory and no barriers, which
// cost most on CPU WebGPU (Chromium's SwiftShader runs a barrier by
// switching between all of a workgroup's threads).
const RB: u32 = 8u;

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

// The cell of unit j in batch row r (if it exists) from its recurrent gate
// pre-activations z: adds xg and b_hh, then writes gates, c, h.
fn cell(r: u32, j: u32, zr: vec4f) {
    if (r >= p.batch) {
        return;
    }
    let hd = p.hidden;
    let row = p.t * p.batch + r;
    let g0 = row * 4u * hd + j;
    let z = zr + vec4f(xg[g0] + b_hh[j], xg[g0 + hd] + b_hh[hd + j],
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

// Thread (unit j, rows r0 .. r0 + RB): the four gate pre-activations
// h_in[t][r] . W_hh[gate j] of its rows, then their cells: the product and
// the elementwise step in one dispatch.
@compute @workgroup_size(WG)
fn lstm_step_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    let hd = p.hidden;
    if (i >= hd * ((p.batch + RB - 1u) / RB)) {
        return;
    }
    let j = i % hd;
    let r0 = (i / hd) * RB;
    let last = p.batch - 1u;
    let h0 = (p.t * p.batch + min(r0 + 0u, last)) * hd;
    let h1 = (p.t * p.batch + min(r0 + 1u, last)) * hd;
    let h2 = (p.t * p.batch + min(r0 + 2u, last)) * hd;
    let h3 = (p.t * p.batch + min(r0 + 3u, last)) * hd;
    let h4 = (p.t * p.batch + min(r0 + 4u, last)) * hd;
    let h5 = (p.t * p.batch + min(r0 + 5u, last)) * hd;
    let h6 = (p.t * p.batch + min(r0 + 6u, last)) * hd;
    let h7 = (p.t * p.batch + min(r0 + 7u, last)) * hd;
    var z0 = vec4f(0.0);
    var z1 = vec4f(0.0);
    var z2 = vec4f(0.0);
    var z3 = vec4f(0.0);
    var z4 = vec4f(0.0);
    var z5 = vec4f(0.0);
    var z6 = vec4f(0.0);
    var z7 = vec4f(0.0);
    for (var m = 0u; m < hd; m++) {
        let w = vec4f(w_hh[j * hd + m], w_hh[(hd + j) * hd + m],
                      w_hh[(2u * hd + j) * hd + m], w_hh[(3u * hd + j) * hd + m]);
        z0 = fma(vec4f(h_in[h0 + m]), w, z0);
        z1 = fma(vec4f(h_in[h1 + m]), w, z1);
        z2 = fma(vec4f(h_in[h2 + m]), w, z2);
        z3 = fma(vec4f(h_in[h3 + m]), w, z3);
        z4 = fma(vec4f(h_in[h4 + m]), w, z4);
        z5 = fma(vec4f(h_in[h5 + m]), w, z5);
        z6 = fma(vec4f(h_in[h6 + m]), w, z6);
        z7 = fma(vec4f(h_in[h7 + m]), w, z7);
    }
    cell(r0 + 0u, j, z0);
    cell(r0 + 1u, j, z1);
    cell(r0 + 2u, j, z2);
    cell(r0 + 3u, j, z3);
    cell(r0 + 4u, j, z4);
    cell(r0 + 5u, j, z5);
    cell(r0 + 6u, j, z6);
    cell(r0 + 7u, j, z7);
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

// Thread (units m0 .. m0 + 4, rows r0 .. r0 + RB): dh[t-1][r][m] += sum
// over the 4H gates k of dgates[t][r][k] * W_hh[k][m]; each W_hh value
// loaded serves RB products, each dgates value four.
@compute @workgroup_size(WG)
fn lstm_step_backward_hidden(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    let hd = p.hidden;
    let g4 = 4u * hd;
    let units = (hd + 3u) / 4u;
    if (i >= units * ((p.batch + RB - 1u) / RB)) {
        return;
    }
    let m0 = (i % units) * 4u;
    let r0 = (i / units) * RB;
    let last_r = p.batch - 1u;
    let last_m = hd - 1u;
    let d0 = (p.t * p.batch + min(r0 + 0u, last_r)) * g4;
    let d1 = (p.t * p.batch + min(r0 + 1u, last_r)) * g4;
    let d2 = (p.t * p.batch + min(r0 + 2u, last_r)) * g4;
    let d3 = (p.t * p.batch + min(r0 + 3u, last_r)) * g4;
    let d4 = (p.t * p.batch + min(r0 + 4u, last_r)) * g4;
    let d5 = (p.t * p.batch + min(r0 + 5u, last_r)) * g4;
    let d6 = (p.t * p.batch + min(r0 + 6u, last_r)) * g4;
    let d7 = (p.t * p.batch + min(r0 + 7u, last_r)) * g4;
    var a0 = vec4f(0.0);
    var a1 = vec4f(0.0);
    var a2 = vec4f(0.0);
    var a3 = vec4f(0.0);
    var a4 = vec4f(0.0);
    var a5 = vec4f(0.0);
    var a6 = vec4f(0.0);
    var a7 = vec4f(0.0);
    for (var k = 0u; k < g4; k++) {
        let wr = k * hd;
        let w = vec4f(w_hh[wr + m0], w_hh[wr + min(m0 + 1u, last_m)],
                      w_hh[wr + min(m0 + 2u, last_m)], w_hh[wr + min(m0 + 3u, last_m)]);
        a0 = fma(vec4f(dgates_in[d0 + k]), w, a0);
        a1 = fma(vec4f(dgates_in[d1 + k]), w, a1);
        a2 = fma(vec4f(dgates_in[d2 + k]), w, a2);
        a3 = fma(vec4f(dgates_in[d3 + k]), w, a3);
        a4 = fma(vec4f(dgates_in[d4 + k]), w, a4);
        a5 = fma(vec4f(dgates_in[d5 + k]), w, a5);
        a6 = fma(vec4f(dgates_in[d6 + k]), w, a6);
        a7 = fma(vec4f(dgates_in[d7 + k]), w, a7);
    }
    add_dh(r0 + 0u, m0, a0);
    add_dh(r0 + 1u, m0, a1);
    add_dh(r0 + 2u, m0, a2);
    add_dh(r0 + 3u, m0, a3);
    add_dh(r0 + 4u, m0, a4);
    add_dh(r0 + 5u, m0, a5);
    add_dh(r0 + 6u, m0, a6);
    add_dh(r0 + 7u, m0, a7);
}

// Add a row's four units into dh[t-1], skipping rows and units past the end.
fn add_dh(r: u32, m0: u32, acc: vec4f) {
    if (r >= p.batch) {
        return;
    }
    let at = ((p.t - 1u) * p.batch + r) * p.hidden;
    for (var k = 0u; k < 4u; k++) {
        if (m0 + k < p.hidden) {
            dh_acc[at + m0 + k] += acc[k];
        }
    }
}
