//! A safe face on `matrixmultiply::sgemm`: matrices are slices with explicit
//! strides, checked to lie inside their slice before the unsafe call.
//! Natively a large product is cut into blocks of rows or columns, one per
//! thread, the caller's and those of the spinning helpers below:
//! matrixmultiply's own threading shares only its inner loops, packs the
//! whole right-hand matrix on one thread first and allocates per call,
//! which gave a second core only 1.28x on the LSTM.

/// A read-only view: element (i, j) of a `rows` x `cols` matrix is
/// `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> MatRef<'a> {
    /// The first `rows * cols` values of `data`, row by row.
    pub fn rows(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// A `rows` x `cols` view starting at `data[0]` with element (i, j) at
    /// `data[i * rs + j * cs]`: a head's slice of a wider tensor.
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }

    /// The same values read as the transposed matrix (no copy).
    pub fn t(self) -> Self {
        Self {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }
}

/// A writable view, row by row: element (i, j) is `data[i * cols + j]`.
pub struct MatMut<'a> {
    data: &'a mut [f32],
    rows: usize,
    cols: usize,
}

impl<'a> MatMut<'a> {
    /// The first `rows * cols` values of `data`.
    pub fn rows(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols }
    }
}

/// Whether every element of a `rows` x `cols` view with strides (rs, cs)
/// lies inside a slice of `len` values.
fn fits(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// c = a . b + beta * c. With beta = 0, c's old values are never read (they
/// may be uninitialised scratch or NaN); with beta = 1 the product
/// accumulates, which is what the `*_backward_*` ops need.
pub fn gemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    let whole = Product::checked(a, b, beta, c);
    // SAFETY: the asserts of `Product::checked` keep every element the
    // product touches inside its slice; `c` is a unique borrow, so it
    // aliases neither `a` nor `b`, and row-major strides (n, 1) never map
    // two elements to one address. The parts of a split write disjoint
    // blocks of `c`, and all of them finish before this returns (the
    // borrows outlive them).
    unsafe {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(parts) = whole.split(threads::count()) {
            let (running, left) = threads::share(&parts[1..]);
            for part in std::iter::once(&parts[0]).chain(left) {
                part.run();
            }
            // Dropping a running part waits for it (also when unwinding).
            drop(running);
            return;
        }
        whole.run();
    }
}

/// A pointer into a slice that `gemm` has bounds-checked, handed to the
/// helper thread that computes part of the product.
#[derive(Clone, Copy)]
struct Shared(*const f32);

// SAFETY: only `Product::run` dereferences it, on the disjoint part of `c`
// that one thread owns while `gemm` waits, and `a` and `b` are only read.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// c [m, n] (row stride `c_row`) = a [m, k] . b [k, n] + beta * c, in raw
/// parts: the whole product or a block of its rows or columns.
#[derive(Clone, Copy)]
struct Product {
    m: usize,
    k: usize,
    n: usize,
    a: Shared,
    a_strides: (usize, usize),
    b: Shared,
    b_strides: (usize, usize),
    beta: f32,
    c: Shared,
    c_row: usize,
}

/// Fewer multiply-adds than this run on one thread: handing half of a
/// product to the other core costs a few microseconds, which only a product
/// of some tens of microseconds repays (an LSTM step's recurrent product,
/// 32 x 128 x 512, is 2.1 million).
#[cfg(not(target_arch = "wasm32"))]
const SPLIT_MACS: usize = 1 << 19;

impl Product {
    /// The product of views whose every element lies inside its slice
    /// (asserted), as raw parts.
    fn checked(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) -> Self {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        assert!(
            b.rows == k && c.rows == m && c.cols == n,
            "gemm: [{m}, {k}] . [{}, {n}] into [{}, {}]",
            b.rows,
            c.rows,
            c.cols
        );
        assert!(
            fits(a.data.len(), m, k, a.rs, a.cs),
            "gemm: a out of bounds"
        );
        assert!(
            fits(b.data.len(), k, n, b.rs, b.cs),
            "gemm: b out of bounds"
        );
        assert!(fits(c.data.len(), m, n, n, 1), "gemm: c out of bounds");
        Product {
            m,
            k,
            n,
            a: Shared(a.data.as_ptr()),
            a_strides: (a.rs, a.cs),
            b: Shared(b.data.as_ptr()),
            b_strides: (b.rs, b.cs),
            beta,
            c: Shared(c.data.as_mut_ptr().cast_const()),
            c_row: n,
        }
    }

