//! A drawing pad of its own, for a person's own classes: the same canvas,
//! stroke and preprocessing as the digit pad (so a drawing here and the
//! same drawing there give the network the same input), keeping only its
//! strokes and the input they make.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, PointerEvent};

use super::digits::{CANVAS, STROKE, paint_stroke};
use super::paint;
use crate::data::digit::{self, Steps};
use crate::nn::classifier::PIXELS;

/// All handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct Pad {
    pub canvas: NodeRef<leptos::html::Canvas>,
    strokes: StoredValue<Vec<Vec<(f64, f64)>>>,
    drawing: StoredValue<bool>,
    frame_pending: StoredValue<bool>,
    /// The drawing as the network reads it (28x28, ink 1); `None` while the
    /// pad is empty.
    pub input: RwSignal<Option<Vec<f32>>>,
}

impl Pad {
    pub fn new() -> Self {
        Self {
            canvas: NodeRef::new(),
            strokes: StoredValue::new(Vec::new()),
            drawing: StoredValue::new(false),
            frame_pending: StoredValue::new(false),
            input: RwSignal::new(None),
        }
    }

    fn ctx(&self) -> Option<web_sys::CanvasRenderingContext2d> {
        let canvas: HtmlCanvasElement = self.canvas.get_untracked()?;
        let ctx = paint::context(&canvas)?;
        ctx.set_line_width(STROKE);
        ctx.set_line_cap("round");
        ctx.set_line_join("round");
        ctx.set_stroke_style_str("#fff");
        ctx.set_fill_style_str("#fff");
        Some(ctx)
    }

    pub fn repaint(&self) {
        let Some(ctx) = self.ctx() else { return };
        ctx.set_fill_style_str("#000");
        ctx.fill_rect(0.0, 0.0, CANVAS as f64, CANVAS as f64);
        ctx.set_fill_style_str("#fff");
        self.strokes.with_value(|strokes| {
            for s in strokes {
                paint_stroke(&ctx, s);
            }
        });
    }

    /// Read the drawing again at the next animation frame.
    fn changed(&self) {
        if self.frame_pending.get_value() {
            return;
        }
        self.frame_pending.set_value(true);
        let this = *self;
        request_animation_frame(move || {
            this.frame_pending.set_value(false);
            this.read();
        });
    }

    fn read(&self) {
        let pixels = self.ctx().and_then(|ctx| {
            let data = ctx
                .get_image_data(0.0, 0.0, CANVAS as f64, CANVAS as f64)
                .ok()?
                .data();
            Some(
                data.0
                    .chunks_exact(4)
                    .map(|p| p[0] as f32 / 255.0)
                    .collect::<Vec<f32>>(),
            )
        });
        let input = pixels
            .and_then(|p| digit::preprocess(&p, CANVAS, CANVAS, Steps::MNIST).ok())
            .map(|pre| pre.input.to_vec())
            .filter(|v| v.len() == PIXELS);
        self.input.set(input);
    }

    pub fn clear(&self) {
        self.strokes.set_value(Vec::new());
        self.repaint();
        self.changed();
    }

    pub fn undo(&self) {
        self.strokes.update_value(|s| {
            s.pop();
        });
        self.repaint();
        self.changed();
    }

    fn point(&self, ev: &PointerEvent) -> Option<(f64, f64)> {
        let canvas: HtmlCanvasElement = self.canvas.get_untracked()?;
        let rect = canvas.get_bounding_client_rect();
        let k = CANVAS as f64 / rect.width().max(1.0);
        Some((
            (ev.client_x() as f64 - rect.left()) * k,
            (ev.client_y() as f64 - rect.top()) * k,
        ))
    }

    fn pointer_down(&self, ev: PointerEvent) {
        ev.prevent_default();
        let Some(p) = self.point(&ev) else { return };
        if let Some(target) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        {
            let _ = target.set_pointer_capture(ev.pointer_id());
        }
        self.drawing.set_value(true);
        self.strokes.update_value(|s| s.push(vec![p]));
        if let Some(ctx) = self.ctx() {
            paint_stroke(&ctx, &[p]);
        }
        self.changed();
    }

    fn pointer_move(&self, ev: PointerEvent) {
        if !self.drawing.get_value() {
            return;
        }
        let Some(p) = self.point(&ev) else { return };
        let mut last = None;
        self.strokes.update_value(|s| {
            if let Some(stroke) = s.last_mut() {
                last = stroke.last().copied();
                stroke.push(p);
            }
        });
        if let (Some(ctx), Some(from)) = (self.ctx(), last) {
            paint_stroke(&ctx, &[from, p]);
        }
        self.changed();
    }

    fn pointer_up(&self) {
        if self.drawing.get_value() {
            self.drawing.set_value(false);
            self.changed();
        }
    }
}

/// The pad's canvas.
#[component]
pub fn PadCanvas(pad: Pad, id: &'static str, label: Signal<String>) -> impl IntoView {
    Effect::new(move |_| {
        if pad.canvas.get().is_some() {
            pad.repaint();
        }
    });
    view! {
        <canvas
            id=id
            node_ref=pad.canvas
            width=CANVAS
            height=CANVAS
            tabindex="0"
            role="img"
            aria-label=label
            on:pointerdown=move |ev| pad.pointer_down(ev)
            on:pointermove=move |ev| pad.pointer_move(ev)
            on:pointerup=move |_| pad.pointer_up()
            on:pointercancel=move |_| pad.pointer_up()
        ></canvas>
    }
}
