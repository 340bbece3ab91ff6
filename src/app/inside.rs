//! Inside the digit network for the current drawing: every layer's output
//! (feature maps, units) whatever the network, the outputs, the first
//! convolution's filters, and for any output pixel of that convolution the
//! sum that made it, with the real numbers.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::MouseEvent;

use super::digits::DigitState;
use super::engine::{DigitNet, Filters};
use super::i18n::{Lang, Strings};
use super::lab::picture::NetworkPicture;
use super::nav::Route;
use super::paint;
use super::remote::Place;
use crate::link::{Link, Section};
use crate::nn::plan::{LayerPlan, Shape, Survey};
use crate::nn::spec::{Activation, LayerKind, NetworkSpec};
use crate::shapes::Act;

/// Columns of a grid of `count` maps: a row of up to 8 (16 for many small maps).
fn columns(count: usize, side: usize) -> usize {
    let cols = if side <= 12 && count > 32 { 16 } else { 8 };
    count.clamp(1, cols)
}

/// A pixel of layer 0's output under the pointer: map k, row i, column j.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probe {
    k: usize,
    i: usize,
    j: usize,
}

/// The layers with an output of their own worth a picture: all but a free
/// flatten, the final softmax and the last layer, whose logits the outputs
/// show as probabilities.
fn shown(net: &DigitNet) -> Vec<LayerPlan> {
    let last = net.plan.layers.len().saturating_sub(1);
    net.plan
        .layers
        .iter()
        .filter(|l| l.index < last)
        .filter(|l| {
            !matches!(
                l.kind,
                LayerKind::Flatten
                    | LayerKind::Activation {
                        activation: Activation::Softmax
                    }
            )
        })
        .cloned()
        .collect()
}

/// "Layer 2 · convolution, 64 filters 3×3, relu → 64 feature maps, 11×11".
fn caption(s: &Strings, l: &LayerPlan) -> String {
    let what = s.layer_kind(&l.kind);
    match l.output {
        Shape::Maps { c, h, w } => s
            .layer_maps
            .replace("{i}", &l.index.to_string())
            .replace("{what}", &what)
            .replace("{c}", &c.to_string())
            .replace("{h}", &h.to_string())
            .replace("{w}", &w.to_string()),
        other => s
            .layer_units
            .replace("{i}", &l.index.to_string())
            .replace("{what}", &what)
            .replace("{n}", &other.size().to_string()),
    }
}

/// Where the picture's layer `i` is shown: its own maps, or for a layer
/// without (a flatten) the next that has them, or the outputs.
fn view_of(net: &DigitNet, i: usize) -> String {
    shown(net)
        .iter()
        .find(|l| l.index >= i)
        .map_or("output-units".into(), |l| format!("layer-{}-maps", l.index))
}

/// Bring the element `id` into view once the part of the page it is on
/// has been laid out.
fn scroll_to(id: String) {
    let Some(w) = web_sys::window() else { return };
    let go = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(el) = document().get_element_by_id(&id) {
            el.scroll_into_view();
        }
    });
    let _ = w.request_animation_frame(go.unchecked_ref());
}

