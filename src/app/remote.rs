//! Where the networks answer: in this browser (the engine, on WebGPU or the
//! CPU kernels) or on a server running `neuralpad serve`, asked over HTTP
//! with the API's own types (src/api.rs). The page shows the round trip of
//! each, so a class can see what the network costs here and there.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::digits::now_ms;
use super::i18n::{Lang, Strings};
use crate::api::{ApiError, Models};

/// Where the address box starts when the page's URL names none.
const DEFAULT_SERVER: &str = "http://127.0.0.1:3000";
/// Longest wait for one answer from a server.
const FETCH_TIMEOUT_MS: u32 = 10_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    Browser,
    Server,
}

/// Why the server gave no answer, shown in the person's language.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// No HTTP answer at all: wrong address, server down, CORS refused.
    Unreachable(String),
    /// An answer other than 200, with the server's own words.
    Refused(u16, String),
}

impl Failure {
    fn shown(&self, address: &str, s: &Strings) -> String {
        match self {
            Failure::Unreachable(p) => s
                .server_unreachable
                .replace("{address}", address)
                .replace("{problem}", p),
            Failure::Refused(status, p) => s
                .server_refused
                .replace("{address}", address)
                .replace("{status}", &status.to_string())
                .replace("{problem}", p),
        }
    }
}

/// All handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct Remote {
    pub place: RwSignal<Place>,
    /// The server's base URL, without a trailing slash.
    pub address: RwSignal<String>,
    /// The latest round trip of a drawing or a text in each place, in ms:
    /// from asking to having the answer in hand.
    pub browser_ms: RwSignal<Option<f64>>,
    pub server_ms: RwSignal<Option<f64>>,
    /// What the server said it runs on (GET /v1/models).
    pub server_backend: RwSignal<Option<String>>,
    pub failure: RwSignal<Option<Failure>>,
}

impl Remote {
    /// In this browser, unless the page's URL says `?server=ADDRESS`.
    pub fn new() -> Self {
        let named = web_sys::window()
            .and_then(|w| w.location().search().ok())
            .and_then(|q| web_sys::UrlSearchParams::new_with_str(&q).ok())
            .and_then(|p| p.get("server"));
        let remote = Self {
            place: RwSignal::new(Place::Browser),
            address: RwSignal::new(DEFAULT_SERVER.into()),
            browser_ms: RwSignal::new(None),
            server_ms: RwSignal::new(None),
            server_backend: RwSignal::new(None),
            failure: RwSignal::new(None),
        };
        if let Some(a) = named {
            remote.set_address(&a);
            remote.go(Place::Server);
        }
        remote
    }

    pub fn on_server(&self) -> bool {
        self.place.get_untracked() == Place::Server
    }

    /// Accepts "host:port" as well as a URL.
    pub fn set_address(&self, raw: &str) {
        let a = raw.trim().trim_end_matches('/');
        let a = if a.contains("://") {
            a.to_string()
        } else {
            format!("http://{a}")
        };
        self.server_backend.set(None);
        self.failure.set(None);
        self.address.set(a);
        if self.on_server() {
            self.greet();
        }
    }

    pub fn go(&self, place: Place) {
        self.failure.set(None);
        self.place.set(place);
        if place == Place::Server {
            self.greet();
        }
    }

    /// Ask the server what it runs on: shows that it is there.
    fn greet(&self) {
        let this = *self;
        spawn_local(async move {
            if let Some((m, _)) = this.ask::<(), Models>("/v1/models", None).await {
                this.server_backend.set(Some(m.backend));
            }
        });
    }

