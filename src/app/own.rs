//! "Your own classes": a person names 2 to 10 classes, draws examples of
//! each on a pad of its own, trains a network on them (by transfer from the
//! digit network's convolutions, or from scratch) on the page's kernels,
//! sees how the held-out drawings fare (per class and as a confusion
//! matrix) and draws to test. The drawings are kept in this browser and
//! move as one file; the trained model is kept too, can be tried in the
//! digit pad (and the inside view) and published ([`super::publish`]).

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::Shipped;
use super::digits::{DigitState, now_ms};
use super::engine::{DigitProgress, Job, OwnStart, Runner, WeightsKind};
use super::i18n::{Lang, Strings};
use super::nav::Route;
use super::pad::{Pad, PadCanvas};
use super::page_data::next_turn;
use super::paint;
use super::store::{self, Kept};
use super::training::{LossChart, NumberField, RunButtons, RunCore, RunMessages, RunState, parse};
use super::weights_panel::{refresh_digit_net, save_file};
use crate::data::own::{COPIES, MAX_OWN_CLASSES, MIN_OWN_CLASSES, OwnSet};
use crate::nn::classifier::{MAX_CLASS_NAME, PIXELS, argmax};
use crate::train::digit_run::{DigitRunConfig, MAX_EPOCHS};
use crate::train::metrics::Confusion;
use crate::train::own::Start;

/// How often the pad's answer follows the training.
const REFRESH_MS: f64 = 400.0;

/// The held-out drawings after a step: the matrix (true class by answer).
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOut {
    pub step: usize,
    pub classes: Vec<String>,
    pub confusion: Confusion,
}

#[derive(Clone, Debug, PartialEq)]
enum Note {
    Added(String, usize),
    NeedsDrawing,
    Imported(usize, usize),
    Used,
    Restored,
    Problem(String),
}

/// The panel's state; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct Own {
    pub set: RwSignal<OwnSet>,
    pub pad: Pad,
    /// The trained model's classes (those it was trained with), once there
    /// is one.
    pub model: RwSignal<Option<Vec<String>>>,
    /// Its answer for the pad's drawing.
    pub probs: RwSignal<Option<Vec<f32>>>,
    pub held_out: RwSignal<Option<HeldOut>>,
    pub core: RunCore,
    start: RwSignal<Start>,
    epochs: RwSignal<String>,
    seed: RwSignal<String>,
    note: RwSignal<Option<Note>>,
    /// The held-out drawings of the run, and its steps per epoch.
    held: StoredValue<Option<Rc<crate::data::mnist::Dataset>>, LocalStorage>,
    per_epoch: StoredValue<usize>,
    last_refresh: StoredValue<f64>,
    shipped: StoredValue<Shipped, LocalStorage>,
    digits: DigitState,
}

