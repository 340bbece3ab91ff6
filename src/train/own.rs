//! Training a person's own classes: the network they get, from scratch or
//! by transfer from the digit network.
//!
//! Both are the seed CNN with as many outputs as classes, under the seed's
//! names (conv1, conv2, fc1, fc2), so that the file loads wherever a digit
//! file does and exports to PyTorch the same way. By transfer, conv1 and
//! conv2 are copied from a trained digit network and frozen (the run's
//! optimizer never updates them, see [`super::digit_run::DigitRun::freeze`]):
//! a handful of drawings then only has to train fc1 and fc2, the part that
//! says which shapes of ink make which class. From scratch, every layer
//! starts from random weights and trains.

use rand::Rng;

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
use crate::nn::classifier::Classifier;
use crate::nn::spec::{self, Activation, LayerKind, NetworkSpec, Units};

/// The layers transfer learning borrows from the digit network and keeps.
pub const TRANSFERRED: [&str; 2] = ["conv1", "conv2"];

/// How a run of one's own classes starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Start {
    /// Every layer random, every layer trained.
    Scratch,
    /// conv1 and conv2 from the digit network, frozen; fc1 and fc2 new.
    Transfer,
}

/// The seed CNN with `classes` outputs.
pub fn own_spec(classes: usize) -> NetworkSpec {
    let mut s = spec::seed_cnn();
    let last = s.layers.len() - 1;
    s.layers[last].kind = LayerKind::Dense {
        units: Units::Count(classes),
        activation: Activation::Softmax,
    };
    s
}

/// A new classifier of `classes`: random weights, then for
/// [`Start::Transfer`] conv1 and conv2 copied from `digits`, which must
/// have the seed CNN's convolutions (any trained digit file does).
pub fn own_classifier<B: Backend>(
    be: &B,
    start: Start,
    classes: Vec<String>,
    digits: &Classifier<B>,
    rng: &mut impl Rng,
) -> Result<Classifier<B>> {
    let mut own = Classifier::init(be, &own_spec(classes.len()), classes, rng)?;
    if start == Start::Transfer {
        let from = digits.params();
        for p in own.params_mut() {
            if !TRANSFERRED
                .iter()
                .any(|l| p.name.starts_with(&format!("{l}.")))
            {
                continue;
            }
            let src = from.iter().find(|q| q.name == p.name).ok_or_else(|| {
                Error::Input {
                    what: "transfer",
                    problem: format!(
                        "the digit network has no {}: transfer borrows the seed CNN's conv1 and conv2",
                        p.name
                    ),
                }
            })?;
            if src.value.shape() != p.value.shape() {
                return Err(Error::Input {
                    what: "transfer",
                    problem: format!(
                        "the digit network's {} is {:?}, not {:?}: transfer borrows the seed CNN's",
                        p.name,
                        src.value.shape(),
                        p.value.shape()
                    ),
                });
            }
            let len = p.value.len();
            be.copy_slice(&src.value, 0, &mut p.value, 0, len)?;
        }
    }
    Ok(own)
}
