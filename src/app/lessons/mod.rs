//! The lessons in the page: the index (`#lessons`), and the lesson card
//! that guides a student through the page a step at a time. A step shows
//! its part of the page, highlights the element it talks about and moves
//! the keyboard's focus there, and its Next button opens once the student
//! has done the task (checked against the page's live state). Progress is
//! kept in this browser; `#lessons&lesson=conv&step=2` opens one lesson at
//! one step (steps counted from 1), in the link grammar of `crate::link`.

mod figures;

use std::collections::{BTreeMap, BTreeSet};

use leptos::prelude::*;
use wasm_bindgen::JsCast;

use super::digits::DigitState;
use super::i18n::Lang;
use super::nav::Route;
use super::training::RunCore;
use crate::lessons::{LESSONS, Lesson, Quiz, Task, Words};
use crate::link::Link;
use crate::nn::classifier::argmax;
use figures::FigureView;

/// Where progress is kept (localStorage): lesson id -> furthest step done.
const PROGRESS_KEY: &str = "neuralpad.lessons";

fn pick(lang: Lang, w: Words) -> &'static str {
    match lang {
        Lang::En => w[0],
        Lang::Zh => w[1],
    }
}

/// How far a student got in one lesson.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    /// Steps done, from the start.
    pub steps_done: usize,
    pub finished: bool,
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

fn load_progress() -> BTreeMap<String, Progress> {
    storage()
        .and_then(|s| s.get_item(PROGRESS_KEY).ok().flatten())
        .and_then(|j| serde_json::from_str(&j).ok())
        .unwrap_or_default()
}

fn save_progress(p: &BTreeMap<String, Progress>) {
    if let (Some(s), Ok(json)) = (storage(), serde_json::to_string(p)) {
        // A browser that refuses storage only loses the keeping.
        let _ = s.set_item(PROGRESS_KEY, &json);
    }
}

/// What the lessons share; all handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct LessonState {
    /// The lesson open and its step (from 0).
    pub active: RwSignal<Option<(&'static Lesson, usize)>>,
    /// What figures and parts of the page reported (`crate::lessons::flags`).
    flags: RwSignal<BTreeSet<&'static str>>,
    /// The option picked for each quiz answered, by quiz id.
    guesses: RwSignal<BTreeMap<&'static str, usize>>,
    pub progress: RwSignal<BTreeMap<String, Progress>>,
    digits: DigitState,
    training: RunCore,
    typed: RwSignal<String>,
}

impl LessonState {
    pub fn new(digits: DigitState, training: RunCore, typed: RwSignal<String>) -> Self {
        LessonState {
            active: RwSignal::new(None),
            flags: RwSignal::new(BTreeSet::new()),
            guesses: RwSignal::new(BTreeMap::new()),
            progress: RwSignal::new(load_progress()),
            digits,
            training,
            typed,
        }
    }

    /// A figure or a part of the page did what a step may ask.
    pub fn raise(&self, flag: &'static str) {
        if !self.flags.with_untracked(|f| f.contains(flag)) {
            self.flags.update(|f| {
                f.insert(flag);
            });
        }
    }

    /// Whether the task of `step` of `lesson` is done, reading the page's
    /// signals (so it is re-checked as they change).
    fn done(&self, lesson: &Lesson, step: usize) -> bool {
        let Some(s) = lesson.steps.get(step) else {
            return false;
        };
        let d = self.digits;
        match s.task {
            Task::Read => true,
            // The student's own drawing, not the example the inside view shows.
            Task::Draw(want) => {
                !d.placeholder.get()
                    && d.out.with(|o| {
                        o.as_ref().filter(|o| !o.probs.is_empty()).is_some_and(|o| {
                            want.is_none_or(|w| argmax(&o.probs) == usize::from(w))
                        })
                    })
            }
            Task::Centring(on) => d.steps.get().center == on,
            Task::Flag(f) => self.flags.with(|s| s.contains(f)),
            Task::Guess => s
                .quiz
                .as_ref()
                .is_some_and(|q| self.guesses.with(|g| g.contains_key(q.id))),
            Task::TrainSteps(n) => self.training.step.get() >= n,
            Task::LossFell(n) => {
                self.training.step.get() >= n
                    && self.training.losses.with(|l| {
                        let mean = |v: &[(f64, f64)]| {
                            v.iter().map(|p| p.1).sum::<f64>() / v.len().max(1) as f64
                        };
                        l.len() >= 10 && mean(&l[l.len() - 5..]) < mean(&l[..5])
                    })
            }
            Task::Typed(n) => self.typed.with(|t| t.chars().count() >= n),
        }
    }

    /// Open `lesson` at `step`: its part of the page, in the address.
    pub fn open(&self, lesson: &'static Lesson, step: usize) {
        let step = step.min(lesson.steps.len() - 1);
        self.active.set(Some((lesson, step)));
        if let Some(route) = use_context::<Route>() {
            route.replace(
                Link::to(lesson.steps[step].section)
                    .with("lesson", lesson.id)
                    .with("step", (step + 1).to_string()),
            );
        }
    }

