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
///
/// A picture with a transparent background (as a canvas exports a
/// drawing: ink opaque, the rest alpha 0) is read from its alpha channel,
/// whatever the colour of the ink; any other is read from its brightness.
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
    let img =
        DynamicImage::from_decoder(decoder).map_err(|e| bad(format!("does not decode: {e}")))?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let canvas = if img.color().has_alpha() {
        let img = img.into_luma_alpha8();
        let alpha: Vec<f32> = img.pixels().map(|p| p.0[1] as f32 / 255.0).collect();
        if mean(&border(&alpha, w, h)) < 0.5 {
            // Transparent is background, ink is where alpha is: the
            // colour of a transparent pixel means nothing (a canvas keeps
            // black there), and the ink may be any colour.
            alpha
        } else {
            brightness_as_ink(img.pixels().map(|p| p.0[0]).collect(), w, h)
        }
    } else {
        let img = img.into_luma8();
        brightness_as_ink(img.into_raw(), w, h)
    };
    digit::preprocess(&canvas, w, h, Steps::MNIST)
}

/// Grey levels as ink: MNIST is light ink on a dark field; most pictures
/// are dark on light. The border is background either way: invert when it
/// is light.
fn brightness_as_ink(luma: Vec<u8>, w: usize, h: usize) -> Vec<f32> {
    let mut canvas: Vec<f32> = luma.into_iter().map(|v| v as f32 / 255.0).collect();
    if mean(&border(&canvas, w, h)) > 0.5 {
        canvas.iter_mut().for_each(|v| *v = 1.0 - *v);
    }
    canvas
}

/// The values on the edge of a `w` x `h` picture.
fn border(canvas: &[f32], w: usize, h: usize) -> Vec<f32> {
    (0..w)
        .flat_map(|x| [canvas[x], canvas[(h - 1) * w + x]])
        .chain((0..h).flat_map(|y| [canvas[y * w], canvas[y * w + w - 1]]))
        .collect()
}

fn mean(v: &[f32]) -> f32 {
    v.iter().sum::<f32>() / v.len() as f32
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, Rgba, RgbaImage};

    /// A thick 7 on a 64x64 field: where `ink` is true.
    fn seven(x: u32, y: u32) -> bool {
        let bar = (12..52).contains(&x) && (10..18).contains(&y);
        // The stroke down from the bar's right end, leaning left.
        let stem = (18..56).contains(&y) && {
            let centre = 48.0 - (y as f32 - 18.0) * 0.45;
            (x as f32 - centre).abs() < 4.5
        };
        bar || stem
    }

    fn png(img: impl Into<DynamicImage>) -> Vec<u8> {
        let mut bytes = Vec::new();
        img.into()
            .write_to(&mut Cursor::new(&mut bytes), ImageFormat::Png)
            .unwrap();
        bytes
    }

    fn on_transparent(ink: [u8; 3]) -> Vec<u8> {
        png(RgbaImage::from_fn(64, 64, |x, y| {
            if seven(x, y) {
                Rgba([ink[0], ink[1], ink[2], 255])
            } else {
                Rgba([0, 0, 0, 0])
            }
        }))
    }

    #[test]
    fn ink_on_a_transparent_background_is_read_from_alpha_whatever_its_colour() {
        // The same drawing, black on white and opaque: the reference.
        let reference = preprocess(&png(GrayImage::from_fn(64, 64, |x, y| {
            Luma([if seven(x, y) { 0 } else { 255 }])
        })))
        .unwrap();
        assert!(reference.input.iter().sum::<f32>() > 20.0);
        for ink in [[0, 0, 0], [255, 255, 255], [200, 30, 40], [20, 90, 230]] {
            let got = preprocess(&on_transparent(ink))
                .unwrap_or_else(|e| panic!("ink {ink:?} on transparent: {e}"));
            assert_eq!(got.bbox, reference.bbox, "ink {ink:?}");
            let diff = got
                .input
                .iter()
                .zip(&reference.input)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-6, "ink {ink:?}: differs by {diff}");
        }
    }

    #[test]
    fn an_opaque_picture_with_alpha_reads_as_before() {
        // Opaque RGBA, dark on light and light on dark: brightness decides,
        // as for a picture without alpha.
        let gray = |fg: u8, bg: u8| {
            preprocess(&png(GrayImage::from_fn(64, 64, |x, y| {
                Luma([if seven(x, y) { fg } else { bg }])
            })))
            .unwrap()
        };
        let rgba = |fg: u8, bg: u8| {
            preprocess(&png(RgbaImage::from_fn(64, 64, |x, y| {
                let v = if seven(x, y) { fg } else { bg };
                Rgba([v, v, v, 255])
            })))
            .unwrap()
        };
        assert_eq!(rgba(0, 255), gray(0, 255));
        assert_eq!(rgba(255, 0), gray(255, 0));
        // A transparent picture with nothing drawn is still empty.
        let blank = png(RgbaImage::from_pixel(64, 64, Rgba([0, 0, 0, 0])));
        assert!(matches!(preprocess(&blank), Err(Error::EmptyDrawing)));
    }
}