    /// `parts` blocks of about equal size along the longer of m and n, in
    /// multiples of 8 (the micro-kernel's tile), or None when the product
    /// is too small to share.
    #[cfg(not(target_arch = "wasm32"))]
    fn split(&self, parts: usize) -> Option<Vec<Product>> {
        const TILE: usize = 8;
        let long = self.m.max(self.n);
        if parts < 2 || self.m * self.k * self.n < SPLIT_MACS || long < 2 * TILE {
            return None;
        }
        let step = long.div_ceil(parts).next_multiple_of(TILE);
        let along_n = self.n >= self.m;
        let (ars, _) = self.a_strides;
        let (_, bcs) = self.b_strides;
        let blocks = (0..long).step_by(step).map(|start| {
            let len = step.min(long - start);
            // SAFETY: start < m (or n), so every offset stays inside the
            // slices `gemm` checked; `add` only computes the address.
            unsafe {
                if along_n {
                    Product {
                        n: len,
                        b: Shared(self.b.0.add(start * bcs)),
                        c: Shared(self.c.0.add(start)),
                        ..*self
                    }
                } else {
                    Product {
                        m: len,
                        a: Shared(self.a.0.add(start * ars)),
                        c: Shared(self.c.0.add(start * self.c_row)),
                        ..*self
                    }
                }
            }
        });
        Some(blocks.collect())
    }

    /// # Safety
    /// The pointers and strides must describe matrices inside live slices,
    /// and no other thread may touch this product's block of `c` meanwhile.
    unsafe fn run(&self) {
        let (ars, acs) = self.a_strides;
        let (brs, bcs) = self.b_strides;
        unsafe {
            matrixmultiply::sgemm(
                self.m,
                self.k,
                self.n,
                1.0,
                self.a.0,
                ars as isize,
                acs as isize,
                self.b.0,
                brs as isize,
                bcs as isize,
                self.beta,
                self.c.0.cast_mut(),
                self.c_row as isize,
                1,
            );
        }
    }
}

/// The helper threads of the native products: each spins for a while
/// after its last part, so the next product (an LSTM step's comes some tens
/// of microseconds later) starts at once, then sleeps. A pool that puts the
/// caller to sleep until the parts are done (rayon's, tried first) loses
/// more to the wake-up than the second core gains on such products.
#[cfg(not(target_arch = "wasm32"))]
mod threads {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
    use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
    use std::thread::Thread;
    use std::time::{Duration, Instant};

    use super::Product;

    /// How long a helper keeps looking for work before it sleeps.
    pub(super) const SPIN: Duration = Duration::from_micros(500);

    const IDLE: u8 = 0;
    const POSTED: u8 = 1;
    const DONE: u8 = 2;

    struct Slot {
        state: AtomicU8,
        sleeping: AtomicBool,
        /// Written by the owner while IDLE, read by the helper once POSTED.
        part: UnsafeCell<Option<Product>>,
    }

    // SAFETY: `part` is handed over by `state` (release on post, acquire
    // on take), so the owner and the helper never touch it at once.
    unsafe impl Sync for Slot {}

    struct Helper {
        /// Held by the one `gemm` that uses this helper.
        owner: Mutex<()>,
        slot: Arc<Slot>,
        thread: Thread,
    }

    /// A part a helper is computing; dropping it waits until the part is
    /// done, so no part outlives the borrows of `gemm`.
    pub struct Running {
        _owner: MutexGuard<'static, ()>,
        helper: &'static Helper,
    }

    impl Running {
        /// Hands `part` to the helper `owner` holds.
        fn post(owner: MutexGuard<'static, ()>, helper: &'static Helper, part: Product) -> Self {
            let slot = &helper.slot;
            // SAFETY: the state is IDLE (the last owner waited for DONE and
            // reset it), so the helper does not read `part` now.
            unsafe { *slot.part.get() = Some(part) };
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
            while state.load(Ordering::Acquire) != DONE {
                spins += 1;
                if spins < 1 << 16 {
                    std::hint::spin_loop();
                } else {
                    std::thread::yield_now();
                }
            }
            state.store(IDLE, Ordering::Relaxed);
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
            // SAFETY: POSTED: the owner wrote `part` and waits for DONE.
            if let Some(part) = unsafe { (*slot.part.get()).take() } {
                // SAFETY: `gemm` checked the part's matrices and gives no
                // other thread its block of c until DONE.
                unsafe { part.run() };
            }
            slot.state.store(DONE, Ordering::Release);
        }
    }

