//! Which backend runs the kernels: a badge, and a banner when it is the CPU.

use leptos::prelude::*;

use super::BackendState;

/// "WebGPU: <adapter>" or "CPU (WebAssembly)", always visible in the header.
#[component]
pub fn BackendBadge(state: RwSignal<BackendState>) -> impl IntoView {
    let text = move || match state.get() {
        BackendState::Searching => "Looking for a GPU…".to_string(),
        BackendState::Gpu { adapter } => adapter,
        BackendState::Cpu { .. } => "CPU (WebAssembly)".to_string(),
    };
    view! { <p id="backend" class="badge" aria-live="polite">{text}</p> }
}

/// Shown only on the CPU fallback, with the reason the GPU was not used.
#[component]
pub fn FallbackBanner(state: RwSignal<BackendState>) -> impl IntoView {
    move || match state.get() {
        BackendState::Cpu { reason } => Some(view! {
            <div id="fallback-banner" role="status">
                <strong>"Running on the CPU. "</strong>
                "No WebGPU adapter is available in this browser, so the same kernels run as "
                "WebAssembly on the CPU: answers are identical, only slower. "
                <span class="reason">"Reason: " {reason}</span>
            </div>
        }),
        _ => None,
    }
}