impl Own {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
        digits: DigitState,
    ) -> Self {
        Self {
            set: RwSignal::new(OwnSet::starting("✓", "✗")),
            pad: Pad::new(),
            model: RwSignal::new(None),
            probs: RwSignal::new(None),
            held_out: RwSignal::new(None),
            core: RunCore::new(WeightsKind::Own, runner, shipped),
            start: RwSignal::new(Start::Transfer),
            epochs: RwSignal::new("15".into()),
            seed: RwSignal::new("1".into()),
            note: RwSignal::new(None),
            held: StoredValue::new_local(None),
            per_epoch: StoredValue::new(1),
            last_refresh: StoredValue::new(0.0),
            shipped,
            digits,
        }
    }

    fn runner(&self) -> Runner {
        self.core.runner()
    }

    /// What this browser kept: the drawings, and the model trained on them.
    pub fn restore(self) {
        spawn_local(async move {
            if let Ok(Some(text)) = store::kept_text(Kept::OwnSet).await
                && let Ok(set) = OwnSet::from_json(text.as_bytes())
            {
                self.set.set(set);
            }
            let Ok(Some(bytes)) = store::load(WeightsKind::Own).await else {
                return;
            };
            let bytes = Rc::new(bytes);
            let file = bytes.to_vec();
            if let Ok(classes) = self.runner().ask(|done| Job::LoadOwn(file, done)).await {
                self.runner().remember(WeightsKind::Own, bytes);
                self.model.set(Some(classes));
                self.note.set(Some(Note::Restored));
                self.classify();
            }
        });
    }

    /// Keep the drawings in this browser.
    fn keep(self) {
        let text = self.set.with_untracked(OwnSet::to_json);
        spawn_local(async move {
            if let Err(e) = store::keep_text(Kept::OwnSet, &text).await {
                self.note.set(Some(Note::Problem(format!(
                    "the drawings could not be kept in this browser: {e}"
                ))));
            }
        });
    }

    /// The model's answer for the pad's drawing.
    pub fn classify(self) {
        let Some(input) = self.pad.input.get_untracked() else {
            self.probs.set(None);
            return;
        };
        if self.model.get_untracked().is_none() {
            return;
        }
        let Ok(input) = <Box<[f32; PIXELS]>>::try_from(input.into_boxed_slice()) else {
            return;
        };
        let done = move |r: crate::Result<Vec<f32>>| {
            if let Ok(p) = r
                && self.pad.input.get_untracked().is_some()
            {
                self.probs.set(Some(p));
            }
        };
        self.runner()
            .submit(Job::ClassifyOwn(input, Box::new(done)));
    }

    fn add_drawing(self, class: usize) {
        let Some(input) = self.pad.input.get_untracked() else {
            return self.note.set(Some(Note::NeedsDrawing));
        };
        let mut result = Ok(());
        self.set.update(|s| result = s.add(class, &input));
        match result {
            Ok(()) => {
                let (name, n) = self
                    .set
                    .with_untracked(|s| (s.classes[class].clone(), s.count(class)));
                self.note.set(Some(Note::Added(name, n)));
                self.pad.clear();
                self.keep();
            }
            Err(e) => self.note.set(Some(Note::Problem(e.to_string()))),
        }
    }

    fn remove_drawing(self, index: usize) {
        self.set.update(|s| {
            if index < s.examples.len() {
                s.examples.remove(index);
            }
        });
        self.keep();
    }

    fn rename(self, class: usize, name: String) {
        let name: String = name.trim().chars().take(MAX_CLASS_NAME).collect();
        self.set.update(|s| {
            if let Some(c) = s.classes.get_mut(class) {
                *c = name;
            }
        });
        self.keep();
    }

    fn add_class(self, s: &Strings) {
        self.set.update(|set| {
            if set.classes.len() < MAX_OWN_CLASSES {
                let n = set.classes.len() + 1;
                let mut name = s.own_new_class.replace("{n}", &n.to_string());
                while set.classes.contains(&name) {
                    name.push('′');
                }
                set.classes.push(name);
            }
        });
        self.keep();
    }

    fn remove_class(self, class: usize) {
        self.set.update(|s| {
            if s.classes.len() > MIN_OWN_CLASSES {
                s.remove_class(class);
            }
        });
        self.keep();
    }

    fn export(self) {
        let text = self.set.with_untracked(OwnSet::to_json);
        save_file(text.as_bytes(), "neuralpad-own-classes.json");
    }

    fn import(self, ev: web_sys::Event) {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        input.set_value("");
        spawn_local(async move {
            let name = file.name();
            let bytes = match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                Err(_) => {
                    return self
                        .note
                        .set(Some(Note::Problem(format!("{name}: could not be read"))));
                }
            };
            match OwnSet::from_json(&bytes) {
                Ok(set) => {
                    let (c, n) = (set.classes.len(), set.examples.len());
                    self.set.set(set);
                    self.note.set(Some(Note::Imported(c, n)));
                    self.keep();
                }
                Err(e) => self.note.set(Some(Note::Problem(format!("{name}: {e}")))),
            }
        });
    }

    /// A new run on the drawings; then run it, or take one step.
    async fn start_run(self, run: bool) {
        let core = self.core;
        core.notice.set(None);
        let set = self.set.get_untracked();
        if let Err(e) = set.check_trainable() {
            return core.refuse(e.to_string());
        }
        let cfg = match (
            parse::<usize>("epochs", &self.epochs.get_untracked()),
            parse::<u64>("seed", &self.seed.get_untracked()),
        ) {
            (Ok(epochs), Ok(seed)) => DigitRunConfig {
                epochs,
                seed,
                ..DigitRunConfig::default()
            },
            (Err(e), _) | (_, Err(e)) => return core.refuse(e),
        };
        if let Err(e) = cfg.check() {
            return core.refuse(e.to_string());
        }
        core.state.set(RunState::Loading);
        let train = set.training_set(COPIES, cfg.seed);
        let per_epoch = train.len().div_ceil(cfg.batch).max(1);
        let start = OwnStart {
            start: self.start.get_untracked(),
            classes: set.classes.clone(),
            train,
            cfg,
            digits: self.shipped.with_value(|s| s.digits.clone()),
        };
        let total = match self
            .runner()
            .ask(|done| Job::StartOwn(Box::new(start), done))
            .await
        {
            Ok(total) => total,
            Err(e) => return core.refuse(e.to_string()),
        };
        self.held.set_value(Some(Rc::new(set.held_out_set())));
        self.per_epoch.set_value(per_epoch);
        self.model.set(Some(set.classes.clone()));
        self.held_out.set(None);
        core.begin(total);
        core.go(run, move || self.one_step()).await;
    }

    async fn one_step(self) -> bool {
        match self.runner().ask(Job::OwnStep).await {
            Ok(p) => self.after_step(p).await,
            Err(e) => {
                self.core.failed(e).await;
                false
            }
        }
    }

    async fn after_step(self, p: DigitProgress) -> bool {
        let core = self.core;
        core.total.set(p.total_steps);
        core.stepped(p.step, p.epoch, p.stats.loss, p.stats.batch);
        if p.step % self.per_epoch.get_value() == 0 || p.finished {
            if let Err(e) = self.evaluate(p.step).await {
                core.failed(e).await;
                return false;
            }
        }
        if p.finished {
            core.state.set(RunState::Done);
            core.persist().await;
            self.classify();
            return false;
        }
        if now_ms() - self.last_refresh.get_value() > REFRESH_MS {
            self.last_refresh.set_value(now_ms());
            self.classify();
        }
        true
    }

    /// The held-out drawings through the model as it is now.
    async fn evaluate(self, step: usize) -> crate::Result<()> {
        let Some(held) = self.held.get_value() else {
            return Ok(());
        };
        let Some(classes) = self.model.get_untracked() else {
            return Ok(());
        };
        let images: Vec<f32> = held
            .images
            .iter()
            .map(|&p| crate::data::mnist::normalize(p))
            .collect();
        let probs = self
            .runner()
            .ask(|done| Job::PredictOwn(images, done))
            .await?;
        let mut confusion = Confusion::new(classes.len());
        for (p, &truth) in probs.chunks(classes.len()).zip(&held.labels) {
            confusion.add(usize::from(truth), argmax(p));
        }
        self.held_out.set(Some(HeldOut {
            step,
            classes,
            confusion,
        }));
        next_turn().await;
        Ok(())
    }

    /// The run and the model are gone, and so is the kept model.
    fn reset(self) {
        self.runner().submit(Job::EndOwn(true));
        let core = self.core;
        core.state.set(RunState::Idle);
        core.begin(0);
        core.notice.set(None);
        core.saved_step.set(None);
        self.model.set(None);
        self.probs.set(None);
        self.held_out.set(None);
        spawn_local(async move {
            let _ = store::forget(WeightsKind::Own).await;
        });
    }

    /// The trained model into the digit pad (and the inside view), which
    /// `route`, when given, then shows.
    fn use_in_pad(self, route: Option<Route>) {
        let digits = self.digits;
        spawn_local(async move {
            let bytes = match self
                .runner()
                .ask(|done| Job::Save(WeightsKind::Own, done))
                .await
            {
                Ok(b) => b,
                Err(e) => return self.note.set(Some(Note::Problem(e.to_string()))),
            };
            let kept = Rc::new(bytes.clone());
            match self.runner().ask(|done| Job::Load(bytes, done)).await {
                Ok(_) => {
                    self.runner().remember(WeightsKind::Digits, kept);
                    digits.classify();
                    refresh_digit_net(digits);
                    self.note.set(Some(Note::Used));
                    if let Some(route) = route {
                        route.to_pad();
                    }
                }
                Err(e) => self.note.set(Some(Note::Problem(e.to_string()))),
            }
        });
    }
}

