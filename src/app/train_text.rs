//! Training the text model in the page: on the State of the Union excerpt or
//! on any text a person pastes (any language, a few MB at most), with the
//! loss live and a sample of what the model writes every few steps. The
//! model being trained is the one the text pad reads with.

use std::rc::Rc;

use leptos::prelude::*;

use super::Shipped;
use super::engine::{Job, Runner, TextNet, TextProgress, TextRunShape, WeightsKind};
use super::i18n::Lang;
use super::page_data::{self, Excerpt};
use super::training::{
    From, FromSelect, LossChart, Notice, NumberField, RunButtons, RunCore, RunMessages, RunState,
    parse, parse_every,
};
use crate::nn::char_model::Sampling;
use crate::train::text_run::{MAX_BATCH, MAX_TEXT_BYTES, MAX_WINDOW, TextRunConfig};

/// Characters in each sample.
const SAMPLE_CHARS: usize = 200;
/// Characters of the training text that start each sample.
const PROMPT_CHARS: usize = 12;
/// Steps a loss is averaged over for the falling-loss readout.
const LOSS_MEAN: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Excerpt(Excerpt),
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

impl Settings {
    fn new() -> Self {
        let d = TextRunConfig::default();
        Self {
            source: RwSignal::new(Source::Excerpt(Excerpt::Sotu)),
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
            ..TextRunConfig::default()
        };
        cfg.check().map_err(|e| e.to_string())?;
        let every = parse_every("sample every", &self.sample_every.get_untracked())?;
        Ok((cfg, every))
    }
}

#[derive(Clone, Copy)]
pub struct TextTraining {
    pub core: RunCore,
    pub shape: RwSignal<Option<TextRunShape>>,
    /// The latest sample: (step, text).
    pub sample: RwSignal<Option<(usize, String)>>,
    settings: Settings,
    sample_every: StoredValue<usize>,
    prompt: StoredValue<String>,
}