    /// POST `body` as JSON to `path` (GET when `None`), and parse the
    /// answer; returns it with its round trip in ms, or records the failure
    /// for the panel.
    pub async fn ask<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&T>,
    ) -> Option<(R, f64)> {
        let address = self.address.get_untracked();
        let url = format!("{address}{path}");
        let body = body.map(|b| serde_json::to_string(b).expect("plain structs serialise"));
        let start = now_ms();
        let out = match fetch(&url, body).await {
            Err(problem) => Err(Failure::Unreachable(problem)),
            Ok((200, text)) => serde_json::from_str::<R>(&text)
                .map_err(|e| Failure::Refused(200, format!("unexpected answer: {e}"))),
            Ok((status, text)) => Err(Failure::Refused(
                status,
                serde_json::from_str::<ApiError>(&text)
                    .map(|e| e.error)
                    .unwrap_or(text),
            )),
        };
        // The person has switched back to the browser or to another server
        // meanwhile: this answer is for a question no longer asked.
        if !self.on_server() || self.address.get_untracked() != address {
            return None;
        }
        match out {
            Ok(r) => {
                self.failure.set(None);
                Some((r, now_ms() - start))
            }
            Err(f) => {
                self.failure.set(Some(f));
                None
            }
        }
    }
}

/// One HTTP request from the page; the status and the body's text, or why
/// there was no answer.
async fn fetch(url: &str, body: Option<String>) -> Result<(u16, String), String> {
    let problem = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    // A server that takes the connection and never answers must not hold
    // the page's questions for ever.
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(
        FETCH_TIMEOUT_MS,
    )));
    if let Some(body) = body {
        init.set_method("POST");
        init.set_body(&JsValue::from_str(&body));
        let headers = web_sys::Headers::new().map_err(problem)?;
        headers
            .set("content-type", "application/json")
            .map_err(problem)?;
        init.set_headers(&headers);
    }
    let res: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(problem)?
        .dyn_into()
        .map_err(problem)?;
    let text = JsFuture::from(res.text().map_err(problem)?)
        .await
        .map_err(problem)?
        .as_string()
        .unwrap_or_default();
    Ok((res.status(), text))
}

#[component]
pub fn WherePanel(remote: Remote, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let on_server = move || remote.place.get() == Place::Server;
    let ms = |v: Option<f64>, s: &Strings| {
        v.map_or(s.not_measured.to_string(), |v| format!("{v:.1} ms"))
    };
    view! {
        <section id="where" aria-labelledby="where-title">
            <h2 id="where-title">{move || s().where_title}</h2>
            <div class="controls" role="radiogroup" aria-labelledby="where-title">
                <label><input type="radio" name="where" id="where-browser"
                    prop:checked=move || !on_server()
                    on:change=move |_| remote.go(Place::Browser) />{move || s().in_browser}</label>
                <label><input type="radio" name="where" id="where-server"
                    prop:checked=on_server
                    on:change=move |_| remote.go(Place::Server) />{move || s().on_server}</label>
                <label>{move || s().server_address}" "
                    <input id="server-address" type="url" spellcheck="false"
                        prop:value=move || remote.address.get()
                        on:change=move |ev| remote.set_address(&event_target_value(&ev)) /></label>
            </div>
            <p class="hint">{move || s().server_hint}</p>
            <p id="round-trip" aria-live="polite"
                data-browser-ms=move || remote.browser_ms.get().map(|v| format!("{v:.3}")).unwrap_or_default()
                data-server-ms=move || remote.server_ms.get().map(|v| format!("{v:.3}")).unwrap_or_default()>
                {move || format!(
                    "{}: {} {} · {} {}",
                    s().round_trip,
                    s().in_browser,
                    ms(remote.browser_ms.get(), s()),
                    s().on_server,
                    ms(remote.server_ms.get(), s()),
                )}
            </p>
            <p id="server-backend" hidden=move || !on_server() || remote.server_backend.get().is_none()>
                {move || format!("{}: {}", s().server_runs_on, remote.server_backend.get().unwrap_or_default())}
            </p>
            <p id="server-error" class="error" role="alert">
                {move || remote.failure.get().map(|f| f.shown(&remote.address.get(), s()))}
            </p>
        </section>
    }
}
