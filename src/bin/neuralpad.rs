//! One binary, two faces: natively the command line (benchmarks now;
//! training, evaluation and prediction join as the networks land); on
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
mod cli {
    use std::process::ExitCode;

    use clap::{Parser, Subcommand, ValueEnum};
    use neuralpad::bench::{self, Timing};
    use neuralpad::{Backend, CpuBackend, GpuBackend};

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
    }

    #[derive(Subcommand)]
    enum BenchWhat {
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
        }
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
