//! The load test behind `neuralpad bench serve`: many clients, each on its
//! own keep-alive connection, sending a mix of requests back to back for a
//! fixed time. It reports requests per second, latency percentiles per
//! endpoint, how many requests shared a batch, and every error.
//!
//! The mix includes the model store: before the clients start, one model
//! (the digit weights) is published ([`setup`]) and classified by its id
//! in the mix; now and then a client publishes another, and every model
//! the test published is deleted with its token at the end ([`cleanup`]).

use std::fmt;
use std::io::Cursor;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::api::{DigitPixels, GenerateRequest, NextRequest};
use crate::data::mnist::{Dataset, normalize};
use crate::error::{Error, Result};

/// One request of the mix, ready to send again and again.
pub struct Prepared {
    pub name: &'static str,
    pub path: String,
    pub content_type: String,
    pub body: Bytes,
    /// A publish: its answer's id and token are kept, to delete the
    /// model at the end.
    pub publishes: bool,
}

/// The rounds of the other requests each client sends for one publish.
const ROUNDS_PER_PUBLISH: usize = 5;
/// The boundary of the publish form (not in the safetensors file's bytes:
/// its header is JSON and its tensors are floats, so a run of 24 dashes and
/// letters never occurs by chance; the server reads the form either way).
const BOUNDARY: &str = "neuralpad-load-test-form-boundary";

/// The published model the mix classifies with, and who may delete it.
#[derive(Clone, Debug)]
pub struct Setup {
    pub id: String,
    pub token: String,
}

/// A publish form: `weights` and `name`, as multipart/form-data.
pub fn publish_form(weights: &[u8], name: &str) -> (String, Bytes) {
    let mut body = Vec::with_capacity(weights.len() + 512);
    body.extend_from_slice(
        format!(
            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\n{name}\r\n\
             --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"weights\"; \
             filename=\"model.safetensors\"\r\nContent-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(weights);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={BOUNDARY}"),
        Bytes::from(body),
    )
}

/// What a page and its users send: mostly digits (as the 28x28 array and
/// as a PNG), next characters for typed text, now and then a short
/// continuation; with the store, the published model `setup` classifies
/// drawings (as JSON and as a PNG), and once every few rounds a client
/// publishes `weights`.
pub fn mix(test: &Dataset, store: Option<(&Setup, &[u8])>) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    for i in 0..4 {
        let pixels = digit_rows(test, i);
        out.push(plain(
            "classify (JSON)",
            "/v1/digits/classify",
            "application/json",
            json(&DigitPixels { pixels }),
        ));
    }
    // A screenshot of a digit: dark ink on white, larger than MNIST's.
    let small = image::GrayImage::from_fn(test.cols as u32, test.rows as u32, |x, y| {
        image::Luma([255 - test.pixels(4)[y as usize * test.cols + x as usize]])
    });
    let big = image::imageops::resize(&small, 112, 112, image::imageops::FilterType::Triangle);
    let mut png = Vec::new();
    big.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(|e| Error::Data {
            source_name: "load test PNG".into(),
            problem: e.to_string(),
        })?;
    let png = Bytes::from(png);
    out.push(plain(
        "classify (PNG)",
        "/v1/digits/classify",
        "image/png",
        png.clone(),
    ));
    for prompt in ["The state of the Union is", "We must not forget th"] {
        out.push(plain(
            "text/next",
            "/v1/text/next",
            "application/json",
            json(&NextRequest {
                prompt: prompt.into(),
                k: 10,
                model: crate::api::DEFAULT_TEXT_MODEL.into(),
            }),
        ));
    }
    out.push(plain(
        "text/generate (32 chars)",
        "/v1/text/generate",
        "application/json",
        json(&GenerateRequest {
            prompt: "Our economy ".into(),
            length: 32,
            temperature: 0.8,
            top_k: 0,
            seed: Some(7),
            model: crate::api::DEFAULT_TEXT_MODEL.into(),
            line_chars: None,
        }),
    ));
    let Some((setup, weights)) = store else {
        return Ok(out);
    };
    let by_id = format!("/v1/models/{}/classify", setup.id);
    for i in 5..7 {
        out.push(plain(
            "models/{id}/classify (JSON)",
            &by_id,
            "application/json",
            json(&DigitPixels {
                pixels: digit_rows(test, i),
            }),
        ));
    }
    out.push(plain(
        "models/{id}/classify (PNG)",
        &by_id,
        "image/png",
        png,
    ));
    let round = out.len();
    let mut cycle = Vec::with_capacity(round * ROUNDS_PER_PUBLISH + 1);
    for _ in 0..ROUNDS_PER_PUBLISH {
        cycle.extend(out.iter().map(|p| Prepared {
            name: p.name,
            path: p.path.clone(),
            content_type: p.content_type.clone(),
            body: p.body.clone(),
            publishes: false,
        }));
    }
    let (content_type, body) = publish_form(weights, "load test");
    cycle.push(Prepared {
        name: "publish (POST /v1/models)",
        path: "/v1/models".into(),
        content_type,
        body,
        publishes: true,
    });
    Ok(cycle)
}

