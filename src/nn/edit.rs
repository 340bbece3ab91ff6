//! Editing a spec a layer at a time, as the lab's editor does: the fields
//! each kind of layer has, setting one from what a person typed, changing a
//! layer's type, and adding, removing and moving layers. An edit only has
//! to be well formed; whether the network still works is the plan's to say
//! ([`super::plan::Plan::survey`]), on the layer it breaks.

use serde_json::Value;

use super::spec::{Activation, Input, Layer, LayerKind, NetworkSpec, Units};

/// What a field holds, and so how the editor offers it.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    /// A whole number (filters, units, sizes).
    Whole(usize),
    /// A fraction in [0, 1) (dropout rates).
    Rate(f32),
    /// One of a few names (activations, kernel sides).
    Choice {
        value: String,
        options: &'static [&'static str],
    },
}

/// One setting of a layer: its key in the spec's JSON and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub key: &'static str,
    pub value: FieldValue,
}

const ACTIVATIONS: &[&str] = &["linear", "relu", "sigmoid", "tanh"];
const LAST_ACTIVATIONS: &[&str] = &["linear", "relu", "sigmoid", "tanh", "softmax"];
const KERNELS: &[&str] = &["1", "3", "5", "7"];
const POOL_SIZES: &[&str] = &["2", "3", "4"];
const STACKED: &[&str] = &["1", "2", "3", "4"];
/// A Transformer's heads: the embedding's width must divide by them.
const HEADS: &[&str] = &["1", "2", "4", "8"];
/// A text network's output width: the vocabulary, or a count.
const VOCAB: &str = "vocab";

/// The layer types a network reading `input` can hold, in the order the
/// editor offers them.
pub fn types_for(input: Input) -> &'static [&'static str] {
    match input {
        Input::Image { .. } => &[
            "conv2d",
            "max_pool2d",
            "avg_pool2d",
            "flatten",
            "dense",
            "dropout",
            "activation",
        ],
        Input::Chars => &[
            "embedding",
            "rnn",
            "gru",
            "lstm",
            "transformer",
            "dense",
            "dropout",
            "activation",
        ],
    }
}

fn choice(value: impl ToString, options: &'static [&'static str]) -> FieldValue {
    FieldValue::Choice {
        value: value.to_string(),
        options,
    }
}

fn activation(a: Activation) -> FieldValue {
    // Softmax is offered wherever it is set, so the editor can show it;
    // the plan refuses it before the last layer.
    choice(a.name(), LAST_ACTIVATIONS)
}

/// Every setting of `kind`, defaults included, in the editor's order.
pub fn fields(kind: &LayerKind) -> Vec<Field> {
    let f = |key, value| Field { key, value };
    match kind {
        LayerKind::Conv2d {
            filters,
            kernel,
            activation: a,
        } => vec![
            f("filters", FieldValue::Whole(*filters)),
            f("kernel", choice(kernel, KERNELS)),
            f("activation", choice(a.name(), ACTIVATIONS)),
        ],
        LayerKind::MaxPool2d { size } | LayerKind::AvgPool2d { size } => {
            vec![f("size", choice(size, POOL_SIZES))]
        }
        LayerKind::Flatten => Vec::new(),
        LayerKind::Dense {
            units,
            activation: a,
        } => vec![
            f(
                "units",
                match units {
                    Units::Count(n) => FieldValue::Whole(*n),
                    Units::Vocab => choice(VOCAB, &[VOCAB]),
                },
            ),
            f("activation", activation(*a)),
        ],
        LayerKind::Dropout { rate } => vec![f("rate", FieldValue::Rate(*rate))],
        LayerKind::Activation { activation: a } => vec![f("activation", activation(*a))],
        LayerKind::Embedding { dim } => vec![f("dim", FieldValue::Whole(*dim))],
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
        } => vec![
            f("units", FieldValue::Whole(*units)),
            f("layers", choice(layers, STACKED)),
            f("dropout", FieldValue::Rate(*dropout)),
            f("recurrent_dropout", FieldValue::Rate(*recurrent_dropout)),
        ],
        LayerKind::Transformer {
            blocks,
            heads,
            dim_feedforward,
            context,
            dropout,
        } => vec![
            f("blocks", choice(blocks, STACKED)),
            f("heads", choice(heads, HEADS)),
            f("dim_feedforward", FieldValue::Whole(*dim_feedforward)),
            f("context", FieldValue::Whole(*context)),
            f("dropout", FieldValue::Rate(*dropout)),
        ],
    }
}

