//! `POST /v1/digits/explain`: why the digit model gives a class the score
//! it gives, as `neuralpad explain --json` answers it: the class's logit
//! and its gradient with respect to the 28x28 input (saliency), made by
//! the backward kernels on the worker's backend. The body is what
//! `classify` takes; the class comes from `?class=` or, in JSON, the field
//! `class`.

use axum::Json;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;

use crate::api::{ApiError, DigitPixels, ExplainAnswer, ExplainPixels};
use crate::nn::classifier::CLASSES;

use super::routes::{Answer, AppState, Problem, ask, digit_input, pixels_input};
use super::worker::Job;

/// `?class=K`: the digit to explain.
#[derive(Debug, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExplainQuery {
    /// The digit to explain, 0 to 9 (default: the one the network reads).
    pub class: Option<usize>,
}

impl ExplainQuery {
    /// The query of `uri`: only `class`, given at most once, a number.
    fn parse(query: Option<&str>) -> Result<Self, Problem> {
        let mut q = Self::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let shown: String = key.chars().take(40).collect();
            if key != "class" {
                return Err(Problem::bad(format!(
                    "query: unknown parameter {shown:?}: the only one is class"
                )));
            }
            if q.class.is_some() {
                return Err(Problem::bad("query: class given twice"));
            }
            let k = value.parse::<usize>().map_err(|_| {
                let shown: String = value.chars().take(40).collect();
                Problem::bad(format!("query: class={shown:?} is not a digit 0 to 9"))
            })?;
            q.class = Some(k);
        }
        Ok(q)
    }
}

#[utoipa::path(
    post,
    path = "/v1/digits/explain",
    tag = "digits",
    params(ExplainQuery),
    request_body(
        description = "What `/v1/digits/classify` takes: a PNG or JPEG picture of one digit (the \
                       body, or the field `image` of a form), or the network's 28x28 input as \
                       JSON, which may name the class to explain in `class`.",
        content(
            (ExplainPixels = "application/json"),
            ("image/png"),
            ("image/jpeg"),
            ("multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "The class, its logit, the input and d logit / d input", body = ExplainAnswer),
        (status = 400, description = "Malformed JSON, a wrong shape, a class outside 0..=9, or a picture that does not decode", body = ApiError),
        (status = 408, description = "The body stalled, or did not arrive in time", body = ApiError),
        (status = 413, description = "The body is over the size limit", body = ApiError),
        (status = 415, description = "Not PNG, JPEG, a form or JSON", body = ApiError),
        (status = 422, description = "JSON of the wrong types, or a picture with no ink: no digit to explain", body = ApiError),
        (status = 503, description = "Too many requests waiting, or a timeout", body = ApiError),
    )
)]
pub async fn explain(State(st): State<AppState>, req: Request) -> Answer<ExplainAnswer> {
    let q = ExplainQuery::parse(req.uri().query())?;
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    let (input, body_class) = if json {
        let Json(d) = Json::<ExplainPixels>::from_request(req, &st).await?;
        let class = d.class;
        (pixels_input(&DigitPixels { pixels: d.pixels })?, class)
    } else {
        (digit_input(&st, req).await?, None)
    };
    let class = match (q.class, body_class) {
        (Some(a), Some(b)) if a != b => {
            return Err(Problem::bad(format!(
                "class: {a} in the query and {b} in the body: give one"
            )));
        }
        (a, b) => a.or(b),
    };
    if let Some(k) = class.filter(|&k| k >= CLASSES) {
        return Err(Problem::bad(format!(
            "class: {k} is not a digit: use 0 to {}",
            CLASSES - 1
        )));
    }
    let saliency = ask(&st.queue, |reply| Job::Explain {
        input: Box::new(input),
        class,
        reply,
    })
    .await?;
    Ok(Json(ExplainAnswer::of(&saliency)))
}
