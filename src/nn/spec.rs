//! A network as data: an input and an ordered list of layers, like the Keras
//! `Sequential` programs of the seed document, read from and written to
//! JSON (a weights file keeps it in its metadata under [`NETWORK_KEY`]).
//!
//! ```json
//! {"input": [28, 28, 1], "layers": [
//!   {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "relu"},
//!   {"type": "max_pool2d", "size": 2},
//!   {"type": "flatten"},
//!   {"type": "dense", "units": 10, "activation": "softmax"}]}
//! ```
//!
//! This module only reads and writes the format and names the presets; what
//! a spec means (shapes, parameters, whether it can work at all) is
//! [`super::plan`]'s. A layer may carry a `"name"`, the prefix of its
//! parameters' names: the presets name theirs as the hand-written networks
//! did (conv1, fc2, lstm, head), so files saved before specs existed load.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::shapes::Act;

/// The metadata key of the network spec in a weights file.
pub const NETWORK_KEY: &str = "network";
/// The longest spec accepted, in bytes of JSON: a few hundred times the
/// largest preset, far below what would strain a parser or a URL.
pub const MAX_SPEC_BYTES: usize = 16 * 1024;

/// An activation as a spec names it: the four a kernel applies, and
/// softmax, which only the last layer may have (the loss applies it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Linear,
    Relu,
    Sigmoid,
    Tanh,
    Softmax,
}

impl Activation {
    /// What a kernel applies: softmax is left to the loss (linear here).
    pub fn act(self) -> Act {
        match self {
            Activation::Linear | Activation::Softmax => Act::Linear,
            Activation::Relu => Act::Relu,
            Activation::Sigmoid => Act::Sigmoid,
            Activation::Tanh => Act::Tanh,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Softmax => "softmax",
            a => a.act().name(),
        }
    }
}

/// A dense layer's width: a number, or the text model's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Units {
    Count(usize),
    Vocab,
}

impl Serialize for Units {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Units::Count(n) => s.serialize_u64(*n as u64),
            Units::Vocab => s.serialize_str("vocab"),
        }
    }
}

impl<'de> Deserialize<'de> for Units {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) if s == "vocab" => Ok(Units::Vocab),
            Value::Number(n) => n
                .as_u64()
                .map(|n| Units::Count(n as usize))
                .ok_or_else(|| serde::de::Error::custom(format!("units {n}: use a whole number"))),
            other => Err(serde::de::Error::custom(format!(
                "units {}: use a number or \"vocab\"",
                short(&other)
            ))),
        }
    }
}

fn one() -> usize {
    1
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

fn is_one(v: &usize) -> bool {
    *v == 1
}

/// What one layer does, with its settings; the `"type"` of its JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum LayerKind {
    /// k x k filters, stride 1, no padding ("valid", as the seed's Keras).
    Conv2d {
        filters: usize,
        kernel: usize,
        #[serde(default)]
        activation: Activation,
    },
    /// size x size windows at stride size.
    MaxPool2d {
        size: usize,
    },
    AvgPool2d {
        size: usize,
    },
    Flatten,
    Dense {
        units: Units,
        #[serde(default)]
        activation: Activation,
    },
    /// Inverted dropout while training; nothing at inference.
    Dropout {
        rate: f32,
    },
    Activation {
        activation: Activation,
    },
    /// One learned vector per character.
    Embedding {
        dim: usize,
    },
    /// h_t = tanh(W_ih x_t + W_hh h_(t-1) + b), as PyTorch's nn.RNN.
    Rnn {
        units: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        layers: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropout: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        recurrent_dropout: f32,
    },
    Gru {
        units: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        layers: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropout: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        recurrent_dropout: f32,
    },
    /// Keras's `dropout` (on each sub-layer's input) and `recurrent_dropout`
    /// (on h_(t-1) where it feeds the gates), one mask per sequence.
    Lstm {
        units: usize,
        #[serde(default = "one", skip_serializing_if = "is_one")]
        layers: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropout: f32,
        #[serde(default, skip_serializing_if = "is_zero")]
        recurrent_dropout: f32,
    },
    /// A decoder-only Transformer body over the embedded characters: learned
    /// positions (`context` of them) added to the input, then `blocks` of
    /// PyTorch's nn.TransformerEncoderLayer(d_model = the input's width,
    /// nhead = heads, dim_feedforward, activation="gelu", batch_first=True,
    /// norm_first=True) under a causal mask, then a final LayerNorm.
    /// `dropout` is the layer's dropout where it meets the residual stream
    /// and inside the feed-forward (dropout1, dropout2 and its `dropout`);
    /// PyTorch's also drops attention weights, which this leaves whole. Its parameters are named as a module holding `pos`,
    /// `layers` (the blocks) and `norm` names them: without a `"name"` they
    /// take no prefix (`pos.weight`, `layers.0.self_attn.in_proj_weight`,
    /// `norm.weight`), with one they take it (`"name": "body"`:
    /// `body.pos.weight`, ...).
    Transformer {
        blocks: usize,
        heads: usize,
        dim_feedforward: usize,
        context: usize,
        #[serde(default, skip_serializing_if = "is_zero")]
        dropout: f32,
    },
}

