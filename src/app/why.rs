//! Why this answer (issue 15): the saliency map of the drawing for a class,
//! or for "this class and not that one", gradient x input and the
//! occlusion map, overlaid on the model input with a legend; and "make it
//! a K", its change shown as ghost ink over the drawing; which typed
//! characters mattered to the next one, as highlighting. Every number is
//! made by the backward kernels of the page's backend (src/nn/explain.rs)
//! and read back once per explanation.

use leptos::prelude::*;

use super::digits::DigitState;
use super::engine::Job;
use super::i18n::Lang;
use super::nav::Route;
use super::paint;
use super::text::TextState;
use crate::link::Section;
use crate::nn::classifier::{CLASSES, PIXELS, SIDE};
use crate::nn::explain::{CharInfluence, MadeIt, Occlusion, Saliencies, Target};

/// How long a drawing rests before it is explained (ms).
const REST_MS: u64 = 250;

/// Which map the overlay shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shown {
    /// d score / d pixel: where more ink would raise (red) or lower (blue)
    /// the score.
    Gradient,
    /// gradient x input: what the ink drawn contributes.
    TimesInput,
    /// How much hiding each part under a gray 4x4 patch lowers the logit.
    Occlusion,
}

/// The explanation panel under the preprocessing steps. `state.out`
/// changing (a new answer) asks every class's saliency map at once, so
/// picking a class or a pair afterwards asks nothing; occlusion and "make
/// it a K" are asked when shown.
#[component]
pub fn WhyPanel(state: DigitState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let maps = RwSignal::new(None::<Saliencies>);
    let occ = RwSignal::new(None::<Occlusion>);
    let made = RwSignal::new(None::<MadeIt>);
    // None: the digit the network reads.
    let class = RwSignal::new(None::<usize>);
    let against = RwSignal::new(None::<usize>);
    let shown = RwSignal::new(Shown::Gradient);
    let target = RwSignal::new(7usize);
    let scale = RwSignal::new(0.0f32);
    let error = RwSignal::new(None::<String>);
    let overlay = NodeRef::<leptos::html::Canvas>::new();
    let ghost = NodeRef::<leptos::html::Canvas>::new();
    let report = move |r: crate::Result<()>| match r {
        Ok(()) => error.set(None),
        Err(e) => error.set(Some(e.to_string())),
    };
    let chosen = move || {
        maps.with(|m| {
            m.as_ref()
                .map(|m| class.get().unwrap_or_else(|| m.predicted()))
        })
    };

    // A new answer: every class's map of the drawing it read, once the
    // drawing has rested a moment and only while this part of the page is
    // shown, so that explaining never slows the drawing, training or the
    // lab (ten backward passes: about 12 ms on the CPU, 120 on SwiftShader).
    let route = use_context::<Route>().expect("the route is provided");
    let pending = StoredValue::new(None::<TimeoutHandle>);
    Effect::new(move |_| {
        let answered = state.out.with(Option::is_some);
        let here = route.section() == Section::Draw;
        occ.set(None);
        made.set(None);
        if let Some(h) = pending.get_value() {
            h.clear();
        }
        let Some(pre) = state.pre.get_untracked().filter(|_| answered && here) else {
            maps.set(None);
            return;
        };
        let ask = move || {
            let done = move |r: crate::Result<Saliencies>| report(r.map(|m| maps.set(Some(m))));
            state
                .runner
                .with_value(|r| r.submit(Job::Saliency(Box::new(pre.input), Box::new(done))));
        };
        pending.set_value(
            set_timeout_with_handle(ask, std::time::Duration::from_millis(REST_MS)).ok(),
        );
    });

    // The occlusion map of the class chosen, when shown.
    Effect::new(move |_| {
        let (Some(k), Shown::Occlusion) = (chosen(), shown.get()) else {
            return;
        };
        if occ.with_untracked(|o| o.as_ref().is_some_and(|o| o.class == k)) {
            return;
        }
        let Some(input) = maps.with_untracked(|m| m.as_ref().map(|m| m.input.clone())) else {
            return;
        };
        let Ok(input) = <Box<[f32; PIXELS]>>::try_from(input.into_boxed_slice()) else {
            return;
        };
        let done = move |r: crate::Result<Occlusion>| report(r.map(|o| occ.set(Some(o))));
        state
            .runner
            .with_value(|r| r.submit(Job::Occlusion(input, Some(k), Box::new(done))));
    });

    // The overlay: the map over the dimmed input.
    Effect::new(move |_| {
        let Some(canvas) = overlay.get() else { return };
        let values = maps.with(|m| {
            let m = m.as_ref()?;
            let k = class.get().unwrap_or_else(|| m.predicted());
            match shown.get() {
                Shown::Occlusion => occ.with(|o| {
                    o.as_ref()
                        .filter(|o| o.class == k)
                        .map(|o| (m.input.clone(), o.pixel_map(&o.logit_drop)))
                }),
                how => {
                    let t = match against.get() {
                        Some(b) if b != k => Target::Versus {
                            class: k,
                            against: b,
                        },
                        _ => Target::Class(k),
                    };
                    let sal = m.get(t).ok()?;
                    let v = match how {
                        Shown::TimesInput => sal.times_input(),
                        _ => sal.gradient,
                    };
                    Some((m.input.clone(), v))
                }
            }
        });
        let (input, values) = values.unwrap_or_else(|| (vec![0.0; PIXELS], vec![0.0; PIXELS]));
        let max = values.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
        scale.set(max);
        paint::put(&canvas, SIDE, SIDE, &diverging(&input, &values, max));
    });

    // Ghost ink: what "make it a K" added (green) and took away (red).
    Effect::new(move |_| {
        let Some(canvas) = ghost.get() else { return };
        // Before "Go", the drawing as the network read it, unchanged.
        let rgba = made.with(|m| match m {
            Some(m) => ghost_ink(&m.image, &m.change),
            None => maps.with(|s| match s {
                Some(s) => ghost_ink(&s.input, &[0.0; PIXELS]),
                None => vec![0; PIXELS * 4],
            }),
        });
        paint::put(&canvas, SIDE, SIDE, &rgba);
    });

    let make_it = move |_| {
        let Some(input) = maps.with_untracked(|m| m.as_ref().map(|m| m.input.clone())) else {
            return;
        };
        let Ok(input) = <Box<[f32; PIXELS]>>::try_from(input.into_boxed_slice()) else {
            return;
        };
        let done = move |r: crate::Result<MadeIt>| report(r.map(|m| made.set(Some(m))));
        let t = target.get_untracked();
        state
            .runner
            .with_value(|r| r.submit(Job::MakeIt(input, t, Box::new(done))));
    };
    let digit_options = move |none: &'static str| {
        std::iter::once(view! { <option value="">{none}</option> }.into_any())
            .chain((0..CLASSES).map(|d| view! { <option value=d>{d}</option> }.into_any()))
            .collect_view()
    };
    let parse = |v: String| v.parse::<usize>().ok().filter(|&d| d < CLASSES);
    let legend = move || {
        let max = format!("{:.3}", scale.get());
        match shown.get() {
            Shown::Occlusion => s().why_legend_occlusion.replace("{max}", &max),
            _ => s().why_legend.replace("{max}", &max),
        }
    };
    let made_text = move || {
        made.with(|m| {
            m.as_ref().map(|m| {
                let text = if m.reached {
                    s().made_it
                } else {
                    s().not_made_it
                };
                text.replace("{steps}", &m.steps.to_string())
                    .replace("{target}", &m.target.to_string())
                    .replace("{p}", &format!("{:.1}%", 100.0 * m.probs[m.target]))
                    .replace("{l2}", &format!("{:.2}", m.l2))
                    .replace("{max}", &format!("{:.2}", m.max_abs))
            })
        })
    };
    view! {
        <section id="why" aria-labelledby="why-title">
            <h2 id="why-title">{move || s().why_title}</h2>
            <p class="hint">{move || s().why_hint}</p>
            <div class="why-controls">
                <label>{move || s().why_class}" "
                    <select id="why-class" on:change=move |ev| class.set(parse(event_target_value(&ev)))>
                        {move || digit_options(s().why_read)}
                    </select>
                </label>
                <label>{move || s().why_against}" "
                    <select id="why-against" on:change=move |ev| against.set(parse(event_target_value(&ev)))>
                        {move || digit_options("—")}
                    </select>
                </label>
                <label>{move || s().why_view}" "
                    <select id="why-view" on:change=move |ev| shown.set(match event_target_value(&ev).as_str() {
                        "times-input" => Shown::TimesInput,
                        "occlusion" => Shown::Occlusion,
                        _ => Shown::Gradient,
                    })>
                        <option value="gradient">{move || s().why_gradient}</option>
                        <option value="times-input">{move || s().why_times_input}</option>
                        <option value="occlusion">{move || s().why_occlusion}</option>
                    </select>
                </label>
            </div>
            <p id="why-waiting" class="hint" hidden=move || maps.with(Option::is_some)>{move || s().why_waiting}</p>
            // Nothing to show before a drawing has been explained.
            <div class="why-maps" hidden=move || maps.with(Option::is_none)>
                <figure>
                    <canvas id="why-canvas" node_ref=overlay class="pixelated" role="img"
                        aria-label=move || s().why_title
                        data-state=move || if maps.with(Option::is_some) { "ready" } else { "empty" }
                        data-class=move || chosen().map(|k| k.to_string()).unwrap_or_default()
                        data-max=move || scale.get().to_string()></canvas>
                    <figcaption id="why-legend">
                        <span class="why-scale" aria-hidden="true"></span>
                        {legend}
                    </figcaption>
                </figure>
                <figure>
                    <canvas id="ghost-canvas" node_ref=ghost class="pixelated" role="img"
                        aria-label=move || s().make_it></canvas>
                    <figcaption>
                        <label>{move || s().make_it}" "
                            <select id="make-it-target" on:change=move |ev| {
                                if let Some(t) = parse(event_target_value(&ev)) { target.set(t) }
                            }>
                                {(0..CLASSES).map(|d| view! { <option value=d selected={d == 7}>{d}</option> }).collect_view()}
                            </select>
                        </label>
                        " "
                        <button id="make-it-go" on:click=make_it disabled=move || maps.with(Option::is_none)>
                            {move || s().make_it_go}
                        </button>
                        <p id="make-it-result" aria-live="polite"
                            data-steps=move || made.with(|m| m.as_ref().map(|m| m.steps.to_string()).unwrap_or_default())
                            data-reached=move || made.with(|m| m.as_ref().map(|m| m.reached.to_string()).unwrap_or_default())
                            data-l2=move || made.with(|m| m.as_ref().map(|m| m.l2.to_string()).unwrap_or_default())>
                            {made_text}
                        </p>
                    </figcaption>
                </figure>
            </div>
            <p class="error" role="alert">{move || error.get()}</p>
        </section>
    }
}

