//! The page (wasm32 only): draw a digit or type text and watch the networks
//! answer, on WebGPU when the browser has an adapter and on the CPU kernels
//! compiled to WebAssembly otherwise; the inside of the digit network for
//! the current drawing; weights in and out; English and Chinese; and the
//! kernel self-test, every WGSL entry point against its CPU twin in this
//! very browser.

mod backend_status;
mod backprop;
mod charts;
mod digits;
mod engine;
mod evaluation;
mod examples;
mod gates;
mod i18n;
mod inside;
mod lab;
mod lessons;
mod nav;
mod own;
mod pad;
mod page_data;
mod paint;
mod publish;
mod remote;
mod self_test;
mod store;
mod teach;
mod text;
mod train_digits;
mod train_text;
mod training;
mod weights_panel;
mod why;

use std::rc::Rc;

use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use crate::link::Section;
use crate::selftest;

pub use backend_status::{BackendBadge, FallbackBanner};
use digits::{DigitState, DrawPanel, Preprocessing};
use engine::{Engine, Job, Runner, WeightsKind};
use i18n::Lang;
use inside::InsideView;
use lab::{LabPanel, LabState};
use lessons::{LessonCard, LessonState, LessonsPage};
use nav::{Nav, Page, Route};
use own::{Own, OwnPanel};
use publish::{Gallery, ModelNotice, PublishPanel, Sharing};
use remote::{Remote, WherePanel};
pub use self_test::{SelfTest, SelfTestState};
use text::{TextPanel, TextState};
use train_digits::{DigitTraining, DigitTrainingPanel};
use train_text::{TextTraining, TextTrainingPanel};
use weights_panel::{WeightsPanel, refresh_digit_net, refresh_text_net};
use why::{CharsPanel, WhyPanel};

/// Which backend the page runs on, as shown to the person.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendState {
    Searching,
    Gpu {
        adapter: String,
    },
    /// No usable GPU: the CPU kernels compiled to WebAssembly, and why.
    Cpu {
        reason: String,
    },
    /// The GPU device was lost while the page ran: the CPU kernels took over.
    Lost {
        reason: String,
    },
}

/// What the page is waiting for while it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Loading {
    Digits,
    Text,
    Compiling,
}

/// The shipped weights, copied into dist/ by trunk (index.html).
const DIGIT_WEIGHTS: &str = "models/mnist_cnn.safetensors";
const TEXT_WEIGHTS: &str = "models/char_lstm.safetensors";

/// The shipped weights files, kept for a reset and for starting a run from them.
#[derive(Clone, Default)]
pub struct Shipped {
    pub digits: Rc<Vec<u8>>,
    /// The current text model's shipped file.
    pub text: Rc<Vec<u8>>,
    /// The built-in text models' files fetched so far, by id
    /// (`api::TEXT_MODELS`): the LSTM's at start, another the first time
    /// someone picks it.
    pub texts: Vec<(&'static str, Rc<Vec<u8>>)>,
}

impl Shipped {
    /// The shipped file of built-in text model `id`, if fetched.
    pub fn text_file(&self, id: &str) -> Option<Rc<Vec<u8>>> {
        self.texts
            .iter()
            .find_map(|(i, b)| (*i == id).then(|| b.clone()))
    }
}

/// The shipped file of built-in text model `id` (`api::TEXT_MODELS`),
/// fetched once: what `shipped` keeps, else from models/.
pub async fn text_file(
    shipped: StoredValue<Shipped, LocalStorage>,
    id: &'static str,
) -> std::result::Result<Rc<Vec<u8>>, String> {
    if let Some(b) = shipped.with_value(|s| s.text_file(id)) {
        return Ok(b);
    }
    let file = crate::api::text_model_file(id)
        .ok_or_else(|| format!("{id}: no such built-in text model"))?;
    let b = Rc::new(fetch_bytes(&format!("models/{file}")).await?);
    shipped.update_value(|s| s.texts.push((id, b.clone())));
    Ok(b)
}

/// The weights this browser kept from earlier training, if any.
async fn kept(kind: WeightsKind) -> Option<Rc<Vec<u8>>> {
    store::load(kind).await.ok().flatten().map(Rc::new)
}

/// Entry point called by the `neuralpad` binary's `main` on wasm32.
pub fn start() {
    console_error_panic_hook::set_once();
    let loading = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("loading"));
    if let Some(el) = loading {
        el.remove();
    }
    leptos::mount::mount_to_body(App);
}

