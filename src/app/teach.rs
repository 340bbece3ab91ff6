//! "Teach it": a person draws a digit, gives it a label and adds it to the
//! run's training data; each taught digit is shown with what the model
//! answers for it now, so the effect of a few steps is plain to see.

use leptos::prelude::*;

use super::digits::DigitState;
use super::engine::{Job, Runner};
use super::i18n::Lang;
use super::paint;
use super::training::RunState;
use crate::nn::classifier::{CLASSES, PIXELS, argmax};

/// One taught digit and the model's latest answer for it (digit, probability).
#[derive(Clone, Debug, PartialEq)]
pub struct Taught {
    pub image: Vec<f32>,
    pub label: u8,
    pub answer: Option<(u8, f32)>,
}

#[derive(Clone, Debug, PartialEq)]
enum TeachMessage {
    NeedsRun,
    NeedsDrawing,
    Added(usize),
    Problem(String),
}

#[derive(Clone, Copy)]
pub struct Teaching {
    pub taught: RwSignal<Vec<Taught>>,
    label: RwSignal<u8>,
    message: RwSignal<Option<TeachMessage>>,
    runner: StoredValue<Runner, LocalStorage>,
}

impl Teaching {
    pub fn new(runner: StoredValue<Runner, LocalStorage>) -> Self {
        Self {
            taught: RwSignal::new(Vec::new()),
            label: RwSignal::new(0),
            message: RwSignal::new(None),
            runner,
        }
    }

    /// A new run: nothing taught yet.
    pub fn clear(&self) {
        self.taught.set(Vec::new());
        self.message.set(None);
    }

    /// Ask the model again about every taught digit, in one batch.
    pub fn refresh(&self) {
        let images: Vec<f32> = self
            .taught
            .with_untracked(|t| t.iter().flat_map(|d| d.image.iter().copied()).collect());
        if images.is_empty() {
            return;
        }
        let this = *self;
        let done = move |r: crate::Result<Vec<f32>>| {
            let Ok(probs) = r else { return };
            this.taught.update(|t| {
                for (d, p) in t.iter_mut().zip(probs.chunks(CLASSES)) {
                    let a = argmax(p);
                    d.answer = Some((a as u8, p[a]));
                }
            });
        };
        self.runner
            .with_value(|r| r.submit(Job::PredictMany(images, Box::new(done))));
    }

    fn add(&self, digits: DigitState, state: RunState) {
        if matches!(state, RunState::Idle | RunState::Loading) {
            return self.message.set(Some(TeachMessage::NeedsRun));
        }
        let Some(pre) = digits.pre.get_untracked() else {
            return self.message.set(Some(TeachMessage::NeedsDrawing));
        };
        let (label, this) = (self.label.get_untracked(), *self);
        let image = pre.input.to_vec();
        let done = move |r: crate::Result<usize>| match r {
            Ok(count) => {
                this.taught.update(|t| {
                    t.push(Taught {
                        image,
                        label,
                        answer: None,
                    })
                });
                this.message.set(Some(TeachMessage::Added(count)));
                this.refresh();
            }
            Err(e) => this.message.set(Some(TeachMessage::Problem(e.to_string()))),
        };
        self.runner
            .with_value(|r| r.submit(Job::Teach(Box::new(pre.input), label, Box::new(done))));
    }
}

#[component]
pub fn TeachPanel(
    teaching: Teaching,
    state: RwSignal<RunState>,
    digits: DigitState,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let t = teaching;
    view! {
        <div id="teach">
            <h3>{move || s().teach_title}</h3>
            <p class="hint">{move || s().teach_hint}</p>
            <div class="controls">
                <label>{move || s().teach_label}" "
                    <select id="teach-label" on:change=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse() { t.label.set(v) }
                    }>
                        {(0..10u8).map(|d| view! {
                            <option value=d.to_string() selected=move || t.label.get() == d>{d}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button id="teach-add" on:click=move |_| t.add(digits, state.get_untracked())>
                    {move || s().teach_add}
                </button>
            </div>
            <p id="teach-message" role="status">{move || t.message.get().map(|m| match m {
                TeachMessage::NeedsRun => s().teach_needs_run.to_string(),
                TeachMessage::NeedsDrawing => s().teach_needs_drawing.to_string(),
                TeachMessage::Added(n) => s().teach_added.replace("{count}", &n.to_string()),
                TeachMessage::Problem(e) => e,
            })}</p>
            <ul id="teach-list" class="gallery" data-count=move || t.taught.get().len().to_string()>
                {move || t.taught.get().into_iter().map(|d| {
                    let canvas = NodeRef::<leptos::html::Canvas>::new();
                    let image = d.image.clone();
                    Effect::new(move |_| {
                        if let Some(c) = canvas.get() {
                            paint::grey(&c, 28, 28, &image[..PIXELS.min(image.len())]);
                        }
                    });
                    let answer = d.answer;
                    view! {
                        <li data-label=d.label data-answer=answer.map_or(String::new(), |a| a.0.to_string())>
                            <canvas node_ref=canvas class="pixelated" width="28" height="28"></canvas>
                            <span>{move || s().teach_labelled.replace("{label}", &d.label.to_string())}</span>
                            <span class="value" class:right=answer.is_some_and(|a| a.0 == d.label)>
                                {move || answer.map_or(String::from("…"), |(a, p)| {
                                    s().teach_answer.replace("{digit}", &a.to_string()).replace("{p}", &format!("{:.0}", 100.0 * p))
                                })}
                            </span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </div>
    }
}
