// Inverted dropout with a counter-based mask. CPU twin: src/cpu/dropout.rs,
// which explains the hash; shaders/recurrent.wgsl carries the same three
// functions for recurrent dropout. Integer arithmetic wraps in WGSL as
// Rust's wrapping_mul does, and a 24-bit integer converts to f32 exactly,
// so every device draws the same mask as the CPU.
//
// bindings: 0 params | forward: 1 x, 2 y | backward: 3 dy, 4 dx

struct Params {
    len: u32, period: u32, seed: u32, step: u32,
    rate: f32, scale: f32,
    _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

override WG: u32 = 256u;

// lowbias32 (Chris Wellons).
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

@compute @workgroup_size(WG)
fn dropout_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    y[i] = x[i] * mask_value(mask_key(p.seed, p.step), i % p.period, p.rate, p.scale);
}

@compute @workgroup_size(WG)
fn dropout_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    dx[i] += dy[i] * mask_value(mask_key(p.seed, p.step), i % p.period, p.rate, p.scale);
}
