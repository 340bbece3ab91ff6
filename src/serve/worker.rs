//! The model worker: one thread owns the backend and both models, and
//! requests queue for it. Digits that arrive within the batch window run
//! in one forward pass; prompts become rows of their text model (the LSTM
//! or the Transformer) that step together, a new prompt joining at the
//! next step ([`super::text_rows`]).

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::api::ModelInfo;
use crate::data::corpus::Vocab;
use crate::data::mnist::Dataset;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::nn::char_model::{CharModel, Sampling};
use crate::nn::classifier::{CLASSES, Classifier, PIXELS};
use crate::nn::explain::{self, Saliency};
use crate::train::mnist::evaluate;
use crate::{Backend, CpuBackend, FastCpuBackend, GpuBackend, Tensor};

use super::text_rows::{Row, TextRows};

/// Where a job's answer goes. A failure is the model's (the request was
/// checked before it queued).
pub type Reply<T> = oneshot::Sender<std::result::Result<T, Failed>>;

/// Why the model gave no answer.
#[derive(Debug)]
pub struct Failed {
    /// The GPU device was lost: the worker goes on on the CPU kernels, and
    /// the same request asked again will be answered.
    pub lost: bool,
    pub message: String,
}

impl From<&Error> for Failed {
    fn from(e: &Error) -> Self {
        Self {
            lost: matches!(e, Error::DeviceLost(_)),
            message: e.to_string(),
        }
    }
}
/// Each answer carries how many requests shared its batch.
pub type DigitReply = Reply<(Vec<f32>, usize)>;
pub type NextReply = Reply<(Vec<(char, f32)>, usize)>;
pub type GenerateReply = Reply<(String, usize)>;
pub type ExplainReply = Reply<Saliency>;

/// What the worker is asked.
pub enum Job {
    Digit {
        input: Box<[f32; PIXELS]>,
        reply: DigitReply,
    },
    /// The `k` likeliest characters after the prompt (its ids, at least one)
    /// by text model `model` (an index into [`Loaded::text_models`]).
    Next {
        model: usize,
        ids: Vec<u32>,
        k: usize,
        reply: NextReply,
    },
    /// A published model's probabilities for one image. The job carries
    /// the weights file: the worker keeps the latest models it ran loaded
    /// (see [`Load::model_cache`]) and loads one it does not have.
    Published {
        model: Arc<str>,
        weights: Arc<Vec<u8>>,
        input: Box<[f32; PIXELS]>,
        reply: DigitReply,
    },
    /// `length` characters sampled after the prompt.
    Generate {
        model: usize,
        ids: Vec<u32>,
        length: usize,
        sampling: Sampling,
        seed: u64,
        reply: GenerateReply,
    },
    /// The saliency map of `class` (None: the digit the network reads).
    Explain {
        input: Box<[f32; PIXELS]>,
        class: Option<usize>,
        reply: ExplainReply,
    },
}

impl Job {
    /// The one who asked has gone (timed out, disconnected): skip the work.
    fn abandoned(&self) -> bool {
        match self {
            Job::Digit { reply, .. } | Job::Published { reply, .. } => reply.is_closed(),
            Job::Next { reply, .. } => reply.is_closed(),
            Job::Generate { reply, .. } => reply.is_closed(),
            Job::Explain { reply, .. } => reply.is_closed(),
        }
    }
}

/// How the worker gathers batches.
#[derive(Clone, Copy, Debug)]
pub struct Batching {
    /// How long the first request of a batch waits for others.
    pub window: Duration,
    /// Most requests in one batch.
    pub max_batch: usize,
    /// Most requests waiting; beyond it the server answers 503.
    pub queue: usize,
}

/// What the worker loads.
pub struct Load {
    pub device: Device,
    pub digit_weights: (String, Vec<u8>),
    /// Each text model: its id (`api::TEXT_MODELS`), file and bytes.
    pub text_weights: Vec<(String, String, Vec<u8>)>,
    /// Test images to measure the digit model's accuracy on at start.
    pub test: Option<Arc<Dataset>>,
    pub batching: Batching,
    /// The device-loss drill: destroy the GPU device before this batch
    /// (counting from 1), as a driver reset would.
    pub lose_gpu_at_batch: Option<usize>,
    /// Published models kept loaded at once (at least 1); the one used
    /// longest ago makes way for another.
    pub model_cache: usize,
}

