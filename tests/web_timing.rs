#![cfg(target_arch = "wasm32")]
// TEMPORARY: per-op times of one digit training step (batch 32) on Chromium's WebGPU.
use neuralpad::{Backend, GpuBackend};
use wasm_bindgen_test::*;
wasm_bindgen_test_configure!(run_in_browser);

fn now() -> f64 { web_sys::window().unwrap().performance().unwrap().now() }

async fn time(log: &mut Vec<String>, be: &GpuBackend, probe: &<GpuBackend as Backend>::Tensor, name: &str, mut f: impl FnMut()) {
    f();
    be.read(&[probe]).await.unwrap();
    let mut v = vec![];
    for _ in 0..3 {
        let t = now();
        f();
        be.read(&[probe]).await.unwrap();
        v.push(now() - t);
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    log.push(format!("{name}: {:.1} ms", v[1]));
}

#[wasm_bindgen_test]
async fn step_parts() {
    let be = GpuBackend::new().await.unwrap();
    let n = 32;
    let probe = be.zeros(&[1]);
    let mut log = Vec::new();
    let x = be.tensor(&[n, 1, 28, 28], &vec![0.5; n * 784]).unwrap();
    let w1 = be.tensor(&[32, 1, 3, 3], &vec![0.1; 288]).unwrap();
    let b1 = be.zeros(&[32]);
    let mut c1 = be.zeros(&[n, 32, 26, 26]);
    let p1 = be.tensor(&[n, 32, 13, 13], &vec![0.5; n * 32 * 169]).unwrap();
    let w2 = be.tensor(&[64, 32, 3, 3], &vec![0.1; 64 * 288]).unwrap();
    let b2 = be.zeros(&[64]);
    let mut c2 = be.zeros(&[n, 64, 11, 11]);
    let mut dp1 = be.zeros(&[n, 32, 13, 13]);
    let dc2 = be.tensor(&[n, 64, 11, 11], &vec![0.5; n * 64 * 121]).unwrap();
    let dc1 = be.tensor(&[n, 32, 26, 26], &vec![0.5; n * 32 * 676]).unwrap();
    let mut dw2 = be.zeros(&[64, 32, 3, 3]);
    let mut dw1 = be.zeros(&[32, 1, 3, 3]);
    let mut db2 = be.zeros(&[64]);
    let f = be.tensor(&[n, 1600], &vec![0.5; n * 1600]).unwrap();
    let wf = be.tensor(&[64, 1600], &vec![0.01; 64 * 1600]).unwrap();
    let bf = be.zeros(&[64]);
    let mut h = be.zeros(&[n, 64]);
    let dh = be.tensor(&[n, 64], &vec![0.5; n * 64]).unwrap();
    let mut df = be.zeros(&[n, 1600]);
    let mut dwf = be.zeros(&[64, 1600]);
    time(&mut log, &be, &probe, "empty", || {}).await;
    time(&mut log, &be, &probe, "conv1 fwd", || be.conv2d_forward(&x, &w1, &b1, &mut c1, true).unwrap()).await;
    time(&mut log, &be, &probe, "conv2 fwd", || be.conv2d_forward(&p1, &w2, &b2, &mut c2, true).unwrap()).await;
    time(&mut log, &be, &probe, "conv2 bwd input", || be.conv2d_backward_input(&dc2, &w2, &mut dp1).unwrap()).await;
    time(&mut log, &be, &probe, "conv2 bwd weight", || be.conv2d_backward_weight(&p1, &dc2, &mut dw2).unwrap()).await;
    time(&mut log, &be, &probe, "conv2 bwd bias", || be.conv2d_backward_bias(&dc2, &mut db2).unwrap()).await;
    time(&mut log, &be, &probe, "conv1 bwd weight", || be.conv2d_backward_weight(&x, &dc1, &mut dw1).unwrap()).await;
    time(&mut log, &be, &probe, "fc1 fwd", || be.dense_forward(&f, &wf, &bf, &mut h, true).unwrap()).await;
    time(&mut log, &be, &probe, "fc1 bwd input", || be.dense_backward_input(&dh, &wf, &mut df).unwrap()).await;
    time(&mut log, &be, &probe, "fc1 bwd weight", || be.dense_backward_weight(&f, &dh, &mut dwf).unwrap()).await;
    panic!("TIMES\n{}", log.join("\n"));
}
