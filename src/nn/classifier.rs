//! An image classifier: any network whose input is an image and whose
//! answer is one probability per class, with the class names. The seed's
//! digit CNN is one (the default for files without a spec); a person's own
//! classes are another.

use std::collections::BTreeMap;

use rand::Rng;

use super::Param;
use super::network::{Acts, Grads, Mode, Network, Seed, Until};
use super::spec::{self, Input, NETWORK_KEY, NetworkSpec};
use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::weights::{self, Expected};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
pub const PIXELS: usize = SIDE * SIDE;
/// The digits' classes.
pub const CLASSES: usize = 10;
/// The metadata key of the class names in a weights file.
pub const CLASSES_KEY: &str = "classes";
/// Bounds on a person's own classes.
pub const MAX_CLASSES: usize = 64;
pub const MAX_CLASS_NAME: usize = 32;

/// The digits' class names, "0" to "9".
pub fn digit_classes() -> Vec<String> {
    (0..CLASSES).map(|d| d.to_string()).collect()
}

/// Loss and hits of one training batch, read back once per step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the batch, in nats.
    pub loss: f32,
    pub correct: usize,
    pub batch: usize,
}

/// One image's pass seen from inside: the probabilities and every layer's
/// output (empty for a layer without its own: flatten, the final softmax).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inside {
    pub probs: Vec<f32>,
    pub layers: Vec<Vec<f32>>,
}

pub struct Classifier<B: Backend> {
    net: Network<B>,
    classes: Vec<String>,
    /// Buffers of the batch sizes used lately (the page alternates training
    /// batches, one drawing and evaluation chunks), the latest last.
    acts: Vec<Acts<B>>,
    /// How many batch sizes' buffers are kept at once.
    kept_sizes: usize,
}

/// Batch sizes whose buffers are kept at once unless told otherwise: the
/// page's three (a training batch, one drawing, an evaluation chunk).
const KEPT_BATCH_SIZES: usize = 3;

/// The class names, checked against the network's outputs.
fn check_classes(classes: &[String], outputs: usize) -> Result<()> {
    let bad = |problem: String| {
        Err(Error::Input {
            what: "classes",
            problem,
        })
    };
    if classes.len() != outputs {
        return bad(format!(
            "{} class names for a network with {outputs} outputs",
            classes.len()
        ));
    }
    if !(2..=MAX_CLASSES).contains(&classes.len()) {
        return bad(format!("{}: use 2 to {MAX_CLASSES} classes", classes.len()));
    }
    for (i, c) in classes.iter().enumerate() {
        let n = c.chars().count();
        if n == 0 || n > MAX_CLASS_NAME || c.chars().any(char::is_control) {
            return bad(format!(
                "class {i} is named {:?}: use 1 to {MAX_CLASS_NAME} printable characters",
                c.chars().take(MAX_CLASS_NAME + 1).collect::<String>()
            ));
        }
        if classes[..i].contains(c) {
            return bad(format!("two classes are named {c:?}"));
        }
    }
    Ok(())
}

/// Class names as a file may hold them: 2 to [`MAX_CLASSES`], each 1 to
/// [`MAX_CLASS_NAME`] printable characters, no two alike.
pub fn check_class_names(classes: &[String]) -> Result<()> {
    check_classes(classes, classes.len())
}

impl<B: Backend> Classifier<B> {
    /// Fresh weights for `spec` (an image network) with these classes.
    pub fn init(
        be: &B,
        spec: &NetworkSpec,
        classes: Vec<String>,
        rng: &mut impl Rng,
    ) -> Result<Self> {
        if spec.is_text() {
            return Err(Error::Input {
                what: "network",
                problem: "it reads text (\"input\": \"chars\"): a classifier reads images".into(),
            });
        }
        let net = Network::init(be, spec, None, rng)?;
        Self::with(net, classes)
    }

    /// The seed CNN, digits 0 to 9, fresh weights.
    pub fn seed_digits(be: &B, rng: &mut impl Rng) -> Result<Self> {
        Self::init(be, &spec::seed_cnn(), digit_classes(), rng)
    }

    fn with(net: Network<B>, classes: Vec<String>) -> Result<Self> {
        check_classes(&classes, net.plan().outputs)?;
        Ok(Self {
            net,
            classes,
            acts: Vec::new(),
            kept_sizes: KEPT_BATCH_SIZES,
        })
    }

    pub fn net(&self) -> &Network<B> {
        &self.net
    }

    /// The network, for a backward pass over buffers of [`Self::acts_for`].
    pub(crate) fn net_mut(&mut self) -> &mut Network<B> {
        &mut self.net
    }

    /// The cached buffers of `n` images, as the last pass over them left
    /// them (after [`Self::train_step`], its activations and gradients).
    pub(crate) fn cached_acts(&self, n: usize) -> Option<&Acts<B>> {
        self.acts.iter().rev().find(|a| a.rows == n)
    }

    pub fn spec(&self) -> &NetworkSpec {
        self.net.spec()
    }

    pub fn classes(&self) -> &[String] {
        &self.classes
    }

