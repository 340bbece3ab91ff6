//! The lab's comparison as the page holds it: one record per run (its
//! curves, sizes and speed), and the loop that trains them interleaved, a
//! step of each in turn, so that a class watches every curve grow at once
//! and a pause stops them all at the same step. Tests come every
//! `eval_every` steps, in chunks, so a drawing never waits long.

use std::rc::Rc;

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::super::digits::{DigitState, now_ms};
use super::super::engine::{Done, Job, Runner};
use super::super::page_data::{self, next_turn};
use super::super::training::RunState;
use super::trainer::{LabData, LabJob, LabStep, RunFacts, Tally};
use crate::link::{Data, Experiment, Task};
use crate::nn::spec::NetworkSpec;

/// Prompt of the sample a finished text run writes.
pub const SAMPLE_PROMPT: &str = "The ";

/// One run of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub name: String,
    pub spec: NetworkSpec,
    /// Its colour, dash and dot among the runs.
    pub colour: usize,
    /// Its model's place in the engine's lab.
    #[serde(skip)]
    pub slot: usize,
    pub params: usize,
    pub macs: u64,
    pub step: usize,
    pub total: usize,
    /// (step, loss) of every step.
    pub losses: Vec<(f64, f64)>,
    /// (step, test accuracy or held-out bits per character).
    pub evals: Vec<(f64, f64)>,
    /// Milliseconds of every step but the first (which compiles kernels).
    pub ms_total: f64,
    pub ms_steps: usize,
    /// What a finished text run wrote after [`SAMPLE_PROMPT`].
    pub sample: Option<String>,
    /// Why the run stopped early (a diverging loss, a lost device).
    pub problem: Option<String>,
}

impl RunRecord {
    fn new(name: String, spec: NetworkSpec, slot: usize, facts: RunFacts) -> Self {
        RunRecord {
            name,
            spec,
            colour: slot,
            slot,
            params: facts.params,
            macs: facts.macs,
            step: 0,
            total: facts.total,
            losses: Vec::new(),
            evals: Vec::new(),
            ms_total: 0.0,
            ms_steps: 0,
            sample: None,
            problem: None,
        }
    }

    pub fn ms_per_step(&self) -> Option<f64> {
        (self.ms_steps > 0).then(|| self.ms_total / self.ms_steps as f64)
    }

    pub fn finished(&self) -> bool {
        self.step >= self.total || self.problem.is_some()
    }

    /// The latest test result.
    pub fn last_eval(&self) -> Option<f64> {
        self.evals.last().map(|e| e.1)
    }

    fn stepped(&mut self, s: LabStep) {
        self.step = s.step;
        self.total = s.total;
        self.losses.push((s.step as f64, f64::from(s.loss)));
        if s.step > 1 {
            self.ms_total += s.ms;
            self.ms_steps += 1;
        }
    }
}

/// The comparison: its runs, where it is, and what it said last.
#[derive(Clone, Copy)]
pub struct Runs {
    pub task: RwSignal<Task>,
    pub list: RwSignal<Vec<RunRecord>>,
    pub state: RwSignal<RunState>,
    pub notice: RwSignal<Option<String>>,
    /// The run whose weights the page's model has now, by slot.
    pub in_use: RwSignal<Option<usize>>,
    /// The runs were read back from this browser, not trained in this visit.
    pub restored: RwSignal<bool>,
    /// Each slot's probabilities for the current drawing.
    pub answers: RwSignal<Vec<Option<Vec<f32>>>>,
    eval_every: StoredValue<usize>,
    pub runner: StoredValue<Runner, LocalStorage>,
    data: StoredValue<Option<(Data, Rc<LabData>)>, LocalStorage>,
    /// The drawing pad, whose drawing the runs read.
    pad: DigitState,
}

/// Redraw the charts at most this often while training (ms): a step can
/// take a few ms, a redraw of four curves several.
const PUBLISH_MS: f64 = 250.0;

impl Runs {
    pub fn new(runner: StoredValue<Runner, LocalStorage>, pad: DigitState) -> Self {
        Runs {
            task: RwSignal::new(Task::Digits),
            list: RwSignal::new(Vec::new()),
            state: RwSignal::new(RunState::Idle),
            notice: RwSignal::new(None),
            in_use: RwSignal::new(None),
            restored: RwSignal::new(false),
            answers: RwSignal::new(Vec::new()),
            eval_every: StoredValue::new(50),
            runner,
            data: StoredValue::new_local(None),
            pad,
        }
    }

