//! The load test behind `neuralpad bench serve`: many clients, each on its
//! own keep-alive connection, sending a mix of requests back to back for a
//! fixed time. It reports requests per second, latency percentiles per
//! endpoint, how many requests shared a batch, and every error.

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
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: Bytes,
}

/// What a page and its users send: mostly digits (as the 28x28 array and
/// as a PNG), next characters for typed text, now and then a short
/// continuation.
pub fn mix(test: &Dataset) -> Result<Vec<Prepared>> {
    let mut out = Vec::new();
    for i in 0..4 {
        let pixels = test
            .pixels(i)
            .chunks_exact(test.cols)
            .map(|row| row.iter().map(|&p| normalize(p)).collect())
            .collect();
        out.push(Prepared {
            name: "classify (JSON)",
            path: "/v1/digits/classify",
            content_type: "application/json",
            body: json(&DigitPixels { pixels }),
        });
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
    out.push(Prepared {
        name: "classify (PNG)",
        path: "/v1/digits/classify",
        content_type: "image/png",
        body: Bytes::from(png),
    });
    for prompt in ["The state of the Union is", "We must not forget th"] {
        out.push(Prepared {
            name: "text/next",
            path: "/v1/text/next",
            content_type: "application/json",
            body: json(&NextRequest {
                prompt: prompt.into(),
                k: 10,
                model: crate::api::DEFAULT_TEXT_MODEL.into(),
            }),
        });
    }
    out.push(Prepared {
        name: "text/generate (32 chars)",
        path: "/v1/text/generate",
        content_type: "application/json",
        body: json(&GenerateRequest {
            prompt: "Our economy ".into(),
            length: 32,
            temperature: 0.8,
            top_k: 0,
            seed: Some(7),
            model: crate::api::DEFAULT_TEXT_MODEL.into(),
        }),
    });
    Ok(out)
}

fn json(v: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("plain structs serialise"))
}

/// One answered request.
struct Sample {
    /// Index into the mix.
    which: usize,
    ms: f64,
    /// Requests that shared its batch, as the answer says.
    batch: u64,
}

pub struct Report {
    pub clients: usize,
    pub elapsed: Duration,
    names: Vec<&'static str>,
    samples: Vec<Sample>,
    /// Every failure: a status other than 200, or a broken connection.
    pub errors: Vec<String>,
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

    /// Requests per batch, averaged over the requests.
    pub fn mean_batch(&self) -> f64 {
        self.samples.iter().map(|s| s.batch as f64).sum::<f64>() / self.samples.len().max(1) as f64
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<26} {:>9} {:>10} {:>10} {:>10}",
            "requests", "count", "p50 ms", "p99 ms", "batch"
        )?;
        let mut names = self.names.clone();
        names.dedup();
        for name in names {
            let of: Vec<&Sample> = self
                .samples
                .iter()
                .filter(|s| self.names[s.which] == name)
                .collect();
            let batch = of.iter().map(|s| s.batch as f64).sum::<f64>() / of.len().max(1) as f64;
            writeln!(
                f,
                "{name:<26} {:>9} {:>10.1} {:>10.1} {batch:>10.1}",
                of.len(),
                self.latency_ms(Some(name), 0.5),
                self.latency_ms(Some(name), 0.99),
            )?;
        }
        writeln!(
            f,
            "{:<26} {:>9} {:>10.1} {:>10.1} {:>10.1}",
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
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    for t in tasks {
        match t.await {
            Ok((s, e)) => {
                samples.extend(s);
                errors.extend(e);
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
    }
}

async fn client(
    addr: SocketAddr,
    id: usize,
    deadline: Instant,
    mix: Arc<Vec<Prepared>>,
) -> (Vec<Sample>, Vec<String>) {
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    let mut send = match connect(addr).await {
        Ok(s) => s,
        Err(e) => return (samples, vec![format!("client {id}: {e}")]),
    };
    let mut which = id % mix.len();
    while Instant::now() < deadline {
        let p = &mix[which];
        let req = hyper::Request::post(p.path)
            .header(HOST, addr.to_string())
            .header(CONTENT_TYPE, p.content_type)
            .body(Full::new(p.body.clone()))
            .expect("a valid request");
        let t = Instant::now();
        let res = match send.send_request(req).await {
            Ok(res) => res,
            Err(e) => {
                errors.push(format!("client {id}: {}: connection failed: {e}", p.name));
                return (samples, errors);
            }
        };
        let status = res.status();
        let body = match res.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                errors.push(format!("client {id}: {}: body failed: {e}", p.name));
                return (samples, errors);
            }
        };
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if status.is_success() {
            let batch = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["batch"].as_u64())
                .unwrap_or(0);
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
    (samples, errors)
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
