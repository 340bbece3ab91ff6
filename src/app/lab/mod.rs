//! The model lab: the "what if" of a class. A person picks a task, edits
//! up to four networks on their pictures ([`picture`], [`editor`]), trains
//! them side by side with the same data, batch order and seed ([`runs`],
//! on the engine through [`trainer`]), compares their curves and costs
//! ([`compare`]) and puts any of them on the page to read the drawing. The
//! experiment lives in the URL fragment (one grammar with the page's other
//! links, `crate::link`) and, with its runs, in this browser ([`keep`]).

mod compare;
mod editor;
pub mod keep;
pub mod picture;
pub mod runs;
pub mod trainer;
pub mod words;

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::digits::DigitState;
use super::engine::{Job, Runner, WeightsKind};
use super::i18n::Lang;
use super::nav::Route;
use super::store;
use super::text::TextState;
use super::training::RunState;
use super::weights_panel::{refresh_digit_net, refresh_text_net};
use crate::link::{
    CHECK_VOCAB, Data, Experiment, Link, LinkError, MAX_VARIANTS, Section, Settings, Task, Variant,
};
use crate::nn::edit::{self, Edit};
use crate::nn::plan::{Plan, Survey};
use crate::nn::spec::{NetworkSpec, PRESETS};
use compare::{CompareCharts, RunTable};
use editor::LayerEditor;
use picture::{NetworkPicture, count};
use runs::Runs;
use words::LabStrings;

/// The settings as typed, checked when a run starts or a link is made.
#[derive(Clone, Copy)]
struct Typed {
    steps: RwSignal<String>,
    batch: RwSignal<String>,
    lr: RwSignal<String>,
    eval_every: RwSignal<String>,
    seed: RwSignal<String>,
}

impl Typed {
    fn new() -> Self {
        Typed {
            steps: RwSignal::new(String::new()),
            batch: RwSignal::new(String::new()),
            lr: RwSignal::new(String::new()),
            eval_every: RwSignal::new(String::new()),
            seed: RwSignal::new(String::new()),
        }
    }

    fn show(&self, s: &Settings) {
        self.steps.set(s.steps.to_string());
        self.batch.set(s.batch.to_string());
        self.lr.set(s.lr.to_string());
        self.eval_every.set(s.eval_every.to_string());
        self.seed.set(s.seed.to_string());
    }

    fn read(&self) -> Result<Settings, String> {
        fn number<T: std::str::FromStr>(what: &str, v: RwSignal<String>) -> Result<T, String> {
            let text = v.get();
            text.trim().parse().map_err(|_| {
                format!(
                    "{what}: {:?} is not a number",
                    text.chars().take(20).collect::<String>()
                )
            })
        }
        Ok(Settings {
            steps: number("steps", self.steps)?,
            batch: number("batch size", self.batch)?,
            lr: number("learning rate", self.lr)?,
            eval_every: number("test every", self.eval_every)?,
            seed: number("seed", self.seed)?,
        })
    }
}

/// Everything the lab's parts share; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct LabState {
    pub task: RwSignal<Task>,
    pub data: RwSignal<Data>,
    pub variants: RwSignal<Vec<Variant>>,
    /// The network being edited, by position.
    pub selected: RwSignal<usize>,
    /// Its layer open in the editor.
    pub layer: RwSignal<Option<usize>>,
    /// How far the network being edited plans.
    pub survey: Memo<Survey>,
    /// Every network's survey, for the Train button.
    surveys: Memo<Vec<Survey>>,
    /// A run is going: the networks and settings stay as they are.
    pub locked: Signal<bool>,
    /// Why the last edit could not be made.
    pub edit_problem: RwSignal<Option<String>>,
    typed: Typed,
    pub runs: Runs,
    /// The last experiment put in the fragment, so reading it back is no change.
    in_link: StoredValue<String>,
}

fn vocab(spec: &NetworkSpec) -> Option<usize> {
    spec.is_text().then_some(CHECK_VOCAB)
}

