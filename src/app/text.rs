//! The text side of the page: the choice of text model (the LSTM or the
//! Transformer on the State of the Union addresses, or the LSTM of the Tang
//! poems, each fetched the first time someone picks it), a text box whose
//! every keystroke costs the model one step, the ten likeliest next
//! characters, "continue" with its sampling controls (for the poems, a
//! form of five- or seven-character lines), and what the model
//! does inside: a heatmap of the first recurrent layer's gates and state
//! over the text, or, for the Transformer, where the last character's
//! attention goes, head by head, drawn over the text.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::digits::now_ms;
use super::engine::{AttentionOut, Job, Runner, TextNet, TextOut, WeightsKind};
use super::gates::GateView;
use super::i18n::{Lang, Strings};
use super::remote::{Place, Remote};
use super::weights_panel::refresh_text_net;
use super::{Shipped, text_file};
use crate::api::{GenerateAnswer, GenerateRequest, MAX_PROMPT_CHARS, NextAnswer, NextRequest};
use crate::nn::char_model::Sampling;

/// Characters "continue" adds.
const CONTINUE_CHARS: usize = 200;

#[derive(Clone, Copy)]
pub struct TextState {
    pub out: RwSignal<Option<TextOut>>,
    pub generated: RwSignal<String>,
    /// The last continuation's milliseconds per generated character (in
    /// this browser; None after the server answered).
    pub ms_per_char: RwSignal<Option<f64>>,
    pub busy: RwSignal<bool>,
    pub error: RwSignal<Option<String>>,
    /// The model's layers, as the views describe them.
    pub net: RwSignal<Option<TextNet>>,
    pub runner: StoredValue<Runner, LocalStorage>,
    remote: Remote,
    /// Which place gave the next characters shown.
    pub source: RwSignal<Option<Place>>,
    /// The text as last read: an answer for any other is stale.
    latest: StoredValue<String>,
    /// A request to the server is on its way; the text changed since.
    asking: StoredValue<bool>,
    changed: StoredValue<bool>,
    /// The text model is being switched (its file fetched).
    pub switching: RwSignal<bool>,
}

impl TextState {
    pub fn new(runner: StoredValue<Runner, LocalStorage>, remote: Remote) -> Self {
        Self {
            out: RwSignal::new(None),
            generated: RwSignal::new(String::new()),
            ms_per_char: RwSignal::new(None),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            net: RwSignal::new(None),
            runner,
            remote,
            source: RwSignal::new(None),
            latest: StoredValue::new(String::new()),
            asking: StoredValue::new(false),
            changed: StoredValue::new(false),
            switching: RwSignal::new(false),
        }
    }

