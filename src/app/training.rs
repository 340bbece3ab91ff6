//! What the two training panels share: the states of a run and what is
//! shown of it ([`RunCore`]), the speed meter, keeping the weights in the
//! browser, and the controls (settings fields, the run buttons, the loss
//! chart, the messages).

use std::collections::VecDeque;
use std::future::Future;
use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::Shipped;
use super::charts::{self, Chart, Series};
use super::digits::now_ms;
use super::engine::{Init, Job, Runner, WeightsKind};
use super::i18n::{Lang, Strings};
use super::page_data::next_turn;
use super::store;
use crate::error::Error;

/// Where a run is. Idle: none yet (or reset). Done: it took all its steps.
/// Stopped: it ended early with a message (a diverging loss, a lost device).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunState {
    Idle,
    Loading,
    Running,
    Paused,
    Done,
    Stopped,
}

impl RunState {
    /// The value of the panel's `data-state`, for tests and styles.
    pub fn tag(self) -> &'static str {
        match self {
            RunState::Idle => "idle",
            RunState::Loading => "loading",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Done => "done",
            RunState::Stopped => "stopped",
        }
    }

    /// A run exists that can go on.
    pub fn can_resume(self) -> bool {
        matches!(self, RunState::Paused)
    }

    /// "One step" applies: to a paused run, or to a new one it starts.
    pub fn can_step(self) -> bool {
        self.can_resume() || self.can_start()
    }

    /// A new run can start (none is going).
    pub fn can_start(self) -> bool {
        matches!(self, RunState::Idle | RunState::Done | RunState::Stopped)
    }
}

/// A problem shown under a panel: why a run could not start or stopped.
#[derive(Clone, Debug, PartialEq)]
pub struct Notice(pub String);

/// Items (images, characters) per second over the last steps, so a pause
/// or a burst of drawing does not skew it for long.
#[derive(Clone, Default)]
pub struct Speed {
    /// (performance.now() at the end of a step, items in it).
    recent: VecDeque<(f64, usize)>,
}

/// Steps the speed is measured over.
const SPEED_WINDOW: usize = 20;

impl Speed {
    /// A run (re)starts: steps before a pause do not count.
    pub fn restart(&mut self) {
        self.recent.clear();
        self.recent.push_back((now_ms(), 0));
    }

    /// A step of `items` just ended; the speed over the window so far.
    pub fn step(&mut self, items: usize) -> f64 {
        self.recent.push_back((now_ms(), items));
        if self.recent.len() > SPEED_WINDOW + 1 {
            self.recent.pop_front();
        }
        let (first, last) = (self.recent[0].0, self.recent[self.recent.len() - 1].0);
        // The oldest entry only marks when the window starts.
        let items: usize = self.recent.range(1..).map(|r| r.1).sum();
        if last > first {
            items as f64 * 1000.0 / (last - first)
        } else {
            0.0
        }
    }
}

/// Seconds as "1 min 05 s" or "12 s".
pub fn duration(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    if s >= 60 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

/// Start, pause, resume, one step and reset, each enabled only when it
/// applies; `prefix` makes the ids (`td-start`, `tt-pause`, ...). `start`
/// makes a new run and runs it (true) or takes one step of it (false);
/// `step` takes one step of the run there is.
#[component]
pub fn RunButtons<S, SF, T, TF>(
    prefix: &'static str,
    core: RunCore,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
    start: S,
    step: T,
    on_reset: impl Fn() + Copy + Send + 'static,
) -> impl IntoView
where
    S: Fn(bool) -> SF + Copy + Send + 'static,
    SF: Future<Output = ()> + 'static,
    T: Fn() -> TF + Copy + Send + 'static,
    TF: Future<Output = bool> + 'static,
{
    let s = move || lang.get().strings();
    let st = move || core.state.get();
    let one_step = move || {
        spawn_local(async move {
            if core.state.get_untracked().can_start() {
                start(false).await;
            } else {
                step().await;
            }
        })
    };
    view! {
        <div class="run-buttons">
            <button id=format!("{prefix}-start") on:click=move |_| spawn_local(start(true))
                disabled=move || !ready.get() || !st().can_start()>{move || s().train_start}</button>
            <button id=format!("{prefix}-pause") on:click=move |_| core.pause()
                disabled=move || st() != RunState::Running>{move || s().train_pause}</button>
            <button id=format!("{prefix}-resume") on:click=move |_| spawn_local(core.drive(step))
                disabled=move || !st().can_resume()>{move || s().train_resume}</button>
            <button id=format!("{prefix}-step") on:click=move |_| one_step()
                disabled=move || !ready.get() || !st().can_step()>{move || s().train_step}</button>
            <button id=format!("{prefix}-reset") on:click=move |_| on_reset()
                disabled=move || matches!(st(), RunState::Idle | RunState::Loading | RunState::Running)>{move || s().train_reset}</button>
        </div>
    }
}

/// Where a new run's weights come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    Random,
    Shipped,
    Current,
}

