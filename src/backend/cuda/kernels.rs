//! The fatbins of kernels/*.cu embedded by build.rs: one `KernelModule` variant per file, with
//! `fatbin()` returning None in a build without nvcc (`cfg(has_kernels)` is then unset).

include!(concat!(env!("OUT_DIR"), "/kernels.rs"));
