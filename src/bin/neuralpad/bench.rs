//! `neuralpad bench ...`: the speed of the kernels, of training and
//! inference of any network, and of the service under load.

use clap::{Subcommand, ValueEnum};
use neuralpad::bench::{self, Timing};
use neuralpad::{Backend, CpuBackend, FastCpuBackend, GpuBackend};

use crate::networks::{gpu, network_arg};

#[derive(Subcommand)]
pub enum BenchWhat {
    /// `neuralpad serve` under load: clients sending a mix of requests
    /// back to back; requests/s, p50/p99 latency and errors.
    Serve(crate::serve::BenchServe),
    /// A digit network: training images/s at batch 32, latency of one
    /// image, throughput at batch 256.
    TrainMnist {
        /// A preset or a JSON spec file.
        #[arg(long, default_value = "seed-cnn")]
        network: String,
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// Training steps per timed sample.
        #[arg(long, default_value_t = 50)]
        steps: usize,
        /// Timed samples; the median is reported.
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
    /// A text network: training characters/s at batch 32, window 64 (a
    /// Transformer's: its context), and milliseconds per generated character.
    TrainText {
        /// A preset or a JSON spec file.
        #[arg(long, default_value = "seed-lstm")]
        network: String,
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// Training steps per timed sample.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Timed samples; the median is reported.
        #[arg(long, default_value_t = 5)]
        samples: usize,
    },
    /// Milliseconds per explanation (saliency, occlusion, "make it a K",
    /// which characters mattered) on the shipped weights, and how "make it
    /// a K"'s step rules compare.
    Explain {
        #[arg(long, value_enum, default_value = "both")]
        backend: Which,
        /// Timed samples; the median is reported.
        #[arg(long, default_value_t = 7)]
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
pub enum Which {
    Gpu,
    Cpu,
    Both,
}

pub fn run(what: BenchWhat) -> neuralpad::Result<()> {
    match what {
        BenchWhat::Serve(args) => crate::serve::bench(&args),
        BenchWhat::Explain { backend, samples } => crate::explain::bench(backend, samples),
        BenchWhat::Kernels {
            backend,
            batch,
            samples,
            min_sample,
        } => kernels(backend, &batch, samples, min_sample),
        BenchWhat::TrainMnist {
            network,
            backend,
            steps,
            samples,
        } => train_mnist(&network, backend, steps, samples),
        BenchWhat::TrainText {
            network,
            backend,
            steps,
            samples,
        } => train_text(&network, backend, steps, samples),
    }
}

fn kernels(
    backend: Which,
    batch: &[usize],
    samples: usize,
    min_sample: f64,
) -> neuralpad::Result<()> {
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
    for &n in batch {
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

fn train_mnist(
    network: &str,
    backend: Which,
    steps: usize,
    samples: usize,
) -> neuralpad::Result<()> {
    let spec = network_arg(network)?;
    println!("network: {}", spec.describe());
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
        row(g.name(), bench::mnist(&g, &spec, steps, samples)?);
    }
    if backend != Which::Gpu {
        let fast = FastCpuBackend::default();
        row(fast.name(), bench::mnist(&fast, &spec, steps, samples)?);
        // The plain-loop twins take about a second per step: fewer steps.
        row(
            "CPU (plain-loop twins)".into(),
            bench::mnist(&CpuBackend, &spec, steps.div_ceil(10), samples.min(3))?,
        );
    }
    Ok(())
}

fn train_text(
    network: &str,
    backend: Which,
    steps: usize,
    samples: usize,
) -> neuralpad::Result<()> {
    let spec = network_arg(network)?;
    println!("network: {}", spec.describe());
    println!(
        "{:<40} {:>16} {:>18}",
        "backend", "train chars/s", "generate ms/char"
    );
    let window = neuralpad::nn::plan::Plan::new(&spec, Some(2))?
        .layers
        .iter()
        .find_map(|l| l.transformer())
        .map_or(64, |t| t.context);
    println!(
        "{:<40} {:>16} {:>18}",
        "",
        format!("(32 x {window})"),
        "(one step)"
    );
    let row = |name: String, s: bench::TextSpeed| {
        println!(
            "{name:<40} {:>16.0} {:>18.3}",
            s.train_chars_per_s, s.generate_ms_per_char
        )
    };
    if backend != Which::Cpu {
        let g = gpu()?;
        g.warm_up();
        row(g.name(), bench::text(&g, &spec, steps, samples)?);
    }
    if backend != Which::Gpu {
        let fast = FastCpuBackend::default();
        row(fast.name(), bench::text(&fast, &spec, steps, samples)?);
    }
    Ok(())
}

fn print_table(batch: usize, gpu: Option<&[Timing]>, cpu: Option<&[Timing]>) {
    println!("\nbatch {batch} (median of samples; GFLOP/s counts a multiply-add as 2)");
    println!(
        "{:<26} {:<14} {:>11} {:>9} {:>11} {:>9} {:>9}",
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
            "{:<26} {:<14} {:>11} {:>9} {:>11} {:>9} {:>9}",
            first.kernel, first.layer, gm, gf, cm, cf, ratio
        );
    }
}
