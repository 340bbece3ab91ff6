//! The digit side of the page: the drawing canvas (pointer events, undo,
//! clear, example digits for keyboard users), the prediction with its bars,
//! and the preprocessing steps, each switchable.

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, PointerEvent};

use super::engine::{DigitNet, DigitOut, Job, Runner};
use super::examples::example;
use super::i18n::Lang;
use super::paint;
use super::remote::{Place, Remote};
use crate::api::{DigitAnswer, DigitPixels};
use crate::data::digit::{self, Preprocessed, Steps};
use crate::error::Error;
use crate::nn::classifier::{argmax, digit_classes};

/// Side of the drawing canvas in its own pixels (CSS may show it smaller).
pub const CANVAS: usize = 280;
/// Stroke width: about what a pen gives on MNIST's scale once the digit is
/// fitted into 20x20.
const STROKE: f64 = 20.0;

/// Everything the digit views share; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct DigitState {
    pub canvas: NodeRef<leptos::html::Canvas>,
    /// Strokes in canvas pixels, for undo.
    /// Plain state, never shown, so stored values rather than signals.
    strokes: StoredValue<Vec<Vec<(f64, f64)>>>,
    drawing: StoredValue<bool>,
    frame_pending: StoredValue<bool>,
    /// performance.now() of the last change to the drawing.
    changed_at: StoredValue<f64>,
    pub steps: RwSignal<Steps>,
    pub pre: RwSignal<Option<Preprocessed>>,
    pub out: RwSignal<Option<DigitOut>>,
    pub latency_ms: RwSignal<f64>,
    /// The model's layers, classes and first filters, as the views draw them.
    pub net: RwSignal<Option<DigitNet>>,
    pub verify: RwSignal<Option<Result<f32, String>>>,
    pub error: RwSignal<Option<String>>,
    pub runner: StoredValue<Runner, LocalStorage>,
    pub remote: Remote,
    /// Which place gave the answer shown, and the server's round trip
    /// for it (ms).
    pub source: RwSignal<Option<Place>>,
    pub server_ms: RwSignal<f64>,
    /// A request to the server is on its way; the drawing changed since.
    asking: StoredValue<bool>,
    ask_again: StoredValue<bool>,
    /// The pad holds the example the inside view put there, not a drawing
    /// of the student's: the first stroke replaces it.
    pub placeholder: RwSignal<bool>,
    /// The example has been offered once; after that a blank pad stays blank.
    offered: StoredValue<bool>,
}

impl DigitState {
    pub fn new(runner: StoredValue<Runner, LocalStorage>, remote: Remote) -> Self {
        Self {
            canvas: NodeRef::new(),
            strokes: StoredValue::new(Vec::new()),
            drawing: StoredValue::new(false),
            frame_pending: StoredValue::new(false),
            changed_at: StoredValue::new(0.0),
            steps: RwSignal::new(Steps::MNIST),
            pre: RwSignal::new(None),
            out: RwSignal::new(None),
            latency_ms: RwSignal::new(0.0),
            net: RwSignal::new(None),
            verify: RwSignal::new(None),
            error: RwSignal::new(None),
            runner,
            remote,
            source: RwSignal::new(None),
            server_ms: RwSignal::new(0.0),
            asking: StoredValue::new(false),
            ask_again: StoredValue::new(false),
            placeholder: RwSignal::new(false),
            offered: StoredValue::new(false),
        }
    }

