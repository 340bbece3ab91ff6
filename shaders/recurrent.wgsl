// One timestep t of a recurrent cell (RNN, GRU, LSTM) inside time-major
// sequences [steps * batch, width], PyTorch's gate orders (GRU r, z, n;
// LSTM i, f, g, o). The input projection xg = x W_ih^T + b_ih of the whole
// sequence is one dense_forward before the time loop; here only the
// recurrence, which must go step by step. CPU twins: src/cpu/recurrent.rs,
// which gives every formula.
//
// Recurrent dropout: h_in[t] is h_(t-1) times the sequence's mask, the
// recurrent product's input. Each forward step writes its h unmasked to
// h_out[t] and masked to h_in[t+1]; the mask of row r, unit j is the
// dropout mask of (seed, step, r * hidden + j), the hash of
// shaders/dropout.wgsl, copied below.
//
// bindings: 0 params
//   lstm forward:    1 xg, 2 w_hh, 3 b_hh, 4 h_in, 5 h_out, 6 c, 7 gates
//   lstm backward:   8 gates_in, 9 c_in, 10 dh, 11 dc, 12 dgates
//   gru forward:     1 xg, 2 w_hh, 3 b_hh, 15 h0, 4 h_in, 5 h_out, 7 gates
//   gru backward:    8 gates_in, 15 h0, 16 h_prev_out, 17 dh_rw, 18 dgi, 12 dgates (dgh)
//   rnn forward:     1 xg, 2 w_hh, 3 b_hh, 4 h_in, 5 h_out
//   rnn backward:    16 h_prev_out (h_out), 10 dh, 12 dgates
//   backward_hidden: 13 dgates_in, 2 w_hh, 14 dh_acc

struct Params {
    batch: u32, hidden: u32, t: u32, steps: u32,
    seed: u32, step: u32, rate: f32, scale: f32,
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
@group(0) @binding(15) var<storage, read> h0: array<f32>;
@group(0) @binding(16) var<storage, read> h_prev_out: array<f32>;
@group(0) @binding(17) var<storage, read_write> dh_rw: array<f32>;
@group(0) @binding(18) var<storage, read_write> dgi: array<f32>;

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

// lowbias32 (Chris Wellons), as in shaders/dropout.wgsl.
fn mix(v: u32) -> u32 {
    var h = v;
    h ^= h >> 16u;
    h *= 0x7feb352du;
    h ^= h >> 15u;
    h *= 0x846ca68bu;
    return h ^ (h >> 16u);
}

fn mask_key(seed: u32, step: u32) -> u32 {
    return mix(step ^ mix(seed));
}

// scale where element e is kept, 0 where dropped, 1 without dropout.
fn mask_value(key: u32, e: u32, rate: f32, scale: f32) -> f32 {
    if (rate <= 0.0) {
        return 1.0;
    }
    let u = f32(mix(e ^ key) >> 8u) * (1.0 / 16777216.0);
    return select(0.0, scale, u >= rate);
}

// The recurrent dropout mask of row r, unit j.
fn mask(r: u32, j: u32) -> f32 {
    return mask_value(mask_key(p.seed, p.step), r * p.hidden + j, p.rate, p.scale);
}

// Row r's new h for unit j: to h_out[t], and masked to h_in[t+1] unless t
// is the last step.
fn put_h(r: u32, j: u32, h: f32) {
    let s = (p.t * p.batch + r) * p.hidden + j;
    h_out[s] = h;
    if (p.t + 1u < p.steps) {
        h_in[s + p.batch * p.hidden] = h * mask(r, j);
    }
}

// For rows r0 .. r0 + RB of timestep t, the four dot products
// h_in[t][r] . W_hh[k] for the weight rows k0..k3: lane l of entry i is
// row r0 + i's product with row k_l. Rows past the end read the last row
// (their results are never stored).
fn products(r0: u32, k0: u32, k1: u32, k2: u32, k3: u32) -> array<vec4f, 8> {
    let hd = p.hidden;
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
        let w = vec4f(w_hh[k0 * hd + m], w_hh[k1 * hd + m], w_hh[k2 * hd + m], w_hh[k3 * hd + m]);
        z0 = fma(vec4f(h_in[h0 + m]), w, z0);
        z1 = fma(vec4f(h_in[h1 + m]), w, z1);
        z2 = fma(vec4f(h_in[h2 + m]), w, z2);
        z3 = fma(vec4f(h_in[h3 + m]), w, z3);
        z4 = fma(vec4f(h_in[h4 + m]), w, z4);
        z5 = fma(vec4f(h_in[h5 + m]), w, z5);
        z6 = fma(vec4f(h_in[h6 + m]), w, z6);
        z7 = fma(vec4f(h_in[h7 + m]), w, z7);
    }
    return array<vec4f, 8>(z0, z1, z2, z3, z4, z5, z6, z7);
}

