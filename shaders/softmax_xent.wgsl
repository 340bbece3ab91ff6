// Row-wise softmax and fused softmax + cross-entropy over logits [N, C].
// CPU twin: src/cpu/softmax_xent.rs.
//
// bindings: 0 params | softmax_forward: 1 logits, 2 probs
//           softmax_xent_forward: 1 logits, 3 labels, 2 probs, 4 loss
//           softmax_xent_backward: 5 probs_in, 3 labels, 6 dlogits

struct Params {
    n: u32, classes: u32, scale: f32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read_write> probs: array<f32>;
@group(0) @binding(3) var<storage, read> labels: array<u32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read> probs_in: array<f32>;
@group(0) @binding(6) var<storage, read_write> dlogits: array<f32>;

override WG: u32 = 64u;

// Writes the softmax of row r into probs and returns its log-sum-exp.
fn softmax_row(r: u32) -> f32 {
    let base = r * p.classes;
    var m = logits[base];
    for (var k = 1u; k < p.classes; k++) {
        m = max(m, logits[base + k]);
    }
    var sum = 0.0;
    for (var k = 0u; k < p.classes; k++) {
        let e = exp(logits[base + k] - m);
        probs[base + k] = e;
        sum += e;
    }
    for (var k = 0u; k < p.classes; k++) {
        probs[base + k] /= sum;
    }
    return m + log(sum);
}

// One thread per row.
@compute @workgroup_size(WG)
fn softmax_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let r = gid.x + gid.y * nwg.x * WG;
    if (r >= p.n) {
        return;
    }
    softmax_row(r);
}

// One thread per row; loss = lse - z[label] = -ln p[label] without log(0).
// A label outside the classes yields NaN so bad data cannot train silently.
@compute @workgroup_size(WG)
fn softmax_xent_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let r = gid.x + gid.y * nwg.x * WG;
    if (r >= p.n) {
        return;
    }
    let lse = softmax_row(r);
    let l = labels[r];
    // NaN from a runtime bit pattern: a constant NaN is a WGSL compile error.
    var nan_bits = 0x7fc00000u;
    var v = bitcast<f32>(nan_bits);
    if (l < p.classes) {
        v = lse - logits[r * p.classes + l];
    }
    loss[r] = v;
}

// One thread per logit: dlogits += scale * (p - onehot(label)).
@compute @workgroup_size(WG)
fn softmax_xent_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.classes) {
        return;
    }
    let target_ = select(0.0, 1.0, labels[i / p.classes] == i % p.classes);
    dlogits[i] += p.scale * (probs_in[i] - target_);
}
