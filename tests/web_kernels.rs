//! The GPU-vs-CPU comparison of every kernel, inside headless Chromium's
//! WebGPU (wasm-bindgen-test). The browser compiles WGSL with its own
//! compiler (Tint), so a kernel right on Vulkan can still be wrong here.
#![cfg(target_arch = "wasm32")]

use neuralpad::backend::Act;
use neuralpad::selftest::{self, DIMS, OPS};
use neuralpad::{Backend, CpuBackend, GpuBackend};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

async fn gpu() -> GpuBackend {
    match GpuBackend::new().await {
        Ok(g) => g,
        Err(e) => panic!("no WebGPU adapter: start Chromium with --enable-unsafe-webgpu ({e})"),
    }
}

#[wasm_bindgen_test]
async fn every_kernel_matches_its_cpu_twin_in_the_browser() {
    let gpu = gpu().await;
    let results = selftest::compare_all(&gpu, &CpuBackend, &DIMS, 1)
        .await
        .expect("kernels ran");
    assert_eq!(results.len(), OPS.len() * DIMS.len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} on {}: {} of {} comparisons failed:\n{}",
        gpu.name(),
        "WebGPU",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
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
