//! Backprop with real numbers, the backward twin of the inside view's hover
//! formula: after one training step taken on its own, point at a weight of
//! the first convolution or the last dense layer to see its gradient as the
//! sum of dy·x products over the batch, then Adam's update of it. Every
//! number is one the kernels computed and the page read back after the step
//! (src/train/backprop.rs); the view only adds them up and lays them out.

use std::rc::Rc;

use leptos::ev::{KeyboardEvent, MouseEvent};
use leptos::prelude::*;

use super::engine::TracedStep;
use super::i18n::{Lang, Strings};
use super::inside::result;
use super::paint;
use crate::train::backprop::{Geometry, ParamStep, WeightStep};

/// Products listed by name; the rest are summed in one term.
const LISTED: usize = 6;
/// Images whose share of the gradient is shown as a picture.
const SHARES_SHOWN: usize = 3;

/// A weight of a traced parameter: its place in [`TracedStep::params`] and
/// its flat index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pick {
    param: usize,
    flat: usize,
}

/// How a parameter is laid out as a grid of cells: (cells, cell side, columns).
fn layout(p: &ParamStep) -> (usize, usize, usize) {
    match p.geometry {
        Geometry::Conv { c, o, k, .. } => (o * c, k, 8.min(o * c).max(1)),
        Geometry::Dense { inputs, outputs } => (outputs * inputs, 1, inputs),
    }
}

/// The multi-index of a flat index in `shape`.
fn unflat(shape: &[usize], mut flat: usize) -> Vec<usize> {
    let mut index = vec![0; shape.len()];
    for (i, s) in shape.iter().enumerate().rev() {
        index[i] = flat % s;
        flat /= s;
    }
    index
}

/// The weight with the largest |gradient|: where the view opens.
fn largest(p: &ParamStep) -> usize {
    (0..p.grad.len())
        .max_by(|&a, &b| p.grad[a].abs().total_cmp(&p.grad[b].abs()))
        .unwrap_or(0)
}

/// A number with four significant digits and a true minus sign: gradients
/// and moments are often 1e-4 or smaller.
fn num(v: f32) -> String {
    let a = v.abs();
    let text = if a == 0.0 {
        "0".to_string()
    } else if (1e-3..1e4).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{a:.decimals$}")
    } else {
        let e = format!("{a:.3e}");
        e.replace("e-", "e−")
    };
    if v < 0.0 { format!("−{text}") } else { text }
}

/// A factor of a product, bracketed when negative so "0.5·(−0.2)" reads right.
fn factor(v: f32) -> String {
    if v < 0.0 {
        format!("({})", num(v))
    } else {
        num(v)
    }
}

#[component]
pub fn BackpropView(
    traced: RwSignal<Option<Rc<TracedStep>>, LocalStorage>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let pick = RwSignal::new(None::<Pick>);
    // A new step opens on the first parameter's strongest gradient.
    Effect::new(move |_| {
        let p = traced.with(|t| {
            t.as_ref().and_then(|t| t.params.first()).map(|p| Pick {
                param: 0,
                flat: largest(p),
            })
        });
        pick.set(p);
    });
    let weight = move || -> Option<(WeightStep, Rc<TracedStep>)> {
        let t = traced.get()?;
        let p = pick.get()?;
        let param = t.params.get(p.param)?;
        let w = param.weight(&unflat(&param.shape, p.flat), LISTED).ok()?;
        Some((w, t))
    };
    let lesson = use_context::<super::lessons::LessonState>();
    let picked = move |p: Pick| {
        pick.set(Some(p));
        if let Some(l) = lesson {
            l.raise(crate::lessons::flags::BACKPROP_WEIGHT);
        }
    };
    view! {
        <section id="backprop" aria-labelledby="backprop-title" hidden=move || traced.with(Option::is_none)>
            <h3 id="backprop-title">{move || s().backprop_title.replace("{step}",
                &traced.with(|t| t.as_ref().and_then(|t| t.params.first()).map_or(0, |p| p.step)).to_string())}</h3>
            <p class="hint">{move || s().backprop_hint}</p>
            <div class="backprop-params">
                {move || traced.get().map(|t| (0..t.params.len()).map(|i| view! {
                    <ParamGrid i=i traced=t.clone() pick=pick on_pick=picked lang=lang />
                }).collect_view())}
            </div>
            {move || {
                lang.track();
                weight().map(|(w, t)| view! { <Formula w=w t=t lang=lang /> })
            }}
        </section>
    }
}

