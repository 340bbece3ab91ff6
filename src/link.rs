//! The page's deep links: one grammar for the URL fragment, shared by the
//! sections, the lessons and the lab's experiments, so that a teacher sends
//! one link that opens the page where the class should be.
//!
//! ```text
//! #inside                         a section
//! #inside&layer=2                 a section and what it shows
//! #lessons&lesson=conv&step=3     a lesson at one step
//! #lab&exp=eNqrVkrLz1e...         an experiment, ready to train
//! ```
//!
//! A fragment is `section(&key=value)*`, values percent-encoded. An
//! experiment travels as deflated, base64url-encoded JSON. Everything is
//! bounded and checked (the networks through their plans), so a garbled or
//! hostile link gets a message and the defaults, never a hang. No DOM here:
//! the grammar is tested natively.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::nn::plan::Plan;
use crate::nn::spec::NetworkSpec;

/// The longest fragment read, in bytes: several networks fit in a tenth.
pub const MAX_FRAGMENT: usize = 16 * 1024;
/// Most `key=value` pairs after the section.
const MAX_PARAMS: usize = 16;
/// The most an experiment's deflated JSON may inflate to: a deflate bomb
/// stops here.
const MAX_INFLATED: usize = 64 * 1024;
/// Networks an experiment compares.
pub const MAX_VARIANTS: usize = 4;

/// A part of the page a link can open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Section {
    #[default]
    Draw,
    Inside,
    Train,
    Text,
    Lab,
    Service,
    Lessons,
}

impl Section {
    pub const ALL: [Section; 7] = [
        Section::Draw,
        Section::Inside,
        Section::Train,
        Section::Text,
        Section::Lab,
        Section::Service,
        Section::Lessons,
    ];

    /// The section's name in links (and the id of its part of the page).
    pub fn name(self) -> &'static str {
        match self {
            Section::Draw => "draw",
            Section::Inside => "inside",
            Section::Train => "train",
            Section::Text => "text",
            Section::Lab => "lab",
            Section::Service => "service",
            Section::Lessons => "lessons",
        }
    }

    pub fn from_name(name: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Why a link was not followed; the page shows it and opens the defaults.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LinkError(pub String);

fn bad(problem: impl Into<String>) -> LinkError {
    LinkError(problem.into())
}

/// A parsed fragment: where to go, and what to show there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub section: Section,
    pub params: BTreeMap<String, String>,
}

impl Link {
    pub fn to(section: Section) -> Self {
        Link {
            section,
            params: BTreeMap::new(),
        }
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.params.insert(key.to_string(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }

    /// Reads a fragment, with or without its '#'. An empty one is the
    /// first section.
    pub fn parse(fragment: &str) -> Result<Link, LinkError> {
        let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
        if fragment.len() > MAX_FRAGMENT {
            return Err(bad(format!(
                "the link is {} KB long; links here are at most {} KB",
                fragment.len() / 1024,
                MAX_FRAGMENT / 1024
            )));
        }
        if fragment.is_empty() {
            return Ok(Link::default());
        }
        let mut parts = fragment.split('&');
        let head = parts.next().unwrap_or_default();
        let section = Section::from_name(head).ok_or_else(|| {
            let names: Vec<&str> = Section::ALL.iter().map(|s| s.name()).collect();
            bad(format!(
                "the link opens {:?}, which is no part of the page (they are {})",
                short(head),
                names.join(", ")
            ))
        })?;
        let mut params = BTreeMap::new();
        for (i, part) in parts.enumerate() {
            if i >= MAX_PARAMS {
                return Err(bad(format!("the link has more than {MAX_PARAMS} settings")));
            }
            let (key, value) = part.split_once('=').unwrap_or((part, ""));
            if key.is_empty()
                || key.len() > 16
                || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                return Err(bad(format!(
                    "the link has a setting named {:?}",
                    short(key)
                )));
            }
            params.insert(key.to_string(), percent_decode(value)?);
        }
        Ok(Link { section, params })
    }

    /// The fragment, '#' included.
    pub fn format(&self) -> String {
        let mut out = format!("#{}", self.section.name());
        for (k, v) in &self.params {
            out.push('&');
            out.push_str(k);
            out.push('=');
            out.push_str(&percent_encode(v));
        }
        out
    }
}

/// At most 40 characters of something a link held, for a message.
fn short(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Letters, digits and `-._~` as they are; every other byte as %XX.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(s: &str) -> Result<String, LinkError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| bad("the link has a broken %-escape"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| bad("the link's text is not UTF-8"))
}

/// What an experiment trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Digit classifiers on the page's MNIST images.
    #[default]
    Digits,
    /// Character models on the State of the Union excerpt.
    Text,
}

