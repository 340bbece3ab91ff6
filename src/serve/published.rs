//! Published models: a person's classifier sent as a safetensors file,
//! checked as the page checks it, measured on MNIST's test images when it
//! reads digits, kept in the [`Store`], and then listed, downloaded,
//! classified with and deleted by whoever holds its token.
//!
//! - `POST /v1/models`: publish (multipart: `weights`, `name`);
//! - `GET /v1/models/{id}`, `GET /v1/models/{id}/weights`;
//! - `POST /v1/models/{id}/classify`: the bodies `/v1/digits/classify` takes;
//! - `DELETE /v1/models/{id}` with `Authorization: Bearer TOKEN`.
//!
//! An id is 128 random bits and a token 256, both base64url; the store keeps
//! only the token's SHA-256, compared in constant time.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use crate::api::{ApiError, MAX_MODEL_NAME, ModelAnswer, ModelInfo, PublishAnswer};
use crate::data::mnist::Dataset;
use crate::error::Error;
use crate::nn::classifier::{Classifier, SIDE, argmax};
use crate::share::is_model_id;
use crate::train::mnist::evaluate;
use crate::{FastCpuBackend, Tensor};

use super::routes::{AppState, Problem, ask, digit_input};
use super::store::{NewModel, Refusal, Store, StoreLimits, Summary};
use super::worker::Job;

/// Bytes of randomness in an id (128 bits) and in a token (256 bits).
const ID_BYTES: usize = 16;
const TOKEN_BYTES: usize = 32;
/// Test images measured per forward pass.
const MEASURE_BATCH: usize = 256;

/// What publishing is held to.
#[derive(Clone, Debug)]
pub struct PublishConfig {
    /// Largest weights file, in bytes.
    pub max_model_bytes: usize,
    pub limits: StoreLimits,
    /// Take the client's address from the last entry of
    /// `X-Forwarded-For` (as a load balancer in front appends it) rather
    /// than from the connection.
    pub trust_forwarded_for: bool,
    /// The server's address as its clients reach it (such as
    /// https://models.example.org), for the `url` of a published model;
    /// without it, `http://` and the request's `Host`.
    pub public_url: Option<String>,
    /// Published models whose weights stay in memory at once.
    pub cache: usize,
}

/// The store and what publishing and classifying with it need.
pub struct Published {
    pub store: Store,
    pub cfg: PublishConfig,
    /// MNIST's test images, to measure digit models (none when the server
    /// was told `--eval-images 0`).
    pub test: Option<Arc<Dataset>>,
    /// One model measured at a time: measuring takes the CPU for a while.
    measuring: Semaphore,
    /// The latest models' classes and weights, the latest used last.
    cache: Mutex<VecDeque<(Arc<str>, Cached)>>,
}

#[derive(Clone)]
pub struct Cached {
    pub classes: Arc<Vec<String>>,
    pub weights: Arc<Vec<u8>>,
}

/// The client's address, put on each request by the connection that
/// carried it ([`super::connections`]).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

impl Published {
    pub fn new(store: Store, cfg: PublishConfig, test: Option<Arc<Dataset>>) -> Self {
        Self {
            store,
            cfg,
            test,
            measuring: Semaphore::new(1),
            cache: Mutex::new(VecDeque::new()),
        }
    }

    /// A model's classes and weights, from memory or the store; `None`
    /// when it is not (or no longer) in the store. The store is asked
    /// every time, so that a model deleted through another replica is
    /// gone here at once.
    async fn model(&self, id: &str) -> Result<Option<(Arc<str>, Cached)>, Problem> {
        if !self.store.exists(id).await.map_err(server_fault)? {
            self.forget(id);
            return Ok(None);
        }
        if let Some(hit) = self.cached(id) {
            return Ok(Some(hit));
        }
        let Some((classes, weights)) = self.store.weights(id).await.map_err(server_fault)? else {
            return Ok(None);
        };
        let entry = Cached {
            classes: Arc::new(classes),
            weights: Arc::new(weights),
        };
        let id: Arc<str> = id.into();
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache.retain(|(k, _)| *k != id);
        while cache.len() >= self.cfg.cache.max(1) {
            cache.pop_front();
        }
        cache.push_back((id.clone(), entry.clone()));
        Ok(Some((id, entry)))
    }