    fn record(&self, lesson: &Lesson, steps_done: usize) {
        self.progress.update(|p| {
            let e = p.entry(lesson.id.to_string()).or_default();
            e.steps_done = e.steps_done.max(steps_done);
            e.finished |= steps_done >= lesson.steps.len();
        });
        self.progress.with_untracked(save_progress);
    }

    fn close(&self) {
        self.active.set(None);
        highlight(None);
    }
}

/// Mark `id` as the part a step talks about (and no other), bring it into
/// view and give it the keyboard's focus, once the page has laid it out.
fn highlight(id: Option<&'static str>) {
    let Some(w) = web_sys::window() else { return };
    let go = wasm_bindgen::closure::Closure::once_into_js(move || {
        let doc = document();
        if let Ok(old) = doc.query_selector_all(".lesson-target") {
            for i in 0..old.length() {
                if let Some(el) = old
                    .item(i)
                    .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
                {
                    let _ = el.class_list().remove_1("lesson-target");
                }
            }
        }
        let Some(el) = id.and_then(|id| doc.get_element_by_id(id)) else {
            return;
        };
        let _ = el.class_list().add_1("lesson-target");
        if let Ok(el) = el.dyn_into::<web_sys::HtmlElement>() {
            let focusable = matches!(
                el.tag_name().as_str(),
                "BUTTON" | "INPUT" | "SELECT" | "TEXTAREA" | "A"
            );
            if !focusable && !el.has_attribute("tabindex") {
                let _ = el.set_attribute("tabindex", "-1");
            }
            el.scroll_into_view();
            let _ = el.focus();
        }
    });
    let _ = w.request_animation_frame(go.unchecked_ref());
}

/// Focus the element `id` on the next frame.
fn focus_later(id: &'static str) {
    let Some(w) = web_sys::window() else { return };
    let go = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(el) = document()
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
    let _ = w.request_animation_frame(go.unchecked_ref());
}

/// The lesson index: every lesson with its progress.
#[component]
pub fn LessonsPage(lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let l = move |w| pick(lang.get(), w);
    view! {
        <section id="lessons" aria-labelledby="lessons-title">
            <h2 id="lessons-title">{move || l(["Lessons", "课程"])}</h2>
            <p class="hint">{move || l([
                "Short guided lessons on this page's own network: each step shows a part of the page and gives you something to do. Your progress is kept in this browser; a lesson's address opens it at its step, for a teacher to send.",
                "基于本页网络的简短引导课程：每一步展示页面的一部分，并给你一个任务。进度保存在本浏览器中；课程的地址可以直接打开到某一步，方便老师分享。",
            ])}</p>
            <ol class="lesson-list">
                {LESSONS.iter().map(|lesson| {
                    let progress = move || lessons.progress.with(|p| p.get(lesson.id).copied().unwrap_or_default());
                    let state = move || {
                        let p = progress();
                        if p.finished {
                            l(["done ✓", "已完成 ✓"]).to_string()
                        } else if p.steps_done > 0 {
                            l(["step {i} of {n}", "第 {i} / {n} 步"]).replace("{i}", &(p.steps_done + 1).min(lesson.steps.len()).to_string()).replace("{n}", &lesson.steps.len().to_string())
                        } else {
                            l(["{n} steps", "{n} 步"]).replace("{n}", &lesson.steps.len().to_string())
                        }
                    };
                    view! {
                        <li class="lesson-item" data-lesson=lesson.id data-finished=move || progress().finished.to_string()>
                            <h3>{move || l(lesson.title)}</h3>
                            <p>{move || l(lesson.summary)}</p>
                            <p class="hint">{state}</p>
                            <button id=format!("lesson-start-{}", lesson.id) type="button"
                                on:click=move |_| {
                                    let p = progress();
                                    let at = if p.finished { 0 } else { p.steps_done.min(lesson.steps.len() - 1) };
                                    lessons.open(lesson, at);
                                }>
                                {move || if progress().steps_done > 0 && !progress().finished { l(["Continue", "继续"]) } else { l(["Start", "开始"]) }}
                            </button>
                        </li>
                    }
                }).collect_view()}
            </ol>
        </section>
    }
}

/// A predict-then-reveal question: the answer shows once the student
/// has guessed.
#[component]
fn QuizView(quiz: &'static Quiz, lessons: LessonState, lang: RwSignal<Lang>) -> impl IntoView {
    let l = move |w| pick(lang.get(), w);
    let guess = move || lessons.guesses.with(|g| g.get(quiz.id).copied());
    view! {
        <fieldset class="quiz" id=format!("quiz-{}", quiz.id)>
            <legend>{move || l(quiz.question)}</legend>
            {quiz.options.iter().enumerate().map(|(i, o)| view! {
                <button type="button" id=format!("quiz-{}-{i}", quiz.id)
                    aria-pressed=move || (guess() == Some(i)).to_string()
                    disabled=move || guess().is_some()
                    on:click=move |_| lessons.guesses.update(|g| { g.insert(quiz.id, i); })>
                    {move || l(*o)}
                </button>
            }).collect_view()}
            <p class="reveal" role="status" hidden=move || guess().is_none()
                data-right=move || (guess() == Some(quiz.answer)).to_string()>
                <strong>{move || if guess() == Some(quiz.answer) { l(["Right. ", "答对了。"]) } else { l(["Not quite. ", "不太对。"]) }}</strong>
                {move || l(quiz.reveal)}
            </p>
        </fieldset>
    }
}