/// A fresh layer of type `type_name`, carrying over from `from` what both
/// have (a pooling window's size, a recurrent layer's sizes, an
/// activation), so that switching max to average pooling or an LSTM to a
/// GRU changes only that.
pub fn layer_of_type(type_name: &str, from: Option<&LayerKind>) -> Result<LayerKind, String> {
    let act = from.and_then(|k| match k {
        LayerKind::Conv2d { activation, .. }
        | LayerKind::Dense { activation, .. }
        | LayerKind::Activation { activation } => Some(*activation),
        _ => None,
    });
    let size = match from {
        Some(LayerKind::MaxPool2d { size } | LayerKind::AvgPool2d { size }) => *size,
        _ => 2,
    };
    let rec = match from {
        Some(
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
            },
        ) => (*units, *layers, *dropout, *recurrent_dropout),
        _ => (128, 1, 0.0, 0.0),
    };
    let hidden_act = act
        .filter(|a| *a != Activation::Softmax)
        .unwrap_or(Activation::Relu);
    let (units, layers, dropout, recurrent_dropout) = rec;
    Ok(match type_name {
        "conv2d" => LayerKind::Conv2d {
            filters: 16,
            kernel: 3,
            activation: hidden_act,
        },
        "max_pool2d" => LayerKind::MaxPool2d { size },
        "avg_pool2d" => LayerKind::AvgPool2d { size },
        "flatten" => LayerKind::Flatten,
        "dense" => LayerKind::Dense {
            units: Units::Count(64),
            activation: act.unwrap_or(Activation::Relu),
        },
        "dropout" => LayerKind::Dropout { rate: 0.25 },
        "activation" => LayerKind::Activation {
            activation: hidden_act,
        },
        "embedding" => LayerKind::Embedding { dim: 64 },
        "rnn" => LayerKind::Rnn {
            units,
            layers,
            dropout,
            recurrent_dropout,
        },
        "gru" => LayerKind::Gru {
            units,
            layers,
            dropout,
            recurrent_dropout,
        },
        "lstm" => LayerKind::Lstm {
            units,
            layers,
            dropout,
            recurrent_dropout,
        },
        // The transformer-char preset's body.
        "transformer" => match from {
            Some(t @ LayerKind::Transformer { .. }) => t.clone(),
            _ => LayerKind::Transformer {
                blocks: 2,
                heads: 4,
                dim_feedforward: 512,
                context: 128,
                dropout: 0.0,
            },
        },
        other => {
            return Err(format!(
                "no layer type {:?}",
                other.chars().take(24).collect::<String>()
            ));
        }
    })
}

/// `kind` with its `key` set from `text` as typed. The value must be of
/// the field's sort (a whole number, a rate, one of the choices); whether
/// it is in range is the plan's to say, on the layer.
pub fn set_field(kind: &LayerKind, key: &str, text: &str) -> Result<LayerKind, String> {
    let field = fields(kind)
        .into_iter()
        .find(|f| f.key == key)
        .ok_or_else(|| format!("a {} layer has no setting {key:?}", kind.type_name()))?;
    let text = text.trim();
    let value = match field.value {
        FieldValue::Whole(_) => text
            .parse::<u64>()
            .map(Value::from)
            .map_err(|_| format!("{key}: {:?} is not a whole number", short(text)))?,
        FieldValue::Rate(_) => text
            .parse::<f32>()
            .ok()
            .filter(|r| r.is_finite())
            .map(Value::from)
            .ok_or_else(|| format!("{key}: {:?} is not a number", short(text)))?,
        FieldValue::Choice { options, .. } => {
            if !options.contains(&text) {
                return Err(format!(
                    "{key}: {:?} is not one of {}",
                    short(text),
                    options.join(", ")
                ));
            }
            text.parse::<u64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::from(text))
        }
    };
    let mut json = serde_json::to_value(kind).expect("a layer serialises");
    if let Value::Object(m) = &mut json {
        m.insert(key.to_string(), value);
    }
    serde_json::from_value(json).map_err(|e| format!("{key}: {}", short(&e.to_string())))
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// One change to a spec's layers.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// A new layer of this type at this position (the rest move down).
    Insert {
        at: usize,
        type_name: String,
    },
    Remove {
        at: usize,
    },
    /// Swap the layer with the one before (up) or after.
    Move {
        at: usize,
        up: bool,
    },
    SetType {
        at: usize,
        type_name: String,
    },
    SetField {
        at: usize,
        key: String,
        text: String,
    },
}