impl LayerKind {
    /// The `"type"` of the layer's JSON.
    pub fn type_name(&self) -> &'static str {
        match self {
            LayerKind::Conv2d { .. } => "conv2d",
            LayerKind::MaxPool2d { .. } => "max_pool2d",
            LayerKind::AvgPool2d { .. } => "avg_pool2d",
            LayerKind::Flatten => "flatten",
            LayerKind::Dense { .. } => "dense",
            LayerKind::Dropout { .. } => "dropout",
            LayerKind::Activation { .. } => "activation",
            LayerKind::Embedding { .. } => "embedding",
            LayerKind::Rnn { .. } => "rnn",
            LayerKind::Gru { .. } => "gru",
            LayerKind::Lstm { .. } => "lstm",
            LayerKind::Transformer { .. } => "transformer",
        }
    }

    /// A short description, as errors and the page name the layer:
    /// "conv2d 32 3x3 relu", "avg_pool2d 2x2", "lstm 128 x2".
    pub fn label(&self) -> String {
        let t = self.type_name();
        let act = |a: &Activation| match a {
            Activation::Linear => String::new(),
            a => format!(" {}", a.name()),
        };
        match self {
            LayerKind::Conv2d {
                filters,
                kernel,
                activation,
            } => format!("{t} {filters} {kernel}x{kernel}{}", act(activation)),
            LayerKind::MaxPool2d { size } | LayerKind::AvgPool2d { size } => {
                format!("{t} {size}x{size}")
            }
            LayerKind::Flatten => t.to_string(),
            LayerKind::Dense { units, activation } => {
                let u = match units {
                    Units::Count(n) => n.to_string(),
                    Units::Vocab => "vocab".into(),
                };
                format!("{t} {u}{}", act(activation))
            }
            LayerKind::Dropout { rate } => format!("{t} {rate}"),
            LayerKind::Activation { activation } => format!("{t} {}", activation.name()),
            LayerKind::Embedding { dim } => format!("{t} {dim}"),
            LayerKind::Rnn { units, layers, .. }
            | LayerKind::Gru { units, layers, .. }
            | LayerKind::Lstm { units, layers, .. } => {
                if *layers == 1 {
                    format!("{t} {units}")
                } else {
                    format!("{t} {units} x{layers}")
                }
            }
            LayerKind::Transformer {
                blocks,
                heads,
                dim_feedforward,
                context,
                dropout,
            } => {
                let drop = if *dropout > 0.0 {
                    format!(" dropout {dropout}")
                } else {
                    String::new()
                };
                format!(
                    "{t} {blocks} blocks {heads} heads ff {dim_feedforward} context {context}{drop}"
                )
            }
        }
    }
}

/// One entry of `layers`: what it does and, optionally, the prefix of its
/// parameters' names (default `layers.{index}`).
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub kind: LayerKind,
    pub name: Option<String>,
}

