//! `neuralpad explain IMAGE`: why the digit model reads what it reads. The
//! saliency map (d logit / d input, by the backward kernels) as a text
//! heatmap beside the input, the pixels that matter most, and where
//! hiding the digit costs the class most (occlusion); or, with `--json`,
//! exactly one JSON object, what `POST /v1/digits/explain` answers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use neuralpad::api::ExplainAnswer;
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::data::picture;
use neuralpad::device::Device;
use neuralpad::nn::char_model::CharModel;
use neuralpad::nn::classifier::{Classifier, PIXELS, SIDE};
use neuralpad::nn::explain::{self, MakeIt, Occlusion, Patch, Saliency, StepRule, Target};
use neuralpad::{Backend, Error, FastCpuBackend};

use crate::bench::Which;
use crate::cli::read;
use crate::networks::gpu;

#[derive(Args)]
pub struct Explain {
    /// A picture of a digit (PNG or JPEG; dark on light or light on dark).
    pub image: PathBuf,
    /// The class to explain (default: the one the network reads).
    #[arg(long)]
    pub class: Option<usize>,
    /// Print exactly one JSON object: {"class", "logit", "input", "saliency"}.
    #[arg(long)]
    pub json: bool,
    /// The weights (safetensors; the network in its metadata, the seed CNN without).
    #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
    pub weights: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Device,
}

pub fn explain(o: &Explain) -> neuralpad::Result<()> {
    let input = picture::preprocess(&read(&o.image)?)
        .map_err(|e| Error::Io {
            path: o.image.display().to_string(),
            problem: e.to_string(),
        })?
        .input;
    let bytes = read(&o.weights)?;
    on_device!(o.backend, be => explain_on(be, &bytes, &input, o))
}

fn explain_on<B: Backend>(
    be: &B,
    weights: &[u8],
    input: &[f32],
    o: &Explain,
) -> neuralpad::Result<()> {
    let mut model = Classifier::from_safetensors(be, weights)?;
    if model.input_len() != PIXELS {
        return Err(Error::WeightsFile(format!(
            "the network reads {} values per image: a picture is preprocessed into 28x28",
            model.input_len()
        )));
    }
    let s = pollster::block_on(explain::saliency_of(be, &mut model, input, o.class))?;
    if o.json {
        let json = serde_json::to_string(&ExplainAnswer::of(&s)).expect("numbers serialise");
        println!("{json}");
        return Ok(());
    }
    let occ = pollster::block_on(explain::occlusion(
        be,
        &mut model,
        input,
        Some(s.target.class()),
        Patch::default(),
    ))?;
    print!("{}", report(&s, &occ, model.classes()));
    Ok(())
}

/// The readable explanation.
fn report(s: &Saliency, occ: &Occlusion, classes: &[String]) -> String {
    let k = s.target.class();
    let p = s.predicted();
    let mut out = format!(
        "the network reads {} ({:.1}%)\n",
        classes[p],
        100.0 * s.probs[p]
    );
    out += &format!(
        "explaining {}: probability {:.1}%, logit {:.3} (its pre-softmax score)\n\n",
        classes[k],
        100.0 * s.probs[k],
        s.score()
    );
    let max = s.gradient.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    out += &format!(
        "{:<58}saliency: d logit / d pixel (largest |value| {max:.4})\n",
        "input, as the network reads it"
    );
    for (ink, grad) in s.input.chunks(SIDE).zip(s.gradient.chunks(SIDE)) {
        let left: String = ink.iter().map(|&v| ink_cell(v)).collect();
        let right: String = grad.iter().map(|&g| grad_cell(g, max)).collect();
        out += &format!("{left}  {right}\n");
    }
    out += "legend: ## ++ .. more ink raises the logit (strong to weak); \
            == -- ,, it lowers it\n\n";
    out += "the pixels that matter most (row, column):\n";
    for (i, g) in s.top(8) {
        out += &format!(
            "  ({:2}, {:2})  gradient {g:+.4}  ink {:.2}  gradient x ink {:+.4}\n",
            i / SIDE,
            i % SIDE,
            s.input[i],
            g * s.input[i]
        );
    }
    let total: f32 = s.times_input().iter().sum();
    out += &format!(
        "gradient x input summed over the pixels: {total:+.3} (a first-order reading of the logit)\n\n"
    );
    let (worst, drop) = occ
        .drop
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, d)| if d > b.1 { (i, d) } else { b });
    let (y, x) = occ.origin(worst);
    let taken = &occ.occluded[worst * classes.len()..(worst + 1) * classes.len()];
    let now = neuralpad::nn::classifier::argmax(taken);
    out += &format!(
        "occlusion ({0}x{0} gray patch every {1} pixels, {2}x{3} positions): hiding rows {y}-{4}, \
         columns {x}-{5} costs {6} most: {7:.1}% -> {8:.1}% (then it reads {9})\n",
        occ.patch.size,
        occ.patch.stride,
        occ.rows,
        occ.cols,
        y + occ.patch.size - 1,
        x + occ.patch.size - 1,
        classes[k],
        100.0 * occ.probs[k],
        100.0 * (occ.probs[k] - drop),
        classes[now],
    );
    let (at, most) = occ
        .logit_drop
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, d)| if d > b.1 { (i, d) } else { b });
    let (y, x) = occ.origin(at);
    out += &format!(
        "in logits, which a confident network's probabilities hide: hiding rows {y}-{0}, \
         columns {x}-{1} lowers {2}'s logit most, by {most:.3}\n",
        y + occ.patch.size - 1,
        x + occ.patch.size - 1,
        classes[k],
    );
    out
}