    pub fn runner(&self) -> Runner {
        self.runner.get_value()
    }

    async fn ask<T: 'static>(&self, make: impl FnOnce(Done<T>) -> LabJob) -> crate::Result<T> {
        self.runner().ask(|done| Job::Lab(make(done))).await
    }

    /// The data of `d`, fetched and split once per page.
    async fn data(&self, d: Data) -> Result<Rc<LabData>, String> {
        if let Some((have, data)) = self.data.get_value()
            && have == d
        {
            return Ok(data);
        }
        let data = Rc::new(match d.task() {
            Task::Digits => {
                let digits = page_data::digits().await?;
                let train = match d.train_images() {
                    Some(n) => digits.train.first(n),
                    None => digits.train.clone(),
                };
                LabData::Digits {
                    train,
                    test: digits.test.clone(),
                }
            }
            Task::Text => {
                let text = page_data::excerpt(page_data::Excerpt::Sotu).await?;
                LabData::text(&text).map_err(|e| e.to_string())?
            }
        });
        self.data.set_value(Some((d, data.clone())));
        Ok(data)
    }

    /// New runs of every network of `e`, then train them all.
    pub async fn start(self, e: Experiment) {
        self.notice.set(None);
        self.state.set(RunState::Loading);
        let data = match self.data(e.data).await {
            Ok(d) => d,
            Err(problem) => return self.stop(problem),
        };
        let specs: Vec<NetworkSpec> = e.variants.iter().map(|v| v.spec.clone()).collect();
        let settings = e.settings;
        let facts = match self
            .ask(|done| LabJob::Start(data, specs, settings, done))
            .await
        {
            Ok(f) => f,
            Err(err) => return self.stop(err.to_string()),
        };
        let list = e
            .variants
            .into_iter()
            .zip(facts)
            .enumerate()
            .map(|(slot, (v, f))| RunRecord::new(v.name, v.spec, slot, f))
            .collect();
        self.eval_every.set_value(e.settings.eval_every);
        self.task.set(e.task);
        self.list.set(list);
        self.answers.set(Vec::new());
        self.in_use.set(None);
        self.restored.set(false);
        self.drive().await;
    }

    fn stop(&self, problem: String) {
        self.state.set(RunState::Stopped);
        self.notice.set(Some(problem));
    }

    /// Train until paused or every run is done: a step of each unfinished
    /// run in turn, its test when due, the page's turn between steps.
    pub async fn drive(self) {
        self.state.set(RunState::Running);
        let mut published = now_ms();
        while self.state.get_untracked() == RunState::Running {
            let live: Vec<(usize, usize)> = self.list.with_untracked(|l| {
                l.iter()
                    .enumerate()
                    .filter(|(_, r)| !r.finished())
                    .map(|(i, r)| (i, r.slot))
                    .collect()
            });
            if live.is_empty() {
                self.state.set(RunState::Done);
                break;
            }
            for (i, slot) in live {
                self.step_one(i, slot).await;
                next_turn().await;
            }
            let now = now_ms();
            if now - published > PUBLISH_MS {
                self.list.notify();
                published = now;
            }
        }
        self.list.notify();
        self.refresh_answers();
        super::keep::save_runs(self).await;
    }

    /// One step of the run at `i` (engine slot `slot`), with its test when
    /// due and its sample when it ends.
    async fn step_one(&self, i: usize, slot: usize) {
        let stepped = self.ask(|done| LabJob::Step(slot, done)).await;
        let s = match stepped {
            Ok(s) => s,
            Err(e) => {
                self.list.update(|l| l[i].problem = Some(e.to_string()));
                return;
            }
        };
        self.list.update_untracked(|l| l[i].stepped(s));
        if s.step % self.eval_every.get_value() == 0 || s.finished {
            match self.evaluate(slot).await {
                Ok(v) => self.list.update(|l| l[i].evals.push((s.step as f64, v))),
                Err(e) => self.list.update(|l| l[i].problem = Some(e.to_string())),
            }
        }
        if s.finished && self.task.get_untracked() == Task::Text {
            let seed = 1;
            if let Ok(text) = self
                .ask(|done| LabJob::Sample(slot, SAMPLE_PROMPT.into(), seed, done))
                .await
            {
                self.list.update(|l| l[i].sample = Some(text));
            }
        }
    }

    /// The test of `slot`: accuracy on the test images, or bits per
    /// character on the held-out text.
    async fn evaluate(&self, slot: usize) -> crate::Result<f64> {
        let chunks = self
            .data
            .with_value(|d| d.as_ref().map_or(0, |(_, d)| d.eval_chunks()));
        let mut total: Tally = (0.0, 0);
        for chunk in 0..chunks {
            let (sum, n) = self.ask(|done| LabJob::Evaluate(slot, chunk, done)).await?;
            total = (total.0 + sum, total.1 + n);
            next_turn().await;
        }
        let mean = total.0 / total.1.max(1) as f64;
        Ok(match self.task.get_untracked() {
            Task::Digits => mean,
            Task::Text => mean / std::f64::consts::LN_2,
        })
    }

    pub fn pause(self) {
        if self.state.get_untracked() == RunState::Running {
            self.state.set(RunState::Paused);
        }
    }

    /// Ask every digit run how it reads `input` (the drawing pad's, once
    /// preprocessed), for the table.
    pub fn classify(&self, input: [f32; crate::nn::classifier::PIXELS]) {
        if self.task.get_untracked() != Task::Digits || self.list.with_untracked(Vec::is_empty) {
            return;
        }
        let answers = self.answers;
        let done = move |r: crate::Result<Vec<Option<Vec<f32>>>>| {
            if let Ok(a) = r {
                answers.set(a);
            }
        };
        self.runner()
            .submit(Job::Lab(LabJob::Classify(Box::new(input), Box::new(done))));
    }

    /// The drawing read again, after the weights changed.
    fn refresh_answers(&self) {
        if let Some(input) = self.last_input() {
            self.classify(input);
        }
    }

    fn last_input(&self) -> Option<[f32; crate::nn::classifier::PIXELS]> {
        self.pad.pre.get_untracked().map(|p| p.input)
    }

    /// Take the run at `i` out of the comparison (and of the engine).
    pub fn remove(self, i: usize) {
        let Some(slot) = self.list.with_untracked(|l| l.get(i).map(|r| r.slot)) else {
            return;
        };
        self.list.update(|l| {
            l.remove(i);
        });
        if self.in_use.get_untracked() == Some(slot) {
            self.in_use.set(None);
        }
        self.runner().submit(Job::Lab(LabJob::Forget(slot)));
        if self.list.with_untracked(Vec::is_empty) {
            self.state.set(RunState::Idle);
        }
        leptos::task::spawn_local(super::keep::save_runs(self));
    }

    /// Forget every run.
    pub fn clear(self) {
        let slots: Vec<usize> = self
            .list
            .with_untracked(|l| l.iter().map(|r| r.slot).collect());
        for slot in slots {
            self.runner().submit(Job::Lab(LabJob::Forget(slot)));
        }
        self.list.set(Vec::new());
        self.answers.set(Vec::new());
        self.in_use.set(None);
        self.notice.set(None);
        self.restored.set(false);
        self.state.set(RunState::Idle);
        leptos::task::spawn_local(super::keep::save_runs(self));
    }

    /// The weights of the run in `slot`, as a safetensors file.
    pub async fn weights(&self, slot: usize) -> crate::Result<Vec<u8>> {
        self.ask(|done| LabJob::Save(slot, done)).await
    }

    /// Runs kept from an earlier visit, with their weights loaded back into
    /// the engine (a run whose weights no longer load is dropped).
    pub async fn restore(self, task: Task, runs: Vec<RunRecord>, weights: Vec<Vec<u8>>) {
        let mut kept = Vec::new();
        for (slot, (mut run, bytes)) in runs.into_iter().zip(weights).enumerate() {
            let bytes = Rc::new(bytes);
            if self
                .ask(|done| LabJob::Restore(slot, bytes, done))
                .await
                .is_ok()
            {
                // A run kept mid-way ends there: its optimizer is gone.
                run.slot = slot;
                run.total = run.step;
                kept.push(run);
            }
        }
        if kept.is_empty() {
            return;
        }
        self.task.set(task);
        self.list.set(kept);
        self.restored.set(true);
        self.state.set(RunState::Done);
        self.refresh_answers();
    }
}
