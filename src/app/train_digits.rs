//! Training the digit classifier in the page, on the kernels that answer the
//! drawings: settings, start / pause / resume / one step / reset, live
//! charts, speed and time left, an evaluation on the test images every few
//! steps, and the weights kept in the browser. The model being trained is
//! the one the drawing pad asks, so a drawing can be tried at any moment.

use std::rc::Rc;

use leptos::prelude::*;

use super::Shipped;
use super::backprop::BackpropView;
use super::charts::{self, Chart, Series};
use super::digits::{DigitState, now_ms};
use super::engine::{DigitProgress, Job, Runner, TracedStep, WeightsKind};
use super::evaluation::{EvaluationView, TestResult};
use super::i18n::Lang;
use super::page_data::{self, DigitData, next_turn, url_number};
use super::teach::{TeachPanel, Teaching};
use super::training::{
    From, FromSelect, LossChart, NumberField, RunButtons, RunCore, RunMessages, RunState, duration,
    parse, parse_every,
};
use super::weights_panel::refresh_digit_net;
use crate::nn::classifier::CLASSES;
use crate::train::digit_run::{DigitRunConfig, MAX_BATCH, MAX_EPOCHS, Mistake};
use crate::train::metrics::Confusion;

/// Test images per evaluation job: a drawing waits for one chunk at most.
const EVAL_CHUNK: usize = 250;
/// Misclassified test digits shown, the most confident mistakes first.
const GALLERY: usize = 24;
/// How often the inside view and the taught digits follow the training.
const REFRESH_MS: f64 = 500.0;

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
            ..DigitRunConfig::default()
        };
        cfg.check().map_err(|e| e.to_string())?;
        let every = parse_every("evaluate every", &self.eval_every.get_untracked())?;
        Ok((cfg, every))
    }
}

/// The digit training panel's state; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct DigitTraining {
    pub core: RunCore,
    /// (step, test accuracy) of every evaluation.
    pub evals: RwSignal<Vec<(f64, f64)>>,
    pub result: RwSignal<Option<TestResult>>,
    pub seconds_left: RwSignal<f64>,
    pub teaching: Teaching,
    /// What the last single step did to the traced weights (backprop with
    /// real numbers); None after a step of a running run.
    pub traced: RwSignal<Option<Rc<TracedStep>>, LocalStorage>,
    settings: Settings,
    eval_every: StoredValue<usize>,
    batch: StoredValue<usize>,
    last_refresh: StoredValue<f64>,
    /// The data once the first run fetched it, for evaluations.
    data: StoredValue<Option<Rc<DigitData>>, LocalStorage>,
    digits: DigitState,
    /// The failure drills of the page's address (`?nan-at-step=N`,
    /// `?lose-gpu-at-step=N`), read once.
    nan_at: Option<usize>,
    lose_gpu_at: Option<usize>,
}