#[component]
pub fn OwnPanel(own: Own, lang: RwSignal<Lang>, ready: RwSignal<bool>) -> impl IntoView {
    let s = move || lang.get().strings();
    // A new drawing, or a model newly there: ask it.
    Effect::new(move |_| {
        own.pad.input.track();
        own.model.track();
        own.classify();
    });
    let core = own.core;
    let locked = Signal::derive(move || !core.state.get().can_start());
    let status = move || {
        let s = s();
        core.status(s, |line, _| {
            if let Some(h) = own.held_out.get() {
                let c = &h.confusion;
                *line += &format!(
                    " · {} {} / {}",
                    s.own_held_out_right,
                    c.correct(),
                    c.total()
                );
            }
        })
    };
    let has_model = move || own.model.get().is_some();
    view! {
        <section id="own" aria-labelledby="own-title">
            <h2 id="own-title">{move || s().own_title}</h2>
            <p class="hint">{move || s().own_hint}</p>
            <div class="own-layout">
                <div class="own-pad">
                    <PadCanvas pad=own.pad id="own-canvas" label=Signal::derive(move || s().own_canvas_label.to_string()) />
                    <div class="draw-controls">
                        <button id="own-clear" on:click=move |_| own.pad.clear()>{move || s().clear}</button>
                        <button id="own-undo" on:click=move |_| own.pad.undo()>{move || s().undo}</button>
                    </div>
                    <OwnPrediction own=own lang=lang />
                </div>
                <div class="own-classes">
                    <ClassList own=own lang=lang locked=locked />
                    <div class="controls">
                        <button id="own-add-class" on:click=move |_| own.add_class(s())
                            disabled=move || locked.get() || own.set.with(|x| x.classes.len() >= MAX_OWN_CLASSES)>
                            {move || s().own_add_class}
                        </button>
                        <button id="own-export" on:click=move |_| own.export()>{move || s().own_export}</button>
                        <label for="own-import" class="button-like">{move || s().own_import}</label>
                        <input id="own-import" type="file" accept=".json,application/json"
                            on:change=move |ev| own.import(ev) />
                    </div>
                    <p id="own-note" role="status" data-kind=move || match own.note.get() {
                        Some(Note::Problem(_)) => "problem",
                        Some(_) => "ok",
                        None => "",
                    }>{move || own.note.get().map(|n| note_text(&n, s()))}</p>
                </div>
            </div>
            <h3>{move || s().own_train_title}</h3>
            <div class="settings">
                <label>{move || s().own_start_label}" "
                    <select id="own-from" disabled=locked on:change=move |ev| own.start.set(
                        if event_target_value(&ev) == "scratch" { Start::Scratch } else { Start::Transfer })>
                        <option value="transfer" selected=move || own.start.get() == Start::Transfer>{move || s().own_transfer}</option>
                        <option value="scratch" selected=move || own.start.get() == Start::Scratch>{move || s().own_scratch}</option>
                    </select>
                </label>
                <NumberField id="own-epochs" label=|s| s.epochs value=own.epochs max=MAX_EPOCHS.to_string() step="1" locked=locked lang=lang />
                <NumberField id="own-seed" label=|s| s.seed value=own.seed max="4294967295".to_string() step="1" locked=locked lang=lang />
            </div>
            <RunButtons prefix="own" core=core lang=lang ready=ready
                start=move |run| own.start_run(run)
                step=move || own.one_step()
                on_reset=move || own.reset() />
            <p id="own-status" role="status"
                data-state=move || core.state.get().tag()
                data-step=move || core.step.get().to_string()
                data-total=move || core.total.get().to_string()
                data-model=move || if has_model() { "yes" } else { "" }
                data-held-out=move || own.held_out.get().map(|h| h.confusion.total().to_string()).unwrap_or_default()
                data-right=move || own.held_out.get().map(|h| h.confusion.correct().to_string()).unwrap_or_default()>
                {status}
            </p>
            <RunMessages prefix="own" core=core lang=lang />
            <div class="charts">
                <LossChart id="own-loss-chart" core=core lang=lang />
            </div>
            <HeldOutView own=own lang=lang />
            <div class="controls">
                <button id="own-use" on:click=move |_| own.use_in_pad(use_context::<Route>())
                    disabled=move || !has_model() || core.state.get() == RunState::Running>
                    {move || s().own_use}
                </button>
            </div>
        </section>
    }
}

