//! The lab kept in this browser (IndexedDB) across reloads: the experiment
//! as last edited, and the runs with their curves and weights, so a class
//! that reloads the page still has its comparison. What is read back is
//! checked like a link (the experiment) or a file (the weights).

use idb::TransactionMode;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

use super::super::store::{LAB, with_store};
use super::runs::{RunRecord, Runs};
use crate::link::{Experiment, Task};

const EXPERIMENT: &str = "experiment";
const RUNS: &str = "runs";
/// Runs kept: at most the experiment's networks, so a bound on what a
/// damaged store can make the page read.
const MAX_RUNS: usize = crate::link::MAX_VARIANTS;

fn key(k: &str) -> JsValue {
    JsValue::from_str(k)
}

fn weights_key(i: usize) -> JsValue {
    JsValue::from_str(&format!("weights-{i}"))
}

#[derive(Serialize, Deserialize)]
struct KeptRuns {
    task: Task,
    runs: Vec<RunRecord>,
}

/// What the lab had: the experiment (if it could be read) and the runs
/// with their weights.
pub struct Restored {
    pub experiment: Option<Experiment>,
    pub task: Task,
    pub runs: Vec<RunRecord>,
    pub weights: Vec<Vec<u8>>,
}

/// Keep the experiment being edited, as a link carries it.
pub async fn save_experiment(e: &Experiment) {
    let value = JsValue::from_str(&e.encode());
    let _ = with_store(LAB, TransactionMode::ReadWrite, async |store| {
        store.put(&value, Some(&key(EXPERIMENT)))?.await.map(|_| ())
    })
    .await;
}

/// Keep every run of `runs` with its weights as the engine has them now;
/// says so on the lab when it cannot.
pub async fn save_runs(runs: Runs) {
    let list = runs.list.get_untracked();
    let mut weights = Vec::with_capacity(list.len());
    for r in &list {
        match runs.weights(r.slot).await {
            Ok(w) => weights.push(js_sys::Uint8Array::from(&w[..])),
            Err(e) => return runs.notice.set(Some(e.to_string())),
        }
    }
    let kept = KeptRuns {
        task: runs.task.get_untracked(),
        runs: list,
    };
    let Ok(json) = serde_json::to_string(&kept) else {
        return;
    };
    let written = with_store(LAB, TransactionMode::ReadWrite, async |store| {
        for i in 0..MAX_RUNS {
            store.delete(weights_key(i))?.await?;
        }
        store
            .put(&JsValue::from_str(&json), Some(&key(RUNS)))?
            .await?;
        for (i, w) in weights.iter().enumerate() {
            store.put(w, Some(&weights_key(i)))?.await?;
        }
        Ok(())
    })
    .await;
    if let Err(e) = written {
        runs.notice.set(Some(format!(
            "the runs could not be kept in this browser: {e}"
        )));
    }
}

/// The lab as this browser kept it, if it kept anything readable.
pub async fn load() -> Option<Restored> {
    let found = with_store(LAB, TransactionMode::ReadOnly, async |store| {
        let experiment = store
            .get(key(EXPERIMENT))?
            .await?
            .and_then(|v| v.as_string());
        let runs = store.get(key(RUNS))?.await?.and_then(|v| v.as_string());
        let mut weights = Vec::new();
        for i in 0..MAX_RUNS {
            match store.get(weights_key(i))?.await? {
                Some(w) => weights.push(js_sys::Uint8Array::new(&w).to_vec()),
                None => break,
            }
        }
        Ok((experiment, runs, weights))
    })
    .await
    .ok()?;
    let (experiment, runs, weights) = found;
    let kept = runs
        .and_then(|r| serde_json::from_str::<KeptRuns>(&r).ok())
        .unwrap_or(KeptRuns {
            task: Task::Digits,
            runs: Vec::new(),
        });
    Some(Restored {
        experiment: experiment.and_then(|e| Experiment::decode(&e).ok()),
        task: kept.task,
        runs: kept.runs.into_iter().take(MAX_RUNS).collect(),
        weights,
    })
}
