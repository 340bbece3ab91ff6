#![cfg(not(target_arch = "wasm32"))]
//! Every WGSL entry point against its CPU twin on wgpu's native backend: on a
//! machine without a GPU that is Mesa's lavapipe (a real Vulkan device). No
//! adapter is a failure, never a skip: these tests exist to run the shaders.

use neuralpad::backend::Act;
use neuralpad::gpu::kernels::KERNELS;
use neuralpad::selftest::{self, DIMS, OPS, TESTED_AS};
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
        .dense_forward(&x, &w, &b, &mut y, Act::Linear)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("dense_forward") && e.contains("[3, 4]") && e.contains("[2, 5]"),
        "{e}"
    );
    let w = gpu.tensor(&[3, 5], &[1.0; 15]).unwrap();
    let x = gpu.tensor(&[2, 5], &[1.0; 10]).unwrap();
    gpu.dense_forward(&x, &w, &b, &mut y, Act::Linear).unwrap();
    let out = pollster::block_on(gpu.read(&[&y])).unwrap();
    assert_eq!(out[0], vec![5.0; 6]);
}

#[test]
fn every_entry_point_has_a_self_test_case() {
    // Needs no device: the table of entry points against the ops the
    // self-test runs (the page's, the browser's and these tests').
    for kernel in KERNELS {
        let tested = OPS.iter().any(|op| op.entry() == kernel.entry)
            || TESTED_AS.iter().any(|(entry, _)| *entry == kernel.entry);
        assert!(
            tested,
            "{} has no case in src/selftest.rs: add an Op for it",
            kernel.entry
        );
    }
    for op in OPS {
        assert!(
            KERNELS.iter().any(|k| k.entry == op.entry()),
            "selftest op {} names no WGSL entry point",
            op.entry()
        );
    }
}

#[test]
fn bad_shapes_are_refused_alike_on_every_backend() {
    // Checks once, kernels many: the same shape check runs before each
    // backend's kernel, so the messages are the same.
    let gpu = gpu();
    let fast = neuralpad::FastCpuBackend::default();
    fn pool_error<B: Backend>(be: &B) -> String {
        let x = be.zeros(&[1, 2, 3, 3]);
        let mut y = be.zeros(&[1, 2, 2, 2]);
        let mut arg = be.indices(&[0; 8]);
        be.max_pool2d_forward(&x, &mut y, &mut arg, 2)
            .unwrap_err()
            .to_string()
    }
    let cpu = pool_error(&CpuBackend);
    assert!(
        cpu.contains("max_pool2d_forward") && cpu.contains("[1, 2, 1, 1]"),
        "{cpu}"
    );
    assert_eq!(pool_error(&gpu), cpu);
    assert_eq!(pool_error(&fast), cpu);
}
