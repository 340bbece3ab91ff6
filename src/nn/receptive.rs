//! Receptive fields: which pixels of each earlier layer one output pixel of
//! an image network reads. The inside view outlines them when the pointer
//! is over a feature map, so a student sees that a deeper pixel looks at a
//! larger part of the drawing.

use super::plan::{LayerPlan, Shape};
use super::spec::LayerKind;

/// Rows `top..=bottom` and columns `left..=right` of a layer's maps (of
/// every channel: a convolution reads them all).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub top: usize,
    pub left: usize,
    pub bottom: usize,
    pub right: usize,
}

impl Window {
    pub fn pixel(i: usize, j: usize) -> Self {
        Window {
            top: i,
            left: j,
            bottom: i,
            right: j,
        }
    }

    pub fn height(&self) -> usize {
        self.bottom - self.top + 1
    }

    pub fn width(&self) -> usize {
        self.right - self.left + 1
    }

    /// The window of this layer's input that `self`, in its output, reads.
    fn back_through(self, layer: &LayerPlan) -> Option<Window> {
        let Shape::Maps { h, w, .. } = layer.input else {
            return None;
        };
        let back = match layer.kind {
            // Valid convolution at stride 1: output (i, j) reads input
            // rows i..i+k, columns j..j+k.
            LayerKind::Conv2d { kernel, .. } => Window {
                bottom: self.bottom + kernel - 1,
                right: self.right + kernel - 1,
                ..self
            },
            // Windows of size p at stride p.
            LayerKind::MaxPool2d { size } | LayerKind::AvgPool2d { size } => Window {
                top: self.top * size,
                left: self.left * size,
                bottom: (self.bottom + 1) * size - 1,
                right: (self.right + 1) * size - 1,
            },
            LayerKind::Activation { .. } | LayerKind::Dropout { .. } => self,
            _ => return None,
        };
        (back.bottom < h && back.right < w).then_some(back)
    }
}

/// The window that pixel (i, j) of layer `at`'s output reads in the input
/// of each layer from `at` down to 0, as (that layer's index, window): the
/// entry for layer 0 is the window of the network's input. Empty when `at`
/// has no maps or a layer on the way is not an image layer.
pub fn receptive_field(
    layers: &[LayerPlan],
    at: usize,
    i: usize,
    j: usize,
) -> Vec<(usize, Window)> {
    let mut out = Vec::new();
    let Some(layer) = layers.get(at) else {
        return out;
    };
    let Shape::Maps { h, w, .. } = layer.output else {
        return out;
    };
    if i >= h || j >= w {
        return out;
    }
    let mut win = Window::pixel(i, j);
    for layer in layers[..=at].iter().rev() {
        match win.back_through(layer) {
            Some(next) => {
                out.push((layer.index, next));
                win = next;
            }
            None => return Vec::new(),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::plan::Plan;
    use super::super::spec;
    use super::*;

    #[test]
    fn the_seed_cnn_sees_more_of_the_drawing_at_each_layer() {
        let plan = Plan::new(&spec::seed_cnn(), None).unwrap();
        // conv1 pixel (0, 0) reads input rows 0..=2.
        assert_eq!(
            receptive_field(&plan.layers, 0, 0, 0),
            [(
                0,
                Window {
                    top: 0,
                    left: 0,
                    bottom: 2,
                    right: 2
                }
            )]
        );
        // conv2 (10, 10): conv2's 3x3 of the pooled maps, 6x6 of conv1's
        // output, 8x8 of the input.
        let f = receptive_field(&plan.layers, 2, 10, 10);
        assert_eq!(
            f,
            [
                (
                    2,
                    Window {
                        top: 10,
                        left: 10,
                        bottom: 12,
                        right: 12
                    }
                ),
                (
                    1,
                    Window {
                        top: 20,
                        left: 20,
                        bottom: 25,
                        right: 25
                    }
                ),
                (
                    0,
                    Window {
                        top: 20,
                        left: 20,
                        bottom: 27,
                        right: 27
                    }
                ),
            ]
        );
        // pool2 (4, 4) of 5x5: the last whole window.
        let f = receptive_field(&plan.layers, 3, 4, 4);
        assert_eq!(
            f[0],
            (
                3,
                Window {
                    top: 8,
                    left: 8,
                    bottom: 9,
                    right: 9
                }
            )
        );
        assert_eq!(f.last().unwrap().1.height(), 10);
        // Dense layers and pixels off the map have none.
        assert!(receptive_field(&plan.layers, 5, 0, 0).is_empty());
        assert!(receptive_field(&plan.layers, 0, 26, 0).is_empty());
        assert!(receptive_field(&plan.layers, 99, 0, 0).is_empty());
    }
}
