//! Backprop with real numbers: what one training step did to one weight,
//! every number read back from the backend after the step. A weight's
//! gradient is a sum of products dy * x over the batch (and, for a
//! convolution, over the output positions): dy the gradient of the
//! layer's pre-activation output, x the input value the weight multiplied.
//! The step reads the layer's x and dy, the parameter before and after,
//! its gradient as the kernel summed it, and Adam's moments, in one go;
//! [`ParamStep::weight`] then lists one weight's products, their sum (which
//! equals the kernel's gradient up to the order of float additions) and
//! the Adam update that followed.

use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};
use crate::nn::classifier::Classifier;
use crate::nn::network::Layer;
use crate::params::AdamParams;

use super::adam::Adam;

/// Where a parameter sits, and the shapes its products run over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Geometry {
    /// A k x k convolution reading [n, c, h, w] into [n, o, oh, ow].
    Conv {
        c: usize,
        h: usize,
        w: usize,
        o: usize,
        k: usize,
        oh: usize,
        ow: usize,
    },
    /// A dense layer reading [n, inputs] into [n, outputs].
    Dense { inputs: usize, outputs: usize },
}

/// One parameter tensor of a convolution or dense layer, as one training
/// step left it: everything [`ParamStep::weight`] needs, read back.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamStep {
    /// "conv1.weight", "fc2.bias".
    pub name: String,
    pub shape: Vec<usize>,
    pub geometry: Geometry,
    /// Whether this is the layer's bias (whose x is 1).
    pub bias: bool,
    /// Images in the batch.
    pub batch: usize,
    /// The step Adam took (counting from 1).
    pub step: u32,
    /// The layer's input x [batch, ...] and the gradient of its
    /// pre-activation output dy [batch, ...] (the mean loss's: each
    /// image's share carries the 1 / batch).
    pub x: Vec<f32>,
    pub dy: Vec<f32>,
    /// The parameter before the step, its gradient and the parameter after.
    pub before: Vec<f32>,
    pub grad: Vec<f32>,
    pub after: Vec<f32>,
    /// Adam's moments after the step, and what its kernel was given; None
    /// when the optimizer left this parameter alone (a frozen layer).
    pub moments: Option<(Vec<f32>, Vec<f32>)>,
    pub adam: Option<AdamParams>,
}

/// One product dy * x of a weight's gradient.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Term {
    /// The image in the batch.
    pub image: usize,
    /// A convolution's output position (row, column); None for a dense layer.
    pub at: Option<(usize, usize)>,
    pub dy: f32,
    /// 1 for a bias.
    pub x: f32,
}

impl Term {
    pub fn product(&self) -> f32 {
        self.dy * self.x
    }
}

/// A weight's gradient as its products.
#[derive(Clone, Debug, PartialEq)]
pub struct Terms {
    /// How many products the gradient sums (batch, or batch * oh * ow).
    pub count: usize,
    /// Their sum (added in f64).
    pub sum: f32,
    /// The sum of their |values|: how much cancels in `sum`.
    pub magnitude: f32,
    /// The largest by |product|, largest first.
    pub largest: Vec<Term>,
    /// The sum of the others: sum = largest's products + rest.
    pub rest: f32,
    /// Each image's share of the sum [batch].
    pub per_image: Vec<f32>,
}

/// Adam's update of one weight: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2)
/// g^2, after = before - lr * m_hat / (sqrt(v_hat) + eps), with m_hat =
/// m / (1 - b1^step) and v_hat = v / (1 - b2^step).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamUpdate {
    /// The moments after the step, read back.
    pub m: f32,
    pub v: f32,
    /// What the kernel was given.
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub bias_correction1: f32,
    pub bias_correction2: f32,
    /// m / bias_correction1 and v / bias_correction2, as the kernel forms them.
    pub m_hat: f32,
    pub v_hat: f32,
}

/// What one training step did to one weight.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightStep {
    pub name: String,
    /// [o, c, m, n] of a convolution's weight, [o, i] of a dense one's, [o]
    /// of a bias.
    pub index: Vec<usize>,
    pub step: u32,
    pub before: f32,
    /// The gradient as the kernel computed it.
    pub grad: f32,
    pub terms: Terms,
    pub adam: Option<AdamUpdate>,
    pub after: f32,
}

