//! The endpoints: each checks its request, queues a job for the model
//! worker and turns the answer into JSON. Every failure, the framework's
//! own rejections included, is a JSON [`ApiError`] of at most
//! [`MAX_ERROR_CHARS`] characters whose status code says whose fault it
//! was. (Only hyper's own 400, 414 and 431, answered before any of this
//! code runs, come without one: see [`super::limits`].)

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::multipart::{MultipartError, MultipartRejection};
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Semaphore, oneshot};

use crate::api::{
    ApiError, DigitAnswer, DigitPixels, GenerateAnswer, GenerateRequest, Health,
    MAX_GENERATE_CHARS, MAX_LISTED, MAX_PROMPT_CHARS, MAX_TOP_K, ModelInfo, Models, NextAnswer,
    NextChar, NextRequest,
};
use crate::data::corpus::Vocab;
use crate::data::picture;
use crate::error::Error;
use crate::nn::char_model::Sampling;
use crate::nn::classifier::{PIXELS, SIDE, argmax};

use super::published::{self, Published};
use super::worker::{Failed, Job, Queue, Refused};

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub queue: Queue,
    /// What runs the kernels now (a lost GPU hands over to the CPU).
    pub backend: Arc<Mutex<String>>,
    pub models: Arc<Vec<ModelInfo>>,
    /// Each text model's id and vocabulary; a request's `model` is an index
    /// into it.
    pub text_models: Arc<Vec<(String, Vocab)>>,
    pub started: Instant,
    /// Pictures that may be decoding at once.
    pub decoding: Arc<Semaphore>,
    /// The model store and what publishing needs.
    pub published: Arc<Published>,
}

impl AppState {
    pub fn backend_now(&self) -> String {
        self.backend
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The most characters of an error message sent: a message quoting what
/// a client sent (serde quotes a string where a number belongs; a file
/// may list thousands of names) is cut here, for every error alike.
pub const MAX_ERROR_CHARS: usize = 1000;

/// A failed request: its status and what went wrong, sent as JSON.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    message: String,
    /// Seconds for `Retry-After` (503 says 1 unless told).
    retry_after: Option<u64>,
    /// Send `WWW-Authenticate: Bearer` (a 401).
    bearer: bool,
}

impl Problem {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
            bearer: false,
        }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// Say when to try again, in seconds.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }

    /// A 401 that says which credentials: a bearer token.
    pub fn www_authenticate(mut self) -> Self {
        self.bearer = true;
        self
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let mut res = (
            self.status,
            Json(ApiError {
                error: bounded(self.message),
            }),
        )
            .into_response();
        let retry = match self.retry_after {
            Some(s) => Some(s),
            // Busy or stopping: a client may try again shortly.
            None if self.status == StatusCode::SERVICE_UNAVAILABLE => Some(1),
            None => None,
        };
        if let Some(s) = retry {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        if self.bearer {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"neuralpad models\""),
            );
        }
        res
    }
}

/// `message`, or its first [`MAX_ERROR_CHARS`] characters and a note
/// saying so.
pub fn bounded(mut message: String) -> String {
    if let Some((cut, _)) = message.char_indices().nth(MAX_ERROR_CHARS) {
        message.truncate(cut);
        message.push_str(&format!(
            "\u{2026} (message cut at {MAX_ERROR_CHARS} characters)"
        ));
    }
    message
}

/// The library's errors at the edge: the request's fault (400, or 422 for
/// a picture with no digit in it) or the server's (500).
impl From<Error> for Problem {
    fn from(e: Error) -> Self {
        let status = match e {
            Error::Input { .. } | Error::DataLength { .. } => StatusCode::BAD_REQUEST,
            Error::EmptyDrawing => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

/// axum's rejections keep their status and text, in JSON.
macro_rules! from_rejection {
    ($($t:ty),*) => {$(
        impl From<$t> for Problem {
            fn from(r: $t) -> Self {
                Self::new(r.status(), r.body_text())
            }
        }
    )*};
}
from_rejection!(
    JsonRejection,
    BytesRejection,
    MultipartRejection,
    MultipartError
);

pub(super) type Answer<T> = Result<Json<T>, Problem>;

/// Queue a job and wait for the worker's answer.
pub async fn ask<T>(
    queue: &Queue,
    job: impl FnOnce(oneshot::Sender<Result<T, Failed>>) -> Job,
) -> Result<T, Problem> {
    let (tx, rx) = oneshot::channel();
    queue.push(job(tx)).map_err(|r| match r {
        Refused::Busy(limit) => Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("busy: {limit} requests are already waiting; try again shortly"),
        ),
        Refused::Stopped => stopping(),
    })?;
    match rx.await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(f)) if f.lost => Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "{}; the server goes on on the CPU kernels: ask again",
                f.message
            ),
        )),
        Ok(Err(f)) => Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the model failed: {}", f.message),
        )),
        // The worker answers every job it takes, even when shutting down:
        // a reply dropped unanswered means its batch failed.
        Err(_) => Err(Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the model failed on this request's batch",
        )),
    }
}

