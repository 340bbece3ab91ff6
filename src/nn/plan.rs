//! What a network spec means, worked out before any buffer exists: each
//! layer's output shape, its parameters (names and shapes, PyTorch's) and
//! its forward multiply-adds, or why the spec cannot work, naming the layer.
//! The network, the weights file check, the CLI's listing and the page's
//! editor all read this one plan.

use super::spec::{Activation, Input, LayerKind, NetworkSpec, Units, spec_error};
use crate::error::{Error, Result};
use crate::shapes::{Cell, conv_output_size, pool_output_size};

/// Most layers in a spec.
pub const MAX_LAYERS: usize = 16;
/// Most filters, units or embedding width of one layer.
pub const MAX_UNITS: usize = 512;
/// Largest kernel side and pooling window.
pub const MAX_KERNEL: usize = 7;
/// Most stacked sub-layers of one recurrent entry.
pub const MAX_STACKED: usize = 4;
/// Most blocks and heads of a Transformer entry, and the longest context:
/// a decoding cache holds context x 3 x width values per block and row.
pub const MAX_BLOCKS: usize = 8;
pub const MAX_HEADS: usize = 16;
pub const MAX_CONTEXT: usize = 512;
/// Widest feed-forward of a Transformer block.
pub const MAX_FEEDFORWARD: usize = 2048;
/// Most parameters of a whole network: a few million, as the page trains
/// it in a browser tab.
pub const MAX_PARAMS: usize = 4_000_000;
/// Most multiply-adds of one forward pass per image or per character.
pub const MAX_MACS: u64 = 100_000_000;
/// Largest image side and channel count an image network reads.
pub const MAX_SIDE: usize = 64;
pub const MAX_CHANNELS: usize = 4;
/// Most characters a text model's vocabulary may hold.
pub const MAX_VOCAB: usize = 8192;

/// What flows between layers, per example (images) or per character (text).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Feature maps [channels, height, width] (NCHW without the batch).
    Maps { c: usize, h: usize, w: usize },
    /// A flat vector of an image network.
    Flat(usize),
    /// One vector per character of a text network.
    Seq(usize),
    /// Characters before the embedding.
    Chars,
}

impl Shape {
    /// Values per example (or per character).
    pub fn size(&self) -> usize {
        match *self {
            Shape::Maps { c, h, w } => c * h * w,
            Shape::Flat(n) | Shape::Seq(n) => n,
            Shape::Chars => 1,
        }
    }

    /// As the page and the CLI print it: "26x26x32", "1600", "128 per char".
    pub fn describe(&self) -> String {
        match *self {
            Shape::Maps { c, h, w } => format!("{h}x{w}x{c}"),
            Shape::Flat(n) => n.to_string(),
            Shape::Seq(n) => format!("{n} per char"),
            Shape::Chars => "chars".into(),
        }
    }
}

/// One parameter tensor: its name in the weights file and its shape.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamInfo {
    pub name: String,
    pub shape: Vec<usize>,
}

impl ParamInfo {
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One layer as the plan sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerPlan {
    /// Position in the spec's `layers`, from 0.
    pub index: usize,
    pub kind: LayerKind,
    /// "conv2d 32 3x3 relu".
    pub label: String,
    pub input: Shape,
    pub output: Shape,
    pub params: Vec<ParamInfo>,
    /// Forward multiply-adds per example (per character for text).
    pub macs: u64,
}

impl LayerPlan {
    pub fn param_count(&self) -> usize {
        self.params.iter().map(ParamInfo::len).sum()
    }