impl ParamStep {
    /// The flat index of `index` in the parameter, or why it is not one.
    pub fn flat(&self, index: &[usize]) -> Result<usize> {
        if index.len() != self.shape.len() || index.iter().zip(&self.shape).any(|(i, s)| i >= s) {
            return Err(Error::Input {
                what: "weight",
                problem: format!(
                    "{}{index:?} is outside its shape {:?}",
                    self.name, self.shape
                ),
            });
        }
        Ok(index
            .iter()
            .zip(&self.shape)
            .fold(0, |flat, (i, s)| flat * s + i))
    }

    /// One weight (or bias) at `index`: its value before and after, the
    /// kernel's gradient, its products (the `top` largest of them listed),
    /// and Adam's update.
    pub fn weight(&self, index: &[usize], top: usize) -> Result<WeightStep> {
        let flat = self.flat(index)?;
        let mut terms = Vec::new();
        match self.geometry {
            Geometry::Conv {
                c, h, w, o, oh, ow, ..
            } => {
                let (oc, cc, m, n) = if self.bias {
                    (index[0], 0, 0, 0)
                } else {
                    (index[0], index[1], index[2], index[3])
                };
                for b in 0..self.batch {
                    for y in 0..oh {
                        for xx in 0..ow {
                            let dy = self.dy[((b * o + oc) * oh + y) * ow + xx];
                            let x = if self.bias {
                                1.0
                            } else {
                                self.x[((b * c + cc) * h + y + m) * w + xx + n]
                            };
                            terms.push(Term {
                                image: b,
                                at: Some((y, xx)),
                                dy,
                                x,
                            });
                        }
                    }
                }
            }
            Geometry::Dense { inputs, outputs } => {
                let (oi, ii) = (index[0], if self.bias { 0 } else { index[1] });
                for b in 0..self.batch {
                    terms.push(Term {
                        image: b,
                        at: None,
                        dy: self.dy[b * outputs + oi],
                        x: if self.bias {
                            1.0
                        } else {
                            self.x[b * inputs + ii]
                        },
                    });
                }
            }
        }
        let mut per_image = vec![0.0f64; self.batch];
        for t in &terms {
            per_image[t.image] += t.product() as f64;
        }
        let sum: f64 = per_image.iter().sum();
        let magnitude: f64 = terms.iter().map(|t| t.product().abs() as f64).sum();
        terms.sort_by(|a, b| b.product().abs().total_cmp(&a.product().abs()));
        let count = terms.len();
        terms.truncate(top);
        let shown: f64 = terms.iter().map(|t| t.product() as f64).sum();
        let adam = match (&self.moments, &self.adam) {
            (Some((m, v)), Some(p)) => Some(AdamUpdate {
                m: m[flat],
                v: v[flat],
                lr: p.lr,
                beta1: p.beta1,
                beta2: p.beta2,
                eps: p.eps,
                bias_correction1: p.bias_correction1,
                bias_correction2: p.bias_correction2,
                m_hat: m[flat] / p.bias_correction1,
                v_hat: v[flat] / p.bias_correction2,
            }),
            _ => None,
        };
        Ok(WeightStep {
            name: self.name.clone(),
            index: index.to_vec(),
            step: self.step,
            before: self.before[flat],
            grad: self.grad[flat],
            terms: Terms {
                count,
                sum: sum as f32,
                magnitude: magnitude as f32,
                largest: terms,
                rest: (sum - shown) as f32,
                per_image: per_image.iter().map(|&s| s as f32).collect(),
            },
            adam,
            after: self.after[flat],
        })
    }
}

/// The weights the single-step view traces: the first convolution's (whose
/// x is the drawing itself, so its products point at pixels) and the last
/// dense layer's (whose dy is each class's error), "conv1.weight" and
/// "fc2.weight" in the seed CNN; either is absent from a network without
/// such a layer.
pub fn shown_weights<B: Backend>(model: &Classifier<B>) -> Vec<String> {
    let layers = &model.net().layers;
    let conv = layers.iter().find_map(|l| match l {
        Layer::Conv2d(c) => Some(c.weight.name.clone()),
        _ => None,
    });
    let dense = layers.iter().rev().find_map(|l| match l {
        Layer::Dense(d) => Some(d.weight.name.clone()),
        _ => None,
    });
    conv.into_iter().chain(dense).collect()
}

