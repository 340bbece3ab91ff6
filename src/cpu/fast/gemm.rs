//! A safe face on `matrixmultiply::sgemm`: matrices are slices with explicit
//! strides, checked to lie inside their slice before the unsafe call.

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
    // SAFETY: the asserts above keep every element sgemm touches inside its
    // slice; `c` is a unique borrow, so it aliases neither `a` nor `b`, and
    // row-major strides (n, 1) never map two elements to one address.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.data.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
