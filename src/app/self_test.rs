//! The kernel self-test table: each WGSL entry point run on this browser's
//! GPU and compared with its CPU twin on seeded random inputs.

use leptos::prelude::*;

use super::i18n::Lang;
use crate::selftest::{ATOL, Comparison, OPS, QUICK_DIMS, RTOL};

#[derive(Clone, Debug)]
pub enum SelfTestState {
    Waiting,
    Running,
    Done(Vec<Comparison>),
    Error(String),
    /// No GPU: there is nothing to compare the CPU kernels with.
    CpuOnly,
}

impl SelfTestState {
    /// The value of `data-status`, which the browser tests wait on.
    fn status(&self) -> &'static str {
        match self {
            SelfTestState::Waiting => "waiting",
            SelfTestState::Running => "running",
            SelfTestState::Done(r) if r.iter().all(Comparison::passed) => "passed",
            SelfTestState::Done(_) | SelfTestState::Error(_) => "failed",
            SelfTestState::CpuOnly => "cpu-only",
        }
    }
}

#[component]
pub fn SelfTest(state: RwSignal<SelfTestState>, lang: RwSignal<Lang>) -> impl IntoView {
    let summary = move || {
        let s = lang.get().strings();
        match state.get() {
            SelfTestState::Waiting => s.st_waiting.to_string(),
            SelfTestState::Running => s
                .st_running
                .replace("{ops}", &OPS.len().to_string())
                .replace("{shapes}", &QUICK_DIMS.len().to_string()),
            SelfTestState::Done(r) => {
                let failed = r.iter().filter(|c| !c.passed()).count();
                let template = if failed == 0 {
                    s.st_agree
                } else {
                    s.st_disagree
                };
                template
                    .replace("{failed}", &failed.to_string())
                    .replace("{all}", &r.len().to_string())
                    .replace("{bound}", &format!("|gpu − cpu| ≤ {ATOL} + {RTOL}·|cpu|"))
            }
            SelfTestState::Error(e) => format!("{} {e}", s.st_stopped),
            SelfTestState::CpuOnly => s.st_cpu_only.to_string(),
        }
    };
    let rows = move || match state.get() {
        SelfTestState::Done(r) => r,
        _ => Vec::new(),
    };
    view! {
        <section id="selftest" data-status=move || state.get().status() aria-busy=move || matches!(state.get(), SelfTestState::Running).to_string()>
            <h2>{move || lang.get().strings().selftest_title}</h2>
            <p class="summary">{summary}</p>
            <table hidden=move || rows().is_empty()>
                <thead>
                    <tr>
                        <th scope="col">{move || lang.get().strings().st_kernel}</th>
                        <th scope="col">{move || lang.get().strings().st_sizes}</th>
                        <th scope="col">{move || lang.get().strings().st_values}</th>
                        <th scope="col">"max |gpu − cpu|"</th>
                        <th scope="col">{move || lang.get().strings().st_result}</th>
                    </tr>
                </thead>
                <tbody>
                    {move || rows().into_iter().map(|c| {
                        let ok = c.passed();
                        let d = c.dims;
                        view! {
                            <tr>
                                <td><code>{c.op.entry()}</code></td>
                                <td>{format!("n={} c={} h={} w={} o={}", d.n, d.c, d.h, d.w, d.o)}</td>
                                <td>{c.values}</td>
                                <td>{format!("{:.2e}", c.max_abs_diff)}</td>
                                <td class=if ok { "pass" } else { "fail" }>{move || { let s = lang.get().strings(); if ok { s.st_match } else { s.st_mismatch } }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
    }
}
