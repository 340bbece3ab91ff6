#![cfg(not(target_arch = "wasm32"))]
//! Every WGSL entry point against its CPU twin on wgpu's native backend: on a
//! machine without a GPU that is Mesa's lavapipe (a real Vulkan device). No
//! adapter is a failure, never a skip: these tests exist to run the shaders.

use neuralpad::selftest::{self, DIMS, OPS};
use neuralpad::{Backend, CpuBackend, GpuBackend};

fn gpu() -> GpuBackend {
    match pollster::block_on(GpuBackend::new()) {
        Ok(g) => g,
        Err(e) => {
            panic!("GPU tests need a Vulkan adapter (apt-get install mesa-vulkan-drivers): {e}")
        }
    }
}

#[test]
fn every_kernel_matches_its_cpu_twin() {
    let gpu = gpu();
    eprintln!("adapter: {}", gpu.name());
    let results = pollster::block_on(selftest::compare_all(&gpu, &CpuBackend, &DIMS, 1))
        .expect("kernels ran");
    assert_eq!(results.len(), OPS.len() * DIMS.len());
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(ToString::to_string)
        .collect();
    for r in &results {
        eprintln!("{r}");
    }
    assert!(
        failed.is_empty(),
        "{} of {} comparisons failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

#[test]
fn a_fresh_seed_agrees_too() {
    // A second seed at the largest odd shape guards against a lucky draw.
    let gpu = gpu();
    let dims = DIMS[DIMS.len() - 1];
    for op in OPS {
        let r = pollster::block_on(selftest::compare(&gpu, &CpuBackend, op, dims, 0xC0FFEE))
            .expect("kernel ran");
        assert!(r.passed(), "{r}");
    }
}

#[test]
fn a_shape_error_reaches_the_caller_and_the_device_keeps_working() {
    let gpu = gpu();
    let x = gpu.zeros(&[2, 5]);
    let w = gpu.zeros(&[3, 4]);
    let b = gpu.zeros(&[3]);
    let mut y = gpu.zeros(&[2, 3]);
    let e = gpu
        .dense_forward(&x, &w, &b, &mut y, false)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dense_forward") && e.contains("[3, 4]") && e.contains("[2, 5]"),
        "{e}"
    );
    let w = gpu.tensor(&[3, 5], &[1.0; 15]).unwrap();
    let x = gpu.tensor(&[2, 5], &[1.0; 10]).unwrap();
    gpu.dense_forward(&x, &w, &b, &mut y, false).unwrap();
    let out = pollster::block_on(gpu.read(&[&y])).unwrap();
    assert_eq!(out[0], vec![5.0; 6]);
}