    fn cached(&self, id: &str) -> Option<(Arc<str>, Cached)> {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let i = cache.iter().position(|(k, _)| &**k == id)?;
        let hit = cache.remove(i)?;
        cache.push_back(hit.clone());
        Some(hit)
    }

    fn forget(&self, id: &str) {
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(k, _)| &**k != id);
    }
}

/// `n` bytes from the operating system's random source, base64url.
fn random(n: usize) -> Result<String, Problem> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes).map_err(|e| {
        Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no randomness for an id: {e}"),
        )
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal slices, in a time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `id` could be an id at all (22 base64url characters): anything
/// else is not looked up.
fn well_formed(id: &str) -> bool {
    is_model_id(id)
}

/// The `{id}` of the path, looked up only when it could be an id.
fn id_of(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    let Path(id) = path.map_err(|r| Problem::new(StatusCode::NOT_FOUND, r.body_text()))?;
    if well_formed(&id) {
        Ok(id)
    } else {
        Err(no_model(&id))
    }
}

fn no_model(id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!(
            "no published model {:?}: it was deleted, or the link is cut short (GET /v1/models lists them)",
            id.chars().take(40).collect::<String>()
        ),
    )
}

fn server_fault(e: Error) -> Problem {
    Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// Milliseconds since 1970, UTC.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// `ms` since 1970 as RFC 3339 in UTC: "2026-12-01T23:42:04.123Z".
pub fn rfc3339(ms: i64) -> String {
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days_from_civil, inverted.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A published model as `/v1/models` lists it.
pub fn info(s: &Summary) -> ModelInfo {
    ModelInfo {
        name: s.name.clone(),
        architecture: s.network.clone(),
        input: "a 28x28 grey image, ink 1 on 0 (a PNG or JPEG is preprocessed into one)".into(),
        input_shape: vec![SIDE, SIDE],
        outputs: s.classes.len(),
        parameters: s.parameters as usize,
        test_accuracy: s.accuracy.map(|a| a as f32),
        test_images: s.test_images.map(|n| n as usize),
        weights: format!("/v1/models/{}/weights", s.id),
        id: s.id.clone(),
        classes: Some(s.classes.clone()),
        created: Some(rfc3339(s.created_ms)),
        size_bytes: Some(s.size_bytes),
        sha256: Some(s.weights_sha256.clone()),
    }
}

/// Who sent `headers` on the connection from `peer`: the connection's
/// address, or with `trust_forwarded_for` the last address a proxy added.
fn client(peer: Option<Peer>, headers: &HeaderMap, trust_forwarded_for: bool) -> String {
    let forwarded = trust_forwarded_for
        .then(|| {
            headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .rfind(|a| !a.is_empty())
                .map(|a| a.chars().take(64).collect::<String>())
        })
        .flatten();
    forwarded
        .or_else(|| peer.map(|p| p.0.ip().to_string()))
        .unwrap_or_else(|| "unknown".into())
}

/// The name, checked: 1 to [`MAX_MODEL_NAME`] characters once trimmed, no
/// control characters.
fn check_name(raw: &str) -> Result<String, Problem> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 {
        return Err(Problem::bad(
            "name: empty: give the model a name of 1 to 64 characters",
        ));
    }
    if n > MAX_MODEL_NAME {
        return Err(Problem::bad(format!(
            "name: {n} characters; at most {MAX_MODEL_NAME} (the limit on a model's name)"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Problem::bad(
            "name: it holds a control character (a line break, a tab): use printable characters",
        ));
    }
    Ok(name.to_string())
}

fn refused(r: Refusal) -> Problem {
    match r {
        Refusal::Full { max_models } => Problem::new(
            StatusCode::CONFLICT,
            format!(
                "the store is full: it holds {max_models} models (the limit, --max-models); \
                 a model must be deleted before another is published"
            ),
        ),
        Refusal::TooOften {
            per_client_hour,
            retry_after_s,
        } => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "this address published {per_client_hour} models in the last hour (the limit, \
                 --publish-per-hour, counted across every replica of the store); \
                 try again in {retry_after_s} s"
            ),
        )
        .retry_after(retry_after_s),
        Refusal::Failed(e) => server_fault(e),
    }
}

/// What a publish form holds.
struct Form {
    name: String,
    weights: Vec<u8>,
}

async fn read_form(st: &AppState, req: Request) -> Result<Form, Problem> {
    let max = st.published.cfg.max_model_bytes;
    let mime = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if mime != "multipart/form-data" {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!(
                "Content-Type {:?} is not accepted: send multipart/form-data with the fields \
                 weights (a safetensors file) and name (text)",
                mime.chars().take(60).collect::<String>()
            ),
        ));
    }
    let mut form = Multipart::from_request(req, st).await?;
    let (mut name, mut weights) = (None, None);
    while let Some(mut field) = form.next_field().await? {
        match field.name().unwrap_or_default() {
            "name" => {
                let text = field.text().await?;
                if text.len() > MAX_MODEL_NAME * 4 + 64 {
                    return Err(Problem::bad(format!(
                        "name: {} bytes; at most {MAX_MODEL_NAME} characters (the limit on a model's name)",
                        text.len()
                    )));
                }
                name = Some(text);
            }
            "weights" => {
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await? {
                    if bytes.len() + chunk.len() > max {
                        return Err(Problem::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            format!(
                                "weights: the file is over {} KiB (the limit, --max-model-kib)",
                                max >> 10
                            ),
                        ));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                weights = Some(bytes);
            }
            other => {
                return Err(Problem::bad(format!(
                    "the form has a field {:?}: send weights (a safetensors file) and name",
                    other.chars().take(40).collect::<String>()
                )));
            }
        }
    }
    let weights = weights.ok_or_else(|| {
        Problem::bad("the form has no field weights: send the safetensors file as weights")
    })?;
    if weights.is_empty() {
        return Err(Problem::bad("weights: the file is empty"));
    }
    let name = check_name(&name.ok_or_else(|| {
        Problem::bad("the form has no field name: give the model a name of 1 to 64 characters")
    })?)?;
    Ok(Form { name, weights })
}