impl TextTraining {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        shipped: StoredValue<Shipped, LocalStorage>,
    ) -> Self {
        Self {
            core: RunCore::new(WeightsKind::Text, runner, shipped),
            shape: RwSignal::new(None),
            sample: RwSignal::new(None),
            settings: Settings::new(),
            sample_every: StoredValue::new(50),
            prompt: StoredValue::new(String::new()),
        }
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
            Source::Excerpt(e) => page_data::excerpt(e).await,
        }
    }

    async fn start(self, run: bool) {
        let core = self.core;
        core.notice.set(None);
        let (cfg, every) = match self.settings.read() {
            Ok(s) => s,
            Err(e) => return core.refuse(e),
        };
        core.state.set(RunState::Loading);
        let text = match self.text().await {
            Ok(t) => t,
            Err(e) => return core.refuse(e),
        };
        let init = core.init(self.settings.from.get_untracked());
        let prompt: String = text.chars().take(PROMPT_CHARS).collect();
        let shape = match core
            .runner()
            .ask(|done| Job::StartText(init, text, cfg, done))
            .await
        {
            Ok(shape) => shape,
            Err(e) => return core.refuse(e.to_string()),
        };
        self.prompt.set_value(prompt);
        self.sample_every.set_value(every);
        self.shape.set(Some(shape));
        self.sample.set(None);
        core.begin(cfg.max_steps);
        core.go(run, move || self.one_step()).await;
    }

    async fn one_step(self) -> bool {
        match self.core.runner().ask(Job::TextStep).await {
            Ok(p) => self.after_step(p).await,
            Err(e) => {
                self.core.failed(e).await;
                false
            }
        }
    }

    async fn after_step(self, p: TextProgress) -> bool {
        let core = self.core;
        core.stepped(p.step, p.epoch, p.stats.loss, p.stats.chars);
        if p.step % self.sample_every.get_value() == 0 || p.finished {
            self.write_sample().await;
            core.persist().await;
        }
        if p.finished {
            core.state.set(RunState::Done);
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
            line_chars: None,
        };
        let step = self.core.step.get_untracked();
        let seed = step as u64;
        match self
            .core
            .runner()
            .ask(|done| Job::Generate(prompt, SAMPLE_CHARS, sampling, seed, done))
            .await
        {
            Ok(text) => self.sample.set(Some((step, text))),
            Err(e) => self.core.notice.set(Some(Notice(e.to_string()))),
        }
    }

    /// Back to the shipped text model; the run and the kept weights go.
    fn reset(self) {
        self.core.reset(Job::EndText, || ());
        self.sample.set(None);
        self.shape.set(None);
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
    /// The text model's layers: its excerpt follows it.
    net: RwSignal<Option<TextNet>>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let core = t.core;
    let set = t.settings;
    // The excerpt follows the model chosen on the text pad (the poems for
    // the poem model, whose vocabulary knows no English); pasted text stays.
    Effect::new(move |_| {
        let poems = net.get().is_some_and(|n| n.writes_poems);
        if set.source.get_untracked() != Source::Pasted {
            set.source.set(Source::Excerpt(if poems {
                Excerpt::Tang
            } else {
                Excerpt::Sotu
            }));
        }
    });
    let locked = Signal::derive(move || !core.state.get().can_start());
    let pasted_bytes = move || set.pasted.with(String::len);
    let status = move || {
        let s = s();
        core.status(s, |line, _| {
            if core.speed.get() > 0.0 {
                *line += &format!(" · {:.0} {}", core.speed.get(), s.chars_per_sec);
            }
            if let Some(shape) = t.shape.get() {
                *line += &format!(
                    " · {}",
                    s.text_shape
                        .replace("{chars}", &shape.text_chars.to_string())
                        .replace("{vocab}", &(shape.vocab - 1).to_string())
                        .replace("{rows}", &shape.rows.to_string())
                );
            }
        })
    };
    view! {
        <section id="train-text" aria-labelledby="train-text-title">
            <h2 id="train-text-title">{move || s().train_text_title}</h2>
            <p class="hint">{move || s().train_text_hint}</p>
            <div class="settings">
                <label>{move || s().text_source}" "
                    <select id="tt-source" disabled=locked on:change=move |ev| set.source.set(
                        match event_target_value(&ev).as_str() {
                            "pasted" => Source::Pasted,
                            "tang" => Source::Excerpt(Excerpt::Tang),
                            _ => Source::Excerpt(Excerpt::Sotu),
                        })>
                        <option value="sotu" selected=move || set.source.get() == Source::Excerpt(Excerpt::Sotu)>{move || s().source_sotu}</option>
                        <option value="tang" selected=move || set.source.get() == Source::Excerpt(Excerpt::Tang)>{move || s().source_tang}</option>
                        <option value="pasted" selected=move || set.source.get() == Source::Pasted>{move || s().source_pasted}</option>
                    </select>
                </label>
                <FromSelect id="tt-from" from=set.from locked=locked lang=lang />
                <NumberField id="tt-batch" label=|s| s.batch_size value=set.batch max=MAX_BATCH.to_string() step="1" locked=locked lang=lang />
                <NumberField id="tt-window" label=|s| s.window value=set.window max=MAX_WINDOW.to_string() step="1" locked=locked lang=lang />
                <NumberField id="tt-lr" label=|s| s.learning_rate value=set.lr max="1".to_string() step="any" locked=locked lang=lang />
                <NumberField id="tt-steps" label=|s| s.steps value=set.steps max="1000000".to_string() step="1" locked=locked lang=lang />
                <NumberField id="tt-sample-every" label=|s| s.sample_every value=set.sample_every max="100000".to_string() step="1" locked=locked lang=lang />
                <NumberField id="tt-seed" label=|s| s.seed value=set.seed max="4294967295".to_string() step="1" locked=locked lang=lang />
            </div>
            <label class="paste" hidden=move || set.source.get() != Source::Pasted>{move || s().paste_label}
                <textarea id="tt-paste" rows="4" spellcheck="false" disabled=locked
                    prop:value=move || set.pasted.get()
                    on:input=move |ev| set.pasted.set(event_target_value(&ev))></textarea>
                <span class="hint" class:over={move || pasted_bytes() > MAX_TEXT_BYTES}>
                    {move || s().paste_size.replace("{mb}", &format!("{:.2}", pasted_bytes() as f64 / 1e6))
                        .replace("{max}", &(MAX_TEXT_BYTES / 1_000_000).to_string())}
                </span>
            </label>
            <RunButtons prefix="tt" core=core lang=lang ready=ready
                start=move |run| t.start(run)
                step=move || t.one_step()
                on_reset=move || t.reset() />
            <p id="tt-status" role="status"
                data-state=move || core.state.get().tag()
                data-step=move || core.step.get().to_string()
                data-epoch=move || core.epoch.get().to_string()
                data-loss=move || core.losses.get().last().map_or(String::new(), |l| l.1.to_string())
                data-first-loss=move || mean_loss(&core.losses.get(), true, LOSS_MEAN).map_or(String::new(), |l| l.to_string())
                data-recent-loss=move || mean_loss(&core.losses.get(), false, LOSS_MEAN).map_or(String::new(), |l| l.to_string())
                data-chars-per-sec=move || format!("{:.1}", core.speed.get())
                data-saved-step=move || core.saved_step.get().map_or(String::new(), |s| s.to_string())>
                {status}
            </p>
            <RunMessages prefix="tt" core=core lang=lang />
            <LossChart id="tt-loss-chart" core=core lang=lang />
            <h3>{move || s().sample_title.replace("{step}", &t.sample.get().map_or(0, |x| x.0).to_string())}</h3>
            <p id="tt-sample" class="sample" aria-live="polite"
                data-step=move || t.sample.get().map_or(String::new(), |x| x.0.to_string())>
                {move || t.sample.get().map(|x| x.1)}
            </p>
        </section>
    }
}
