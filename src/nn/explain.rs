//! Why this answer: explanations made by the network's own kernels on the
//! model's backend (GPU or CPU), the backward ones seeded on the logits
//! instead of on a loss ([`Seed::Logits`]), each explanation read back
//! once (the text's twice: its seed needs the prediction).
//!
//! For an image classifier:
//! - [`saliency`]: the gradient of one class's logit (its pre-softmax
//!   score), or of the difference of two ("why 7 and not 1"), with respect
//!   to every input pixel; [`saliency_all`] every class's at once;
//! - [`occlusion`]: how much a class's probability drops when a gray patch
//!   hides each part of the input, every position in one batched pass;
//! - [`make_it`]: gradient steps on the input, within [0, 1], until the
//!   network reads a chosen class ("make it a 7").
//!
//! For a character model, [`char_influence`]: how much each character of a
//! text mattered to the predicted next one, by gradient and by occlusion.
//!
//! A training step's numbers ("backprop with real numbers") are in
//! [`crate::train::backprop`].
//!
//! Every function takes the model mutably only to borrow its buffers; no
//! parameter or parameter gradient changes, so an explanation may run
//! between two training steps.

use super::char_model::{CharModel, top_chars};
use super::classifier::{Classifier, argmax};
use super::network::{Acts, Grads, Layer, Mode, Seed, Until};
use super::spec::Input;
use crate::backend::{Backend, Tensor};
use crate::error::{Error, Result};

// ---- saliency ---------------------------------------------------------

/// What a saliency map explains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One class's logit.
    Class(usize),
    /// Logit `class` minus logit `against`: what makes the input this class
    /// rather than that one ("why 7 and not 1").
    Versus { class: usize, against: usize },
}

impl Target {
    /// The class explained (the first of a pair).
    pub fn class(self) -> usize {
        match self {
            Target::Class(k) | Target::Versus { class: k, .. } => k,
        }
    }

    fn check(self, classes: usize) -> Result<()> {
        let (a, b) = match self {
            Target::Class(k) => (k, k),
            Target::Versus { class, against } => (class, against),
        };
        match a.max(b) {
            k if k >= classes => Err(Error::Input {
                what: "class",
                problem: format!("{k}: the network has classes 0 to {}", classes - 1),
            }),
            _ if matches!(self, Target::Versus { .. }) && a == b => Err(Error::Input {
                what: "class",
                problem: format!("{a} against itself: pick two different classes"),
            }),
            _ => Ok(()),
        }
    }

    /// d score / d logits [classes]: e_k, or e_a - e_b.
    fn seed(self, classes: usize) -> Vec<f32> {
        let mut d = vec![0.0; classes];
        match self {
            Target::Class(k) => d[k] = 1.0,
            Target::Versus { class, against } => {
                d[class] = 1.0;
                d[against] = -1.0;
            }
        }
        d
    }
}

/// One saliency map.
#[derive(Clone, Debug, PartialEq)]
pub struct Saliency {
    pub target: Target,
    /// The network's answer for the input: probabilities and logits
    /// (pre-softmax scores), one per class.
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
    /// The input as the network read it, values in 0..1, in its layout
    /// (a digit: 28 rows of 28, row-major).
    pub input: Vec<f32>,
    /// d score / d input, one per input value, signed and unnormalised,
    /// the score being the target's logit (or the difference of the two):
    /// positive where more ink would raise it, negative where less would.
    pub gradient: Vec<f32>,
}

impl Saliency {
    /// The score explained: the class's logit, or the difference of the two.
    pub fn score(&self) -> f32 {
        match self.target {
            Target::Class(k) => self.logits[k],
            Target::Versus { class, against } => self.logits[class] - self.logits[against],
        }
    }

    /// The class the network reads in the input.
    pub fn predicted(&self) -> usize {
        argmax(&self.probs)
    }

    /// Gradient x input: each value's first-order share in the score,
    /// zero where there is no ink (what the drawing itself contributes,
    /// where the gradient alone says what more ink would do).
    pub fn times_input(&self) -> Vec<f32> {
        self.gradient
            .iter()
            .zip(&self.input)
            .map(|(g, x)| g * x)
            .collect()
    }