/// What checking (and measuring) a weights file found.
struct Checked {
    classes: Vec<String>,
    network: String,
    parameters: u64,
    /// (accuracy, test images) for a digit model, when measured.
    measured: Option<(f64, u64)>,
}

/// Check `bytes` as the page does and, for a digit model, measure it on
/// `test`; on the fast CPU kernels, off the async threads.
fn check(bytes: &[u8], test: Option<&Dataset>) -> crate::Result<Checked> {
    let be = FastCpuBackend::default();
    let mut c = Classifier::from_drawable_file(&be, bytes)?;
    let measured = match test {
        Some(test) if c.is_digits() => {
            let confusion = pollster::block_on(evaluate(&be, &mut c, test, MEASURE_BATCH))?;
            Some((confusion.accuracy(), u64::from(confusion.total())))
        }
        _ => None,
    };
    Ok(Checked {
        classes: c.classes().to_vec(),
        network: c.spec().describe(),
        parameters: c.params().iter().map(|p| p.value.len() as u64).sum(),
        measured,
    })
}

#[utoipa::path(
    post,
    path = "/v1/models",
    tag = "published",
    request_body(
        description = "A form with the fields `weights` (a safetensors file: an image classifier \
                       reading 28x28x1, its network and class names in the metadata; a file \
                       without them is the seed CNN with the digits 0-9) and `name` (1 to 64 \
                       characters).",
        content(("multipart/form-data")),
    ),
    responses(
        (status = 201, description = "Stored; the token is shown this once", body = PublishAnswer),
        (status = 400, description = "A form without weights or name, a name too long, a file that is not a classifier the page can draw for", body = ApiError),
        (status = 409, description = "The store holds --max-models models", body = ApiError),
        (status = 413, description = "The file is over --max-model-kib (or the body over --max-body-kib)", body = ApiError),
        (status = 415, description = "Not multipart/form-data", body = ApiError),
        (status = 429, description = "This address published --publish-per-hour models in the last hour (Retry-After says when to try again)", body = ApiError),
    )
)]
pub async fn publish(State(st): State<AppState>, req: Request) -> Result<Response, Problem> {
    let p = st.published.clone();
    let who = client(
        req.extensions().get::<Peer>().copied(),
        req.headers(),
        p.cfg.trust_forwarded_for,
    );
    // Refuse early, before reading and measuring; the insert counts again.
    p.store
        .too_often(&who, p.cfg.limits, now_ms())
        .await
        .map_err(refused)?;
    let base = match &p.cfg.public_url {
        Some(u) => u.trim_end_matches('/').to_string(),
        None => format!(
            "http://{}",
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1")
        ),
    };
    let form = read_form(&st, req).await?;
    let permit = p.measuring.acquire().await.map_err(|_| {
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        )
    })?;
    let (bytes, test) = (Arc::new(form.weights), p.test.clone());
    let file = bytes.clone();
    let checked = tokio::task::spawn_blocking(move || check(&file, test.as_deref()))
        .await
        .map_err(|e| Problem::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| Problem::bad(format!("weights: {e}")))?;
    drop(permit);
    let id = random(ID_BYTES)?;
    let token = random(TOKEN_BYTES)?;
    let summary = Summary {
        id: id.clone(),
        name: form.name,
        classes: checked.classes,
        network: checked.network,
        parameters: checked.parameters,
        accuracy: checked.measured.map(|m| m.0),
        test_images: checked.measured.map(|m| m.1),
        created_ms: now_ms(),
        size_bytes: bytes.len() as u64,
        weights_sha256: hex(&sha256(&bytes)),
    };
    let model = NewModel {
        summary,
        client: who,
        token_sha256: sha256(token.as_bytes()),
        weights: Arc::unwrap_or_clone(bytes),
    };
    p.store
        .publish(&model, p.cfg.limits, model.summary.created_ms)
        .await
        .map_err(refused)?;
    let path = format!("/v1/models/{id}");
    let answer = PublishAnswer {
        url: format!("{base}{path}"),
        id,
        token,
        model: info(&model.summary),
    };
    let mut res = (StatusCode::CREATED, Json(answer)).into_response();
    if let Ok(v) = HeaderValue::from_str(&path) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    Ok(res)
}