fn plain(name: &'static str, path: &str, content_type: &str, body: Bytes) -> Prepared {
    Prepared {
        name,
        path: path.into(),
        content_type: content_type.into(),
        body,
        publishes: false,
    }
}

/// Test image `i` as 28 rows of values in 0..=1.
fn digit_rows(test: &Dataset, i: usize) -> Vec<Vec<f32>> {
    test.pixels(i)
        .chunks_exact(test.cols)
        .map(|row| row.iter().map(|&p| normalize(p)).collect())
        .collect()
}

fn json(v: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("plain structs serialise"))
}

/// Requests per batch, averaged over those of `samples` that were batched;
/// NaN when none were.
fn mean_batch<'a>(samples: impl Iterator<Item = &'a Sample>) -> f64 {
    let batches: Vec<f64> = samples.filter_map(|s| s.batch).map(|b| b as f64).collect();
    batches.iter().sum::<f64>() / batches.len() as f64
}

/// One answered request.
struct Sample {
    /// Index into the mix.
    which: usize,
    ms: f64,
    /// Requests that shared its batch, as the answer says (a publish
    /// says none).
    batch: Option<u64>,
}

pub struct Report {
    pub clients: usize,
    pub elapsed: Duration,
    names: Vec<&'static str>,
    samples: Vec<Sample>,
    /// Every failure: a status other than 200 (201 for a publish), or a
    /// broken connection.
    pub errors: Vec<String>,
    /// The models published during the test: (id, token).
    pub published: Vec<Setup>,
}

impl Report {
    pub fn requests(&self) -> usize {
        self.samples.len()
    }

    pub fn per_second(&self) -> f64 {
        self.samples.len() as f64 / self.elapsed.as_secs_f64()
    }

    /// The `q` quantile (0..=1) of the latencies in milliseconds of the
    /// requests named `name`, or of all when `None`.
    pub fn latency_ms(&self, name: Option<&str>, q: f64) -> f64 {
        let mut ms: Vec<f64> = self
            .samples
            .iter()
            .filter(|s| name.is_none_or(|n| self.names[s.which] == n))
            .map(|s| s.ms)
            .collect();
        if ms.is_empty() {
            return f64::NAN;
        }
        ms.sort_by(f64::total_cmp);
        ms[((ms.len() - 1) as f64 * q).round() as usize]
    }

    /// Requests per batch, averaged over the requests that were batched.
    pub fn mean_batch(&self) -> f64 {
        mean_batch(self.samples.iter())
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<28} {:>9} {:>10} {:>10} {:>10}",
            "requests", "count", "p50 ms", "p99 ms", "batch"
        )?;
        let mut names: Vec<&str> = Vec::new();
        for n in &self.names {
            if !names.contains(n) {
                names.push(n);
            }
        }
        for name in names {
            let of: Vec<&Sample> = self
                .samples
                .iter()
                .filter(|s| self.names[s.which] == name)
                .collect();
            let batch = mean_batch(of.iter().copied());
            let batch = if batch.is_nan() {
                "-".to_string()
            } else {
                format!("{batch:.1}")
            };
            writeln!(
                f,
                "{name:<28} {:>9} {:>10.1} {:>10.1} {batch:>10}",
                of.len(),
                self.latency_ms(Some(name), 0.5),
                self.latency_ms(Some(name), 0.99),
            )?;
        }
        writeln!(
            f,
            "{:<28} {:>9} {:>10.1} {:>10.1} {:>10.1}",
            "all",
            self.requests(),
            self.latency_ms(None, 0.5),
            self.latency_ms(None, 0.99),
            self.mean_batch()
        )?;
        write!(
            f,
            "\n{} clients, {:.1} s: {:.0} requests/s, p50 {:.1} ms, p99 {:.1} ms, {} errors",
            self.clients,
            self.elapsed.as_secs_f64(),
            self.per_second(),
            self.latency_ms(None, 0.5),
            self.latency_ms(None, 0.99),
            self.errors.len()
        )
    }
}

/// `clients` connections to `addr`, each sending the mix in turn (starting
/// at its own place in it) until `duration` is over.
pub async fn run(
    addr: SocketAddr,
    clients: usize,
    duration: Duration,
    mix: Vec<Prepared>,
) -> Report {
    let mix = Arc::new(mix);
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|id| tokio::spawn(client(addr, id, deadline, mix.clone())))
        .collect();
    let (mut samples, mut errors, mut published) = (Vec::new(), Vec::new(), Vec::new());
    for t in tasks {
        match t.await {
            Ok(c) => {
                samples.extend(c.samples);
                errors.extend(c.errors);
                published.extend(c.published);
            }
            Err(e) => errors.push(format!("client task failed: {e}")),
        }
    }
    Report {
        clients,
        elapsed: start.elapsed(),
        names: mix.iter().map(|p| p.name).collect(),
        samples,
        errors,
        published,
    }
}