    /// The `k` input values of largest |gradient|, largest first, as
    /// (index, gradient); a digit's index is row * 28 + column.
    pub fn top(&self, k: usize) -> Vec<(usize, f32)> {
        let mut v: Vec<(usize, f32)> = self.gradient.iter().copied().enumerate().collect();
        v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
        v.truncate(k);
        v
    }
}

/// Every class's saliency map for one input, from one batched pass.
#[derive(Clone, Debug, PartialEq)]
pub struct Saliencies {
    pub probs: Vec<f32>,
    pub logits: Vec<f32>,
    pub input: Vec<f32>,
    /// [classes * input values]: row k is d logit_k / d input.
    pub gradients: Vec<f32>,
}

impl Saliencies {
    pub fn classes(&self) -> usize {
        self.probs.len()
    }

    pub fn predicted(&self) -> usize {
        argmax(&self.probs)
    }

    /// d logit_k / d input.
    pub fn gradient(&self, k: usize) -> &[f32] {
        let n = self.input.len();
        &self.gradients[k * n..(k + 1) * n]
    }

    /// The map of `target`: a class's row, or the difference of two rows
    /// (the gradient is linear in its seed: d(a - b) = da - db).
    pub fn get(&self, target: Target) -> Result<Saliency> {
        target.check(self.classes())?;
        let gradient = match target {
            Target::Class(k) => self.gradient(k).to_vec(),
            Target::Versus { class, against } => self
                .gradient(class)
                .iter()
                .zip(self.gradient(against))
                .map(|(a, b)| a - b)
                .collect(),
        };
        Ok(Saliency {
            target,
            probs: self.probs.clone(),
            logits: self.logits.clone(),
            input: self.input.clone(),
            gradient,
        })
    }
}

fn one_image<B: Backend>(model: &Classifier<B>, image: &[f32]) -> Result<()> {
    match model.images_of(image)? {
        1 => Ok(()),
        n => Err(Error::Input {
            what: "image",
            problem: format!("{n} images: an explanation reads one"),
        }),
    }
}

/// The saliency map of `target` for one image (the model's input, values
/// in 0..1): one forward pass, one backward pass seeded with the target's
/// one-hot (or e_a - e_b) on the logits, one read-back.
pub async fn saliency<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    image: &[f32],
    target: Target,
) -> Result<Saliency> {
    one_image(model, image)?;
    let classes = model.classes().len();
    target.check(classes)?;
    let [probs, logits, gradient] =
        input_gradients(be, model, image, &target.seed(classes)).await?;
    Ok(Saliency {
        target,
        probs,
        logits,
        input: image.to_vec(),
        gradient,
    })
}

/// Every class's saliency map for one image: the image repeated once per
/// class, row k seeded with e_k, in one pass and one read-back. The page
/// asks this once per drawing and then shows any class, or any pair,
/// without asking again.
pub async fn saliency_all<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    image: &[f32],
) -> Result<Saliencies> {
    one_image(model, image)?;
    let classes = model.classes().len();
    let images = image.repeat(classes);
    let mut seed = vec![0.0; classes * classes];
    for k in 0..classes {
        seed[k * classes + k] = 1.0;
    }
    let [probs, logits, gradients] = input_gradients(be, model, &images, &seed).await?;
    Ok(Saliencies {
        probs: probs[..classes].to_vec(),
        logits: logits[..classes].to_vec(),
        input: image.to_vec(),
        gradients,
    })
}

/// The saliency map of class `class`, or of the class the network reads
/// when None (then from [`saliency_all`]: still one read-back). What
/// `neuralpad explain` and `POST /v1/digits/explain` answer.
pub async fn saliency_of<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    image: &[f32],
    class: Option<usize>,
) -> Result<Saliency> {
    match class {
        Some(k) => saliency(be, model, image, Target::Class(k)).await,
        None => {
            let all = saliency_all(be, model, image).await?;
            all.get(Target::Class(all.predicted()))
        }
    }
}

/// Forward over `images`, backward from `seed` on the logits to the
/// images; reads the probabilities, logits and d images together.
async fn input_gradients<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    images: &[f32],
    seed: &[f32],
) -> Result<[Vec<f32>; 3]> {
    let n = model.images_of(images)?;
    let mut a = model.acts_for(be, n);
    let out = input_gradients_on(be, model, &mut a, images, seed).await;
    model.keep_acts(a);
    out
}