fn note_text(n: &Note, s: &Strings) -> String {
    match n {
        Note::Added(name, count) => s
            .own_added
            .replace("{name}", name)
            .replace("{n}", &count.to_string()),
        Note::NeedsDrawing => s.own_needs_drawing.to_string(),
        Note::Imported(c, n) => s
            .own_imported
            .replace("{classes}", &c.to_string())
            .replace("{n}", &n.to_string()),
        Note::Used => s.own_used.to_string(),
        Note::Restored => s.own_restored.to_string(),
        Note::Problem(p) => p.clone(),
    }
}

/// The classes: each name, a button that adds the pad's drawing to it,
/// its drawings (each a button that removes it), and a button that
/// removes the class.
#[component]
fn ClassList(own: Own, lang: RwSignal<Lang>, locked: Signal<bool>) -> impl IntoView {
    let s = move || lang.get().strings();
    let rows = move || {
        let set = own.set.get();
        (0..set.classes.len())
            .map(|c| {
                let name = set.classes[c].clone();
                let drawings: Vec<(usize, Vec<u8>, bool)> = set
                    .examples
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| usize::from(e.class) == c)
                    .map(|(i, e)| (i, e.pixels.clone(), set.held_out(i)))
                    .collect();
                let count = drawings.len();
                let (label_name, add_name, remove_name) = (name.clone(), name.clone(), name.clone());
                view! {
                    <li class="own-class" data-class=c data-count=count>
                        <div class="own-class-row">
                            <label>{move || s().own_class_label.replace("{n}", &(c + 1).to_string())}" "
                                <input id=format!("own-name-{c}") type="text" maxlength=MAX_CLASS_NAME
                                    prop:value=label_name.clone() disabled=locked
                                    on:change=move |ev| own.rename(c, event_target_value(&ev)) />
                            </label>
                            <button id=format!("own-add-{c}") class="own-add"
                                on:click=move |_| own.add_drawing(c)
                                disabled=move || own.pad.input.get().is_none()>
                                {let n = add_name.clone(); move || s().own_add_drawing.replace("{name}", &n)}
                            </button>
                            <span class="count">{move || s().own_drawings.replace("{n}", &count.to_string())}</span>
                            <button id=format!("own-remove-{c}") class="own-remove"
                                aria-label={let n = remove_name.clone(); move || s().own_remove_class.replace("{name}", &n)}
                                on:click=move |_| own.remove_class(c)
                                disabled=move || locked.get() || own.set.with(|x| x.classes.len() <= MIN_OWN_CLASSES)>"✕"</button>
                        </div>
                        <div class="thumbs">
                            {drawings.into_iter().enumerate().map(|(k, (i, pixels, held))| {
                                let canvas = NodeRef::<leptos::html::Canvas>::new();
                                Effect::new(move |_| {
                                    if let Some(cv) = canvas.get() {
                                        let v: Vec<f32> = pixels.iter().map(|&p| f32::from(p) / 255.0).collect();
                                        paint::grey(&cv, 28, 28, &v);
                                    }
                                });
                                let name = name.clone();
                                view! {
                                    <button class="thumb" class:held=held data-index=i
                                        aria-label=move || s().own_remove_drawing
                                            .replace("{n}", &(k + 1).to_string())
                                            .replace("{name}", &name)
                                            + if held { s().own_kept_aside } else { "" }
                                        on:click=move |_| own.remove_drawing(i) disabled=locked>
                                        <canvas node_ref=canvas class="pixelated" width="28" height="28"></canvas>
                                    </button>
                                }
                            }).collect_view()}
                        </div>
                    </li>
                }
            })
            .collect_view()
    };
    view! {
        <ul id="own-class-list" aria-label=move || s().own_classes_label>{rows}</ul>
    }
}

