//! The CUDA side: the kernels build.rs compiled into this binary, their ptxas report, the device
//! (feature `cuda`) and the benchmarks.
//! A build without nvcc still has this module; it then reports that no kernels were built.

#[cfg(feature = "cuda")]
pub mod attention_tc;
#[cfg(feature = "cuda")]
mod backend;
pub mod bench;
#[cfg(feature = "cuda")]
mod bench_ia3;
#[cfg(feature = "cuda")]
mod bench_lora;
#[cfg(feature = "cuda")]
pub mod bench_ops;
#[cfg(feature = "cuda")]
pub mod bench_quant;
#[cfg(feature = "cuda")]
mod bench_rank;
#[cfg(feature = "cuda")]
pub mod device;
#[cfg(feature = "cuda")]
pub mod half;
pub mod kernels;
#[cfg(feature = "cuda")]
mod launch;
#[cfg(feature = "cuda")]
mod ops;
/// The `--precision bf16` conversion and IA3 scaling kernels, for their op-level parity test.
#[cfg(feature = "cuda")]
pub use ops::mixed::{round_trip_bf16, scale_cols as scale_cols_f32};
pub mod plan;
#[cfg(feature = "cuda")]
pub mod quant_storage;
pub mod report;
#[cfg(feature = "cuda")]
pub mod storage;
#[cfg(feature = "cuda")]
pub mod tma;

/// What to tell a user whose binary has no kernels.
pub const NO_KERNELS_FIX: &str = "this binary was built without nvcc, so it has no CUDA kernels; \
run `bash scripts/install-cuda-toolchain.sh` and rebuild (or set NVCC / CUDA_HOME to an installed CUDA)";

#[cfg(feature = "cuda")]
pub use backend::CudaBackend;