#[utoipa::path(
    get,
    path = "/v1/models/{id}",
    tag = "published",
    params(("id" = String, Path, description = "The model's id")),
    responses(
        (status = 200, description = "The model", body = ModelInfo),
        (status = 404, description = "No such model", body = ApiError),
    )
)]
pub async fn one(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Json<ModelInfo>, Problem> {
    let id = id_of(path)?;
    match st.published.store.get(&id).await.map_err(server_fault)? {
        Some(s) => Ok(Json(info(&s))),
        None => Err(no_model(&id)),
    }
}

#[utoipa::path(
    get,
    path = "/v1/models/{id}/weights",
    tag = "published",
    params(("id" = String, Path, description = "The model's id")),
    responses(
        (status = 200, description = "The safetensors file, as published", content_type = "application/octet-stream"),
        (status = 404, description = "No such model", body = ApiError),
    )
)]
pub async fn weights(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, Problem> {
    let id = id_of(path)?;
    let Some((_, m)) = st.published.model(&id).await? else {
        return Err(no_model(&id));
    };
    let mut res = Response::new(Body::from(m.weights.to_vec()));
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{id}.safetensors\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

#[utoipa::path(
    post,
    path = "/v1/models/{id}/classify",
    tag = "published",
    params(("id" = String, Path, description = "The model's id")),
    request_body(
        description = "What /v1/digits/classify takes: a PNG or JPEG as the body or as the form \
                       field `image`, or the 28x28 input as JSON.",
        content(
            (crate::api::DigitPixels = "application/json"),
            ("image/png"),
            ("image/jpeg"),
            ("multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The probabilities of the model's classes", body = ModelAnswer),
        (status = 400, description = "Malformed JSON, a wrong shape, or a picture that does not decode", body = ApiError),
        (status = 404, description = "No such model", body = ApiError),
        (status = 415, description = "Not PNG, JPEG, a form or JSON", body = ApiError),
        (status = 422, description = "The picture has no ink", body = ApiError),
        (status = 503, description = "Too many requests waiting, or a timeout", body = ApiError),
    )
)]
pub async fn classify(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    req: Request,
) -> Result<Json<ModelAnswer>, Problem> {
    let id = id_of(path)?;
    let Some((model, m)) = st.published.model(&id).await? else {
        return Err(no_model(&id));
    };
    let input = digit_input(&st, req).await?;
    let weights = m.weights.clone();
    let (probs, batch) = ask(&st.queue, |reply| Job::Published {
        model,
        weights,
        input: Box::new(input),
        reply,
    })
    .await?;
    let index = argmax(&probs);
    Ok(Json(ModelAnswer {
        class: m.classes.get(index).cloned().unwrap_or_default(),
        index,
        probabilities: probs,
        classes: m.classes.to_vec(),
        input: input.chunks_exact(SIDE).map(<[f32]>::to_vec).collect(),
        batch,
        model: id,
    }))
}

#[utoipa::path(
    delete,
    path = "/v1/models/{id}",
    tag = "published",
    params(("id" = String, Path, description = "The model's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No `Authorization: Bearer TOKEN`", body = ApiError),
        (status = 403, description = "Not this model's token", body = ApiError),
        (status = 404, description = "No such model", body = ApiError),
    )
)]
pub async fn delete(
    State(st): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<StatusCode, Problem> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty());
    let Some(token) = bearer else {
        return Err(Problem::new(
            StatusCode::UNAUTHORIZED,
            "no token: send the token you were given when publishing, as \
             Authorization: Bearer TOKEN",
        )
        .www_authenticate());
    };
    let id = id_of(path)?;
    let store = &st.published.store;
    let Some(kept) = store.token_sha256(&id).await.map_err(server_fault)? else {
        return Err(no_model(&id));
    };
    let given = sha256(token.as_bytes());
    if !same(&given, &kept) {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            "the token is not this model's: only the token given when it was published deletes it",
        ));
    }
    if !store.delete(&id, &kept).await.map_err(server_fault)? {
        return Err(no_model(&id));
    }
    st.published.forget(&id);
    Ok(StatusCode::NO_CONTENT)
}

