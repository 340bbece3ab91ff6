//! The GPU-vs-CPU comparison of every kernel, inside headless Chromium's
//! WebGPU (wasm-bindgen-test). The browser compiles WGSL with its own
//! compiler (Tint), so a kernel right on Vulkan can still be wrong here.
#![cfg(target_arch = "wasm32")]

use neuralpad::backend::Act;
use neuralpad::selftest::{self, DIMS, OPS};
use neuralpad::{Backend, CpuBackend, FastCpuBackend, GpuBackend};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn gpu() -> GpuBackend {
    match GpuBackend::new().await {
        Ok(g) => g,
        Err(e) => panic!("no WebGPU adapter: start Chromium with --enable-unsafe-webgpu ({e})"),
    }
}

/// Every op of `be` on every shape of `DIMS` against the plain-loop twins.
async fn assert_matches_twins<B: Backend>(be: &B, what: &str) {
    let results = selftest::compare_all(be, &CpuBackend, &DIMS, 1)
        .await
        .expect("ops ran");
    assert_eq!(results.len(), OPS.len() * DIMS.len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{what}: {} of {} comparisons failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

#[wasm_bindgen_test]
async fn every_kernel_matches_its_cpu_twin_in_the_browser() {
    let gpu = gpu().await;
    assert_matches_twins(&gpu, &format!("{} on WebGPU", gpu.name())).await;
}

/// The page's CPU fallback as compiled for the page: wasm simd128, with
/// its activations in explicit 4-lane loops (src/cpu/fast/math.rs) that no
/// native test runs.
#[wasm_bindgen_test]
async fn the_fast_cpu_path_matches_its_twins_in_the_browser() {
    assert_matches_twins(&FastCpuBackend::default(), "the fast CPU path").await;
}

#[wasm_bindgen_test]
async fn shape_errors_are_errors_not_panics_in_the_browser() {
    let gpu = gpu().await;
    let x = gpu.zeros(&[1, 1, 28, 28]);
    let w = gpu.zeros(&[32, 3, 3, 3]);
    let b = gpu.zeros(&[32]);
    let mut y = gpu.zeros(&[1, 32, 26, 26]);
    let e = gpu
        .conv2d_forward(&x, &w, &b, &mut y, Act::Relu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("conv2d_forward"), "{e}");
}
