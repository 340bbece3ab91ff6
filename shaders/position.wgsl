// Learned position embeddings added to a time-major sequence: row t * rows
// + r is position starts[r] + t of sequence r, and gets table row that
// position (nothing past the table). CPU twin: src/cpu/position.rs.
//
// bindings: 0 params | forward: 1 x, 2 table, 3 starts, 4 y | backward: 5 dy, 3 starts, 6 dtable

struct Params {
    rows: u32, steps: u32, dim: u32, context: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read> starts: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read> dy: array<f32>;
@group(0) @binding(6) var<storage, read_write> dtable: array<f32>;

override WG: u32 = 256u;

// One thread per value of y.
@compute @workgroup_size(WG)
fn position_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.steps * p.rows * p.dim) {
        return;
    }
    let row = i / p.dim;
    let k = i % p.dim;
    let pos = starts[row % p.rows] + row / p.rows;
    var add = 0.0;
    if (pos < p.context) {
        add = table[pos * p.dim + k];
    }
    y[i] = x[i] + add;
}

// One thread per table entry, gathering the rows at its position: each
// sequence has at most one (t = position - start), so no atomics.
@compute @workgroup_size(WG)
fn position_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.context * p.dim) {
        return;
    }
    let pos = i / p.dim;
    let k = i % p.dim;
    var acc = 0.0;
    for (var r = 0u; r < p.rows; r++) {
        let s = starts[r];
        if (pos >= s && pos - s < p.steps) {
            acc += dy[((pos - s) * p.rows + r) * p.dim + k];
        }
    }
    dtable[i] += acc;
}
