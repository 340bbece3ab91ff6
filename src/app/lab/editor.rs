//! The editor of the layer picked in the picture: its type and settings,
//! moving and removing it, adding one after it. Every change is an
//! [`Edit`] of the variant's spec; a value of the wrong sort is refused
//! here, and one that breaks the network is the plan's to explain, on the
//! layer, while Train stays off.

use leptos::prelude::*;

use super::LabState;
use super::words::LabStrings;
use crate::nn::edit::{self, Edit, FieldValue};
use crate::nn::plan::MAX_LAYERS;

/// Put the keyboard's focus back on `id` once the editor is drawn again
/// (a move or a new type makes its controls anew).
fn refocus(id: &'static str) {
    use wasm_bindgen::JsCast;
    let Some(w) = web_sys::window() else { return };
    let go = wasm_bindgen::closure::Closure::once_into_js(move || {
        if let Some(el) = document()
            .get_element_by_id(id)
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    });
    let _ = w.request_animation_frame(go.unchecked_ref());
}

#[component]
pub fn LayerEditor(lab: LabState, words: Signal<&'static LabStrings>) -> impl IntoView {
    let w = move || words.get();
    let layer = move || {
        let at = lab.layer.get()?;
        lab.spec().layers.get(at).map(|l| (at, l.kind.clone()))
    };
    let problem = move || {
        let at = lab.layer.get()?;
        let survey = lab.survey.get();
        (survey.broken_layer() == Some(at)).then(|| survey.problem.map(|p| p.message))?
    };
    let types = move || edit::types_for(lab.spec().input);
    let count = move || lab.spec().layers.len();
    let add_type = RwSignal::new(String::new());
    let add = move |_| {
        let at = lab.layer.get_untracked().map_or(0, |i| i + 1);
        let t = add_type.get_untracked();
        let type_name = match types().iter().find(|o| **o == t).or(types().first()) {
            Some(t) => t.to_string(),
            None => return,
        };
        if lab.edit(Edit::Insert { at, type_name }) {
            lab.layer.set(Some(at));
            refocus("lab-add-layer");
        }
    };
    // The controls are made again only when another layer is picked or its
    // type changes, and show each value reactively: a change to one setting
    // keeps the keyboard's focus where it is.
    let current = Memo::new(move |_| layer().map(|(at, kind)| (at, kind.type_name())));
    let value_of = move |at: usize, key: &'static str| {
        let kind = lab.spec().layers.get(at)?.kind.clone();
        edit::fields(&kind)
            .into_iter()
            .find(|f| f.key == key)
            .map(|f| f.value)
    };
    let text_of = move |at, key| match value_of(at, key) {
        Some(FieldValue::Whole(n)) => n.to_string(),
        Some(FieldValue::Rate(r)) => r.to_string(),
        Some(FieldValue::Choice { value, .. }) => value,
        None => String::new(),
    };
    let fields = move || {
        let (at, type_name) = current.get()?;
        let kind = lab.spec_untracked().layers.get(at)?.kind.clone();
        Some(
            edit::fields(&kind)
                .into_iter()
                .map(|f| {
                    let key = f.key;
                    let id = format!("lab-field-{key}");
                    let set = move |text: String| {
                        lab.edit(Edit::SetField {
                            at,
                            key: key.to_string(),
                            text,
                        });
                    };
                    let value = move || text_of(at, key);
                    let input = match f.value {
                        FieldValue::Whole(_) => view! {
                            <input id=id type="number" min="1" step="1" prop:value=value
                                disabled=move || lab.locked.get()
                                on:change=move |ev| set(event_target_value(&ev)) />
                        }
                        .into_any(),
                        FieldValue::Rate(_) => view! {
                            <input id=id type="number" min="0" max="0.9" step="0.05" prop:value=value
                                disabled=move || lab.locked.get()
                                on:change=move |ev| set(event_target_value(&ev)) />
                        }
                        .into_any(),
                        FieldValue::Choice { options, .. } => view! {
                            <select id=id prop:value=value disabled=move || lab.locked.get() || options.len() < 2
                                on:change=move |ev| set(event_target_value(&ev))>
                                {options.iter().map(|o| view! {
                                    <option value=*o selected=move || value() == *o>{*o}</option>
                                }).collect_view()}
                            </select>
                        }
                        .into_any(),
                    };
                    view! { <label>{move || w().field(type_name, key)}" "{input}</label> }
                })
                .collect_view(),
        )
    };
    view! {
        <section id="lab-editor" class="lab-editor" aria-labelledby="lab-editor-title">
            <h4 id="lab-editor-title">{move || match layer() {
                Some((at, kind)) => format!("{} · {}", w().layer_heading.replace("{i}", &at.to_string()), kind.label()),
                None => w().pick_layer.to_string(),
            }}</h4>
            {move || current.get().map(|(at, type_name)| view! {
                <div class="fields">
                    <label>{move || w().layer_type}" "
                        <select id="lab-type" disabled=move || lab.locked.get()
                            on:change=move |ev| {
                                lab.edit(Edit::SetType { at, type_name: event_target_value(&ev) });
                                refocus("lab-type");
                            }>
                            {types().iter().map(|t| view! {
                                <option value=*t selected=*t == type_name>{move || w().type_name(t)}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    {fields}
                </div>
                <p id="lab-layer-problem" class="problem" role="alert" hidden=move || problem().is_none()>
                    {problem}
                </p>
                <div class="row">
                    <button id="lab-move-up" type="button" disabled=move || lab.locked.get() || at == 0
                        on:click=move |_| if lab.edit(Edit::Move { at, up: true }) {
                            lab.layer.set(Some(at - 1));
                            refocus(if at == 1 { "lab-move-down" } else { "lab-move-up" });
                        }>
                        {move || w().move_up}</button>
                    <button id="lab-move-down" type="button" disabled=move || { lab.locked.get() || at + 1 >= count() }
                        on:click=move |_| if lab.edit(Edit::Move { at, up: false }) {
                            lab.layer.set(Some(at + 1));
                            refocus(if at + 2 >= count() { "lab-move-up" } else { "lab-move-down" });
                        }>
                        {move || w().move_down}</button>
                    <button id="lab-remove-layer" type="button" disabled=move || lab.locked.get() || count() < 2
                        on:click=move |_| if lab.edit(Edit::Remove { at }) {
                            lab.layer.set(Some(at.min(count().saturating_sub(1))));
                            refocus("lab-remove-layer");
                        }>
                        {move || w().remove_layer}</button>
                </div>
            })}
            <div class="row">
                <label>{move || if layer().is_some() { w().add_after } else { w().add_first }}" "
                    <select id="lab-add-type" disabled=move || lab.locked.get()
                        on:change=move |ev| add_type.set(event_target_value(&ev))>
                        {move || types().iter().map(|t| view! {
                            <option value=*t>{move || w().type_name(t)}</option>
                        }).collect_view()}
                    </select>
                </label>
                <button id="lab-add-layer" type="button" on:click=add
                    disabled=move || { lab.locked.get() || count() >= MAX_LAYERS }>{move || w().add}</button>
            </div>
        </section>
    }
}