async fn input_gradients_on<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    a: &mut Acts<B>,
    images: &[f32],
    seed: &[f32],
) -> Result<[Vec<f32>; 3]> {
    model.record_forward(be, a, images, Mode::Infer, Until::Probs)?;
    model
        .net_mut()
        .backward(be, a, Seed::Logits(seed), Grads::INPUT)?;
    let d = a.d_images.as_ref().expect("the backward pass made them");
    let mut out = be.read(&[&a.probs, model.net().logits(a), d]).await?;
    let d = out.pop().unwrap_or_default();
    let logits = out.pop().unwrap_or_default();
    let probs = out.pop().unwrap_or_default();
    Ok([probs, logits, d])
}

// ---- occlusion --------------------------------------------------------

/// The patch an occlusion map slides over the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Patch {
    /// Side in pixels.
    pub size: usize,
    /// Pixels between two positions, down and across.
    pub stride: usize,
    /// What the patch paints (every channel): 0.5 is gray, neither ink
    /// nor background.
    pub value: f32,
}

impl Default for Patch {
    /// A gray 4x4 patch every 2 pixels: 13 x 13 positions on a digit.
    fn default() -> Self {
        Self {
            size: 4,
            stride: 2,
            value: 0.5,
        }
    }
}

/// Most patch positions of one occlusion map (one batched pass).
pub const MAX_POSITIONS: usize = 1024;

/// An occlusion map: the class's probability with the patch at each
/// position, against the whole input's.
#[derive(Clone, Debug, PartialEq)]
pub struct Occlusion {
    pub class: usize,
    pub patch: Patch,
    /// Positions down and across: (side - size) / stride + 1 each (13 x 13
    /// for a 28-pixel side, a 4-pixel patch and stride 2). Position (r, c)
    /// covers rows r * stride .. r * stride + size and the same columns.
    pub rows: usize,
    pub cols: usize,
    /// The input's height and width.
    pub height: usize,
    pub width: usize,
    /// The probabilities of the whole input, one per class.
    pub probs: Vec<f32>,
    /// [rows * cols * classes]: the probabilities with the patch at each
    /// position, row-major by position (which class takes over, too).
    pub occluded: Vec<f32>,
    /// [rows * cols]: probs[class] minus the class's probability with the
    /// patch there; positive where hiding the input costs the class.
    pub drop: Vec<f32>,
    /// [rows * cols]: the class's logit minus its logit with the patch
    /// there. A confident network's probability hardly moves (1.0 stays
    /// 1.0 for most patches) while its logit does: this map shows what
    /// the probability's hides.
    pub logit_drop: Vec<f32>,
}

impl Occlusion {
    /// The top-left pixel (row, column) of position `i` (row-major).
    pub fn origin(&self, i: usize) -> (usize, usize) {
        (
            (i / self.cols) * self.patch.stride,
            (i % self.cols) * self.patch.stride,
        )
    }

    /// A map of the positions ([`Self::drop`] or [`Self::logit_drop`])
    /// spread back over the pixels, for an overlay on the input [height *
    /// width]: each pixel's mean over the positions whose patch covers it
    /// (0 where none does).
    pub fn pixel_map(&self, per_position: &[f32]) -> Vec<f32> {
        let (h, w, s) = (self.height, self.width, self.patch.size);
        let mut sum = vec![0.0f32; h * w];
        let mut count = vec![0u32; h * w];
        for (i, &d) in per_position.iter().enumerate() {
            let (y0, x0) = self.origin(i);
            for y in y0..(y0 + s).min(h) {
                for x in x0..(x0 + s).min(w) {
                    sum[y * w + x] += d;
                    count[y * w + x] += 1;
                }
            }
        }
        sum.iter()
            .zip(&count)
            .map(|(&s, &c)| if c == 0 { 0.0 } else { s / c as f32 })
            .collect()
    }
}

