//! Generation: prompts, batched sampling with a KV cache, temperature and top-p.

pub mod cli;
pub mod prompts;
pub mod sample;
