//! The fast CPU path's threads: a job over blocks of a range (rows or
//! columns of a product, rows of a batch), one block on the caller and one
//! on each helper thread that is free. Helpers spin for a while after
//! their last block, so the next job (an LSTM step's comes some tens of
//! microseconds later) starts at once, then sleep. A pool that puts the
//! caller to sleep until the blocks are done (rayon's, tried first) loses
//! more to the wake-up than the second core gains on such jobs. In wasm32
//! the page has one thread and every job runs whole on it.

use std::ops::Range;

/// A job the blocks of `for_blocks` run: each call writes only what its
/// block of the range owns.
pub type Job<'a> = dyn Fn(Range<usize>) + Sync + 'a;

/// Fewer multiply-adds than this run on one thread: handing half of a job
/// to the other core costs a few microseconds, which only a job of some
/// tens of microseconds repays (an LSTM step's recurrent product,
/// 32 x 128 x 512, is 2.1 million).
#[cfg_attr(target_arch = "wasm32", allow(dead_code))]
pub const SHARE_MACS: usize = 1 << 19;

/// Runs `job` over blocks that cover `0..len`, each a multiple of `align`
/// long but the last, one per thread, when `macs` repays sharing: the
/// multiply-adds of the product the job is or goes with (the copies and
/// cell arithmetic around a product are shared exactly when it is, and
/// take tens of microseconds then). Otherwise `job(0..len)` here. Returns
/// when every block is done; a block that panics on a helper panics here.
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
pub fn for_blocks(len: usize, align: usize, macs: usize, job: &Job<'_>) {
    #[cfg(not(target_arch = "wasm32"))]
    {
        let parts = helpers::count();
        if parts >= 2 && macs >= SHARE_MACS && len >= 2 * align {
            let step = len.div_ceil(parts).next_multiple_of(align);
            let blocks = (0..len).step_by(step).map(|s| s..(s + step).min(len));
            helpers::share(job, blocks);
            return;
        }
    }
    job(0..len);
}

/// `for_blocks` over the first `rows` rows of `row` values of `data`, each
/// block handed its own rows: `job(rows, block)`.
pub fn for_row_blocks(
    data: &mut [f32],
    rows: usize,
    row: usize,
    align: usize,
    macs: usize,
    job: &(dyn Fn(Range<usize>, &mut [f32]) + Sync),
) {
    let data = RowsMut::new(&mut data[..rows * row]);
    for_blocks(rows, align, macs, &|r| {
        // SAFETY: the blocks of one job are disjoint ranges of rows.
        job(r.clone(), unsafe { data.get(r.start * row..r.end * row) });
    });
}

/// Threads a job may be cut for, the caller's included (1 in wasm32).
#[cfg(test)]
pub fn count() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return helpers::count();
    #[cfg(target_arch = "wasm32")]
    1
}

/// A slice that the blocks of one `for_blocks` job write, each block only
/// rows of its own: shared between the threads as a pointer.
pub struct RowsMut<'a> {
    ptr: *mut f32,
    len: usize,
    _borrow: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: `rows` hands out only what its caller promises no other thread
// touches meanwhile.
unsafe impl Send for RowsMut<'_> {}
unsafe impl Sync for RowsMut<'_> {}

impl<'a> RowsMut<'a> {
    pub fn new(data: &'a mut [f32]) -> Self {
        Self {
            ptr: data.as_mut_ptr(),
            len: data.len(),
            _borrow: std::marker::PhantomData,
        }
    }