    /// The recurrent cell, sizes and dropouts of a recurrent layer.
    pub fn recurrent(&self) -> Option<Recurrent> {
        let (cell, units, layers, dropout, recurrent_dropout) = match self.kind {
            LayerKind::Rnn {
                units,
                layers,
                dropout,
                recurrent_dropout,
            } => (Cell::Rnn, units, layers, dropout, recurrent_dropout),
            LayerKind::Gru {
                units,
                layers,
                dropout,
                recurrent_dropout,
            } => (Cell::Gru, units, layers, dropout, recurrent_dropout),
            LayerKind::Lstm {
                units,
                layers,
                dropout,
                recurrent_dropout,
            } => (Cell::Lstm, units, layers, dropout, recurrent_dropout),
            _ => return None,
        };
        Some(Recurrent {
            cell,
            input: self.input.size(),
            units,
            layers,
            dropout,
            recurrent_dropout,
        })
    }
}

impl LayerPlan {
    /// The settings of a Transformer entry.
    pub fn transformer(&self) -> Option<TransformerPlan> {
        match self.kind {
            LayerKind::Transformer {
                blocks,
                heads,
                dim_feedforward,
                context,
                dropout,
            } => Some(TransformerPlan {
                dim: self.input.size(),
                blocks,
                heads,
                dim_feedforward,
                context,
                dropout,
            }),
            _ => None,
        }
    }
}

/// A recurrent layer's settings, resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Recurrent {
    pub cell: Cell,
    /// Width of the layer's input (the first sub-layer's).
    pub input: usize,
    pub units: usize,
    pub layers: usize,
    pub dropout: f32,
    pub recurrent_dropout: f32,
}

/// A whole network, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub input: Input,
    pub layers: Vec<LayerPlan>,
    /// Probabilities the network answers with: classes, or the vocabulary.
    pub outputs: usize,
    /// The vocabulary the plan was made for (text networks).
    pub vocab: Option<usize>,
}

/// How far a spec plans: every layer worked out before the first problem,
/// and that problem (naming its layer when one is at fault). The lab's
/// editor draws the layers that work and marks the one that breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct Survey {
    pub layers: Vec<LayerPlan>,
    pub problem: Option<Problem>,
}

/// Why a spec cannot work: an [`Error::Spec`] kept as data.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub layer: Option<usize>,
    pub message: String,
}

impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        match e {
            Error::Spec { layer, message } => Problem { layer, message },
            other => Problem {
                layer: None,
                message: other.to_string(),
            },
        }
    }
}

impl Survey {
    /// The layer the problem is on, if it is on one.
    pub fn broken_layer(&self) -> Option<usize> {
        self.problem.as_ref().and_then(|p| p.layer)
    }

    /// Parameters of the layers worked out.
    pub fn param_count(&self) -> usize {
        self.layers.iter().map(LayerPlan::param_count).sum()
    }

    /// Multiply-adds of the layers worked out.
    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }
}

impl Plan {
    /// Check `spec` and work out every shape; a text network needs its
    /// vocabulary size (embedding rows, `"units": "vocab"`). The first
    /// problem found is returned, naming the layer.
    pub fn new(spec: &NetworkSpec, vocab: Option<usize>) -> Result<Plan> {
        let survey = Plan::survey(spec, vocab);
        match survey.problem {
            Some(Problem { layer, message }) => Err(Error::Spec { layer, message }),
            None => Ok(Plan {
                input: spec.input,
                outputs: survey.layers.last().map_or(0, |l| l.output.size()),
                layers: survey.layers,
                vocab,
            }),
        }
    }

    /// Work out `spec` layer by layer as far as it goes, then check the
    /// whole: the layers before the first problem, and that problem.
    pub fn survey(spec: &NetworkSpec, vocab: Option<usize>) -> Survey {
        let mut layers = Vec::with_capacity(spec.layers.len());
        let walked = Plan::walk(spec, vocab, &mut layers);
        let problem = walked.err().or_else(|| {
            let plan = Plan {
                input: spec.input,
                outputs: layers.last().map_or(0, |l: &LayerPlan| l.output.size()),
                layers: std::mem::take(&mut layers),
                vocab,
            };
            let problem = plan
                .check_ending(spec)
                .and_then(|()| plan.check_totals())
                .err();
            layers = plan.layers;
            problem
        });
        Survey {
            layers,
            problem: problem.map(Problem::from),
        }
    }

