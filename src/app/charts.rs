//! The training charts, drawn by plotters on a canvas: loss per step and
//! test results per evaluation, one line per run. Runs are told apart by
//! colour (the Okabe-Ito palette, which survives the common kinds of colour
//! blindness) and again by their dots' shapes and dashes, so that a
//! projector or a grey printout does not merge them.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

/// Points drawn at most: a long run's losses are averaged in buckets so a
/// redraw stays cheap and the line stays readable.
const MAX_POINTS: usize = 400;

/// Okabe & Ito's colours, most distinct first: blue, orange, bluish green,
/// reddish purple.
pub const RUN_COLOURS: [(u8, u8, u8); 4] =
    [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167)];

/// A run's colour as CSS, for the swatches beside its name.
pub fn css_colour(run: usize) -> String {
    let (r, g, b) = RUN_COLOURS[run % RUN_COLOURS.len()];
    format!("rgb({r}, {g}, {b})")
}

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
/// `None`), whether each point gets a dot (few points, like evaluations),
/// and whether y is a share shown in percent.
pub struct Chart<'a> {
    pub x_label: &'a str,
    pub y_label: &'a str,
    pub y_range: Option<(f64, f64)>,
    pub dots: bool,
    pub percent: bool,
}

/// One line of a chart: a run's points (x ascending), its name in the
/// legend and its place among the runs (its colour, dash and dot shape).
pub struct Series<'a> {
    pub label: &'a str,
    pub points: &'a [(f64, f64)],
    pub run: usize,
}

fn colour(run: usize) -> RGBColor {
    let (r, g, b) = RUN_COLOURS[run % RUN_COLOURS.len()];
    RGBColor(r, g, b)
}

/// The y range of all `series`: from 0 (or below) to a little above the top.
fn y_range(series: &[Series]) -> (f64, f64) {
    let ys = || series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let lo = ys().fold(f64::INFINITY, f64::min);
    let hi = ys().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi > lo {
        (lo.min(0.0), hi * 1.05)
    } else if hi.is_finite() && hi > 0.0 {
        (0.0, hi * 1.05)
    } else {
        (0.0, 1.0)
    }
}

/// Draw `series` on `canvas`, replacing what was there; a legend names
/// them when there are several.
pub fn draw(canvas: &HtmlCanvasElement, chart: &Chart, series: &[Series]) -> Result<(), String> {
    let backend = CanvasBackend::with_canvas_object(canvas.clone())
        .ok_or("the chart canvas has no 2-D context")?;
    let root = backend.into_drawing_area();
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let x_max = series
        .iter()
        .filter_map(|s| s.points.last().map(|p| p.0))
        .fold(1.0, f64::max);
    let (lo, hi) = chart.y_range.unwrap_or_else(|| y_range(series));
    let mut ctx = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(56)
        // A little room on the right, so the last dot is whole.
        .build_cartesian_2d(0f64..x_max * 1.03, lo..hi)
        .map_err(|e| fail(&e))?;
    let percent = |y: &f64| format!("{:.0}%", 100.0 * y);
    let plain = |y: &f64| {
        if y.abs() >= 10.0 || *y == 0.0 {
            format!("{y:.0}")
        } else {
            format!("{y:.1}")
        }
    };
    let whole = |x: &f64| format!("{x:.0}");
    ctx.configure_mesh()
        .x_desc(chart.x_label)
        .y_desc(chart.y_label)
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&whole)
        .y_label_formatter(if chart.percent { &percent } else { &plain })
        .label_style(("sans-serif", 15))
        .axis_desc_style(("sans-serif", 16))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()
        .map_err(|e| fail(&e))?;
    for s in series {
        let c = colour(s.run);
        let style = c.stroke_width(2);
        let drawn = if s.run % 2 == 1 {
            ctx.draw_series(DashedLineSeries::new(s.points.iter().copied(), 8, 4, style))
        } else {
            ctx.draw_series(LineSeries::new(s.points.iter().copied(), style))
        }
        .map_err(|e| fail(&e))?;
        drawn
            .label(s.label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(3)));
        if chart.dots {
            let dots = s.points.iter().map(move |&p| dot(p, s.run, c));
            ctx.draw_series(dots).map_err(|e| fail(&e))?;
        }
    }
    if series.len() > 1 {
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(RGBColor(200, 200, 200))
            .label_font(("sans-serif", 15))
            // Out of the way of the lines: losses fall, accuracies rise.
            .position(if chart.percent {
                SeriesLabelPosition::LowerRight
            } else {
                SeriesLabelPosition::UpperRight
            })
            .draw()
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))
}

/// A run's dot: circle, triangle, square or cross by its place.
fn dot(p: (f64, f64), run: usize, c: RGBColor) -> DynElement<'static, CanvasBackend, (f64, f64)> {
    match run % 4 {
        0 => Circle::new(p, 4, c.filled()).into_dyn(),
        1 => TriangleMarker::new(p, 5, c.filled()).into_dyn(),
        2 => (EmptyElement::at(p) + Rectangle::new([(-4, -4), (4, 4)], c.filled())).into_dyn(),
        _ => Cross::new(p, 4, c.stroke_width(2)).into_dyn(),
    }
}