impl LabState {
    pub fn new(runner: StoredValue<Runner, LocalStorage>, pad: DigitState) -> Self {
        let variants = RwSignal::new(Vec::<Variant>::new());
        let selected = RwSignal::new(0);
        let survey = Memo::new(move |_| {
            variants
                .with(|v| {
                    let spec = &v.get(selected.get()).or(v.first())?.spec;
                    Some(Plan::survey(spec, vocab(spec)))
                })
                .unwrap_or(Survey {
                    layers: Vec::new(),
                    problem: None,
                })
        });
        let surveys = Memo::new(move |_| {
            variants.with(|v| {
                v.iter()
                    .map(|v| Plan::survey(&v.spec, vocab(&v.spec)))
                    .collect()
            })
        });
        let runs = Runs::new(runner, pad);
        let state = runs.state;
        LabState {
            task: RwSignal::new(Task::Digits),
            data: RwSignal::new(Data::Mnist),
            variants,
            selected,
            layer: RwSignal::new(Some(0)),
            survey,
            surveys,
            locked: Signal::derive(move || {
                matches!(state.get(), RunState::Loading | RunState::Running)
            }),
            edit_problem: RwSignal::new(None),
            typed: Typed::new(),
            runs,
            in_link: StoredValue::new(String::new()),
        }
    }

    /// The network being edited.
    pub fn spec(&self) -> NetworkSpec {
        self.variants.with(|v| {
            v.get(self.selected.get())
                .or(v.first())
                .map(|v| v.spec.clone())
                .unwrap_or_else(crate::nn::spec::seed_cnn)
        })
    }

    pub fn spec_untracked(&self) -> NetworkSpec {
        self.variants.with_untracked(|v| {
            v.get(self.selected.get_untracked())
                .or(v.first())
                .map(|v| v.spec.clone())
                .unwrap_or_else(crate::nn::spec::seed_cnn)
        })
    }

    /// Make `e` to the network being edited; false (and why, shown) when
    /// it cannot be made at all.
    pub fn edit(&self, e: Edit) -> bool {
        let at = self.selected.get_untracked();
        let spec = self.spec_untracked();
        match edit::apply(&spec, &e) {
            Ok(spec) => {
                self.variants.update(|v| {
                    if let Some(v) = v.get_mut(at) {
                        v.spec = spec;
                    }
                });
                self.edit_problem.set(None);
                self.changed();
                true
            }
            Err(problem) => {
                self.edit_problem.set(Some(problem));
                false
            }
        }
    }

    /// Show `e` in the editor (after a link, a reload, a task switch).
    fn open(&self, e: &Experiment) {
        self.task.set(e.task);
        self.data.set(e.data);
        self.variants.set(e.variants.clone());
        self.selected.set(0);
        self.layer.set(Some(0));
        self.edit_problem.set(None);
        self.typed.show(&e.settings);
    }

    /// The experiment as edited, or what keeps it from being one.
    fn experiment(&self) -> Result<Experiment, String> {
        let e = Experiment {
            task: self.task.get_untracked(),
            data: self.data.get_untracked(),
            variants: self.variants.get_untracked(),
            settings: self.typed.read()?,
        };
        // Checked as a link would be, so what trains is what a link opens.
        Experiment::from_value(e.to_value()).map_err(|e| e.to_string())
    }

    /// The experiment changed: keep it, and put it in the address while the
    /// lab is shown, so the address bar always opens what is on screen.
    fn changed(&self) {
        let Ok(e) = self.experiment() else { return };
        let encoded = e.encode();
        if let Some(route) = use_context::<Route>()
            && route.section() == Section::Lab
        {
            self.in_link.set_value(encoded.clone());
            route.replace(Link::to(Section::Lab).with("exp", encoded));
        }
        spawn_local(async move { keep::save_experiment(&e).await });
    }

