//! Training the digit classifier in the page, on the kernels that answer the
//! drawings: settings, start / pause / resume / one step / reset, live
//! charts, speed and time left, an evaluation on the test images every few
//! steps, and the weights kept in the browser. The model being trained is
//! the one the drawing pad asks, so a drawing can be tried at any moment.

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::Shipped;
use super::charts::{self, Chart};
use super::digits::{DigitState, now_ms};
use super::engine::{DigitProgress, Init, Job, Runner, WeightsKind};
use super::evaluation::{EvaluationView, TestResult};
use super::i18n::Lang;
use super::page_data::{self, DigitData, next_turn, url_number};
use super::store;
use super::teach::{TeachPanel, Teaching};
use super::training::{Notice, RunButtons, RunState, Speed, duration};
use super::weights_panel::refresh_filters;
use crate::error::Error;
use crate::nn::mnist_cnn::CLASSES;
use crate::train::digit_run::{DigitRunConfig, MAX_BATCH, MAX_EPOCHS, Mistake};
use crate::train::metrics::Confusion;

/// Test images per evaluation job: a drawing waits for one chunk at most.
const EVAL_CHUNK: usize = 250;
/// Misclassified test digits shown, the most confident mistakes first.
const GALLERY: usize = 24;
/// How often the inside view and the taught digits follow the training.
const REFRESH_MS: f64 = 500.0;

/// Where a new run's weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    Random,
    Shipped,
    Current,
}

/// The settings as typed, checked when a run starts.
#[derive(Clone, Copy)]
struct Settings {
    from: RwSignal<From>,
    batch: RwSignal<String>,
    lr: RwSignal<String>,
    epochs: RwSignal<String>,
    eval_every: RwSignal<String>,
    seed: RwSignal<String>,
}

fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what}: {text:?} is not a number"))
}

impl Settings {
    fn new() -> Self {
        let d = DigitRunConfig::default();
        Self {
            from: RwSignal::new(From::Random),
            batch: RwSignal::new(d.batch.to_string()),
            lr: RwSignal::new(d.lr.to_string()),
            epochs: RwSignal::new(d.epochs.to_string()),
            eval_every: RwSignal::new("100".into()),
            seed: RwSignal::new(d.seed.to_string()),
        }
    }

    /// The run's settings and how often it is evaluated.
    fn read(&self) -> Result<(DigitRunConfig, usize), String> {
        let cfg = DigitRunConfig {
            batch: parse("batch size", &self.batch.get_untracked())?,
            lr: parse("learning rate", &self.lr.get_untracked())?,
            epochs: parse("epochs", &self.epochs.get_untracked())?,
            seed: parse("seed", &self.seed.get_untracked())?,
        };
        cfg.check().map_err(|e| e.to_string())?;
        let every: usize = parse("evaluate every", &self.eval_every.get_untracked())?;
        if every == 0 {
            return Err("evaluate every: use at least 1 step".into());
        }
        Ok((cfg, every))
    }
}

/// The digit training panel's state; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct DigitTraining {
    pub state: RwSignal<RunState>,
    pub step: RwSignal<usize>,
    pub epoch: RwSignal<usize>,
    pub total: RwSignal<usize>,
    /// (step, loss) of every step of the run.
    pub losses: RwSignal<Vec<(f64, f64)>>,
    /// (step, test accuracy) of every evaluation.
    pub evals: RwSignal<Vec<(f64, f64)>>,
    pub result: RwSignal<Option<TestResult>>,
    pub speed: RwSignal<f64>,
    pub seconds_left: RwSignal<f64>,
    pub notice: RwSignal<Option<Notice>>,
    /// The step whose weights are kept in this browser.
    pub saved_step: RwSignal<Option<usize>>,
    pub teaching: Teaching,
    settings: Settings,
    eval_every: StoredValue<usize>,
    batch: StoredValue<usize>,
    meter: StoredValue<Speed>,
    last_refresh: StoredValue<f64>,
    data: StoredValue<Option<Rc<DigitData>>, LocalStorage>,
    runner: StoredValue<Runner, LocalStorage>,
    shipped: StoredValue<Shipped, LocalStorage>,
    digits: DigitState,
}

