//! Loading a person's own weights (checked before use: on any problem the
//! current model stays and the message says what was wrong) and downloading
//! the current ones.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::digits::DigitState;
use super::engine::{Job, Runner, WeightsKind};
use super::i18n::Lang;
use super::text::TextState;

#[derive(Clone, Debug, PartialEq)]
enum Message {
    Ok(WeightsKind),
    Error(String),
}

#[component]
pub fn WeightsPanel(
    lang: RwSignal<Lang>,
    runner: StoredValue<Runner, LocalStorage>,
    digits: DigitState,
    text: TextState,
    text_input: RwSignal<String>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let message = RwSignal::new(None::<Message>);
    let upload = move |ev: web_sys::Event| {
        let Some(input) = ev
            .target()
            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
        else {
            return;
        };
        let Some(file) = input.files().and_then(|f| f.get(0)) else {
            return;
        };
        // Cleared so that choosing the same file again (after fixing it) is
        // a change too.
        input.set_value("");
        leptos::task::spawn_local(async move {
            let bytes = match JsFuture::from(file.array_buffer()).await {
                Ok(buf) => js_sys::Uint8Array::new(&buf).to_vec(),
                Err(_) => {
                    message.set(Some(Message::Error(format!(
                        "{}: could not be read",
                        file.name()
                    ))));
                    return;
                }
            };
            let name = file.name();
            let done = move |r: crate::Result<WeightsKind>| match r {
                Ok(kind) => {
                    message.set(Some(Message::Ok(kind)));
                    match kind {
                        WeightsKind::Digits | WeightsKind::Own => {
                            digits.classify();
                            refresh_digit_net(digits);
                        }
                        WeightsKind::Text => {
                            refresh_text_net(text);
                            text.read(text_input.get_untracked())
                        }
                    }
                }
                Err(e) => message.set(Some(Message::Error(format!("{name}: {e}")))),
            };
            runner.with_value(|r| r.submit(Job::Load(bytes, Box::new(done))));
        });
    };
    let download = move |kind: WeightsKind| {
        move |_| {
            let done = move |r: crate::Result<Vec<u8>>| match r {
                Ok(bytes) => save_file(
                    &bytes,
                    match kind {
                        WeightsKind::Digits => "mnist_cnn.safetensors",
                        // Named as the built-in model it is of.
                        WeightsKind::Text => {
                            let id = text.net.get_untracked().map_or("lstm", |n| n.id);
                            crate::api::text_model_file(id).unwrap_or("char_lstm.safetensors")
                        }
                        WeightsKind::Own => "own_classes.safetensors",
                    },
                ),
                Err(e) => message.set(Some(Message::Error(e.to_string()))),
            };
            runner.with_value(|r| r.submit(Job::Save(kind, Box::new(done))));
        }
    };
    view! {
        <section id="weights" aria-labelledby="weights-title">
            <h2 id="weights-title">{move || s().weights_title}</h2>
            <label for="weights-upload" class="button-like">{move || s().upload}</label>
            <input id="weights-upload" type="file" accept=".safetensors" on:change=upload />
            <button id="download-digits" on:click=download(WeightsKind::Digits)>{move || s().download_digits}</button>
            <button id="download-text" on:click=download(WeightsKind::Text)>{move || s().download_text}</button>
            <p id="weights-message" role="status"
                data-kind=move || match message.get() { Some(Message::Ok(_)) => "ok", Some(Message::Error(_)) => "error", None => "" }>
                {move || match message.get() {
                    Some(Message::Ok(WeightsKind::Digits | WeightsKind::Own)) => s().loaded_digits.to_string(),
                    Some(Message::Ok(WeightsKind::Text)) => s().loaded_text.to_string(),
                    Some(Message::Error(e)) => format!("{e} — {}", s().kept_current),
                    None => String::new(),
                }}
            </p>
        </section>
    }
}

/// Read what the views draw of the digit model: its layers, classes and
/// first filters (after it changed: loaded, trained, put back).
pub fn refresh_digit_net(digits: DigitState) {
    let done = move |r: crate::Result<super::engine::DigitNet>| {
        if let Ok(n) = r {
            digits.net.set(Some(n));
        }
    };
    digits
        .runner
        .with_value(|r| r.submit(Job::DigitNet(Box::new(done))));
}

/// Read what the views say of the text model: its layers.
pub fn refresh_text_net(text: TextState) {
    let done = move |r: crate::Result<super::engine::TextNet>| {
        if let Ok(n) = r {
            text.net.set(Some(n));
        }
    };
    text.runner
        .with_value(|r| r.submit(Job::TextNet(Box::new(done))));
}

/// Offer `bytes` as a download named `name`.
pub fn save_file(bytes: &[u8], name: &str) {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence(&parts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    let link = document()
        .create_element("a")
        .ok()
        .and_then(|e| e.dyn_into::<web_sys::HtmlAnchorElement>().ok());
    if let Some(a) = link {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    let _ = web_sys::Url::revoke_object_url(&url);
}
