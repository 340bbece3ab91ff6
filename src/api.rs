//! The HTTP service's requests and answers (`neuralpad serve`, src/serve),
//! as JSON. Shared by the server and the page, which asks a server when a
//! person picks "on a server", so both sides read one definition.

use serde::{Deserialize, Serialize};

#[cfg(not(target_arch = "wasm32"))]
use utoipa::ToSchema;

/// Most characters a prompt may have.
pub const MAX_PROMPT_CHARS: usize = 2000;
/// Most characters one `generate` request may ask for.
pub const MAX_GENERATE_CHARS: usize = 1000;
/// Most next characters `text/next` lists.
pub const MAX_TOP_K: usize = 100;
/// The built-in text models: the id a request names in `model`, and the
/// file under www/models/ that the service loads and the page fetches: the
/// seed LSTM and the Transformer on the State of the Union addresses, and
/// the LSTM of the Tang poems.
pub const TEXT_MODELS: [(&str, &str); 3] = [
    ("lstm", "char_lstm.safetensors"),
    ("transformer", "char_transformer.safetensors"),
    ("tang", "char_lstm_tang.safetensors"),
];
/// The file under www/models/ of built-in text model `id`.
pub fn text_model_file(id: &str) -> Option<&'static str> {
    TEXT_MODELS
        .iter()
        .find_map(|(i, f)| (*i == id).then_some(*f))
}

/// The text model of a request that names none.
pub const DEFAULT_TEXT_MODEL: &str = "lstm";

fn default_model() -> String {
    DEFAULT_TEXT_MODEL.into()
}

/// Every failure: the status code says its kind, `error` what was wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct ApiError {
    /// What was wrong with the request, or why it could not be served.
    pub error: String,
}

/// `POST /v1/digits/classify` as JSON: the model's input itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct DigitPixels {
    /// 28 rows of 28 values in 0..=1, ink 1 on a background of 0 (MNIST's
    /// convention), already preprocessed: they go to the network as given.
    pub pixels: Vec<Vec<f32>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct DigitAnswer {
    /// The likeliest digit.
    pub digit: u8,
    /// The probability of each digit 0..9.
    pub probabilities: Vec<f32>,
    /// What the network read: 28 rows of 28 values in 0..=1 (for an
    /// uploaded picture, the result of cropping, fitting and centring).
    pub input: Vec<Vec<f32>>,
    /// Requests that shared this one forward pass (dynamic batching).
    pub batch: usize,
}

/// `POST /v1/digits/explain` as JSON: the model's input, as for
/// `classify`, and the class to explain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct ExplainPixels {
    /// 28 rows of 28 values in 0..=1, ink 1 on a background of 0.
    pub pixels: Vec<Vec<f32>>,
    /// The digit to explain, 0 to 9 (default: the one the network reads).
    #[serde(default)]
    pub class: Option<usize>,
}

/// `POST /v1/digits/explain`, and `neuralpad explain --json`: why the
/// network gives a class the score it gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct ExplainAnswer {
    /// The class explained: the one asked for, or the likeliest.
    pub class: usize,
    /// Its logit: the network's pre-softmax score for it.
    pub logit: f32,
    /// What the network read: 28 rows of 28 values in 0..=1.
    pub input: Vec<Vec<f32>>,
    /// d logit / d input at that input, 28 rows of 28, signed and
    /// unnormalised: positive where more ink would raise the score.
    pub saliency: Vec<Vec<f32>>,
}

impl ExplainAnswer {
    /// The answer for a saliency map of a 28x28 input.
    pub fn of(s: &crate::nn::explain::Saliency) -> Self {
        let side = crate::nn::classifier::SIDE;
        Self {
            class: s.target.class(),
            logit: s.score(),
            input: s.input.chunks(side).map(<[f32]>::to_vec).collect(),
            saliency: s.gradient.chunks(side).map(<[f32]>::to_vec).collect(),
        }
    }
}

/// `POST /v1/text/next`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct NextRequest {
    /// The text read so far, 1 to 2000 characters. Characters the model
    /// does not know read as its unknown symbol (listed in the answer).
    pub prompt: String,
    /// How many of the likeliest next characters to list, 1 to 100.
    #[serde(default = "default_k")]
    pub k: usize,
    /// The built-in text model that reads it: "lstm" (the default),
    /// "transformer" or "tang" (the Tang poems).
    #[serde(default = "default_model")]
    pub model: String,
}

