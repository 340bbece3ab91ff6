// The elementwise part of one LSTM timestep over a batch, PyTorch gate order
// i, f, g, o. The pre-activations come from two dense_forward calls:
// xg = x W_ih^T + b_ih and hg = h_{t-1} W_hh^T + b_hh, both [N, 4H].
// CPU twin: src/cpu/lstm.rs.
//
// bindings: 0 params | forward: 1 xg, 2 hg, 3 c_prev, 4 h, 5 c, 6 gates
//           backward: 7 gates_in, 3 c_prev, 8 c_in, 9 dh, 10 dc, 11 dgates, 12 dc_prev

struct Params {
    n: u32, hidden: u32, _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> hg: array<f32>;
@group(0) @binding(3) var<storage, read> c_prev: array<f32>;
@group(0) @binding(4) var<storage, read_write> h: array<f32>;
@group(0) @binding(5) var<storage, read_write> c: array<f32>;
@group(0) @binding(6) var<storage, read_write> gates: array<f32>;
@group(0) @binding(7) var<storage, read> gates_in: array<f32>;
@group(0) @binding(8) var<storage, read> c_in: array<f32>;
@group(0) @binding(9) var<storage, read> dh: array<f32>;
@group(0) @binding(10) var<storage, read> dc: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgates: array<f32>;
@group(0) @binding(12) var<storage, read_write> dc_prev: array<f32>;

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

// One thread per (row n, unit j).
@compute @workgroup_size(WG)
fn lstm_cell_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let s = gid.x + gid.y * nwg.x * WG;
    if (s >= p.n * p.hidden) {
        return;
    }
    let hd = p.hidden;
    let base = (s / hd) * 4u * hd + s % hd;
    let gi = sigmoid(xg[base] + hg[base]);
    let gf = sigmoid(xg[base + hd] + hg[base + hd]);
    let gg = tanh_safe(xg[base + 2u * hd] + hg[base + 2u * hd]);
    let go = sigmoid(xg[base + 3u * hd] + hg[base + 3u * hd]);
    let cs = gf * c_prev[s] + gi * gg;
    c[s] = cs;
    h[s] = go * tanh_safe(cs);
    gates[base] = gi;
    gates[base + hd] = gf;
    gates[base + 2u * hd] = gg;
    gates[base + 3u * hd] = go;
}

// One thread per (row n, unit j); see src/cpu/lstm.rs for the derivation.
@compute @workgroup_size(WG)
fn lstm_cell_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let s = gid.x + gid.y * nwg.x * WG;
    if (s >= p.n * p.hidden) {
        return;
    }
    let hd = p.hidden;
    let base = (s / hd) * 4u * hd + s % hd;
    let gi = gates_in[base];
    let gf = gates_in[base + hd];
    let gg = gates_in[base + 2u * hd];
    let go = gates_in[base + 3u * hd];
    let tc = tanh_safe(c_in[s]);
    let dct = dc[s] + dh[s] * go * (1.0 - tc * tc);
    dgates[base] = dct * gg * gi * (1.0 - gi);
    dgates[base + hd] = dct * c_prev[s] * gf * (1.0 - gf);
    dgates[base + 2u * hd] = dct * gi * (1.0 - gg * gg);
    dgates[base + 3u * hd] = dh[s] * tc * go * (1.0 - go);
    dc_prev[s] = dct * gf;
}
