//! Inside the digit network for the current drawing: every feature map,
//! the dense layer and the outputs, conv1's filters, and for any conv1
//! output pixel the sum that made it, with the real numbers.

use leptos::prelude::*;
use web_sys::MouseEvent;

use super::digits::DigitState;
use super::i18n::Lang;
use super::paint;
use super::remote::Place;

/// conv1's output side, and its maps' grid on the page.
const C1_SIDE: usize = 26;
const C1_COLS: usize = 8;

/// A conv1 output pixel under the pointer: map k, row i, column j.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Probe {
    k: usize,
    i: usize,
    j: usize,
}

#[component]
pub fn InsideView(state: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let nodes: [NodeRef<leptos::html::Canvas>; 7] = std::array::from_fn(|_| NodeRef::new());
    let [conv1, pool1, conv2, pool2, dense, outputs, filters] = nodes;
    let probe = RwSignal::new(None::<Probe>);
    Effect::new(move |_| {
        let out = state.out.get().unwrap_or_default();
        // (canvas, values, maps, side, columns); an empty drawing shows dark maps.
        let layers = [
            (conv1, &out.conv1, 32, 26, C1_COLS),
            (pool1, &out.pool1, 32, 13, 8),
            (conv2, &out.conv2, 64, 11, 16),
            (pool2, &out.pool2, 64, 5, 16),
            (dense, &out.dense, 64, 1, 8),
            (outputs, &out.probs, 10, 1, 10),
        ];
        for (node, values, count, side, cols) in layers {
            if let Some(c) = node.get() {
                paint::grid(&c, values, count, side, cols);
            }
        }
    });
    Effect::new(move |_| {
        if let (Some(c), Some(f)) = (filters.get(), state.filters.get()) {
            paint::signed_grid(&c, &f.weight, 32, 3, 8);
        }
    });
    let hover = move |ev: MouseEvent| {
        let Some(c) = conv1.get_untracked() else {
            return;
        };
        let rect = c.get_bounding_client_rect();
        let k = c.width() as f64 / rect.width().max(1.0);
        let x = ((ev.client_x() as f64 - rect.left()) * k) as usize;
        let y = ((ev.client_y() as f64 - rect.top()) * k) as usize;
        let (cell, gap) = (C1_SIDE + 1, C1_SIDE);
        let (cx, cy) = (x / cell, y / cell);
        let (j, i) = (x % cell, y % cell);
        let k = cy * C1_COLS + cx;
        probe.set((j < gap && i < gap && k < 32).then_some(Probe { k, i, j }));
    };
    let figure = move |id: &'static str,
                       node: NodeRef<leptos::html::Canvas>,
                       caption: fn(&super::i18n::Strings) -> &'static str| {
        view! {
            <figure>
                <canvas id=id node_ref=node class="pixelated maps"></canvas>
                <figcaption>{move || caption(s())}</figcaption>
            </figure>
        }
    };
    view! {
        <section id="inside" aria-labelledby="inside-title">
            <h2 id="inside-title">{move || s().inside_title}</h2>
            <p class="hint">{move || s().inside_hint}</p>
            <p id="inside-on-server" class="notice"
                hidden=move || state.remote.place.get() != Place::Server>{move || s().inside_needs_browser}</p>
            <div class="layers">
                <figure>
                    <canvas id="conv1-maps" node_ref=conv1 class="pixelated maps"
                        on:mousemove=hover on:mouseleave=move |_| probe.set(None)></canvas>
                    <figcaption>{move || s().conv1_maps}" — "{move || s().hover_hint}</figcaption>
                </figure>
                <Formula state=state probe=probe lang=lang />
                {figure("pool1-maps", pool1, |s| s.pool1_maps)}
                {figure("conv2-maps", conv2, |s| s.conv2_maps)}
                {figure("pool2-maps", pool2, |s| s.pool2_maps)}
                {figure("dense-units", dense, |s| s.dense_units)}
                {figure("output-units", outputs, |s| s.outputs)}
                {figure("conv1-filters", filters, |s| s.filters)}
            </div>
        </section>
    }
}

/// y_ij = sum_m sum_n x(i+m, j+n) k(m, n) + b for the probed pixel (the
/// valid 3x3 convolution: output (i, j) reads input rows i..i+2, columns
/// j..j+2), then relu.
#[component]
fn Formula(
    state: DigitState,
    probe: RwSignal<Option<Probe>>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let body = move || {
        let s = lang.get().strings();
        let p = probe.get()?;
        let pre = state.pre.get()?;
        let f = state.filters.get()?;
        let out = state.out.get()?;
        let w = &f.weight[p.k * 9..p.k * 9 + 9];
        let terms: Vec<(f32, f32)> = (0..9)
            .map(|t| (pre.input[(p.i + t / 3) * 28 + p.j + t % 3], w[t]))
            .collect();
        let sum: f32 = terms.iter().map(|(x, k)| x * k).sum::<f32>() + f.bias[p.k];
        // Absent when the server answered: it sends no feature maps.
        let y = *out
            .conv1
            .get(p.k * C1_SIDE * C1_SIDE + p.i * C1_SIDE + p.j)?;
        let products = terms
            .iter()
            .map(|(x, k)| format!("{x:.2}·{k:.2}"))
            .collect::<Vec<_>>()
            .join(" + ");
        Some(view! {
            <p class="formula-head">
                {format!("{} {}, y({}, {}) = Σₘ Σₙ x({} + m, {} + n) · k(m, n) + b", s.map, p.k, p.i, p.j, p.i, p.j)}
            </p>
            <p class="formula-terms"><code>{format!("= {products} + {:.3}", f.bias[p.k])}</code></p>
            <p class="formula-result"><code>{format!("= {sum:.4} → relu → {:.4}", sum.max(0.0))}</code>
                {format!("   ({}: {y:.4})", s.read_back)}</p>
        })
    };
    view! { <div id="formula" aria-live="polite">{body}</div> }
}