impl DigitTraining {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
        digits: DigitState,
    ) -> Self {
        Self {
            state: RwSignal::new(RunState::Idle),
            step: RwSignal::new(0),
            epoch: RwSignal::new(0),
            total: RwSignal::new(0),
            losses: RwSignal::new(Vec::new()),
            evals: RwSignal::new(Vec::new()),
            result: RwSignal::new(None),
            speed: RwSignal::new(0.0),
            seconds_left: RwSignal::new(0.0),
            notice: RwSignal::new(None),
            saved_step: RwSignal::new(None),
            teaching: Teaching::new(runner),
            settings: Settings::new(),
            eval_every: StoredValue::new(100),
            batch: StoredValue::new(32),
            meter: StoredValue::new(Speed::default()),
            last_refresh: StoredValue::new(0.0),
            data: StoredValue::new_local(None),
            runner,
            shipped,
            digits,
        }
    }

    fn runner(&self) -> Runner {
        self.runner.get_value()
    }

    /// A new run from the settings; then run it, or take one step.
    async fn start(self, run: bool) {
        self.notice.set(None);
        let (cfg, every) = match self.settings.read() {
            Ok(s) => s,
            Err(e) => return self.notice.set(Some(Notice(e))),
        };
        self.state.set(RunState::Loading);
        let data = match self.data.get_value() {
            Some(d) => d,
            None => match page_data::load_digits().await {
                Ok(d) => {
                    let d = Rc::new(d);
                    self.data.set_value(Some(d.clone()));
                    d
                }
                Err(e) => {
                    self.state.set(RunState::Idle);
                    return self.notice.set(Some(Notice(e)));
                }
            },
        };
        let init = match self.settings.from.get_untracked() {
            From::Random => Init::Random,
            From::Shipped => Init::File(self.shipped.with_value(|s| s.digits.clone())),
            From::Current => Init::Current,
        };
        let train = data.train.clone();
        let total = match self
            .runner()
            .ask(|done| Job::StartDigits(init, train, cfg, done))
            .await
        {
            Ok(total) => total,
            Err(e) => {
                self.state.set(RunState::Idle);
                return self.notice.set(Some(Notice(e.to_string())));
            }
        };
        self.eval_every.set_value(every);
        self.batch.set_value(cfg.batch);
        self.step.set(0);
        self.epoch.set(0);
        self.total.set(total);
        self.losses.set(Vec::new());
        self.evals.set(Vec::new());
        self.result.set(None);
        self.speed.set(0.0);
        self.teaching.clear();
        self.refresh_views();
        if run {
            self.resume().await;
        } else {
            self.state.set(RunState::Paused);
            self.one_step().await;
        }
    }

    /// Run until paused, finished or stopped, giving the page a turn
    /// between steps.
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

    /// One step, with what follows it (an evaluation when due, the end of
    /// the run); false when the run cannot go on.
    async fn one_step(self) -> bool {
        let next = self.step.get_untracked() + 1;
        if url_number("lose-gpu-at-step") == Some(next) {
            self.runner().submit(Job::LoseDevice);
        }
        let poison = url_number("nan-at-step") == Some(next);
        match self.runner().ask(|done| Job::DigitStep(poison, done)).await {
            Ok(p) => self.after_step(p).await,
            Err(e) => {
                self.state.set(RunState::Stopped);
                self.notice.set(Some(Notice(e.to_string())));
                self.refresh_views();
                // A diverged run put its last good weights back: keep those.
                if matches!(e, Error::Diverged { .. }) {
                    self.persist().await;
                }
                false
            }
        }
    }

    async fn after_step(self, p: DigitProgress) -> bool {
        self.step.set(p.step);
        self.epoch.set(p.epoch);
        self.total.set(p.total_steps);
        self.losses
            .update(|l| l.push((p.step as f64, f64::from(p.stats.loss))));
        let mut per_sec = 0.0;
        self.meter.update_value(|m| per_sec = m.step(p.stats.batch));
        self.speed.set(per_sec);
        if per_sec > 0.0 {
            let left = p.total_steps.saturating_sub(p.step) * self.batch.get_value();
            self.seconds_left.set(left as f64 / per_sec);
        }
        if p.step % self.eval_every.get_value() == 0 || p.finished {
            if let Err(e) = self.evaluate().await {
                self.state.set(RunState::Stopped);
                self.notice.set(Some(Notice(e)));
                return false;
            }
            self.persist().await;
        }
        if p.finished {
            self.state.set(RunState::Done);
            self.seconds_left.set(0.0);
            self.refresh_views();
            return false;
        }
        if now_ms() - self.last_refresh.get_value() > REFRESH_MS {
            self.refresh_views();
        }
        true
    }

    /// The test images through the model, a chunk per job; the chart, the
    /// confusion matrix and the gallery follow.
    async fn evaluate(self) -> Result<(), String> {
        let Some(data) = self.data.get_value() else {
            return Ok(());
        };
        let test = data.test.clone();
        let mut confusion = Confusion::new(CLASSES);
        let mut mistakes = Vec::new();
        for start in (0..test.len()).step_by(EVAL_CHUNK) {
            let range = start..(start + EVAL_CHUNK).min(test.len());
            let (set, r) = (test.clone(), range.clone());
            let got = self
                .runner()
                .ask(|done| Job::PredictTest(set, r, done))
                .await
                .map_err(|e| e.to_string())?;
            for (index, (truth, predicted, confidence)) in range.zip(got) {
                confusion.add(usize::from(truth), usize::from(predicted));
                if truth != predicted {
                    mistakes.push(Mistake {
                        index,
                        truth,
                        predicted,
                        confidence,
                    });
                }
            }
            next_turn().await;
        }
        mistakes.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        mistakes.truncate(GALLERY);
        let mistakes = mistakes
            .into_iter()
            .map(|m| (m, test.pixels(m.index).to_vec()))
            .collect();
        let step = self.step.get_untracked();
        self.evals
            .update(|e| e.push((step as f64, confusion.accuracy())));
        self.result.set(Some(TestResult {
            step,
            confusion,
            mistakes,
        }));
        Ok(())
    }

    /// Keep the current weights in this browser (and as what a CPU engine
    /// starts from, should the GPU be lost).
    async fn persist(self) {
        let Ok(bytes) = self
            .runner()
            .ask(|done| Job::Save(WeightsKind::Digits, done))
            .await
        else {
            return;
        };
        let step = self.step.get_untracked();
        match store::save(WeightsKind::Digits, &bytes).await {
            Ok(()) => self.saved_step.set(Some(step)),
            Err(e) => self.notice.set(Some(Notice(format!(
                "the weights could not be kept in this browser: {e}"
            )))),
        }
        self.runner().remember(WeightsKind::Digits, Rc::new(bytes));
    }

    /// The inside view and the taught digits, asked again of the model as
    /// it is now.
    fn refresh_views(self) {
        self.last_refresh.set_value(now_ms());
        self.digits.classify();
        refresh_filters(self.digits);
        self.teaching.refresh();
    }

    fn pause(self) {
        if self.state.get_untracked() == RunState::Running {
            self.state.set(RunState::Paused);
            spawn_local(self.persist());
        }
    }

    /// Back to the shipped weights: the run, its charts and the weights
    /// kept in the browser are gone.
    fn reset(self) {
        let runner = self.runner();
        runner.submit(Job::EndDigits);
        let shipped = self.shipped.with_value(|s| s.digits.clone());
        runner.remember(WeightsKind::Digits, shipped.clone());
        let done = move |_| self.refresh_views();
        runner.submit(Job::Load(shipped.to_vec(), Box::new(done)));
        self.state.set(RunState::Idle);
        self.step.set(0);
        self.epoch.set(0);
        self.total.set(0);
        self.losses.set(Vec::new());
        self.evals.set(Vec::new());
        self.result.set(None);
        self.speed.set(0.0);
        self.seconds_left.set(0.0);
        self.notice.set(None);
        self.saved_step.set(None);
        self.teaching.clear();
        spawn_local(async {
            let _ = store::forget(WeightsKind::Digits).await;
        });
    }
}

