//! Which backend runs the kernels: a badge, and a banner when it is the CPU.

use leptos::prelude::*;

use super::BackendState;
use super::i18n::Lang;

/// "WebGPU: <adapter>" or "CPU (WebAssembly)", always visible in the header.
#[component]
pub fn BackendBadge(state: RwSignal<BackendState>, lang: RwSignal<Lang>) -> impl IntoView {
    let text = move || {
        let s = lang.get().strings();
        match state.get() {
            BackendState::Searching => s.searching_gpu.to_string(),
            BackendState::Gpu { adapter } => adapter,
            BackendState::Cpu { .. } | BackendState::Lost { .. } => s.cpu_badge.to_string(),
        }
    };
    view! { <p id="backend" class="badge" aria-live="polite">{text}</p> }
}

/// Shown only on the CPU fallback, with the reason the GPU was not used or
/// is gone.
#[component]
pub fn FallbackBanner(state: RwSignal<BackendState>, lang: RwSignal<Lang>) -> impl IntoView {
    move || {
        let s = lang.get().strings();
        let (body, reason) = match state.get() {
            BackendState::Cpu { reason } => (s.cpu_banner_body, reason),
            BackendState::Lost { reason } => (s.lost_banner_body, reason),
            _ => return None,
        };
        Some(view! {
            <div id="fallback-banner" role="status">
                <strong>{s.cpu_banner_title}</strong>
                {body}
                <span class="reason">{s.reason} {reason}</span>
            </div>
        })
    }
}
