#![cfg(not(target_arch = "wasm32"))]
//! The fast CPU backend (im2col + SGEMM) against the plain-loop
//! twins it must agree with: every op on the shared self-test cases, then
//! whole training steps of the digit classifier.

use neuralpad::backend::Act;
use neuralpad::cpu::fast::FastCpuBackend;
use neuralpad::nn::classifier::{Classifier, PIXELS};
use neuralpad::nn::network::Mode;
use neuralpad::selftest::{self, DIMS, OPS};
use neuralpad::shapes::AdamConfig;
use neuralpad::train::adam::Adam;
use neuralpad::{Backend, CpuBackend};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn assert_all_pass(results: &[selftest::Comparison]) {
    for r in results {
        eprintln!("{r}");
    }
    let failed: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(ToString::to_string)
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} comparisons failed:\n{}",
        failed.len(),
        results.len(),
        failed.join("\n")
    );
}

#[test]
fn every_op_matches_its_plain_loop_twin() {
    let fast = FastCpuBackend::default();
    let results =
        pollster::block_on(selftest::compare_all(&fast, &CpuBackend, &DIMS, 1)).expect("ops ran");
    assert_eq!(results.len(), OPS.len() * DIMS.len());
    assert_all_pass(&results);
}

#[test]
fn scratch_reuse_across_shapes_agrees_too() {
    // One backend runs every case with a second seed, so its scratch buffers
    // are reused from larger shapes to smaller ones and back: stale values
    // left in them must never leak into a result.
    let fast = FastCpuBackend::default();
    let mut results = Vec::new();
    for dims in DIMS.iter().rev().chain(&DIMS) {
        for op in OPS {
            results.push(
                pollster::block_on(selftest::compare(&fast, &CpuBackend, op, *dims, 0xC0FFEE))
                    .expect("op ran"),
            );
        }
    }
    assert_all_pass(&results);
}

#[test]
fn the_ops_shared_over_threads_match_too() {
    // The self-test shapes are too small for attention and GELU to be cut
    // over the threads (threads::SHARE_MACS): at a Transformer's shape they
    // are, each block of rows on its own thread, and must still agree.
    // Attention: 8 rows of 64 steps, 4 heads of 32 (8 * 4 * 64 * 64 * 32 =
    // 4.2 million multiply-adds a product); GELU: 131,072 values.
    let dims = selftest::Dims {
        n: 8,
        c: 32,
        h: 64,
        w: 8,
        o: 1,
        k: 1,
        pool: 4,
    };
    let fast = FastCpuBackend::default();
    let ops = OPS.iter().filter(|op| {
        let name = op.entry();
        name.starts_with("attention") || name.starts_with("gelu")
    });
    let mut results = Vec::new();
    for &op in ops {
        results.push(
            pollster::block_on(selftest::compare(&fast, &CpuBackend, op, dims, 7)).expect("op ran"),
        );
    }
    assert_eq!(results.len(), 9);
    assert_all_pass(&results);
}

#[test]
fn a_shape_error_names_the_op() {
    let fast = FastCpuBackend::default();
    let x = fast.zeros(&[1, 2, 5, 5]);
    let w = fast.zeros(&[4, 3, 3, 3]);
    let b = fast.zeros(&[4]);
    let mut y = fast.zeros(&[1, 4, 3, 3]);
    let e = fast
        .conv2d_forward(&x, &w, &b, &mut y, Act::Relu)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("conv2d_forward") && e.contains("[4, 3, 3, 3]"),
        "{e}"
    );
}

#[test]
fn ties_and_nan_resolve_as_in_the_twins() {
    // Random inputs never tie; relu outputs do (conv2's pools see windows of
    // zeros), and a diverging run brings NaN. x is [1, 1, 4, 5]; its 2x2
    // windows: all equal (the first tap wins); NaN first (it is never
    // beaten, since v > NaN is false); NaN later (it never wins); a tie
    // between the bottom taps (the left one wins). Column 4 lies outside
    // every window: its 9s must never appear. relu_backward reads x as y.
    const NAN: f32 = f32::NAN;
    let x = [
        1.0, 1.0, NAN, 5.0, 9.0, //
        1.0, 1.0, 0.0, 3.0, 9.0, //
        2.0, NAN, 0.0, -3.0, 9.0, //
        -1.0, 0.0, 4.0, 4.0, 9.0,
    ];
    fn run<B: Backend>(be: &B, x: &[f32]) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
        let xt = be.tensor(&[1, 1, 4, 5], x).expect("x");
        let mut y = be.zeros(&[1, 1, 2, 2]);
        let mut arg = be.indices(&[0; 4]);
        be.max_pool2d_forward(&xt, &mut y, &mut arg, 2)
            .expect("pool");
        let mut grad = be.tensor(&[20], &[1.0; 20]).expect("grad");
        let yflat = be.tensor(&[20], x).expect("y");
        be.relu_backward(&yflat, &mut grad).expect("relu");
        let read = pollster::block_on(be.read(&[&y, &grad])).expect("read");
        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect();
        (
            bits(&read[0]),
            pollster::block_on(be.read_indices(&arg)).expect("argmax"),
            bits(&read[1]),
        )
    }
    let fast = run(&FastCpuBackend::default(), &x);
    // Where in its window each winner described above is (ky * 2 + kx).
    assert_eq!(fast.1, [0, 0, 0, 2]);
    assert_eq!(fast, run(&CpuBackend, &x));
}

/// Mean losses of `steps` Adam steps of the digit classifier on `be`, from
/// the same initial weights and batch whatever the backend.
fn losses<B: Backend>(be: &B, steps: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut model = Classifier::seed_digits(be, &mut rng).expect("model");
    let mut opt = Adam::new(AdamConfig::default());
    let batch = 32;
    let images: Vec<f32> = (0..batch * PIXELS).map(|_| rng.random::<f32>()).collect();
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    (0..steps)
        .map(|_| {
            let stats =
                pollster::block_on(
                    model.train_step(be, &images, &labels, Mode::Infer, |be, p| opt.update(be, p)),
                )
                .expect("train step");
            stats.loss
        })
        .collect()
}

#[test]
fn training_steps_give_the_same_losses() {
    // Five steps on one batch: the loss falls from about ln 10 = 2.3 as the
    // model memorises it, so a wrong gradient shows as a different curve.
    // Sums taken in another order round differently (~1e-7 relative per
    // op); over five steps the two curves have stayed within 3e-7 of each
    // other. 1e-4 leaves a wide margin and still catches a gradient bug,
    // which moves the loss in the second or third decimal.
    let (fast, plain) = (
        losses(&FastCpuBackend::default(), 5),
        losses(&CpuBackend, 5),
    );
    eprintln!("fast  {fast:?}\nplain {plain:?}");
    assert!(plain[4] < plain[0], "the loss falls: {plain:?}");
    for (step, (a, b)) in fast.iter().zip(&plain).enumerate() {
        assert!(
            (a - b).abs() <= 1e-4 * b.abs(),
            "step {step}: fast loss {a} vs plain {b}"
        );
    }
}
