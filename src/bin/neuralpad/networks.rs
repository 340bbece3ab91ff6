//! `neuralpad networks`, and what every command that takes a network or a
//! backend shares: `--network PRESET|FILE.json`, and opening the GPU.

use std::path::Path;

use clap::Args;
use neuralpad::nn::plan::Plan;
use neuralpad::nn::spec::{self, MAX_SPEC_BYTES, NetworkSpec, PRESETS};
use neuralpad::{Backend, Error, GpuBackend};

/// The vocabulary the listing sizes text networks for: the State of the
/// Union corpus's 98 characters and the unknown symbol.
const LISTED_VOCAB: usize = 99;

#[derive(Args)]
pub struct Networks {
    /// Also print each network's spec as JSON (what --network FILE.json reads).
    #[arg(long)]
    pub json: bool,
}

/// A preset's name or a JSON file's path, read as a spec.
pub fn network_arg(arg: &str) -> neuralpad::Result<NetworkSpec> {
    if !arg.ends_with(".json") && !Path::new(arg).exists() {
        return spec::preset(arg);
    }
    let bytes = crate::cli::read(Path::new(arg))?;
    if bytes.len() > MAX_SPEC_BYTES {
        return Err(Error::Io {
            path: arg.into(),
            problem: format!(
                "{} bytes: a network spec has at most {MAX_SPEC_BYTES}",
                bytes.len()
            ),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| Error::Io {
        path: arg.into(),
        problem: "not UTF-8 text".into(),
    })?;
    NetworkSpec::from_json(&text).map_err(|e| Error::Io {
        path: arg.into(),
        problem: e.to_string(),
    })
}

pub fn gpu() -> neuralpad::Result<GpuBackend> {
    let g = pollster::block_on(GpuBackend::new())?;
    eprintln!("backend: {}", g.name());
    Ok(g)
}

pub fn list(o: &Networks) -> neuralpad::Result<()> {
    println!(
        "{:<14} {:<6} {:>11} {:>14}  layers",
        "network", "reads", "parameters", "multiply-adds"
    );
    for p in PRESETS {
        let s = (p.spec)();
        let plan = Plan::new(&s, s.is_text().then_some(LISTED_VOCAB))?;
        let per = if s.is_text() { "/char" } else { "/image" };
        println!(
            "{:<14} {:<6} {:>11} {:>14}  {}",
            p.name,
            if s.is_text() { "text" } else { "digits" },
            plan.param_count(),
            format!("{}{per}", plan.macs()),
            s.describe()
        );
        println!("{:<14} {}", "", p.about);
        if o.json {
            println!("{:<14} {}", "", s.to_json());
        }
    }
    println!(
        "\nText networks are sized for the State of the Union corpus's vocabulary \
         ({} characters with the unknown symbol); train with --network NAME or --network FILE.json.",
        LISTED_VOCAB
    );
    Ok(())
}
