//! Fine-tuning: data, the loop with AdamW and a linear schedule, checkpoints, memory plan.

pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod layer_bench;
pub mod memory;
pub mod optim;
pub mod run;
