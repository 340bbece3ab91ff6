//! A picture of a digit (PNG or JPEG bytes: a photo, a scan, an upload) as
//! the model's input, through the same preprocessing as a drawing.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::data::digit::{self, Preprocessed, Steps};
use crate::error::{Error, Result};

/// The longest side accepted. A digit needs a few hundred pixels at most;
/// a small file can claim a vast image (a decompression bomb), so the size
/// is read from the header and checked before any pixel is decoded.
pub const MAX_SIDE: u32 = 4096;

/// Decode `bytes` (PNG or JPEG, told apart by their contents), turn it into
/// light ink on a dark field and preprocess it by MNIST's recipe.
pub fn preprocess(bytes: &[u8]) -> Result<Preprocessed> {
    let bad = |problem: String| Error::Input {
        what: "image",
        problem,
    };
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| bad(e.to_string()))?;
    match reader.format() {
        Some(ImageFormat::Png | ImageFormat::Jpeg) => {}
        Some(f) => return Err(bad(format!("{f:?} is not accepted: send a PNG or a JPEG"))),
        None => return Err(bad("not a PNG or JPEG file".into())),
    }
    let decoder = reader
        .into_decoder()
        .map_err(|e| bad(format!("unreadable header: {e}")))?;
    let (w, h) = decoder.dimensions();
    if w == 0 || h == 0 {
        return Err(bad(format!("{w}x{h} pixels: there is no picture")));
    }
    if w.max(h) > MAX_SIDE {
        return Err(bad(format!(
            "{w}x{h} pixels is too large: at most {MAX_SIDE} on a side"
        )));
    }
    let img = DynamicImage::from_decoder(decoder)
        .map_err(|e| bad(format!("does not decode: {e}")))?
        .into_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut canvas: Vec<f32> = img.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
    // MNIST is light ink on a dark field; most pictures are dark on light.
    // The border is background either way: invert when it is light.
    let border: Vec<f32> = (0..w)
        .flat_map(|x| [canvas[x], canvas[(h - 1) * w + x]])
        .chain((0..h).flat_map(|y| [canvas[y * w], canvas[y * w + w - 1]]))
        .collect();
    if border.iter().sum::<f32>() / border.len() as f32 > 0.5 {
        canvas.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    digit::preprocess(&canvas, w, h, Steps::MNIST)
}
