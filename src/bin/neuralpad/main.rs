//! One binary, two faces: natively the command line (training, evaluation,
//! generation, benchmarks, the service; one file per group of commands); on
//! wasm32 the page, which trunk builds from index.html.

#[cfg(target_arch = "wasm32")]
fn main() {
    neuralpad::app::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

/// Run `$body` with `$be` bound to the backend the person chose.
#[cfg(not(target_arch = "wasm32"))]
macro_rules! on_device {
    ($device:expr, $be:ident => $body:expr) => {
        match $device {
            neuralpad::device::Device::Gpu => {
                let $be = &crate::networks::gpu()?;
                $body
            }
            neuralpad::device::Device::Cpu => {
                let $be = &neuralpad::FastCpuBackend::default();
                $body
            }
            neuralpad::device::Device::CpuReference => {
                let $be = &neuralpad::CpuBackend;
                $body
            }
        }
    };
}

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod digits;
#[cfg(not(target_arch = "wasm32"))]
mod explain;
#[cfg(not(target_arch = "wasm32"))]
mod networks;
#[cfg(not(target_arch = "wasm32"))]
mod serve;
#[cfg(not(target_arch = "wasm32"))]
mod text;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;

    use clap::{Parser, Subcommand};
    use indicatif::{ProgressBar, ProgressStyle};
    use neuralpad::Error;

    use crate::{bench, digits, explain, networks, serve, text};

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
            what: bench::BenchWhat,
        },
        /// The preset networks: layers, parameters and multiply-adds.
        Networks(networks::Networks),
        /// Serve both models over HTTP (JSON API under /v1).
        Serve(serve::Serve),
        /// Train a network.
        Train {
            #[command(subcommand)]
            what: TrainWhat,
        },
        /// Classify a picture of a digit (PNG or JPEG; dark on light or light on dark).
        Predict(digits::Predict),
        /// Why the digit model reads a picture as it does: the saliency map
        /// (d logit / d pixel), the pixels that matter most, occlusion.
        Explain(explain::Explain),
        /// Accuracy and confusion matrix of digit weights on the 10,000 MNIST test images.
        Eval(digits::Eval),
        /// Continue a prompt with a text model.
        Generate(text::Generate),
        /// Loss of text-model weights on a corpus's validation part, in nats and bits per character.
        EvalText(text::EvalText),
        /// Re-save a float32 weights file in float16: half the bytes, about
        /// three significant digits (every loader widens it back).
        Half { input: PathBuf, output: PathBuf },
    }

    #[derive(Subcommand)]
    enum TrainWhat {
        /// A digit classifier on MNIST's 60,000 training images.
        Mnist(digits::TrainMnist),
        /// A character model on a text corpus.
        Text(text::TrainText),
    }

    pub fn main() -> ExitCode {
        match run(Cli::parse()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", bounded(e.to_string()));
                ExitCode::FAILURE
            }
        }
    }

    fn run(cli: Cli) -> neuralpad::Result<()> {
        match cli.command {
            Command::Serve(args) => serve::serve(&args),
            Command::Bench { what } => bench::run(what),
            Command::Networks(args) => networks::list(&args),
            Command::Train {
                what: TrainWhat::Mnist(args),
            } => digits::train(&args),
            Command::Train {
                what: TrainWhat::Text(args),
            } => text::train(&args),
            Command::Predict(args) => digits::predict(&args),
            Command::Explain(args) => explain::explain(&args),
            Command::Eval(args) => digits::eval(&args),
            Command::Generate(args) => text::generate(&args),
            Command::EvalText(args) => text::eval(&args),
            Command::Half { input, output } => {
                let half = neuralpad::weights::to_half(&read(&input)?)?;
                write(&output, &half)?;
                println!("{}: {} bytes", output.display(), half.len());
                Ok(())
            }
        }
    }

    /// Most characters of an error message printed: one quoting a file's
    /// contents is cut here.
    const MAX_ERROR_CHARS: usize = 1000;

    fn bounded(mut message: String) -> String {
        if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_CHARS) {
            message.truncate(cut);
            message.push_str("\u{2026} (cut)");
        }
        message
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

    /// Print a line under a progress bar (a bar drawn to no terminal, a
    /// log file, swallows println).
    pub fn say(bar: &ProgressBar, line: String) {
        if bar.is_hidden() {
            println!("{line}");
        } else {
            bar.println(line);
        }
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
}