// Thread i's unit and first row for a grid over [units][rows / RB].
fn unit_rows(i: u32, units: u32) -> vec2u {
    return vec2u(i % units, (i / units) * RB);
}

fn row_blocks() -> u32 {
    return (p.batch + RB - 1u) / RB;
}

// ---- RNN -----------------------------------------------------------------

// Thread (units j0 .. j0 + 4, rows r0 .. r0 + RB): h = tanh(xg + b_hh + the
// product) for each.
@compute @workgroup_size(WG)
fn rnn_step_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    let hd = p.hidden;
    let quads = (hd + 3u) / 4u;
    if (i >= quads * row_blocks()) {
        return;
    }
    let at = unit_rows(i, quads);
    let j0 = at.x * 4u;
    let last = hd - 1u;
    let z = products(at.y, j0, min(j0 + 1u, last), min(j0 + 2u, last), min(j0 + 3u, last));
    for (var k = 0u; k < RB; k++) {
        let r = at.y + k;
        for (var l = 0u; l < 4u; l++) {
            let j = j0 + l;
            if (r < p.batch && j < hd) {
                let row = p.t * p.batch + r;
                put_h(r, j, tanh_safe(xg[row * hd + j] + b_hh[j] + z[k][l]));
            }
        }
    }
}

// One thread per (row, unit) of timestep t: dgates = dh (1 - h^2).
@compute @workgroup_size(WG)
fn rnn_step_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let s = gid.x + gid.y * nwg.x * WG;
    if (s >= p.batch * p.hidden) {
        return;
    }
    let at = p.t * p.batch * p.hidden + s;
    let h = h_prev_out[at];
    dgates[at] = dh[at] * (1.0 - h * h);
}

// ---- GRU -----------------------------------------------------------------

// The GRU cell of unit j in row r (if it exists) from its recurrent
// products a = (a_r, a_z, a_n) without b_hh.
fn gru_cell(r: u32, j: u32, a: vec4f) {
    if (r >= p.batch) {
        return;
    }
    let hd = p.hidden;
    let row = p.t * p.batch + r;
    let x0 = row * 3u * hd + j;
    let rg = sigmoid(xg[x0] + a.x + b_hh[j]);
    let z = sigmoid(xg[x0 + hd] + a.y + b_hh[hd + j]);
    let an = a.z + b_hh[2u * hd + j];
    let n = tanh_safe(xg[x0 + 2u * hd] + rg * an);
    var prev = 0.0;
    if (p.t == 0u) {
        prev = h0[r * hd + j];
    } else {
        prev = h_out[(row - p.batch) * hd + j];
    }
    let g0 = row * 4u * hd + j;
    gates[g0] = rg;
    gates[g0 + hd] = z;
    gates[g0 + 2u * hd] = n;
    gates[g0 + 3u * hd] = an;
    put_h(r, j, (1.0 - z) * n + z * prev);
}

// Thread (unit j, rows r0 .. r0 + RB): the three recurrent products, then
// the cells.
@compute @workgroup_size(WG)
fn gru_step_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    let hd = p.hidden;
    if (i >= hd * row_blocks()) {
        return;
    }
    let at = unit_rows(i, hd);
    let j = at.x;
    // The fourth lane repeats n's row; it is never read.
    let z = products(at.y, j, hd + j, 2u * hd + j, 2u * hd + j);
    for (var k = 0u; k < RB; k++) {
        gru_cell(at.y + k, j, z[k]);
    }
}

// One thread per (row r, unit j) of timestep t; see src/cpu/recurrent.rs
// for the derivation. dh[t-1] gets the direct path dh z.
@compute @workgroup_size(WG)
fn gru_step_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let s = gid.x + gid.y * nwg.x * WG;
    if (s >= p.batch * p.hidden) {
        return;
    }
    let hd = p.hidden;
    let r = s / hd;
    let j = s % hd;
    let row = p.t * p.batch + r;
    let g0 = row * 4u * hd + j;
    let rg = gates_in[g0];
    let z = gates_in[g0 + hd];
    let n = gates_in[g0 + 2u * hd];
    let an = gates_in[g0 + 3u * hd];
    var prev = 0.0;
    if (p.t == 0u) {
        prev = h0[s];
    } else {
        prev = h_prev_out[(row - p.batch) * hd + j];
    }
    let d = dh_rw[row * hd + j];
    let dn = d * (1.0 - z) * (1.0 - n * n);
    let dz = d * (prev - n) * z * (1.0 - z);
    let dr = dn * an * rg * (1.0 - rg);
    let a0 = row * 3u * hd + j;
    dgi[a0] = dr;
    dgi[a0 + hd] = dz;
    dgi[a0 + 2u * hd] = dn;
    dgates[a0] = dr;
    dgates[a0 + hd] = dz;
    dgates[a0 + 2u * hd] = dn * rg;
    if (p.t > 0u) {
        dh_rw[(row - p.batch) * hd + j] += d * z;
    }
}

