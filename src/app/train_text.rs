//! Training the text model in the page: on the State of the Union excerpt or
//! on any text a person pastes (any language, a few MB at most), with the
//! loss live and a sample of what the model writes every few steps. The
//! model being trained is the one the text pad reads with.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::Shipped;
use super::charts::{self, Chart};
use super::engine::{Init, Job, Runner, TextProgress, TextRunShape, WeightsKind};
use super::i18n::Lang;
use super::page_data::{self, next_turn};
use super::store;
use super::train_digits::From;
use super::training::{Notice, RunButtons, RunState, Speed};
use crate::nn::char_lstm::Sampling;
use crate::train::text_run::{MAX_BATCH, MAX_TEXT_BYTES, MAX_WINDOW, TextRunConfig};

/// Characters in each sample.
const SAMPLE_CHARS: usize = 200;
/// Characters of the training text that start each sample.
const PROMPT_CHARS: usize = 12;
/// Steps a loss is averaged over for the falling-loss readout.
const LOSS_MEAN: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Sotu,
    Pasted,
}

#[derive(Clone, Copy)]
struct Settings {
    source: RwSignal<Source>,
    pasted: RwSignal<String>,
    from: RwSignal<From>,
    batch: RwSignal<String>,
    window: RwSignal<String>,
    lr: RwSignal<String>,
    steps: RwSignal<String>,
    sample_every: RwSignal<String>,
    seed: RwSignal<String>,
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what}: {text:?} is not a number"))
}

impl Settings {
    fn new() -> Self {
        let d = TextRunConfig::default();
        Self {
            source: RwSignal::new(Source::Sotu),
            pasted: RwSignal::new(String::new()),
            from: RwSignal::new(From::Random),
            batch: RwSignal::new(d.batch.to_string()),
            window: RwSignal::new(d.window.to_string()),
            lr: RwSignal::new(d.lr.to_string()),
            steps: RwSignal::new(d.max_steps.to_string()),
            sample_every: RwSignal::new("50".into()),
            seed: RwSignal::new(d.seed.to_string()),
        }
    }

    fn read(&self) -> Result<(TextRunConfig, usize), String> {
        let d = TextRunConfig::default();
        let cfg = TextRunConfig {
            batch: parse("batch size", &self.batch.get_untracked())?,
            window: parse("window", &self.window.get_untracked())?,
            lr: parse("learning rate", &self.lr.get_untracked())?,
            max_steps: parse("steps", &self.steps.get_untracked())?,
            seed: parse("seed", &self.seed.get_untracked())?,
            clip: d.clip,
        };
        cfg.check().map_err(|e| e.to_string())?;
        let every: usize = parse("sample every", &self.sample_every.get_untracked())?;
        if every == 0 {
            return Err("sample every: use at least 1 step".into());
        }
        Ok((cfg, every))
    }
}

#[derive(Clone, Copy)]
pub struct TextTraining {
    pub state: RwSignal<RunState>,
    pub step: RwSignal<usize>,
    pub epoch: RwSignal<usize>,
    pub total: RwSignal<usize>,
    pub losses: RwSignal<Vec<(f64, f64)>>,
    pub speed: RwSignal<f64>,
    pub shape: RwSignal<Option<TextRunShape>>,
    /// The latest sample: (step, text).
    pub sample: RwSignal<Option<(usize, String)>>,
    pub notice: RwSignal<Option<Notice>>,
    pub saved_step: RwSignal<Option<usize>>,
    settings: Settings,
    sample_every: StoredValue<usize>,
    prompt: StoredValue<String>,
    meter: StoredValue<Speed>,
    sotu: StoredValue<Option<Rc<String>>, LocalStorage>,
    runner: StoredValue<Runner, LocalStorage>,
    shipped: StoredValue<Shipped, LocalStorage>,
}

