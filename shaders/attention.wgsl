// Causal softmax attention, per head. CPU twin: src/cpu/attention.rs, which
// says what each entry point computes; src/params.rs's AttentionParams says
// where queries, keys and values live. Backward entry points accumulate
// into dqkv (+=); attention_backward_scores overwrites dscores.
//
// Query t of sequence r is row t * rows + r of qkv [q_steps * rows, 3 dim]
// (q in columns 0..dim); key s of sequence r is row s * k_step_stride +
// r * k_row_stride of kv (k in columns dim..2 dim, v in 2 dim..3 dim);
// query t sits at position starts[r] + t (capped at k_steps - 1) and sees
// keys 0..=position. Weights are [rows, heads, q_steps, k_steps].
//
// Every thread owns one row of weights or a block of four output columns
// and loops over the other side; no workgroup memory and no barriers, which
// Chromium's CPU WebGPU (SwiftShader) runs by switching between every
// thread of a workgroup (see shaders/dense.wgsl).
//
// bindings: 0 params
//   scores_forward:  1 qkv, 2 kv, 3 starts, 4 weights (written)
//   values_forward:  5 weights, 2 kv, 3 starts, 6 out
//   backward_scores: 5 weights, 1 qkv, 3 starts, 7 dout, 8 dscores (written)
//   backward_query:  9 dscores, 1 qkv, 3 starts, 10 dqkv
//   backward_key:    9 dscores, 1 qkv, 3 starts, 10 dqkv
//   backward_value:  5 weights, 7 dout, 3 starts, 10 dqkv
//   cache_write:     1 qkv, 3 starts, 11 cache

struct Params {
    rows: u32, q_steps: u32, k_steps: u32, heads: u32,
    head_dim: u32, k_step_stride: u32, k_row_stride: u32,
    scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> starts: array<u32>;
@group(0) @binding(4) var<storage, read_write> weights_out: array<f32>;
@group(0) @binding(5) var<storage, read> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<storage, read> dout: array<f32>;
@group(0) @binding(8) var<storage, read_write> dscores_out: array<f32>;
@group(0) @binding(9) var<storage, read> dscores: array<f32>;
@group(0) @binding(10) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(11) var<storage, read_write> cache: array<f32>;

override WG: u32 = 64u;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
    return gid.x + gid.y * nwg.x * WG;
}

fn dim() -> u32 {
    return p.heads * p.head_dim;
}

// Query t of sequence r's position, capped inside the keys.
fn position(t: u32, r: u32) -> u32 {
    return min(starts[r] + t, p.k_steps - 1u);
}

// Offsets: head h's q of query (t, r) in qkv; head h's k of key (s, r) in a
// 3 dim wide tensor (its v is dim further); the weights row of query (t, r)
// and head h; head h's columns of row (t, r) of a [T*b, dim] tensor.
fn q_at(t: u32, r: u32, h: u32) -> u32 {
    return (t * p.rows + r) * 3u * dim() + h * p.head_dim;
}

fn k_at(s: u32, r: u32, h: u32) -> u32 {
    return (s * p.k_step_stride + r * p.k_row_stride) * 3u * dim() + dim() + h * p.head_dim;
}

fn w_at(t: u32, r: u32, h: u32) -> u32 {
    return ((r * p.heads + h) * p.q_steps + t) * p.k_steps;
}

fn o_at(t: u32, r: u32, h: u32) -> u32 {
    return (t * p.rows + r) * dim() + h * p.head_dim;
}

// A thread's row of weights: (t, r, h) from its index, r slowest.
struct Row {
    t: u32, r: u32, h: u32,
}

fn row_of(i: u32) -> Row {
    return Row(i % p.q_steps, i / (p.q_steps * p.heads), (i / p.q_steps) % p.heads);
}

// A thread's block of four columns j0.. of one head at one row (t or s of
// sequence r): blocks of a head, then heads, then steps, then sequences.
struct Cols {
    step: u32, r: u32, h: u32, j0: u32,
}

fn cols_of(i: u32, steps: u32) -> Cols {
    let blocks = (p.head_dim + 3u) / 4u;
    let j0 = (i % blocks) * 4u;
    let h = (i / blocks) % p.heads;
    let step = (i / (blocks * p.heads)) % steps;
    let r = i / (blocks * p.heads * steps);
    return Cols(step, r, h, j0);
}

// Columns of the block past the head's end read its last column; their
// sums are never stored.
fn col(c: Cols, j: u32) -> u32 {
    return min(c.j0 + j, p.head_dim - 1u);
}

// One thread per row of weights: scores, their maximum, exp, normalise.
@compute @workgroup_size(WG)
fn attention_scores_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i >= p.rows * p.heads * p.q_steps) {
        return;
    }
    let w = row_of(i);
    let pos = position(w.t, w.r);
    let q = q_at(w.t, w.r, w.h);
    let at = w_at(w.t, w.r, w.h);
    var best = -3.4e38;
    for (var s = 0u; s <= pos; s++) {
        let k = k_at(s, w.r, w.h);
        var dot = 0.0;
        for (var j = 0u; j < p.head_dim; j++) {
            dot += qkv[q + j] * kv[k + j];
        }
        let v = dot * p.scale;
        weights_out[at + s] = v;
        best = max(best, v);
    }
    var sum = 0.0;
    for (var s = 0u; s <= pos; s++) {
        let e = exp(weights_out[at + s] - best);
        weights_out[at + s] = e;
        sum += e;
    }
    for (var s = 0u; s < p.k_steps; s++) {
        if (s <= pos) {
            weights_out[at + s] /= sum;
        } else {
            weights_out[at + s] = 0.0;
        }
    }
}

