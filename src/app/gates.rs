//! Readable gates, in the manner of LSTMVis: the first recurrent layer's
//! gates and state over the typed text as labelled bands (one column per
//! character, one row per unit), all units or the ten most active or most
//! changing; a cell under the pointer or the keyboard's cursor named in
//! words (unit, gate, character, value); and one unit's trace over the text
//! as lines, with the text shaded by its state.

use leptos::ev::{KeyboardEvent, MouseEvent};
use leptos::prelude::*;

use super::charts::{self, Chart, Series};
use super::engine::CharStep;
use super::i18n::{Lang, Strings};
use super::paint;
use crate::nn::char_model::CellView;
use crate::nn::gates::{self, Band, Rank};

/// Units shown when ranked: enough to read, few enough to tell apart.
const RANKED: usize = 10;

/// A cell of the view: a band, a character (column) and a shown unit (row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cursor {
    band: usize,
    column: usize,
    row: usize,
}

/// What the view reads of the text state: the characters and each one's cell.
fn cells(steps: &[CharStep]) -> Vec<&CellView> {
    steps.iter().filter_map(|s| s.cell.as_ref()).collect()
}

fn band_name(s: &Strings, b: &Band) -> &'static str {
    match b.symbol {
        "i" => s.band_input,
        "f" => s.band_forget,
        "g" => s.band_candidate,
        "o" => s.band_output,
        "c" => s.band_cell,
        "r" => s.band_reset,
        "z" => s.band_update,
        "n" => s.band_new,
        _ => s.band_state,
    }
}

/// A character as the view names it, whitespace made visible.
fn shown_char(c: char) -> String {
    match c {
        ' ' => "␣".into(),
        '\n' => "↵".into(),
        '\t' => "⇥".into(),
        c => c.to_string(),
    }
}

/// A character as the text under the trace shows it: a newline as a sign.
fn glyph(c: char) -> String {
    if c == '\n' {
        "↵".into()
    } else {
        c.to_string()
    }
}

#[component]
pub fn GateView(steps: Signal<Vec<CharStep>>, lang: RwSignal<Lang>) -> impl IntoView {
    let s = move || lang.get().strings();
    let rank = RwSignal::new(Rank::InOrder);
    let cursor = RwSignal::new(None::<Cursor>);
    let traced = RwSignal::new(0usize);
    // A memo, so that typing redraws the bands without rebuilding them.
    let bands = Memo::new(move |_| {
        steps.with(|st| cells(st).first().map_or(&[][..], |c| Band::of(c.cell)))
    });
    let units = Memo::new(move |_| {
        let k = if rank.get() == Rank::InOrder {
            usize::MAX
        } else {
            RANKED
        };
        steps.with(|st| gates::units(&cells(st), rank.get(), k))
    });
    let width = move || steps.with(|st| cells(st).first().map_or(0, |c| c.state.len()));
    // A new ranking traces its first unit (typing on keeps the unit
    // traced); the cursor stays on the grid.
    Effect::new(move |_| {
        if rank.get() != Rank::InOrder
            && let Some(&u) = units.with_untracked(|u| u.first().copied()).as_ref()
        {
            traced.set(u);
        }
    });
    Effect::new(move |_| {
        let (n, rows) = (steps.with(Vec::len), units.with(Vec::len));
        if let Some(c) = cursor.get_untracked()
            && (c.column >= n || c.row >= rows)
        {
            cursor.set(None);
        }
    });
    let readout = move || {
        let s = s();
        let c = cursor.get()?;
        let band = *bands.get().get(c.band)?;
        let unit = units.with(|u| u.get(c.row).copied())?;
        steps.with(|st| {
            let step = st.get(c.column)?;
            let v = band.value(step.cell.as_ref()?, unit)?;
            Some(
                s.gate_readout
                    .replace("{unit}", &unit.to_string())
                    .replace(
                        "{band}",
                        &format!("{} ({})", band.symbol, band_name(s, &band)),
                    )
                    .replace("{char}", &shown_char(step.ch))
                    .replace("{at}", &(c.column + 1).to_string())
                    .replace("{n}", &st.len().to_string())
                    .replace("{value}", &format!("{v:.3}")),
            )
        })
    };
    let rank_of = |v: &str| match v {
        "active" => Rank::MostActive,
        "changing" => Rank::MostChanging,
        _ => Rank::InOrder,
    };
    view! {
        <div class="controls">
            <label>{move || s().gate_units}" "
                <select id="gate-rank" on:change=move |ev| rank.set(rank_of(&event_target_value(&ev)))>
                    <option value="all">{move || s().gate_all}</option>
                    <option value="active">{move || s().gate_most_active}</option>
                    <option value="changing">{move || s().gate_most_changing}</option>
                </select>
            </label>
            <label>{move || s().gate_traced}" "
                <input id="gate-unit" type="number" min="0" max=move || width().saturating_sub(1).to_string()
                    prop:value=move || traced.get().to_string()
                    on:change=move |ev| {
                        if let Ok(u) = event_target_value(&ev).parse::<usize>() {
                            traced.set(u.min(width().saturating_sub(1)))
                        }
                    } />
            </label>
        </div>
        <div id="gate-heatmap" class="gate-bands"
            data-chars=move || steps.with(Vec::len).to_string()
            data-units=move || units.with(|u| u.iter().map(usize::to_string).collect::<Vec<_>>().join(","))>
            {move || bands.get().iter().enumerate().map(|(b, band)| view! {
                <BandRow b=b band=*band steps=steps units=units cursor=cursor traced=traced lang=lang />
            }).collect_view()}
            // The characters under their columns (a spacer where units are named).
            <div class="band-frame band-chars" aria-hidden="true">
                <span class="unit-labels" hidden=move || { units.with(Vec::len) > RANKED }></span>
                <span class="chars">
                    {move || steps.with(|st| st.iter().map(|step| view! { <span>{glyph(step.ch)}</span> }).collect_view())}
                </span>
            </div>
        </div>
        <p id="gate-readout" class="readout" aria-live="polite">
            {move || readout().unwrap_or_else(|| s().gate_readout_hint.to_string())}
        </p>
        <UnitTrace steps=steps unit=traced.into() lang=lang />
    }
}