impl From<LayerKind> for Layer {
    fn from(kind: LayerKind) -> Self {
        Layer { kind, name: None }
    }
}

/// What the network reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// An image, [height, width, channels] as Keras writes it.
    Image {
        height: usize,
        width: usize,
        channels: usize,
    },
    /// Characters, one id each: a text model.
    Chars,
}

/// A whole network: its input and its layers in order.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    pub input: Input,
    pub layers: Vec<Layer>,
}

/// A problem with a spec, naming the layer by its position in `layers`
/// (from 0, like the parameter names) when one layer is at fault.
pub fn spec_error(layer: Option<(usize, String)>, problem: impl Into<String>) -> Error {
    let problem = problem.into();
    Error::Spec {
        layer: layer.as_ref().map(|l| l.0),
        message: match layer {
            Some((i, label)) => format!("layer {i} ({label}) {problem}"),
            None => problem,
        },
    }
}

/// A JSON value for a message: short enough to quote whatever was sent.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}

impl NetworkSpec {
    /// Reads a spec from JSON, refusing anything that is not one, with a
    /// message that names the layer. Whether the network can work is
    /// checked by [`super::plan::Plan::new`], not here.
    pub fn from_json(text: &str) -> Result<Self> {
        if text.len() > MAX_SPEC_BYTES {
            return Err(spec_error(
                None,
                format!(
                    "the network spec is {} bytes; at most {MAX_SPEC_BYTES} are read",
                    text.len()
                ),
            ));
        }
        let value: Value = serde_json::from_str(text)
            .map_err(|e| spec_error(None, format!("the network spec is not JSON: {e}")))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self> {
        let Value::Object(mut top) = value else {
            return Err(spec_error(
                None,
                format!(
                    "a network spec is an object with \"input\" and \"layers\", not {}",
                    short(&value)
                ),
            ));
        };
        let input = parse_input(top.remove("input"))?;
        let Some(Value::Array(layers)) = top.remove("layers") else {
            return Err(spec_error(
                None,
                "the network spec needs \"layers\": a list of layers",
            ));
        };
        if let Some(key) = top.keys().next() {
            return Err(spec_error(
                None,
                format!(
                    "the network spec has an unknown field {key:?}: use \"input\" and \"layers\""
                ),
            ));
        }
        if layers.len() > super::plan::MAX_LAYERS {
            return Err(spec_error(
                None,
                format!(
                    "{} layers: a network has at most {}",
                    layers.len(),
                    super::plan::MAX_LAYERS
                ),
            ));
        }
        let layers = layers
            .into_iter()
            .enumerate()
            .map(|(i, v)| parse_layer(i, v))
            .collect::<Result<Vec<_>>>()?;
        Ok(NetworkSpec { input, layers })
    }

    pub fn to_value(&self) -> Value {
        let input = match self.input {
            Input::Image {
                height,
                width,
                channels,
            } => serde_json::json!([height, width, channels]),
            Input::Chars => Value::String("chars".into()),
        };
        let layers = self
            .layers
            .iter()
            .map(|l| {
                let mut v = serde_json::to_value(&l.kind).expect("a layer serialises");
                if let (Some(name), Value::Object(m)) = (&l.name, &mut v) {
                    m.insert("name".into(), Value::String(name.clone()));
                }
                v
            })
            .collect();
        let mut m = Map::new();
        m.insert("input".into(), input);
        m.insert("layers".into(), Value::Array(layers));
        Value::Object(m)
    }

    /// Compact JSON, as stored in a weights file's metadata.
    pub fn to_json(&self) -> String {
        self.to_value().to_string()
    }

    pub fn is_text(&self) -> bool {
        self.input == Input::Chars
    }

    /// The layers in a line: "conv2d 32 3x3 relu -> max_pool2d 2x2 -> ...".
    pub fn describe(&self) -> String {
        let layers: Vec<String> = self.layers.iter().map(|l| l.kind.label()).collect();
        layers.join(" -> ")
    }
}

/// As its JSON, so a spec can sit inside other serialised data (the lab's
/// kept runs); reading it back checks it like [`NetworkSpec::from_json`].
impl Serialize for NetworkSpec {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_value().serialize(s)
    }
}

