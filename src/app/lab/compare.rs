//! The comparison as a class sees it: every run's loss on one chart and
//! its test results on another, and a table of what each network costs
//! (parameters, multiply-adds, ms per step), how well it did, and how it
//! reads the drawing on the pad right now, with a button to put any run's
//! weights on the page.

use leptos::prelude::*;

use super::picture::count;
use super::runs::{RunRecord, Runs};
use super::words::LabStrings;
use crate::app::charts::{self, Chart, Series};
use crate::link::Task;
use crate::nn::classifier::argmax;

#[component]
pub fn CompareCharts(runs: Runs, words: Signal<&'static LabStrings>) -> impl IntoView {
    let loss = NodeRef::<leptos::html::Canvas>::new();
    let tests = NodeRef::<leptos::html::Canvas>::new();
    let text = move || runs.task.get() == Task::Text;
    Effect::new(move |_| {
        let w = words.get();
        let list = runs.list.get();
        let thinned: Vec<Vec<(f64, f64)>> = list.iter().map(|r| charts::thin(&r.losses)).collect();
        let series = |points: &[Vec<(f64, f64)>]| -> Vec<(String, usize, Vec<(f64, f64)>)> {
            list.iter()
                .zip(points)
                .map(|(r, p)| (r.name.clone(), r.colour, p.clone()))
                .collect()
        };
        let draw = |canvas: &NodeRef<leptos::html::Canvas>,
                    chart: Chart,
                    lines: Vec<(String, usize, Vec<(f64, f64)>)>| {
            if let Some(c) = canvas.get_untracked() {
                let s: Vec<Series> = lines
                    .iter()
                    .map(|(label, run, points)| Series {
                        label,
                        points,
                        run: *run,
                    })
                    .collect();
                let _ = charts::draw(&c, &chart, &s);
            }
        };
        let loss_chart = Chart {
            x_label: w.step,
            y_label: w.loss,
            y_range: None,
            dots: false,
            percent: false,
        };
        draw(&loss, loss_chart, series(&thinned));
        let evals: Vec<Vec<(f64, f64)>> = list.iter().map(|r| r.evals.clone()).collect();
        let is_text = runs.task.get() == Task::Text;
        let test_chart = Chart {
            x_label: w.step,
            y_label: if is_text { w.bpc } else { w.accuracy },
            y_range: (!is_text).then_some((0.0, 1.0)),
            dots: true,
            percent: !is_text,
        };
        draw(&tests, test_chart, series(&evals));
    });
    view! {
        <div class="charts" hidden=move || runs.list.with(Vec::is_empty)>
            <figure>
                <canvas id="lab-loss-chart" node_ref=loss width="480" height="280"
                    role="img" aria-label=move || words.get().chart_loss></canvas>
                <figcaption>{move || words.get().chart_loss}</figcaption>
            </figure>
            <figure>
                <canvas id="lab-test-chart" node_ref=tests width="480" height="280" role="img"
                    aria-label=move || if text() { words.get().chart_bpc } else { words.get().chart_accuracy }></canvas>
                <figcaption>{move || if text() { words.get().chart_bpc } else { words.get().chart_accuracy }}</figcaption>
            </figure>
        </div>
    }
}

/// "97.4%" for digits, "2.31" bits per character for text.
fn result(task: Task, v: f64) -> String {
    match task {
        Task::Digits => format!("{:.1}%", 100.0 * v),
        Task::Text => format!("{v:.3}"),
    }
}

#[component]
pub fn RunTable(
    runs: Runs,
    words: Signal<&'static LabStrings>,
    /// Put the run at this position on the page.
    pick: Callback<usize>,
) -> impl IntoView {
    let w = move || words.get();
    let task = move || runs.task.get();
    let rows = move || runs.list.get().into_iter().enumerate().collect::<Vec<_>>();
    // Column names again on each cell, for a phone, where rows become cards.
    let result_label = move || {
        if task() == Task::Text {
            w().col_bpc
        } else {
            w().col_accuracy
        }
    };
    let reads_label = move || {
        if task() == Task::Text {
            w().col_writes
        } else {
            w().col_reads
        }
    };
    let reads = move |r: &RunRecord| -> String {
        match task() {
            Task::Digits => runs
                .answers
                .with(|a| a.get(r.slot).cloned().flatten())
                .map(|p| {
                    let d = argmax(&p);
                    format!("{d} ({:.0}%)", 100.0 * p[d])
                })
                .unwrap_or_else(|| format!("({})", w().draw_to_compare)),
            Task::Text => r.sample.clone().unwrap_or_else(|| "…".into()),
        }
    };
    view! {
        <div class="scroll" hidden=move || runs.list.with(Vec::is_empty)>
            <table id="lab-runs">
                <caption>{move || w().table_caption}</caption>
                <thead><tr>
                    <th scope="col">{move || w().col_network}</th>
                    <th scope="col">{move || w().col_params}</th>
                    <th scope="col">{move || w().col_macs}</th>
                    <th scope="col">{move || w().col_ms}</th>
                    <th scope="col">{result_label}</th>
                    <th scope="col">{reads_label}</th>
                    <th scope="col"><span class="sr-only">{move || w().use_run}</span></th>
                </tr></thead>
                <tbody>
                    {move || rows().into_iter().map(|(i, r)| {
                        let in_use = move || runs.in_use.get() == Some(r.slot);
                        let answer = reads(&r);
                        let name = r.name.clone();
                        view! {
                            <tr data-run=i data-step=r.step data-finished=r.finished().to_string()
                                data-result=r.last_eval().map(|v| v.to_string()).unwrap_or_default()>
                                <th scope="row" title=r.spec.describe()>
                                    <span class="swatch" style:background=charts::css_colour(r.colour) aria-hidden="true"></span>
                                    {r.name.clone()}
                                    {r.problem.clone().map(|p| view! { <small class="problem">{p}</small> })}
                                </th>
                                <td class="value" data-label=move || w().col_params>{count(r.params as u64)}</td>
                                <td class="value" data-label=move || w().col_macs>{count(r.macs)}</td>
                                <td class="value" data-label=move || w().col_ms>{r.ms_per_step().map(|ms| format!("{ms:.1}")).unwrap_or_else(|| "…".into())}</td>
                                <td class="value result" data-label=result_label>{r.last_eval().map(|v| result(task(), v)).unwrap_or_else(|| "…".into())}</td>
                                <td class="reads" data-label=reads_label>{answer}</td>
                                <td class="actions">
                                    <button id=format!("lab-use-{i}") type="button" aria-pressed=move || in_use().to_string()
                                        aria-label=move || format!("{}: {name}", w().use_run)
                                        disabled=move || runs.state.get() == super::super::training::RunState::Running
                                        on:click=move |_| pick.run(i)>
                                        {move || if in_use() { w().in_use } else { w().use_run }}</button>
                                    <button id=format!("lab-remove-{i}") type="button"
                                        aria-label={ let name = r.name.clone(); move || format!("{}: {name}", w().remove_run) }
                                        disabled=move || runs.state.get() == super::super::training::RunState::Running
                                        on:click=move |_| runs.remove(i)>{move || w().remove_run}</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