    /// The id a server knows the current text model by.
    fn model_id(&self) -> &'static str {
        self.net.get_untracked().map_or("lstm", |n| n.id)
    }

    /// Make the built-in text model `id` (`api::TEXT_MODELS`) the text
    /// model, fetching its weights the first time; then read `text` again
    /// with it (the text stays as it is).
    pub fn choose(
        &self,
        id: &'static str,
        shipped: StoredValue<Shipped, LocalStorage>,
        text: String,
    ) {
        let this = *self;
        this.switching.set(true);
        this.error.set(None);
        spawn_local(async move {
            let bytes = text_file(shipped, id).await;
            let runner = this.runner.get_value();
            let switched = match bytes {
                Ok(bytes) => runner
                    .ask(|done| Job::SwitchText(bytes.clone(), id, done))
                    .await
                    .map(|()| bytes)
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            match switched {
                Ok(bytes) => {
                    shipped.update_value(|s| s.text = bytes);
                    // What a CPU engine starts from should the GPU be lost.
                    if let Ok(now) = runner.ask(|d| Job::Save(WeightsKind::Text, d)).await {
                        runner.remember(WeightsKind::Text, std::rc::Rc::new(now));
                    }
                    this.out.set(None);
                    this.generated.set(String::new());
                    refresh_text_net(this);
                    this.read(text);
                }
                Err(e) => this.error.set(Some(e)),
            }
            this.switching.set(false);
        });
    }

    pub fn read(&self, text: String) {
        let this = *self;
        self.latest.set_value(text.clone());
        if text.is_empty() {
            self.out.set(None);
            return;
        }
        if self.remote.on_server() {
            self.ask_server(text);
            return;
        }
        let asked = now_ms();
        let done = move |r: crate::Result<TextOut>| match r {
            // Asked before the switch to a server: not the answer now.
            _ if this.remote.on_server() => {}
            Ok(o) => {
                this.remote.browser_ms.set(Some(now_ms() - asked));
                this.out.set(Some(o));
                this.source.set(Some(Place::Browser));
                this.error.set(None);
            }
            Err(e) => this.error.set(Some(e.to_string())),
        };
        self.runner
            .with_value(|r| r.submit(Job::ReadText(text, Box::new(done))));
    }

    /// The server's next characters. One request at a time: when the text
    /// changed meanwhile, its latest state is sent once the answer is in.
    fn ask_server(&self, text: String) {
        if self.asking.get_value() {
            self.changed.set_value(true);
            return;
        }
        self.asking.set_value(true);
        let this = *self;
        spawn_local(async move {
            let body = NextRequest {
                prompt: tail(&text).to_string(),
                k: 10,
                model: this.model_id().into(),
            };
            let answer: Option<(NextAnswer, f64)> =
                this.remote.ask("/v1/text/next", Some(&body)).await;
            this.asking.set_value(false);
            // Only the answer for the text in the box now is shown.
            if let Some((a, ms)) = answer.filter(|_| this.latest.with_value(|l| *l == text)) {
                this.remote.server_ms.set(Some(ms));
                this.source.set(Some(Place::Server));
                this.out.set(Some(TextOut {
                    top: a
                        .next
                        .iter()
                        .filter_map(|n| Some((n.char.chars().next()?, n.probability)))
                        .collect(),
                    // The server sends no gates and no attention: those
                    // views stay empty.
                    steps: Vec::new(),
                    attention: None,
                }));
                this.error.set(None);
            }
            if this.changed.get_value() {
                this.changed.set_value(false);
                this.read(this.latest.get_value());
            }
        });
    }
}

/// The last characters of `text` that a server reads; an LSTM's memory of
/// what came before is faint anyway.
fn tail(text: &str) -> &str {
    // The byte where the last MAX_PROMPT_CHARS characters begin.
    let start = text
        .char_indices()
        .rev()
        .nth(MAX_PROMPT_CHARS - 1)
        .map_or(0, |(at, _)| at);
    &text[start..]
}

/// How a character is shown in the list: whitespace gets a name.
fn shown(c: char, s: &Strings) -> String {
    match c {
        ' ' => format!("␣ ({})", s.space),
        '\n' => format!("↵ ({})", s.newline),
        c => c.to_string(),
    }
}