    /// Threads in all, the caller's included: MATMUL_NUM_THREADS (the
    /// variable matrixmultiply's own threading read, kept so that a
    /// training run can still be held to one core), else every core.
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
                        part: UnsafeCell::new(None),
                    });
                    let for_thread = Arc::clone(&slot);
                    let handle = std::thread::Builder::new()
                        .name(format!("gemm-{i}"))
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

    /// Threads a product may be cut for, the caller's included.
    pub fn count() -> usize {
        helpers().len() + 1
    }

    /// Posts the first parts to the helpers no other product is using now
    /// (products on several threads at once, as in the service, share
    /// them); returns those running and the parts left to the caller.
    pub fn share(parts: &[Product]) -> (Vec<Running>, &[Product]) {
        let mut running = Vec::with_capacity(parts.len());
        for helper in helpers() {
            let Some(&part) = parts.get(running.len()) else {
                break;
            };
            if let Ok(owner) = helper.owner.try_lock() {
                running.push(Running::post(owner, helper, part));
            }
        }
        let posted = running.len();
        (running, &parts[posted..])
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// c = a . b + beta * c by the definition, in f64.
    fn reference(a: &MatRef<'_>, b: &MatRef<'_>, beta: f32, c: &[f32]) -> Vec<f32> {
        let (m, k, n) = (a.rows, a.cols, b.cols);
        let at = |mat: &MatRef<'_>, i: usize, j: usize| mat.data[i * mat.rs + j * mat.cs] as f64;
        (0..m * n)
            .map(|ij| {
                let (i, j) = (ij / n, ij % n);
                let dot: f64 = (0..k).map(|p| at(a, i, p) * at(b, p, j)).sum();
                (dot + beta as f64 * c[ij] as f64) as f32
            })
            .collect()
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0) - 1.0)
            .collect()
    }

    /// Products large enough to be split, along m and along n, of sizes no
    /// multiple of the tile, with a transposed operand and beta 0 and 1:
    /// each block computed alone, and the whole through `gemm` (on the
    /// helper threads when one is free), equal the definition, and the
    /// blocks equal the unsplit product exactly.
    #[test]
    fn split_products_equal_the_whole() {
        for (m, k, n, beta) in [(37, 130, 517, 0.0), (515, 64, 21, 1.0), (32, 128, 512, 1.0)] {
            let a = values(m * k, 1);
            let b = values(n * k, 2);
            let c0 = values(m * n, 3);
            let (a, b) = (MatRef::rows(&a, m, k), MatRef::rows(&b, n, k).t());
            let want = reference(&a, &b, beta, &c0);

            let mut c = c0.clone();
            gemm(a, b, beta, MatMut::rows(&mut c, m, n));
            let close = |got: &[f32]| {
                got.iter()
                    .zip(&want)
                    .all(|(g, w)| (g - w).abs() <= 1e-4 * (1.0 + w.abs()))
            };
            assert!(close(&c), "gemm {m}x{k}x{n}");

            let mut c = c0.clone();
            let whole = Product::checked(a, b, beta, MatMut::rows(&mut c, m, n));
            let parts = whole.split(3).expect("large enough to split");
            assert_eq!(parts.len(), 3);
            assert_eq!(parts.iter().map(|p| p.m * p.n).sum::<usize>(), m * n);
            for part in &parts {
                // SAFETY: the blocks lie inside a, b and c, one at a time.
                unsafe { part.run() };
            }
            assert!(close(&c), "blocks of {m}x{k}x{n}");
            // Bit for bit the product on one thread: each element sums the
            // same terms in the same order, so training stays
            // deterministic for a seed whatever the threads.
            let mut one = c0.clone();
            let alone = Product {
                c: Shared(one.as_mut_ptr().cast_const()),
                ..whole
            };
            // SAFETY: as above, on a buffer of its own.
            unsafe { alone.run() };
            assert_eq!(one, c, "{m}x{k}x{n} split and whole");
        }
    }

    /// Products back to back and after pauses longer than the helper's spin
    /// (so it has gone to sleep and must be woken) all finish: a lost
    /// wake-up would hang here, so the products run on a thread watched
    /// with a deadline.
    #[test]
    fn helpers_wake_for_every_product() {
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (m, k, n) = (32, 128, 512);
            let (a, b) = (values(m * k, 4), values(n * k, 5));
            let mut c = vec![0.0; m * n];
            for i in 0..400 {
                if i % 2 == 1 {
                    std::thread::sleep(
                        threads::SPIN + std::time::Duration::from_micros(i % 7 * 50),
                    );
                }
                gemm(
                    MatRef::rows(&a, m, k),
                    MatRef::rows(&b, n, k).t(),
                    0.0,
                    MatMut::rows(&mut c, m, n),
                );
            }
            done.send(c[0]).unwrap();
        });
        let first = finished
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("400 products within a minute: a helper was never woken");
        assert!(first.is_finite());
    }
}