/// `spec` with `edit` made, or why it cannot be made at all (a position
/// past the end, a value of the wrong sort).
pub fn apply(spec: &NetworkSpec, edit: &Edit) -> Result<NetworkSpec, String> {
    let mut out = spec.clone();
    let n = out.layers.len();
    let check = |at: usize, len: usize| {
        if at < len {
            Ok(())
        } else {
            Err(format!("there is no layer {at}: the network has {n}"))
        }
    };
    match edit {
        Edit::Insert { at, type_name } => {
            check(*at, n + 1)?;
            let from = at.checked_sub(1).and_then(|i| out.layers.get(i));
            let kind = layer_of_type(type_name, from.map(|l| &l.kind))?;
            out.layers.insert(*at, kind.into());
        }
        Edit::Remove { at } => {
            check(*at, n)?;
            out.layers.remove(*at);
        }
        Edit::Move { at, up } => {
            check(*at, n)?;
            let other = if *up { at.checked_sub(1) } else { Some(at + 1) };
            match other.filter(|&o| o < n) {
                Some(o) => out.layers.swap(*at, o),
                None => return Err(format!("layer {at} cannot move further")),
            }
        }
        Edit::SetType { at, type_name } => {
            check(*at, n)?;
            let old = &out.layers[*at];
            if old.kind.type_name() != type_name {
                // A new type is a new layer: its old name would mislead.
                out.layers[*at] = Layer {
                    kind: layer_of_type(type_name, Some(&old.kind))?,
                    name: None,
                };
            }
        }
        Edit::SetField { at, key, text } => {
            check(*at, n)?;
            let layer = &mut out.layers[*at];
            layer.kind = set_field(&layer.kind, key, text)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::plan::Plan;
    use super::super::spec::{self, PRESETS};
    use super::*;

    fn set(at: usize, key: &str, text: &str) -> Edit {
        Edit::SetField {
            at,
            key: key.into(),
            text: text.into(),
        }
    }

    #[test]
    fn the_seed_cnn_becomes_the_avg_pool_sigmoid_variant() {
        let mut s = spec::seed_cnn();
        for at in [1, 3] {
            s = apply(
                &s,
                &Edit::SetType {
                    at,
                    type_name: "avg_pool2d".into(),
                },
            )
            .unwrap();
        }
        s = apply(&s, &set(5, "activation", "sigmoid")).unwrap();
        assert_eq!(
            s.describe(),
            "conv2d 32 3x3 relu -> avg_pool2d 2x2 -> conv2d 64 3x3 relu -> avg_pool2d 2x2 -> \
             flatten -> dense 64 sigmoid -> dense 10 softmax"
        );
        // The dense layer keeps its name; the pools, new layers, lose theirs.
        assert_eq!(s.layers[5].name.as_deref(), Some("fc1"));
        assert_eq!(s.layers[1].name, None);
        assert_eq!(Plan::new(&s, None).unwrap().param_count(), 121_930);
    }

    #[test]
    fn every_field_of_every_preset_round_trips_through_its_text() {
        for p in PRESETS {
            let s = (p.spec)();
            for (at, layer) in s.layers.iter().enumerate() {
                for f in fields(&layer.kind) {
                    let text = match &f.value {
                        FieldValue::Whole(n) => n.to_string(),
                        FieldValue::Rate(r) => r.to_string(),
                        FieldValue::Choice { value, .. } => value.clone(),
                    };
                    let again = apply(&s, &set(at, f.key, &text)).unwrap();
                    assert_eq!(again, s, "{} layer {at} {}", p.name, f.key);
                }
            }
        }
    }

    #[test]
    fn the_cell_changes_and_the_sizes_stay() {
        let s = spec::seed_lstm();
        let s = apply(
            &s,
            &Edit::SetType {
                at: 1,
                type_name: "gru".into(),
            },
        )
        .unwrap();
        assert_eq!(
            s.layers[1].kind,
            LayerKind::Gru {
                units: 128,
                layers: 1,
                dropout: 0.2,
                recurrent_dropout: 0.2
            }
        );
        let s = apply(&s, &set(1, "layers", "2")).unwrap();
        assert_eq!(
            Plan::new(&s, Some(40)).unwrap().layers[1].label,
            "gru 128 x2"
        );
    }

    #[test]
    fn the_lstm_becomes_a_transformer_and_its_heads_must_divide_the_width() {
        let s = apply(
            &spec::seed_lstm(),
            &Edit::SetType {
                at: 1,
                type_name: "transformer".into(),
            },
        )
        .unwrap();
        let plan = Plan::new(&s, Some(40)).unwrap();
        assert_eq!(
            plan.layers[1].label,
            "transformer 2 blocks 4 heads ff 512 context 128"
        );
        assert!(types_for(Input::Chars).contains(&"transformer"));
        // 3 heads do not divide the embedding's 64: not offered, and the
        // plan would name the layer.
        assert!(apply(&s, &set(1, "heads", "3")).is_err());
        let s = apply(&s, &set(1, "blocks", "1")).unwrap();
        assert!(Plan::new(&s, Some(40)).unwrap().param_count() < plan.param_count());
    }

    #[test]
    fn layers_are_added_removed_and_moved() {
        let s = spec::seed_cnn();
        let s = apply(
            &s,
            &Edit::Insert {
                at: 6,
                type_name: "dropout".into(),
            },
        )
        .unwrap();
        assert_eq!(s.layers[6].kind, LayerKind::Dropout { rate: 0.25 });
        assert!(Plan::new(&s, None).is_ok());
        // Flatten before the second convolution: the plan names the break.
        let moved = apply(&s, &Edit::Move { at: 4, up: true }).unwrap();
        let moved = apply(&moved, &Edit::Move { at: 3, up: true }).unwrap();
        let survey = Plan::survey(&moved, None);
        assert_eq!(survey.broken_layer(), Some(3));
        let s = apply(&s, &Edit::Remove { at: 6 }).unwrap();
        assert_eq!(s, spec::seed_cnn());
        assert!(apply(&s, &Edit::Move { at: 0, up: true }).is_err());
        assert!(apply(&s, &Edit::Remove { at: 7 }).is_err());
    }

    #[test]
    fn values_of_the_wrong_sort_are_refused_and_out_of_range_ones_left_to_the_plan() {
        let s = spec::seed_cnn();
        let e = apply(&s, &set(0, "filters", "lots")).unwrap_err();
        assert_eq!(e, "filters: \"lots\" is not a whole number");
        assert!(
            apply(&s, &set(0, "kernel", "4"))
                .unwrap_err()
                .contains("not one of 1, 3, 5, 7")
        );
        assert!(
            apply(&s, &set(0, "units", "3"))
                .unwrap_err()
                .contains("no setting")
        );
        assert!(apply(&s, &set(0, "filters", "1e9")).is_err());
        let huge = apply(&s, &set(0, "filters", "100000")).unwrap();
        let survey = Plan::survey(&huge, None);
        assert_eq!(survey.broken_layer(), Some(0));
        assert!(survey.problem.unwrap().message.contains("use 1 to 512"));
        let odd = apply(&s, &set(0, "filters", "\u{202e}٣")).unwrap_err();
        assert!(odd.len() < 80, "{odd}");
        assert!(layer_of_type("attention!", None).is_err());
    }
}