/// The map over the dimmed input, RGBA: red where the value is positive,
/// blue where negative, as strongly as |value| / max.
fn diverging(input: &[f32], values: &[f32], max: f32) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(input.len() * 4);
    for (&x, &v) in input.iter().zip(values) {
        let base = 30.0 + 110.0 * x.clamp(0.0, 1.0);
        let a = if max > 0.0 {
            (v.abs() / max).min(1.0)
        } else {
            0.0
        };
        let hue = if v >= 0.0 {
            [230.0, 60.0, 50.0]
        } else {
            [50.0, 110.0, 230.0]
        };
        rgba.extend(hue.map(|h| (base * (1.0 - a) + h * a) as u8));
        rgba.push(255);
    }
    rgba
}

/// The image "make it a K" ended with, in grey, its added ink tinted
/// green and its removed ink red, as strongly as the change.
fn ghost_ink(image: &[f32], change: &[f32]) -> Vec<u8> {
    let mut rgba = Vec::with_capacity(image.len() * 4);
    for (&x, &d) in image.iter().zip(change) {
        let base = 255.0 * x.clamp(0.0, 1.0);
        let a = d.abs().min(1.0);
        let hue = if d >= 0.0 {
            [60.0, 220.0, 90.0]
        } else {
            [230.0, 60.0, 50.0]
        };
        rgba.extend(hue.map(|h| (base * (1.0 - a) + h * a) as u8));
        rgba.push(255);
    }
    rgba
}

