// embedding: rows of table [VOCAB, DIM] picked by ids. CPU twin: src/cpu/embedding.rs.
//
// bindings: 0 params | forward: 1 ids, 2 table, 3 y | backward: 1 ids, 4 dy, 5 dtable

struct Params {
    n: u32, vocab: u32, dim: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ids: array<u32>;
@group(0) @binding(2) var<storage, read> table: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dtable: array<f32>;

override WG: u32 = 64u;

// One thread per output value y[n, d]; an id outside the table gives 0.
@compute @workgroup_size(WG)
fn embedding_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.n * p.dim) {
        return;
    }
    let id = ids[i / p.dim];
    var v = 0.0;
    if (id < p.vocab) {
        v = table[id * p.dim + i % p.dim];
    }
    y[i] = v;
}

// One thread per table entry dtable[v, d], gathering every token with id v:
// a scatter-add written as a gather, so it needs no atomics and sums in a
// fixed order (deterministic, like the CPU twin).
@compute @workgroup_size(WG)
fn embedding_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.vocab * p.dim) {
        return;
    }
    let v = i / p.dim;
    let d = i % p.dim;
    var acc = 0.0;
    for (var r = 0u; r < p.n; r++) {
        if (ids[r] == v) {
            acc += dy[r * p.dim + d];
        }
    }
    dtable[i] += acc;
}