// One thread per block of four output columns of one head and query.
@compute @workgroup_size(WG)
fn attention_values_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    let blocks = (p.head_dim + 3u) / 4u;
    if (i >= p.rows * p.q_steps * p.heads * blocks) {
        return;
    }
    let c = cols_of(i, p.q_steps);
    let w = w_at(c.step, c.r, c.h);
    var acc = vec4<f32>();
    for (var s = 0u; s <= position(c.step, c.r); s++) {
        let v = k_at(s, c.r, c.h) + dim();
        let vv = vec4<f32>(kv[v + col(c, 0u)], kv[v + col(c, 1u)], kv[v + col(c, 2u)], kv[v + col(c, 3u)]);
        acc = fma(vec4<f32>(weights[w + s]), vv, acc);
    }
    let o = o_at(c.step, c.r, c.h);
    for (var j = 0u; j < 4u; j++) {
        if (c.j0 + j < p.head_dim) {
            out[o + c.j0 + j] = acc[j];
        }
    }
}

// One thread per row of weights: dP = dout . v, then the softmax's backward.
@compute @workgroup_size(WG)
fn attention_backward_scores(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    if (i >= p.rows * p.heads * p.q_steps) {
        return;
    }
    let w = row_of(i);
    let pos = position(w.t, w.r);
    let o = o_at(w.t, w.r, w.h);
    let at = w_at(w.t, w.r, w.h);
    var total = 0.0;
    for (var s = 0u; s <= pos; s++) {
        let v = k_at(s, w.r, w.h) + dim();
        var dp = 0.0;
        for (var j = 0u; j < p.head_dim; j++) {
            dp += dout[o + j] * qkv[v + j];
        }
        dscores_out[at + s] = dp;
        total += weights[at + s] * dp;
    }
    for (var s = 0u; s < p.k_steps; s++) {
        if (s <= pos) {
            dscores_out[at + s] = weights[at + s] * (dscores_out[at + s] - total);
        } else {
            dscores_out[at + s] = 0.0;
        }
    }
}

// dq += scale * dscores . k: one thread per block of four q columns.
@compute @workgroup_size(WG)
fn attention_backward_query(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    let blocks = (p.head_dim + 3u) / 4u;
    if (i >= p.rows * p.q_steps * p.heads * blocks) {
        return;
    }
    let c = cols_of(i, p.q_steps);
    let w = w_at(c.step, c.r, c.h);
    var acc = vec4<f32>();
    for (var s = 0u; s <= position(c.step, c.r); s++) {
        let k = k_at(s, c.r, c.h);
        let kk = vec4<f32>(qkv[k + col(c, 0u)], qkv[k + col(c, 1u)], qkv[k + col(c, 2u)], qkv[k + col(c, 3u)]);
        acc = fma(vec4<f32>(dscores[w + s]), kk, acc);
    }
    let q = q_at(c.step, c.r, c.h);
    for (var j = 0u; j < 4u; j++) {
        if (c.j0 + j < p.head_dim) {
            dqkv[q + c.j0 + j] += p.scale * acc[j];
        }
    }
}

// dk += scale * dscores^T . q: one thread per block of four k columns of
// key s, over the queries that see it.
@compute @workgroup_size(WG)
fn attention_backward_key(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    let blocks = (p.head_dim + 3u) / 4u;
    if (i >= p.rows * p.k_steps * p.heads * blocks) {
        return;
    }
    let c = cols_of(i, p.k_steps);
    var acc = vec4<f32>();
    for (var t = 0u; t < p.q_steps; t++) {
        if (c.step <= position(t, c.r)) {
            let q = q_at(t, c.r, c.h);
            let qq = vec4<f32>(qkv[q + col(c, 0u)], qkv[q + col(c, 1u)], qkv[q + col(c, 2u)], qkv[q + col(c, 3u)]);
            acc = fma(vec4<f32>(dscores[w_at(t, c.r, c.h) + c.step]), qq, acc);
        }
    }
    let k = k_at(c.step, c.r, c.h);
    for (var j = 0u; j < 4u; j++) {
        if (c.j0 + j < p.head_dim) {
            dqkv[k + c.j0 + j] += p.scale * acc[j];
        }
    }
}

// dv += weights^T . dout: one thread per block of four v columns of key s.
@compute @workgroup_size(WG)
fn attention_backward_value(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    let blocks = (p.head_dim + 3u) / 4u;
    if (i >= p.rows * p.k_steps * p.heads * blocks) {
        return;
    }
    let c = cols_of(i, p.k_steps);
    var acc = vec4<f32>();
    for (var t = 0u; t < p.q_steps; t++) {
        if (c.step <= position(t, c.r)) {
            let o = o_at(t, c.r, c.h);
            let dd = vec4<f32>(dout[o + col(c, 0u)], dout[o + col(c, 1u)], dout[o + col(c, 2u)], dout[o + col(c, 3u)]);
            acc = fma(vec4<f32>(weights[w_at(t, c.r, c.h) + c.step]), dd, acc);
        }
    }
    let v = k_at(c.step, c.r, c.h) + dim();
    for (var j = 0u; j < 4u; j++) {
        if (c.j0 + j < p.head_dim) {
            dqkv[v + c.j0 + j] += acc[j];
        }
    }
}

// The decoding cache: one thread per value of qkv [q_steps * rows, width]
// (width in head_dim, one "head"), copied to row r * k_steps + starts[r] + t.
@compute @workgroup_size(WG)
fn attention_cache_write(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = index(gid, nwg);
    let width = p.head_dim;
    if (i >= p.q_steps * p.rows * width) {
        return;
    }
    let row = i / width;
    let r = row % p.rows;
    let pos = starts[r] + row / p.rows;
    if (pos < p.k_steps) {
        cache[(r * p.k_steps + pos) * width + i % width] = qkv[i];
    }
}
