//! The prompts being read, each one row of the LSTM, all rows stepping
//! together (continuous batching): a row feeds its prompt, then the
//! characters it samples, and is answered as soon as it has what it asked
//! for; a new prompt takes a free row at the next step, starting from zero
//! state while the others carry on. Steps read back only when some row
//! needs its probabilities.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::Backend;
use crate::data::corpus::Vocab;
use crate::error::Error;
use crate::nn::char_model::{self, CharModel, Sampling};
use crate::nn::verse::Verse;

use super::worker::{Failed, GenerateReply, NextReply};

/// One prompt, and how far it has got.
pub struct Row {
    /// The prompt's ids, then those sampled after it.
    ids: Vec<u32>,
    /// How many of `ids` are the prompt.
    prompt: usize,
    /// Ids fed so far.
    fed: usize,
    /// What it was asked; taken when answered.
    task: Option<Task>,
}

enum Task {
    Next {
        k: usize,
        reply: NextReply,
    },
    Generate {
        length: usize,
        sampling: Sampling,
        rng: ChaCha8Rng,
        /// The form of `sampling.line_chars`, read from the prompt at the
        /// first sample and kept up with each character after.
        verse: Option<Verse>,
        reply: GenerateReply,
    },
}

impl Task {
    fn awaited(&self) -> bool {
        match self {
            Task::Next { reply, .. } => !reply.is_closed(),
            Task::Generate { reply, .. } => !reply.is_closed(),
        }
    }

    fn fail(self, e: &Error) {
        match self {
            Task::Next { reply, .. } => drop(reply.send(Err(Failed::from(e)))),
            Task::Generate { reply, .. } => drop(reply.send(Err(Failed::from(e)))),
        }
    }
}

impl Row {
    fn new(ids: Vec<u32>, task: Task) -> Self {
        Self {
            prompt: ids.len(),
            ids,
            fed: 0,
            task: Some(task),
        }
    }

    /// The `k` likeliest characters after the prompt `ids` (at least one).
    pub fn next(ids: Vec<u32>, k: usize, reply: NextReply) -> Self {
        Self::new(ids, Task::Next { k, reply })
    }

    /// `length` characters sampled after the prompt `ids` (at least one).
    pub fn generate(
        ids: Vec<u32>,
        length: usize,
        sampling: Sampling,
        seed: u64,
        reply: GenerateReply,
    ) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(seed);
        Self::new(
            ids,
            Task::Generate {
                length,
                sampling,
                rng,
                verse: None,
                reply,
            },
        )
    }

    /// Not yet answered, and still awaited.
    fn active(&self) -> bool {
        self.task.as_ref().is_some_and(Task::awaited)
    }

    /// The id this row feeds now: its prompt, then what it sampled.
    fn input(&self) -> u32 {
        self.ids.get(self.fed).copied().unwrap_or(0)
    }

    /// Whether the probabilities after this step are needed: from the
    /// prompt's last character on.
    fn reads_now(&self) -> bool {
        self.fed + 1 >= self.prompt
    }

    /// Take the probabilities after this row's latest character: answer,
    /// or sample the next character. `batch` is the rows stepping together.
    fn read(&mut self, probs: &[f32], vocab: &Vocab, batch: usize) {
        match self.task.take() {
            Some(Task::Next { k, reply }) => {
                let _ = reply.send(Ok((char_model::top_chars(probs, vocab, k), batch)));
            }
            Some(Task::Generate {
                length,
                sampling,
                mut rng,
                mut verse,
                reply,
            }) => {
                if verse.is_none()
                    && let Some(n) = sampling.line_chars
                {
                    // Checked by the route; the prompt's line counts.
                    verse = Verse::new(n)
                        .ok()
                        .map(|v| v.after(&vocab.decode(&self.ids)));
                }
                // The unknown symbol is never sampled: every id is a character.
                let id = char_model::sample(
                    probs,
                    |id| char_model::may_sample(vocab, verse.as_ref(), id),
                    sampling,
                    &mut rng,
                );
                if let (Some(v), Some(c)) = (&mut verse, vocab.char_of(id)) {
                    v.push(c);
                }
                self.ids.push(id);
                let sampled = &self.ids[self.prompt..];
                if sampled.len() == length {
                    let _ = reply.send(Ok((vocab.decode(sampled), batch)));
                } else {
                    self.task = Some(Task::Generate {
                        length,
                        sampling,
                        rng,
                        verse,
                        reply,
                    });
                }
            }
            None => {}
        }
    }

    fn fail(self, e: &Error) {
        if let Some(task) = self.task {
            task.fail(e);
        }
    }
}

