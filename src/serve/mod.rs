//! `neuralpad serve`: the trained models behind an HTTP API (axum on
//! tokio), on the GPU through wgpu or on the CPU kernels.
//!
//! - [`worker`]: the thread that owns the backend and the models, and
//!   batches the requests that arrive together;
//! - `text_rows`: the prompts being read as rows of the LSTM, joining and
//!   leaving between steps;
//! - [`explain`]: why the digit model answers what it does (saliency);
//! - [`routes`]: the endpoints, their checks and their JSON errors;
//! - [`published`]: the published models' endpoints, and [`store`] where
//!   they are kept (SQLite or PostgreSQL);
//! - [`limits`]: the sizes and times a request is held to around them;
//! - [`connections`]: the accept loop, its cap and hyper's timeouts;
//! - [`openapi`]: the document at /openapi.json;
//! - [`load`]: the load test (`neuralpad bench serve`).

pub mod connections;
pub mod explain;
pub mod limits;
pub mod load;
pub mod openapi;
pub mod published;
pub mod routes;
pub mod store;
mod text_rows;
pub mod worker;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method, header};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use connections::ConnectionLimits;
use limits::RequestLimits;
use published::{PublishConfig, Published};
use store::{Store, StoreLimits};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;

use crate::api::Models;
use crate::data::mnist;
use crate::device::Device;
use crate::error::{Error, Result};

use routes::AppState;
use worker::{Batching, Load};

/// Pictures decoded at once, at most.
const DECODING_AT_ONCE: usize = 8;

/// Everything `neuralpad serve` can be told.
#[derive(Clone, Debug)]
pub struct Config {
    pub device: Device,
    pub digit_weights: PathBuf,
    /// The text models by id (`api::TEXT_MODELS`) and their weights; the
    /// first, "lstm", must be there (it is the default of a request).
    pub text_weights: Vec<(String, PathBuf)>,
    /// MNIST test images to measure the digit model on at start (0: none).
    pub eval_images: usize,
    /// Folder with MNIST's IDX files.
    pub mnist_dir: PathBuf,
    pub batching: Batching,
    /// Longest a request may take, queueing included.
    pub timeout: Duration,
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest a request body may pause (no new bytes) before it is
    /// answered 408.
    pub body_timeout: Duration,
    /// The time a client has to send a request's headers, from the moment
    /// its connection waits for one (also the keep-alive idle timeout).
    pub header_timeout: Duration,
    /// Connections open at once; more wait until one closes.
    pub max_connections: usize,
    /// Origins whose pages may call the API: "*" for any, none for
    /// same-origin only.
    pub allow_origins: Vec<String>,
    /// The device-loss drill (see [`worker::Load`]).
    pub lose_gpu_at_batch: Option<usize>,
    /// Where published models are kept: `sqlite:PATH` or `postgres://...`.
    pub database: String,
    pub publish: PublishConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            device: Device::Gpu,
            digit_weights: "www/models/mnist_cnn.safetensors".into(),
            text_weights: crate::api::TEXT_MODELS
                .iter()
                .map(|(id, file)| (id.to_string(), Path::new("www/models").join(file)))
                .collect(),
            eval_images: 10_000,
            mnist_dir: mnist::default_dir(),
            batching: Batching {
                window: Duration::from_millis(2),
                max_batch: 64,
                queue: 256,
            },
            timeout: Duration::from_secs(30),
            max_body: 4 << 20,
            body_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 1024,
            allow_origins: vec!["*".into()],
            lose_gpu_at_batch: None,
            database: store::DEFAULT_DATABASE.into(),
            publish: PublishConfig {
                max_model_bytes: 2 << 20,
                limits: StoreLimits {
                    max_models: 1000,
                    per_client_hour: 10,
                },
                trust_forwarded_for: false,
                public_url: None,
                cache: 16,
            },
        }
    }
}

/// The models loaded and the routes ready; [`Service::serve`] listens.
pub struct Service {
    router: Router,
    worker: JoinHandle<()>,
    state: AppState,
    connections: ConnectionLimits,
}