    /// The experiment of a `#lab&exp=...` link, once per link; a link that
    /// does not hold one gets the message and the lab stays as it is.
    fn follow(&self, route: Route, link: &Link, opened: RwSignal<bool>) {
        let Some(exp) = link.get("exp") else { return };
        if exp == self.in_link.get_value() {
            return;
        }
        self.in_link.set_value(exp.to_string());
        match Experiment::decode(exp) {
            Ok(e) => {
                self.open(&e);
                opened.set(true);
                spawn_local(async move { keep::save_experiment(&e).await });
            }
            Err(LinkError(problem)) => {
                route.problem.set(Some(LinkError(problem)));
                opened.set(false);
            }
        }
    }
}

/// A number setting of the lab.
#[component]
fn LabNumber(
    id: &'static str,
    label: fn(&LabStrings) -> &'static str,
    value: RwSignal<String>,
    step: &'static str,
    lab: LabState,
    words: Signal<&'static LabStrings>,
) -> impl IntoView {
    view! {
        <label>{move || label(words.get())}" "
            <input id=id type="number" min="0" step=step prop:value=move || value.get()
                disabled=move || lab.locked.get()
                on:change=move |ev| { value.set(event_target_value(&ev)); lab.changed(); } />
        </label>
    }
}

#[component]
pub fn LabPanel(
    lab: LabState,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
    digits: DigitState,
    text: TextState,
    typed_text: RwSignal<String>,
) -> impl IntoView {
    let words = Signal::derive(move || lang.get().lab());
    let w = move || words.get();
    let runs = lab.runs;
    let route = use_context::<Route>().expect("the route is provided");
    let opened = RwSignal::new(false);
    let used = RwSignal::new(None::<(WeightsKind, String)>);
    let link_note = RwSignal::new(None::<&'static str>);
    let link_text = RwSignal::new(String::new());

    // What the lab opens with: the link's experiment, else the one this
    // browser kept, else the seed's networks; runs kept come back too.
    lab.open(&Experiment::starting(Task::Digits));
    spawn_local(async move {
        let kept = keep::load().await;
        let link = route.link.get_untracked();
        let from_link = link.section == Section::Lab && link.get("exp").is_some();
        if let Some(k) = kept {
            if let (Some(e), false) = (&k.experiment, from_link) {
                lab.open(e);
            }
            if !k.runs.is_empty() {
                runs.restore(k.task, k.runs, k.weights).await;
            }
        }
    });
    Effect::new(move |_| {
        let link = route.link.get();
        if link.section == Section::Lab {
            lab.follow(route, &link, opened);
        }
    });
    // The runs read every new drawing, for the table.
    Effect::new(move |_| {
        if let Some(pre) = digits.pre.get() {
            runs.classify(pre.input);
        }
    });

    let lesson = use_context::<super::lessons::LessonState>();
    let switch_task = move |task: Task| {
        if task == Task::Text
            && let Some(l) = lesson
        {
            l.raise(crate::lessons::flags::LAB_TEXT);
        }
        if lab.task.get_untracked() != task {
            lab.open(&Experiment::starting(task));
            lab.changed();
        }
    };
    let variant_count = move || lab.variants.with(Vec::len);
    let add_variant = move |_| {
        let at = lab.selected.get_untracked();
        lab.variants.update(|v| {
            if v.len() < MAX_VARIANTS
                && let Some(copy) = v.get(at).cloned()
            {
                let name = format!("{} ({})", copy.name, v.len() + 1);
                v.push(Variant {
                    name: name.chars().take(40).collect(),
                    spec: copy.spec,
                });
            }
        });
        lab.selected.set(variant_count() - 1);
        lab.changed();
    };
    let remove_variant = move |_| {
        let at = lab.selected.get_untracked();
        lab.variants.update(|v| {
            if v.len() > 1 {
                v.remove(at);
            }
        });
        lab.selected.set(at.min(variant_count() - 1));
        lab.layer.set(Some(0));
        lab.changed();
    };
    let rename = move |name: String| {
        let at = lab.selected.get_untracked();
        let name: String = name.trim().chars().take(40).collect();
        if name.is_empty() {
            return;
        }
        lab.variants.update(|v| {
            if let Some(v) = v.get_mut(at) {
                v.name = name;
            }
        });
        lab.changed();
    };
    let use_preset = move |name: String| {
        let Some(p) = PRESETS.iter().find(|p| p.name == name) else {
            return;
        };
        let at = lab.selected.get_untracked();
        lab.variants.update(|v| {
            if let Some(v) = v.get_mut(at) {
                v.spec = (p.spec)();
                v.name = p.name.to_string();
            }
        });
        lab.layer.set(Some(0));
        lab.changed();
    };
    let presets = move || {
        let text = lab.task.get() == Task::Text;
        PRESETS
            .iter()
            .filter(move |p| (p.spec)().is_text() == text)
            .collect::<Vec<_>>()
    };

    let broken = move || {
        lab.surveys.with(|s| {
            s.iter()
                .zip(lab.variants.get())
                .find(|(s, _)| s.problem.is_some())
                .map(|(_, v)| v.name)
        })
    };
    let train = move |_| {
        let e = match lab.experiment() {
            Ok(e) => e,
            Err(problem) => return runs.notice.set(Some(problem)),
        };
        spawn_local(runs.start(e));
    };
    let copy_link = move |_| {
        link_note.set(None);
        let e = match lab.experiment() {
            Ok(e) => e,
            Err(problem) => return runs.notice.set(Some(problem)),
        };
        let fragment = Link::to(Section::Lab).with("exp", e.encode()).format();
        let href = web_sys::window()
            .and_then(|w| w.location().href().ok())
            .unwrap_or_default();
        let url = format!("{}{fragment}", href.split('#').next().unwrap_or_default());
        link_text.set(url.clone());
        spawn_local(async move {
            let copied = match web_sys::window().map(|w| w.navigator().clipboard()) {
                Some(c) => wasm_bindgen_futures::JsFuture::from(c.write_text(&url))
                    .await
                    .is_ok(),
                None => false,
            };
            link_note.set(Some(if copied {
                words.get_untracked().link_copied
            } else {
                if let Some(input) = document().get_element_by_id("lab-link") {
                    use wasm_bindgen::JsCast;
                    if let Ok(input) = input.dyn_into::<web_sys::HtmlInputElement>() {
                        input.select();
                    }
                }
                words.get_untracked().link_select
            }));
        });
    };
    let runner = runs.runner;
    let pick = Callback::new(move |i: usize| {
        let Some(r) = runs.list.with_untracked(|l| l.get(i).cloned()) else {
            return;
        };
        spawn_local(async move {
            let bytes = match runs.weights(r.slot).await {
                Ok(b) => b,
                Err(e) => return runs.notice.set(Some(e.to_string())),
            };
            let runner = runner.get_value();
            let kind = match runner.ask(|done| Job::Load(bytes.clone(), done)).await {
                Ok(k) => k,
                Err(e) => return runs.notice.set(Some(e.to_string())),
            };
            let _ = store::save(kind, &bytes).await;
            runner.remember(kind, Rc::new(bytes));
            runs.in_use.set(Some(r.slot));
            used.set(Some((kind, r.name)));
            match kind {
                WeightsKind::Digits => {
                    digits.classify();
                    refresh_digit_net(digits);
                }
                WeightsKind::Text => {
                    refresh_text_net(text);
                    text.read(typed_text.get_untracked());
                }
            }
        });
    });

    let st = move || runs.state.get();
    let status = move || {
        let w = w();
        let list = runs.list.get();
        let step = list.iter().map(|r| r.step).min().unwrap_or(0);
        let total = list.iter().map(|r| r.total).max().unwrap_or(0);
        match st() {
            RunState::Idle => w.idle.to_string(),
            RunState::Loading => w.loading.to_string(),
            s => {
                let mut line = w
                    .status
                    .replace("{step}", &step.to_string())
                    .replace("{total}", &total.to_string());
                match s {
                    RunState::Paused => line += &format!(" · {}", w.paused),
                    RunState::Done => line += &format!(" · {}", w.finished),
                    RunState::Stopped => line += &format!(" · {}", w.stopped),
                    _ => {}
                }
                line
            }
        }
    };
    let summary = move || {
        let survey = lab.survey.get();
        let w = w();
        let unit = if lab.task.get() == Task::Text {
            w.per_char
        } else {
            w.per_image
        };
        w.summary
            .replace("{params}", &count(survey.param_count() as u64))
            .replace("{macs}", &count(survey.macs()))
            .replace("{unit}", unit)
    };
    let problem = move || lab.survey.get().problem.map(|p| p.message);
    let selected_name = move || {
        lab.variants
            .with(|v| v.get(lab.selected.get()).map(|v| v.name.clone()))
            .unwrap_or_default()
    };
    let spec = Signal::derive(move || lab.spec());
    let survey = Signal::derive(move || lab.survey.get());
    let selected_layer = Signal::derive(move || lab.layer.get());
    let pick_layer = Callback::new(move |i| lab.layer.set(Some(i)));
    let picture_label = Signal::derive(move || words.get().picture_label.to_string());

    view! {
        <section id="lab" aria-labelledby="lab-title" data-state=move || st().tag()>
            <h2 id="lab-title">{move || w().title}</h2>
            <p class="hint">{move || w().intro}</p>
            <p id="lab-opened" class="notice" role="status" hidden=move || !opened.get()>{move || w().opened_link}</p>
            <div class="lab-choices">
                <fieldset id="lab-task" disabled=move || lab.locked.get()>
                    <legend>{move || w().task}</legend>
                    <label><input type="radio" name="lab-task" id="lab-task-digits"
                        prop:checked=move || lab.task.get() == Task::Digits
                        on:change=move |_| switch_task(Task::Digits) />{move || w().task_digits}</label>
                    <label><input type="radio" name="lab-task" id="lab-task-text"
                        prop:checked=move || lab.task.get() == Task::Text
                        on:change=move |_| switch_task(Task::Text) />{move || w().task_text}</label>
                </fieldset>
                <label>{move || w().data}" "
                    <select id="lab-data" disabled=move || lab.locked.get()
                        on:change=move |ev| if let Some(d) = Data::from_name(&event_target_value(&ev)) {
                            lab.data.set(d);
                            lab.changed();
                        }>
                        {move || Data::ALL.into_iter().filter(|d| d.task() == lab.task.get()).map(|d| view! {
                            <option value=d.name() selected=move || lab.data.get() == d>{move || match d {
                                Data::Mnist => w().data_mnist,
                                Data::Mnist1000 => w().data_mnist_1000,
                                Data::Sotu => w().data_sotu,
                            }}</option>
                        }).collect_view()}
                    </select>
                </label>
            </div>

            <h3>{move || w().networks}</h3>
            <div class="variant-tabs" role="group" aria-label=move || w().networks>
                {move || lab.variants.get().into_iter().enumerate().map(|(i, v)| {
                    let problem = move || lab.surveys.with(|s| s.get(i).is_some_and(|s| s.problem.is_some()));
                    view! {
                        <button id=format!("lab-variant-{i}") type="button" class="variant-tab"
                            aria-pressed=move || (lab.selected.get() == i).to_string()
                            data-broken=move || problem().to_string()
                            on:click=move |_| { lab.selected.set(i); lab.layer.set(Some(0)); }>
                            <span class="swatch" style:background=super::charts::css_colour(i) aria-hidden="true"></span>
                            {v.name}{move || problem().then_some(" ⚠")}
                        </button>
                    }
                }).collect_view()}
                <button id="lab-add-variant" type="button" on:click=add_variant
                    disabled=move || { lab.locked.get() || variant_count() >= MAX_VARIANTS }>{move || w().add_variant}</button>
            </div>
            <div class="variant-head">
                <label>{move || w().variant_name}" "
                    <input id="lab-variant-name" type="text" maxlength="40" prop:value=selected_name
                        disabled=move || lab.locked.get()
                        on:change=move |ev| rename(event_target_value(&ev)) />
                </label>
                <label>{move || w().preset}" "
                    <select id="lab-preset" disabled=move || lab.locked.get()
                        on:change=move |ev| use_preset(event_target_value(&ev))>
                        <option value="" selected=true>{move || w().preset_pick}</option>
                        {move || presets().into_iter().map(|p| view! {
                            <option value=p.name title=p.about>{p.name}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button id="lab-remove-variant" type="button" on:click=remove_variant
                    disabled=move || lab.locked.get() || variant_count() < 2>{move || w().remove_variant}</button>
            </div>
            <NetworkPicture id="lab-picture" spec=spec survey=survey selected=selected_layer
                pick=pick_layer label=picture_label words=words />
            <p id="lab-summary" class="hint" hidden=move || problem().is_some()>{summary}</p>
            <p id="lab-problem" class="problem" role="alert" hidden=move || problem().is_none()>
                {move || w().cannot_work}" "{problem}
            </p>
            <p id="lab-edit-problem" class="problem" role="alert" hidden=move || lab.edit_problem.get().is_none()>
                {move || lab.edit_problem.get()}
            </p>
            <LayerEditor lab=lab words=words />

            <fieldset class="lab-settings" disabled=move || lab.locked.get()>
                <legend>{move || w().settings}</legend>
                <LabNumber id="lab-steps" label=|w| w.steps value=lab.typed.steps step="1" lab=lab words=words />
                <LabNumber id="lab-batch" label=|w| w.batch value=lab.typed.batch step="1" lab=lab words=words />
                <LabNumber id="lab-lr" label=|w| w.lr value=lab.typed.lr step="0.0001" lab=lab words=words />
                <LabNumber id="lab-eval-every" label=|w| w.eval_every value=lab.typed.eval_every step="1" lab=lab words=words />
                <LabNumber id="lab-seed" label=|w| w.seed value=lab.typed.seed step="1" lab=lab words=words />
            </fieldset>
            <div class="run-buttons">
                <button id="lab-train" type="button" on:click=train
                    disabled=move || !ready.get() || lab.locked.get() || broken().is_some()>{move || w().train}</button>
                <button id="lab-pause" type="button" on:click=move |_| runs.pause()
                    disabled=move || st() != RunState::Running>{move || w().pause}</button>
                <button id="lab-resume" type="button" on:click=move |_| spawn_local(runs.drive())
                    disabled=move || st() != RunState::Paused>{move || w().resume}</button>
                <button id="lab-clear" type="button" on:click=move |_| runs.clear()
                    disabled=move || lab.locked.get() || runs.list.with(Vec::is_empty)>{move || w().clear}</button>
            </div>
            <p id="lab-fix-first" class="hint" hidden=move || broken().is_none()>
                {move || broken().map(|n| w().fix_first.replace("{name}", &n))}
            </p>
            <p id="lab-status" role="status" data-state=move || st().tag()
                data-step=move || runs.list.with(|l| l.iter().map(|r| r.step).min().unwrap_or(0))>{status}</p>
            <p id="lab-message" class="problem" role="alert" hidden=move || runs.notice.get().is_none()>
                {move || runs.notice.get()}
            </p>
            <p id="lab-restored" class="hint" hidden=move || !runs.restored.get()>{move || w().restored}</p>
            <div class="row lab-link">
                <button id="lab-copy-link" type="button" on:click=copy_link>{move || w().copy_link}</button>
                <label class="grow">{move || w().link_label}" "
                    <input id="lab-link" type="text" readonly prop:value=move || link_text.get() />
                </label>
            </div>
            <p id="lab-link-note" role="status" class="hint" hidden=move || link_note.get().is_none()>
                {move || link_note.get()}
            </p>
            <CompareCharts runs=runs words=words />
            <RunTable runs=runs words=words pick=pick />
            <p id="lab-use-message" role="status" class="notice" hidden=move || used.get().is_none()>
                {move || used.get().map(|(kind, name)| match kind {
                    WeightsKind::Digits => w().used_digits.replace("{name}", &name),
                    WeightsKind::Text => w().used_text.replace("{name}", &name),
                })}
            </p>
        </section>
    }
}
