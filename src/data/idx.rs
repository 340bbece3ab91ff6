//! The IDX format of the MNIST files (<http://yann.lecun.com/exdb/mnist/>):
//! a 4-byte magic number `0x00 0x00 type dims`, then `dims` big-endian u32
//! sizes, then the values row-major. MNIST uses two kinds, both of u8
//! (type 0x08): images with 3 dims (count, rows, cols) and labels with 1.
//!
//! Pure functions over bytes, so the page (wasm32) parses a file the person
//! uploads with the same code the command line uses on disk. Every error names
//! the source (a path or a name the caller chose) and what is wrong with it.

use crate::error::{Error, Result};

/// Magic number of an IDX file of u8 values with 3 dims: images.
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of u8 values with 1 dim: labels.
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Images of an IDX file, borrowed from its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Images<'a> {
    pub count: usize,
    pub rows: usize,
    pub cols: usize,
    /// `count * rows * cols` values, image after image, each row-major.
    pub pixels: &'a [u8],
}

/// Parses an IDX image file (magic 0x00000803: count, rows, cols).
pub fn parse_images<'a>(bytes: &'a [u8], source_name: &str) -> Result<Images<'a>> {
    let dims = header(bytes, source_name, IMAGES_MAGIC, "an IDX image file", 3)?;
    let [count, rows, cols] = [dims[0], dims[1], dims[2]];
    let pixels = body(
        bytes,
        source_name,
        &dims,
        &format!("{count} images of {rows}x{cols}"),
    )?;
    Ok(Images {
        count,
        rows,
        cols,
        pixels,
    })
}

/// Parses an IDX label file (magic 0x00000801: count) whose labels are
/// classes `0..=max_label` (9 for MNIST); a label outside that range is an
/// error naming its index, since it would index past the model's outputs.
pub fn parse_labels<'a>(bytes: &'a [u8], source_name: &str, max_label: u8) -> Result<&'a [u8]> {
    let dims = header(bytes, source_name, LABELS_MAGIC, "an IDX label file", 1)?;
    let labels = body(bytes, source_name, &dims, &format!("{} labels", dims[0]))?;
    if let Some((i, &label)) = labels.iter().enumerate().find(|&(_, &l)| l > max_label) {
        return Err(data_err(
            source_name,
            format!("label {label} at index {i} is outside 0..={max_label}"),
        ));
    }
    Ok(labels)
}

fn data_err(source_name: &str, problem: String) -> Error {
    Error::Data {
        source_name: source_name.to_string(),
        problem,
    }
}

/// Checks the magic number and returns the `ndims` sizes after it.
fn header(
    bytes: &[u8],
    source_name: &str,
    magic: u32,
    kind: &str,
    ndims: usize,
) -> Result<Vec<usize>> {
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(data_err(
            source_name,
            format!(
                "truncated: {} bytes, too short for an IDX magic number ({kind})",
                bytes.len()
            ),
        ));
    }
    let found = be_u32(&bytes[..4]);
    if found != magic {
        return Err(data_err(
            source_name,
            format!(
                "wrong magic number 0x{found:08x} (expected 0x{magic:08x}, {kind}){}",
                magic_hint(found)
            ),
        ));
    }
    if bytes.len() < header_len {
        return Err(data_err(
            source_name,
            format!(
                "truncated: the header of {kind} needs {header_len} bytes, the file has {}",
                bytes.len()
            ),
        ));
    }
    Ok(bytes[4..header_len]
        .chunks_exact(4)
        .map(|b| be_u32(b) as usize)
        .collect())
}

/// The values after the header, which must be exactly as many as the sizes
/// say: fewer is a truncated download, more is not the file the header
/// describes.
fn body<'a>(bytes: &'a [u8], source_name: &str, dims: &[usize], what: &str) -> Result<&'a [u8]> {
    let header_len = 4 + 4 * dims.len();
    // Three u32 sizes can overflow wasm32's 32-bit usize: report that as a
    // size this machine cannot hold rather than wrapping around.
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header_len));
    let Some(expected) = expected else {
        return Err(data_err(
            source_name,
            format!("the header says {what}, too large for this machine"),
        ));
    };
    if bytes.len() != expected {
        let how = if bytes.len() < expected {
            "truncated"
        } else {
            "trailing bytes"
        };
        return Err(data_err(
            source_name,
            format!(
                "{how}: the header says {expected} bytes ({what} plus the {header_len}-byte header), the file has {}",
                bytes.len()
            ),
        ));
    }
    Ok(&bytes[header_len..])
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A hint for the mix-ups that happen in practice: the other IDX kind, or the
/// `.gz` file as downloaded from the MNIST site.
fn magic_hint(found: u32) -> &'static str {
    match found {
        IMAGES_MAGIC => "; this is an IDX image file",
        LABELS_MAGIC => "; this is an IDX label file",
        m if m >> 16 == 0x1f8b => "; this is gzip-compressed: gunzip it first",
        _ => "",
    }
}
