//! sectune: fine-tune code LLMs with LoRA/IA3 on vulnerability-fixing code, on a CPU reference
//! backend and hand-written CUDA kernels, and measure whether they write safer C/C++.

pub mod backend;
pub mod cli;
pub mod data;
pub mod demo;
pub mod error;
pub mod eval;
pub mod generate;
pub mod model;
pub mod peft;
pub mod quant;
pub mod report;
pub mod study;
pub mod tensor;
pub mod train;
pub mod util;