/// The occlusion map of `class` (the predicted one when None) for one
/// image: the image and a copy with the patch at each position go through
/// the network as one batch, one forward pass, one read-back.
pub async fn occlusion<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    image: &[f32],
    class: Option<usize>,
    patch: Patch,
) -> Result<Occlusion> {
    one_image(model, image)?;
    let Input::Image {
        height,
        width,
        channels,
    } = model.spec().input
    else {
        unreachable!("a classifier reads images")
    };
    let bad = |problem: String| {
        Err(Error::Input {
            what: "occlusion patch",
            problem,
        })
    };
    if patch.size == 0 || patch.size > height.min(width) || patch.stride == 0 {
        return bad(format!(
            "{0}x{0} every {1} pixels: use a side of 1 to {2} and a stride of at least 1",
            patch.size,
            patch.stride,
            height.min(width)
        ));
    }
    if !(0.0..=1.0).contains(&patch.value) {
        return bad(format!("the value {}: use 0..=1", patch.value));
    }
    let rows = (height - patch.size) / patch.stride + 1;
    let cols = (width - patch.size) / patch.stride + 1;
    if rows * cols > MAX_POSITIONS {
        return bad(format!(
            "{rows} x {cols} positions: at most {MAX_POSITIONS} (use a larger stride)"
        ));
    }
    let classes = model.classes().len();
    if let Some(k) = class {
        Target::Class(k).check(classes)?;
    }
    let len = image.len();
    let mut images = Vec::with_capacity((rows * cols + 1) * len);
    images.extend_from_slice(image);
    for i in 0..rows * cols {
        let (y0, x0) = ((i / cols) * patch.stride, (i % cols) * patch.stride);
        let start = images.len();
        images.extend_from_slice(image);
        let copy = &mut images[start..];
        for c in 0..channels {
            for y in y0..y0 + patch.size {
                let row = (c * height + y) * width;
                copy[row + x0..row + x0 + patch.size].fill(patch.value);
            }
        }
    }
    let mut a = model.acts_for(be, rows * cols + 1);
    let read = forward_read(be, model, &mut a, &images).await;
    model.keep_acts(a);
    let [all, all_logits] = read?;
    let (probs, occluded) = all.split_at(classes);
    let class = class.unwrap_or_else(|| argmax(probs));
    let drop = occluded
        .chunks_exact(classes)
        .map(|p| probs[class] - p[class])
        .collect();
    let logit_drop = all_logits[classes..]
        .chunks_exact(classes)
        .map(|l| all_logits[class] - l[class])
        .collect();
    Ok(Occlusion {
        class,
        patch,
        rows,
        cols,
        height,
        width,
        probs: probs.to_vec(),
        occluded: occluded.to_vec(),
        drop,
        logit_drop,
    })
}

/// One forward pass over `images`; its probabilities and logits, read
/// together.
async fn forward_read<B: Backend>(
    be: &B,
    model: &Classifier<B>,
    a: &mut Acts<B>,
    images: &[f32],
) -> Result<[Vec<f32>; 2]> {
    model.record_forward(be, a, images, Mode::Infer, Until::Probs)?;
    let mut out = be.read(&[&a.probs, model.net().logits(a)]).await?;
    let logits = out.pop().unwrap_or_default();
    let probs = out.pop().unwrap_or_default();
    Ok([probs, logits])
}

// ---- "make it a 7" -----------------------------------------------------

/// How "make it a K" moves the input at each step, down the gradient g of
/// the target's cross-entropy -log p_target (so up its log-probability),
/// after zeroing the components that would push a pixel already at 0 or 1
/// out of [0, 1]; the result is clipped to [0, 1].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StepRule {
    /// x -= size * g / |g|_2: the image moves `size` (L2) per step, most
    /// where the gradient is largest, so the change stays a few strokes.
    L2 { size: f32 },
    /// x -= size * sign(g): every pixel the gradient touches moves `size`
    /// (iterated FGSM); the change is a faint haze over the whole image.
    Signed { size: f32 },
}

/// The settings of "make it a K".
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MakeIt {
    /// Steps at most (the 200).
    pub max_steps: usize,
    pub rule: StepRule,
}

impl Default for MakeIt {
    /// L2 steps of 0.4, at most 200. Measured with `neuralpad bench
    /// explain` on the shipped weights and the first ten MNIST test
    /// digits, every source/target pair (90): this rule reaches all of
    /// them in a median of 6 steps (at most 14) with a median change of
    /// 2.1 (L2) and 0.54 (largest pixel); signed steps of 0.01 reach them
    /// too, in a median of 17 steps, with a change of 2.7 (L2) spread thin
    /// (0.17 at most) over every pixel: a haze, not strokes.
    fn default() -> Self {
        Self {
            max_steps: 200,
            rule: StepRule::L2 { size: 0.4 },
        }
    }
}

