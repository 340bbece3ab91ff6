//! Publishing a person's own model to a `neuralpad serve` (the address in
//! "Where the network runs"), and the way back: the link anyone can open
//! (`?model=SERVER/ID`), its QR code, copy-ready snippets for programs, the
//! server's gallery of published models to try, and loading one of them
//! into the drawing pad after the usual checks of a weights file.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use super::Shipped;
use super::digits::DigitState;
use super::engine::{Job, Runner, WeightsKind};
use super::i18n::{Lang, Strings};
use super::nav::Route;
use super::own::Own;
use super::remote::Remote;
use super::store::{self, Kept};
use super::training::RunState;
use super::weights_panel::refresh_digit_net;
use crate::api::{ApiError, MAX_MODEL_NAME, ModelInfo, Models, PublishAnswer};
use crate::share::{model_link, parse_model_param, qr_svg, snippets};

/// Longest wait for the server to store a model (it measures a digit
/// model on 10,000 test images first).
const PUBLISH_TIMEOUT_MS: u32 = 180_000;
/// Longest wait for anything else.
const FETCH_TIMEOUT_MS: u32 = 30_000;
/// Side of the QR code, in CSS pixels.
const QR_SIZE: u32 = 220;

/// A model published from this browser, with the token that deletes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mine {
    pub server: String,
    pub id: String,
    pub name: String,
    pub token: String,
}

/// What publishing gave: the link and its ways of use.
#[derive(Clone, Debug, PartialEq)]
pub struct Shared {
    pub mine: Mine,
    pub link: String,
    pub qr: Option<String>,
}

/// The published model the drawing pad asks, or how loading one went.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    Loading(String),
    Model {
        server: String,
        name: String,
        classes: Vec<String>,
    },
    Failed {
        link: String,
        problem: String,
    },
}

/// All handles, so it is `Copy`.
#[derive(Clone, Copy)]
pub struct Sharing {
    runner: StoredValue<Runner, LocalStorage>,
    digits: DigitState,
    shipped: StoredValue<Shipped, LocalStorage>,
    pub remote: Remote,
    pub loaded: RwSignal<Option<Loaded>>,
    pub mine: RwSignal<Vec<Mine>>,
    pub gallery: RwSignal<Option<Result<(Vec<ModelInfo>, u64), String>>>,
    pub name: RwSignal<String>,
    pub busy: RwSignal<bool>,
    pub shared: RwSignal<Option<Shared>>,
    pub message: RwSignal<Option<String>>,
    pub copied: RwSignal<Option<&'static str>>,
}

/// One request of the page; its status and the response, or why there
/// was none.
async fn http(
    method: &str,
    url: &str,
    body: Option<&JsValue>,
    headers: &[(&str, &str)],
    timeout_ms: u32,
) -> Result<(u16, web_sys::Response), String> {
    let problem = |e: JsValue| {
        e.dyn_ref::<js_sys::Error>()
            .map(|e| String::from(e.message()))
            .or_else(|| e.as_string())
            .unwrap_or_else(|| format!("{e:?}"))
    };
    let window = web_sys::window().ok_or("no window")?;
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    init.set_signal(Some(&web_sys::AbortSignal::timeout_with_u32(timeout_ms)));
    if let Some(b) = body {
        init.set_body(b);
    }
    if !headers.is_empty() {
        let h = web_sys::Headers::new().map_err(problem)?;
        for (k, v) in headers {
            h.set(k, v).map_err(problem)?;
        }
        init.set_headers(&h);
    }
    let res: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(problem)?
        .dyn_into()
        .map_err(problem)?;
    Ok((res.status(), res))
}