impl TextTraining {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
    ) -> Self {
        Self {
            state: RwSignal::new(RunState::Idle),
            step: RwSignal::new(0),
            epoch: RwSignal::new(0),
            total: RwSignal::new(0),
            losses: RwSignal::new(Vec::new()),
            speed: RwSignal::new(0.0),
            shape: RwSignal::new(None),
            sample: RwSignal::new(None),
            notice: RwSignal::new(None),
            saved_step: RwSignal::new(None),
            settings: Settings::new(),
            sample_every: StoredValue::new(50),
            prompt: StoredValue::new(String::new()),
            meter: StoredValue::new(Speed::default()),
            sotu: StoredValue::new_local(None),
            runner,
            shipped,
        }
    }

    fn runner(&self) -> Runner {
        self.runner.get_value()
    }

    /// The text to train on, or why there is none.
    async fn text(self) -> Result<Rc<String>, String> {
        match self.settings.source.get_untracked() {
            Source::Pasted => {
                let text = self.settings.pasted.get_untracked();
                // Refused here too, before a vocabulary is built from it.
                crate::train::text_run::check_text(&text).map_err(|e| e.to_string())?;
                Ok(Rc::new(text))
            }
            Source::Sotu => {
                if let Some(t) = self.sotu.get_value() {
                    return Ok(t);
                }
                let t = Rc::new(page_data::load_sotu_excerpt().await?);
                self.sotu.set_value(Some(t.clone()));
                Ok(t)
            }
        }
    }

    async fn start(self, run: bool) {
        self.notice.set(None);
        let (cfg, every) = match self.settings.read() {
            Ok(s) => s,
            Err(e) => return self.notice.set(Some(Notice(e))),
        };
        self.state.set(RunState::Loading);
        let text = match self.text().await {
            Ok(t) => t,
            Err(e) => {
                self.state.set(RunState::Idle);
                return self.notice.set(Some(Notice(e)));
            }
        };
        let init = match self.settings.from.get_untracked() {
            From::Random => Init::Random,
            From::Shipped => Init::File(self.shipped.with_value(|s| s.text.clone())),
            From::Current => Init::Current,
        };
        let prompt: String = text.chars().take(PROMPT_CHARS).collect();
        let shape = match self
            .runner()
            .ask(|done| Job::StartText(init, text, cfg, done))
            .await
        {
            Ok(shape) => shape,
            Err(e) => {
                self.state.set(RunState::Idle);
                return self.notice.set(Some(Notice(e.to_string())));
            }
        };
        self.prompt.set_value(prompt);
        self.sample_every.set_value(every);
        self.shape.set(Some(shape));
        self.step.set(0);
        self.epoch.set(0);
        self.total.set(cfg.max_steps);
        self.losses.set(Vec::new());
        self.sample.set(None);
        self.speed.set(0.0);
        if run {
            self.resume().await;
        } else {
            self.state.set(RunState::Paused);
            self.one_step().await;
        }
    }

    async fn resume(self) {
        self.state.set(RunState::Running);
        self.meter.update_value(Speed::restart);
        while self.state.get_untracked() == RunState::Running {
            if !self.one_step().await {
                break;
            }
            next_turn().await;
        }
    }

    async fn one_step(self) -> bool {
        match self.runner().ask(Job::TextStep).await {
            Ok(p) => self.after_step(p).await,
            Err(e) => {
                self.state.set(RunState::Stopped);
                self.notice.set(Some(Notice(e.to_string())));
                if matches!(e, crate::Error::Diverged { .. }) {
                    self.persist().await;
                }
                false
            }
        }
    }

    async fn after_step(self, p: TextProgress) -> bool {
        self.step.set(p.step);
        self.epoch.set(p.epoch);
        self.losses
            .update(|l| l.push((p.step as f64, f64::from(p.stats.loss))));
        let mut per_sec = 0.0;
        self.meter.update_value(|m| per_sec = m.step(p.stats.chars));
        self.speed.set(per_sec);
        if p.step % self.sample_every.get_value() == 0 || p.finished {
            self.write_sample().await;
            self.persist().await;
        }
        if p.finished {
            self.state.set(RunState::Done);
            return false;
        }
        true
    }

    /// What the model writes now, from the start of the training text.
    async fn write_sample(self) {
        let prompt = self.prompt.get_value();
        let sampling = Sampling {
            temperature: 0.8,
            top_k: 0,
        };
        let step = self.step.get_untracked();
        let seed = step as u64;
        match self
            .runner()
            .ask(|done| Job::Generate(prompt, SAMPLE_CHARS, sampling, seed, done))
            .await
        {
            Ok(text) => self.sample.set(Some((step, text))),
            Err(e) => self.notice.set(Some(Notice(e.to_string()))),
        }
    }

    async fn persist(self) {
        let Ok(bytes) = self
            .runner()
            .ask(|done| Job::Save(WeightsKind::Text, done))
            .await
        else {
            return;
        };
        let step = self.step.get_untracked();
        match store::save(WeightsKind::Text, &bytes).await {
            Ok(()) => self.saved_step.set(Some(step)),
            Err(e) => self.notice.set(Some(Notice(format!(
                "the weights could not be kept in this browser: {e}"
            )))),
        }
        self.runner().remember(WeightsKind::Text, Rc::new(bytes));
    }

    fn pause(self) {
        if self.state.get_untracked() == RunState::Running {
            self.state.set(RunState::Paused);
            spawn_local(self.persist());
        }
    }

    /// Back to the shipped text model; the run and the kept weights go.
    fn reset(self) {
        let runner = self.runner();
        runner.submit(Job::EndText);
        let shipped = self.shipped.with_value(|s| s.text.clone());
        runner.remember(WeightsKind::Text, shipped.clone());
        runner.submit(Job::Load(shipped.to_vec(), Box::new(|_| ())));
        self.state.set(RunState::Idle);
        self.step.set(0);
        self.epoch.set(0);
        self.losses.set(Vec::new());
        self.sample.set(None);
        self.speed.set(0.0);
        self.shape.set(None);
        self.notice.set(None);
        self.saved_step.set(None);
        spawn_local(async {
            let _ = store::forget(WeightsKind::Text).await;
        });
    }
}