/// Most steps "make it a K" takes.
pub const MAX_STEPS: usize = 1000;

/// What "make it a K" did to one input.
#[derive(Clone, Debug, PartialEq)]
pub struct MadeIt {
    pub target: usize,
    /// What the network read in the input before any step.
    pub source: usize,
    /// Whether the network reads the target in `image`.
    pub reached: bool,
    /// Steps taken: 0 when the input already read as the target.
    pub steps: usize,
    /// The final input, values in 0..1.
    pub image: Vec<f32>,
    /// `image` minus the input: the ghost ink (positive) and the ink taken
    /// away (negative).
    pub change: Vec<f32>,
    /// |change|_2 and max |change|.
    pub l2: f32,
    pub max_abs: f32,
    /// The probabilities of the final image.
    pub probs: Vec<f32>,
    /// p(target) before each step and after the last [steps + 1].
    pub target_probs: Vec<f32>,
}

/// "Make it a K": gradient steps on one image toward `target` until the
/// network reads it or `cfg.max_steps` are taken. Each step is one forward
/// and one backward pass and one read-back.
pub async fn make_it<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    image: &[f32],
    target: usize,
    cfg: MakeIt,
) -> Result<MadeIt> {
    one_image(model, image)?;
    let mut out = make_each(be, model, image, &[target], cfg).await?;
    Ok(out.remove(0))
}

/// [`make_it`] for several images side by side, each toward its own
/// target, in one batch: a row stops moving once it reads its target.
pub async fn make_each<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    images: &[f32],
    targets: &[usize],
    cfg: MakeIt,
) -> Result<Vec<MadeIt>> {
    let n = model.images_of(images)?;
    let classes = model.classes().len();
    if targets.len() != n {
        return Err(Error::Input {
            what: "targets",
            problem: format!("{} targets for {n} images", targets.len()),
        });
    }
    for &t in targets {
        Target::Class(t).check(classes)?;
    }
    let size = match cfg.rule {
        StepRule::L2 { size } | StepRule::Signed { size } => size,
    };
    if !(size.is_finite() && size > 0.0 && size <= 1.0) || cfg.max_steps > MAX_STEPS {
        return Err(Error::Input {
            what: "make-it settings",
            problem: format!(
                "a step of {size} and {} steps: use a step above 0, at most 1, and at most {MAX_STEPS} steps",
                cfg.max_steps
            ),
        });
    }
    let mut a = model.acts_for(be, n);
    let out = make_each_on(be, model, &mut a, images, targets, cfg).await;
    model.keep_acts(a);
    out
}

async fn make_each_on<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    a: &mut Acts<B>,
    images: &[f32],
    targets: &[usize],
    cfg: MakeIt,
) -> Result<Vec<MadeIt>> {
    let (n, len) = (targets.len(), images.len() / targets.len());
    let classes = model.classes().len();
    let labels: Vec<u32> = targets.iter().map(|&t| t as u32).collect();
    let mut x = images.to_vec();
    let mut steps: Vec<Option<usize>> = vec![None; n];
    let mut source = vec![0; n];
    let mut trace: Vec<Vec<f32>> = vec![Vec::new(); n];
    let mut probs = Vec::new();
    for step in 0..=cfg.max_steps {
        model.record_forward(be, a, &x, Mode::Infer, Until::Loss(&labels))?;
        // Scale 1: each row's own -log p_target, not the batch mean.
        model
            .net_mut()
            .backward(be, a, Seed::Loss { scale: 1.0 }, Grads::INPUT)?;
        let d = a.d_images.as_ref().expect("the backward pass made them");
        let mut out = be.read(&[&a.probs, d]).await?;
        let grad = out.pop().unwrap_or_default();
        probs = out.pop().unwrap_or_default();
        let moving: Vec<usize> = (0..n).filter(|&r| steps[r].is_none()).collect();
        for r in moving {
            let p = &probs[r * classes..(r + 1) * classes];
            if step == 0 {
                source[r] = argmax(p);
            }
            trace[r].push(p[targets[r]]);
            if argmax(p) == targets[r] {
                steps[r] = Some(step);
            } else if step < cfg.max_steps {
                let rows = r * len..(r + 1) * len;
                descend(&mut x[rows.clone()], &grad[rows], cfg.rule);
            }
        }
        if steps.iter().all(Option::is_some) {
            break;
        }
    }
    Ok((0..n)
        .map(|r| {
            let image = x[r * len..(r + 1) * len].to_vec();
            let change: Vec<f32> = image
                .iter()
                .zip(&images[r * len..(r + 1) * len])
                .map(|(a, b)| a - b)
                .collect();
            MadeIt {
                target: targets[r],
                source: source[r],
                reached: steps[r].is_some(),
                steps: steps[r].unwrap_or(cfg.max_steps),
                l2: change.iter().map(|c| c * c).sum::<f32>().sqrt(),
                max_abs: change.iter().fold(0.0, |m: f32, c| m.max(c.abs())),
                image,
                change,
                probs: probs[r * classes..(r + 1) * classes].to_vec(),
                target_probs: std::mem::take(&mut trace[r]),
            }
        })
        .collect())
}