    /// Each layer's plan into `layers`, until one cannot work.
    fn walk(spec: &NetworkSpec, vocab: Option<usize>, layers: &mut Vec<LayerPlan>) -> Result<()> {
        let mut shape = input_shape(spec, vocab)?;
        if spec.layers.is_empty() {
            return Err(spec_error(None, "the network has no layers"));
        }
        if spec.layers.len() > MAX_LAYERS {
            return Err(spec_error(
                None,
                format!(
                    "{} layers: a network has at most {MAX_LAYERS}",
                    spec.layers.len()
                ),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        let last = spec.layers.len() - 1;
        for (i, layer) in spec.layers.iter().enumerate() {
            let label = layer.kind.label();
            let at = || Some((i, label.clone()));
            let (output, params, macs) = layer_prefix(layer, i, &mut names)
                .and_then(|prefix| infer(&layer.kind, shape, &prefix, vocab, i == last))
                .map_err(|p| spec_error(at(), p))?;
            if let Some(p) = layers
                .iter()
                .flat_map(|l: &LayerPlan| &l.params)
                .find(|p| params.iter().any(|q| q.name == p.name))
            {
                return Err(spec_error(
                    at(),
                    format!(
                        "has a parameter {:?}, which another layer has too: give one a \"name\"",
                        p.name
                    ),
                ));
            }
            layers.push(LayerPlan {
                index: i,
                kind: layer.kind.clone(),
                label,
                input: shape,
                output,
                params,
                macs,
            });
            shape = output;
        }
        Ok(())
    }

    /// The network must answer with probabilities: a softmax last, over the
    /// classes (images) or the vocabulary (text).
    fn check_ending(&self, spec: &NetworkSpec) -> Result<()> {
        let last = self.layers.last().expect("a plan has layers");
        let ends_in_softmax = matches!(
            last.kind,
            LayerKind::Dense {
                activation: Activation::Softmax,
                ..
            } | LayerKind::Activation {
                activation: Activation::Softmax
            }
        );
        let at = Some((last.index, last.label.clone()));
        if !ends_in_softmax {
            return Err(spec_error(
                at,
                "is the last layer: end with {\"type\": \"dense\", \"activation\": \"softmax\"} \
                 so that the network answers with probabilities",
            ));
        }
        match (spec.input, last.output) {
            (Input::Image { .. }, Shape::Flat(n)) if n >= 2 => Ok(()),
            (Input::Image { .. }, shape) => Err(spec_error(
                at,
                format!(
                    "gives {}: a classifier ends in at least 2 outputs, one per class",
                    shape.describe()
                ),
            )),
            (Input::Chars, Shape::Seq(n)) if Some(n) == self.vocab => Ok(()),
            (Input::Chars, shape) => Err(spec_error(
                at,
                format!(
                    "gives {}: a text model ends in one probability per character of the \
                     vocabulary ({}): use \"units\": \"vocab\"",
                    shape.describe(),
                    self.vocab.unwrap_or(0)
                ),
            )),
        }
    }

    fn check_totals(&self) -> Result<()> {
        let params = self.param_count();
        if params > MAX_PARAMS {
            return Err(spec_error(
                None,
                format!(
                    "{params} parameters: a network here has at most {MAX_PARAMS} (make layers narrower)"
                ),
            ));
        }
        let macs = self.macs();
        if macs > MAX_MACS {
            return Err(spec_error(
                None,
                format!(
                    "{macs} multiply-adds per {}: at most {MAX_MACS} (use fewer filters or pool earlier)",
                    if self.is_text() { "character" } else { "image" }
                ),
            ));
        }
        Ok(())
    }

    pub fn is_text(&self) -> bool {
        self.input == Input::Chars
    }

    pub fn param_count(&self) -> usize {
        self.layers.iter().map(LayerPlan::param_count).sum()
    }

    pub fn macs(&self) -> u64 {
        self.layers.iter().map(|l| l.macs).sum()
    }

    /// Every parameter, in the order of the layers (the order a weights
    /// file is written in and an optimizer walks).
    pub fn params(&self) -> impl Iterator<Item = &ParamInfo> {
        self.layers.iter().flat_map(|l| &l.params)
    }
}

fn input_shape(spec: &NetworkSpec, vocab: Option<usize>) -> Result<Shape> {
    match spec.input {
        Input::Image {
            height,
            width,
            channels,
        } => {
            if !(1..=MAX_SIDE).contains(&height)
                || !(1..=MAX_SIDE).contains(&width)
                || !(1..=MAX_CHANNELS).contains(&channels)
            {
                return Err(spec_error(
                    None,
                    format!(
                        "an input of {height}x{width}x{channels}: images are 1 to {MAX_SIDE} \
                         pixels a side with 1 to {MAX_CHANNELS} channels"
                    ),
                ));
            }
            Ok(Shape::Maps {
                c: channels,
                h: height,
                w: width,
            })
        }
        Input::Chars => match vocab {
            Some(v) if (2..=MAX_VOCAB).contains(&v) => Ok(Shape::Chars),
            Some(v) => Err(spec_error(
                None,
                format!("a vocabulary of {v} characters: use 2 to {MAX_VOCAB}"),
            )),
            None => Err(spec_error(
                None,
                "a text network needs its vocabulary to be sized",
            )),
        },
    }
}

/// The prefix of a layer's parameter names, unique in the network.
fn layer_prefix(
    layer: &super::spec::Layer,
    i: usize,
    names: &mut std::collections::BTreeSet<String>,
) -> std::result::Result<String, String> {
    let prefix = match &layer.name {
        Some(n) => {
            check_name(n)?;
            n.clone()
        }
        // A Transformer's parts are named as its module's own
        // (pos, layers.{block}, norm): the body of the model.
        None if matches!(layer.kind, LayerKind::Transformer { .. }) => String::new(),
        None => format!("layers.{i}"),
    };
    if !names.insert(prefix.clone()) {
        return Err(format!(
            "has the name {prefix:?}, which another layer has too"
        ));
    }
    Ok(prefix)
}

/// A parameter name prefix: letters, digits, '_' and '.', up to 32.
fn check_name(n: &str) -> std::result::Result<(), String> {
    let ok = !n.is_empty()
        && n.len() <= 32
        && n.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && !n.starts_with('.')
        && !n.ends_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "has the name {:?}: a name is 1 to 32 letters, digits, '_' or '.'",
            n.chars().take(40).collect::<String>()
        ))
    }
}

