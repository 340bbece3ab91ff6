//! What the two training panels share: the states of a run, the speed
//! meter, and the buttons that move a run between states.

use std::collections::VecDeque;

use leptos::prelude::*;

use super::digits::now_ms;
use super::i18n::Lang;

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
        let items: usize = self.recent.iter().skip(1).map(|r| r.1).sum();
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
/// applies; `prefix` makes the ids (`td-start`, `tt-pause`, ...).
#[component]
pub fn RunButtons(
    prefix: &'static str,
    state: RwSignal<RunState>,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
    on_start: impl Fn() + Copy + Send + 'static,
    on_pause: impl Fn() + Copy + Send + 'static,
    on_resume: impl Fn() + Copy + Send + 'static,
    on_step: impl Fn() + Copy + Send + 'static,
    on_reset: impl Fn() + Copy + Send + 'static,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let st = move || state.get();
    view! {
        <div class="run-buttons">
            <button id=format!("{prefix}-start") on:click=move |_| on_start()
                disabled=move || !ready.get() || !st().can_start()>{move || s().train_start}</button>
            <button id=format!("{prefix}-pause") on:click=move |_| on_pause()
                disabled=move || st() != RunState::Running>{move || s().train_pause}</button>
            <button id=format!("{prefix}-resume") on:click=move |_| on_resume()
                disabled=move || !st().can_resume()>{move || s().train_resume}</button>
            <button id=format!("{prefix}-step") on:click=move |_| on_step()
                disabled=move || !ready.get() || !st().can_step()>{move || s().train_step}</button>
            <button id=format!("{prefix}-reset") on:click=move |_| on_reset()
                disabled=move || matches!(st(), RunState::Idle | RunState::Loading | RunState::Running)>{move || s().train_reset}</button>
        </div>
    }
}