pub struct TextRows<'a> {
    /// The LSTM's rows (a power of two of them, none when idle): the
    /// prompt each reads, or free.
    seats: Vec<Option<Row>>,
    /// Prompts waiting for a row, in order of arrival.
    waiting: VecDeque<Row>,
    /// The server's count of requests waiting: a prompt leaves it when it
    /// gets its row (or is answered without one).
    queued: &'a AtomicUsize,
    widest: usize,
    vocab: Vocab,
}

impl<'a> TextRows<'a> {
    /// At most `max_rows` (rounded up to a power of two) read at once.
    pub fn new(max_rows: usize, vocab: Vocab, queued: &'a AtomicUsize) -> Self {
        Self {
            seats: Vec::new(),
            waiting: VecDeque::new(),
            queued,
            widest: max_rows.max(1).next_power_of_two(),
            vocab,
        }
    }

    /// `n` prompts left the wait.
    fn left(&self, n: usize) {
        self.queued.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn busy(&self) -> bool {
        !self.waiting.is_empty() || self.seats.iter().any(Option::is_some)
    }

    pub fn admit(&mut self, row: Row) {
        self.waiting.push_back(row);
    }

    /// Give up the seated rows (after a panic): their replies are dropped.
    pub fn drop_seated(&mut self) {
        self.seats.clear();
    }

    /// Answer every row, seated or waiting, with `e`.
    pub fn fail_all(&mut self, e: &Error) {
        self.left(self.waiting.len());
        for row in self.seats.drain(..).flatten().chain(self.waiting.drain(..)) {
            row.fail(e);
        }
    }

    /// Up to `steps` steps of every row; answered rows leave, waiting ones
    /// join. A failing step fails the seated rows and is returned.
    pub fn run<B: Backend>(
        &mut self,
        be: &B,
        model: &mut CharModel<B>,
        steps: usize,
    ) -> crate::Result<()> {
        for _ in 0..steps {
            for seat in &mut self.seats {
                if seat.as_ref().is_some_and(|r| !r.active()) {
                    *seat = None;
                }
            }
            if !self.busy() {
                self.seats.clear();
                return Ok(());
            }
            if let Err(e) = self.seat(be, model).and_then(|()| self.step(be, model)) {
                for row in self.seats.drain(..).flatten() {
                    row.fail(&e);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Seat waiting rows in free rows, widening the batch (each seated row
    /// keeping its state) when there are too few.
    fn seat<B: Backend>(&mut self, be: &B, model: &mut CharModel<B>) -> crate::Result<()> {
        // Prompts whose client has gone take no row.
        let before = self.waiting.len();
        self.waiting.retain(Row::active);
        self.left(before - self.waiting.len());
        if self.waiting.is_empty() {
            return Ok(());
        }
        let width = self.seats.len();
        let seated = self.seats.iter().filter(|s| s.is_some()).count();
        if seated == 0 {
            self.seats.clear();
        }
        let wanted = (seated + self.waiting.len())
            .next_power_of_two()
            .min(self.widest);
        if seated == 0 {
            model.reset_rows(wanted);
            self.seats.resize_with(wanted, || None);
        } else if wanted > width {
            model.widen_rows(be, width, wanted)?;
            self.seats.resize_with(wanted, || None);
        }
        let mut fresh = Vec::new();
        for (i, seat) in self.seats.iter_mut().enumerate() {
            if seat.is_none() {
                let Some(row) = self.waiting.pop_front() else {
                    break;
                };
                *seat = Some(row);
                fresh.push(i);
            }
        }
        self.left(fresh.len());
        model.restart_rows(self.seats.len(), &fresh);
        Ok(())
    }

    /// One character for every seated row.
    fn step<B: Backend>(&mut self, be: &B, model: &mut CharModel<B>) -> crate::Result<()> {
        let ids: Vec<u32> = self
            .seats
            .iter()
            .map(|s| s.as_ref().map_or(0, Row::input))
            .collect();
        let reading = self.seats.iter().flatten().any(Row::reads_now);
        let probs = pollster::block_on(model.step_rows(be, &ids, reading))?;
        let batch = self.seats.iter().flatten().count();
        let vocab = self.vocab.len();
        for (i, seat) in self.seats.iter_mut().enumerate() {
            let Some(row) = seat else { continue };
            if row.reads_now()
                && let Some(p) = &probs
            {
                row.read(&p[i * vocab..(i + 1) * vocab], &self.vocab, batch);
            }
            row.fed += 1;
            if !row.active() {
                *seat = None;
            }
        }
        Ok(())
    }
}