fn stopping() -> Problem {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is shutting down",
    )
}

#[utoipa::path(
    post,
    path = "/v1/digits/classify",
    tag = "digits",
    request_body(
        description = "A picture of one digit (PNG or JPEG, any size up to 4096 pixels a side, \
                       dark on light, light on dark, or any ink on a transparent background), \
                       as the whole body or as the field \
                       `image` of a form; or the network's 28x28 input as JSON.",
        content(
            (DigitPixels = "application/json"),
            ("image/png"),
            ("image/jpeg"),
            ("multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The probabilities and what the network read", body = DigitAnswer),
        (status = 400, description = "Malformed JSON, a wrong shape, or a picture that does not decode", body = ApiError),
        (status = 408, description = "The body stalled, or did not arrive in time", body = ApiError),
        (status = 413, description = "The body is over the size limit (by its Content-Length, before it is read)", body = ApiError),
        (status = 415, description = "Not PNG, JPEG, a form or JSON", body = ApiError),
        (status = 422, description = "The picture has no ink: no digit to classify", body = ApiError),
        (status = 503, description = "Too many requests waiting, or a timeout", body = ApiError),
    )
)]
pub async fn classify(State(st): State<AppState>, req: Request) -> Answer<DigitAnswer> {
    let input = digit_input(&st, req).await?;
    let (probs, batch) = ask(&st.queue, |reply| Job::Digit {
        input: Box::new(input),
        reply,
    })
    .await?;
    Ok(Json(DigitAnswer {
        digit: argmax(&probs) as u8,
        probabilities: probs,
        input: input.chunks_exact(SIDE).map(<[f32]>::to_vec).collect(),
        batch,
    }))
}

/// The 28x28 input of a classification, from any body `classify` takes:
/// JSON pixels, a PNG or JPEG, or a form with the field `image`.
pub async fn digit_input(st: &AppState, req: Request) -> Result<[f32; PIXELS], Problem> {
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let input = match mime.as_str() {
        "application/json" => {
            let Json(d) = Json::<DigitPixels>::from_request(req, st).await?;
            pixels_input(&d)?
        }
        "image/png" | "image/jpeg" => {
            let bytes = Bytes::from_request(req, st).await?;
            picture_input(st, bytes).await?
        }
        "multipart/form-data" => {
            let mut form = Multipart::from_request(req, st).await?;
            let mut image = None;
            while let Some(field) = form.next_field().await? {
                if field.name() == Some("image") {
                    image = Some(field.bytes().await?);
                    break;
                }
            }
            let bytes = image.ok_or_else(|| Problem::bad("the form has no field named image"))?;
            picture_input(st, bytes).await?
        }
        "" => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "no Content-Type: send image/png, image/jpeg, multipart/form-data \
                 with a field image, or application/json with pixels",
            ));
        }
        other => {
            return Err(Problem::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!(
                    "Content-Type {other} is not accepted: send image/png, image/jpeg, \
                     multipart/form-data with a field image, or application/json with pixels"
                ),
            ));
        }
    };
    Ok(input)
}

/// The JSON input checked: 28 rows of 28 values in 0..=1.
pub(super) fn pixels_input(d: &DigitPixels) -> Result<[f32; PIXELS], Problem> {
    if d.pixels.len() != SIDE || d.pixels.iter().any(|r| r.len() != SIDE) {
        return Err(Problem::bad(wrong_shape(&d.pixels)));
    }
    let mut input = [0.0; PIXELS];
    for (i, (slot, &v)) in input.iter_mut().zip(d.pixels.iter().flatten()).enumerate() {
        if !(0.0..=1.0).contains(&v) {
            return Err(Problem::bad(format!(
                "pixels: row {}, column {} is {v}: values must lie in 0..=1 (ink 1, background 0)",
                i / SIDE,
                i % SIDE
            )));
        }
        *slot = v;
    }
    Ok(input)
}