/// The models as loaded, for `/v1/models` and for checking prompts.
pub struct Loaded {
    /// What runs the kernels; it changes when a lost GPU hands over to
    /// the CPU.
    pub backend: Arc<Mutex<String>>,
    pub models: Vec<ModelInfo>,
    /// Each text model's id and vocabulary, in `Load::text_weights`'s order.
    pub text_models: Vec<(String, Vocab)>,
}

/// The worker's end of the queue, cloned into every request.
#[derive(Clone)]
pub struct Queue {
    tx: SyncSender<Job>,
    waiting: Arc<AtomicUsize>,
    limit: usize,
}

pub enum Refused {
    /// The queue is full.
    Busy(usize),
    /// The worker has stopped (the server is shutting down).
    Stopped,
}

impl Queue {
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Queue `job` unless `limit` requests already wait (in the channel,
    /// or taken off it but not yet running: prompts waiting for a row);
    /// never waits.
    pub fn push(&self, job: Job) -> std::result::Result<(), Refused> {
        // Counted before it is sent so that the worker's decrement can never
        // come first.
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= self.limit {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(Refused::Busy(self.limit));
        }
        self.tx.try_send(job).map_err(|e| {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => Refused::Busy(self.limit),
                TrySendError::Disconnected(_) => Refused::Stopped,
            }
        })
    }
}

/// Start the worker thread and wait until its models are loaded (and the
/// digit model measured). The thread ends once every [`Queue`] is dropped
/// and the jobs already queued are answered.
pub fn spawn(load: Load) -> Result<(Queue, Loaded, JoinHandle<()>)> {
    let b = load.batching;
    let (tx, rx) = mpsc::sync_channel(b.queue.max(1));
    let waiting = Arc::new(AtomicUsize::new(0));
    let (ready_tx, ready_rx) = mpsc::channel();
    let counter = waiting.clone();
    let name = Arc::new(Mutex::new(String::new()));
    let thread = std::thread::Builder::new()
        .name("model worker".into())
        .spawn(move || {
            // The backend is made on this thread and never leaves it.
            let ready = Some(&ready_tx);
            let out = match load.device {
                Device::Gpu => pollster::block_on(GpuBackend::new()).and_then(|be| {
                    be.warm_up();
                    let drill = |be: &GpuBackend, batch| {
                        if load.lose_gpu_at_batch == Some(batch) {
                            be.destroy_device();
                        }
                    };
                    match serve(&be, &load, &rx, &counter, ready, &name, &drill)? {
                        Some(lost) => cpu_after_loss(&load, &rx, &counter, &name, &lost),
                        None => Ok(()),
                    }
                }),
                Device::Cpu => {
                    let be = FastCpuBackend::default();
                    serve(&be, &load, &rx, &counter, ready, &name, &|_, _| {}).map(drop)
                }
                Device::CpuReference => {
                    serve(&CpuBackend, &load, &rx, &counter, ready, &name, &|_, _| {}).map(drop)
                }
            };
            if let Err(e) = out {
                // Before loading finished, the caller reports it; after, the
                // queue closes and requests get 503.
                if ready_tx.send(Err(e)).is_err() {
                    eprintln!("model worker stopped");
                }
            }
        })
        .map_err(|e| Error::Device(format!("cannot start the model worker: {e}")))?;
    match ready_rx.recv() {
        Ok(Ok(loaded)) => Ok((
            Queue {
                tx,
                waiting,
                limit: b.queue.max(1),
            },
            loaded,
            thread,
        )),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(Error::Device(
            "the model worker stopped while loading".into(),
        )),
    }
}