/// What an experiment trains and tests on; each belongs to one task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Data {
    /// The page's 10,000 MNIST training images; tested on its 2,000.
    #[serde(rename = "mnist")]
    Mnist,
    /// The first 1,000 of them: too few, so a big network overfits.
    #[serde(rename = "mnist-1000")]
    Mnist1000,
    /// The State of the Union excerpt, its last part held out.
    #[serde(rename = "sotu")]
    Sotu,
}

impl Data {
    pub const ALL: [Data; 3] = [Data::Mnist, Data::Mnist1000, Data::Sotu];

    pub fn task(self) -> Task {
        match self {
            Data::Mnist | Data::Mnist1000 => Task::Digits,
            Data::Sotu => Task::Text,
        }
    }

    /// The first of `task`'s data, what an experiment starts with.
    pub fn default_for(task: Task) -> Data {
        Data::ALL
            .into_iter()
            .find(|d| d.task() == task)
            .expect("every task has data")
    }

    /// The name in links and the page's menu values.
    pub fn name(self) -> &'static str {
        match self {
            Data::Mnist => "mnist",
            Data::Mnist1000 => "mnist-1000",
            Data::Sotu => "sotu",
        }
    }

    pub fn from_name(name: &str) -> Option<Data> {
        Data::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Training images kept from the page's set, for a digit task.
    pub fn train_images(self) -> Option<usize> {
        match self {
            Data::Mnist1000 => Some(1000),
            _ => None,
        }
    }
}

/// One network an experiment trains, as the lab names it.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    pub name: String,
    pub spec: NetworkSpec,
}

/// The settings every variant of an experiment trains with: the same data,
/// batch order and seed, so that the networks alone differ.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub batch: usize,
    pub lr: f32,
    pub steps: usize,
    /// Test (digits) or held-out loss (text) every this many steps.
    pub eval_every: usize,
    pub seed: u64,
}

impl Settings {
    pub const MAX_STEPS: usize = 100_000;

    pub fn defaults(task: Task) -> Settings {
        match task {
            Task::Digits => Settings {
                batch: 32,
                lr: 1e-3,
                steps: 200,
                eval_every: 50,
                seed: 1,
            },
            Task::Text => Settings {
                batch: 32,
                lr: 2e-3,
                steps: 200,
                eval_every: 50,
                seed: 1,
            },
        }
    }

    fn check(&self) -> Result<(), LinkError> {
        let within = |what: &str, v: usize, max: usize| {
            if (1..=max).contains(&v) {
                Ok(())
            } else {
                Err(bad(format!(
                    "the experiment's {what} is {v}: use 1 to {max}"
                )))
            }
        };
        within("batch size", self.batch, 512)?;
        within("steps", self.steps, Self::MAX_STEPS)?;
        within("evaluation interval", self.eval_every, Self::MAX_STEPS)?;
        if !(self.lr.is_finite() && self.lr > 0.0 && self.lr <= 1.0) {
            return Err(bad(format!(
                "the experiment's learning rate is {}: use above 0, at most 1",
                self.lr
            )));
        }
        Ok(())
    }
}

/// A lab experiment: a task, up to four networks and the settings they
/// share. It travels in a link and is kept in the browser.
#[derive(Clone, Debug, PartialEq)]
pub struct Experiment {
    pub task: Task,
    pub data: Data,
    pub variants: Vec<Variant>,
    pub settings: Settings,
}

/// A vocabulary size that the text networks of a link are checked with:
/// the check is of shapes and bounds, which do not depend on the exact size.
pub const CHECK_VOCAB: usize = 99;

