// A slice copy between two buffers: the LSTM carries its last hidden and
// cell state into the next window on the device. CPU twin: src/cpu/copy.rs.
//
// bindings: 0 params, 1 src, 2 dst

struct Params {
    len: u32, src_offset: u32, dst_offset: u32, _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

override WG: u32 = 256u;

@compute @workgroup_size(WG)
fn copy_slice(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    dst[p.dst_offset + i] = src[p.src_offset + i];
}
