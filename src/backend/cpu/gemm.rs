//! Row-major f32 GEMM on top of matrixmultiply (a packed, SIMD, multi-threaded sgemm).

/// How an operand is stored relative to the product's view of it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Layout {
    /// Stored as the product sees it: A (m, k) or B (k, n).
    N,
    /// Stored transposed: A as (k, m) or B as (n, k).
    T,
}

/// c (m, n) = alpha·A·B + beta·c, every matrix dense row-major.
/// Panics only on a programming error (slice lengths that disagree with m, n, k).
#[allow(clippy::too_many_arguments)]
pub fn gemm(
    m: usize,
    n: usize,
    k: usize,
    alpha: f32,
    a: &[f32],
    la: Layout,
    b: &[f32],
    lb: Layout,
    beta: f32,
    c: &mut [f32],
) {
    assert!(
        a.len() >= m * k && b.len() >= k * n && c.len() >= m * n,
        "gemm operand sizes"
    );
    if m == 0 || n == 0 {
        return;
    }
    let (rsa, csa) = match la {
        Layout::N => (k as isize, 1),
        Layout::T => (1, m as isize),
    };
    let (rsb, csb) = match lb {
        Layout::N => (n as isize, 1),
        Layout::T => (1, k as isize),
    };
    // SAFETY: the asserts above guarantee every (row, col) the strides reach lies inside the
    // slices; c is exclusively borrowed.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            alpha,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            rsb,
            csb,
            beta,
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