/// Rows shown by their widths in a wrong-shape message.
const ROWS_SHOWN: usize = 8;

/// What is wrong with pixels that are not 28 rows of 28: the rows' count,
/// the first row of another width, and the first few widths.
fn wrong_shape(rows: &[Vec<f32>]) -> String {
    let mut m = format!(
        "pixels: 28 rows of 28 values are needed; got {} rows",
        rows.len()
    );
    if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != SIDE) {
        m.push_str(&format!("; row {i} has {} values", r.len()));
    }
    if !rows.is_empty() {
        let shown: Vec<String> = rows
            .iter()
            .take(ROWS_SHOWN)
            .map(|r| r.len().to_string())
            .collect();
        m.push_str(&format!(" (widths {}", shown.join(", ")));
        if rows.len() > ROWS_SHOWN {
            m.push_str(&format!(" and {} more", rows.len() - ROWS_SHOWN));
        }
        m.push(')');
    }
    m
}

/// Decode and preprocess off the async threads: a large JPEG takes a
/// while. Only so many at once (a 4096x4096 picture takes 64 MB to
/// decode); the others wait their turn, within the request's time limit.
async fn picture_input(st: &AppState, bytes: Bytes) -> Result<[f32; PIXELS], Problem> {
    if bytes.is_empty() {
        return Err(Problem::bad("image: the body is empty"));
    }
    let permit = st
        .decoding
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| stopping())?;
    let pre = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        picture::preprocess(&bytes)
    })
    .await
    .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))??;
    Ok(pre.input)
}

/// The text model a request names: its index and vocabulary, or a 400
/// naming the ones there are.
fn text_model<'a>(st: &'a AppState, name: &str) -> Result<(usize, &'a Vocab), Problem> {
    st.text_models
        .iter()
        .position(|(id, _)| id == name)
        .map(|i| (i, &st.text_models[i].1))
        .ok_or_else(|| {
            let known: Vec<String> = st
                .text_models
                .iter()
                .map(|(id, _)| format!("{id:?}"))
                .collect();
            let shown: String = name.chars().take(40).collect();
            Problem::bad(format!(
                "model: {shown:?} is not a text model here: use {}",
                known.join(" or ")
            ))
        })
}

/// A prompt checked and read: its ids and the characters the model does
/// not know.
fn read_prompt(vocab: &Vocab, prompt: &str) -> Result<(Vec<u32>, Vec<String>), Problem> {
    let chars = prompt.chars().count();
    if chars == 0 {
        return Err(Problem::bad(
            "prompt: empty: give at least one character to continue",
        ));
    }
    if chars > MAX_PROMPT_CHARS {
        return Err(Problem::bad(format!(
            "prompt: {chars} characters; at most {MAX_PROMPT_CHARS}"
        )));
    }
    let mut unknown: Vec<char> = Vec::new();
    let ids = prompt
        .chars()
        .map(|c| {
            let id = vocab.id(c);
            if id == vocab.unknown_id() && !unknown.contains(&c) {
                unknown.push(c);
            }
            id
        })
        .collect();
    Ok((ids, unknown.iter().map(char::to_string).collect()))
}

#[utoipa::path(
    post,
    path = "/v1/text/next",
    tag = "text",
    request_body = NextRequest,
    responses(
        (status = 200, description = "The likeliest next characters", body = NextAnswer),
        (status = 400, description = "Malformed JSON, an empty or too long prompt, k out of range, an unknown model", body = ApiError),
        (status = 408, description = "The body stalled, or did not arrive in time", body = ApiError),
        (status = 413, description = "The body is over the size limit", body = ApiError),
        (status = 415, description = "Not application/json", body = ApiError),
        (status = 503, description = "Too many requests waiting, or a timeout", body = ApiError),
    )
)]
pub async fn next(
    State(st): State<AppState>,
    body: Result<Json<NextRequest>, JsonRejection>,
) -> Answer<NextAnswer> {
    let Json(r) = body?;
    if !(1..=MAX_TOP_K).contains(&r.k) {
        return Err(Problem::bad(format!(
            "k: {} is outside 1..={MAX_TOP_K}",
            r.k
        )));
    }
    let (model, vocab) = text_model(&st, &r.model)?;
    let (ids, unknown) = read_prompt(vocab, &r.prompt)?;
    let (top, batch) = ask(&st.queue, |reply| Job::Next {
        model,
        ids,
        k: r.k,
        reply,
    })
    .await?;
    Ok(Json(NextAnswer {
        next: top
            .into_iter()
            .map(|(c, p)| NextChar {
                char: c.to_string(),
                probability: p,
            })
            .collect(),
        unknown,
        batch,
        model: r.model,
    }))
}