fn default_k() -> usize {
    10
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct NextChar {
    /// One character.
    pub char: String,
    pub probability: f32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct NextAnswer {
    /// The likeliest next characters, likeliest first.
    pub next: Vec<NextChar>,
    /// The prompt's characters outside the model's vocabulary, once each.
    pub unknown: Vec<String>,
    /// Requests whose steps ran together (dynamic batching).
    pub batch: usize,
    /// The text model that read the prompt.
    pub model: String,
}

/// `POST /v1/text/generate`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct GenerateRequest {
    /// The text to continue, 1 to 2000 characters.
    pub prompt: String,
    /// Characters to add, 1 to 1000.
    #[serde(default = "default_length")]
    pub length: usize,
    /// In (0, 10]: below 1 safer text, above 1 wilder.
    #[serde(default = "default_temperature")]
    pub temperature: f32,
    /// Sample among the k likeliest characters only; 0 for all.
    #[serde(default)]
    pub top_k: usize,
    /// The same seed gives the same text; without one the server picks one
    /// and returns it.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The built-in text model that continues it: "lstm" (the default),
    /// "transformer" or "tang" (the Tang poems).
    #[serde(default = "default_model")]
    pub model: String,
    /// A poem's form: lines of this many characters (2 to 16; 5 and 7 are
    /// the classic ones) with ，and 。 in their places, the rest still the
    /// model's choice. Only for a model whose vocabulary has ，and 。.
    #[serde(default)]
    pub line_chars: Option<usize>,
}

fn default_length() -> usize {
    200
}

fn default_temperature() -> f32 {
    1.0
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct GenerateAnswer {
    /// The prompt followed by what was generated.
    pub text: String,
    /// Only what was generated.
    pub generated: String,
    /// The seed used.
    pub seed: u64,
    /// The prompt's characters outside the model's vocabulary, once each.
    pub unknown: Vec<String>,
    /// Requests whose steps ran together (dynamic batching).
    pub batch: usize,
    /// The text model that wrote it.
    pub model: String,
}

/// Most characters of a published model's name.
pub const MAX_MODEL_NAME: usize = 64;
/// Most published models one `GET /v1/models` lists.
pub const MAX_LISTED: usize = 100;

/// `GET /v1/models`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct Models {
    /// What runs the kernels, e.g. "Vulkan: llvmpipe" or "CPU".
    pub backend: String,
    /// The two built-in models ("digits", "text"), then the published
    /// models, the newest first (`?offset=` and `?limit=` page through
    /// them, at most 100 at a time).
    pub models: Vec<ModelInfo>,
    /// Published models in the store, all of them.
    #[serde(default)]
    pub published_total: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct ModelInfo {
    /// "digits" or "text".
    pub name: String,
    /// What requests call it: "digits", a text model's id ("lstm",
    /// "transformer") for their `model`, or a published model's id (128
    /// random bits, URL-safe).
    pub id: String,
    /// The layers, in order.
    pub architecture: String,
    /// What one request gives the model.
    pub input: String,
    /// The shape of one input: [28, 28] for a digit, [characters] for text.
    pub input_shape: Vec<usize>,
    /// Classes (digits) or vocabulary size (text).
    pub outputs: usize,
    pub parameters: usize,
    /// Accuracy on MNIST's test images, measured when the server started
    /// (absent when it measured none).
    pub test_accuracy: Option<f32>,
    /// How many test images `test_accuracy` counts.
    pub test_images: Option<usize>,
    /// The weights file served: a path on the server's disk for the two
    /// built-in models, `/v1/models/{id}/weights` for a published one.
    pub weights: String,
    /// The class names, in the order of the probabilities (none for the
    /// text model, whose outputs are its vocabulary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<String>>,
    /// When a published model was published (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// A published model's weights file: its size and SHA-256 (hex).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// `POST /v1/models`: the model is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct PublishAnswer {
    pub id: String,
    /// Deletes the model (`DELETE /v1/models/{id}` with `Authorization:
    /// Bearer TOKEN`). Shown this once: the server keeps only its hash.
    pub token: String,
    /// The model's address on this server.
    pub url: String,
    pub model: ModelInfo,
}

/// `POST /v1/models/{id}/classify`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct ModelAnswer {
    /// The likeliest class's name.
    pub class: String,
    /// Its index in `classes`.
    pub index: usize,
    /// The probability of each class, in the order of `classes`.
    pub probabilities: Vec<f32>,
    pub classes: Vec<String>,
    /// What the network read: 28 rows of 28 values in 0..=1.
    pub input: Vec<Vec<f32>>,
    /// Requests that shared this one forward pass (dynamic batching).
    pub batch: usize,
    /// The model's id.
    pub model: String,
}

/// `GET /healthz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(ToSchema))]
pub struct Health {
    /// "ok".
    pub status: String,
    pub backend: String,
    /// Requests waiting for the model now.
    pub queued: usize,
    /// The most that may wait; beyond it requests get 503.
    pub queue_limit: usize,
    pub uptime_s: f64,
}