/// The model's answer for the pad: text for the live region and a bar per
/// class.
#[component]
fn OwnPrediction(own: Own, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let classes = move || own.model.get().unwrap_or_default();
    let probs = move || own.probs.get().unwrap_or_default();
    let best = move || own.probs.get().map(|p| argmax(&p));
    view! {
        <div class="prediction-box">
            <p id="own-prediction" aria-live="polite" aria-atomic="true"
                data-state=move || if own.probs.get().is_some() { "ready" } else { "empty" }
                data-class=move || best().map(|b| b.to_string()).unwrap_or_default()>
                {move || match (own.model.get(), own.probs.get()) {
                    (None, _) => s().own_no_model.to_string(),
                    (Some(_), None) => s().own_draw_to_test.to_string(),
                    (Some(c), Some(p)) => {
                        let b = argmax(&p);
                        format!("{} {} ({:.1}%)", s().prediction, c.get(b).cloned().unwrap_or_default(),
                            100.0 * p.get(b).copied().unwrap_or(0.0))
                    }
                }}
            </p>
            <div id="own-probs" role="list" aria-label=move || s().probabilities>
                {move || (0..classes().len()).map(|c| {
                    let p = move || probs().get(c).copied().unwrap_or(0.0);
                    view! {
                        <div class="bar" role="listitem" data-class=c data-p=move || p().to_string()
                            class:best=move || best() == Some(c)>
                            <span class="label">{move || classes().get(c).cloned().unwrap_or_default()}</span>
                            <span class="track"><span class="fill" style:width=move || format!("{:.1}%", 100.0 * p())></span></span>
                            <span class="value">{move || format!("{:.1}%", 100.0 * p())}</span>
                        </div>
                    }
                }).collect_view()}
            </div>
        </div>
    }
}

