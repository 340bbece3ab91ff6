//! Where the page is: the part shown (one section at a time, as the top
//! navigation picks it) and what the URL fragment asked of it, in the one
//! grammar of `crate::link` that the lab's experiments and the lessons
//! share. The fragment is the state: a link opens the same place, and the
//! browser's back button goes back.

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

use super::i18n::{Lang, Strings};
use crate::link::{Link, LinkError, Section};

/// The route, shared through context: the link now in the fragment, and why
/// the last one given was not followed.
#[derive(Clone, Copy)]
pub struct Route {
    pub link: RwSignal<Link>,
    pub problem: RwSignal<Option<LinkError>>,
}

impl Route {
    /// Reads the fragment now, and again on every change of it.
    pub fn new() -> Self {
        let route = Route {
            link: RwSignal::new(Link::default()),
            problem: RwSignal::new(None),
        };
        route.read();
        let on_change = Closure::<dyn Fn()>::new(move || route.read());
        if let Some(w) = web_sys::window() {
            let _ = w
                .add_event_listener_with_callback("hashchange", on_change.as_ref().unchecked_ref());
        }
        // The page lives as long as the listener: nothing to remove it for.
        on_change.forget();
        route
    }

    fn read(&self) {
        let hash = web_sys::window()
            .and_then(|w| w.location().hash().ok())
            .unwrap_or_default();
        match Link::parse(&hash) {
            Ok(link) => {
                self.problem.set(None);
                self.link.set(link);
            }
            Err(e) => {
                self.problem.set(Some(e));
                self.link.set(Link::default());
            }
        }
    }

    pub fn section(&self) -> Section {
        self.link.get().section
    }

    /// Go to `link`: the fragment changes (a history entry), and the
    /// hashchange that follows updates the route.
    pub fn go(&self, link: &Link) {
        if let Some(w) = web_sys::window() {
            let _ = w.location().set_hash(&link.format());
        }
    }

    /// Put `link` in the fragment without a history entry (the page's own
    /// state moving on, such as a lesson's step).
    pub fn replace(&self, link: Link) {
        if let Some(h) = web_sys::window().and_then(|w| w.history().ok()) {
            let _ =
                h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&link.format()));
        }
        self.problem.set(None);
        self.link.set(link);
    }
}

/// The page's parts in the navigation, by name.
pub fn section_name(s: &Strings, section: Section) -> &'static str {
    match section {
        Section::Draw => s.nav_draw,
        Section::Inside => s.nav_inside,
        Section::Train => s.nav_train,
        Section::Text => s.nav_text,
        Section::Lab => s.nav_lab,
        Section::Service => s.nav_service,
        Section::Lessons => s.nav_lessons,
    }
}

/// The top navigation: one link per section, the current one marked.
#[component]
pub fn Nav(route: Route, lang: RwSignal<Lang>, sections: Vec<Section>) -> impl IntoView {
    let s = move || lang.get().strings();
    view! {
        <nav id="nav" aria-label=move || s().nav_label>
            <ul>
                {sections.into_iter().map(|section| view! {
                    <li><a id=format!("nav-{}", section.name()) href=Link::to(section).format()
                        aria-current=move || (route.section() == section).then_some("page")>
                        {move || section_name(s(), section)}
                    </a></li>
                }).collect_view()}
            </ul>
        </nav>
    }
}

/// One section's part of the page, shown when the route is on it. Hidden
/// parts stay mounted, so a run, a drawing or typed text carries on while
/// another part is shown.
#[component]
pub fn Page(route: Route, section: Section, children: Children) -> impl IntoView {
    view! {
        <div id=format!("page-{}", section.name()) class="page" hidden=move || route.section() != section>
            {children()}
        </div>
    }
}