#[utoipa::path(
    post,
    path = "/v1/text/generate",
    tag = "text",
    request_body = GenerateRequest,
    responses(
        (status = 200, description = "The prompt continued", body = GenerateAnswer),
        (status = 400, description = "Malformed JSON, an empty or too long prompt, a length over the limit, temperature out of range, an unknown model", body = ApiError),
        (status = 408, description = "The body stalled, or did not arrive in time", body = ApiError),
        (status = 413, description = "The body is over the size limit", body = ApiError),
        (status = 415, description = "Not application/json", body = ApiError),
        (status = 503, description = "Too many requests waiting, or a timeout", body = ApiError),
    )
)]
pub async fn generate(
    State(st): State<AppState>,
    body: Result<Json<GenerateRequest>, JsonRejection>,
) -> Answer<GenerateAnswer> {
    let Json(r) = body?;
    if !(1..=MAX_GENERATE_CHARS).contains(&r.length) {
        return Err(Problem::bad(format!(
            "length: {} is outside 1..={MAX_GENERATE_CHARS}",
            r.length
        )));
    }
    let sampling = Sampling {
        temperature: r.temperature,
        top_k: r.top_k,
        line_chars: r.line_chars,
    };
    sampling.check()?;
    let (model, vocab) = text_model(&st, &r.model)?;
    sampling.verse(vocab, "")?;
    let (ids, unknown) = read_prompt(vocab, &r.prompt)?;
    // Without a seed, std's per-process random hashing keys give one.
    let seed = r.seed.unwrap_or_else(|| {
        use std::hash::{BuildHasher, Hasher};
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    });
    let (generated, batch) = ask(&st.queue, |reply| Job::Generate {
        model,
        ids,
        length: r.length,
        sampling,
        seed,
        reply,
    })
    .await?;
    Ok(Json(GenerateAnswer {
        text: format!("{}{generated}", r.prompt),
        generated,
        seed,
        unknown,
        batch,
        model: r.model,
    }))
}

/// `GET /v1/models?offset=&limit=`: which published models to list.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Published models to skip, the newest first (default 0).
    #[serde(default)]
    pub offset: u64,
    /// Published models to list, at most 100 (the default).
    #[serde(default = "max_listed")]
    pub limit: u64,
}

fn max_listed() -> u64 {
    MAX_LISTED as u64
}

#[utoipa::path(
    get,
    path = "/v1/models",
    tag = "service",
    params(Page),
    responses(
        (status = 200, description = "The built-in models, then the published ones (the newest first), and the backend running them", body = Models),
        (status = 400, description = "A limit over 100, or an offset or limit that is not a number", body = ApiError),
    )
)]
pub async fn models(
    State(st): State<AppState>,
    page: Result<Query<Page>, axum::extract::rejection::QueryRejection>,
) -> Answer<Models> {
    let Query(page) = page.map_err(|r| Problem::bad(r.body_text()))?;
    if page.limit > MAX_LISTED as u64 {
        return Err(Problem::bad(format!(
            "limit: {} is over {MAX_LISTED}: page through the models with offset",
            page.limit
        )));
    }
    let store = &st.published.store;
    let fault = |e: Error| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string());
    let listed = store.list(page.offset, page.limit).await.map_err(fault)?;
    let total = store.count().await.map_err(fault)?;
    let mut models = (*st.models).clone();
    models.extend(listed.iter().map(published::info));
    Ok(Json(Models {
        backend: st.backend_now(),
        models,
        published_total: total,
    }))
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    responses((status = 200, description = "Serving", body = Health))
)]
pub async fn healthz(State(st): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        backend: st.backend_now(),
        queued: st.queue.waiting(),
        queue_limit: st.queue.limit(),
        uptime_s: st.started.elapsed().as_secs_f64(),
    })
}

pub async fn not_found(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("no endpoint {method} {uri}: the API is described at /openapi.json"),
    )
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{} does not take {method}: see /openapi.json", uri.path()),
    )
}

/// A handler that panicked: a 500 in JSON, and the server keeps serving.
pub fn panicked(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the server failed on this request",
    )
    .into_response()
}
