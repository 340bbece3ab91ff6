//! The live training charts, drawn by plotters on a canvas: loss per step
//! and test accuracy per evaluation.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

/// Points drawn at most: a long run's losses are averaged in buckets so a
/// redraw stays cheap and the line stays readable.
const MAX_POINTS: usize = 400;

/// `points` averaged in consecutive buckets down to [`MAX_POINTS`].
pub fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let per = points.len().div_ceil(MAX_POINTS).max(1);
    points
        .chunks(per)
        .map(|c| {
            let n = c.len() as f64;
            (
                c.iter().map(|p| p.0).sum::<f64>() / n,
                c.iter().map(|p| p.1).sum::<f64>() / n,
            )
        })
        .collect()
}

/// How a chart looks: its axis names, its y range (from the data when
/// `None`), and whether each point gets a dot (few points, like evaluations).
pub struct Chart<'a> {
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub y_range: Option<(f64, f64)>,
    pub dots: bool,
}

/// Draw `points` (x ascending) on `canvas`, replacing what was there.
pub fn draw(
    canvas: &HtmlCanvasElement,
    chart: &Chart,
    points: &[(f64, f64)],
) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or("the chart canvas has no 2-D context")?;
    let root = backend.into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let x_max = points.last().map_or(1.0, |p| p.0).max(1.0);
    let (lo, hi) = chart.y_range.unwrap_or_else(|| {
        let lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        if lo.is_finite() && hi > lo {
            (lo.min(0.0), hi * 1.05)
        } else {
            (0.0, 1.0)
        }
    });
    let mut ctx = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(52)
        .build_cartesian_2d(0f64..x_max, lo..hi)
        .map_err(|e| fail(&e))?;
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_labels(6)
        .y_labels(5)
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| fail(&e))?;
    let line = RGBColor(23, 71, 166);
    ctx.draw_series(LineSeries::new(
        points.iter().copied(),
        line.stroke_width(2),
    ))
    .map_err(|e| fail(&e))?;
    if chart.dots {
        ctx.draw_series(points.iter().map(|&p| Circle::new(p, 4, line.filled())))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}