#[component]
pub fn DigitTrainingPanel(
    t: DigitTraining,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let loss_canvas = NodeRef::<leptos::html::Canvas>::new();
    let acc_canvas = NodeRef::<leptos::html::Canvas>::new();
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
    Effect::new(move |_| {
        let points = t.evals.get();
        if let Some(c) = acc_canvas.get() {
            let chart = Chart {
                x_label: s().chart_step,
                y_label: s().chart_accuracy,
                y_range: Some((0.0, 1.0)),
                dots: true,
            };
            let _ = charts::draw(&c, &chart, &points);
        }
    });
    let set = t.settings;
    let locked = move || !t.state.get().can_start();
    let accuracy = move || t.evals.get().last().map(|e| e.1);
    let number = move |id: &'static str,
                       label: fn(&super::i18n::Strings) -> &'static str,
                       value: RwSignal<String>,
                       min: &'static str,
                       max: String,
                       step: &'static str| {
        view! {
            <label>{move || label(s())}" "
                <input id=id type="number" min=min max=max.clone() step=step
                    prop:value=move || value.get()
                    on:change=move |ev| value.set(event_target_value(&ev))
                    disabled=locked />
            </label>
        }
    };
    view! {
        <section id="train-digits" aria-labelledby="train-digits-title">
            <h2 id="train-digits-title">{move || s().train_digits_title}</h2>
            <p class="hint">{move || s().train_digits_hint}</p>
            <div class="settings">
                <label>{move || s().train_from}" "
                    <select id="td-from" disabled=locked on:change=move |ev| set.from.set(match event_target_value(&ev).as_str() {
                        "shipped" => From::Shipped,
                        "current" => From::Current,
                        _ => From::Random,
                    })>
                        <option value="random" selected=move || set.from.get() == From::Random>{move || s().from_random}</option>
                        <option value="shipped" selected=move || set.from.get() == From::Shipped>{move || s().from_shipped}</option>
                        <option value="current" selected=move || set.from.get() == From::Current>{move || s().from_current}</option>
                    </select>
                </label>
                {number("td-batch", |s| s.batch_size, set.batch, "1", MAX_BATCH.to_string(), "1")}
                {number("td-lr", |s| s.learning_rate, set.lr, "0", "1".to_string(), "any")}
                {number("td-epochs", |s| s.epochs, set.epochs, "1", MAX_EPOCHS.to_string(), "1")}
                {number("td-eval-every", |s| s.eval_every, set.eval_every, "1", "100000".to_string(), "1")}
                {number("td-seed", |s| s.seed, set.seed, "0", "4294967295".to_string(), "1")}
            </div>
            <RunButtons prefix="td" state=t.state lang=lang ready=ready
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
            <p id="td-status" role="status"
                data-state=move || t.state.get().tag()
                data-step=move || t.step.get().to_string()
                data-epoch=move || t.epoch.get().to_string()
                data-total=move || t.total.get().to_string()
                data-loss=move || t.losses.get().last().map_or(String::new(), |l| l.1.to_string())
                data-images-per-sec=move || format!("{:.1}", t.speed.get())
                data-evals=move || t.evals.get().len().to_string()
                data-eval-step=move || t.evals.get().last().map_or(String::new(), |e| e.0.to_string())
                data-accuracy=move || accuracy().map_or(String::new(), |a| a.to_string())
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
                            if let Some(a) = accuracy() {
                                line += &format!(" · {} {:.1}%", s.test_accuracy, 100.0 * a);
                            }
                            if t.speed.get() > 0.0 {
                                line += &format!(" · {:.0} {}", t.speed.get(), s.images_per_sec);
                            }
                            if st == RunState::Running && t.seconds_left.get() > 0.0 {
                                line += &format!(" · {} {}", s.time_left, duration(t.seconds_left.get()));
                            }
                            if st == RunState::Done {
                                line += &format!(" · {}", s.run_finished);
                            }
                            line
                        }
                    }
                }}
            </p>
            <p id="td-message" role="alert" hidden=move || t.notice.get().is_none()
                data-kind=move || t.notice.get().map(|_| "problem")>
                {move || t.notice.get().map(|n| n.0)}
            </p>
            <p class="hint" hidden=move || t.saved_step.get().is_none()>
                {move || t.saved_step.get().map(|step| s().kept_after_step.replace("{step}", &step.to_string()))}
            </p>
            <div class="charts">
                <figure>
                    <canvas id="td-loss-chart" node_ref=loss_canvas width="480" height="260"
                        aria-label=move || s().loss_chart_label></canvas>
                    <figcaption>{move || s().loss_chart_label}</figcaption>
                </figure>
                <figure>
                    <canvas id="td-accuracy-chart" node_ref=acc_canvas width="480" height="260"
                        aria-label=move || s().accuracy_chart_label></canvas>
                    <figcaption>{move || s().accuracy_chart_label}</figcaption>
                </figure>
            </div>
            <EvaluationView result=t.result lang=lang />
            <TeachPanel teaching=t.teaching state=t.state digits=t.digits lang=lang />
        </section>
    }
}
