//! PEFT adapters: LoRA and IA3 in PEFT's file format, initialization, merge into the base.

pub mod adapter;
pub mod config;
pub mod io;
pub mod merge;

pub use adapter::{AdapterSet, ModuleAdapter};
pub use config::{Ia3Config, LoraConfig, PeftConfig, Targets};