impl<'de> Deserialize<'de> for NetworkSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        NetworkSpec::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

fn parse_input(v: Option<Value>) -> Result<Input> {
    let bad = |what: String| {
        spec_error(
            None,
            format!(
                "\"input\" must be [height, width, channels] (e.g. [28, 28, 1]) or \"chars\", not {what}"
            ),
        )
    };
    match v {
        None => Err(bad("nothing".into())),
        Some(Value::String(s)) if s == "chars" => Ok(Input::Chars),
        Some(Value::Array(a)) if a.len() == 3 => {
            let dims: Option<Vec<usize>> =
                a.iter().map(|d| d.as_u64().map(|d| d as usize)).collect();
            match dims.as_deref() {
                Some(&[height, width, channels]) => Ok(Input::Image {
                    height,
                    width,
                    channels,
                }),
                _ => Err(bad(short(&Value::Array(a)))),
            }
        }
        Some(other) => Err(bad(short(&other))),
    }
}

fn parse_layer(i: usize, v: Value) -> Result<Layer> {
    let Value::Object(mut m) = v else {
        return Err(spec_error(
            Some((i, short(&v))),
            "is not a layer: a layer is an object with a \"type\"",
        ));
    };
    let type_label = match m.get("type") {
        Some(Value::String(t)) => t.chars().take(24).collect::<String>(),
        Some(other) => {
            return Err(spec_error(
                Some((i, short(other))),
                "has a \"type\" that is not a name",
            ));
        }
        None => return Err(spec_error(Some((i, "?".into())), "has no \"type\"")),
    };
    let name = match m.remove("name") {
        None => None,
        Some(Value::String(n)) => Some(n),
        Some(other) => {
            return Err(spec_error(
                Some((i, type_label)),
                format!("has a \"name\" that is not text: {}", short(&other)),
            ));
        }
    };
    let kind: LayerKind = serde_json::from_value(Value::Object(m)).map_err(|e| {
        // serde's messages quote the offending input; keep them short.
        let msg: String = e.to_string().chars().take(200).collect();
        spec_error(
            Some((i, type_label.clone())),
            format!("is not valid: {msg}"),
        )
    })?;
    Ok(Layer { kind, name })
}

/// A network the page and the command line offer by name.
pub struct Preset {
    pub name: &'static str,
    /// What it shows a class, in a line.
    pub about: &'static str,
    pub spec: fn() -> NetworkSpec,
}

const MNIST: Input = Input::Image {
    height: 28,
    width: 28,
    channels: 1,
};

fn named(kind: LayerKind, name: &str) -> Layer {
    Layer {
        kind,
        name: Some(name.into()),
    }
}

fn conv(filters: usize, activation: Activation) -> LayerKind {
    LayerKind::Conv2d {
        filters,
        kernel: 3,
        activation,
    }
}

fn dense(units: usize, activation: Activation) -> LayerKind {
    LayerKind::Dense {
        units: Units::Count(units),
        activation,
    }
}

fn softmax_head() -> LayerKind {
    LayerKind::Dense {
        units: Units::Vocab,
        activation: Activation::Softmax,
    }
}

/// The seed's CNN with the given activations and pooling, unnamed layers.
fn cnn(act: Activation, pool: fn(usize) -> LayerKind) -> NetworkSpec {
    NetworkSpec {
        input: MNIST,
        layers: vec![
            conv(32, act).into(),
            pool(2).into(),
            conv(64, act).into(),
            pool(2).into(),
            LayerKind::Flatten.into(),
            dense(64, act).into(),
            dense(10, Activation::Softmax).into(),
        ],
    }
}

fn max_pool(size: usize) -> LayerKind {
    LayerKind::MaxPool2d { size }
}

