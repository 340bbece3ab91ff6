//! A person's drawing turned into an MNIST image, the way MNIST's own digits
//! were made (LeCun et al.): the digit's bounding box, scaled so that its
//! longer side is 20 pixels keeping the aspect ratio (anti-aliased: here by
//! area averaging, so thin strokes turn grey as in MNIST), then placed in a
//! 28x28 field with its centre of mass at the field's centre.
//!
//! The page and the command line both call [`preprocess`]; each step is also
//! a public function, and [`Preprocessed`] keeps every intermediate, so the
//! page can show what each step does. [`Steps`] turns steps off to show why
//! each one matters.
//!
//! Pictures are grayscale, row-major `f32`, ink 1.0 and paper 0.0: the
//! caller converts its canvas or file (inverting dark-on-light). The result
//! is on the training scale of [`super::mnist::normalize`]: ink 1.0.
//!
//! Coordinates are pixel indices: (x, y) is the centre of pixel x of row y.
//! MNIST puts each digit's centre of mass on pixel (14, 14), half a pixel
//! right of and below the field's geometric middle (13.5, 13.5): measured
//! over the 10,000 test digits the mean is (14.01, 13.99).

use crate::error::{Error, Result};

/// Side of an MNIST image.
pub const FIELD: usize = 28;
/// Side of the box MNIST scales each digit into, inside the 28x28 field.
pub const BOX: usize = 20;

/// A pixel is ink, for the bounding box, above this value. Low enough to
/// keep the grey, anti-aliased edge of a stroke (MNIST's boxes hold every
/// pixel of the digit: 0.05 would reproduce its enlarged test digits a
/// little more often, see tests/digit_preprocess.rs), high enough that a
/// faint smudge or the halo of a blurred stroke does not widen the box.
pub const INK_THRESHOLD: f32 = 0.1;

/// A drawing is empty when its ink mass (sum of values) is below this
/// fraction of the canvas area. MNIST's lightest digit has a mass of 2.5% of
/// its 28x28 area (measured over all 70,000); a fifth of that still admits
/// a thin digit drawn at a third of the canvas's height (a "1" 93 px tall
/// with a 15 px brush on 280x280 is 1.8%), while a dot of a 20 px brush
/// (0.4%) or a stray pixel is empty.
pub const MIN_INK_FRACTION: f32 = 0.005;

/// A grayscale picture, row-major, ink 1.0 and paper 0.0.
#[derive(Clone, Debug, PartialEq)]
pub struct Gray {
    pub width: usize,
    pub height: usize,
    /// `width * height` values.
    pub pixels: Vec<f32>,
}

/// The smallest rectangle holding every ink pixel, in canvas pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoundingBox {
    pub x: usize,
    pub y: usize,
    pub width: usize,
    pub height: usize,
}

/// Which steps [`preprocess`] applies. All on is MNIST's recipe; all off is
/// a plain downscale of the whole canvas to 28x28.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Steps {
    /// Cut the canvas to the bounding box of the ink; off keeps the whole
    /// canvas, so a digit drawn small stays small.
    pub crop: bool,
    /// Scale so that the longer side is 20 pixels keeping the aspect ratio;
    /// off stretches the picture to fill 28x28, so a "1" grows fat.
    pub fit: bool,
    /// Place by the centre of mass; off puts the middle of the picture's
    /// box there instead, which shifts a digit with a heavy side (a "7", a
    /// "9") away from where MNIST has it.
    pub center: bool,
}

impl Steps {
    /// MNIST's recipe, what the model was trained on.
    pub const MNIST: Steps = Steps {
        crop: true,
        fit: true,
        center: true,
    };
    /// The whole canvas downscaled to 28x28 and nothing else.
    pub const NONE: Steps = Steps {
        crop: false,
        fit: false,
        center: false,
    };
}

impl Default for Steps {
    fn default() -> Steps {
        Steps::MNIST
    }
}