/// What one client did.
#[derive(Default)]
struct ClientReport {
    samples: Vec<Sample>,
    errors: Vec<String>,
    published: Vec<Setup>,
}

/// Publish `weights` once, before the clients start: the model the mix
/// classifies with.
pub async fn setup(addr: SocketAddr, weights: &[u8]) -> std::result::Result<Setup, String> {
    let mut send = connect(addr).await.map_err(|e| e.to_string())?;
    let (content_type, body) = publish_form(weights, "load test");
    let (status, body) = request(
        &mut send,
        addr,
        "POST",
        "/v1/models",
        &content_type,
        body,
        None,
    )
    .await
    .map_err(|e| format!("publishing the load test's model: {e}"))?;
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match (status.as_u16(), v["id"].as_str(), v["token"].as_str()) {
        (201, Some(id), Some(token)) => Ok(Setup {
            id: id.into(),
            token: token.into(),
        }),
        _ => Err(format!(
            "publishing the load test's model: {status}: {} (a server of its own lifts the \
             publishing limits; another needs --publish-per-hour and --max-models high enough)",
            String::from_utf8_lossy(&body)
        )),
    }
}

/// Delete every model the test published, with its token; the failures.
pub async fn cleanup(addr: SocketAddr, models: &[Setup]) -> Vec<String> {
    let mut errors = Vec::new();
    let mut send = match connect(addr).await {
        Ok(s) => s,
        Err(e) => return vec![format!("deleting the published models: {e}")],
    };
    for m in models {
        let bearer = format!("Bearer {}", m.token);
        let path = format!("/v1/models/{}", m.id);
        match request(
            &mut send,
            addr,
            "DELETE",
            &path,
            "",
            Bytes::new(),
            Some(&bearer),
        )
        .await
        {
            Ok((status, _)) if status.as_u16() == 204 => {}
            Ok((status, body)) => errors.push(format!(
                "DELETE {path}: {status}: {}",
                String::from_utf8_lossy(&body)
            )),
            Err(e) => errors.push(format!("DELETE {path}: {e}")),
        }
    }
    errors
}

/// One request on `send`; its status and body.
async fn request(
    send: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    content_type: &str,
    body: Bytes,
    authorization: Option<&str>,
) -> std::result::Result<(hyper::StatusCode, Bytes), String> {
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(HOST, addr.to_string());
    if !content_type.is_empty() {
        req = req.header(CONTENT_TYPE, content_type);
    }
    if let Some(a) = authorization {
        req = req.header(hyper::header::AUTHORIZATION, a);
    }
    let req = req.body(Full::new(body)).map_err(|e| e.to_string())?;
    // The connection takes the next request once it has read the last
    // answer to its end (an empty 204 included).
    send.ready().await.map_err(|e| e.to_string())?;
    let res = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}

async fn client(
    addr: SocketAddr,
    id: usize,
    deadline: Instant,
    mix: Arc<Vec<Prepared>>,
) -> ClientReport {
    let mut out = ClientReport::default();
    let (samples, errors) = (&mut out.samples, &mut out.errors);
    let mut send = match connect(addr).await {
        Ok(s) => s,
        Err(e) => {
            errors.push(format!("client {id}: {e}"));
            return out;
        }
    };
    // Clients start spread over the cycle, so that their publishes do not
    // all come at once.
    let mut which = (id * mix.len() / 64 + id) % mix.len();
    while Instant::now() < deadline {
        let p = &mix[which];
        let req = hyper::Request::post(p.path.as_str())
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, p.content_type.as_str())
            .body(Full::new(p.body.clone()))
            .expect("a valid request");
        let t = Instant::now();
        let sent = match send.ready().await {
            Ok(()) => send.send_request(req).await,
            Err(e) => Err(e),
        };
        let res = match sent {
            Ok(res) => res,
            Err(e) => {
                errors.push(format!("client {id}: {}: connection failed: {e}", p.name));
                return out;
            }
        };
        let status = res.status();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                errors.push(format!("client {id}: {}: body failed: {e}", p.name));
                return out;
            }
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if status.is_success() {
            let v = serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default();
            let batch = v["batch"].as_u64();
            if p.publishes
                && let (Some(id), Some(token)) = (v["id"].as_str(), v["token"].as_str())
            {
                out.published.push(Setup {
                    id: id.into(),
                    token: token.into(),
                });
            }
            samples.push(Sample { which, ms, batch });
        } else {
            errors.push(format!(
                "{}: {status}: {}",
                p.name,
                String::from_utf8_lossy(&body)
            ));
        }
        which = (which + 1) % mix.len();
    }
    out
}

async fn connect(
    addr: SocketAddr,
) -> std::io::Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    Ok(send)
}