/// One traced parameter's gradient as a grid (red positive, blue negative),
/// each cell a weight to point at, click, or reach with the arrow keys.
#[component]
fn ParamGrid(
    i: usize,
    traced: Rc<TracedStep>,
    pick: RwSignal<Option<Pick>>,
    on_pick: impl Fn(Pick) + Copy + Send + 'static,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let node = NodeRef::<leptos::html::Canvas>::new();
    let param = &traced.params[i];
    let (count, side, cols) = layout(param);
    let len = param.grad.len();
    let stride = *param.shape.last().unwrap_or(&1);
    let name = param.name.clone();
    let shape = param
        .shape
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join("×");
    // Kept, not copied: the step's x and dy are megabytes.
    let traced = StoredValue::new_local(traced);
    Effect::new(move |_| {
        if let Some(c) = node.get() {
            traced.with_value(|t| paint::signed_grid(&c, &t.params[i].grad, count, side, cols));
        }
    });
    // The weight under the pointer: cells of `side` pixels with 1-pixel gaps.
    let at = move |ev: &MouseEvent| -> Option<Pick> {
        let c = node.get_untracked()?;
        let (m, row, col) = paint::grid_cell(paint::pointer_pixel(&c, ev), count, side, cols)?;
        Some(Pick {
            param: i,
            flat: m * side * side + row * side + col,
        })
    };
    let key = move |ev: KeyboardEvent| {
        let from = pick
            .get_untracked()
            .filter(|p| p.param == i)
            .map_or(0, |p| p.flat);
        let flat = match ev.key().as_str() {
            "ArrowLeft" => from.saturating_sub(1),
            "ArrowRight" => (from + 1).min(len - 1),
            "ArrowUp" => from.saturating_sub(stride),
            "ArrowDown" => (from + stride).min(len - 1),
            _ => return,
        };
        ev.prevent_default();
        on_pick(Pick { param: i, flat });
    };
    // About 380 px wide, so a weight is big enough to point at; whole
    // pixels per cell, so the grid stays sharp.
    let pixels = cols * (side + 1) - 1;
    let width = pixels * (380 / pixels).clamp(2, 12);
    let label = StoredValue::new((name.clone(), shape));
    let caption = move || {
        label.with_value(|(name, shape)| {
            s().backprop_grid
                .replace("{name}", name)
                .replace("{shape}", shape)
        })
    };
    // The picked weight outlined, in percent of the canvas.
    let rows = count.div_ceil(cols);
    let outline = move || {
        let flat = pick.get().filter(|p| p.param == i)?.flat;
        let (m, at) = (flat / (side * side), flat % (side * side));
        let xy = paint::grid_pixel((m, at / side, at % side), side, cols);
        Some(paint::cell_box(xy, pixels, rows * (side + 1) - 1))
    };
    view! {
        <figure class="backprop-param">
            <div class="grid-frame" style:width=format!("{width}px")>
                <canvas node_ref=node class="pixelated" tabindex="0" data-param=name.clone()
                    aria-label=move || format!("{}: {}", caption(), s().backprop_keys)
                    on:mousemove=move |ev| if let Some(p) = at(&ev) && pick.get_untracked() != Some(p) { on_pick(p) }
                    on:click=move |ev| if let Some(p) = at(&ev) { on_pick(p) }
                    on:keydown=key></canvas>
                <span class="cell-cursor" aria-hidden="true" hidden=move || outline().is_none()
                    style=move || outline().unwrap_or_default()></span>
            </div>
            <figcaption>{caption}</figcaption>
        </figure>
    }
}