/// Every intermediate of [`preprocess`], for a view to show.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessed {
    /// The ink's bounding box on the canvas (found even when not cropping:
    /// it also decides whether the drawing is empty).
    pub bbox: BoundingBox,
    /// The bounding box's contents, or the whole canvas when not cropping.
    pub cropped: Gray,
    /// `cropped` scaled: longer side 20 (fit), or 28x28 (no fit).
    pub fitted: Gray,
    /// The centre of mass of `fitted`.
    pub center_of_mass: (f32, f32),
    /// Where `fitted`'s top-left pixel went in the 28x28 field: see
    /// [`mass_offset`] and, when not centring, [`box_offset`].
    pub offset: (isize, isize),
    /// The model's input: 28x28 row-major, values in 0..=1.
    pub input: [f32; FIELD * FIELD],
}

/// The drawing as the model sees it, by MNIST's recipe (all steps on) or
/// with some steps off. `canvas` is `width * height` values, ink 1.0; values
/// outside 0..=1 (and NaN) are clamped into it. An empty or nearly empty
/// canvas (see [`MIN_INK_FRACTION`]) is [`Error::EmptyDrawing`].
pub fn preprocess(
    canvas: &[f32],
    width: usize,
    height: usize,
    steps: Steps,
) -> Result<Preprocessed> {
    if canvas.len() != width * height {
        return Err(Error::DataLength {
            op: "preprocess",
            len: canvas.len(),
            shape: vec![height, width],
            expected: width * height,
        });
    }
    // NaN fails `v > 0.0` and becomes paper instead of spreading through
    // the averages (`clamp` would keep it).
    let canvas: Vec<f32> = canvas
        .iter()
        .map(|&v| if v > 0.0 { v.min(1.0) } else { 0.0 })
        .collect();
    let bbox = bounding_box(&canvas, width, height).ok_or(Error::EmptyDrawing)?;
    let cropped = if steps.crop {
        crop(&canvas, width, bbox)
    } else {
        Gray {
            width,
            height,
            pixels: canvas,
        }
    };
    let fitted = if steps.fit {
        fit_20x20(&cropped)
    } else {
        resample(&cropped, FIELD, FIELD)
    };
    let center_of_mass = center_of_mass(&fitted);
    let offset = if steps.center {
        mass_offset(center_of_mass)
    } else {
        box_offset(&fitted)
    };
    let input = place_28x28(&fitted, offset);
    Ok(Preprocessed {
        bbox,
        cropped,
        fitted,
        center_of_mass,
        offset,
        input,
    })
}

