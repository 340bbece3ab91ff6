//! The OpenAPI document served at /openapi.json, written by utoipa from
//! the handlers' annotations and the request and answer types, so that it
//! cannot drift from the code.

use utoipa::OpenApi;

use crate::api::{
    ApiError, DigitAnswer, DigitPixels, ExplainAnswer, ExplainPixels, GenerateAnswer,
    GenerateRequest, Health, ModelAnswer, ModelInfo, Models, NextAnswer, NextChar, NextRequest,
    PublishAnswer,
};

use super::{explain, published, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "neuralpad",
        description = "A digit classifier (CNN) and a character language model (LSTM) whose \
                       every multiply-add runs in WGSL compute shaders through wgpu, or on the \
                       CPU kernels. Requests arriving within a few milliseconds share one \
                       forward pass. Anyone may publish a classifier of their own classes \
                       (POST /v1/models), which is then classified with by its id; its token \
                       deletes it. Every failure is JSON: {\"error\": \"...\"}."
    ),
    paths(
        routes::classify,
        explain::explain,
        routes::next,
        routes::generate,
        routes::models,
        routes::healthz,
        published::publish,
        published::one,
        published::weights,
        published::classify,
        published::delete
    ),
    components(schemas(
        ApiError,
        DigitPixels,
        DigitAnswer,
        ExplainPixels,
        ExplainAnswer,
        NextRequest,
        NextChar,
        NextAnswer,
        GenerateRequest,
        GenerateAnswer,
        Models,
        ModelInfo,
        Health,
        PublishAnswer,
        ModelAnswer
    ))
)]
pub struct Doc;