/// One band: its name and meaning, and a canvas of characters x units the
/// pointer and the arrow keys move over (Enter or a click traces the unit).
#[component]
fn BandRow(
    b: usize,
    band: Band,
    steps: Signal<Vec<CharStep>>,
    units: Memo<Vec<usize>>,
    cursor: RwSignal<Option<Cursor>>,
    traced: RwSignal<usize>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let node = NodeRef::<leptos::html::Canvas>::new();
    Effect::new(move |_| {
        let shown = units.get();
        steps.with(|st| {
            let Some(c) = node.get() else { return };
            let (w, h) = (st.len().max(1), shown.len().max(1));
            let mut rgba = vec![246u8; w * h * 4];
            for (x, step) in st.iter().enumerate() {
                let Some(cell) = &step.cell else { continue };
                for (y, &u) in shown.iter().enumerate() {
                    if let Some(v) = band.value(cell, u) {
                        let at = (y * w + x) * 4;
                        rgba[at..at + 3].copy_from_slice(&paint::colour(band.unit_interval(v)));
                    }
                }
            }
            paint::put(&c, w, h, &rgba);
        });
    });
    let at_pointer = move |ev: &MouseEvent| -> Option<Cursor> {
        // One canvas pixel per character and unit.
        let (column, row) = paint::pointer_pixel(&node.get_untracked()?, ev);
        let (n, rows) = (
            steps.with_untracked(Vec::len),
            units.with_untracked(Vec::len),
        );
        (column < n && row < rows).then_some(Cursor {
            band: b,
            column,
            row,
        })
    };
    let trace = move |c: Cursor| {
        if let Some(&u) = units.with_untracked(|u| u.get(c.row).copied()).as_ref() {
            traced.set(u);
        }
    };
    let key = move |ev: KeyboardEvent| {
        let (n, rows) = (
            steps.with_untracked(Vec::len),
            units.with_untracked(Vec::len),
        );
        if n == 0 || rows == 0 {
            return;
        }
        let c = cursor
            .get_untracked()
            .filter(|c| c.band == b)
            .unwrap_or(Cursor {
                band: b,
                column: n - 1,
                row: 0,
            });
        let moved = match ev.key().as_str() {
            "ArrowLeft" => Cursor {
                column: c.column.saturating_sub(1),
                ..c
            },
            "ArrowRight" => Cursor {
                column: (c.column + 1).min(n - 1),
                ..c
            },
            "ArrowUp" => Cursor {
                row: c.row.saturating_sub(1),
                ..c
            },
            "ArrowDown" => Cursor {
                row: (c.row + 1).min(rows - 1),
                ..c
            },
            "Enter" | " " => {
                trace(c);
                c
            }
            _ => return,
        };
        ev.prevent_default();
        cursor.set(Some(moved));
    };
    // The cursor's cell outlined, in percent of the canvas.
    let outline = move || {
        let c = cursor.get().filter(|c| c.band == b)?;
        Some(paint::cell_box(
            (c.column, c.row),
            steps.with(Vec::len),
            units.with(Vec::len),
        ))
    };
    let name = move || format!("{} · {}", band.symbol, band_name(s(), &band));
    let range = if band.signed { "−1 … 1" } else { "0 … 1" };
    // Tall enough to point at a row: ten ranked units get 1.2rem each.
    let height = move || {
        let rows = units.with(Vec::len);
        if rows <= RANKED {
            format!("{}rem", 1.2 * rows.max(1) as f64)
        } else {
            "8rem".into()
        }
    };
    view! {
        <div class="gate-band" data-band=band.symbol>
            <span class="band-name">{name}<span class="band-range">{range}</span></span>
            <div class="band-frame">
                // Ten ranked units are named beside their rows.
                <ol class="unit-labels" aria-hidden="true" hidden=move || { units.with(Vec::len) > RANKED }>
                    {move || units.get().into_iter().map(|u| view! { <li>{u}</li> }).collect_view()}
                </ol>
                <div class="band-canvas">
                <canvas node_ref=node class="pixelated" tabindex="0" data-band=band.symbol
                    style:height=height
                    aria-label=move || format!("{}: {}", name(), s().gate_keys)
                    on:mousemove=move |ev| {
                        let p = at_pointer(&ev);
                        if p.is_some() && cursor.get_untracked() != p { cursor.set(p) }
                    }
                    on:click=move |ev| if let Some(c) = at_pointer(&ev) { cursor.set(Some(c)); trace(c) }
                    on:keydown=key></canvas>
                <span class="cell-cursor" aria-hidden="true" hidden=move || outline().is_none()
                    style=move || outline().unwrap_or_default()></span>
                </div>
            </div>
        </div>
    }
}