/// The bounding box of the pixels above [`INK_THRESHOLD`] in a canvas of
/// `width * height` values; `None` when its ink mass is below
/// [`MIN_INK_FRACTION`] of its area or no pixel is above the threshold (the
/// caller reports [`Error::EmptyDrawing`]).
pub fn bounding_box(canvas: &[f32], width: usize, height: usize) -> Option<BoundingBox> {
    let mass: f32 = canvas.iter().sum();
    if mass < MIN_INK_FRACTION * (width * height) as f32 {
        return None;
    }
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for y in 0..height {
        for x in 0..width {
            if canvas[y * width + x] > INK_THRESHOLD {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    // Enough faint ink for the mass test, but no pixel dark enough to count.
    if x1 == 0 {
        return None;
    }
    Some(BoundingBox {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    })
}

/// The part of a `width`-wide canvas inside `bbox`, which must lie within
/// the canvas (as the box of [`bounding_box`] does).
pub fn crop(canvas: &[f32], width: usize, bbox: BoundingBox) -> Gray {
    let pixels = (bbox.y..bbox.y + bbox.height)
        .flat_map(|y| &canvas[y * width + bbox.x..y * width + bbox.x + bbox.width])
        .copied()
        .collect();
    Gray {
        width: bbox.width,
        height: bbox.height,
        pixels,
    }
}

/// Scaled so that the longer side is [`BOX`] (20) pixels and the other keeps
/// the aspect ratio (rounded, at least 1 pixel).
pub fn fit_20x20(image: &Gray) -> Gray {
    let longer = image.width.max(image.height) as f32;
    let side = |n: usize| ((n as f32 * BOX as f32 / longer).round() as usize).clamp(1, BOX);
    resample(image, side(image.width), side(image.height))
}

/// Scaled to `width` x `height` by area averaging: each new pixel is the
/// mean of the old picture over the square it covers, so shrinking a thin
/// stroke turns it grey instead of dropping it, and the mean value is kept.
/// (Enlarging copies pixels, blending where a new pixel straddles two.)
pub fn resample(image: &Gray, width: usize, height: usize) -> Gray {
    let taps_x = area_weights(image.width, width);
    let taps_y = area_weights(image.height, height);
    // Rows first: image.height rows of the new width. (`max(1)` here and
    // below: a picture with no pixels has no rows to visit, and
    // `chunks_exact(0)` would panic.)
    let mut rows = vec![0.0f32; image.height * width];
    for (src, dst) in image
        .pixels
        .chunks_exact(image.width.max(1))
        .zip(rows.chunks_exact_mut(width.max(1)))
    {
        for (d, taps) in dst.iter_mut().zip(&taps_x) {
            *d = taps.iter().map(|&(i, w)| w * src[i]).sum();
        }
    }
    let mut pixels = vec![0.0f32; width * height];
    for (dst, taps) in pixels.chunks_exact_mut(width.max(1)).zip(&taps_y) {
        for (x, d) in dst.iter_mut().enumerate() {
            let v: f32 = taps.iter().map(|&(i, w)| w * rows[i * width + x]).sum();
            // The weights sum to 1 only up to rounding: keep ink at most 1.
            *d = v.min(1.0);
        }
    }
    Gray {
        width,
        height,
        pixels,
    }
}

/// For each of `n_out` new pixels, the old pixels it covers and their
/// weights: new pixel o covers [o * s, (o + 1) * s) of the old axis, with
/// s = n_in / n_out, and each old pixel weighs its overlap divided by s.
fn area_weights(n_in: usize, n_out: usize) -> Vec<Vec<(usize, f32)>> {
    let s = n_in as f64 / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (lo, hi) = (o as f64 * s, (o + 1) as f64 * s);
            let first = lo.floor() as usize;
            let last = (hi.ceil() as usize).min(n_in);
            (first..last)
                .map(|i| {
                    let overlap = hi.min(i as f64 + 1.0) - lo.max(i as f64);
                    (i, (overlap / s) as f32)
                })
                .filter(|&(_, w)| w > 0.0)
                .collect()
        })
        .collect()
}

/// The centre of mass (x, y) in pixel indices; the middle of the picture
/// for a picture without ink.
pub fn center_of_mass(image: &Gray) -> (f32, f32) {
    let (mut mass, mut mx, mut my) = (0.0f64, 0.0f64, 0.0f64);
    for (y, row) in image.pixels.chunks_exact(image.width.max(1)).enumerate() {
        for (x, &v) in row.iter().enumerate() {
            let v = f64::from(v);
            mass += v;
            mx += v * x as f64;
            my += v * y as f64;
        }
    }
    if mass > 0.0 {
        ((mx / mass) as f32, (my / mass) as f32)
    } else {
        (
            (image.width as f32 - 1.0) / 2.0,
            (image.height as f32 - 1.0) / 2.0,
        )
    }
}

/// The offset that moves a picture's centre of mass `com` onto pixel
/// (14, 14), MNIST's centre, rounded to whole pixels (a fractional shift
/// would blur the digit once more): the mass ends within half a pixel of it.
pub fn mass_offset(com: (f32, f32)) -> (isize, isize) {
    let centre = (FIELD / 2) as f32;
    (
        (centre - com.0).round() as isize,
        (centre - com.1).round() as isize,
    )
}

/// The offset that centres the picture's box in the 28x28 field (0 for a
/// 28x28 picture, 4 for a side of 20).
pub fn box_offset(image: &Gray) -> (isize, isize) {
    (
        (FIELD as isize - image.width as isize) / 2,
        (FIELD as isize - image.height as isize) / 2,
    )
}

/// `image` pasted into a 28x28 field with its top-left pixel at `offset`
/// (which may be negative); ink that falls outside the field is cut off.
pub fn place_28x28(image: &Gray, (dx, dy): (isize, isize)) -> [f32; FIELD * FIELD] {
    let mut field = [0.0f32; FIELD * FIELD];
    for (y, row) in image.pixels.chunks_exact(image.width.max(1)).enumerate() {
        let fy = y as isize + dy;
        if !(0..FIELD as isize).contains(&fy) {
            continue;
        }
        for (x, &v) in row.iter().enumerate() {
            let fx = x as isize + dx;
            if (0..FIELD as isize).contains(&fx) {
                field[fy as usize * FIELD + fx as usize] = v;
            }
        }
    }
    field
}
