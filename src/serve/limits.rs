//! The limits a request is held to around its handler, each answered with
//! a JSON [`Problem`] naming the limit: a URI or headers too long (414,
//! 431), a body larger than allowed, declared or sent (413, before any of
//! it is read when its `Content-Length` says so, so a client that asked
//! `Expect: 100-continue` never gets `100 Continue`), a body that stalls
//! or arrives too slowly (408), and a request that takes too long (503).
//!
//! What hyper refuses itself, before this runs, comes without a JSON body:
//! 400 for a request that is not HTTP/1.1, 414 for a URI over 65,534
//! bytes, 431 for a head over [`super::connections::MAX_BUFFER_BYTES`] or
//! with over 100 headers. hyper 1 offers no hook for their body.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;
use std::{fmt, pin::Pin};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper::body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::routes::Problem;

/// The longest URI answered (a longer one gets 414). The API's paths and
/// queries (`?class=7`) are short; hyper itself answers URIs over 65,534
/// bytes.
pub const MAX_URI_BYTES: usize = 8 << 10;

/// The longest request head answered: request line and headers, about as
/// sent (a longer one gets 431). Browsers send a few hundred bytes.
pub const MAX_HEAD_BYTES: usize = 16 << 10;

/// What each request may take.
#[derive(Clone, Copy, Debug)]
pub struct RequestLimits {
    /// Longest a request may take, reading its body and waiting included.
    pub timeout: Duration,
    /// Longest the body may pause: no new bytes for this long is a stall.
    pub body_timeout: Duration,
    /// Largest body, in bytes.
    pub max_body: usize,
}

/// The middleware: checks the head, watches the body as the handler
/// reads it, and answers in the handler's stead when a limit is hit.
pub async fn guard(State(limits): State<RequestLimits>, req: Request, next: Next) -> Response {
    if let Err(p) = limits.check_head(&req) {
        return closing(p);
    }
    let watch = Arc::new(Watch::default());
    let req = req.map(|inner| {
        Body::new(Watched {
            inner,
            watch: watch.clone(),
            stall: limits.body_timeout,
            max: limits.max_body,
            seen: 0,
            timer: None,
        })
    });
    let answer = tokio::time::timeout(limits.timeout, next.run(req)).await;
    match (watch.get(), answer) {
        // The handler saw an error reading the body and answered 400:
        // the body's real fault is the one to tell.
        (BodyState::Stalled, _) => closing(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body stalled: no data came for {} s (the limit, \
                 --body-timeout-s); send the whole body without pausing",
                secs(limits.body_timeout)
            ),
        )),
        (BodyState::TooLarge, _) => closing(limits.too_large(None)),
        (BodyState::Waiting, Err(_)) => closing(Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive in full within {} s (the limit, --timeout-s)",
                secs(limits.timeout)
            ),
        )),
        (_, Ok(res)) => res,
        (_, Err(_)) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "timed out after {} s (the limit, --timeout-s): the server is too busy",
                secs(limits.timeout)
            ),
        )
        .into_response(),
    }
}

impl RequestLimits {
    /// The URI's and the head's size, and the body's declared size.
    fn check_head(&self, req: &Request) -> Result<(), Problem> {
        let uri = req.uri();
        let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + 3)
            + uri.authority().map_or(0, |a| a.as_str().len())
            + uri.path_and_query().map_or(0, |p| p.as_str().len());
        if uri_bytes > MAX_URI_BYTES {
            return Err(Problem::new(
                StatusCode::URI_TOO_LONG,
                format!("the URI is {uri_bytes} bytes; at most {MAX_URI_BYTES} (8 KiB)"),
            ));
        }
        // "METHOD URI HTTP/1.1\r\n", "name: value\r\n" each, "\r\n".
        let head_bytes = req.method().as_str().len()
            + uri_bytes
            + 12
            + req
                .headers()
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len() + 4)
                .sum::<usize>()
            + 2;
        if head_bytes > MAX_HEAD_BYTES {
            return Err(Problem::new(
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "the request line and headers are {head_bytes} bytes; at most \
                     {MAX_HEAD_BYTES} (16 KiB)"
                ),
            ));
        }
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match declared {
            Some(n) if n > self.max_body as u64 => Err(self.too_large(Some(n))),
            _ => Ok(()),
        }
    }

    fn too_large(&self, declared: Option<u64>) -> Problem {
        let limit = format!(
            "the limit is {} bytes ({} KiB, --max-body-kib)",
            self.max_body,
            self.max_body >> 10
        );
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            match declared {
                Some(n) => format!("the body is {n} bytes (its Content-Length); {limit}"),
                None => format!("the body is over the size limit: {limit}"),
            },
        )
    }
}

/// A refusal after which the rest of the request is not read: the
/// connection closes once it is sent.
fn closing(p: Problem) -> Response {
    let mut res = p.into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// Where the body's reading stands, shared between the body (which the
/// handler owns) and [`guard`].
#[derive(Default)]
struct Watch(AtomicU8);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum BodyState {
    /// Not read yet, or its last read returned data.
    Idle,
    /// Its last read is waiting for the client.
    Waiting,
    /// No data came for the body timeout.
    Stalled,
    /// More than the limit came.
    TooLarge,
}

impl Watch {
    fn get(&self) -> BodyState {
        match self.0.load(Ordering::Acquire) {
            1 => BodyState::Waiting,
            2 => BodyState::Stalled,
            3 => BodyState::TooLarge,
            _ => BodyState::Idle,
        }
    }

    fn set(&self, s: BodyState) {
        self.0.store(s as u8, Ordering::Release);
    }
}

/// Why [`Watched`] ended a body early; [`guard`] answers for it.
#[derive(Debug)]
struct BodyLimit(&'static str);

impl fmt::Display for BodyLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for BodyLimit {}

/// A request body that fails once it passes `max` bytes or waits longer
/// than `stall` for its next bytes, and tells its [`Watch`] which.
struct Watched {
    inner: Body,
    watch: Arc<Watch>,
    stall: Duration,
    max: usize,
    seen: usize,
    /// Runs while a read waits for the client.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Watched {
    fn fail(&mut self, s: BodyState) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        self.watch.set(s);
        let why = match s {
            BodyState::Stalled => "the request body stalled",
            _ => "the request body is over the size limit",
        };
        Poll::Ready(Some(Err(Box::new(BodyLimit(why)))))
    }
}

impl HttpBody for Watched {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match this.watch.get() {
            s @ (BodyState::Stalled | BodyState::TooLarge) => return this.fail(s),
            _ => {}
        }
        let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) else {
            let stall = this.stall;
            let timer = this
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
            this.watch.set(BodyState::Waiting);
            ready!(timer.as_mut().poll(cx));
            return this.fail(BodyState::Stalled);
        };
        this.timer = None;
        this.watch.set(BodyState::Idle);
        if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
            this.seen = this.seen.saturating_add(data.len());
            if this.seen > this.max {
                return this.fail(BodyState::TooLarge);
            }
        }
        Poll::Ready(frame.map(|f| f.map_err(Into::into)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