    /// Put an example 7 on a pad nobody has drawn on yet, once, so that a
    /// view of the network's insides has something to show.
    pub fn offer_example(&self) {
        if self.offered.get_value() || !self.strokes.with_value(Vec::is_empty) {
            return;
        }
        self.offered.set_value(true);
        self.draw_example(7);
        self.placeholder.set(true);
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

    /// Paint every stroke again on a black canvas.
    fn repaint(&self) {
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

    /// Something changed: classify at the next animation frame (once, however
    /// many pointer events arrive before it).
    fn changed(&self) {
        self.changed_at.set_value(now_ms());
        if self.frame_pending.get_value() {
            return;
        }
        self.frame_pending.set_value(true);
        let this = *self;
        request_animation_frame(move || {
            this.frame_pending.set_value(false);
            this.classify();
        });
    }

    /// Read the canvas, preprocess, and queue the network.
    pub fn classify(&self) {
        let Some(pixels) = self.pixels() else { return };
        match digit::preprocess(&pixels, CANVAS, CANVAS, self.steps.get_untracked()) {
            Err(Error::EmptyDrawing) => {
                self.pre.set(None);
                self.out.set(None);
            }
            Err(e) => self.error.set(Some(e.to_string())),
            Ok(pre) => {
                let input = Box::new(pre.input);
                self.pre.set(Some(pre));
                if self.remote.on_server() {
                    self.ask_server(&input);
                    return;
                }
                let this = *self;
                let asked = now_ms();
                let done = move |r: crate::Result<DigitOut>| match r {
                    // Asked before the switch to a server: not the answer now.
                    _ if this.remote.on_server() => {}
                    Ok(out) => {
                        this.remote.browser_ms.set(Some(now_ms() - asked));
                        this.answered(out, Place::Browser);
                        this.error.set(None);
                    }
                    Err(e) => this.error.set(Some(e.to_string())),
                };
                self.runner
                    .with_value(|r| r.submit(Job::Classify(input, Box::new(done))));
            }
        }
    }

    fn answered(&self, out: DigitOut, from: Place) {
        // Only a drawing that still has ink gets an answer.
        if self.pre.get_untracked().is_some() {
            self.out.set(Some(out));
            self.source.set(Some(from));
            self.latency_ms.set(now_ms() - self.changed_at.get_value());
        }
    }

    /// The server classifies the 28x28 input. One request at a time: a
    /// drawing that changes meanwhile is sent when the answer is in, so a
    /// slow server sees the latest drawing rather than a backlog.
    fn ask_server(&self, input: &[f32; 784]) {
        if self.asking.get_value() {
            self.ask_again.set_value(true);
            return;
        }
        self.asking.set_value(true);
        let body = DigitPixels {
            pixels: input.chunks_exact(28).map(<[f32]>::to_vec).collect(),
        };
        let this = *self;
        spawn_local(async move {
            let answer: Option<(DigitAnswer, f64)> =
                this.remote.ask("/v1/digits/classify", Some(&body)).await;
            this.asking.set_value(false);
            if let Some((a, ms)) = answer {
                this.server_ms.set(ms);
                this.remote.server_ms.set(Some(ms));
                // The server sends the answer only: the views inside stay dark.
                this.answered(
                    DigitOut {
                        probs: a.probabilities,
                        ..DigitOut::default()
                    },
                    Place::Server,
                );
            }
            if this.ask_again.get_value() {
                this.ask_again.set_value(false);
                this.classify();
            }
        });
    }

    /// The canvas as ink values in 0..1 (the red channel: ink is white).
    fn pixels(&self) -> Option<Vec<f32>> {
        let ctx = self.ctx()?;
        let data = ctx
            .get_image_data(0.0, 0.0, CANVAS as f64, CANVAS as f64)
            .ok()?
            .data();
        Some(
            data.0
                .chunks_exact(4)
                .map(|p| p[0] as f32 / 255.0)
                .collect(),
        )
    }

    pub fn clear(&self) {
        self.placeholder.set(false);
        self.strokes.set_value(Vec::new());
        self.verify.set(None);
        self.repaint();
        self.changed();
    }

    fn undo(&self) {
        self.placeholder.set(false);
        self.strokes.update_value(|s| {
            s.pop();
        });
        self.verify.set(None);
        self.repaint();
        self.changed();
    }

    /// Replace the drawing with strokes in 0..1 coordinates.
    fn draw_example(&self, d: usize) {
        self.offered.set_value(true);
        self.placeholder.set(false);
        let k = CANVAS as f64;
        let strokes = example(d)
            .into_iter()
            .map(|s| s.into_iter().map(|(x, y)| (x * k, y * k)).collect())
            .collect();
        self.strokes.set_value(strokes);
        self.verify.set(None);
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
        if self.placeholder.get_untracked() {
            self.placeholder.set(false);
            self.strokes.set_value(Vec::new());
            self.repaint();
        }
        self.drawing.set_value(true);
        self.strokes.update_value(|s| s.push(vec![p]));
        if let Some(ctx) = self.ctx() {
            paint_stroke(&ctx, &[p]);
        }
        self.verify.set(None);
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

fn paint_stroke(ctx: &web_sys::CanvasRenderingContext2d, points: &[(f64, f64)]) {
    match points {
        [] => {}
        [(x, y)] => {
            ctx.begin_path();
            let _ = ctx.arc(*x, *y, STROKE / 2.0, 0.0, std::f64::consts::TAU);
            ctx.fill();
        }
        [first, rest @ ..] => {
            ctx.begin_path();
            ctx.move_to(first.0, first.1);
            for (x, y) in rest {
                ctx.line_to(*x, *y);
            }
            ctx.stroke();
        }
    }
}

pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// The canvas, its buttons and the example digits.
#[component]
pub fn DrawPanel(state: DigitState, lang: RwSignal<Lang>, ready: RwSignal<bool>) -> impl IntoView {
    let s = move || lang.get().strings();
    // Paint the black background once the canvas exists.
    Effect::new(move |_| {
        if state.canvas.get().is_some() {
            state.repaint();
        }
    });
    let verify = move |_| {
        let (Some(pre), Some(out)) = (state.pre.get_untracked(), state.out.get_untracked()) else {
            return;
        };
        let done =
            move |r: crate::Result<f32>| state.verify.set(Some(r.map_err(|e| e.to_string())));
        state.runner.with_value(|r| {
            r.submit(Job::Verify(
                Box::new(pre.input),
                out.probs.clone(),
                Box::new(done),
            ))
        });
    };
    view! {
        <section id="draw" aria-labelledby="draw-title">
            <h2 id="draw-title">{move || s().draw_title}</h2>
            <p class="hint">{move || s().draw_hint}</p>
            <div class="draw-row">
                <canvas
                    id="draw-canvas"
                    node_ref=state.canvas
                    width=CANVAS
                    height=CANVAS
                    tabindex="0"
                    role="img"
                    aria-label=move || s().canvas_label
                    on:pointerdown=move |ev| state.pointer_down(ev)
                    on:pointermove=move |ev| state.pointer_move(ev)
                    on:pointerup=move |_| state.pointer_up()
                    on:pointercancel=move |_| state.pointer_up()
                ></canvas>
                <div class="draw-controls">
                    <button id="clear" on:click=move |_| state.clear()>{move || s().clear}</button>
                    <button id="undo" on:click=move |_| state.undo()>{move || s().undo}</button>
                    <button id="verify" on:click=verify disabled=move || !ready.get() || state.out.get().is_none()>
                        {move || s().verify}
                    </button>
                    <p id="verify-result" aria-live="polite"
                        data-max-diff=move || match state.verify.get() { Some(Ok(d)) => d.to_string(), _ => String::new() }>
                        {move || match state.verify.get() {
                            Some(Ok(d)) => format!("{}: {d:.2e}", s().verify_result),
                            Some(Err(e)) => e,
                            None => String::new(),
                        }}
                    </p>
                    <div class="examples" role="group" aria-label=move || s().examples>
                        {(0..10).map(|d| view! {
                            <button class="example" data-example=d aria-label=move || format!("{} {d}", s().example)
                                on:click=move |_| state.draw_example(d)>{d}</button>
                        }).collect_view()}
                    </div>
                </div>
            </div>
            <Prediction state=state lang=lang />
        </section>
    }
}

/// The answer, as text for the live region and as ten bars.
#[component]
fn Prediction(state: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let probs = move || state.out.get().map(|o| o.probs).unwrap_or_default();
    let best = move || state.out.get().map(|o| argmax(&o.probs));
    let classes = move || {
        state
            .net
            .get()
            .map(|n| n.classes)
            .unwrap_or_else(digit_classes)
    };
    let class = move |d: usize| classes().get(d).cloned().unwrap_or_default();
    view! {
        <div class="prediction-box">
            <p id="prediction" aria-live="polite" aria-atomic="true"
                data-state=move || if state.out.get().is_some() { "ready" } else { "empty" }
                data-source=move || match state.source.get() { Some(Place::Server) => "server", Some(Place::Browser) => "browser", None => "" }
                data-digit=move || best().map(|d| d.to_string()).unwrap_or_default()
                data-net-ms=move || state.out.get().map(|o| format!("{:.3}", o.net_ms)).unwrap_or_default()
                data-latency-ms=move || format!("{:.3}", state.latency_ms.get())>
                {move || match state.out.get() {
                    None => s().draw_a_digit.to_string(),
                    Some(o) => {
                        let d = argmax(&o.probs);
                        format!("{} {} ({:.1}%)", s().prediction, class(d), 100.0 * o.probs.get(d).copied().unwrap_or(0.0))
                    }
                }}
            </p>
            <p class="timing">{move || state.out.get().map(|o| if state.source.get() == Some(Place::Server) {
                format!("{} {:.1} ms", s().round_trip, state.server_ms.get())
            } else {
                format!("{} {:.2} ms", s().network_time, o.net_ms)
            })}</p>
            <div id="probs" role="list" aria-label=move || s().probabilities>
                {move || (0..classes().len()).map(|d| {
                    let p = move || probs().get(d).copied().unwrap_or(0.0);
                    view! {
                        <div class="bar" role="listitem" data-digit=d data-p=move || p().to_string()
                            class:best=move || best() == Some(d)>
                            <span class="label">{move || class(d)}</span>
                            <span class="track"><span class="fill" style:width=move || format!("{:.1}%", 100.0 * p())></span></span>
                            <span class="value">{move || format!("{:.1}%", 100.0 * p())}</span>
                        </div>
                    }
                }).collect_view()}
            </div>
            <p class="error" role="alert">{move || state.error.get()}</p>
        </div>
    }
}

/// The steps between the canvas and the 28x28 input, each switchable.
#[component]
pub fn Preprocessing(state: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let (crop, fit, input) = (
        NodeRef::<leptos::html::Canvas>::new(),
        NodeRef::<leptos::html::Canvas>::new(),
        NodeRef::<leptos::html::Canvas>::new(),
    );
    Effect::new(move |_| {
        let pre = state.pre.get();
        for (node, img) in [
            (
                crop,
                pre.as_ref()
                    .map(|p| (p.cropped.width, p.cropped.height, p.cropped.pixels.clone())),
            ),
            (
                fit,
                pre.as_ref()
                    .map(|p| (p.fitted.width, p.fitted.height, p.fitted.pixels.clone())),
            ),
            (input, pre.as_ref().map(|p| (28, 28, p.input.to_vec()))),
        ] {
            if let Some(c) = node.get() {
                let (w, h, v) = img.unwrap_or((28, 28, vec![0.0; 784]));
                paint::grey(&c, w, h, &v);
            }
        }
    });
    let toggle = move |which: u8| {
        move |_| {
            state.steps.update(|st| match which {
                0 => st.crop = !st.crop,
                1 => st.fit = !st.fit,
                _ => st.center = !st.center,
            });
            state.classify();
        }
    };
    view! {
        <section id="preprocessing" aria-labelledby="preprocessing-title">
            <h2 id="preprocessing-title">{move || s().preprocessing}</h2>
            <div class="steps">
                <figure>
                    <canvas node_ref=crop class="pixelated"></canvas>
                    <figcaption><label><input type="checkbox" id="step-crop" prop:checked=move || state.steps.get().crop on:change=toggle(0) />{move || s().step_crop}</label></figcaption>
                </figure>
                <figure>
                    <canvas node_ref=fit class="pixelated"></canvas>
                    <figcaption><label><input type="checkbox" id="step-fit" prop:checked=move || state.steps.get().fit on:change=toggle(1) />{move || s().step_fit}</label></figcaption>
                </figure>
                <figure>
                    <canvas id="model-input" node_ref=input class="pixelated"></canvas>
                    <figcaption><label><input type="checkbox" id="step-center" prop:checked=move || state.steps.get().center on:change=toggle(2) />{move || s().step_center}</label><br/>{move || s().model_input}</figcaption>
                </figure>
            </div>
        </section>
    }
}