impl Experiment {
    /// What the lab opens with: the seed's network beside one change a
    /// class asks about (sigmoid for ReLU; a plain RNN for the LSTM).
    pub fn starting(task: Task) -> Experiment {
        let (a, b) = match task {
            Task::Digits => ("seed-cnn", "sigmoid-cnn"),
            Task::Text => ("seed-lstm", "rnn-128"),
        };
        let variant = |name: &str| Variant {
            name: name.to_string(),
            spec: crate::nn::spec::preset(name).expect("a preset"),
        };
        Experiment {
            task,
            data: Data::default_for(task),
            variants: vec![variant(a), variant(b)],
            settings: Settings::defaults(task),
        }
    }

    pub fn to_value(&self) -> Value {
        serde_json::json!({
            "v": 1,
            "task": self.task,
            "data": self.data,
            "settings": self.settings,
            "variants": self.variants.iter().map(|v| serde_json::json!({
                "name": v.name,
                "network": v.spec.to_value(),
            })).collect::<Vec<_>>(),
        })
    }

    /// Reads and checks an experiment: the task, 1 to [`MAX_VARIANTS`]
    /// named networks that each plan (text ones for text, image ones for
    /// digits), and the settings.
    pub fn from_value(v: Value) -> Result<Experiment, LinkError> {
        let Value::Object(mut m) = v else {
            return Err(bad("the experiment is not a JSON object"));
        };
        let task: Task = serde_json::from_value(m.remove("task").unwrap_or(Value::Null))
            .map_err(|_| bad("the experiment's task is neither \"digits\" nor \"text\""))?;
        let data = match m.remove("data") {
            None => Data::default_for(task),
            Some(v) => serde_json::from_value::<Data>(v)
                .ok()
                .filter(|d| d.task() == task)
                .ok_or_else(|| bad("the experiment's data is not data of its task"))?,
        };
        let settings: Settings =
            serde_json::from_value(m.remove("settings").unwrap_or(Value::Null)).map_err(|e| {
                bad(format!(
                    "the experiment's settings: {}",
                    short(&e.to_string())
                ))
            })?;
        settings.check()?;
        let Some(Value::Array(list)) = m.remove("variants") else {
            return Err(bad("the experiment has no list of networks"));
        };
        if list.is_empty() || list.len() > MAX_VARIANTS {
            return Err(bad(format!(
                "the experiment compares {} networks: use 1 to {MAX_VARIANTS}",
                list.len()
            )));
        }
        let mut variants = Vec::with_capacity(list.len());
        for (i, item) in list.into_iter().enumerate() {
            let Value::Object(mut item) = item else {
                return Err(bad(format!(
                    "network {} of the experiment is not an object",
                    i + 1
                )));
            };
            let name = match item.remove("name") {
                Some(Value::String(n)) if !n.trim().is_empty() => n.chars().take(40).collect(),
                _ => format!("{}", (b'A' + i as u8) as char),
            };
            let spec = NetworkSpec::from_value(item.remove("network").unwrap_or(Value::Null))
                .map_err(|e| bad(format!("network {name:?}: {e}")))?;
            if spec.is_text() != (task == Task::Text) {
                return Err(bad(format!(
                    "network {name:?} reads {}, but the experiment trains {}",
                    if spec.is_text() { "text" } else { "images" },
                    if task == Task::Text { "text" } else { "digits" }
                )));
            }
            Plan::new(&spec, spec.is_text().then_some(CHECK_VOCAB))
                .map_err(|e| bad(format!("network {name:?}: {e}")))?;
            variants.push(Variant { name, spec });
        }
        Ok(Experiment {
            task,
            data,
            variants,
            settings,
        })
    }

