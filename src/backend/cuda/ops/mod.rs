//! The CUDA backend's ops, one file per kernel family; each validates shapes with the same
//! checks as the CPU reference, then launches the f32 entry points of kernels/<family>.cu
//! (`--precision bf16` sends the linears and attention it covers to mixed.rs).

pub mod activation;
pub mod adamw;
pub mod attention;
pub mod cross_entropy;
pub mod elementwise;
pub mod embedding;
pub mod linear;
pub mod mixed;
pub mod norm;
pub mod quant;
pub mod rope;
pub mod sampling;