/// Per-class accuracy on the held-out drawings and the confusion matrix.
#[component]
fn HeldOutView(own: Own, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    view! {
        <div class="evaluation" hidden=move || own.held_out.get().is_none()>
            <h3>{move || s().own_held_out_title.replace("{step}", &own.held_out.get().map_or(0, |h| h.step).to_string())}</h3>
            <p class="hint">{move || s().own_held_out_hint}</p>
            <ul id="own-per-class" class="per-class">
                {move || own.held_out.get().map(|h| h.classes.iter().enumerate().map(|(i, name)| {
                    let row = &h.confusion.counts[i];
                    let total: u32 = row.iter().sum();
                    let right = row[i];
                    view! {
                        <li data-class=i data-right=right data-total=total>
                            {s().own_per_class
                                .replace("{name}", name)
                                .replace("{right}", &right.to_string())
                                .replace("{total}", &total.to_string())}
                        </li>
                    }
                }).collect_view())}
            </ul>
            <div class="scroll">
                <table id="own-confusion">
                    <thead><tr>
                        <th scope="col">{move || s().confusion_corner}</th>
                        {move || own.held_out.get().map(|h| h.classes.into_iter().map(|c| view! { <th scope="col">{c}</th> }).collect_view())}
                    </tr></thead>
                    <tbody>
                        {move || own.held_out.get().map(|h| h.confusion.counts.iter().enumerate().map(|(i, row)| {
                            let total = row.iter().sum::<u32>().max(1) as f32;
                            view! {
                                <tr>
                                    <th scope="row">{h.classes[i].clone()}</th>
                                    {row.iter().enumerate().map(|(j, &n)| {
                                        let share = n as f32 / total;
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
        </div>
    }
}