fn within(what: &str, v: usize, max: usize) -> std::result::Result<(), String> {
    if (1..=max).contains(&v) {
        Ok(())
    } else {
        Err(format!("has {what} {v}: use 1 to {max}"))
    }
}

fn rate(what: &str, r: f32) -> std::result::Result<(), String> {
    if (0.0..0.95).contains(&r) {
        Ok(())
    } else {
        Err(format!("has {what} {r}: use 0 (none) to below 0.95"))
    }
}

fn param(prefix: &str, suffix: &str, shape: Vec<usize>) -> ParamInfo {
    ParamInfo {
        name: if prefix.is_empty() {
            suffix.to_string()
        } else {
            format!("{prefix}.{suffix}")
        },
        shape,
    }
}

/// One Transformer block's parameters, as nn.TransformerEncoderLayer's
/// state_dict names and orders them, under `prefix` ("layers.0").
pub fn block_params(prefix: &str, d: usize, ff: usize) -> Vec<ParamInfo> {
    [
        ("self_attn.in_proj_weight", vec![3 * d, d]),
        ("self_attn.in_proj_bias", vec![3 * d]),
        ("self_attn.out_proj.weight", vec![d, d]),
        ("self_attn.out_proj.bias", vec![d]),
        ("linear1.weight", vec![ff, d]),
        ("linear1.bias", vec![ff]),
        ("linear2.weight", vec![d, ff]),
        ("linear2.bias", vec![d]),
        ("norm1.weight", vec![d]),
        ("norm1.bias", vec![d]),
        ("norm2.weight", vec![d]),
        ("norm2.bias", vec![d]),
    ]
    .into_iter()
    .map(|(suffix, shape)| param(prefix, suffix, shape))
    .collect()
}

/// A Transformer entry's settings, resolved.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TransformerPlan {
    /// d_model: the width of its input, and of its output.
    pub dim: usize,
    pub blocks: usize,
    pub heads: usize,
    pub dim_feedforward: usize,
    pub context: usize,
    /// On each block's two residual branches and its feed-forward's hidden
    /// values, in training.
    pub dropout: f32,
}

