//! A safe face on the SGEMM kernels: matrices are slices with explicit
//! strides, checked to lie inside their slice before the unsafe call.
//! Natively the kernels are the `gemm` crate's (1.1-1.5x matrixmultiply's
//! on this project's shapes, single-threaded) and a large product is cut
//! into blocks of rows or columns, one per thread, on the caller and the
//! spinning helpers of `threads`: a kernel crate's own threading (rayon's
//! pool, or matrixmultiply's shared inner loops after packing on one
//! thread) loses more to waking and waiting than a second core gains on an
//! LSTM step's products. In wasm32 the kernel is matrixmultiply's simd128
//! one, on the page's one thread.

use super::threads;

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

/// Blocks of a shared product are multiples of this along m or n: whole
/// AVX2 vectors of c.
const TILE: usize = 8;

/// c = a . b + beta * c. With beta = 0, c's old values are never read (they
/// may be uninitialised scratch or NaN); with beta = 1 the product
/// accumulates, which is what the `*_backward_*` ops need. A large product
/// is cut into blocks along the longer of m and n, one per thread.
pub fn gemm(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    let whole = Product::checked(a, b, beta, c);
    let along_n = whole.n >= whole.m;
    let macs = whole.m * whole.k * whole.n;
    // SAFETY: the asserts of `Product::checked` keep every element the
    // product touches inside its slice; `c` is a unique borrow, so it
    // aliases neither `a` nor `b`, and row-major strides (n, 1) never map
    // two elements to one address. The blocks write disjoint parts of `c`,
    // and all of them finish before `for_blocks` returns (the borrows
    // outlive them).
    threads::for_blocks(whole.m.max(whole.n), TILE, macs, &|r| unsafe {
        whole.block(along_n, r).run()
    });
}

/// `gemm` on the calling thread alone: for the products inside a block of
/// a `threads::for_blocks` job, whose other threads are busy with theirs.
pub fn gemm_here(a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    // SAFETY: as in `gemm`, on one thread.
    unsafe { Product::checked(a, b, beta, c).run() }
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

    /// Rows (`along_n` false) or columns `r` of the product.
    fn block(&self, along_n: bool, r: std::ops::Range<usize>) -> Product {
        let (ars, _) = self.a_strides;
        let (_, bcs) = self.b_strides;
        assert!(r.end <= if along_n { self.n } else { self.m });
        // SAFETY: r.start < m (or n), so every offset stays inside the
        // slices `gemm` checked; `add` only computes the address.
        unsafe {
            if along_n {
                Product {
                    n: r.len(),
                    b: Shared(self.b.0.add(r.start * bcs)),
                    c: Shared(self.c.0.add(r.start)),
                    ..*self
                }
            } else {
                Product {
                    m: r.len(),
                    a: Shared(self.a.0.add(r.start * ars)),
                    c: Shared(self.c.0.add(r.start * self.c_row)),
                    ..*self
                }
            }
        }
    }

    /// # Safety
    /// The pointers and strides must describe matrices inside live slices,
    /// and no other thread may touch this product's block of `c` meanwhile.
    unsafe fn run(&self) {
        let (ars, acs) = self.a_strides;
        let (brs, bcs) = self.b_strides;
        // SAFETY: the caller's contract, passed on to the kernel.
        #[cfg(not(target_arch = "wasm32"))]
        unsafe {
            // gemm's dst = alpha * dst + beta * lhs . rhs; with read_dst
            // false dst is never read, which beta = 0 promises here.
            gemm::gemm(
                self.m,
                self.n,
                self.k,
                self.c.0.cast_mut(),
                1,
                self.c_row as isize,
                self.beta != 0.0,
                self.a.0,
                acs as isize,
                ars as isize,
                self.b.0,
                bcs as isize,
                brs as isize,
                self.beta,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
        #[cfg(target_arch = "wasm32")]
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

    /// Products large enough to be shared, cut along m and along n, of
    /// sizes no multiple of the tile, with a transposed operand and beta 0
    /// and 1: three blocks computed one by one, and the whole through
    /// `gemm` (on the helper threads when one is free), equal the
    /// definition, and the blocks equal the uncut product exactly.
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
            let (along_n, long) = (n >= m, m.max(n));
            let step = long.div_ceil(3).next_multiple_of(TILE);
            for start in (0..long).step_by(step) {
                let part = whole.block(along_n, start..(start + step).min(long));
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
}