/// The open lesson's card: its step, figure, quiz and task, with Back and
/// Next; follows `#...&lesson=ID&step=N` links.
#[component]
pub fn LessonCard(
    lessons: LessonState,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
) -> impl IntoView {
    let route = use_context::<Route>().expect("the route is provided");
    // A link names a lesson and a step: open it there, once the page runs.
    Effect::new(move |_| {
        let link = route.link.get();
        if !ready.get() {
            return;
        }
        let Some(lesson) = link.get("lesson").and_then(Lesson::find) else {
            return;
        };
        let step = link
            .get("step")
            .and_then(|s| s.parse::<usize>().ok())
            .map_or(0, |s| s.saturating_sub(1))
            .min(lesson.steps.len() - 1);
        let same = lessons
            .active
            .with_untracked(|a| a.is_some_and(|(l, s)| l.id == lesson.id && s == step));
        if !same || link.section != lesson.steps[step].section {
            lessons.open(lesson, step);
        }
    });
    // Each step shows and highlights its part of the page.
    Effect::new(move |_| {
        if let Some((lesson, step)) = lessons.active.get() {
            highlight(lesson.steps[step].target);
        }
    });
    let done = Memo::new(move |_| {
        lessons
            .active
            .get()
            .is_some_and(|(l, s)| lessons.done(l, s))
    });
    // Once the task is done, Next takes the focus (unless the student is
    // typing), and the step counts as done.
    Effect::new(move |_| {
        if done.get()
            && let Some((lesson, step)) = lessons.active.get_untracked()
        {
            lessons.record(lesson, step + 1);
            let typing = document()
                .active_element()
                .is_some_and(|e| matches!(e.tag_name().as_str(), "INPUT" | "TEXTAREA"));
            if !typing && lesson.steps[step].task != Task::Read {
                focus_later("lesson-next");
            }
        }
    });
    let l = move |w| pick(lang.get(), w);
    let body = move || {
        let (lesson, step) = lessons.active.get()?;
        let s = &lesson.steps[step];
        let n = lesson.steps.len();
        let last = step + 1 == n;
        let back = move |_| lessons.open(lesson, step.saturating_sub(1));
        let next = move |_| {
            if last {
                lessons.record(lesson, n);
                lessons.close();
            } else {
                lessons.open(lesson, step + 1);
            }
        };
        Some(view! {
            <p class="lesson-where">{move || l(lesson.title)}" · "
                {move || l(["step {i} of {n}", "第 {i} / {n} 步"]).replace("{i}", &(step + 1).to_string()).replace("{n}", &n.to_string())}</p>
            <p id="lesson-text" class="lesson-text">{move || l(s.text)}</p>
            {s.figure.map(|f| view! { <FigureView figure=f digits=lessons.digits lessons=lessons lang=lang /> })}
            {s.quiz.as_ref().map(|q| view! { <QuizView quiz=q lessons=lessons lang=lang /> })}
            {s.todo.map(|t| view! {
                <p id="lesson-todo" class="lesson-todo" data-done=move || done.get().to_string()>
                    <span aria-hidden="true">{move || if done.get() { "✓ " } else { "☐ " }}</span>
                    {move || l(t)}
                </p>
            })}
            <p class="sr-only" aria-live="polite">{move || done.get().then(|| l(["Done. Press Next.", "完成了。请按“下一步”。"]))}</p>
            <div class="row">
                <button id="lesson-back" type="button" on:click=back disabled=step == 0>{move || l(["Back", "上一步"])}</button>
                <button id="lesson-next" type="button" on:click=next disabled=move || !done.get()>
                    {move || if last { l(["Finish", "完成"]) } else { l(["Next", "下一步"]) }}</button>
                <button id="lesson-close" type="button" on:click=move |_| lessons.close()>{move || l(["Close", "关闭"])}</button>
            </div>
        })
    };
    view! {
        <aside id="lesson-card" aria-labelledby="lesson-card-title" hidden=move || lessons.active.get().is_none()
            data-lesson=move || lessons.active.get().map(|(l, _)| l.id)
            data-step=move || lessons.active.get().map(|(_, s)| (s + 1).to_string())
            data-done=move || done.get().to_string()>
            <h2 id="lesson-card-title" class="sr-only">{move || l(["Lesson", "课程"])}</h2>
            {body}
        </aside>
    }
}