#[component]
pub fn TextPanel(
    state: TextState,
    lang: RwSignal<Lang>,
    ready: RwSignal<bool>,
    text: RwSignal<String>,
    /// The shipped weights of the built-in text models (each once fetched).
    shipped: StoredValue<Shipped, LocalStorage>,
    /// A text training run holds the model: no switching meanwhile.
    training: Signal<bool>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let temperature = RwSignal::new(0.8f32);
    let top_k = RwSignal::new(0usize);
    let seed = RwSignal::new(1u64);
    // Characters a line for a poem model's continuation; 0: free.
    let line_chars = RwSignal::new(0usize);
    // Read again once the model is there, in case typing came first.
    Effect::new(move |_| {
        if ready.get() {
            state.read(text.get_untracked());
        }
    });
    let go = move |_| {
        let prompt = text.get_untracked();
        if prompt.is_empty() {
            return;
        }
        state.busy.set(true);
        let writes_poems = state.net.get_untracked().is_some_and(|n| n.writes_poems);
        let sampling = Sampling {
            temperature: temperature.get_untracked(),
            top_k: top_k.get_untracked(),
            line_chars: Some(line_chars.get_untracked()).filter(|&n| n > 0 && writes_poems),
        };
        if state.remote.on_server() {
            let body = GenerateRequest {
                prompt: tail(&prompt).to_string(),
                length: CONTINUE_CHARS,
                temperature: sampling.temperature,
                top_k: sampling.top_k,
                seed: Some(seed.get_untracked()),
                model: state.model_id().into(),
                line_chars: sampling.line_chars,
            };
            spawn_local(async move {
                let answer: Option<(GenerateAnswer, f64)> =
                    state.remote.ask("/v1/text/generate", Some(&body)).await;
                state.busy.set(false);
                state.ms_per_char.set(None);
                if let Some((a, _)) = answer {
                    state.generated.set(format!("{prompt}{}", a.generated));
                }
            });
            return;
        }
        let started = now_ms();
        let done = move |r: crate::Result<String>| {
            state.busy.set(false);
            match r {
                Ok(t) => {
                    // The model's time per character, for scripts/bench_generate.mjs.
                    state
                        .ms_per_char
                        .set(Some((now_ms() - started) / CONTINUE_CHARS as f64));
                    state.generated.set(t)
                }
                Err(e) => state.error.set(Some(e.to_string())),
            }
        };
        state.runner.with_value(|r| {
            r.submit(Job::Generate(
                prompt.clone(),
                CONTINUE_CHARS,
                sampling,
                seed.get_untracked(),
                Box::new(done),
            ));
            // generate starts from zero state: read the text again after it.
            let again = move |r: crate::Result<TextOut>| {
                if let Ok(o) = r {
                    state.out.set(Some(o));
                }
            };
            r.submit(Job::ReadText(prompt, Box::new(again)));
        });
    };
    let top = move || state.out.get().map(|o| o.top).unwrap_or_default();
    let model = move || state.net.get().map_or("lstm", |n| n.id);
    let writes_poems = move || state.net.get().is_some_and(|n| n.writes_poems);
    let has_recurrent = move || state.net.get().is_none_or(|n| n.has_recurrent());
    let choose = move |ev| {
        let chosen = event_target_value(&ev);
        if let Some((id, _)) = crate::api::TEXT_MODELS.iter().find(|(id, _)| *id == chosen) {
            state.choose(id, shipped, text.get_untracked());
        }
    };
    let model_name = move |id: &str| match id {
        "transformer" => s().model_transformer,
        "tang" => s().model_tang,
        _ => s().model_lstm,
    };
    view! {
        <section id="text" aria-labelledby="text-title">
            <h2 id="text-title">{move || s().text_title}</h2>
            <div class="model-choice">
                <label for="text-model">{move || s().text_model}</label>
                <select id="text-model" on:change=choose
                    data-model=model
                    disabled=move || !ready.get() || state.switching.get() || training.get()>
                    {crate::api::TEXT_MODELS.iter().map(|(id, _)| view! {
                        <option value=*id selected=move || model() == *id>{move || model_name(id)}</option>
                    }).collect_view()}
                </select>
                <span id="text-model-status" class="hint" role="status">{move || {
                    if state.switching.get() {
                        s().loading_model.to_string()
                    } else if training.get() {
                        s().model_locked.to_string()
                    } else {
                        String::new()
                    }
                }}</span>
            </div>
            <p id="text-network" class="hint">{move || s().network_is}": "<code>{move || state.net.get().map(|n| {
                n.plan.layers.iter().map(|l| l.label.clone()).collect::<Vec<_>>().join(" → ")
            })}</code></p>
            <label for="text-input">{move || s().text_label}</label>
            <textarea id="text-input" rows="3" spellcheck="false"
                placeholder=move || s().text_placeholder
                prop:value=move || text.get()
                on:input=move |ev| {
                    let v = event_target_value(&ev);
                    text.set(v.clone());
                    state.read(v);
                }></textarea>
            <h3 id="next-title">{move || s().next_chars}</h3>
            <p class="hint" hidden=move || !top().is_empty()>{move || s().type_something}</p>
            <ol id="next-chars" aria-labelledby="next-title" aria-live="polite"
                data-source=move || match state.source.get() { Some(Place::Server) => "server", Some(Place::Browser) => "browser", None => "" }
                data-total={move || top().iter().map(|(_, p)| p).sum::<f32>().to_string()}>
                {move || top().into_iter().map(|(c, p)| view! {
                    <li data-char=c.to_string() data-p=p.to_string()>
                        <span class="char">{shown(c, s())}</span>
                        <span class="track"><span class="fill" style:width=format!("{:.1}%", 100.0 * p)></span></span>
                        <span class="value">{format!("{:.1}%", 100.0 * p)}</span>
                    </li>
                }).collect_view()}
            </ol>
            <div class="controls">
                <label>{move || s().temperature}" "
                    <input id="temperature" type="range" min="0.1" max="2" step="0.1"
                        prop:value=move || temperature.get().to_string()
                        on:input=move |ev| if let Ok(v) = event_target_value(&ev).parse() { temperature.set(v) } />
                    <output>{move || format!("{:.1}", temperature.get())}</output>
                </label>
                <label>{move || s().top_k}" "
                    <input id="top-k" type="number" min="0" max="99" prop:value=move || top_k.get().to_string()
                        on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { top_k.set(v) } />
                </label>
                <label>{move || s().seed}" "
                    <input id="seed" type="number" min="0" prop:value=move || seed.get().to_string()
                        on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { seed.set(v) } />
                </label>
                <label hidden=move || !writes_poems()>{move || s().form}" "
                    <select id="text-form" on:change=move |ev| if let Ok(v) = event_target_value(&ev).parse() { line_chars.set(v) }>
                        <option value="0" selected=move || line_chars.get() == 0>{move || s().form_free}</option>
                        <option value="5" selected=move || line_chars.get() == 5>{move || s().form_five}</option>
                        <option value="7" selected=move || line_chars.get() == 7>{move || s().form_seven}</option>
                    </select>
                </label>
                <button id="continue" on:click=go disabled=move || !ready.get() || state.busy.get() || text.get().is_empty()>
                    {move || s().continue_}
                </button>
            </div>
            <p id="text-form-hint" class="hint" hidden=move || !writes_poems() || line_chars.get() == 0>{move || s().form_hint}</p>
            <h3>{move || s().generated}</h3>
            <p id="generated" aria-live="polite"
                data-ms-per-char=move || state.ms_per_char.get().map_or(String::new(), |m| format!("{m:.3}"))>{move || state.generated.get()}</p>
            <p class="error" role="alert">{move || state.error.get()}</p>
            <div id="heatmap-view" hidden=move || !has_recurrent()>
                <h3>{move || s().heatmap}</h3>
                <p class="hint">{move || s().heatmap_hint}</p>
                <p id="heatmap-on-server" class="notice"
                    hidden=move || state.remote.place.get() != Place::Server>{move || s().heatmap_needs_browser}</p>
                <GateView steps=Signal::derive(move || state.out.get().map(|o| o.steps).unwrap_or_default()) lang=lang />
            </div>
            <AttentionView state=state lang=lang />
        </section>
    }
}

