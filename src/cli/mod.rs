//! The command line: one subcommand per verb; each verb's arguments and handler live in its module.

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "sectune", version, about = "Fine-tune code LLMs on vulnerability fixes; measure secure and correct code generation")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print the ptxas report (registers, shared memory, spills) of the embedded CUDA kernels.
    Kernels(crate::backend::cuda::report::KernelsArgs),
    /// Time the CUDA kernels against cuBLAS and torch on this machine's GPU (skips without one).
    Bench(crate::backend::cuda::bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Kernels(args) => crate::backend::cuda::report::run(args),
        Command::Bench(args) => crate::backend::cuda::bench::run(args),
    }
}
