//! A network drawn as it computes: the input, then each layer a box in
//! data-flow order with a small drawing of what it outputs (a stack of
//! feature maps, a bar of units, a row of time steps), its output shape,
//! its parameters and its multiply-adds. The boxes are buttons: the lab's
//! editor opens the layer picked, the inside view jumps to its maps. A
//! layer the plan refuses is marked, and the layers after it, which cannot
//! be worked out, are drawn hollow.

use leptos::prelude::*;

use super::words::LabStrings;
use crate::nn::plan::{LayerPlan, Shape, Survey};
use crate::nn::spec::{Input, NetworkSpec};

/// A count as a person reads it: "320", "18.5 k", "2.43 M".
pub fn count(n: u64) -> String {
    match n {
        0..10_000 => n.to_string(),
        10_000..1_000_000 => format!("{:.1} k", n as f64 / 1e3),
        _ => format!("{:.2} M", n as f64 / 1e6),
    }
}

/// Side of the drawing in a box, in SVG units.
const GLYPH: f64 = 44.0;

/// The little drawing of an output: maps as a stack of squares (as many as
/// there are maps, up to four, sized by their side), a flat vector as a bar
/// (taller for more units), a sequence as a row of steps.
fn glyph(shape: Option<Shape>) -> impl IntoView {
    let squares = |n: usize, side: f64| {
        let n = n.clamp(1, 4);
        (0..n)
            .rev()
            .map(|i| {
                let o = i as f64 * 5.0;
                view! { <rect x=o y=o width=side height=side class="map" /> }
            })
            .collect_view()
    };
    let inner = match shape {
        Some(Shape::Maps { c, h, .. }) => {
            let side = (GLYPH - 15.0) * (h as f64 / 28.0).clamp(0.25, 1.0);
            squares(c.div_ceil(16), side).into_any()
        }
        Some(Shape::Flat(n)) => {
            let h = (GLYPH - 4.0) * ((n as f64).log2() / 11.0).clamp(0.12, 1.0);
            view! { <rect x="17" y=GLYPH - h width="8" height=h class="units" /> }.into_any()
        }
        Some(Shape::Seq(_)) | Some(Shape::Chars) => (0..4)
            .map(|i| view! { <circle cx=6.0 + 11.0 * i as f64 cy="22" r="4" class="step" /> })
            .collect_view()
            .into_any(),
        None => view! { <rect x="6" y="6" width="30" height="30" class="unknown" /> }.into_any(),
    };
    view! {
        <svg class="glyph" viewBox=format!("0 0 {GLYPH} {GLYPH}") width=GLYPH height=GLYPH aria-hidden="true">
            {inner}
        </svg>
    }
}

/// How one box reads, from the plan when the layer was worked out.
#[derive(Clone, Debug, PartialEq)]
struct Box_ {
    index: usize,
    /// "conv2d", as the spec names it, and the rest of its label.
    type_name: &'static str,
    settings: String,
    plan: Option<LayerPlan>,
    broken: bool,
}

fn boxes(spec: &NetworkSpec, survey: &Survey) -> Vec<Box_> {
    let broken = survey.broken_layer();
    spec.layers
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let label = l.kind.label();
            let type_name = l.kind.type_name();
            Box_ {
                index: i,
                type_name,
                settings: label
                    .strip_prefix(type_name)
                    .unwrap_or("")
                    .trim()
                    .to_string(),
                plan: survey.layers.get(i).cloned(),
                broken: broken == Some(i),
            }
        })
        .collect()
}

/// The network as boxes; `pick` is told the layer clicked. `id` prefixes
/// the boxes' ids (`{id}-layer-3`); `selected` is marked.
#[component]
pub fn NetworkPicture(
    id: &'static str,
    spec: Signal<NetworkSpec>,
    survey: Signal<Survey>,
    selected: Signal<Option<usize>>,
    pick: Callback<usize>,
    label: Signal<String>,
    words: Signal<&'static LabStrings>,
) -> impl IntoView {
    let input = move || match spec.get().input {
        Input::Image {
            height,
            width,
            channels,
        } => (
            Some(Shape::Maps {
                c: channels,
                h: height,
                w: width,
            }),
            format!("{height}×{width}×{channels}"),
        ),
        Input::Chars => (Some(Shape::Chars), words.get().chars.to_string()),
    };
    let all = move || boxes(&spec.get(), &survey.get());
    view! {
        <ol id=id class="network-picture" aria-label=label>
            <li class="layer-box input-box">
                <span class="box-body">
                    {move || glyph(input().0)}
                    <span class="box-type">{move || words.get().input}</span>
                    <span class="box-shape">{move || input().1}</span>
                </span>
            </li>
            <For each=all key=|b| format!("{b:?}") children=move |b| {
                let index = b.index;
                let shape = b.plan.as_ref().map(|p| p.output.describe().replace('x', "×"));
                let params = b.plan.as_ref().map(|p| p.param_count() as u64);
                let macs = b.plan.as_ref().map(|p| p.macs);
                let out = b.plan.as_ref().map(|p| p.output);
                let known = b.plan.is_some();
                let shape_attr = shape.clone().unwrap_or_default();
                view! {
                    <li class="layer-box" class:broken=b.broken class:unknown=!known
                        class:selected=move || selected.get() == Some(index)>
                        <button id=format!("{id}-layer-{index}") type="button"
                            data-type=b.type_name data-shape=shape_attr
                            data-broken=b.broken.to_string()
                            aria-pressed=move || (selected.get() == Some(index)).to_string()
                            on:click=move |_| pick.run(index)>
                            {glyph(out)}
                            <span class="box-type">{move || words.get().type_name(b.type_name)}</span>
                            <span class="box-settings">{b.settings.clone()}</span>
                            <span class="box-shape">{shape.unwrap_or_else(|| "?".into())}</span>
                            <span class="box-counts">
                                {move || params.map(|p| words.get().params_short.replace("{n}", &count(p)))}
                                " "
                                {move || macs.map(|m| words.get().macs_short.replace("{n}", &count(m)))}
                            </span>
                            {b.broken.then(|| view! { <span class="box-broken" aria-hidden="true">"⚠"</span> })}
                        </button>
                    </li>
                }
            } />
        </ol>
    }
}