#[component]
pub fn InsideView(state: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let probe = RwSignal::new(None::<Probe>);
    let layers = move || state.net.get().map(|n| shown(&n)).unwrap_or_default();
    let outputs = NodeRef::<leptos::html::Canvas>::new();
    let filters = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let probs = state.out.get().map(|o| o.probs).unwrap_or_default();
        let n = state.net.get().map_or(10, |n| n.classes.len());
        if let Some(c) = outputs.get() {
            paint::grid(&c, &probs, n, 1, n);
        }
    });
    Effect::new(move |_| {
        if let (Some(c), Some(f)) = (filters.get(), state.net.get().and_then(|n| n.filters)) {
            let [o, ch, k, _] = f.shape;
            // The first input channel's kernel of every filter.
            let first: Vec<f32> = (0..o)
                .flat_map(|m| f.weight[m * ch * k * k..][..k * k].iter().copied())
                .collect();
            paint::signed_grid(&c, &first, o, k, columns(o, k));
        }
    });
    let filters_caption = move || {
        let k = state
            .net
            .get()
            .and_then(|n| n.filters)
            .map_or(3, |f| f.shape[2]);
        s().filters.replace("{k}", &k.to_string())
    };
    let classes_caption = move || {
        let n = state.net.get().map_or(10, |n| n.classes.len());
        s().outputs.replace("{n}", &n.to_string())
    };
    // The network's picture is this view's map: a layer picked is shown,
    // and `#inside&layer=N` links to it.
    let route = use_context::<Route>().expect("the route is provided");
    let spec = Signal::derive(move || {
        state
            .net
            .get()
            .map(|n| NetworkSpec {
                input: n.plan.input,
                layers: n
                    .plan
                    .layers
                    .iter()
                    .map(|l| l.kind.clone().into())
                    .collect(),
            })
            .unwrap_or_else(crate::nn::spec::seed_cnn)
    });
    let survey = Signal::derive(move || Survey {
        layers: state.net.get().map(|n| n.plan.layers).unwrap_or_default(),
        problem: None,
    });
    let picked = Signal::derive(move || {
        let link = route.link.get();
        (link.section == Section::Inside)
            .then(|| link.get("layer")?.parse::<usize>().ok())
            .flatten()
    });
    Effect::new(move |_| {
        if let (Some(i), Some(net)) = (picked.get(), state.net.get()) {
            scroll_to(view_of(&net, i));
        }
    });
    let pick = Callback::new(move |i: usize| {
        route.go(&Link::to(Section::Inside).with("layer", i.to_string()));
    });
    let picture_label = Signal::derive(move || lang.get().lab().inside_picture_label.to_string());
    let words = Signal::derive(move || lang.get().lab());
    view! {
        <section id="inside" aria-labelledby="inside-title">
            <h2 id="inside-title">{move || s().inside_title}</h2>
            <p class="hint">{move || s().inside_hint}</p>
            <NetworkPicture id="inside-picture" spec=spec survey=survey selected=picked
                pick=pick label=picture_label words=words />
            <p id="inside-on-server" class="notice"
                hidden=move || state.remote.place.get() != Place::Server>{move || s().inside_needs_browser}</p>
            <div class="layers">
                <For each=layers key=|l| format!("{} {} {:?}", l.index, l.label, l.output)
                    children=move |l| view! { <LayerFigure state=state layer=l lang=lang probe=probe /> } />
                <figure>
                    <canvas id="output-units" node_ref=outputs class="pixelated maps"></canvas>
                    <figcaption>{classes_caption}</figcaption>
                </figure>
                <figure hidden=move || state.net.get().and_then(|n| n.filters).is_none()>
                    <canvas id="layer-0-filters" node_ref=filters class="pixelated maps"></canvas>
                    <figcaption>{filters_caption}</figcaption>
                </figure>
            </div>
        </section>
    }
}