impl Service {
    /// Read the weights, start the model worker (which measures the digit
    /// model) and build the routes over `store` (opened with
    /// [`Store::open`] on the runtime that will serve). Blocks until the
    /// models are loaded.
    pub fn load(config: &Config, store: Store) -> Result<Service> {
        let read = |path: &PathBuf| {
            std::fs::read(path)
                .map(|bytes| (path.display().to_string(), bytes))
                .map_err(|e| Error::Io {
                    path: path.display().to_string(),
                    problem: e.to_string(),
                })
        };
        let test = if config.eval_images > 0 {
            let (_, mut test) = mnist::load(&config.mnist_dir)?;
            let n = config.eval_images.min(test.len());
            test.labels.truncate(n);
            test.images.truncate(n * test.rows * test.cols);
            Some(Arc::new(test))
        } else {
            None
        };
        let (queue, loaded, worker) = worker::spawn(Load {
            device: config.device,
            digit_weights: read(&config.digit_weights)?,
            text_weights: config
                .text_weights
                .iter()
                .map(|(id, p)| read(p).map(|(file, bytes)| (id.clone(), file, bytes)))
                .collect::<Result<_>>()?,
            test: test.clone(),
            batching: config.batching,
            lose_gpu_at_batch: config.lose_gpu_at_batch,
            model_cache: config.publish.cache,
        })?;
        let state = AppState {
            queue,
            backend: loaded.backend,
            models: Arc::new(loaded.models),
            text_models: Arc::new(loaded.text_models),
            started: Instant::now(),
            decoding: Arc::new(Semaphore::new(DECODING_AT_ONCE)),
            published: Arc::new(Published::new(store, config.publish.clone(), test)),
        };
        let shared = state.clone();
        let router = Router::new()
            .route("/v1/models", get(routes::models).post(published::publish))
            .route(
                "/v1/models/{id}",
                get(published::one).delete(published::delete),
            )
            .route("/v1/models/{id}/weights", get(published::weights))
            .route("/v1/models/{id}/classify", post(published::classify))
            .route("/v1/digits/classify", post(routes::classify))
            .route("/v1/digits/explain", post(explain::explain))
            .route("/v1/text/next", post(routes::next))
            .route("/v1/text/generate", post(routes::generate))
            .route("/healthz", get(routes::healthz))
            .route(
                "/openapi.json",
                get(|| async { Json(openapi::Doc::openapi()) }),
            )
            .fallback(routes::not_found)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .with_state(state.clone())
            .layer(middleware::from_fn_with_state(
                RequestLimits {
                    timeout: config.timeout,
                    body_timeout: config.body_timeout,
                    max_body: config.max_body,
                },
                limits::guard,
            ))
            .layer(DefaultBodyLimit::max(config.max_body))
            .layer(CatchPanicLayer::custom(routes::panicked));
        let router = match cors(&config.allow_origins)? {
            Some(layer) => router.layer(layer),
            None => router,
        };
        Ok(Service {
            router,
            worker,
            state: shared,
            connections: ConnectionLimits {
                header_timeout: config.header_timeout,
                max_connections: config.max_connections,
            },
        })
    }

    /// The models served and what runs them now (the built-in ones).
    pub fn models(&self) -> Models {
        Models {
            backend: self.state.backend_now(),
            models: (*self.state.models).clone(),
            published_total: 0,
        }
    }

    /// The model store.
    pub fn store(&self) -> &Store {
        &self.state.published.store
    }

    /// Answer requests on `listener` until `shutdown` resolves; then stop
    /// taking connections, finish the requests in flight and stop the
    /// worker once its queue is answered. At most `max_connections` are
    /// open at once (see [`connections::serve`]).
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let io = |e: std::io::Error| Error::Io {
            path: "HTTP server".into(),
            problem: e.to_string(),
        };
        let published = self.state.published.clone();
        drop(self.state);
        connections::serve(listener, self.router, self.connections, shutdown)
            .await
            .map_err(io)?;
        // Every request is answered: nothing more to write.
        published.store.close().await;
        // Every handle on the queue went with the router: the worker ends.
        tokio::task::spawn_blocking(move || self.worker.join())
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(|_| Error::Device("the model worker panicked".into()))
    }
}

/// Ctrl-C, or SIGTERM as a service manager sends. The handlers are in
/// place when this returns, so a signal that comes before the server's
/// first poll still shuts it down gracefully.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut int, mut term) = (
            signal(SignalKind::interrupt())?,
            signal(SignalKind::terminate())?,
        );
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// The CORS layer for `origins`: "*" lets any page call the API (it
/// takes no cookies or credentials); listed origins only those pages;
/// none leaves the browser's same-origin rule alone.
fn cors(origins: &[String]) -> Result<Option<CorsLayer>> {
    if origins.is_empty() {
        return Ok(None);
    }
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = origins
            .iter()
            .map(|o| {
                HeaderValue::from_str(o.trim_end_matches('/')).map_err(|_| Error::Input {
                    what: "allow-origin",
                    problem: format!("{o:?} is not an origin such as http://localhost:8080"),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        AllowOrigin::list(list)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION])
            .expose_headers([header::RETRY_AFTER, header::LOCATION]),
    ))
}