/// The parameter named `name` and its layer, when it is a convolution's or
/// a dense layer's weight or bias (the ones shown as products).
pub(crate) fn locate<B: Backend>(model: &Classifier<B>, name: &str) -> Result<(usize, usize)> {
    let net = model.net();
    let not = |why: &str| Error::Input {
        what: "weight",
        problem: format!("{name}: {why}"),
    };
    let p = net
        .params()
        .iter()
        .position(|p| p.name == name)
        .ok_or_else(|| not("the network has no parameter of that name"))?;
    let i = net.layer_of(name).expect("every parameter is in a layer");
    match net.layers[i] {
        Layer::Conv2d(_) | Layer::Dense(_) => Ok((p, i)),
        _ => Err(not(
            "only a convolution's or a dense layer's parameters are shown as products",
        )),
    }
}

/// After a training step of `batch` images on `model` with `opt`: the
/// parameters named `names` (each a conv2d's or dense layer's weight or
/// bias), `before` being the weights the step started from in the
/// parameters' order. One read-back for all of them.
pub(crate) async fn read_params<B: Backend>(
    be: &B,
    model: &Classifier<B>,
    opt: &Adam<B>,
    before: &[B::Tensor],
    batch: usize,
    names: &[&str],
) -> Result<Vec<ParamStep>> {
    let net = model.net();
    let a = model.cached_acts(batch).ok_or_else(|| Error::Input {
        what: "training step",
        problem: "no step of this batch size has run: take a step first".into(),
    })?;
    let params = net.params();
    let mut wanted: Vec<&B::Tensor> = Vec::new();
    let mut steps = Vec::new();
    for &name in names {
        let (p, i) = locate(model, name)?;
        let not = |why: &str| Error::Input {
            what: "weight",
            problem: format!("{name}: {why}"),
        };
        let (geometry, bias) = match &net.layers[i] {
            Layer::Conv2d(c) => {
                let x = net
                    .input_of(a, i)
                    .ok_or_else(|| not("its layer reads no input"))?;
                let (xs, ws) = (x.shape(), c.weight.value.shape());
                let y = a.output(i).expect("a convolution has an output").shape();
                (
                    Geometry::Conv {
                        c: xs[1],
                        h: xs[2],
                        w: xs[3],
                        o: ws[0],
                        k: ws[2],
                        oh: y[2],
                        ow: y[3],
                    },
                    c.bias.name == name,
                )
            }
            Layer::Dense(d) => {
                let ws = d.weight.value.shape();
                (
                    Geometry::Dense {
                        inputs: ws[1],
                        outputs: ws[0],
                    },
                    d.bias.name == name,
                )
            }
            _ => unreachable!("locate found a convolution or a dense layer"),
        };
        let x = net
            .input_of(a, i)
            .ok_or_else(|| not("its layer reads no input"))?;
        let dy = a
            .grad(i)
            .ok_or_else(|| not("no backward pass has run over this batch"))?;
        let moments = opt.moments(name);
        wanted.extend([x, dy, &before[p], &params[p].grad, &params[p].value]);
        if let Some((m, v)) = moments {
            wanted.extend([m, v]);
        }
        steps.push(ParamStep {
            name: name.to_string(),
            shape: params[p].value.shape().to_vec(),
            geometry,
            bias,
            batch,
            step: opt.step,
            x: Vec::new(),
            dy: Vec::new(),
            before: Vec::new(),
            grad: Vec::new(),
            after: Vec::new(),
            moments: moments.map(|_| (Vec::new(), Vec::new())),
            adam: moments.and_then(|_| opt.last_params(params[p].value.len())),
        });
    }
    let mut data = be.read(&wanted).await?.into_iter();
    let mut next = || data.next().unwrap_or_default();
    for s in &mut steps {
        s.x = next();
        s.dy = next();
        s.before = next();
        s.grad = next();
        s.after = next();
        if let Some((m, v)) = &mut s.moments {
            *m = next();
            *v = next();
        }
    }
    Ok(steps)
}