impl DigitTraining {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
        digits: DigitState,
    ) -> Self {
        Self {
            core: RunCore::new(WeightsKind::Digits, runner, shipped),
            evals: RwSignal::new(Vec::new()),
            result: RwSignal::new(None),
            seconds_left: RwSignal::new(0.0),
            teaching: Teaching::new(runner),
            traced: RwSignal::new_local(None),
            settings: Settings::new(),
            eval_every: StoredValue::new(100),
            batch: StoredValue::new(32),
            last_refresh: StoredValue::new(0.0),
            data: StoredValue::new_local(None),
            digits,
            nan_at: url_number("nan-at-step"),
            lose_gpu_at: url_number("lose-gpu-at-step"),
        }
    }

    /// A new run from the settings; then run it, or take one step.
    async fn start(self, run: bool) {
        let core = self.core;
        core.notice.set(None);
        let (cfg, every) = match self.settings.read() {
            Ok(s) => s,
            Err(e) => return core.refuse(e),
        };
        core.state.set(RunState::Loading);
        let data = match page_data::digits().await {
            Ok(d) => d,
            Err(e) => return core.refuse(e),
        };
        self.data.set_value(Some(data.clone()));
        let init = core.init(self.settings.from.get_untracked());
        let train = data.train.clone();
        let total = match core
            .runner()
            .ask(|done| Job::StartDigits(init, train, cfg, done))
            .await
        {
            Ok(total) => total,
            Err(e) => return core.refuse(e.to_string()),
        };
        self.eval_every.set_value(every);
        self.batch.set_value(cfg.batch);
        core.begin(total);
        self.evals.set(Vec::new());
        self.result.set(None);
        self.traced.set(None);
        self.teaching.clear();
        self.refresh_views();
        core.go(run, move || self.one_step()).await;
    }

    /// One step, with what follows it (an evaluation when due, the end of
    /// the run); false when the run cannot go on.
    async fn one_step(self) -> bool {
        let next = self.core.step.get_untracked() + 1;
        if self.lose_gpu_at == Some(next) {
            self.core.runner().submit(Job::LoseDevice);
        }
        let poison = self.nan_at == Some(next);
        // One step at a time (not a running run) is traced: its numbers
        // are read back for the backprop view.
        let trace = self.core.state.get_untracked() != RunState::Running;
        match self
            .core
            .runner()
            .ask(|done| Job::DigitStep(poison, trace, done))
            .await
        {
            Ok((p, traced)) => {
                self.traced.set(traced);
                self.after_step(p).await
            }
            Err(e) => {
                self.refresh_views();
                self.core.failed(e).await;
                false
            }
        }
    }

    async fn after_step(self, p: DigitProgress) -> bool {
        let core = self.core;
        core.total.set(p.total_steps);
        let per_sec = core.stepped(p.step, p.epoch, p.stats.loss, p.stats.batch);
        if per_sec > 0.0 {
            let left = p.total_steps.saturating_sub(p.step) * self.batch.get_value();
            self.seconds_left.set(left as f64 / per_sec);
        }
        if p.step % self.eval_every.get_value() == 0 || p.finished {
            if let Err(e) = self.evaluate().await {
                core.failed(e).await;
                return false;
            }
            core.persist().await;
        }
        if p.finished {
            core.state.set(RunState::Done);
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
    async fn evaluate(self) -> crate::Result<()> {
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
                .core
                .runner()
                .ask(|done| Job::PredictTest(set, r, done))
                .await?;
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
        let step = self.core.step.get_untracked();
        self.evals
            .update(|e| e.push((step as f64, confusion.accuracy())));
        self.result.set(Some(TestResult {
            step,
            confusion,
            mistakes,
        }));
        Ok(())
    }

    /// The inside view and the taught digits, asked again of the model as
    /// it is now.
    fn refresh_views(self) {
        self.last_refresh.set_value(now_ms());
        self.digits.classify();
        refresh_digit_net(self.digits);
        self.teaching.refresh();
    }

    /// Back to the shipped weights: the run, its charts, the taught digits
    /// and the weights kept in the browser are gone.
    fn reset(self) {
        self.core
            .reset(Job::EndDigits, move || self.refresh_views());
        self.evals.set(Vec::new());
        self.result.set(None);
        self.seconds_left.set(0.0);
        self.traced.set(None);
        self.teaching.clear();
    }
}

#[component]
pub fn DigitTrainingPanel(
    t: DigitTraining,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let core = t.core;
    let acc_canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let points = t.evals.get();
        if let Some(c) = acc_canvas.get() {
            let chart = Chart {
                x_label: s().chart_step,
                y_label: s().chart_accuracy,
                y_range: Some((0.0, 1.0)),
                dots: true,
                percent: true,
            };
            let line = Series {
                label: s().chart_accuracy,
                points: &points,
                run: 0,
            };
            let _ = charts::draw(&c, &chart, &[line]);
        }
    });
    let set = t.settings;
    let locked = Signal::derive(move || !core.state.get().can_start());
    let accuracy = move || t.evals.get().last().map(|e| e.1);
    let status = move || {
        let s = s();
        core.status(s, |line, st| {
            if let Some(a) = accuracy() {
                *line += &format!(" · {} {:.1}%", s.test_accuracy, 100.0 * a);
            }
            if core.speed.get() > 0.0 {
                *line += &format!(" · {:.0} {}", core.speed.get(), s.images_per_sec);
            }
            if st == RunState::Running && t.seconds_left.get() > 0.0 {
                *line += &format!(" · {} {}", s.time_left, duration(t.seconds_left.get()));
            }
        })
    };
    view! {
        <section id="train-digits" aria-labelledby="train-digits-title">
            <h2 id="train-digits-title">{move || s().train_digits_title}</h2>
            <p class="hint">{move || s().train_digits_hint}</p>
            <div class="settings">
                <FromSelect id="td-from" from=set.from locked=locked lang=lang />
                <NumberField id="td-batch" label=|s| s.batch_size value=set.batch max=MAX_BATCH.to_string() step="1" locked=locked lang=lang />
                <NumberField id="td-lr" label=|s| s.learning_rate value=set.lr max="1".to_string() step="any" locked=locked lang=lang />
                <NumberField id="td-epochs" label=|s| s.epochs value=set.epochs max=MAX_EPOCHS.to_string() step="1" locked=locked lang=lang />
                <NumberField id="td-eval-every" label=|s| s.eval_every value=set.eval_every max="100000".to_string() step="1" locked=locked lang=lang />
                <NumberField id="td-seed" label=|s| s.seed value=set.seed max="4294967295".to_string() step="1" locked=locked lang=lang />
            </div>
            <RunButtons prefix="td" core=core lang=lang ready=ready
                start=move |run| t.start(run)
                step=move || t.one_step()
                on_reset=move || t.reset() />
            <p id="td-status" role="status"
                data-state=move || core.state.get().tag()
                data-step=move || core.step.get().to_string()
                data-epoch=move || core.epoch.get().to_string()
                data-total=move || core.total.get().to_string()
                data-loss=move || core.losses.get().last().map_or(String::new(), |l| l.1.to_string())
                data-images-per-sec=move || format!("{:.1}", core.speed.get())
                data-evals=move || t.evals.get().len().to_string()
                data-eval-step=move || t.evals.get().last().map_or(String::new(), |e| e.0.to_string())
                data-accuracy=move || accuracy().map_or(String::new(), |a| a.to_string())
                data-saved-step=move || core.saved_step.get().map_or(String::new(), |s| s.to_string())>
                {status}
            </p>
            <RunMessages prefix="td" core=core lang=lang />
            <div class="charts">
                <LossChart id="td-loss-chart" core=core lang=lang />
                <figure>
                    <canvas id="td-accuracy-chart" node_ref=acc_canvas width="480" height="260"
                        aria-label=move || s().accuracy_chart_label></canvas>
                    <figcaption>{move || s().accuracy_chart_label}</figcaption>
                </figure>
            </div>
            <BackpropView traced=t.traced lang=lang />
            <EvaluationView result=t.result lang=lang />
            <TeachPanel teaching=t.teaching state=core.state digits=t.digits lang=lang />
        </section>
    }
}
