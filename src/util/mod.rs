//! Small shared utilities.

pub mod fsx;
pub mod host_memory;
pub mod rng;