type Inferred = (Shape, Vec<ParamInfo>, u64);

/// One layer's output, parameters and multiply-adds, given what it reads;
/// the error is the problem, for the caller to prefix with the layer.
fn infer(
    kind: &LayerKind,
    input: Shape,
    prefix: &str,
    vocab: Option<usize>,
    last: bool,
) -> std::result::Result<Inferred, String> {
    let needs_maps = |what: &str| match input {
        Shape::Maps { c, h, w } => Ok((c, h, w)),
        Shape::Flat(n) => Err(format!(
            "needs feature maps, but gets a flat vector of {n} values: {what} must come before the flatten"
        )),
        Shape::Seq(_) | Shape::Chars => {
            Err(format!("needs an image input: {what} cannot read text"))
        }
    };
    let softmax_not_last = |a: &Activation| {
        if *a == Activation::Softmax && !last {
            Err("has softmax, which only the last layer may have".to_string())
        } else {
            Ok(())
        }
    };
    Ok(match kind {
        LayerKind::Conv2d {
            filters,
            kernel,
            activation,
        } => {
            let (c, h, w) = needs_maps("a convolution")?;
            within("filters", *filters, MAX_UNITS)?;
            within("a kernel of", *kernel, MAX_KERNEL)?;
            if *activation == Activation::Softmax {
                return Err(
                    "has softmax: a convolution takes linear, relu, sigmoid or tanh".into(),
                );
            }
            let (oh, ow) = (conv_output_size(h, *kernel), conv_output_size(w, *kernel));
            if oh == 0 || ow == 0 {
                return Err(format!(
                    "gets {h}x{w} maps: too small for a {kernel}x{kernel} kernel"
                ));
            }
            let taps = c * kernel * kernel;
            (
                Shape::Maps {
                    c: *filters,
                    h: oh,
                    w: ow,
                },
                vec![
                    param(prefix, "weight", vec![*filters, c, *kernel, *kernel]),
                    param(prefix, "bias", vec![*filters]),
                ],
                (filters * taps * oh * ow) as u64,
            )
        }
        LayerKind::MaxPool2d { size } | LayerKind::AvgPool2d { size } => {
            let (c, h, w) = needs_maps("pooling")?;
            within("a window of", *size, MAX_KERNEL)?;
            let (oh, ow) = (pool_output_size(h, *size), pool_output_size(w, *size));
            if oh == 0 || ow == 0 {
                return Err(format!("gets {h}x{w} maps: too small to pool"));
            }
            // A max compares; an average adds size^2 values per output.
            let macs = match kind {
                LayerKind::AvgPool2d { .. } => (c * oh * ow * size * size) as u64,
                _ => 0,
            };
            (Shape::Maps { c, h: oh, w: ow }, Vec::new(), macs)
        }
        LayerKind::Flatten => match input {
            Shape::Maps { .. } | Shape::Flat(_) => (Shape::Flat(input.size()), Vec::new(), 0),
            _ => return Err("needs an image input: text has nothing to flatten".into()),
        },
        LayerKind::Dense { units, activation } => {
            softmax_not_last(activation)?;
            let n = match units {
                Units::Count(n) => {
                    within("units", *n, MAX_UNITS)?;
                    *n
                }
                Units::Vocab => match (input, vocab) {
                    (Shape::Seq(_), Some(v)) => v,
                    _ => return Err("has units \"vocab\", which only a text model has".into()),
                },
            };
            let (inp, out) = match input {
                Shape::Flat(i) => (i, Shape::Flat(n)),
                Shape::Seq(i) => (i, Shape::Seq(n)),
                Shape::Maps { c, h, w } => {
                    return Err(format!(
                        "gets {h}x{w}x{c} maps: put a {{\"type\": \"flatten\"}} before it"
                    ));
                }
                Shape::Chars => {
                    return Err("reads characters: put an embedding first".into());
                }
            };
            (
                out,
                vec![
                    param(prefix, "weight", vec![n, inp]),
                    param(prefix, "bias", vec![n]),
                ],
                (n * inp) as u64,
            )
        }
        LayerKind::Dropout { rate: r } => {
            rate("rate", *r)?;
            if input == Shape::Chars {
                return Err("reads characters: put an embedding first".into());
            }
            (input, Vec::new(), 0)
        }
        LayerKind::Activation { activation } => {
            softmax_not_last(activation)?;
            if input == Shape::Chars {
                return Err("reads characters: put an embedding first".into());
            }
            (input, Vec::new(), 0)
        }
        LayerKind::Embedding { dim } => {
            if input != Shape::Chars {
                return Err(match input {
                    Shape::Seq(_) => {
                        "comes after another layer: an embedding reads the characters, first".into()
                    }
                    _ => "needs a text input (\"input\": \"chars\")".into(),
                });
            }
            within("dim", *dim, MAX_UNITS)?;
            let v = vocab.unwrap_or(0);
            (
                Shape::Seq(*dim),
                vec![param(prefix, "weight", vec![v, *dim])],
                0,
            )
        }
        LayerKind::Rnn {
            units,
            layers,
            dropout,
            recurrent_dropout,
        }
        | LayerKind::Gru {
            units,
            layers,
            dropout,
            recurrent_dropout,
        }
        | LayerKind::Lstm {
            units,
            layers,
            dropout,
            recurrent_dropout,
        } => {
            let Shape::Seq(inp) = input else {
                return Err(match input {
                    Shape::Chars => "reads characters: put an embedding first".into(),
                    _ => "needs a text input: a recurrent layer reads a sequence".into(),
                });
            };
            within("units", *units, MAX_UNITS)?;
            within("layers", *layers, MAX_STACKED)?;
            rate("dropout", *dropout)?;
            rate("recurrent_dropout", *recurrent_dropout)?;
            let gates = match kind {
                LayerKind::Rnn { .. } => Cell::Rnn,
                LayerKind::Gru { .. } => Cell::Gru,
                _ => Cell::Lstm,
            }
            .gates();
            let (mut params, mut macs) = (Vec::new(), 0u64);
            for l in 0..*layers {
                let i = if l == 0 { inp } else { *units };
                let g = gates * units;
                params.push(param(prefix, &format!("weight_ih_l{l}"), vec![g, i]));
                params.push(param(prefix, &format!("weight_hh_l{l}"), vec![g, *units]));
                params.push(param(prefix, &format!("bias_ih_l{l}"), vec![g]));
                params.push(param(prefix, &format!("bias_hh_l{l}"), vec![g]));
                macs += (g * (i + units)) as u64;
            }
            (Shape::Seq(*units), params, macs)
        }
        LayerKind::Transformer {
            blocks,
            heads,
            dim_feedforward,
            context,
            dropout,
        } => {
            let Shape::Seq(d) = input else {
                return Err(match input {
                    Shape::Chars => "reads characters: put an embedding first".into(),
                    _ => "needs a text input: a Transformer reads a sequence".into(),
                });
            };
            within("blocks", *blocks, MAX_BLOCKS)?;
            within("heads", *heads, MAX_HEADS)?;
            within("dim_feedforward", *dim_feedforward, MAX_FEEDFORWARD)?;
            rate("dropout", *dropout)?;
            if !(4..=MAX_CONTEXT).contains(context) {
                return Err(format!("has context {context}: use 4 to {MAX_CONTEXT}"));
            }
            if !d.is_multiple_of(*heads) {
                return Err(format!(
                    "gets {d} values per character, which {heads} heads cannot share: \
                     make the embedding's dim a multiple of heads"
                ));
            }
            let mut params = vec![param(prefix, "pos.weight", vec![*context, d])];
            for b in 0..*blocks {
                params.extend(block_params(
                    &param(prefix, &format!("layers.{b}"), Vec::new()).name,
                    d,
                    *dim_feedforward,
                ));
            }
            params.push(param(prefix, "norm.weight", vec![d]));
            params.push(param(prefix, "norm.bias", vec![d]));
            // Per character: the four projections and the feed-forward, and
            // attention's scores and weighted sum over a full context.
            let per_block = 4 * d * d + 2 * d * dim_feedforward + 2 * context * d;
            (Shape::Seq(d), params, (blocks * per_block) as u64)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::super::spec::{self, PRESETS};
    use super::*;

    fn plan(json: &str, vocab: Option<usize>) -> Result<Plan> {
        Plan::new(&NetworkSpec::from_json(json)?, vocab)
    }

    #[test]
    fn the_seed_cnn_has_the_hand_written_shapes_and_names() {
        let p = Plan::new(&spec::seed_cnn(), None).unwrap();
        let shapes: Vec<String> = p.layers.iter().map(|l| l.output.describe()).collect();
        assert_eq!(
            shapes,
            [
                "26x26x32", "13x13x32", "11x11x64", "5x5x64", "1600", "64", "10"
            ]
        );
        let names: Vec<&str> = p.params().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv1.weight",
                "conv1.bias",
                "conv2.weight",
                "conv2.bias",
                "fc1.weight",
                "fc1.bias",
                "fc2.weight",
                "fc2.bias"
            ]
        );
        // 320 + 18,496 + 102,464 + 650 (Keras's model.summary() of the seed CNN).
        assert_eq!(p.param_count(), 121_930);
        // conv1 26*26*32*9, conv2 11*11*64*288, fc1 1600*64, fc2 640.
        assert_eq!(p.macs(), 194_688 + 2_230_272 + 102_400 + 640);
        assert_eq!(p.outputs, 10);
    }

    #[test]
    fn the_seed_lstm_has_pytorch_names() {
        let p = Plan::new(&spec::seed_lstm(), Some(98)).unwrap();
        let names: Vec<String> = p
            .params()
            .map(|p| format!("{} {:?}", p.name, p.shape))
            .collect();
        assert_eq!(
            names,
            [
                "embed.weight [98, 64]",
                "lstm.weight_ih_l0 [512, 64]",
                "lstm.weight_hh_l0 [512, 128]",
                "lstm.bias_ih_l0 [512]",
                "lstm.bias_hh_l0 [512]",
                "head.weight [98, 128]",
                "head.bias [98]"
            ]
        );
    }

    #[test]
    fn stacked_and_unnamed_layers_are_numbered_from_zero() {
        let p = Plan::new(&spec::preset("lstm-2x256").unwrap(), Some(50)).unwrap();
        let names: Vec<&str> = p.params().map(|p| p.name.as_str()).collect();
        assert_eq!(names[0], "layers.0.weight");
        assert_eq!(names[1], "layers.1.weight_ih_l0");
        assert_eq!(names[5], "layers.1.weight_ih_l1");
        assert_eq!(p.layers[1].params[4].shape, vec![1024, 256]);
        assert_eq!(names.last(), Some(&"layers.2.bias"));
    }

    #[test]
    fn every_preset_plans() {
        for pre in PRESETS {
            let s = (pre.spec)();
            let vocab = s.is_text().then_some(98);
            let p = Plan::new(&s, vocab).unwrap_or_else(|e| panic!("{}: {e}", pre.name));
            assert!(p.param_count() > 0);
        }
    }

    #[test]
    fn specs_that_cannot_work_are_refused_naming_the_layer() {
        let e = |j: &str| plan(j, None).unwrap_err().to_string();
        let head = r#"{"input": [28, 28, 1], "layers": ["#;
        let tail =
            r#", {"type": "flatten"}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#;
        let with = |mid: &str| e(&format!("{head}{mid}{tail}"));
        // 28 -> 26 -> 13 -> 11 -> 5 -> 2 -> 1 -> pool gets 1x1.
        let m = with(
            r#"{"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "max_pool2d", "size": 2},
               {"type": "conv2d", "filters": 4, "kernel": 3}, {"type": "max_pool2d", "size": 2},
               {"type": "avg_pool2d", "size": 2}, {"type": "max_pool2d", "size": 2},
               {"type": "avg_pool2d", "size": 2}"#,
        );
        assert_eq!(
            m,
            "layer 6 (avg_pool2d 2x2) gets 1x1 maps: too small to pool"
        );
        let m = with(r#"{"type": "conv2d", "filters": 0, "kernel": 3}"#);
        assert_eq!(m, "layer 0 (conv2d 0 3x3) has filters 0: use 1 to 512");
        let m = with(r#"{"type": "conv2d", "filters": 100000, "kernel": 3}"#);
        assert!(m.contains("use 1 to 512"), "{m}");
        let m = with(r#"{"type": "dense", "units": 8, "activation": "softmax"}"#);
        assert!(m.contains("softmax, which only the last layer"), "{m}");
        let m = e(
            r#"{"input": [28, 28, 1], "layers": [{"type": "conv2d", "filters": 8, "kernel": 3}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
        );
        assert!(
            m.starts_with("layer 1 (dense 10 softmax) gets 26x26x8 maps: put a"),
            "{m}"
        );
        let m = e(
            r#"{"input": [28, 28, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#,
        );
        assert!(m.starts_with("layer 1 (dense 10) is the last layer"), "{m}");
        let m = e(
            r#"{"input": [28, 28, 1], "layers": [{"type": "flatten"}, {"type": "conv2d", "filters": 2, "kernel": 3}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
        );
        assert!(m.contains("flat vector of 784"), "{m}");
        let m = e(
            r#"{"input": [64, 64, 4], "layers": [{"type": "flatten"}, {"type": "dense", "units": 512}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
        );
        assert!(
            m.starts_with("8394250 parameters: a network here has at most"),
            "{m}"
        );
        let m = e(
            r#"{"input": [28, 28, 1], "layers": [{"type": "embedding", "dim": 8}, {"type": "dense", "units": 10, "activation": "softmax"}]}"#,
        );
        assert!(
            m.starts_with("layer 0 (embedding 8) needs a text input"),
            "{m}"
        );
        let t = plan(
            r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 8}, {"type": "lstm", "units": 8, "dropout": 1.5}, {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
            Some(20),
        )
        .unwrap_err()
        .to_string();
        assert!(t.starts_with("layer 1 (lstm 8) has dropout 1.5"), "{t}");
        let t = plan(
            r#"{"input": "chars", "layers": [{"type": "lstm", "units": 8}, {"type": "dense", "units": "vocab", "activation": "softmax"}]}"#,
            Some(20),
        )
        .unwrap_err()
        .to_string();
        assert!(t.contains("put an embedding first"), "{t}");
        let t = plan(
            r#"{"input": "chars", "layers": [{"type": "embedding", "dim": 8}, {"type": "dense", "units": 12, "activation": "softmax"}]}"#,
            Some(20),
        )
        .unwrap_err()
        .to_string();
        assert!(t.contains("use \"units\": \"vocab\""), "{t}");
    }

    #[test]
    fn a_survey_keeps_the_layers_before_the_one_that_breaks() {
        let s = NetworkSpec::from_json(
            r#"{"input": [28, 28, 1], "layers": [
                {"type": "conv2d", "filters": 8, "kernel": 3, "activation": "relu"},
                {"type": "max_pool2d", "size": 2},
                {"type": "dense", "units": 10, "activation": "softmax"},
                {"type": "flatten"}]}"#,
        )
        .unwrap();
        let survey = Plan::survey(&s, None);
        assert_eq!(survey.layers.len(), 2);
        assert_eq!(survey.layers[1].output.describe(), "13x13x8");
        assert_eq!(survey.broken_layer(), Some(2));
        assert_eq!(survey.param_count(), 80);
        // A whole that fails (here: no softmax last) keeps every layer.
        let s = NetworkSpec::from_json(
            r#"{"input": [28, 28, 1], "layers": [{"type": "flatten"}, {"type": "dense", "units": 10}]}"#,
        )
        .unwrap();
        let survey = Plan::survey(&s, None);
        assert_eq!(survey.layers.len(), 2);
        assert_eq!(survey.broken_layer(), Some(1));
        let ok = Plan::survey(&spec::seed_cnn(), None);
        assert!(ok.problem.is_none());
        assert_eq!(ok.param_count(), 121_930);
    }
}