/// One layer's output for the drawing: its maps in a grid, or its units in
/// a row. Layer 0, when it is a convolution, also explains any pixel under
/// the pointer.
#[component]
fn LayerFigure(
    state: DigitState,
    layer: LayerPlan,
    lang: RwSignal<Lang>,
    probe: RwSignal<Option<Probe>>,
) -> impl IntoView {
    let node = NodeRef::<leptos::html::Canvas>::new();
    let (count, side) = match layer.output {
        Shape::Maps { c, h, .. } => (c, h),
        other => (other.size(), 1),
    };
    let cols = columns(count, side);
    let index = layer.index;
    Effect::new(move |_| {
        let values = state
            .out
            .get()
            .and_then(|o| o.layers.get(index).cloned())
            .unwrap_or_default();
        if let Some(c) = node.get() {
            paint::grid(&c, &values, count, side, cols);
        }
    });
    let explained = index == 0 && matches!(layer.kind, LayerKind::Conv2d { .. });
    let hover = move |ev: MouseEvent| {
        let Some(c) = node.get_untracked() else {
            return;
        };
        let rect = c.get_bounding_client_rect();
        let scale = c.width() as f64 / rect.width().max(1.0);
        let x = ((ev.client_x() as f64 - rect.left()) * scale) as usize;
        let y = ((ev.client_y() as f64 - rect.top()) * scale) as usize;
        let cell = side + 1;
        let (j, i) = (x % cell, y % cell);
        let k = (y / cell) * cols + x / cell;
        probe.set((j < side && i < side && k < count).then_some(Probe { k, i, j }));
    };
    let s = move || lang.get().strings();
    let text = {
        let layer = layer.clone();
        move || caption(s(), &layer)
    };
    let act = match layer.kind {
        LayerKind::Conv2d { activation, .. } => activation.act(),
        _ => Act::Linear,
    };
    view! {
        <figure class:explained=explained>
            <canvas id=format!("layer-{index}-maps") node_ref=node class="pixelated maps"
                style:width=format!("{}px", 3 * (cols * (side + 1) - 1))
                on:mousemove=move |ev| if explained { hover(ev) }
                on:mouseleave=move |_| if explained { probe.set(None) }></canvas>
            <figcaption>{text}{move || explained.then(|| format!(" — {}", s().hover_hint))}</figcaption>
        </figure>
        {explained.then(|| view! { <Formula state=state probe=probe lang=lang side=side act=act /> })}
    }
}

/// y_ij = sum_m sum_n x(i+m, j+n) k(m, n) + b for the probed pixel (the
/// valid k x k convolution: output (i, j) reads input rows i..i+k, columns
/// j..j+k), then the activation.
#[component]
fn Formula(
    state: DigitState,
    probe: RwSignal<Option<Probe>>,
    lang: RwSignal<Lang>,
    side: usize,
    act: Act,
) -> impl IntoView {
    let body = move || {
        let s = lang.get().strings();
        let p = probe.get()?;
        let pre = state.pre.get()?;
        let Filters {
            shape,
            weight,
            bias,
        } = state.net.get()?.filters?;
        let out = state.out.get()?;
        let k = shape[2];
        let w = weight.get(p.k * k * k..(p.k + 1) * k * k)?;
        let terms: Vec<(f32, f32)> = (0..k * k)
            .map(|t| (pre.input[(p.i + t / k) * 28 + p.j + t % k], w[t]))
            .collect();
        let sum: f32 = terms.iter().map(|(x, w)| x * w).sum::<f32>() + bias[p.k];
        // Absent when the server answered: it sends no feature maps.
        let y = *out
            .layers
            .first()?
            .get(p.k * side * side + p.i * side + p.j)?;
        let products = terms
            .iter()
            .map(|(x, w)| format!("{}·{}", signed(*x), signed(*w)))
            .collect::<Vec<_>>()
            .join(" + ");
        let activated = crate::cpu::activation::activate(act.code(), sum);
        Some(view! {
            <p class="formula-head">
                {format!("{} {}, y({}, {}) = Σₘ Σₙ x({} + m, {} + n) · k(m, n) + b", s.map, p.k, p.i, p.j, p.i, p.j)}
            </p>
            <p class="formula-terms"><code>{format!("= {products} + {}", signed(bias[p.k]))}</code></p>
            <p class="formula-result"><code>{format!("= {sum:.4} → {} → {activated:.4}", act.name())}</code>
                {format!("   ({}: {y:.4})", s.read_back)}</p>
        })
    };
    view! { <div id="formula" aria-live="polite">{body}</div> }
}

/// A number for a formula: two decimals, a negative one in brackets with a
/// true minus sign, so that "1.00·(−0.10)" reads as a product.
fn signed(v: f32) -> String {
    if v < 0.0 {
        format!("(−{:.2})", -v)
    } else {
        format!("{v:.2}")
    }
}