// ---- LSTM ----------------------------------------------------------------

// The LSTM cell of unit j in row r (if it exists) from its recurrent
// products z: adds xg and b_hh, then writes gates, c, h.
fn lstm_cell(r: u32, j: u32, zr: vec4f) {
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
    gates[g0] = gi;
    gates[g0 + hd] = gf;
    gates[g0 + 2u * hd] = gg;
    gates[g0 + 3u * hd] = go;
    put_h(r, j, go * tanh_safe(cs));
}

// Thread (unit j, rows r0 .. r0 + RB): the four gate pre-activations of its
// rows, then their cells: the product and the elementwise step in one
// dispatch.
@compute @workgroup_size(WG)
fn lstm_step_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    let hd = p.hidden;
    if (i >= hd * row_blocks()) {
        return;
    }
    let at = unit_rows(i, hd);
    let j = at.x;
    let z = products(at.y, j, hd + j, 2u * hd + j, 3u * hd + j);
    for (var k = 0u; k < RB; k++) {
        lstm_cell(at.y + k, j, z[k]);
    }
}

// One thread per (row r, unit j) of timestep t; see src/cpu/recurrent.rs for the
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

// ---- the hidden gradient, every cell -------------------------------------

// Thread (units m0 .. m0 + 4, rows r0 .. r0 + RB): dh[t-1][r][m] += (sum
// over the g gate pre-activations k of dgates[t][r][k] * W_hh[k][m]) times
// the mask; each W_hh value loaded serves RB products, each dgates value four.
fn backward_hidden(i: u32, g: u32) {
    let hd = p.hidden;
    let units = (hd + 3u) / 4u;
    if (i >= units * row_blocks()) {
        return;
    }
    let m0 = (i % units) * 4u;
    let r0 = (i / units) * RB;
    let last_r = p.batch - 1u;
    let last_m = hd - 1u;
    let d0 = (p.t * p.batch + min(r0 + 0u, last_r)) * g;
    let d1 = (p.t * p.batch + min(r0 + 1u, last_r)) * g;
    let d2 = (p.t * p.batch + min(r0 + 2u, last_r)) * g;
    let d3 = (p.t * p.batch + min(r0 + 3u, last_r)) * g;
    let d4 = (p.t * p.batch + min(r0 + 4u, last_r)) * g;
    let d5 = (p.t * p.batch + min(r0 + 5u, last_r)) * g;
    let d6 = (p.t * p.batch + min(r0 + 6u, last_r)) * g;
    let d7 = (p.t * p.batch + min(r0 + 7u, last_r)) * g;
    var a0 = vec4f(0.0);
    var a1 = vec4f(0.0);
    var a2 = vec4f(0.0);
    var a3 = vec4f(0.0);
    var a4 = vec4f(0.0);
    var a5 = vec4f(0.0);
    var a6 = vec4f(0.0);
    var a7 = vec4f(0.0);
    for (var k = 0u; k < g; k++) {
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

// Add a row's four units, masked, into dh[t-1], skipping rows and units
// past the end.
fn add_dh(r: u32, m0: u32, acc: vec4f) {
    if (r >= p.batch) {
        return;
    }
    let at = ((p.t - 1u) * p.batch + r) * p.hidden;
    for (var k = 0u; k < 4u; k++) {
        if (m0 + k < p.hidden) {
            dh_acc[at + m0 + k] += acc[k] * mask(r, m0 + k);
        }
    }
}

@compute @workgroup_size(WG)
fn rnn_step_backward_hidden(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    backward_hidden(gid.x + gid.y * nwg.x * WG, p.hidden);
}

@compute @workgroup_size(WG)
fn gru_step_backward_hidden(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    backward_hidden(gid.x + gid.y * nwg.x * WG, 3u * p.hidden);
}

@compute @workgroup_size(WG)
fn lstm_step_backward_hidden(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    backward_hidden(gid.x + gid.y * nwg.x * WG, 4u * p.hidden);
}
