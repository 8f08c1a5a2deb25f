//! Small shared utilities.

pub mod fsx;
pub mod rng;