    /// Elements `range` (bounds-checked).
    ///
    /// # Safety
    /// No other live slice from this `RowsMut`, on any thread, may overlap
    /// `range`.
    #[allow(clippy::mut_from_ref)]
    pub unsafe fn get(&self, range: Range<usize>) -> &mut [f32] {
        assert!(
            range.start <= range.end && range.end <= self.len,
            "rows {range:?} of {}",
            self.len
        );
        // SAFETY: inside the borrowed slice; exclusive by the contract.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(range.start), range.len()) }
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod helpers {
    use std::cell::UnsafeCell;
    use std::ops::Range;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::thread::Thread;
    use std::time::{Duration, Instant};

    use super::Job;

    /// How long a helper keeps looking for work before it sleeps.
    pub(super) const SPIN: Duration = Duration::from_micros(500);

    const IDLE: u8 = 0;
    const POSTED: u8 = 1;
    const DONE: u8 = 2;
    const PANICKED: u8 = 3;

    /// A block of a job, its lifetime erased: `Running` waits for it
    /// before `for_blocks`, which borrows the job, returns.
    struct Task {
        job: &'static Job<'static>,
        range: Range<usize>,
    }

    struct Slot {
        state: AtomicU8,
        sleeping: AtomicBool,
        /// Written by the owner while IDLE, read by the helper once POSTED.
        task: UnsafeCell<Option<Task>>,
    }

    // SAFETY: `task` is handed over by `state` (release on post, acquire
    // on take), so the owner and the helper never touch it at once; the
    // job is Sync.
    unsafe impl Sync for Slot {}

    struct Helper {
        /// Held by the one job that uses this helper.
        owner: Mutex<()>,
        slot: Arc<Slot>,
        thread: Thread,
    }

    /// A block a helper is running; dropping it waits until the block is
    /// done, so no block outlives the borrows of `for_blocks`.
    struct Running {
        _owner: MutexGuard<'static, ()>,
        helper: &'static Helper,
    }

    impl Running {
        /// Hands `task` to the helper `owner` holds.
        fn post(owner: MutexGuard<'static, ()>, helper: &'static Helper, task: Task) -> Self {
            let slot = &helper.slot;
            // SAFETY: the state is IDLE (the last owner waited for DONE and
            // reset it), so the helper does not read `task` now.
            unsafe { *slot.task.get() = Some(task) };
            // SeqCst on both sides of the handshake with `sleeping`: with a
            // release store here the load below may pass it (x86's store
            // buffer), the helper then parks unseen and this waits forever.
            slot.state.store(POSTED, Ordering::SeqCst);
            if slot.sleeping.load(Ordering::SeqCst) {
                helper.thread.unpark();
            }
            Self {
                _owner: owner,
                helper,
            }
        }
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let state = &self.helper.slot.state;
            let mut spins = 0u32;
            let end = loop {
                match state.load(Ordering::Acquire) {
                    s @ (DONE | PANICKED) => break s,
                    _ if spins < 1 << 16 => std::hint::spin_loop(),
                    _ => std::thread::yield_now(),
                }
                spins += 1;
            };
            state.store(IDLE, Ordering::Relaxed);
            if end == PANICKED && !std::thread::panicking() {
                panic!("a block of a CPU job panicked on a helper thread");
            }
        }
    }

    fn work(slot: &Slot) {
        loop {
            let mut since = Instant::now();
            let mut n = 0u32;
            while slot.state.load(Ordering::Acquire) != POSTED {
                n += 1;
                if n % 64 == 0 && since.elapsed() > SPIN {
                    slot.sleeping.store(true, Ordering::SeqCst);
                    // A post before the store above is seen by this check;
                    // one after it sees `sleeping` and unparks (an unpark
                    // before `park` makes it return at once).
                    if slot.state.load(Ordering::SeqCst) != POSTED {
                        std::thread::park();
                    }
                    slot.sleeping.store(false, Ordering::SeqCst);
                    since = Instant::now();
                }
                std::hint::spin_loop();
            }
            // SAFETY: POSTED: the owner wrote `task` and waits for DONE.
            let task = unsafe { (*slot.task.get()).take() };
            // A panic is reported to the owner, which panics in its turn;
            // the helper lives on for the next job.
            let ran = catch_unwind(AssertUnwindSafe(|| {
                if let Some(Task { job, range }) = task {
                    job(range);
                }
            }));
            let end = if ran.is_ok() { DONE } else { PANICKED };
            slot.state.store(end, Ordering::Release);
        }
    }

    /// Threads in all, the caller's included: MATMUL_NUM_THREADS (the
    /// variable matrixmultiply's threading read, kept so that a training
    /// run can still be held to one core), else every core.
    fn wanted() -> usize {
        std::env::var("MATMUL_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .clamp(1, 64)
    }

    fn helpers() -> &'static [Helper] {
        static HELPERS: OnceLock<Vec<Helper>> = OnceLock::new();
        HELPERS.get_or_init(|| {
            (1..wanted())
                .filter_map(|i| {
                    let slot = Arc::new(Slot {
                        state: AtomicU8::new(IDLE),
                        sleeping: AtomicBool::new(false),
                        task: UnsafeCell::new(None),
                    });
                    let for_thread = Arc::clone(&slot);
                    let handle = std::thread::Builder::new()
                        .name(format!("cpu-{i}"))
                        .spawn(move || work(&for_thread))
                        .ok()?;
                    Some(Helper {
                        owner: Mutex::new(()),
                        slot,
                        thread: handle.thread().clone(),
                    })
                })
                .collect()
        })
    }

    pub fn count() -> usize {
        helpers().len() + 1
    }

    /// Posts the blocks after the first to the helpers no other job is
    /// using now (jobs on several threads at once, as in the service, share
    /// them), runs the first and those no helper was free for here, then
    /// waits for the helpers' blocks.
    pub fn share(job: &Job<'_>, mut blocks: impl Iterator<Item = Range<usize>>) {
        let Some(first) = blocks.next() else {
            return;
        };
        // SAFETY: every `Running` below is dropped (waiting for its block)
        // before this returns or unwinds, while `job` is still borrowed.
        let job_static: &'static Job<'static> = unsafe { std::mem::transmute(job) };
        let mut running = Vec::new();
        let mut free = helpers().iter();
        // Once no helper is free none is left: that block and the rest run
        // here, after the first.
        let mut unposted = None;
        for range in blocks.by_ref() {
            let helper = free
                .by_ref()
                .find_map(|h| h.owner.try_lock().ok().map(|g| (g, h)));
            let Some((owner, helper)) = helper else {
                unposted = Some(range);
                break;
            };
            let task = Task {
                job: job_static,
                range,
            };
            running.push(Running::post(owner, helper, task));
        }
        job(first);
        for range in unposted.into_iter().chain(blocks) {
            job(range);
        }
        // Dropping a running block waits for it (also when unwinding).
        drop(running);
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Jobs back to back and after pauses longer than the helper's spin
    /// (so it has gone to sleep and must be woken) all finish, every
    /// element written once: a lost wake-up would hang here, so the jobs
    /// run on a thread watched with a deadline.
    #[test]
    fn helpers_wake_for_every_job() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut data = vec![0.0f32; 512];
            for i in 0..400u64 {
                if i % 2 == 1 {
                    std::thread::sleep(
                        helpers::SPIN + std::time::Duration::from_micros(i % 7 * 50),
                    );
                }
                for_row_blocks(&mut data, 512, 1, 8, SHARE_MACS, &|_, block| {
                    for v in block {
                        *v += 1.0;
                    }
                });
            }
            done.send(data).unwrap();
        });
        let data = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("400 jobs within a minute: a helper was never woken");
        assert!(data.iter().all(|&v| v == 400.0));
    }

    /// The blocks cover the range once, in multiples of the alignment, on
    /// more than one block when there are helpers; a small job runs whole.
    #[test]
    fn blocks_cover_the_range() {
        let seen = AtomicUsize::new(0);
        let calls = AtomicUsize::new(0);
        for_blocks(37, 8, SHARE_MACS, &|r| {
            assert!(r.start % 8 == 0);
            seen.fetch_add(r.len(), Ordering::Relaxed);
            calls.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(seen.load(Ordering::Relaxed), 37);
        assert_eq!(
            calls.load(Ordering::Relaxed),
            count().min(37usize.div_ceil(8)).max(1)
        );
        let calls = AtomicUsize::new(0);
        for_blocks(37, 8, SHARE_MACS - 1, &|r| {
            assert_eq!(r, 0..37);
            calls.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(calls.load(Ordering::Relaxed), 1);
    }

    /// A block that panics, on a helper (the last block goes to one when
    /// there are helpers) or here, makes `for_blocks` panic, and the next
    /// job still runs whole.
    #[test]
    fn a_panicking_block_panics_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            for_blocks(64, 8, SHARE_MACS, &|r| {
                assert!(r.end < 64, "the last block")
            });
        });
        assert!(caught.is_err());
        let seen = AtomicUsize::new(0);
        for_blocks(64, 8, SHARE_MACS, &|r| {
            seen.fetch_add(r.len(), Ordering::Relaxed);
        });
        assert_eq!(seen.load(Ordering::Relaxed), 64);
    }
}
