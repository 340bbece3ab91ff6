//! The text side of the page: a text box whose every keystroke costs the
//! model one step, the ten likeliest next characters, "continue" with its
//! sampling controls, and a heatmap of the first recurrent layer's gates
//! and state over the text.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::digits::now_ms;
use super::engine::{CharStep, Job, Runner, TextNet, TextOut};
use super::i18n::{Lang, Strings};
use super::paint;
use super::remote::{Place, Remote};
use crate::api::{GenerateAnswer, GenerateRequest, MAX_PROMPT_CHARS, NextAnswer, NextRequest};
use crate::nn::char_model::{CellView, Sampling};
use crate::shapes::Cell;

/// Characters "continue" adds.
const CONTINUE_CHARS: usize = 200;

#[derive(Clone, Copy)]
pub struct TextState {
    pub out: RwSignal<Option<TextOut>>,
    pub generated: RwSignal<String>,
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
}

impl TextState {
    pub fn new(runner: StoredValue<Runner, LocalStorage>, remote: Remote) -> Self {
        Self {
            out: RwSignal::new(None),
            generated: RwSignal::new(String::new()),
            busy: RwSignal::new(false),
            error: RwSignal::new(None),
            net: RwSignal::new(None),
            runner,
            remote,
            source: RwSignal::new(None),
            latest: StoredValue::new(String::new()),
            asking: StoredValue::new(false),
            changed: StoredValue::new(false),
        }
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
                    // The server sends no gates: the heatmap stays empty.
                    steps: Vec::new(),
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
) -> impl IntoView {
    let s = move || lang.get().strings();
    let temperature = RwSignal::new(0.8f32);
    let top_k = RwSignal::new(0usize);
    let seed = RwSignal::new(1u64);
    let heat = NodeRef::<leptos::html::Canvas>::new();
    // Read again once the model is there, in case typing came first.
    Effect::new(move |_| {
        if ready.get() {
            state.read(text.get_untracked());
        }
    });
    Effect::new(move |_| {
        let steps = state.out.get().map(|o| o.steps).unwrap_or_default();
        if let Some(c) = heat.get() {
            heatmap(&c, &steps);
        }
    });
    let go = move |_| {
        let prompt = text.get_untracked();
        if prompt.is_empty() {
            return;
        }
        state.busy.set(true);
        let sampling = Sampling {
            temperature: temperature.get_untracked(),
            top_k: top_k.get_untracked(),
        };
        if state.remote.on_server() {
            let body = GenerateRequest {
                prompt: tail(&prompt).to_string(),
                length: CONTINUE_CHARS,
                temperature: sampling.temperature,
                top_k: sampling.top_k,
                seed: Some(seed.get_untracked()),
            };
            spawn_local(async move {
                let answer: Option<(GenerateAnswer, f64)> =
                    state.remote.ask("/v1/text/generate", Some(&body)).await;
                state.busy.set(false);
                if let Some((a, _)) = answer {
                    state.generated.set(format!("{prompt}{}", a.generated));
                }
            });
            return;
        }
        let done = move |r: crate::Result<String>| {
            state.busy.set(false);
            match r {
                Ok(t) => state.generated.set(t),
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
    view! {
        <section id="text" aria-labelledby="text-title">
            <h2 id="text-title">{move || s().text_title}</h2>
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
                <button id="continue" on:click=go disabled=move || !ready.get() || state.busy.get() || text.get().is_empty()>
                    {move || s().continue_}
                </button>
            </div>
            <h3>{move || s().generated}</h3>
            <p id="generated" aria-live="polite">{move || state.generated.get()}</p>
            <p class="error" role="alert">{move || state.error.get()}</p>
            <h3>{move || s().heatmap}</h3>
            <p class="hint">{move || s().heatmap_hint}</p>
            <p id="heatmap-on-server" class="notice"
                hidden=move || state.remote.place.get() != Place::Server>{move || s().heatmap_needs_browser}</p>
            <canvas id="gate-heatmap" node_ref=heat class="pixelated heat"
                data-chars=move || state.out.get().map_or(0, |o| o.steps.len()).to_string()></canvas>
            <p class="heat-text"><code>{move || {
                let steps = state.out.get().map(|o| o.steps).unwrap_or_default();
                steps.iter().map(|st| if st.ch == '\n' { '↵' } else { st.ch }).collect::<String>()
            }}</code></p>
        </section>
    }
}

/// The bands a cell's step shows, each in 0..1: the LSTM's input, forget
/// and output gates and its cell state; the GRU's reset and update gates,
/// its new gate and its state; the RNN's state. Gates are already in 0..1;
/// values in -1..1 (tanh's) are shown as (v + 1) / 2, the cell state after
/// squashing it by tanh.
fn bands(v: &CellView) -> Vec<Vec<f32>> {
    let h = v.state.len();
    let gate = |k: usize| v.gates.get(k * h..(k + 1) * h).unwrap_or_default().to_vec();
    let half = |x: &[f32]| x.iter().map(|&x| 0.5 * (x + 1.0)).collect::<Vec<f32>>();
    match v.cell {
        Cell::Lstm => {
            let cell: Vec<f32> = v.state.iter().map(|c| c.tanh()).collect();
            vec![gate(0), gate(1), gate(3), half(&cell)]
        }
        Cell::Gru => vec![gate(0), gate(1), half(&gate(2)), half(&v.state)],
        Cell::Rnn => vec![half(&v.state)],
    }
}

/// One column per character; for each band of [`bands`], one row per unit,
/// bands two rows apart.
fn heatmap(canvas: &web_sys::HtmlCanvasElement, steps: &[CharStep]) {
    let columns: Vec<Vec<Vec<f32>>> = steps
        .iter()
        .map(|st| st.cell.as_ref().map(bands).unwrap_or_default())
        .collect();
    let units = columns
        .iter()
        .flat_map(|c| c.first().map(Vec::len))
        .max()
        .unwrap_or(1);
    let count = columns.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let (cols, band) = (steps.len().max(1), units + 2);
    let (w, h) = (cols, count * band - 2);
    let mut rgba = vec![255u8; w * h * 4];
    for (x, col) in columns.iter().enumerate() {
        for (b, values) in col.iter().enumerate() {
            for (u, &v) in values.iter().enumerate().take(units) {
                let at = ((b * band + u) * w + x) * 4;
                rgba[at..at + 3].copy_from_slice(&paint::colour(v));
            }
        }
    }
    paint::put(canvas, w, h, &rgba);
}
