// A residual connection: y = a + b forward; backward, the gradient of y
// reaches the skipped input unchanged, dx += dy. CPU twin: src/cpu/residual.rs.
//
// bindings: 0 params | forward: 1 a, 2 b, 3 y | backward: 4 dy, 5 dx

struct Params {
    len: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn residual_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < p.len) {
        y[i] = a[i] + b[i];
    }
}

@compute @workgroup_size(WG)
fn residual_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i < p.len) {
        dx[i] += dy[i];
    }
}