/// Two characters per pixel so that the picture stays square.
fn ink_cell(v: f32) -> &'static str {
    match v {
        v if v >= 0.75 => "@@",
        v if v >= 0.4 => "oo",
        v if v >= 0.1 => "..",
        _ => "  ",
    }
}

fn grad_cell(g: f32, max: f32) -> &'static str {
    let r = if max > 0.0 { g / max } else { 0.0 };
    match r {
        r if r >= 0.5 => "##",
        r if r >= 0.2 => "++",
        r if r >= 0.05 => "..",
        r if r <= -0.5 => "==",
        r if r <= -0.2 => "--",
        r if r <= -0.05 => ",,",
        _ => "  ",
    }
}

/// `neuralpad bench explain`: milliseconds per explanation on each
/// backend, and how "make it a K"'s step rules compare (on the CPU).
pub fn bench(which: Which, samples: usize) -> neuralpad::Result<()> {
    let (_, test) = mnist::load(&mnist::default_dir())?;
    let digits = read(Path::new("www/models/mnist_cnn.safetensors"))?;
    let text = read(Path::new("www/models/char_lstm.safetensors"))?;
    let samples = samples.max(1);
    println!(
        "milliseconds per explanation, median of {samples} (shipped weights; MNIST test digits; \
         char influence on {} characters)",
        explain::MAX_EXPLAIN_CHARS
    );
    println!(
        "{:<36} {:>9} {:>9} {:>9} {:>12} {:>10} {:>9}",
        "backend", "saliency", "all 10", "occlude", "make-it run", "per step", "chars"
    );
    let row = |name: String, t: Times| {
        println!(
            "{name:<36} {:>9.2} {:>9.2} {:>9.2} {:>12.1} {:>10.2} {:>9.1}",
            t.saliency, t.saliency_all, t.occlusion, t.make_it, t.make_it_step, t.chars
        )
    };
    if which != Which::Cpu {
        let g = gpu()?;
        g.warm_up();
        row(g.name(), times(&g, &digits, &text, &test, samples)?);
    }
    if which != Which::Gpu {
        let be = FastCpuBackend::default();
        row(be.name(), times(&be, &digits, &text, &test, samples)?);
        rules(&be, &digits, &test)?;
    }
    Ok(())
}

/// Median milliseconds of each explanation.
struct Times {
    saliency: f64,
    saliency_all: f64,
    occlusion: f64,
    /// One "make it a K" run, the mean over the nine targets of a digit.
    make_it: f64,
    make_it_step: f64,
    chars: f64,
}