    /// Whether this classifier reads MNIST digits: a 28x28x1 input and the
    /// classes 0 to 9 in order.
    pub fn is_digits(&self) -> bool {
        self.input_len() == PIXELS && self.classes == digit_classes()
    }

    /// Values of one input image (height x width x channels).
    pub fn input_len(&self) -> usize {
        match self.spec().input {
            Input::Image {
                height,
                width,
                channels,
            } => height * width * channels,
            Input::Chars => 0,
        }
    }

    /// Every parameter, in the plan's order.
    pub fn params_mut(&mut self) -> Vec<&mut Param<B>> {
        self.net.params_mut()
    }

    pub fn params(&self) -> Vec<&Param<B>> {
        self.net.params()
    }

    /// The buffers of `n` images: the cached ones of that size (taken out:
    /// give them back with [`Self::keep_acts`]) or new ones.
    pub(crate) fn acts_for(&mut self, be: &B, n: usize) -> Acts<B> {
        match self.acts.iter().position(|a| a.rows == n) {
            Some(i) => self.acts.remove(i),
            None => self.net.acts(be, 1, n),
        }
    }

    /// Keep the buffers of `sizes` batch sizes at once (at least 1): a
    /// server batching requests into a few fixed sizes keeps them all
    /// rather than allocating again as the sizes alternate.
    pub fn keep_batch_sizes(&mut self, sizes: usize) {
        self.kept_sizes = sizes.max(1);
        while self.acts.len() > self.kept_sizes {
            self.acts.remove(0);
        }
    }

    pub(crate) fn keep_acts(&mut self, a: Acts<B>) {
        if self.acts.len() >= self.kept_sizes {
            self.acts.remove(0);
        }
        self.acts.push(a);
    }

    /// How many whole images `images` holds, or why it holds none.
    pub(crate) fn images_of(&self, images: &[f32]) -> Result<usize> {
        let len = self.input_len();
        if len == 0 || images.is_empty() || !images.len().is_multiple_of(len) {
            return Err(Error::Input {
                what: "images",
                problem: format!("{} values are not whole images of {len}", images.len()),
            });
        }
        Ok(images.len() / len)
    }

    /// Class probabilities [n * classes] for `images` ([n, h, w, c] in 0..1).
    pub async fn predict(&mut self, be: &B, images: &[f32]) -> Result<Vec<f32>> {
        Ok(self.forward_and_read(be, images, false).await?.probs)
    }

    /// [`Self::predict`] plus every layer's output, read back together (one
    /// wait for the GPU).
    pub async fn predict_inside(&mut self, be: &B, images: &[f32]) -> Result<Inside> {
        self.forward_and_read(be, images, true).await
    }

    async fn forward_and_read(&mut self, be: &B, images: &[f32], inside: bool) -> Result<Inside> {
        let n = self.images_of(images)?;
        let mut a = self.acts_for(be, n);
        let out = self.record_forward(be, &mut a, images, Mode::Infer, Until::Probs);
        let out = match out {
            Ok(()) => {
                let layers = self.net.layers.len();
                let mut wanted = vec![&a.probs];
                let outputs: Vec<Option<&B::Tensor>> = (0..layers).map(|i| a.output(i)).collect();
                if inside {
                    wanted.extend(outputs.iter().flatten());
                }
                be.read(&wanted).await.map(|mut v| {
                    let probs = v.remove(0);
                    let mut it = v.into_iter();
                    let layers = if inside {
                        outputs
                            .iter()
                            .map(|o| o.map(|_| it.next().unwrap_or_default()).unwrap_or_default())
                            .collect()
                    } else {
                        Vec::new()
                    };
                    Inside { probs, layers }
                })
            }
            Err(e) => Err(e),
        };
        self.keep_acts(a);
        out
    }

    /// Write `images` into `a` and record the forward pass over them.
    pub(crate) fn record_forward(
        &self,
        be: &B,
        a: &mut Acts<B>,
        images: &[f32],
        mode: Mode,
        until: Until<'_>,
    ) -> Result<()> {
        let x = a
            .images
            .as_mut()
            .expect("an image network's buffers hold images");
        be.write(x, images)?;
        self.net.forward(be, a, mode, until)
    }