/// The GPU device was lost: the same models on the fast CPU kernels,
/// from the same weights, answer from now on.
fn cpu_after_loss(
    load: &Load,
    rx: &Receiver<Job>,
    waiting: &AtomicUsize,
    name: &Arc<Mutex<String>>,
    why: &str,
) -> Result<()> {
    let cpu = FastCpuBackend::default();
    eprintln!(
        "the GPU device was lost ({why}): serving on {} from now on",
        cpu.name()
    );
    serve(&cpu, load, rx, waiting, None, name, &|_, _| {}).map(drop)
}

/// Load the models on `be`; when there is someone to tell (`ready`),
/// measure and report them; then answer batches until the queue's senders
/// are gone (`None`) or the GPU device is lost (`Some(why)`). `before_batch`
/// sees each batch's number first.
fn serve<B: Backend>(
    be: &B,
    load: &Load,
    rx: &Receiver<Job>,
    waiting: &AtomicUsize,
    ready: Option<&mpsc::Sender<Result<Loaded>>>,
    backend: &Arc<Mutex<String>>,
    before_batch: &dyn Fn(&B, usize),
) -> Result<Option<String>> {
    let (digit_file, digit_bytes) = &load.digit_weights;
    let mut cnn =
        Classifier::from_safetensors(be, digit_bytes).map_err(|e| in_file(digit_file, e))?;
    if !cnn.is_digits() {
        return Err(in_file(
            digit_file,
            Error::WeightsFile(format!(
                "its network reads {} values into the classes {:?}: the digit model reads                  28x28 images into the digits 0 to 9",
                cnn.input_len(),
                cnn.classes()
            )),
        ));
    }
    let mut texts: Vec<CharModel<B>> = load
        .text_weights
        .iter()
        .map(|(_, file, bytes)| {
            CharModel::from_safetensors(be, bytes).map_err(|e| in_file(file, e))
        })
        .collect::<Result<_>>()?;
    // Batches are padded to powers of two up to max_batch: keep every
    // size, and an explanation's batch of one image per class.
    let widest = load.batching.max_batch.next_power_of_two();
    cnn.keep_batch_sizes(widest.trailing_zeros() as usize + 2);
    let accuracy = match &load.test {
        Some(test) if ready.is_some() => {
            // In chunks of the widest batch, whose buffers serving reuses.
            let c = pollster::block_on(evaluate(be, &mut cnn, test, widest))?;
            Some((c.accuracy() as f32, c.total() as usize))
        }
        _ => None,
    };
    *backend.lock().unwrap_or_else(PoisonError::into_inner) = be.name();
    let mut models = vec![ModelInfo {
        name: "digits".into(),
        id: "digits".into(),
        architecture: cnn.spec().describe(),
        input: "a 28x28 grey image, ink 1 on 0 (a PNG or JPEG is preprocessed into one)".into(),
        input_shape: vec![28, 28],
        outputs: CLASSES,
        parameters: cnn.params_mut().iter().map(|p| p.value.len()).sum(),
        test_accuracy: accuracy.map(|a| a.0),
        test_images: accuracy.map(|a| a.1),
        weights: digit_file.clone(),
        classes: Some(cnn.classes().to_vec()),
        created: None,
        size_bytes: None,
        sha256: None,
    }];
    for ((id, file, _), m) in load.text_weights.iter().zip(&mut texts) {
        models.push(ModelInfo {
            name: "text".into(),
            id: id.clone(),
            architecture: m.spec().describe(),
            input: match m.context() {
                Some(c) => format!(
                    "UTF-8 text, one character per step (keys and values cached; the last {c} at most)"
                ),
                None => "UTF-8 text, one character per step (the state carried)".into(),
            },
            input_shape: vec![crate::api::MAX_PROMPT_CHARS],
            outputs: m.vocab().len(),
            parameters: m.params_mut().iter().map(|p| p.value.len()).sum(),
            test_accuracy: None,
            test_images: None,
            weights: file.clone(),
            classes: None,
            created: None,
            size_bytes: None,
            sha256: None,
        });
    }
    let loaded = Loaded {
        backend: backend.clone(),
        models,
        text_models: load
            .text_weights
            .iter()
            .zip(&texts)
            .map(|((id, ..), m)| (id.clone(), m.vocab().clone()))
            .collect(),
    };
    if let Some(ready) = ready
        && ready.send(Ok(loaded)).is_err()
    {
        return Ok(None);
    }
    let b = load.batching;
    // A job stays in the `waiting` count until it runs: a digit when taken
    // off the queue, a prompt when it gets its row.
    let mut rows: Vec<TextRows> = texts
        .iter()
        .map(|m| TextRows::new(b.max_batch, m.vocab().clone(), waiting))
        .collect();
    // Published models loaded on this backend, the latest used last.
    let mut cache: Vec<(Arc<str>, Classifier<B>)> = Vec::new();
    for batch in 1.. {
        let jobs = if rows.iter().any(TextRows::busy) {
            // Rows are being read: whatever waits joins them at once.
            drain(rx, b.max_batch)
        } else {
            match next_batch(rx, b) {
                Some(jobs) => jobs,
                None => break,
            }
        };
        let mut explains = Vec::new();
        let mut digits = Vec::new();
        let mut published: Vec<PublishedBatch> = Vec::new();
        for job in jobs {
            if job.abandoned() {
                waiting.fetch_sub(1, Ordering::Relaxed);
                continue;
            }
            match job {
                Job::Digit { input, reply } => {
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    digits.push((input, reply));
                }
                Job::Published {
                    model,
                    weights,
                    input,
                    reply,
                } => {
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    match published.iter_mut().find(|b| b.model == model) {
                        Some(b) => b.jobs.push((input, reply)),
                        None => published.push(PublishedBatch {
                            model,
                            weights,
                            jobs: vec![(input, reply)],
                        }),
                    }
                }
                Job::Next {
                    model,
                    ids,
                    k,
                    reply,
                } => rows[model].admit(Row::next(ids, k, reply)),
                Job::Generate {
                    model,
                    ids,
                    length,
                    sampling,
                    seed,
                    reply,
                } => rows[model].admit(Row::generate(ids, length, sampling, seed, reply)),
                Job::Explain {
                    input,
                    class,
                    reply,
                } => {
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    explains.push((input, class, reply));
                }
            }
        }
        before_batch(be, batch);
        // Explanations one by one (each its own forward and backward pass);
        // a panic fails only its own request.
        for (input, class, reply) in explains {
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                pollster::block_on(explain::saliency_of(be, &mut cnn, &input[..], class))
            }));
            match ran {
                Ok(out) => {
                    let _ = reply.send(out.map_err(|e| Failed::from(&e)));
                }
                Err(_) => eprintln!("model worker: an explanation panicked; its request got 500"),
            }
        }
        // Each model's turn on its own: a bug (a panic) fails that turn's
        // requests (their replies are dropped: 500), not the other model's
        // and not the server.
        let digits_ran = (!digits.is_empty()).then(|| {
            std::panic::catch_unwind(AssertUnwindSafe(|| run_digits(be, &mut cnn, digits)))
        });
        let mut published_panicked = false;
        for b in published {
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
                run_published(be, &mut cache, load.model_cache, b)
            }));
            published_panicked |= ran.is_err();
        }
        // A turn of each text model's rows, then digits and new prompts
        // again: a long continuation never holds a drawing for more than a
        // turn.
        let mut texts_panicked = false;
        for (r, m) in rows.iter_mut().zip(&mut texts) {
            if !r.busy() {
                continue;
            }
            let ran = std::panic::catch_unwind(AssertUnwindSafe(|| r.run(be, m, STEPS_PER_TURN)));
            if ran.is_err() {
                r.drop_seated();
                texts_panicked = true;
            }
        }
        if digits_ran.as_ref().is_some_and(|r| r.is_err()) || texts_panicked || published_panicked {
            eprintln!("model worker: a batch panicked; its requests got 500");
        }
        // A lost device, however it showed (an error, or a panic inside
        // wgpu): every request in hand gets 503 saying to ask again, and
        // the caller goes on elsewhere.
        if let Some(why) = be.lost() {
            for r in &mut rows {
                r.fail_all(&Error::DeviceLost(why.clone()));
            }
            return Ok(Some(why));
        }
    }
    Ok(None)
}