async fn text_of(res: &web_sys::Response) -> String {
    match res.text() {
        Ok(p) => JsFuture::from(p)
            .await
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn bytes_of(res: &web_sys::Response) -> Result<Vec<u8>, String> {
    let buf = res.array_buffer().map_err(|e| format!("{e:?}"))?;
    let buf = JsFuture::from(buf).await.map_err(|e| format!("{e:?}"))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// The server's own words for a refusal, or the body as it came.
async fn refusal(status: u16, res: &web_sys::Response) -> String {
    let text = text_of(res).await;
    let words = serde_json::from_str::<ApiError>(&text)
        .map(|e| e.error)
        .unwrap_or(text);
    format!("{status}: {words}")
}

/// This page's own address, without its query.
fn page_url() -> String {
    web_sys::window()
        .map(|w| {
            let l = w.location();
            format!(
                "{}{}",
                l.origin().unwrap_or_default(),
                l.pathname().unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The `?model=` of the page's address, if any.
pub fn model_in_url() -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get("model")
}

impl Sharing {
    pub fn new(
        runner: StoredValue<Runner, LocalStorage>,
        digits: DigitState,
        shipped: StoredValue<Shipped, LocalStorage>,
        remote: Remote,
    ) -> Self {
        Self {
            runner,
            digits,
            shipped,
            remote,
            loaded: RwSignal::new(None),
            mine: RwSignal::new(Vec::new()),
            gallery: RwSignal::new(None),
            name: RwSignal::new(String::new()),
            busy: RwSignal::new(false),
            shared: RwSignal::new(None),
            message: RwSignal::new(None),
            copied: RwSignal::new(None),
        }
    }

    fn runner(&self) -> Runner {
        self.runner.get_value()
    }

    /// The models published from this browser, as kept.
    pub fn restore(self) {
        spawn_local(async move {
            if let Ok(Some(text)) = store::kept_text(Kept::Published).await
                && let Ok(mine) = serde_json::from_str::<Vec<Mine>>(&text)
            {
                self.mine.set(mine);
            }
        });
    }

    fn keep_mine(self) {
        let text = serde_json::to_string(&self.mine.get_untracked()).unwrap_or_default();
        spawn_local(async move {
            let _ = store::keep_text(Kept::Published, &text).await;
        });
    }

    /// Publish the own model under the name typed.
    async fn publish(self, own: Own) {
        let server = self.remote.address.get_untracked();
        let name = {
            let typed = self.name.get_untracked();
            if typed.trim().is_empty() {
                own.model.get_untracked().unwrap_or_default().join(" ")
            } else {
                typed
            }
        };
        self.busy.set(true);
        self.message.set(None);
        let out = async {
            let bytes = self
                .runner()
                .ask(|done| Job::Save(WeightsKind::Own, done))
                .await
                .map_err(|e| e.to_string())?;
            let form = web_sys::FormData::new().map_err(|e| format!("{e:?}"))?;
            form.append_with_str("name", &name)
                .map_err(|e| format!("{e:?}"))?;
            let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(&bytes[..]));
            let blob =
                web_sys::Blob::new_with_u8_array_sequence(&parts).map_err(|e| format!("{e:?}"))?;
            form.append_with_blob_and_filename("weights", &blob, "own-classes.safetensors")
                .map_err(|e| format!("{e:?}"))?;
            let url = format!("{server}/v1/models");
            let (status, res) = http("POST", &url, Some(&form.into()), &[], PUBLISH_TIMEOUT_MS)
                .await
                .map_err(|e| format!("{server}: {e}"))?;
            if status != 201 {
                return Err(refusal(status, &res).await);
            }
            serde_json::from_str::<PublishAnswer>(&text_of(&res).await)
                .map_err(|e| format!("an unexpected answer: {e}"))
        }
        .await;
        self.busy.set(false);
        match out {
            Ok(a) => {
                let link = model_link(&page_url(), &server, &a.id);
                let mine = Mine {
                    server,
                    id: a.id,
                    name: a.model.name,
                    token: a.token,
                };
                self.mine.update(|m| m.push(mine.clone()));
                self.keep_mine();
                self.shared.set(Some(Shared {
                    qr: qr_svg(&link, QR_SIZE),
                    link,
                    mine,
                }));
            }
            Err(e) => self.message.set(Some(e)),
        }
    }

    /// Delete a model published from this browser, with its token.
    async fn delete(self, m: Mine) {
        let url = format!("{}/v1/models/{}", m.server, m.id);
        let bearer = format!("Bearer {}", m.token);
        let out = match http(
            "DELETE",
            &url,
            None,
            &[("authorization", &bearer)],
            FETCH_TIMEOUT_MS,
        )
        .await
        {
            Ok((204 | 404, _)) => Ok(()),
            Ok((status, res)) => Err(refusal(status, &res).await),
            Err(e) => Err(format!("{}: {e}", m.server)),
        };
        match out {
            Ok(()) => {
                self.mine.update(|all| all.retain(|x| x.id != m.id));
                self.keep_mine();
                if self
                    .shared
                    .get_untracked()
                    .is_some_and(|s| s.mine.id == m.id)
                {
                    self.shared.set(None);
                }
                self.message.set(None);
                self.refresh_gallery().await;
            }
            Err(e) => self.message.set(Some(e)),
        }
    }

    /// The server's published models.
    pub async fn refresh_gallery(self) {
        let server = self.remote.address.get_untracked();
        let url = format!("{server}/v1/models");
        let out = match http("GET", &url, None, &[], FETCH_TIMEOUT_MS).await {
            Ok((200, res)) => serde_json::from_str::<Models>(&text_of(&res).await)
                .map(|m| {
                    let total = m.published_total;
                    (
                        // Only published models have a publication time.
                        m.models
                            .into_iter()
                            .filter(|x| x.created.is_some())
                            .collect(),
                        total,
                    )
                })
                .map_err(|e| format!("an unexpected answer: {e}")),
            Ok((status, res)) => Err(refusal(status, &res).await),
            Err(e) => Err(format!("{server}: {e}")),
        };
        self.gallery.set(Some(out));
    }

    /// Load the published model `id` of `server` into the drawing pad,
    /// checked as any weights file is.
    pub async fn load(self, server: String, id: String) {
        let link = format!("{server}/{id}");
        self.loaded.set(Some(Loaded::Loading(link.clone())));
        let out = async {
            let info_url = format!("{server}/v1/models/{id}");
            let (status, res) = http("GET", &info_url, None, &[], FETCH_TIMEOUT_MS)
                .await
                .map_err(|e| format!("{server}: {e}"))?;
            if status != 200 {
                return Err(refusal(status, &res).await);
            }
            let info: ModelInfo = serde_json::from_str(&text_of(&res).await)
                .map_err(|e| format!("an unexpected answer: {e}"))?;
            let (status, res) = http(
                "GET",
                &format!("{info_url}/weights"),
                None,
                &[],
                FETCH_TIMEOUT_MS,
            )
            .await
            .map_err(|e| format!("{server}: {e}"))?;
            if status != 200 {
                return Err(refusal(status, &res).await);
            }
            let bytes = bytes_of(&res).await?;
            let kept = std::rc::Rc::new(bytes.clone());
            match self.runner().ask(|done| Job::Load(bytes, done)).await {
                Ok(WeightsKind::Digits) => {}
                Ok(_) => return Err("the file holds a text model, not a classifier".into()),
                Err(e) => return Err(e.to_string()),
            }
            self.runner().remember(WeightsKind::Digits, kept);
            Ok(info)
        }
        .await;
        match out {
            Ok(info) => {
                self.digits.classify();
                refresh_digit_net(self.digits);
                self.loaded.set(Some(Loaded::Model {
                    server,
                    name: info.name,
                    classes: info.classes.unwrap_or_default(),
                }));
            }
            Err(problem) => self.loaded.set(Some(Loaded::Failed { link, problem })),
        }
    }

    /// The page opened as `?model=...`: that model, into the drawing pad.
    pub fn load_from_url(self) {
        let Some(value) = model_in_url() else { return };
        match parse_model_param(&value) {
            Some((server, id)) => {
                self.remote.set_address(&server);
                spawn_local(self.load(server, id));
            }
            None => self.loaded.set(Some(Loaded::Failed {
                link: value.chars().take(200).collect(),
                problem: "not a link to a published model (SERVER/ID)".into(),
            })),
        }
    }

    /// Back to the shipped digit weights in the drawing pad.
    fn back_to_digits(self) {
        let bytes = self.shipped.with_value(|s| s.digits.clone());
        self.runner().remember(WeightsKind::Digits, bytes.clone());
        let (digits, loaded) = (self.digits, self.loaded);
        let done = move |_| {
            digits.classify();
            refresh_digit_net(digits);
            loaded.set(None);
        };
        self.runner()
            .submit(Job::Load(bytes.to_vec(), Box::new(done)));
    }

    fn copy(self, what: &'static str, text: String) {
        let Some(w) = web_sys::window() else { return };
        let promise = w.navigator().clipboard().write_text(&text);
        spawn_local(async move {
            if JsFuture::from(promise).await.is_ok() {
                self.copied.set(Some(what));
            }
        });
    }
}

/// Which published model the drawing pad asks, with a way back.
#[component]
pub fn ModelNotice(sharing: Sharing, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let text = move || {
        let s = s();
        sharing.loaded.get().map(|l| match l {
            Loaded::Loading(link) => s.model_loading.replace("{link}", &link),
            Loaded::Model {
                server,
                name,
                classes,
            } => s
                .model_loaded
                .replace("{name}", &name)
                .replace("{server}", &server)
                .replace("{classes}", &classes.join(" · ")),
            Loaded::Failed { link, problem } => s
                .model_load_failed
                .replace("{link}", &link)
                .replace("{problem}", &problem),
        })
    };
    let state = move || match sharing.loaded.get() {
        Some(Loaded::Loading(_)) => "loading",
        Some(Loaded::Model { .. }) => "loaded",
        Some(Loaded::Failed { .. }) => "failed",
        None => "",
    };
    view! {
        <p id="model-notice" class="notice" role="status" hidden=move || sharing.loaded.get().is_none()
            data-state=state>
            {text}" "
            <button id="back-to-digits" on:click=move |_| sharing.back_to_digits()
                hidden=move || !matches!(sharing.loaded.get(), Some(Loaded::Model { .. }))>
                {move || s().back_to_digits}
            </button>
        </p>
    }
}

/// "Publish": the own model to the server, then its link, QR code and
/// snippets, and the token that deletes it.
#[component]
pub fn PublishPanel(sharing: Sharing, own: Own, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let server = move || sharing.remote.address.get();
    let can_publish = move || {
        own.model.get().is_some()
            && !sharing.busy.get()
            && !matches!(own.core.state.get(), RunState::Running | RunState::Loading)
    };
    view! {
        <section id="publish" aria-labelledby="publish-title">
            <h2 id="publish-title">{move || s().publish_title}</h2>
            <p class="hint">{move || s().publish_hint.replace("{server}", &server())}</p>
            <div class="controls">
                <label>{move || s().publish_name}" "
                    <input id="publish-name" type="text" maxlength=MAX_MODEL_NAME
                        placeholder=move || own.model.get().unwrap_or_default().join(" ")
                        prop:value=move || sharing.name.get()
                        on:change=move |ev| sharing.name.set(event_target_value(&ev)) />
                </label>
                <button id="publish-button" disabled=move || !can_publish()
                    on:click=move |_| spawn_local(sharing.publish(own))>
                    {move || if sharing.busy.get() { s().publishing.to_string() } else { s().publish_button.replace("{server}", &server()) }}
                </button>
            </div>
            <p class="hint" hidden=move || own.model.get().is_some()>{move || s().publish_needs_model}</p>
            <p id="publish-message" class="error" role="alert">{move || sharing.message.get()}</p>
            {move || sharing.shared.get().map(|sh| view! { <SharedView sharing=sharing shared=sh lang=lang /> })}
        </section>
    }
}

#[component]
fn SharedView(sharing: Sharing, shared: Shared, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let Shared { mine, link, qr } = shared;
    let codes = snippets(&mine.server, &mine.id);
    let copied = move |what: &'static str| sharing.copied.get() == Some(what);
    let (link_copy, token) = (link.clone(), mine.token.clone());
    let (data_id, data_server) = (mine.id.clone(), mine.server.clone());
    view! {
        <div id="publish-result" data-id=data_id data-server=data_server>
            <p>{move || s().publish_done}</p>
            <p class="share-link">
                <a id="publish-link" href=link.clone() target="_blank" rel="noopener">{link.clone()}</a>" "
                <button id="publish-copy-link" on:click=move |_| sharing.copy("link", link_copy.clone())>
                    {move || if copied("link") { s().copied } else { s().copy_link }}
                </button>
            </p>
            <div class="share">
                <figure>
                    <div id="publish-qr" class="qr" role="img" aria-label=move || s().qr_label
                        inner_html=qr.unwrap_or_default()></div>
                    <figcaption>{move || s().qr_label}</figcaption>
                </figure>
                <div class="snippets">
                    <h3>{move || s().snippets_title}</h3>
                    {codes.into_iter().map(|(language, code)| {
                        let id = format!("snippet-{}", language.to_lowercase());
                        let label = language;
                        let text = code.clone();
                        view! {
                            <div class="snippet">
                                <div class="snippet-head">
                                    <span>{language}</span>
                                    <button id=format!("{id}-copy") aria-label=move || format!("{} {label}", s().copy)
                                        on:click=move |_| sharing.copy(label, text.clone())>
                                        {move || if copied(label) { s().copied } else { s().copy }}
                                    </button>
                                </div>
                                <pre id=id tabindex="0"><code>{code}</code></pre>
                            </div>
                        }
                    }).collect_view()}
                </div>
            </div>
            <p class="token">{move || s().publish_token}" "
                <code id="publish-token">{token}</code></p>
            <button id="publish-delete" on:click=move |_| spawn_local(sharing.delete(mine.clone()))>
                {move || s().publish_delete}
            </button>
        </div>
    }
}

/// The server's published models, each to try in the drawing pad (and to
/// delete, for those published from this browser).
#[component]
pub fn Gallery(sharing: Sharing, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let server = move || sharing.remote.address.get();
    let route = use_context::<Route>();
    let item = move |m: ModelInfo, s: &'static Strings| {
        let id = m.id.clone();
        let mine = sharing
            .mine
            .get()
            .into_iter()
            .find(|x| x.id == id && x.server == sharing.remote.address.get_untracked());
        let classes = m.classes.clone().unwrap_or_default().join(" · ");
        let accuracy = match (m.test_accuracy, m.test_images) {
            (Some(a), Some(n)) => s
                .gallery_accuracy
                .replace("{p}", &format!("{:.1}", 100.0 * a))
                .replace("{n}", &n.to_string()),
            _ => String::new(),
        };
        let created = m.created.clone().unwrap_or_default().replace('T', " ");
        let created = format!("{} UTC", created.get(..16).unwrap_or(&created));
        let (try_id, name) = (id.clone(), m.name.clone());
        let is_mine = mine.is_some().to_string();
        view! {
            <li data-id=id.clone() data-mine=is_mine>
                <span class="name">{m.name.clone()}</span>
                <span class="classes">{s.gallery_classes.replace("{classes}", &classes)}</span>
                <span class="hint">{accuracy}</span>
                <span class="hint">{created}</span>
                <button class="gallery-try" aria-label=format!("{} {name}", s.gallery_try)
                    on:click=move |_| {
                        let (server, id) = (sharing.remote.address.get_untracked(), try_id.clone());
                        spawn_local(async move {
                            sharing.load(server, id).await;
                            // Tried where the drawing pad is.
                            if let (Some(route), Some(Loaded::Model { .. })) = (route, sharing.loaded.get_untracked()) {
                                route.to_pad();
                            }
                        })
                    }>
                    {s.gallery_try}
                </button>
                {mine.map(|m| view! {
                    <button class="gallery-delete" aria-label=format!("{} {}", s.publish_delete, m.name)
                        on:click=move |_| spawn_local(sharing.delete(m.clone()))>{s.publish_delete}</button>
                })}
            </li>
        }
    };
    view! {
        <section id="gallery" aria-labelledby="gallery-title">
            <h2 id="gallery-title">{move || s().gallery_title}</h2>
            <p class="hint">{move || s().gallery_hint}</p>
            <button id="gallery-refresh" on:click=move |_| spawn_local(sharing.refresh_gallery())>
                {move || s().gallery_show.replace("{server}", &server())}
            </button>
            {move || match sharing.gallery.get() {
                None => ().into_any(),
                Some(Err(e)) => view! { <p id="gallery-message" class="error" role="alert">{e}</p> }.into_any(),
                Some(Ok((models, total))) => {
                    let s = s();
                    view! {
                        <p id="gallery-count" role="status">{s.gallery_count.replace("{n}", &total.to_string())}</p>
                        <ul id="gallery-list" class="gallery-list">
                            {models.into_iter().map(|m| item(m, s)).collect_view()}
                        </ul>
                    }.into_any()
                }
            }}
        </section>
    }
}