/// The `Peer` layer's service: puts the connection's address on each
/// request.
pub fn with_peer<S>(service: S, peer: SocketAddr) -> axum::middleware::AddExtension<S, Peer> {
    use tower_layer::Layer;
    axum::Extension(Peer(peer)).layer(service)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        // date -u -d @951782400 → 2000-02-29 00:00:00 (a leap day).
        assert_eq!(rfc3339(951_782_400_123), "2000-02-29T00:00:00.123Z");
        // date -u -d @1796168524 → 2026-12-01 23:42:04.
        assert_eq!(rfc3339(1_796_168_524_000), "2026-12-01T23:42:04.000Z");
    }

    #[test]
    fn ids_are_128_bits_url_safe_and_tokens_compare_whole() {
        let id = random(ID_BYTES).unwrap();
        assert_eq!(id.len(), crate::share::MODEL_ID_CHARS);
        assert!(well_formed(&id));
        assert_ne!(id, random(ID_BYTES).unwrap());
        assert!(!well_formed("../../etc/passwd"));
        assert!(!well_formed(&format!("{id}x")));
        let t = sha256(b"token");
        assert!(same(&t, &sha256(b"token")));
        assert!(!same(&t, &sha256(b"tokeN")));
        assert!(!same(&t, &t[..31]));
    }

    #[test]
    fn the_client_is_the_proxy_s_last_address_only_when_trusted() {
        let peer = Some(Peer("10.0.0.9:5000".parse().unwrap()));
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "1.2.3.4, 5.6.7.8".parse().unwrap());
        assert_eq!(client(peer, &h, false), "10.0.0.9");
        assert_eq!(client(peer, &h, true), "5.6.7.8");
        assert_eq!(client(peer, &HeaderMap::new(), true), "10.0.0.9");
    }

    #[test]
    fn names_are_bounded_and_printable() {
        assert_eq!(check_name("  ✓ ✗ ○ △ ").unwrap(), "✓ ✗ ○ △");
        assert!(check_name("   ").is_err());
        assert!(check_name(&"名".repeat(64)).is_ok());
        assert!(check_name(&"名".repeat(65)).is_err());
        assert!(check_name("a\nb").is_err());
    }
}
