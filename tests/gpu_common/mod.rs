//! What the GPU test binaries share: opening the GPU or saying why they skip, and hashed inputs.
#![allow(dead_code)]

use sectune::backend::cuda::device::{CudaDevice, CudaError};
use sectune::backend::cuda::CudaBackend;
use sectune::backend::dropout::mix64;

/// Some(x) when the GPU opened. Without a driver or kernels: "skipped: why" and None, or a
/// failure when SECTUNE_REQUIRE_GPU=1. Any other GPU error fails.
pub fn or_skip<T>(opened: Result<T, CudaError>) -> Option<T> {
    match opened {
        Ok(x) => Some(x),
        Err(e) => {
            let required = std::env::var("SECTUNE_REQUIRE_GPU").is_ok_and(|v| v == "1");
            assert!(!required, "SECTUNE_REQUIRE_GPU=1 but {e}");
            assert!(
                matches!(e, CudaError::NoDriver | CudaError::NoKernels),
                "a GPU error other than a missing driver or kernels: {e}"
            );
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// The CUDA backend on GPU 0, or None (see `or_skip`).
pub fn backend() -> Option<CudaBackend> {
    or_skip(CudaBackend::new(0))
}

/// The CUDA backend in `--precision bf16`, or None: as `backend`, and below sm_80 it says why it
/// skips.
pub fn mixed_backend() -> Option<CudaBackend> {
    match backend()?.with_bf16_compute() {
        Ok(b) => Some(b),
        Err(e) => {
            eprintln!("skipped: {e}");
            None
        }
    }
}

/// The raw device on GPU 0, or None (see `or_skip`).
pub fn device() -> Option<CudaDevice> {
    or_skip(CudaDevice::new(0))
}

/// A hash of (index, salt) in [−1, 1): no period, so long sums do not cancel coherently.
pub fn input(n: usize, salt: usize) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = mix64(i ^ ((salt as u64 + 1) << 40));
            (h >> 40) as f32 / 8_388_608.0 - 1.0
        })
        .collect()
}