/// One step of `rule` on x down `grad`, within [0, 1].
fn descend(x: &mut [f32], grad: &[f32], rule: StepRule) {
    // The direction -g, without what would push a pixel at a bound out.
    let dir: Vec<f32> = x
        .iter()
        .zip(grad)
        .map(|(&v, &g)| {
            let d = -g;
            if (v <= 0.0 && d < 0.0) || (v >= 1.0 && d > 0.0) {
                0.0
            } else {
                d
            }
        })
        .collect();
    let (size, scale) = match rule {
        StepRule::L2 { size } => {
            let norm = dir.iter().map(|d| d * d).sum::<f32>().sqrt();
            (size, if norm > 0.0 { 1.0 / norm } else { 0.0 })
        }
        StepRule::Signed { size } => (size, 0.0),
    };
    for (v, d) in x.iter_mut().zip(dir) {
        let step = match rule {
            StepRule::L2 { .. } => d * scale,
            StepRule::Signed { .. } if d != 0.0 => d.signum(),
            StepRule::Signed { .. } => 0.0,
        };
        *v = (*v + size * step).clamp(0.0, 1.0);
    }
}

// ---- which characters mattered -----------------------------------------

/// Most characters an explanation reads: the last ones of a longer text.
/// An occlusion pass reads that many copies of the text side by side
/// (100 x 100 LSTM steps), and the seed LSTM's influence has faded long
/// before: the gradient shows it.
pub const MAX_EXPLAIN_CHARS: usize = 100;

/// How each character of a text mattered to the next one predicted.
#[derive(Clone, Debug, PartialEq)]
pub struct CharInfluence {
    /// The position in the text (in characters) of `chars[0]`: a text over
    /// [`MAX_EXPLAIN_CHARS`] is explained from its last ones, read from a
    /// fresh state.
    pub start: usize,
    /// The characters read (unknown ones as typed; the model reads them
    /// as its unknown symbol).
    pub chars: Vec<char>,
    /// The next character explained: the likeliest (the unknown symbol
    /// left out), or the one asked for.
    pub next: char,
    /// The probabilities of the character after `chars` [vocab], and that
    /// of `next`.
    pub probs: Vec<f32>,
    pub prob: f32,
    /// The embedding's width.
    pub dim: usize,
    /// [chars * dim]: each character's embedding vector, as read.
    pub embedding: Vec<f32>,
    /// [chars * dim]: d log p(next) / d (each character's embedding
    /// vector), from the recurrent backward pass.
    pub gradient: Vec<f32>,
    /// |gradient|_2 of each character: how strongly a change of that
    /// character's vector would move log p(next).
    pub grad_norm: Vec<f32>,
    /// p(next) with each character replaced by the unknown symbol.
    pub occluded: Vec<f32>,
    /// `prob` minus `occluded`: what each character was worth to the
    /// prediction (negative where it stood in its way).
    pub drop: Vec<f32>,
}

