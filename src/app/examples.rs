//! One hand-made drawing per digit, as strokes in 0..1 canvas coordinates:
//! a keyboard (or a projector remote) can show the network a digit without
//! drawing, and a teacher can start from a known shape.

use std::f64::consts::{PI, TAU};

/// Points along an ellipse arc centred at (cx, cy) with radii (rx, ry), from
/// angle a0 to a1 (radians, 0 = right, growing clockwise on screen).
fn arc(cx: f64, cy: f64, rx: f64, ry: f64, a0: f64, a1: f64) -> Vec<(f64, f64)> {
    let n = 24;
    (0..=n)
        .map(|i| {
            let a = a0 + (a1 - a0) * i as f64 / n as f64;
            (cx + rx * a.cos(), cy + ry * a.sin())
        })
        .collect()
}

/// The strokes of digit `d` (0..=9).
pub fn example(d: usize) -> Vec<Vec<(f64, f64)>> {
    match d {
        0 => vec![arc(0.5, 0.5, 0.22, 0.33, 0.0, TAU)],
        1 => vec![vec![(0.42, 0.25), (0.53, 0.15), (0.53, 0.85)]],
        2 => {
            let mut s = arc(0.5, 0.33, 0.2, 0.17, PI * 1.1, PI * 2.2);
            s.extend([(0.28, 0.82), (0.74, 0.82)]);
            vec![s]
        }
        3 => {
            let mut s = arc(0.48, 0.33, 0.2, 0.16, PI * 1.15, PI * 2.5);
            s.extend(arc(0.48, 0.66, 0.22, 0.18, -PI * 0.5, PI * 0.85));
            vec![s]
        }
        4 => vec![
            vec![(0.58, 0.15), (0.26, 0.6), (0.76, 0.6)],
            vec![(0.6, 0.35), (0.6, 0.87)],
        ],
        5 => {
            let mut s = vec![(0.7, 0.16), (0.36, 0.16), (0.33, 0.46)];
            s.extend(arc(0.48, 0.64, 0.22, 0.2, -PI * 0.75, PI * 0.85));
            vec![s]
        }
        6 => {
            let mut s = vec![(0.66, 0.15), (0.44, 0.3), (0.31, 0.55)];
            s.extend(arc(0.5, 0.66, 0.19, 0.19, PI, PI * 3.0));
            vec![s]
        }
        7 => vec![vec![(0.26, 0.18), (0.74, 0.18), (0.42, 0.86)]],
        8 => vec![
            arc(0.5, 0.32, 0.16, 0.16, 0.0, TAU),
            arc(0.5, 0.67, 0.2, 0.19, 0.0, TAU),
        ],
        _ => {
            let mut s = arc(0.49, 0.34, 0.18, 0.17, 0.0, TAU);
            s.extend([(0.66, 0.5), (0.6, 0.86)]);
            vec![s]
        }
    }
}