/// Mean loss of `n` steps from the start (`first`) or the end of `losses`.
fn mean_loss(losses: &[(f64, f64)], first: bool, n: usize) -> Option<f64> {
    if losses.len() < n {
        return None;
    }
    let part = if first {
        &losses[..n]
    } else {
        &losses[losses.len() - n..]
    };
    Some(part.iter().map(|l| l.1).sum::<f64>() / n as f64)
}

#[component]
pub fn TextTrainingPanel(
    t: TextTraining,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let loss_canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let points = charts::thin(&t.losses.get());
        if let Some(c) = loss_canvas.get() {
            let chart = Chart {
                x_label: s().chart_step,
                y_label: s().chart_loss,
                y_range: None,
                dots: false,
            };
            let _ = charts::draw(&c, &chart, &points);
        }
    });
    let set = t.settings;
    let locked = move || !t.state.get().can_start();
    let number = move |id: &'static str,
                       label: fn(&super::i18n::Strings) -> &'static str,
                       value: RwSignal<String>,
                       max: String,
                       step: &'static str| {
        view! {
            <label>{move || label(s())}" "
                <input id=id type="number" min="0" max=max.clone() step=step
                    prop:value=move || value.get()
                    on:change=move |ev| value.set(event_target_value(&ev))
                    disabled=locked />
            </label>
        }
    };
    let pasted_bytes = move || set.pasted.with(String::len);
    view! {
        <section id="train-text" aria-labelledby="train-text-title">
            <h2 id="train-text-title">{move || s().train_text_title}</h2>
            <p class="hint">{move || s().train_text_hint}</p>
            <div class="settings">
                <label>{move || s().text_source}" "
                    <select id="tt-source" disabled=locked on:change=move |ev| set.source.set(
                        if event_target_value(&ev) == "pasted" { Source::Pasted } else { Source::Sotu })>
                        <option value="sotu" selected=move || set.source.get() == Source::Sotu>{move || s().source_sotu}</option>
                        <option value="pasted" selected=move || set.source.get() == Source::Pasted>{move || s().source_pasted}</option>
                    </select>
                </label>
                <label>{move || s().train_from}" "
                    <select id="tt-from" disabled=locked on:change=move |ev| set.from.set(match event_target_value(&ev).as_str() {
                        "shipped" => From::Shipped,
                        "current" => From::Current,
                        _ => From::Random,
                    })>
                        <option value="random" selected=move || set.from.get() == From::Random>{move || s().from_random}</option>
                        <option value="shipped" selected=move || set.from.get() == From::Shipped>{move || s().from_shipped}</option>
                        <option value="current" selected=move || set.from.get() == From::Current>{move || s().from_current}</option>
                    </select>
                </label>
                {number("tt-batch", |s| s.batch_size, set.batch, MAX_BATCH.to_string(), "1")}
                {number("tt-window", |s| s.window, set.window, MAX_WINDOW.to_string(), "1")}
                {number("tt-lr", |s| s.learning_rate, set.lr, "1".to_string(), "any")}
                {number("tt-steps", |s| s.steps, set.steps, "1000000".to_string(), "1")}
                {number("tt-sample-every", |s| s.sample_every, set.sample_every, "100000".to_string(), "1")}
                {number("tt-seed", |s| s.seed, set.seed, "4294967295".to_string(), "1")}
            </div>
            <label class="paste" hidden=move || set.source.get() != Source::Pasted>{move || s().paste_label}
                <textarea id="tt-paste" rows="4" spellcheck="false" disabled=locked
                    prop:value=move || set.pasted.get()
                    on:input=move |ev| set.pasted.set(event_target_value(&ev))></textarea>
                <span class="hint" class:over={move || pasted_bytes() > MAX_TEXT_BYTES}>
                    {move || s().paste_size.replace("{mb}", &format!("{:.2}", pasted_bytes() as f64 / 1e6))
                        .replace("{max}", &(MAX_TEXT_BYTES >> 20).to_string())}
                </span>
            </label>
            <RunButtons prefix="tt" state=t.state lang=lang ready=ready
                on_start=move || spawn_local(t.start(true))
                on_pause=move || t.pause()
                on_resume=move || spawn_local(t.resume())
                on_step=move || spawn_local(async move {
                    if t.state.get_untracked().can_start() {
                        t.start(false).await;
                    } else {
                        t.one_step().await;
                    }
                })
                on_reset=move || t.reset() />
            <p id="tt-status" role="status"
                data-state=move || t.state.get().tag()
                data-step=move || t.step.get().to_string()
                data-epoch=move || t.epoch.get().to_string()
                data-loss=move || t.losses.get().last().map_or(String::new(), |l| l.1.to_string())
                data-first-loss=move || mean_loss(&t.losses.get(), true, LOSS_MEAN).map_or(String::new(), |l| l.to_string())
                data-recent-loss=move || mean_loss(&t.losses.get(), false, LOSS_MEAN).map_or(String::new(), |l| l.to_string())
                data-chars-per-sec=move || format!("{:.1}", t.speed.get())
                data-saved-step=move || t.saved_step.get().map_or(String::new(), |s| s.to_string())>
                {move || {
                    let s = s();
                    match t.state.get() {
                        RunState::Idle => s.train_idle.to_string(),
                        RunState::Loading => s.loading_data.to_string(),
                        st => {
                            let mut line = format!("{} {} / {} · {} {}", s.step_label, t.step.get(), t.total.get(), s.epoch_label, t.epoch.get() + 1);
                            if let Some(l) = t.losses.get().last() {
                                line += &format!(" · {} {:.3}", s.loss_label, l.1);
                            }
                            if t.speed.get() > 0.0 {
                                line += &format!(" · {:.0} {}", t.speed.get(), s.chars_per_sec);
                            }
                            if let Some(shape) = t.shape.get() {
                                line += &format!(" · {}", s.text_shape
                                    .replace("{chars}", &shape.text_chars.to_string())
                                    .replace("{vocab}", &(shape.vocab - 1).to_string())
                                    .replace("{rows}", &shape.rows.to_string()));
                            }
                            if st == RunState::Done {
                                line += &format!(" · {}", s.run_finished);
                            }
                            line
                        }
                    }
                }}
            </p>
            <p id="tt-message" role="alert" hidden=move || t.notice.get().is_none()
                data-kind=move || t.notice.get().map(|_| "problem")>
                {move || t.notice.get().map(|n| n.0)}
            </p>
            <p class="hint" hidden=move || t.saved_step.get().is_none()>
                {move || t.saved_step.get().map(|step| s().kept_after_step.replace("{step}", &step.to_string()))}
            </p>
            <figure>
                <canvas id="tt-loss-chart" node_ref=loss_canvas width="480" height="260"
                    aria-label=move || s().loss_chart_label></canvas>
                <figcaption>{move || s().loss_chart_label}</figcaption>
            </figure>
            <h3>{move || s().sample_title.replace("{step}", &t.sample.get().map_or(0, |x| x.0).to_string())}</h3>
            <p id="tt-sample" class="sample" aria-live="polite"
                data-step=move || t.sample.get().map_or(String::new(), |x| x.0.to_string())>
                {move || t.sample.get().map(|x| x.1)}
            </p>
        </section>
    }
}
