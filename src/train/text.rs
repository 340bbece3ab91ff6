//! How a text model reads a corpus of ids in windows, and its evaluation.
//! Training is [`super::text_run`].
//!
//! A batch is `batch` rows reading their own contiguous stretch of the corpus
//! side by side, one `steps`-character window at a time, so the LSTM state a
//! row ends a window with is the right start for its next window
//! (truncated BPTT, as char-rnn does). Each position predicts the next id.

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::nn::char_model::CharModel;

/// The windows of one pass over `ids`: row r reads `ids[start_r ..]` with
/// start_r = offset + r * stretch, window k covers positions k * steps ..
/// (k + 1) * steps of every row.
#[derive(Clone, Copy, Debug)]
pub struct Windows {
    pub steps: usize,
    pub batch: usize,
    offset: usize,
    stretch: usize,
}

impl Windows {
    /// Windows over `len` ids, starting `offset` ids in (an epoch can shift
    /// where the windows fall). Needs one full window per row, plus the
    /// target after it.
    pub fn new(len: usize, steps: usize, batch: usize, offset: usize) -> Result<Self> {
        let stretch = len.saturating_sub(offset + 1) / batch.max(1);
        if steps == 0 || batch == 0 || stretch < steps {
            return Err(Error::Data {
                source_name: "text".into(),
                problem: format!(
                    "{len} characters cannot fill {batch} rows of {steps}-character \
                     windows (each row needs at least {} characters): use a longer \
                     text or a smaller batch",
                    steps + 1
                ),
            });
        }
        Ok(Self {
            steps,
            batch,
            offset,
            stretch,
        })
    }

    /// Windows in one pass.
    pub fn count(&self) -> usize {
        self.stretch / self.steps
    }

    /// Window `k`'s inputs and targets, time-major (position t of row r at
    /// t * batch + r).
    pub fn fill(&self, ids: &[u32], k: usize, inputs: &mut Vec<u32>, targets: &mut Vec<u32>) {
        inputs.clear();
        targets.clear();
        for t in 0..self.steps {
            for r in 0..self.batch {
                let at = self.offset + r * self.stretch + k * self.steps + t;
                inputs.push(ids[at]);
                targets.push(ids[at + 1]);
            }
        }
    }
}

/// Cross-entropy of a model over a text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextEval {
    /// Mean nats per predicted character.
    pub nats: f64,
    /// Characters predicted.
    pub chars: usize,
}

impl TextEval {
    /// Bits per character: nats / ln 2.
    pub fn bits_per_char(&self) -> f64 {
        self.nats / std::f64::consts::LN_2
    }
}

/// Mean loss of `model` predicting every next id of `ids`, from zero state,
/// in up to `batch` rows of `steps`-character windows; a text too short for
/// that is read as one row in one window. Resets the model's carried state.
pub async fn evaluate<B: Backend>(
    be: &B,
    model: &mut CharModel<B>,
    ids: &[u32],
    steps: usize,
    batch: usize,
) -> Result<TextEval> {
    if ids.len() < 2 {
        return Err(Error::Data {
            source_name: "validation text".into(),
            problem: format!("{} characters: nothing to predict", ids.len()),
        });
    }
    let rows = ((ids.len() - 1) / steps.max(1)).clamp(1, batch.max(1));
    let steps = steps.min(ids.len() - 1);
    let windows = Windows::new(ids.len(), steps, rows, 0)?;
    model.reset_state();
    let (mut x, mut y, mut total) = (Vec::new(), Vec::new(), 0.0);
    for k in 0..windows.count() {
        windows.fill(ids, k, &mut x, &mut y);
        total += model.eval_window(be, &x, &y, steps, rows).await?;
    }
    model.reset_state();
    let chars = windows.count() * steps * rows;
    Ok(TextEval {
        nats: total / chars as f64,
        chars,
    })
}

/// Cross-entropy of `count` characters of `ids` from `start` on, each
/// predicted from at least `context` characters before it (taken from
/// before `start` for the first ones): windows of `window` characters from
/// zero state, `window - context + 1` apart, each scoring its predictions
/// from position `context - 1` on; up to `batch` windows side by side. A
/// recurrent model and a Transformer are read the same way, so their
/// numbers compare; the Transformer's `window` is at most its context.
pub async fn evaluate_with_context<B: Backend>(
    be: &B,
    model: &mut CharModel<B>,
    ids: &[u32],
    (start, count): (usize, usize),
    (context, window): (usize, usize),
    batch: usize,
) -> Result<TextEval> {
    let bad = |problem: String| {
        Err(Error::Data {
            source_name: "validation text".into(),
            problem,
        })
    };
    if context == 0 || window <= context || batch == 0 {
        return bad(format!(
            "a {window}-character window cannot score with {context} characters of context"
        ));
    }
    if start < context || start + count > ids.len() || count == 0 {
        return bad(format!(
            "characters {start}..{} of {} with {context} before each: out of range",
            start + count,
            ids.len()
        ));
    }
    if ids.len() < window + 1 {
        return bad(format!("{} characters: shorter than one window", ids.len()));
    }
    let stride = window - context + 1;
    // Window k scores targets start + k * stride .. + stride, each at t =
    // target - a - 1 >= context - 1 of the window read from a; the last
    // windows move back to end with the text, scoring the same targets.
    let windows: Vec<(usize, usize)> = (0..count.div_ceil(stride))
        .map(|k| {
            let first = start + k * stride;
            (first, (first - context).min(ids.len() - 1 - window))
        })
        .collect();
    let (mut total, mut chars) = (0.0f64, 0usize);
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for group in windows.chunks(batch) {
        let rows = group.len();
        x.clear();
        y.clear();
        for t in 0..window {
            for &(_, a) in group {
                x.push(ids[a + t]);
                y.push(ids[a + t + 1]);
            }
        }
        let losses = model.window_losses(be, &x, &y, window, rows).await?;
        for (r, &(first, a)) in group.iter().enumerate() {
            for target in first..(first + stride).min(start + count) {
                total += losses[(target - a - 1) * rows + r] as f64;
                chars += 1;
            }
        }
    }
    if chars != count {
        return bad(format!(
            "{chars} of {count} characters scored: the text ends too soon"
        ));
    }
    Ok(TextEval {
        nats: total / chars as f64,
        chars,
    })
}