    /// The experiment as a link's value: deflated JSON in base64url.
    pub fn encode(&self) -> String {
        let json = self.to_value().to_string();
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, json.as_bytes()).expect("writing to memory");
        URL_SAFE_NO_PAD.encode(z.finish().expect("writing to memory"))
    }

    pub fn decode(s: &str) -> Result<Experiment, LinkError> {
        if s.len() > MAX_FRAGMENT {
            return Err(bad("the experiment in the link is too long"));
        }
        let deflated = URL_SAFE_NO_PAD
            .decode(s.trim())
            .map_err(|_| bad("the experiment in the link is garbled (not base64url)"))?;
        let mut json = Vec::new();
        flate2::read::DeflateDecoder::new(&deflated[..])
            .take(MAX_INFLATED as u64 + 1)
            .read_to_end(&mut json)
            .map_err(|_| bad("the experiment in the link is garbled (it does not inflate)"))?;
        if json.len() > MAX_INFLATED {
            return Err(bad(format!(
                "the experiment in the link inflates past {} KB",
                MAX_INFLATED / 1024
            )));
        }
        let value: Value = serde_json::from_slice(&json)
            .map_err(|_| bad("the experiment in the link is garbled (not JSON)"))?;
        Experiment::from_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::spec;

    fn experiment() -> Experiment {
        Experiment {
            task: Task::Digits,
            data: Data::Mnist1000,
            variants: vec![
                Variant {
                    name: "seed".into(),
                    spec: spec::seed_cnn(),
                },
                Variant {
                    name: "avg".into(),
                    spec: spec::preset("avg-pool-cnn").unwrap(),
                },
            ],
            settings: Settings::defaults(Task::Digits),
        }
    }

    #[test]
    fn sections_and_settings_round_trip() {
        let l = Link::to(Section::Lessons)
            .with("lesson", "conv")
            .with("step", "3");
        assert_eq!(l.format(), "#lessons&lesson=conv&step=3");
        assert_eq!(Link::parse(&l.format()).unwrap(), l);
        assert_eq!(Link::parse("").unwrap(), Link::default());
        assert_eq!(Link::parse("#inside").unwrap().section, Section::Inside);
        let odd = Link::to(Section::Lab).with("name", "a b&c=d 你好");
        assert_eq!(Link::parse(&odd.format()).unwrap(), odd);
    }

    #[test]
    fn the_starting_experiments_survive_their_links() {
        for task in [Task::Digits, Task::Text] {
            let e = Experiment::starting(task);
            assert_eq!(e.data.task(), task);
            assert_eq!(Experiment::decode(&e.encode()).unwrap(), e);
        }
    }

    #[test]
    fn an_experiment_survives_its_link() {
        let e = experiment();
        let link = Link::to(Section::Lab).with("exp", e.encode());
        assert!(link.format().len() < 1200, "{} bytes", link.format().len());
        let back = Link::parse(&link.format()).unwrap();
        assert_eq!(Experiment::decode(back.get("exp").unwrap()).unwrap(), e);
    }

    #[test]
    fn garbled_and_hostile_links_are_refused_with_a_message() {
        let err = |s: &str| Link::parse(s).unwrap_err().to_string();
        assert!(err("#kitchen").contains("no part of the page"));
        assert!(err("#lab&exp=%ZZ").contains("%-escape"));
        assert!(err("#lab&EXP=1").contains("setting named"));
        assert!(err(&format!("#lab&exp={}", "A".repeat(MAX_FRAGMENT))).contains("at most"));
        let dec = |s: &str| Experiment::decode(s).unwrap_err().to_string();
        assert!(dec("not base64!").contains("base64url"));
        assert!(dec("AAAA").contains("garbled"));
        // A deflate bomb: 10 MB of spaces in a few KB.
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        std::io::Write::write_all(&mut z, &vec![b' '; 10_000_000]).unwrap();
        let bomb = URL_SAFE_NO_PAD.encode(z.finish().unwrap());
        assert!(bomb.len() < MAX_FRAGMENT);
        assert!(dec(&bomb).contains("inflates past"));
        // A network over the limits, and one that cannot work.
        let mut e = experiment();
        e.variants[1].spec.layers[0].kind = spec::LayerKind::Conv2d {
            filters: 100_000,
            kernel: 3,
            activation: spec::Activation::Relu,
        };
        assert!(dec(&e.encode()).contains("network \"avg\": layer 0"));
        let mut e = experiment();
        e.settings.steps = 0;
        assert!(dec(&e.encode()).contains("steps is 0"));
        let mut e = experiment();
        e.variants = vec![e.variants[0].clone(); 5];
        assert!(dec(&e.encode()).contains("compares 5 networks"));
        let mut e = experiment();
        e.data = Data::Sotu;
        assert!(dec(&e.encode()).contains("data is not data of its task"));
        let mut e = experiment();
        e.variants[0].spec = spec::seed_lstm();
        assert!(dec(&e.encode()).contains("reads text"));
    }
}