fn median_ms(
    samples: usize,
    mut f: impl FnMut() -> neuralpad::Result<()>,
) -> neuralpad::Result<f64> {
    f()?;
    let mut t: Vec<f64> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            f().map(|()| start.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<neuralpad::Result<_>>()?;
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn times<B: Backend>(
    be: &B,
    digits: &[u8],
    text: &[u8],
    test: &Dataset,
    samples: usize,
) -> neuralpad::Result<Times> {
    let mut model = Classifier::from_safetensors(be, digits)?;
    let image: Vec<f32> = test
        .pixels(0)
        .iter()
        .map(|&p| mnist::normalize(p))
        .collect();
    let saliency = median_ms(samples, || {
        pollster::block_on(explain::saliency(be, &mut model, &image, Target::Class(7))).map(drop)
    })?;
    let saliency_all = median_ms(samples, || {
        pollster::block_on(explain::saliency_all(be, &mut model, &image)).map(drop)
    })?;
    let occlusion = median_ms(samples, || {
        pollster::block_on(explain::occlusion(
            be,
            &mut model,
            &image,
            None,
            Patch::default(),
        ))
        .map(drop)
    })?;
    let (mut runs, mut steps) = (0.0, 0usize);
    let start = Instant::now();
    for target in (0..10).filter(|&t| t != usize::from(test.labels[0])) {
        let m = pollster::block_on(explain::make_it(
            be,
            &mut model,
            &image,
            target,
            MakeIt::default(),
        ))?;
        runs += 1.0;
        steps += m.steps + 1;
    }
    let total = start.elapsed().as_secs_f64() * 1e3;
    let mut lstm = CharModel::from_safetensors(be, text)?;
    let words = "Mr. Speaker, Mr. Vice President, Members of Congress, my fellow Americans: \
                 the state of our Union is strong.";
    let chars = median_ms(samples, || {
        pollster::block_on(explain::char_influence(be, &mut lstm, words, None)).map(drop)
    })?;
    Ok(Times {
        saliency,
        saliency_all,
        occlusion,
        make_it: total / runs,
        make_it_step: total / steps as f64,
        chars,
    })
}

/// Every source/target pair of the first ten test digits under each step
/// rule: how many reach their target within 200 steps, in how many, and
/// how large the change is.
fn rules<B: Backend>(be: &B, digits: &[u8], test: &Dataset) -> neuralpad::Result<()> {
    let mut model = Classifier::from_safetensors(be, digits)?;
    let (mut images, mut targets) = (Vec::new(), Vec::new());
    for i in 0..10 {
        for t in (0..10).filter(|&t| t != usize::from(test.labels[i])) {
            images.extend(test.pixels(i).iter().map(|&p| mnist::normalize(p)));
            targets.push(t);
        }
    }
    println!(
        "\n\"make it a K\" step rules, {} source/target pairs of the first ten test digits, at most 200 steps:",
        targets.len()
    );
    println!(
        "{:<22} {:>8} {:>13} {:>10} {:>10} {:>14}",
        "rule", "reached", "median steps", "most", "median L2", "median max|d|"
    );
    let rules = [
        StepRule::L2 { size: 0.2 },
        StepRule::L2 { size: 0.4 },
        StepRule::L2 { size: 0.8 },
        StepRule::Signed { size: 0.005 },
        StepRule::Signed { size: 0.01 },
        StepRule::Signed { size: 0.02 },
    ];
    for rule in rules {
        let cfg = MakeIt {
            rule,
            ..MakeIt::default()
        };
        let made = pollster::block_on(explain::make_each(be, &mut model, &images, &targets, cfg))?;
        let reached = made.iter().filter(|m| m.reached).count();
        let median = |mut v: Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        };
        let steps = median(made.iter().map(|m| m.steps as f32).collect());
        let most = made.iter().map(|m| m.steps).max().unwrap_or(0);
        let l2 = median(made.iter().map(|m| m.l2).collect());
        let linf = median(made.iter().map(|m| m.max_abs).collect());
        let name = match rule {
            StepRule::L2 { size } => format!("L2 {size}"),
            StepRule::Signed { size } => format!("signed {size}"),
        };
        let mark = if cfg.rule == MakeIt::default().rule {
            " (default)"
        } else {
            ""
        };
        println!(
            "{:<22} {:>5}/{} {steps:>13} {most:>10} {l2:>10.2} {linf:>14.3}",
            format!("{name}{mark}"),
            reached,
            made.len()
        );
    }
    // "Make it a 7" with the default rule, digit by digit (test digits
    // the network does not already read as a 7).
    println!("\n\"make it a 7\" (default rule) on test digits:");
    println!(
        "{:>6} {:>6} {:>8} {:>6} {:>8} {:>8} {:>10}",
        "digit", "label", "reached", "steps", "L2", "max|d|", "p(7)"
    );
    let mut shown = 0;
    for i in 0..test.len() {
        let image: Vec<f32> = test
            .pixels(i)
            .iter()
            .map(|&p| mnist::normalize(p))
            .collect();
        if test.labels[i] == 7 {
            continue;
        }
        let m = pollster::block_on(explain::make_it(
            be,
            &mut model,
            &image,
            7,
            MakeIt::default(),
        ))?;
        if m.source == 7 {
            continue;
        }
        println!(
            "{i:>6} {:>6} {:>8} {:>6} {:>8.2} {:>8.3} {:>10.3}",
            test.labels[i], m.reached, m.steps, m.l2, m.max_abs, m.probs[7]
        );
        shown += 1;
        if shown == 8 {
            break;
        }
    }
    Ok(())
}
