// Clipping by the global gradient norm without a read-back: sum_squares
// writes each gradient tensor's sum of squares into its slot of `sums`, then
// clip_by_norm scales every tensor by min(1, max_norm / sqrt(sum of sums)).
// CPU twin: src/cpu/grad_norm.rs.
//
// bindings: 0 params | sum_squares: 1 x, 2 sums | clip_by_norm: 3 sums_in, 4 y

struct Params {
    len: u32, slot: u32, count: u32, max_norm: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> sums: array<f32>;
@group(0) @binding(3) var<storage, read> sums_in: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

const REDUCE: u32 = 256u;
var<workgroup> part: array<f32, 256>;

override WG: u32 = 256u;

// One workgroup: strided partial sums, then a tree in workgroup memory.
// A model's largest gradient is ~65k values, 256 loads per thread.
@compute @workgroup_size(256)
fn sum_squares(@builtin(local_invocation_id) lid: vec3u) {
    var acc = 0.0;
    for (var i = lid.x; i < p.len; i += REDUCE) {
        let v = x[i];
        acc += v * v;
    }
    part[lid.x] = acc;
    workgroupBarrier();
    for (var s = REDUCE / 2u; s > 0u; s >>= 1u) {
        if (lid.x < s) {
            part[lid.x] += part[lid.x + s];
        }
        workgroupBarrier();
    }
    if (lid.x == 0u) {
        sums[p.slot] = part[0];
    }
}

// One thread per value; each adds up the few slots itself, which costs less
// than another dispatch. A NaN norm fails the comparison and leaves y alone.
@compute @workgroup_size(WG)
fn clip_by_norm(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    var total = 0.0;
    for (var k = 0u; k < p.count; k += 1u) {
        total += sums_in[k];
    }
    let norm = sqrt(total);
    if (norm > p.max_norm) {
        y[i] *= p.max_norm / norm;
    }
}