/// A setting as typed, or which one is not a number.
pub fn parse<T: std::str::FromStr>(what: &str, text: &str) -> Result<T, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("{what}: {text:?} is not a number"))
}

/// A "do something every N steps" setting: a whole number, at least 1.
pub fn parse_every(what: &str, text: &str) -> Result<usize, String> {
    match parse(what, text)? {
        0 => Err(format!("{what}: use at least 1 step")),
        every => Ok(every),
    }
}

/// What both panels hold about their run; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct RunCore {
    /// Which model the run trains.
    pub kind: WeightsKind,
    pub state: RwSignal<RunState>,
    pub step: RwSignal<usize>,
    pub epoch: RwSignal<usize>,
    pub total: RwSignal<usize>,
    /// (step, loss) of every step of the run.
    pub losses: RwSignal<Vec<(f64, f64)>>,
    /// Images or characters per second.
    pub speed: RwSignal<f64>,
    pub notice: RwSignal<Option<Notice>>,
    /// The step whose weights are kept in this browser.
    pub saved_step: RwSignal<Option<usize>>,
    meter: StoredValue<Speed>,
    runner: StoredValue<Runner, LocalStorage>,
    shipped: StoredValue<Shipped, LocalStorage>,
}

impl RunCore {
    pub fn new(
        kind: WeightsKind,
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
    ) -> Self {
        Self {
            kind,
            state: RwSignal::new(RunState::Idle),
            step: RwSignal::new(0),
            epoch: RwSignal::new(0),
            total: RwSignal::new(0),
            losses: RwSignal::new(Vec::new()),
            speed: RwSignal::new(0.0),
            notice: RwSignal::new(None),
            saved_step: RwSignal::new(None),
            meter: StoredValue::new(Speed::default()),
            runner,
            shipped,
        }
    }

    pub fn runner(&self) -> Runner {
        self.runner.get_value()
    }

    fn shipped_file(&self) -> Rc<Vec<u8>> {
        self.shipped.with_value(|s| match self.kind {
            WeightsKind::Digits => s.digits.clone(),
            WeightsKind::Text => s.text.clone(),
        })
    }

    pub fn init(&self, from: From) -> Init {
        match from {
            From::Random => Init::Random,
            From::Shipped => Init::File(self.shipped_file()),
            From::Current => Init::Current,
        }
    }

    /// A run could not start: back to idle, saying why.
    pub fn refuse(&self, problem: String) {
        self.state.set(RunState::Idle);
        self.notice.set(Some(Notice(problem)));
    }

    /// A run of `total` steps has started: nothing counted yet.
    pub fn begin(&self, total: usize) {
        self.step.set(0);
        self.epoch.set(0);
        self.total.set(total);
        self.losses.set(Vec::new());
        self.speed.set(0.0);
    }

    /// Step `step` of epoch `epoch` ended with `loss` over `items`; the
    /// speed now.
    pub fn stepped(&self, step: usize, epoch: usize, loss: f32, items: usize) -> f64 {
        self.step.set(step);
        self.epoch.set(epoch);
        self.losses
            .update(|l| l.push((step as f64, f64::from(loss))));
        let mut per_sec = 0.0;
        self.meter.update_value(|m| per_sec = m.step(items));
        self.speed.set(per_sec);
        per_sec
    }

    /// A step failed: the run stops with the message. A diverged run put
    /// its last good weights back, and those are kept.
    pub async fn failed(self, e: Error) {
        self.state.set(RunState::Stopped);
        self.notice.set(Some(Notice(e.to_string())));
        if matches!(e, Error::Diverged { .. }) {
            self.persist().await;
        }
    }

    /// Then run it (`run`), or take one step of it and pause.
    pub async fn go<F: Future<Output = bool>>(self, run: bool, step: impl Fn() -> F) {
        if run {
            self.drive(step).await;
        } else {
            self.state.set(RunState::Paused);
            step().await;
        }
    }

    /// Run until paused, finished or stopped, giving the page a turn
    /// between steps; `step` says whether the run can go on.
    pub async fn drive<F: Future<Output = bool>>(self, step: impl Fn() -> F) {
        self.state.set(RunState::Running);
        self.meter.update_value(Speed::restart);
        while self.state.get_untracked() == RunState::Running {
            if !step().await {
                break;
            }
            next_turn().await;
        }
    }

    /// Keep the current weights in this browser, and as what a CPU engine
    /// starts from should the GPU be lost.
    pub async fn persist(self) {
        let kind = self.kind;
        let Ok(bytes) = self.runner().ask(|done| Job::Save(kind, done)).await else {
            return;
        };
        let step = self.step.get_untracked();
        match store::save(kind, &bytes).await {
            Ok(()) => self.saved_step.set(Some(step)),
            Err(e) => self.notice.set(Some(Notice(format!(
                "the weights could not be kept in this browser: {e}"
            )))),
        }
        self.runner().remember(kind, Rc::new(bytes));
    }

