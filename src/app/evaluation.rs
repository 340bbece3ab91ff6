//! What an evaluation on the test images shows: the confusion matrix (true
//! digit by answer, so a teacher sees which digits the network mixes up) and
//! the misclassified test digits the model was surest of.

use leptos::prelude::*;

use super::i18n::Lang;
use super::paint;
use crate::nn::classifier::PIXELS;
use crate::train::digit_run::Mistake;
use crate::train::metrics::Confusion;

/// One evaluation: at which step, the matrix, and the worst mistakes with
/// their images (0..255, as in the data).
#[derive(Clone, Debug, PartialEq)]
pub struct TestResult {
    pub step: usize,
    pub confusion: Confusion,
    pub mistakes: Vec<(Mistake, Vec<u8>)>,
}

#[component]
pub fn EvaluationView(result: RwSignal<Option<TestResult>>, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    view! {
        <div class="evaluation" hidden=move || result.get().is_none()>
            <h3>{move || s().confusion_title.replace("{step}", &result.get().map_or(0, |r| r.step).to_string())}</h3>
            <p class="hint">{move || s().confusion_hint}</p>
            <div class="scroll">
                <table id="td-confusion">
                    <thead><tr>
                        <th scope="col">{move || s().confusion_corner}</th>
                        {(0..10).map(|j| view! { <th scope="col">{j}</th> }).collect_view()}
                    </tr></thead>
                    <tbody>
                        {move || result.get().map(|r| r.confusion.counts.iter().enumerate().map(|(i, row)| {
                            let total = row.iter().sum::<u32>().max(1) as f32;
                            view! {
                                <tr>
                                    <th scope="row">{i}</th>
                                    {row.iter().enumerate().map(|(j, &n)| {
                                        let share = n as f32 / total;
                                        // Right answers in green, mix-ups in red, deeper for more.
                                        let colour = if i == j { "23, 140, 60" } else { "200, 30, 30" };
                                        let alpha = if n == 0 { 0.0 } else { 0.12 + 0.88 * share.sqrt() };
                                        view! {
                                            <td data-true=i data-pred=j
                                                style:background=format!("rgba({colour}, {alpha:.2})")
                                                class:dark={alpha > 0.55}>{n}</td>
                                        }
                                    }).collect_view()}
                                </tr>
                            }
                        }).collect_view())}
                    </tbody>
                </table>
            </div>
            <h3>{move || s().mistakes_title}</h3>
            <p class="hint">{move || s().mistakes_hint}</p>
            <ul id="td-mistakes" class="gallery">
                {move || result.get().map(|r| r.mistakes.into_iter().map(|(m, pixels)| {
                    let canvas = NodeRef::<leptos::html::Canvas>::new();
                    Effect::new(move |_| {
                        if let Some(c) = canvas.get() {
                            let values: Vec<f32> = pixels.iter().take(PIXELS).map(|&p| f32::from(p) / 255.0).collect();
                            paint::grey(&c, 28, 28, &values);
                        }
                    });
                    view! {
                        <li data-truth=m.truth data-predicted=m.predicted>
                            <canvas node_ref=canvas class="pixelated" width="28" height="28"></canvas>
                            <span>{format!("{} → {}", m.truth, m.predicted)}</span>
                            <span class="value">{format!("{:.0}%", 100.0 * m.confidence)}</span>
                        </li>
                    }
                }).collect_view())}
            </ul>
        </div>
    }
}