/// The picked weight: its gradient as products, their sum beside the
/// kernel's, and Adam's update from before to after, all read back.
#[component]
fn Formula(w: WeightStep, t: Rc<TracedStep>, lang: RwSignal<Lang>) -> impl IntoView {
    let s: &Strings = lang.get_untracked().strings();
    let index = w
        .index
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let label = |image: usize| t.labels.get(image).map_or(String::new(), |l| l.to_string());
    let terms = w
        .terms
        .largest
        .iter()
        .map(|term| {
            let place = match term.at {
                Some((r, c)) => s.backprop_term_at
                    .replace("{image}", &term.image.to_string())
                    .replace("{label}", &label(term.image))
                    .replace("{r}", &r.to_string())
                    .replace("{c}", &c.to_string()),
                None => s.backprop_term
                    .replace("{image}", &term.image.to_string())
                    .replace("{label}", &label(term.image)),
            };
            view! { <li><code>{format!("{}·{}", factor(term.dy), factor(term.x))}</code>" "<span class="hint">{place}</span></li> }
        })
        .collect_view();
    let others = w.terms.count.saturating_sub(w.terms.largest.len());
    // Whether the products mostly cancel (the sum under half their sizes).
    let cancel = if w.terms.sum.abs() < 0.5 * w.terms.magnitude {
        s.backprop_cancel
    } else {
        s.backprop_agree
    };
    // The images that pushed this weight hardest, with their share.
    let mut shares: Vec<(usize, f32)> = w.terms.per_image.iter().copied().enumerate().collect();
    shares.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
    shares.truncate(SHARES_SHOWN);
    let pictures = t.params.iter().find(|p| {
        matches!(
            p.geometry,
            Geometry::Conv {
                c: 1,
                h: 28,
                w: 28,
                ..
            }
        )
    });
    let share_view = shares
        .into_iter()
        .map(|(image, share)| {
            let node = NodeRef::<leptos::html::Canvas>::new();
            let pixels = pictures.and_then(|p| p.x.get(image * 784..(image + 1) * 784)).map(<[f32]>::to_vec);
            let has_picture = pixels.is_some();
            Effect::new(move |_| {
                if let (Some(c), Some(px)) = (node.get(), &pixels) {
                    paint::grey(&c, 28, 28, px);
                }
            });
            view! {
                <li>
                    {has_picture.then(|| view! { <canvas node_ref=node class="pixelated thumb" aria-hidden="true"></canvas> })}
                    <span>{s.backprop_share.replace("{image}", &image.to_string()).replace("{label}", &label(image))}
                        " "<code>{num(share)}</code></span>
                </li>
            }
        })
        .collect_view();
    let adam = w.adam.map(|a| {
        let step = a.lr * a.m_hat / (a.v_hat.sqrt() + a.eps);
        view! {
            <div id="backprop-adam" data-m=a.m.to_string() data-v=a.v.to_string() data-lr=a.lr.to_string()
                data-beta1=a.beta1.to_string() data-beta2=a.beta2.to_string() data-eps=a.eps.to_string()
                data-bc1=a.bias_correction1.to_string() data-bc2=a.bias_correction2.to_string()
                data-m-hat=a.m_hat.to_string() data-v-hat=a.v_hat.to_string()>
                <p class="formula-head">{s.backprop_adam.replace("{t}", &w.step.to_string())}</p>
                <p><code>{format!("m = β₁·m′ + (1 − β₁)·g = {} ", num(a.m))}</code><span class="hint">{s.read_back}</span></p>
                <p><code>{format!("v = β₂·v′ + (1 − β₂)·g² = {} ", num(a.v))}</code><span class="hint">{s.read_back}</span></p>
                <p><code>{format!("m̂ = m / (1 − β₁ᵗ) = {} / {} = {}", num(a.m), num(a.bias_correction1), num(a.m_hat))}</code></p>
                <p><code>{format!("v̂ = v / (1 − β₂ᵗ) = {} / {} = {}", num(a.v), num(a.bias_correction2), num(a.v_hat))}</code></p>
                <p><code>{format!("w ← w − lr·m̂ / (√v̂ + ε) = {} − {}·{} / ({} + {}) = {}",
                    num(w.before), num(a.lr), factor(a.m_hat), num(a.v_hat.sqrt()), num(a.eps), num(w.before - step))}</code></p>
                <p class="hint">{format!("β₁ = {}, β₂ = {}, ε = {}", a.beta1, a.beta2, num(a.eps))}</p>
            </div>
        }
    });
    view! {
        <div id="backprop-formula" aria-live="polite"
            data-name=w.name.clone() data-index=index.clone() data-grad=w.grad.to_string()
            data-sum=w.terms.sum.to_string() data-magnitude=w.terms.magnitude.to_string()
            data-count=w.terms.count.to_string()
            data-before=w.before.to_string() data-after=w.after.to_string()>
            <p class="formula-head">{format!("{}[{index}]", w.name)}" "<span class="hint">{s.backprop_step_of
                .replace("{t}", &w.step.to_string()).replace("{n}", &t.labels.len().to_string())}</span></p>
            <p><code>{format!("∂L/∂w = Σ dy·x  ({})", s.backprop_products.replace("{n}", &w.terms.count.to_string()))}</code></p>
            <ol class="backprop-terms">{terms}</ol>
            <p><code>{format!("+ {} {}", s.backprop_others.replace("{n}", &others.to_string()), factor(w.terms.rest))}</code></p>
            <p class="formula-result"><code>{format!("= {}", num(w.terms.sum))}</code>
                {format!("   ({}: {})", s.backprop_kernel_grad, num(w.grad))}</p>
            <p class="hint">{cancel.replace("{m}", &num(w.terms.magnitude))}</p>
            <h4>{s.backprop_shares_title}</h4>
            <ul class="backprop-shares">{share_view}</ul>
            {adam}
            <p class="formula-result"><code>{format!("{} → {}", num(w.before), num(w.after))}</code>
                {format!("   ({}: {})", s.read_back, result(w.after - w.before, 6))}</p>
        </div>
    }
}