    pub fn pause(self) {
        if self.state.get_untracked() == RunState::Running {
            self.state.set(RunState::Paused);
            spawn_local(self.persist());
        }
    }

    /// Back to the shipped weights: `end` drops the run, the counts clear
    /// and the weights kept in the browser are forgotten; `loaded` runs once
    /// the shipped weights are in.
    pub fn reset(self, end: Job, loaded: impl FnOnce() + 'static) {
        let runner = self.runner();
        runner.submit(end);
        let shipped = self.shipped_file();
        runner.remember(self.kind, shipped.clone());
        runner.submit(Job::Load(shipped.to_vec(), Box::new(move |_| loaded())));
        self.state.set(RunState::Idle);
        self.begin(0);
        self.notice.set(None);
        self.saved_step.set(None);
        let kind = self.kind;
        spawn_local(async move {
            let _ = store::forget(kind).await;
        });
    }

    /// The status line: what the panel is doing, or "step 12 / 313 ·
    /// epoch 1 · loss 0.412" followed by the panel's own `details` and, at
    /// the end of a run, "finished".
    pub fn status(&self, s: &Strings, details: impl FnOnce(&mut String, RunState)) -> String {
        let st = self.state.get();
        match st {
            RunState::Idle => return s.train_idle.to_string(),
            RunState::Loading => return s.loading_data.to_string(),
            _ => {}
        }
        let mut line = format!(
            "{} {} / {} · {} {}",
            s.step_label,
            self.step.get(),
            self.total.get(),
            s.epoch_label,
            // `epoch` counts completed epochs: the one under way, or at the
            // end the last one (not "epoch 2" after a one-epoch run).
            if st == RunState::Done {
                self.epoch.get().max(1)
            } else {
                self.epoch.get() + 1
            }
        );
        if let Some(l) = self.losses.get().last() {
            line += &format!(" · {} {:.3}", s.loss_label, l.1);
        }
        details(&mut line, st);
        if st == RunState::Done {
            line += &format!(" · {}", s.run_finished);
        }
        line
    }
}

/// "Start from: random / shipped / current weights".
#[component]
pub fn FromSelect(
    id: &'static str,
    from: RwSignal<From>,
    locked: Signal<bool>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    view! {
        <label>{move || s().train_from}" "
            <select id=id disabled=locked on:change=move |ev| from.set(match event_target_value(&ev).as_str() {
                "shipped" => From::Shipped,
                "current" => From::Current,
                _ => From::Random,
            })>
                <option value="random" selected=move || from.get() == From::Random>{move || s().from_random}</option>
                <option value="shipped" selected=move || from.get() == From::Shipped>{move || s().from_shipped}</option>
                <option value="current" selected=move || from.get() == From::Current>{move || s().from_current}</option>
            </select>
        </label>
    }
}

/// A labelled number setting, kept as typed (checked when a run starts).
#[component]
pub fn NumberField(
    id: &'static str,
    label: fn(&Strings) -> &'static str,
    value: RwSignal<String>,
    max: String,
    step: &'static str,
    locked: Signal<bool>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    view! {
        <label>{move || label(lang.get().strings())}" "
            <input id=id type="number" min="0" max=max step=step
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
                disabled=locked />
        </label>
    }
}

/// The panel's problem message (`#PREFIX-message`) and where its weights
/// are kept.
#[component]
pub fn RunMessages(prefix: &'static str, core: RunCore, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    view! {
        <p id=format!("{prefix}-message") role="alert" hidden=move || core.notice.get().is_none()
            data-kind=move || core.notice.get().map(|_| "problem")>
            {move || core.notice.get().map(|n| n.0)}
        </p>
        <p class="hint" hidden=move || core.saved_step.get().is_none()>
            {move || core.saved_step.get().map(|step| s().kept_after_step.replace("{step}", &step.to_string()))}
        </p>
    }
}

/// The loss at every step of the run, redrawn as it grows.
#[component]
pub fn LossChart(id: &'static str, core: RunCore, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let points = charts::thin(&core.losses.get());
        if let Some(c) = canvas.get() {
            let chart = Chart {
                x_label: s().chart_step,
                y_label: s().chart_loss,
                y_range: None,
                dots: false,
                percent: false,
            };
            let line = Series {
                label: s().chart_loss,
                points: &points,
                run: 0,
            };
            let _ = charts::draw(&c, &chart, &[line]);
        }
    });
    view! {
        <figure>
            <canvas id=id node_ref=canvas width="480" height="260" aria-label=move || s().loss_chart_label></canvas>
            <figcaption>{move || s().loss_chart_label}</figcaption>
        </figure>
    }
}
