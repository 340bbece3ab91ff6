//! The page (wasm32 only). At this stage it finds a backend, says which, and
//! runs the kernel self-test: every WGSL entry point against its CPU twin in
//! this very browser, whose WGSL compiler differs from native Vulkan's.

mod backend_status;
mod self_test;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::gpu::GpuBackend;
use crate::selftest;
use crate::{Backend, CpuBackend};

pub use backend_status::{BackendBadge, FallbackBanner};
pub use self_test::{SelfTest, SelfTestState};

/// Which backend the page runs on, as shown to the person.
#[derive(Clone, Debug, PartialEq)]
pub enum BackendState {
    Searching,
    Gpu {
        adapter: String,
    },
    /// No usable GPU: the CPU kernels compiled to WebAssembly, and why.
    Cpu {
        reason: String,
    },
}

/// Entry point called by the `neuralpad` binary's `main` on wasm32.
pub fn start() {
    console_error_panic_hook::set_once();
    let loading = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("loading"));
    if let Some(el) = loading {
        el.remove();
    }
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let backend = RwSignal::new(BackendState::Searching);
    let test = RwSignal::new(SelfTestState::Waiting);
    spawn_local(async move {
        match GpuBackend::new().await {
            Ok(gpu) => {
                backend.set(BackendState::Gpu {
                    adapter: gpu.name(),
                });
                // Compile every pipeline now rather than at first use.
                gpu.warm_up();
                test.set(SelfTestState::Running);
                test.set(
                    match selftest::compare_all(&gpu, &CpuBackend, &selftest::QUICK_DIMS, 1).await {
                        Ok(results) => SelfTestState::Done(results),
                        Err(e) => SelfTestState::Error(e.to_string()),
                    },
                );
            }
            Err(e) => {
                backend.set(BackendState::Cpu {
                    reason: e.to_string(),
                });
                test.set(SelfTestState::CpuOnly);
            }
        }
    });
    view! {
        <header>
            <h1>"neuralpad"</h1>
            <p class="tagline">"Neural networks on your own GPU, one WGSL kernel at a time."</p>
            <BackendBadge state=backend />
        </header>
        <main>
            <FallbackBanner state=backend />
            <SelfTest state=test />
        </main>
    }
}
