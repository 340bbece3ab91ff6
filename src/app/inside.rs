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
use crate::nn::receptive::{Window, receptive_field};
use crate::nn::spec::{Activation, LayerKind, NetworkSpec};
use crate::shapes::Act;

/// Columns of a grid of `count` maps: a row of up to 8 (16 for many small maps).
fn columns(count: usize, side: usize) -> usize {
    let cols = if side <= 12 && count > 32 { 16 } else { 8 };
    count.clamp(1, cols)
}

/// A pixel of a layer's maps under the pointer: layer, map k, row i,
/// column j.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probe {
    layer: usize,
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

/// What to outline on the maps of layer `shown`'s output (`None`: the
/// network's input) for the probed pixel: its window, in map `Some(k)` or
/// in every map (`None`, once a convolution on the way mixes them).
fn outline(
    layers: &[LayerPlan],
    p: Probe,
    shown: Option<usize>,
) -> Option<(Option<usize>, Window)> {
    if shown == Some(p.layer) {
        return Some((Some(p.k), Window::pixel(p.i, p.j)));
    }
    let input_of = shown.map_or(0, |l| l + 1);
    if input_of > p.layer {
        return None;
    }
    let (_, window) = receptive_field(layers, p.layer, p.i, p.j)
        .into_iter()
        .find(|(l, _)| *l == input_of)?;
    let mixed = layers[input_of..=p.layer]
        .iter()
        .any(|l| matches!(l.kind, LayerKind::Conv2d { .. }));
    Some(((!mixed).then_some(p.k), window))
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
    // Nothing drawn yet: an example, so that the maps are not blank.
    Effect::new(move |_| {
        if route.section() == Section::Inside && state.net.get().is_some() {
            state.offer_example();
        }
    });
    let input = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let values = state
            .pre
            .get()
            .map_or_else(|| vec![0.0; 784], |p| p.input.to_vec());
        if let Some(c) = input.get() {
            paint::grey(&c, 28, 28, &values);
        }
    });
    let layers_of = move || state.net.get().map(|n| n.plan.layers).unwrap_or_default();
    let input_outline = Signal::derive(move || outline(&layers_of(), probe.get()?, None));
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
            <p id="inside-example" class="notice" hidden=move || !state.placeholder.get()>{move || s().example_notice}</p>
            <p class="hint">{move || s().hover_hint}" "{move || s().maps_axes}</p>
            <div class="layers">
                <figure>
                    <div class="map-frame">
                        <canvas id="inside-input" node_ref=input class="pixelated maps" style:width="84px"></canvas>
                        <Overlay count=1 side=28 cols=1 outline=input_outline />
                    </div>
                    <figcaption>{move || s().input_caption}</figcaption>
                </figure>
                <For each=layers key=|l| format!("{} {} {:?}", l.index, l.label, l.output)
                    children=move |l| view! { <LayerFigure state=state layer=l lang=lang probe=probe /> } />
                <figure>
                    <canvas id="output-units" node_ref=outputs class="pixelated maps"></canvas>
                    <figcaption>{classes_caption}<MapKey signed=false text=Signal::derive(move || s().units_key) /></figcaption>
                </figure>
                <figure hidden=move || state.net.get().and_then(|n| n.filters).is_none()>
                    <canvas id="layer-0-filters" node_ref=filters class="pixelated maps"></canvas>
                    <figcaption>{filters_caption}<MapKey signed=true text=Signal::derive(move || s().filters_key) /></figcaption>
                </figure>
            </div>
        </section>
    }
}

/// The colour scale of a grid: viridis from 0 up, or blue, white and red
/// for signed values; with what it spans.
#[component]
fn MapKey(signed: bool, text: Signal<&'static str>) -> impl IntoView {
    view! {
        <span class="map-key">
            <span class="map-key-bar" class:signed=signed aria-hidden="true"></span>
            {move || text.get()}
        </span>
    }
}

/// An outline drawn over a grid of `count` maps of `side` x `side` pixels
/// laid out as `paint::grid` lays them (1-pixel gaps), in the canvas's own
/// pixels, so it scales with the canvas.
#[component]
fn Overlay(
    count: usize,
    side: usize,
    cols: usize,
    outline: Signal<Option<(Option<usize>, Window)>>,
) -> impl IntoView {
    let cell = side + 1;
    let rows = count.div_ceil(cols);
    let (w, h) = (cols * cell - 1, rows * cell - 1);
    let rects = move || {
        let Some((map, win)) = outline.get() else {
            return Vec::new();
        };
        let maps: Vec<usize> = match map {
            Some(k) => vec![k],
            None => (0..count).collect(),
        };
        maps.into_iter()
            .filter(|&m| m < count)
            .map(|m| {
                let (x, y) = ((m % cols) * cell + win.left, (m / cols) * cell + win.top);
                view! { <rect x=x y=y width=win.width() height=win.height() /> }
            })
            .collect::<Vec<_>>()
    };
    view! {
        <svg class="map-outline" viewBox=format!("0 0 {w} {h}") preserveAspectRatio="none" aria-hidden="true">{rects}</svg>
    }
}

/// One layer's output for the drawing: its maps in a grid, or its units in
/// a row. Hovering a map's pixel outlines what it reads on the maps before
/// it (see [`outline`]); layer 0, when it is a convolution, also writes
/// out the sum.
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
    let maps = side > 1;
    let explained = index == 0 && matches!(layer.kind, LayerKind::Conv2d { .. });
    let hover = move |ev: MouseEvent| {
        let Some(c) = node.get_untracked() else {
            return;
        };
        let p =
            paint::grid_cell(paint::pointer_pixel(&c, &ev), count, side, cols).map(|(k, i, j)| {
                Probe {
                    layer: index,
                    k,
                    i,
                    j,
                }
            });
        if probe.get_untracked() != p {
            probe.set(p);
        }
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
    let outlined = Signal::derive(move || {
        let layers = state.net.get().map(|n| n.plan.layers).unwrap_or_default();
        outline(&layers, probe.get()?, Some(index))
    });
    let key = Signal::derive(move || if maps { s().maps_key } else { s().units_key });
    view! {
        <figure class:explained=explained>
            <div class="map-frame">
                <canvas id=format!("layer-{index}-maps") node_ref=node class="pixelated maps"
                    style:width=format!("{}px", 3 * (cols * (side + 1) - 1))
                    on:mousemove=move |ev| if maps { hover(ev) }
                    on:mouseleave=move |_| if maps { probe.set(None) }></canvas>
                {maps.then(|| view! { <Overlay count=count side=side cols=cols outline=outlined /> })}
            </div>
            <figcaption>{text}<MapKey signed=false text=key /></figcaption>
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
        let p = probe.get().filter(|p| p.layer == 0)?;
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
            <p class="formula-result"><code>{format!("= {} → {} → {}", result(sum, 4), act.name(), result(activated, 4))}</code>
                {format!("   ({}: {})", s.read_back, result(y, 4))}</p>
        })
    };
    view! { <div id="formula" aria-live="polite">{body}</div> }
}

/// A number for a formula: two decimals, a negative one in brackets with a
/// true minus sign, so that "1.00·(−0.10)" reads as a product.
pub(super) fn signed(v: f32) -> String {
    if v < 0.0 {
        format!("(−{:.2})", -v)
    } else {
        format!("{v:.2}")
    }
}

/// A number at the end of a formula, `decimals` after the point, with a
/// true minus sign.
pub(super) fn result(v: f32, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, v.abs());
    if v < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0') {
        format!("−{text}")
    } else {
        text
    }
}