/// One unit over the text: every band as a line, and the text shaded by
/// the unit's state (blue above zero, orange below), as LSTMVis shows a
/// hidden unit's activation under the words.
#[component]
fn UnitTrace(
    steps: Signal<Vec<CharStep>>,
    unit: Signal<usize>,
    lang: RwSignal<Lang>,
) -> impl IntoView {
    let s = move || lang.get().strings();
    let node = NodeRef::<leptos::html::Canvas>::new();
    // Per band: its symbol and the unit's values, one per character.
    let lines = Memo::new(move |_| {
        steps.with(|st| {
            let cs = cells(st);
            let Some(first) = cs.first() else {
                return Vec::new();
            };
            Band::of(first.cell)
                .iter()
                .map(|b| {
                    let points: Vec<(f64, f64)> = cs
                        .iter()
                        .enumerate()
                        .filter_map(|(x, c)| Some((x as f64, f64::from(b.value(c, unit.get())?))))
                        .collect();
                    (*b, points)
                })
                .collect::<Vec<_>>()
        })
    });
    Effect::new(move |_| {
        let lines = lines.get();
        let Some(c) = node.get() else { return };
        let s = s();
        // The bands' letters only: their names stand above the bands, and a
        // long legend would hide the lines.
        let labels: Vec<String> = lines.iter().map(|(b, _)| b.symbol.to_string()).collect();
        let series: Vec<Series> = lines
            .iter()
            .zip(&labels)
            .enumerate()
            .map(|(run, ((_, points), label))| Series { label, points, run })
            .collect();
        let chart = Chart {
            x_label: s.gate_trace_x,
            y_label: s.gate_trace_y,
            y_range: Some((-1.0, 1.0)),
            dots: false,
            percent: false,
        };
        let _ = charts::draw(&c, &chart, &series);
    });
    let state_of = move |i: usize| {
        lines.with(|l| {
            l.last()
                .and_then(|(_, p)| p.get(i).map(|p| p.1 as f32))
                .unwrap_or(0.0)
        })
    };
    view! {
        <h4 id="unit-trace-title">{move || s().gate_trace_title.replace("{unit}", &unit.get().to_string())}</h4>
        <canvas id="unit-trace" node_ref=node width="720" height="240"
            data-unit=move || unit.get().to_string()
            data-points=move || lines.with(|l| l.first().map_or(0, |l| l.1.len())).to_string()
            aria-label=move || s().gate_trace_title.replace("{unit}", &unit.get().to_string())></canvas>
        <p id="unit-text" class="attention-text" aria-labelledby="unit-trace-title">
            {move || steps.with(|st| st.iter().enumerate().map(|(i, step)| {
                let v = state_of(i).clamp(-1.0, 1.0);
                // At most 0.65 of either colour under dark text: 4.5:1 contrast kept.
                let (r, g, b) = if v >= 0.0 { (23, 71, 166) } else { (230, 120, 0) };
                view! {
                    <span class="att" data-v=v.to_string()
                        style:background-color=format!("rgba({r}, {g}, {b}, {:.3})", 0.65 * v.abs())
                        title=format!("{} {v:.3}", shown_char(step.ch))>{glyph(step.ch)}</span>
                }
            }).collect_view())}
        </p>
    }
}