/// Which characters of the typed text mattered to the next character the
/// model predicts: each character highlighted by the gradient norm of
/// log p(next) with respect to its embedding, or by how much p(next)
/// drops when it is read as the unknown symbol (red: it helped; blue, by
/// occlusion: it stood in the way). Asked with a button: the occluded
/// copies make it the heaviest explanation (half a second on the CPU for
/// 100 characters).
#[component]
pub fn CharsPanel(state: TextState, text: RwSignal<String>, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let inf = RwSignal::new(None::<CharInfluence>);
    let by_occlusion = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    // A changed text makes the highlighting stale.
    Effect::new(move |_| {
        text.track();
        inf.set(None);
    });
    let go = move |_| {
        let t = text.get_untracked();
        let done = move |r: crate::Result<CharInfluence>| match r {
            Ok(i) => {
                inf.set(Some(i));
                error.set(None);
            }
            Err(e) => error.set(Some(e.to_string())),
        };
        state
            .runner
            .with_value(|r| r.submit(Job::CharInfluence(t, Box::new(done))));
    };
    let next = move || {
        inf.with(|i| {
            i.as_ref().map(|i| {
                s().chars_next
                    .replace("{c}", &format!("{:?}", i.next))
                    .replace("{p}", &format!("{:.1}%", 100.0 * i.prob))
            })
        })
    };
    let highlighted = move || {
        let occlusion = by_occlusion.get();
        inf.with(|i| {
            let i = i.as_ref()?;
            let v = if occlusion { &i.drop } else { &i.grad_norm };
            let max = v.iter().fold(0.0f32, |a, &b| a.max(b.abs()));
            Some(
                i.chars
                    .iter()
                    .zip(v)
                    .map(|(&c, &x)| {
                        let a = if max > 0.0 { x.abs() / max } else { 0.0 };
                        let rgb = if x >= 0.0 { "230, 60, 50" } else { "50, 110, 230" };
                        let c = if c == '\n' { '↵' } else { c };
                        view! {
                            <span data-influence=x.to_string()
                                style:background-color=format!("rgba({rgb}, {a:.2})")>{c.to_string()}</span>
                        }
                    })
                    .collect_view(),
            )
        })
    };
    view! {
        <div id="char-influence">
            <h3>{move || s().chars_title}</h3>
            <p class="hint">{move || s().chars_hint}</p>
            <button id="chars-go" on:click=go disabled=move || text.with(String::is_empty)>
                {move || s().chars_go}
            </button>
            " "
            <label>
                <input type="checkbox" id="chars-occlusion"
                    on:change=move |ev| by_occlusion.set(event_target_checked(&ev)) />
                {move || s().chars_by_occlusion}
            </label>
            <p id="chars-next" aria-live="polite">{next}</p>
            <p id="chars-highlight" class="heat-text"
                data-state=move || if inf.with(Option::is_some) { "ready" } else { "empty" }><code>{highlighted}</code></p>
            <p class="error" role="alert">{move || error.get()}</p>
        </div>
    }
}