fn avg_pool(size: usize) -> LayerKind {
    LayerKind::AvgPool2d { size }
}

/// The seed document's digit network; files without a spec are this one.
pub fn seed_cnn() -> NetworkSpec {
    let mut s = cnn(Activation::Relu, max_pool);
    for (i, name) in [(0, "conv1"), (2, "conv2"), (5, "fc1"), (6, "fc2")] {
        s.layers[i].name = Some(name.into());
    }
    s
}

/// The seed's character model (Keras `LSTM(128, dropout=0.2,
/// recurrent_dropout=0.2)`); text files without a spec are this one.
pub fn seed_lstm() -> NetworkSpec {
    NetworkSpec {
        input: Input::Chars,
        layers: vec![
            named(LayerKind::Embedding { dim: 64 }, "embed"),
            named(
                LayerKind::Lstm {
                    units: 128,
                    layers: 1,
                    dropout: 0.2,
                    recurrent_dropout: 0.2,
                },
                "lstm",
            ),
            named(softmax_head(), "head"),
        ],
    }
}

fn recurrent(kind: LayerKind) -> NetworkSpec {
    NetworkSpec {
        input: Input::Chars,
        layers: vec![
            LayerKind::Embedding { dim: 64 }.into(),
            kind.into(),
            softmax_head().into(),
        ],
    }
}

/// The Transformer beside the seed LSTM: characters embedded in 128
/// dimensions, 128 learned positions, two pre-norm blocks of 4 heads with a
/// 512-wide GELU feed-forward, a final norm, and the head. Parameter names
/// are those of the PyTorch module scripts/pytorch_char_transformer.py
/// builds (`embed`, `pos`, `layers.{block}`, `norm`, `head`).
pub fn transformer_char() -> NetworkSpec {
    NetworkSpec {
        input: Input::Chars,
        layers: vec![
            named(LayerKind::Embedding { dim: 128 }, "embed"),
            LayerKind::Transformer {
                blocks: 2,
                heads: 4,
                dim_feedforward: 512,
                context: 128,
                dropout: 0.0,
            }
            .into(),
            named(softmax_head(), "head"),
        ],
    }
}

pub static PRESETS: &[Preset] = &[
    Preset {
        name: "seed-cnn",
        about: "the seed document's digit CNN: two 3x3 convolutions with ReLU, max pooling",
        spec: seed_cnn,
    },
    Preset {
        name: "seed-lstm",
        about: "the seed document's character LSTM(128) with dropout 0.2 and recurrent dropout 0.2",
        spec: seed_lstm,
    },
    Preset {
        name: "transformer-char",
        about: "a character Transformer: 2 pre-norm blocks of 4-head causal attention, d 128, context 128",
        spec: transformer_char,
    },
    Preset {
        name: "sigmoid-cnn",
        about: "the seed CNN with sigmoid everywhere ReLU was: slower to learn",
        spec: || cnn(Activation::Sigmoid, max_pool),
    },
    Preset {
        name: "avg-pool-cnn",
        about: "the seed CNN with average pooling instead of max pooling",
        spec: || cnn(Activation::Relu, avg_pool),
    },
    Preset {
        name: "mlp",
        about: "no convolution: flatten, one hidden layer of 128, ten outputs",
        spec: || NetworkSpec {
            input: MNIST,
            layers: vec![
                LayerKind::Flatten.into(),
                dense(128, Activation::Relu).into(),
                dense(10, Activation::Softmax).into(),
            ],
        },
    },
    Preset {
        name: "tiny-cnn",
        about: "one convolution of 8 filters, max pooling, ten outputs",
        spec: || NetworkSpec {
            input: MNIST,
            layers: vec![
                conv(8, Activation::Relu).into(),
                max_pool(2).into(),
                LayerKind::Flatten.into(),
                dense(10, Activation::Softmax).into(),
            ],
        },
    },
    Preset {
        name: "rnn-128",
        about: "a plain RNN, h_t = tanh(W x_t + U h_(t-1) + b), of 128 units",
        spec: || {
            recurrent(LayerKind::Rnn {
                units: 128,
                layers: 1,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            })
        },
    },
    Preset {
        name: "gru-128",
        about: "a GRU of 128 units: two gates instead of the LSTM's three, no cell state",
        spec: || {
            recurrent(LayerKind::Gru {
                units: 128,
                layers: 1,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            })
        },
    },
    Preset {
        name: "lstm-2x256",
        about: "two stacked LSTM layers of 256 units",
        spec: || {
            recurrent(LayerKind::Lstm {
                units: 256,
                layers: 2,
                dropout: 0.0,
                recurrent_dropout: 0.0,
            })
        },
    },
];

