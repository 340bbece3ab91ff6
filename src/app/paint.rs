//! Drawing numbers onto canvases: feature maps as image grids, the gate
//! heatmap, small images of the preprocessing steps. Values become colours
//! through one colour map, so bright always means large.

use wasm_bindgen::{Clamped, JsCast};
use web_sys::{CanvasRenderingContext2d, HtmlCanvasElement, ImageData, MouseEvent};

/// The 2-D context of a canvas.
pub fn context(canvas: &HtmlCanvasElement) -> Option<CanvasRenderingContext2d> {
    canvas
        .get_context("2d")
        .ok()
        .flatten()
        .and_then(|c| c.dyn_into().ok())
}

/// Blue (0) through teal and green to yellow (1), like viridis: ordered in
/// lightness, so it also reads in greyscale and for colour-blind eyes.
pub fn colour(v: f32) -> [u8; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [68.0, 1.0, 84.0],
        [59.0, 82.0, 139.0],
        [33.0, 145.0, 140.0],
        [94.0, 201.0, 98.0],
        [253.0, 231.0, 37.0],
    ];
    let v = if v.is_finite() {
        v.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (v.floor() as usize).min(3);
    let t = v - i as f32;
    let mut out = [0u8; 3];
    for (k, o) in out.iter_mut().enumerate() {
        *o = (STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * t) as u8;
    }
    out
}

/// An RGBA buffer of `width` x `height`, painted onto the canvas, which is
/// resized to match (CSS scales it up with crisp pixels).
pub fn put(canvas: &HtmlCanvasElement, width: usize, height: usize, rgba: &[u8]) {
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let Some(ctx) = context(canvas) else { return };
    if let Ok(img) =
        ImageData::new_with_u8_clamped_array_and_sh(Clamped(rgba), width as u32, height as u32)
    {
        let _ = ctx.put_image_data(&img, 0.0, 0.0);
    }
}

/// `count` maps of `side` x `side` values (laid out one after another, as a
/// [count, side, side] tensor) in a grid of `cols` columns with 1-pixel
/// gaps. Maps larger than one value are each scaled by their own largest
/// value, so a weak map still shows its pattern (a map that is all zero
/// stays dark); single values (dense units, outputs) share one scale, so
/// they compare with each other.
pub fn grid(canvas: &HtmlCanvasElement, values: &[f32], count: usize, side: usize, cols: usize) {
    let layer_max = values.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
    let rows = count.div_ceil(cols);
    let (w, h) = (cols * (side + 1) - 1, rows * (side + 1) - 1);
    let mut rgba = vec![255u8; w * h * 4];
    for m in 0..count {
        let map =
            &values[(m * side * side).min(values.len())..((m + 1) * side * side).min(values.len())];
        let max = if side == 1 {
            layer_max
        } else {
            map.iter().fold(0.0f32, |a, &b| a.max(b.abs()))
        };
        let (ox, oy) = ((m % cols) * (side + 1), (m / cols) * (side + 1));
        for (k, &v) in map.iter().enumerate() {
            let (x, y) = (ox + k % side, oy + k / side);
            let c = colour(if max > 0.0 { v / max } else { 0.0 });
            let at = (y * w + x) * 4;
            rgba[at..at + 3].copy_from_slice(&c);
        }
    }
    put(canvas, w, h, &rgba);
}

/// Signed values (filters) on a blue-white-red scale, one grid cell per
/// `side` x `side` kernel, all scaled by the largest magnitude.
pub fn signed_grid(
    canvas: &HtmlCanvasElement,
    values: &[f32],
    count: usize,
    side: usize,
    cols: usize,
) {
    let rows = count.div_ceil(cols);
    let (w, h) = (cols * (side + 1) - 1, rows * (side + 1) - 1);
    let mut rgba = vec![255u8; w * h * 4];
    let max = values
        .iter()
        .fold(0.0f32, |a, &b| a.max(b.abs()))
        .max(1e-12);
    for (k, &v) in values.iter().enumerate().take(count * side * side) {
        let (m, p) = (k / (side * side), k % (side * side));
        let (x, y) = (
            (m % cols) * (side + 1) + p % side,
            (m / cols) * (side + 1) + p / side,
        );
        let t = (v / max).clamp(-1.0, 1.0);
        let fade = (255.0 * (1.0 - t.abs())) as u8;
        let c = if t >= 0.0 {
            [255, fade, fade]
        } else {
            [fade, fade, 255]
        };
        let at = (y * w + x) * 4;
        rgba[at..at + 3].copy_from_slice(&c);
    }
    put(canvas, w, h, &rgba);
}

/// A grey image with values in 0..1 (white ink on black, as MNIST).
pub fn grey(canvas: &HtmlCanvasElement, width: usize, height: usize, values: &[f32]) {
    let mut rgba = vec![255u8; width * height * 4];
    for (k, &v) in values.iter().enumerate().take(width * height) {
        let g = (v.clamp(0.0, 1.0) * 255.0) as u8;
        rgba[k * 4..k * 4 + 3].copy_from_slice(&[g, g, g]);
    }
    put(canvas, width, height, &rgba);
}

/// Where the pointer of `ev` is on `canvas`, in the canvas's own pixels
/// (it is drawn small and shown scaled up, not always alike both ways).
pub fn pointer_pixel(canvas: &HtmlCanvasElement, ev: &MouseEvent) -> (usize, usize) {
    let rect = canvas.get_bounding_client_rect();
    let along = |at: i32, start: f64, shown: f64, pixels: u32| {
        ((at as f64 - start) * pixels as f64 / shown.max(1.0)).max(0.0) as usize
    };
    (
        along(ev.client_x(), rect.left(), rect.width(), canvas.width()),
        along(ev.client_y(), rect.top(), rect.height(), canvas.height()),
    )
}

/// The cell of a [`grid`] / [`signed_grid`] layout at canvas pixel (x, y):
/// (map, row, column) within `count` maps of `side` x `side` in `cols`
/// columns; None on a gap or past the last map.
pub fn grid_cell(
    (x, y): (usize, usize),
    count: usize,
    side: usize,
    cols: usize,
) -> Option<(usize, usize, usize)> {
    let cell = side + 1;
    let (map, row, col) = ((y / cell) * cols + x / cell, y % cell, x % cell);
    (row < side && col < side && map < count).then_some((map, row, col))
}

/// The canvas pixel of (map, row, column) in a [`grid`] layout: the
/// inverse of [`grid_cell`].
pub fn grid_pixel(
    (map, row, col): (usize, usize, usize),
    side: usize,
    cols: usize,
) -> (usize, usize) {
    (
        (map % cols) * (side + 1) + col,
        (map / cols) * (side + 1) + row,
    )
}

/// CSS that places a box over cell (x, y) of a `width` x `height` grid of
/// cells, in percent, so an outline follows a canvas however it is scaled.
pub fn cell_box((x, y): (usize, usize), width: usize, height: usize) -> String {
    let (w, h) = (width.max(1) as f64, height.max(1) as f64);
    format!(
        "left: {:.3}%; top: {:.3}%; width: {:.3}%; height: {:.3}%",
        100.0 * x as f64 / w,
        100.0 * y as f64 / h,
        100.0 / w,
        100.0 / h
    )
}