/// The bytes at `url`, or why not.
pub(crate) async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| format!("{url}: {e:?}"))?
        .dyn_into()
        .map_err(|_| format!("{url}: not a response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let buffer = response
        .array_buffer()
        .map_err(|e| format!("{url}: {e:?}"))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|e| format!("{url}: {e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}

#[component]
fn App() -> impl IntoView {
    let lang = RwSignal::new(Lang::from_browser());
    let backend = RwSignal::new(BackendState::Searching);
    let test = RwSignal::new(SelfTestState::Waiting);
    let loading = RwSignal::new(Some(Loading::Digits));
    let fatal = RwSignal::new(None::<String>);
    let ready = RwSignal::new(false);
    let runner = StoredValue::new_local(Runner::default());
    let shipped = StoredValue::new_local(Shipped::default());
    let remote = Remote::new();
    let digits = DigitState::new(runner, remote);
    let text = TextState::new(runner, remote);
    let typed = RwSignal::new(String::new());
    let digit_training = DigitTraining::new(runner, shipped, digits);
    let text_training = TextTraining::new(runner, shipped);
    let lab = LabState::new(runner, digits);
    let own = Own::new(runner, shipped, digits);
    let sharing = Sharing::new(runner, digits, shipped, remote);
    let lesson_state = LessonState::new(digits, digit_training.core, typed);
    provide_context(lesson_state);
    // Which models run on weights trained earlier in this browser.
    let restored = RwSignal::new(Vec::<WeightsKind>::new());

    // Switching where the networks run asks the new place about the
    // drawing and the text already on the page.
    Effect::new(move |_| {
        remote.place.track();
        remote.address.track();
        if ready.get_untracked() {
            digits.classify();
            text.read(typed.get_untracked());
        }
    });

    Effect::new(move |_| {
        let tag = lang.get().tag();
        if let Some(html) = document().document_element() {
            let _ = html.set_attribute("lang", tag);
        }
    });

    spawn_local(async move {
        let Ok(digit_bytes) = fetch_bytes(DIGIT_WEIGHTS)
            .await
            .map_err(|e| fatal.set(Some(e)))
        else {
            return;
        };
        loading.set(Some(Loading::Text));
        let Ok(text_bytes) = fetch_bytes(TEXT_WEIGHTS)
            .await
            .map_err(|e| fatal.set(Some(e)))
        else {
            return;
        };
        loading.set(Some(Loading::Compiling));
        let (digit_bytes, text_bytes) = (Rc::new(digit_bytes), Rc::new(text_bytes));
        shipped.set_value(Shipped {
            digits: digit_bytes.clone(),
            text: text_bytes.clone(),
            texts: vec![("lstm", text_bytes.clone())],
        });
        let kept_digits = kept(WeightsKind::Digits).await;
        let kept_text = kept(WeightsKind::Text).await;
        // Weights trained here of another built-in model: its shipped file
        // is the one a reset goes back to.
        if let Some(id) = kept_text
            .as_deref()
            .and_then(|b| engine::builtin_of_file(b))
            && id != "lstm"
            && let Ok(t) = text_file(shipped, id).await
        {
            shipped.update_value(|s| s.text = t);
        }
        let any_kept = kept_digits.is_some() || kept_text.is_some();
        let mut kept_text_is_none = kept_text.is_none();
        let mut files = (
            kept_digits.clone().unwrap_or_else(|| digit_bytes.clone()),
            kept_text.clone().unwrap_or_else(|| text_bytes.clone()),
        );
        let mut started = Engine::start(&files.0, &files.1).await;
        if started.is_err() && any_kept {
            // Kept weights that no longer load (another version's, damaged)
            // are dropped for the shipped ones rather than stopping the page.
            shipped.update_value(|s| s.text = s.texts[0].1.clone());
            kept_text_is_none = true;
            files = (digit_bytes, text_bytes);
            started = Engine::start(&files.0, &files.1).await;
        } else {
            let which = [
                (kept_digits, WeightsKind::Digits),
                (kept_text, WeightsKind::Text),
            ];
            restored.set(
                which
                    .into_iter()
                    .filter_map(|(k, kind)| k.map(|_| kind))
                    .collect(),
            );
        }
        let (engine, no_gpu) = match started {
            Ok(started) => started,
            Err(e) => {
                fatal.set(Some(e.to_string()));
                return;
            }
        };
        runner.with_value(|r| {
            r.remember(WeightsKind::Digits, files.0);
            r.remember(WeightsKind::Text, files.1);
            r.on_device_lost(move |why| {
                backend.set(BackendState::Lost { reason: why });
                test.set(SelfTestState::CpuOnly);
            });
        });
        let gpu = engine.is_gpu();
        backend.set(match no_gpu {
            None => BackendState::Gpu {
                adapter: engine.name(),
            },
            Some(reason) => BackendState::Cpu {
                reason: reason.to_string(),
            },
        });
        runner.with_value(|r| r.install(engine));
        refresh_digit_net(digits);
        refresh_text_net(text);
        loading.set(None);
        ready.set(true);
        // A page in Chinese writes Tang poems, unless weights trained here
        // were kept: those are what this person left.
        if lang.get_untracked() == Lang::Zh && kept_text_is_none {
            text.choose("tang", shipped, typed.get_untracked());
        }
        own.restore();
        sharing.restore();
        // Opened as ?model=SERVER/ID: that published model, into the pad.
        sharing.load_from_url();
        if !gpu {
            test.set(SelfTestState::CpuOnly);
            return;
        }
        // One job per case on the engine's own GPU, so a person's drawing
        // waits for at most one case, never for the whole self-test.
        test.set(SelfTestState::Running);
        let cases = selftest::cases(&selftest::QUICK_DIMS, 1);
        let total = cases.len();
        let results = StoredValue::new(Vec::with_capacity(total));
        for (op, dims, seed) in cases {
            let done = move |r: crate::Result<selftest::Comparison>| match r {
                Ok(c) => {
                    results.update_value(|v| v.push(c));
                    if results.with_value(Vec::len) == total {
                        test.set(SelfTestState::Done(results.get_value()));
                    }
                }
                Err(e) => test.set(SelfTestState::Error(e.to_string())),
            };
            runner.with_value(|r| r.submit(engine::Job::SelfTest(op, dims, seed, Box::new(done))));
        }
    });

    let s = move || lang.get().strings();
    let progress = move || {
        let s = s();
        match (fatal.get(), loading.get()) {
            (Some(e), _) => Some(e),
            (None, Some(Loading::Digits)) => Some(s.loading_digits.to_string()),
            (None, Some(Loading::Text)) => Some(s.loading_text.to_string()),
            (None, Some(Loading::Compiling)) => Some(s.compiling.to_string()),
            (None, None) => None,
        }
    };
    let route = Route::new();
    provide_context(route);
    // The lab shows the pad while it compares digit networks.
    let with_pad = move || match route.section() {
        Section::Draw | Section::Inside | Section::Train => true,
        Section::Lab => lab.task.get() == crate::link::Task::Digits,
        _ => false,
    };
    let sections = vec![
        Section::Draw,
        Section::Inside,
        Section::Train,
        Section::Own,
        Section::Text,
        Section::Lab,
        Section::Service,
        Section::Lessons,
    ];
    view! {
        <div id="app" data-ready=move || ready.get().to_string()
            data-section=move || route.section().name()
            data-lesson=move || lesson_state.active.get().map(|(l, _)| l.id)
            data-backend=move || match backend.get() { BackendState::Gpu { .. } => "gpu", BackendState::Cpu { .. } | BackendState::Lost { .. } => "cpu", BackendState::Searching => "" }>
            <header>
                <h1>"neuralpad"</h1>
                <p class="tagline">{move || s().tagline}</p>
                <BackendBadge state=backend lang=lang />
                <Nav route=route lang=lang sections=sections />
                <details id="settings">
                    <summary>{move || s().settings}</summary>
                    <label class="lang">{move || s().language}" "
                        <select id="lang" on:change=move |ev| lang.set(if event_target_value(&ev) == "zh" { Lang::Zh } else { Lang::En })>
                            <option value="en" selected=move || lang.get() == Lang::En>"English"</option>
                            <option value="zh" selected=move || lang.get() == Lang::Zh>"简体中文"</option>
                        </select>
                    </label>
                    <SelfTest state=test lang=lang />
                </details>
            </header>
            <p id="loading-progress" role="status" hidden=move || progress().is_none()
                class:fatal=move || fatal.get().is_some()>{progress}</p>
            <p id="link-problem" class="notice" role="alert" hidden=move || route.problem.get().is_none()>
                {move || route.problem.get().map(|e| format!("{} {e}", s().link_problem))}
            </p>
            <main>
                <FallbackBanner state=backend lang=lang />
                // A published model in the drawing pad (?model=SERVER/ID, the
                // gallery, one's own classes), whichever part is shown.
                <ModelNotice sharing=sharing lang=lang />
                <div class="workspace" class:with-pad=with_pad class:pad-after=move || route.section() == Section::Lab>
                    // The drawing pad beside the parts that read it: draw, see
                    // inside, train and compare with one drawing in view.
                    <aside id="pad" hidden=move || !with_pad()>
                        <DrawPanel state=digits lang=lang ready=ready />
                    </aside>
                    <div class="pages">
                        <Page route=route section=Section::Draw>
                            <Restored restored=restored lang=lang runner=runner shipped=shipped digits=digits text=text typed=typed />
                            <Preprocessing state=digits lang=lang />
                            <WhyPanel state=digits lang=lang />
                        </Page>
                        <Page route=route section=Section::Inside>
                            <InsideView state=digits lang=lang />
                        </Page>
                        <Page route=route section=Section::Train>
                            <DigitTrainingPanel t=digit_training lang=lang ready=ready />
                        </Page>
                        <Page route=route section=Section::Own>
                            <OwnPanel own=own lang=lang ready=ready />
                            <PublishPanel sharing=sharing own=own lang=lang />
                            <Gallery sharing=sharing lang=lang />
                        </Page>
                        <Page route=route section=Section::Text>
                            <TextPanel state=text lang=lang ready=ready text=typed shipped=shipped
                                training=Signal::derive(move || !text_training.core.state.get().can_start()) />
                            <CharsPanel state=text text=typed lang=lang />
                            <TextTrainingPanel t=text_training lang=lang ready=ready net=text.net />
                        </Page>
                        <Page route=route section=Section::Lab>
                            <LabPanel lab=lab lang=lang ready=ready digits=digits text=text typed_text=typed />
                        </Page>
                        <Page route=route section=Section::Lessons>
                            <LessonsPage lessons=lesson_state lang=lang />
                        </Page>
                        <Page route=route section=Section::Service>
                            <WherePanel remote=remote lang=lang />
                            <WeightsPanel lang=lang runner=runner digits=digits text=text text_input=typed />
                        </Page>
                    </div>
                </div>
                <LessonCard lessons=lesson_state lang=lang ready=ready />
            </main>
        </div>
    }
}

/// Says which models run on weights trained earlier in this browser, with a
/// way back to the shipped ones.
#[component]
fn Restored(
    restored: RwSignal<Vec<WeightsKind>>,
    lang: RwSignal<Lang>,
    runner: StoredValue<Runner, LocalStorage>,
    shipped: StoredValue<Shipped, LocalStorage>,
    digits: DigitState,
    text: TextState,
    typed: RwSignal<String>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let forget = move |_| {
        let kinds = restored.get_untracked();
        restored.set(Vec::new());
        let files = shipped.get_value();
        for kind in kinds {
            let bytes = match kind {
                WeightsKind::Digits => files.digits.clone(),
                WeightsKind::Text => files.text.clone(),
                WeightsKind::Own => continue,
            };
            runner.with_value(|r| {
                r.remember(kind, bytes.clone());
                let done = move |_| match kind {
                    WeightsKind::Digits => {
                        digits.classify();
                        refresh_digit_net(digits);
                    }
                    WeightsKind::Text => {
                        refresh_text_net(text);
                        text.read(typed.get_untracked())
                    }
                    WeightsKind::Own => {}
                };
                r.submit(Job::Load(bytes.to_vec(), Box::new(done)));
            });
            spawn_local(async move {
                let _ = store::forget(kind).await;
            });
        }
    };
    let names = move || {
        let s = s();
        restored
            .get()
            .iter()
            .map(|k| match k {
                WeightsKind::Digits | WeightsKind::Own => s.restored_digits,
                WeightsKind::Text => s.restored_text,
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let tags = move || {
        restored
            .get()
            .iter()
            .map(|k| match k {
                WeightsKind::Digits => "digits",
                WeightsKind::Text => "text",
                WeightsKind::Own => "own",
            })
            .collect::<Vec<_>>()
            .join(",")
    };
    view! {
        <p id="restored" role="status" class="notice" hidden=move || restored.get().is_empty()
            data-models=tags>
            {move || s().restored.replace("{models}", &names())}" "
            <button id="forget-trained" on:click=forget>{move || s().forget_trained}</button>
        </p>
    }
}