/// For a Transformer: the last character's attention over the characters
/// before it (and itself), for the layer and head chosen, drawn over the
/// text as shading; beside it every head of the layer as a strip, each a
/// button that picks it; and the characters with the most weight, in words.
#[component]
fn AttentionView(state: TextState, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let layer = RwSignal::new(0usize);
    let head = RwSignal::new(0usize);
    let is_transformer = move || state.net.get().is_some_and(|n| n.is_transformer());
    let att = move || state.out.get().and_then(|o| o.attention);
    let blocks = move || {
        state
            .net
            .get()
            .and_then(|n| n.plan.layers.iter().find_map(|l| l.transformer()))
            .map_or((0, 0), |t| (t.blocks, t.heads))
    };
    // The weights of (layer, head), clamped to what there is.
    let weights = move |a: &AttentionOut, l: usize, h: usize| -> Vec<f32> {
        a.view
            .weights
            .get(l.min(a.view.weights.len().saturating_sub(1)))
            .and_then(|hs| hs.get(h.min(hs.len().saturating_sub(1))))
            .cloned()
            .unwrap_or_default()
    };
    let shown = move || {
        att().map(|a| {
            let w = weights(&a, layer.get(), head.get());
            (a.chars.clone(), w)
        })
    };
    let top = move || {
        let (chars, w) = shown().unwrap_or_default();
        let mut at: Vec<(usize, f32)> = w.iter().copied().enumerate().collect();
        at.sort_by(|a, b| b.1.total_cmp(&a.1));
        at.truncate(3);
        at.into_iter()
            .map(|(i, p)| {
                let c = chars.get(i).copied().unwrap_or(' ');
                let back = chars.len() - 1 - i;
                s().attention_at
                    .replace("{char}", &visible(c))
                    .replace("{back}", &back.to_string())
                    .replace("{p}", &format!("{:.0}", 100.0 * p))
            })
            .collect::<Vec<_>>()
            .join(" · ")
    };
    view! {
        <div id="attention" hidden=move || !is_transformer()>
            <h3 id="attention-title">{move || s().attention_title}</h3>
            <p class="hint">{move || s().attention_hint}</p>
            <p id="attention-on-server" class="notice"
                hidden=move || state.remote.place.get() != Place::Server>{move || s().attention_needs_browser}</p>
            <div class="controls">
                <label>{move || s().attention_layer}" "
                    <select id="attention-layer" on:change=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<usize>() { layer.set(v) }
                    }>
                        {move || (0..blocks().0).map(|l| view! {
                            <option value=l.to_string() selected=move || layer.get() == l>{(l + 1).to_string()}</option>
                        }).collect_view()}
                    </select>
                </label>
                <label>{move || s().attention_head}" "
                    <select id="attention-head" on:change=move |ev| {
                        if let Ok(v) = event_target_value(&ev).parse::<usize>() { head.set(v) }
                    }>
                        {move || (0..blocks().1).map(|h| view! {
                            <option value=h.to_string() selected=move || head.get() == h>{(h + 1).to_string()}</option>
                        }).collect_view()}
                    </select>
                </label>
            </div>
            <p class="hint" hidden=move || att().is_some()>{move || s().attention_empty}</p>
            <p id="attention-text" class="attention-text" aria-describedby="attention-top"
                data-layer=move || layer.get().to_string()
                data-head=move || head.get().to_string()
                data-len=move || shown().map_or(0, |x| x.1.len()).to_string()
                data-sum=move || shown().map_or(0.0, |x| x.1.iter().sum::<f32>()).to_string()>
                {move || shown().map(|(chars, w)| {
                    let max = w.iter().copied().fold(0.0f32, f32::max).max(1e-6);
                    let last = chars.len().saturating_sub(1);
                    chars.into_iter().zip(w).enumerate().map(|(i, (c, p))| {
                        let (strong, alpha) = shading(p / max);
                        // The last character is the one looking: outlined.
                        let class = match (strong, i == last) {
                            (true, true) => "att strong looking",
                            (true, false) => "att strong",
                            (false, true) => "att looking",
                            (false, false) => "att",
                        };
                        view! {
                            <span class=class data-w=p.to_string()
                                style:background-color=format!("rgba(23, 71, 166, {alpha:.3})")
                                title=format!("{} {:.1}%", visible(c), 100.0 * p)>{glyph(c)}</span>
                        }
                    }).collect_view()
                })}
            </p>
            <p id="attention-top" aria-live="polite">
                <span class="hint">{move || s().attention_most}": "</span>{top}
            </p>
            <h4>{move || s().attention_heads}</h4>
            <div id="attention-heads" class="head-strips" role="group" aria-labelledby="attention-title">
                {move || att().map(|a| {
                    let l = layer.get();
                    (0..blocks().1).map(|h| {
                        let w = weights(&a, l, h);
                        let max = w.iter().copied().fold(0.0f32, f32::max).max(1e-6);
                        view! {
                            <button class="head-strip" data-head=h.to_string()
                                aria-pressed=move || (head.get() == h).to_string()
                                on:click=move |_| head.set(h)>
                                <span class="head-name">{move || s().attention_head}" "{h + 1}</span>
                                <span class="strip" aria-hidden="true">
                                    {w.iter().map(|&p| view! {
                                        <span class="cell" style:background-color=format!("rgba(23, 71, 166, {:.3})", p / max)></span>
                                    }).collect_view()}
                                </span>
                            </button>
                        }
                    }).collect_view()
                })}
            </div>
        </div>
    }
}

/// How a character with `shade` (its weight over the largest, 0..1) is
/// shaded: whether it is one of the strongest (white text, underlined) and
/// the accent's opacity. Dark text stays on at most 0.65 of the accent and
/// white text on at least 0.8, so both keep a 4.5:1 contrast.
fn shading(shade: f32) -> (bool, f32) {
    if shade > 0.6 {
        (true, 0.8 + 0.2 * (shade - 0.6) / 0.4)
    } else {
        (false, 0.65 * shade / 0.6)
    }
}

/// A character as the attention view draws it: whitespace made visible.
fn glyph(c: char) -> String {
    match c {
        '\n' => "↵".into(),
        '\t' => "⇥".into(),
        c => c.to_string(),
    }
}

/// A character as words name it (in a tooltip or the list): quoted, with
/// space and newline shown as signs.
fn visible(c: char) -> String {
    match c {
        ' ' => "“␣”".into(),
        '\n' => "“↵”".into(),
        c => format!("“{c}”"),
    }
}
