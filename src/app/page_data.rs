//! The training data the page fetches when a person first trains: the MNIST
//! subset and the text excerpts (State of the Union, Tang poems) that
//! `scripts/page_data.mjs` writes at build time, and the small helpers that
//! pace a training loop.

use std::rc::Rc;

use wasm_bindgen_futures::JsFuture;

use super::fetch_bytes;
use crate::data::mnist::Dataset;

const MNIST: &str = "data/mnist";

/// A text excerpt to train on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Excerpt {
    /// The State of the Union addresses of 1981-1989.
    Sotu,
    /// 3,000 Tang poems, each within the poem model's vocabulary.
    Tang,
}

impl Excerpt {
    fn url(self) -> &'static str {
        match self {
            Excerpt::Sotu => "data/sotu-excerpt.txt",
            Excerpt::Tang => "data/tang-excerpt.txt",
        }
    }
}

/// The digit images a run trains on and is tested on.
pub struct DigitData {
    pub train: Dataset,
    pub test: Rc<Dataset>,
}

/// The bytes at `url`, gunzipped when they are gzip (a server may also have
/// sent them decompressed already).
async fn fetch_gunzipped(url: &str) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let bytes = fetch_bytes(url).await?;
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("{url}: gunzip: {e}"))?;
    Ok(out)
}

thread_local! {
    /// Fetched once per page: the Train panel and the lab share them.
    static DIGITS: std::cell::RefCell<Option<Rc<DigitData>>> = const { std::cell::RefCell::new(None) };
    static EXCERPTS: std::cell::RefCell<Vec<(Excerpt, Rc<String>)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The digit images, fetched on first use.
pub async fn digits() -> Result<Rc<DigitData>, String> {
    if let Some(d) = DIGITS.with_borrow(Clone::clone) {
        return Ok(d);
    }
    let d = Rc::new(load_digits().await?);
    DIGITS.set(Some(d.clone()));
    Ok(d)
}

/// A text excerpt, fetched on first use.
pub async fn excerpt(which: Excerpt) -> Result<Rc<String>, String> {
    let cached =
        EXCERPTS.with_borrow(|e| e.iter().find_map(|(w, t)| (*w == which).then(|| t.clone())));
    if let Some(t) = cached {
        return Ok(t);
    }
    let url = which.url();
    let t = Rc::new(String::from_utf8(fetch_bytes(url).await?).map_err(|e| format!("{url}: {e}"))?);
    EXCERPTS.with_borrow_mut(|e| e.push((which, t.clone())));
    Ok(t)
}

async fn load_digits() -> Result<DigitData, String> {
    let file = |name: &str| format!("{MNIST}/{name}.idx.gz");
    let mut parts = Vec::new();
    for name in ["train-images", "train-labels", "test-images", "test-labels"] {
        parts.push(fetch_gunzipped(&file(name)).await?);
    }
    let train = Dataset::from_idx(&parts[0], &parts[1], "train").map_err(|e| e.to_string())?;
    let test = Dataset::from_idx(&parts[2], &parts[3], "test").map_err(|e| e.to_string())?;
    Ok(DigitData {
        train,
        test: Rc::new(test),
    })
}

/// Let the browser handle input and paint before the loop goes on: a
/// training step on the CPU never awaits anything, so without this the page
/// would freeze for a whole run.
pub async fn next_turn() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// A whole-number setting from the page's address (`?name=12`): the
/// training drills (`nan-at-step`, `lose-gpu-at-step`).
pub fn url_number(name: &str) -> Option<usize> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)?
        .parse()
        .ok()
}