/// Steps of each text model's rows between two looks at the queue.
const STEPS_PER_TURN: usize = 16;

fn in_file(file: &str, e: Error) -> Error {
    Error::Io {
        path: file.into(),
        problem: e.to_string(),
    }
}

/// Wait for one job, then gather those arriving within the window, up to
/// `max_batch`. `None` once the queue is closed and empty.
fn next_batch(rx: &Receiver<Job>, b: Batching) -> Option<Vec<Job>> {
    let mut jobs = vec![rx.recv().ok()?];
    let until = Instant::now() + b.window;
    while jobs.len() < b.max_batch {
        // Whatever is already queued joins even when the window is over.
        match rx.recv_timeout(until.saturating_duration_since(Instant::now())) {
            Ok(job) => jobs.push(job),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
        }
    }
    Some(jobs)
}

/// Whatever is queued now, up to `max`, without waiting.
fn drain(rx: &Receiver<Job>, max: usize) -> Vec<Job> {
    rx.try_iter().take(max).collect()
}

/// The requests for one published model in a batch.
struct PublishedBatch {
    model: Arc<str>,
    weights: Arc<Vec<u8>>,
    jobs: Vec<(Box<[f32; PIXELS]>, DigitReply)>,
}

/// Batch sizes whose buffers a published model keeps: it is padded to
/// powers of two like the digits, but most see only a few sizes.
const PUBLISHED_BATCH_SIZES: usize = 3;