    /// One step of training on a batch: forward, softmax cross-entropy,
    /// backward, and `update` (the optimizer) over the parameters; one read-back.
    pub async fn train_step(
        &mut self,
        be: &B,
        images: &[f32],
        labels: &[u32],
        mode: Mode,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<StepStats> {
        let n = self.images_of(images)?;
        if labels.len() != n {
            return Err(Error::Input {
                what: "labels",
                problem: format!("{} labels for {n} images", labels.len()),
            });
        }
        let mut a = self.acts_for(be, n);
        let out = self.record_train(be, &mut a, images, labels, mode, update);
        let stats = match out {
            Ok(()) => self.read_stats(be, &a, labels).await,
            Err(e) => Err(e),
        };
        self.keep_acts(a);
        stats
    }

    fn record_train(
        &mut self,
        be: &B,
        a: &mut Acts<B>,
        images: &[f32],
        labels: &[u32],
        mode: Mode,
        update: impl FnOnce(&B, &mut [&mut Param<B>]) -> Result<()>,
    ) -> Result<()> {
        self.record_forward(be, a, images, mode, Until::Loss(labels))?;
        for p in self.net.params_mut() {
            be.fill_zero(&mut p.grad);
        }
        // Mean over the batch: each row's gradient is scaled by 1/n.
        self.net.backward(
            be,
            a,
            Seed::Loss {
                scale: 1.0 / labels.len() as f32,
            },
            Grads::PARAMS,
        )?;
        update(be, &mut self.net.params_mut())
    }

    async fn read_stats(&self, be: &B, a: &Acts<B>, labels: &[u32]) -> Result<StepStats> {
        let loss = a.loss().expect("a loss pass made the losses");
        let out = be.read(&[loss, &a.probs]).await?;
        let (loss, probs) = (&out[0], &out[1]);
        let correct = probs
            .chunks(self.classes.len())
            .zip(labels)
            .filter(|(p, l)| argmax(p) == **l as usize)
            .count();
        Ok(StepStats {
            loss: loss.iter().sum::<f32>() / labels.len() as f32,
            correct,
            batch: labels.len(),
        })
    }

    /// The output layer's bias: where the page's NaN drill writes, as a
    /// diverging learning rate would.
    pub fn output_bias_mut(&mut self) -> &mut Param<B> {
        self.net
            .params_mut()
            .pop()
            .expect("a classifier has parameters")
    }

    /// A classifier from a safetensors file: its network from the metadata
    /// key [`NETWORK_KEY`] (the seed CNN when there is none, so files saved
    /// before specs load) and its classes from [`CLASSES_KEY`] (the digits
    /// when there are none). Every tensor is checked before any is used.
    pub fn from_safetensors(be: &B, bytes: &[u8]) -> Result<Self> {
        let metadata = weights::read_metadata(bytes)?;
        let spec = weights::network_of(&metadata)?.unwrap_or_else(spec::seed_cnn);
        if spec.is_text() {
            return Err(Error::WeightsFile(
                "this file holds a text model (its network reads characters), not a classifier"
                    .into(),
            ));
        }
        let plan = super::plan::Plan::new(&spec, None)?;
        let classes = match metadata.get(CLASSES_KEY) {
            Some(text) => serde_json::from_str::<Vec<String>>(text).map_err(|e| {
                Error::WeightsFile(format!(
                    "the class names in the metadata are not a JSON list of names: {}",
                    e.to_string().chars().take(120).collect::<String>()
                ))
            })?,
            None if plan.outputs == CLASSES => digit_classes(),
            None => {
                return Err(Error::WeightsFile(format!(
                    "the network has {} outputs but the file names no classes (metadata key \"{CLASSES_KEY}\")",
                    plan.outputs
                )));
            }
        };
        check_classes(&classes, plan.outputs)
            .map_err(|e| Error::WeightsFile(format!("the class names in the metadata: {e}")))?;
        let expected: Vec<Expected> = plan
            .params()
            .map(|p| Expected {
                name: &p.name,
                shape: &p.shape,
            })
            .collect();
        let loaded = weights::load(bytes, &expected)?;
        let net = Network::from_tensors(be, &spec, None, &loaded.tensors)?;
        Self::with(net, classes)
    }

    /// A classifier the page can draw for, from a weights file, checked
    /// as the page checks a file it is given (and the model store a file
    /// it is sent): a text model's file is named as such, the network
    /// must read 28x28 single-channel images (what a drawing is
    /// preprocessed into), and every tensor, the spec and the class names
    /// are checked by [`Self::from_safetensors`].
    pub fn from_drawable_file(be: &B, bytes: &[u8]) -> Result<Self> {
        if is_text_file(bytes)? {
            return Err(Error::WeightsFile(
                "this file holds a text model (its network reads characters), not a classifier"
                    .into(),
            ));
        }
        let c = Self::from_safetensors(be, bytes)?;
        if c.input_len() != PIXELS {
            return Err(Error::WeightsFile(format!(
                "the network reads {} values per image: the page draws 28x28 digits (\"input\": [28, 28, 1])",
                c.input_len()
            )));
        }
        Ok(c)
    }

    /// The weights as a safetensors file with PyTorch's names, the network
    /// and the classes in its metadata.
    pub async fn to_safetensors(&self, be: &B) -> Result<Vec<u8>> {
        let tensors = self.net.tensors(be).await?;
        let metadata = BTreeMap::from([
            (NETWORK_KEY.to_string(), self.spec().to_json()),
            (
                CLASSES_KEY.to_string(),
                serde_json::to_string(&self.classes).expect("names serialise"),
            ),
        ]);
        weights::save(&tensors, &metadata)
    }
}

/// Whether a weights file holds a text model: its network reads
/// characters, or, for a file saved before networks were data, it carries a
/// vocabulary.
pub fn is_text_file(bytes: &[u8]) -> Result<bool> {
    let metadata = weights::read_metadata(bytes)?;
    Ok(match weights::network_of(&metadata)? {
        Some(spec) => spec.is_text(),
        None => metadata.contains_key(super::char_model::VOCAB_KEY),
    })
}

/// Index of the largest value (the first on ties).
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}