/// The preset called `name`, or a message listing them.
pub fn preset(name: &str) -> Result<NetworkSpec> {
    PRESETS
        .iter()
        .find(|p| p.name == name)
        .map(|p| (p.spec)())
        .ok_or_else(|| {
            let names: Vec<&str> = PRESETS.iter().map(|p| p.name).collect();
            spec_error(
                None,
                format!(
                    "no preset network {:?}: the presets are {}",
                    name.chars().take(40).collect::<String>(),
                    names.join(", ")
                ),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_reads_and_round_trips() {
        let text = r#"{"input": [28, 28, 1], "layers": [
            {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "relu"},
            {"type": "max_pool2d", "size": 2},
            {"type": "conv2d", "filters": 64, "kernel": 3, "activation": "tanh"},
            {"type": "avg_pool2d", "size": 2},
            {"type": "flatten"},
            {"type": "dense", "units": 64, "activation": "sigmoid"},
            {"type": "dropout", "rate": 0.2},
            {"type": "dense", "units": 10, "activation": "softmax"}]}"#;
        let s = NetworkSpec::from_json(text).unwrap();
        assert_eq!(s.layers.len(), 8);
        assert_eq!(s.layers[3].kind, LayerKind::AvgPool2d { size: 2 });
        assert_eq!(NetworkSpec::from_json(&s.to_json()).unwrap(), s);
        let text = r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 64},
            {"type": "lstm", "units": 128, "dropout": 0.2, "recurrent_dropout": 0.2},
            {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#;
        let s = NetworkSpec::from_json(text).unwrap();
        assert!(s.is_text());
        assert_eq!(NetworkSpec::from_json(&s.to_json()).unwrap(), s);
    }

    #[test]
    fn every_preset_round_trips_through_json() {
        for p in PRESETS {
            let s = (p.spec)();
            assert_eq!(
                NetworkSpec::from_json(&s.to_json()).unwrap(),
                s,
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn bad_json_names_the_layer_and_the_problem() {
        let e = |t: &str| NetworkSpec::from_json(t).unwrap_err().to_string();
        let m = e(
            r#"{"input": [28,28,1], "layers": [{"type": "flatten"}, {"type": "conv2d", "filter": 3, "kernel": 3}]}"#,
        );
        assert!(
            m.starts_with("layer 1 (conv2d)") && m.contains("filter"),
            "{m}"
        );
        let m = e(r#"{"input": [28,28,1], "layers": [{"type": "convolution"}]}"#);
        assert!(
            m.starts_with("layer 0 (convolution)") && m.contains("unknown variant"),
            "{m}"
        );
        let m = e(
            r#"{"input": [28,28,1], "layers": [{"type": "dense", "units": 4, "activation": "swish"}]}"#,
        );
        assert!(m.contains("swish"), "{m}");
        let m = e(r#"{"input": [28,28,1], "layers": [{"type": "dense", "units": "many"}]}"#);
        assert!(m.contains("\"many\""), "{m}");
        let m = e(r#"{"input": "pixels", "layers": []}"#);
        assert!(m.contains("\"input\""), "{m}");
        let m = e("[1, 2");
        assert!(m.contains("not JSON"), "{m}");
        let huge = format!(
            "{{\"input\": \"chars\", \"layers\": [{}]}}",
            "{},".repeat(20_000)
        );
        assert!(e(&huge).contains("at most"));
    }
}