/// One forward pass for a published model's requests (loading it first
/// when it is not among the `cache` loaded, the one used longest ago
/// making way), padded to a power of two.
fn run_published<B: Backend>(
    be: &B,
    loaded: &mut Vec<(Arc<str>, Classifier<B>)>,
    cache: usize,
    b: PublishedBatch,
) -> Result<()> {
    let model = match loaded.iter().position(|(id, _)| *id == b.model) {
        Some(i) => loaded.remove(i).1,
        None => match Classifier::from_drawable_file(be, &b.weights) {
            Ok(mut c) => {
                c.keep_batch_sizes(PUBLISHED_BATCH_SIZES);
                c
            }
            Err(e) => {
                for (_, reply) in b.jobs {
                    let _ = reply.send(Err(Failed::from(&e)));
                }
                return Err(e);
            }
        },
    };
    while loaded.len() >= cache.max(1) {
        loaded.remove(0);
    }
    loaded.push((b.model, model));
    let model = &mut loaded.last_mut().expect("just pushed").1;
    let classes = model.classes().len();
    let n = b.jobs.len();
    let mut images = vec![0.0; n.next_power_of_two() * PIXELS];
    for (chunk, (input, _)) in images.chunks_exact_mut(PIXELS).zip(&b.jobs) {
        chunk.copy_from_slice(&input[..]);
    }
    match pollster::block_on(model.predict(be, &images)) {
        Ok(probs) => {
            for ((_, reply), p) in b.jobs.into_iter().zip(probs.chunks_exact(classes)) {
                let _ = reply.send(Ok((p.to_vec(), n)));
            }
            Ok(())
        }
        Err(e) => {
            for (_, reply) in b.jobs {
                let _ = reply.send(Err(Failed::from(&e)));
            }
            Err(e)
        }
    }
}

/// One forward pass for every digit, padded with blank images to a power
/// of two so that only a few batch sizes ever get buffers.
fn run_digits<B: Backend>(
    be: &B,
    model: &mut Classifier<B>,
    jobs: Vec<(Box<[f32; PIXELS]>, DigitReply)>,
) -> Result<()> {
    let n = jobs.len();
    let mut images = vec![0.0; n.next_power_of_two() * PIXELS];
    for (chunk, (input, _)) in images.chunks_exact_mut(PIXELS).zip(&jobs) {
        chunk.copy_from_slice(&input[..]);
    }
    match pollster::block_on(model.predict(be, &images)) {
        Ok(probs) => {
            for ((_, reply), p) in jobs.into_iter().zip(probs.chunks_exact(CLASSES)) {
                let _ = reply.send(Ok((p.to_vec(), n)));
            }
            Ok(())
        }
        Err(e) => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(Failed::from(&e)));
            }
            Err(e)
        }
    }
}