/// Which characters of `text` mattered to the next character predicted
/// (or to `next`, when given): the gradient of log p(next) with respect to
/// each character's embedding (its norm), and the drop of p(next) when the
/// character is replaced by the unknown symbol. The text and its
/// occluded copies (one per character) are read in one batched pass each;
/// one read-back for the prediction, one for the gradient.
pub async fn char_influence<B: Backend>(
    be: &B,
    model: &mut CharModel<B>,
    text: &str,
    next: Option<char>,
) -> Result<CharInfluence> {
    let all: Vec<char> = text.chars().collect();
    if all.is_empty() {
        return Err(Error::Input {
            what: "text",
            problem: "empty: type at least one character".into(),
        });
    }
    let start = all.len().saturating_sub(MAX_EXPLAIN_CHARS);
    let chars = all[start..].to_vec();
    let vocab = model.vocab();
    let (v, unknown) = (vocab.len(), vocab.unknown_id());
    let ids: Vec<u32> = chars.iter().map(|&c| vocab.id(c)).collect();
    let asked = match next {
        Some(c) if vocab.id(c) == unknown => {
            return Err(Error::Input {
                what: "next character",
                problem: format!("{c:?} is not in the model's vocabulary"),
            });
        }
        Some(c) => Some((c, vocab.id(c))),
        None => None,
    };
    let net = model.net();
    let emb = net
        .layers
        .iter()
        .position(|l| matches!(l, Layer::Embedding(_)))
        .ok_or_else(|| Error::Input {
            what: "network",
            problem: "it has no embedding layer: influence is measured on the embeddings".into(),
        })?;
    let t = chars.len();
    // The text, one row; and t copies side by side (time-major: position
    // p of row r at p * t + r), copy r with character r unknown.
    let mut a = net.acts(be, t, 1);
    be.write_indices(a.ids.as_mut().expect("a text network reads ids"), &ids)?;
    net.forward(be, &mut a, Mode::Infer, Until::Probs)?;
    let mut o = net.acts(be, t, t);
    let occluded_ids: Vec<u32> = (0..t * t)
        .map(|i| if i / t == i % t { unknown } else { ids[i / t] })
        .collect();
    be.write_indices(
        o.ids.as_mut().expect("a text network reads ids"),
        &occluded_ids,
    )?;
    net.forward(be, &mut o, Mode::Infer, Until::Probs)?;
    // Only the last position's rows are wanted.
    let mut last = be.zeros(&[t, v]);
    be.copy_slice(&o.probs, (t - 1) * t * v, &mut last, 0, t * v)?;
    let out = be.read(&[&a.probs, &last]).await?;
    let probs = out[0][(t - 1) * v..].to_vec();
    let (next, k) = match asked {
        Some(ck) => ck,
        None => {
            let c = top_chars(&probs, model.vocab(), 1)
                .first()
                .map(|&(c, _)| c)
                .ok_or_else(|| Error::Input {
                    what: "vocabulary",
                    problem: "it has no characters to predict".into(),
                })?;
            (c, model.vocab().id(c))
        }
    };
    let k = k as usize;
    // d log p_k / d logits = e_k - p, at the last position only.
    let mut seed = vec![0.0; t * v];
    for (j, s) in seed[(t - 1) * v..].iter_mut().enumerate() {
        *s = f32::from(j == k) - probs[j];
    }
    let grads = Grads {
        params: false,
        images: false,
    };
    model
        .net_mut()
        .backward(be, &mut a, Seed::Logits(&seed), grads)?;
    let g = a.grad(emb).expect("the embedding has an output");
    let e = a.output(emb).expect("the embedding has an output");
    let dim = e.len() / t;
    let mut out2 = be.read(&[g, e]).await?;
    let embedding = out2.pop().unwrap_or_default();
    let gradient = out2.pop().unwrap_or_default();
    let grad_norm = gradient
        .chunks_exact(dim)
        .map(|g| g.iter().map(|x| x * x).sum::<f32>().sqrt())
        .collect();
    let occluded: Vec<f32> = out[1].chunks_exact(v).map(|p| p[k]).collect();
    let prob = probs[k];
    Ok(CharInfluence {
        start,
        chars,
        next,
        prob,
        drop: occluded.iter().map(|o| prob - o).collect(),
        occluded,
        probs,
        dim,
        embedding,
        gradient,
        grad_norm,
    })
}
