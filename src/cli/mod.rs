//! The command line: one subcommand per verb; each verb's arguments and handler live in its module.

pub mod model;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "sectune",
    version,
    about = "Fine-tune code LLMs on vulnerability fixes; measure secure and correct code generation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write a random-init checkpoint in the Hugging Face layout (tests, demo).
    InitModel(model::InitModelArgs),
    /// Run the whole pipeline on tiny models and the shipped corpus (no downloads, no GPU).
    Demo(crate::demo::DemoArgs),
    /// Print the causal-LM loss of a text under a model (and adapter).
    Score(model::ScoreArgs),
    /// Print a model's architecture, parameter counts and a memory estimate.
    Inspect(model::InspectArgs),
    /// Create a PEFT-initialized LoRA or IA3 adapter for a model.
    InitAdapter(model::InitAdapterArgs),
    /// Fine-tune a LoRA or IA3 adapter on JSONL text records.
    Train(Box<crate::train::cli::TrainArgs>),
    /// Sample completions for prompts (study settings by default) as JSONL.
    Generate(crate::generate::cli::GenerateArgs),
    /// Fold an adapter into the base weights and write the merged checkpoint.
    Merge(model::MergeArgs),
    /// Build, subsample, describe and check the fine-tuning data sets.
    Dataset(crate::data::cli::DatasetArgs),
    /// Evaluate completions: sandbox, validity, HumanEval-X pass@k, scenarios, statistics.
    Eval(crate::eval::cli::EvalArgs),
    /// Tables 3, 6, 7 (markdown, CSV, JSON) and plots (per-CWE secure ratio, loss) from run folders.
    Report(crate::report::cli::ReportArgs),
    /// Run the study's grid from a TOML config; resumable; ends with the report.
    Study(crate::study::cli::StudyArgs),
    /// Print the ptxas report (registers, shared memory, spills) of the embedded CUDA kernels.
    Kernels(crate::backend::cuda::report::KernelsArgs),
    /// Time the CUDA kernels against cuBLAS and torch on this machine's GPU (skips without one).
    Bench(crate::backend::cuda::bench::BenchArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::InitModel(a) => model::init_model(a),
        Command::Demo(a) => crate::demo::run(a),
        Command::Score(a) => model::score(a),
        Command::Inspect(a) => model::inspect(a),
        Command::InitAdapter(a) => model::init_adapter(a),
        Command::Train(a) => crate::train::cli::run(*a),
        Command::Generate(a) => crate::generate::cli::run(a),
        Command::Merge(a) => model::merge_cmd(a),
        Command::Dataset(args) => crate::data::cli::run(args),
        Command::Eval(args) => crate::eval::cli::run(args),
        Command::Report(args) => crate::report::cli::run(args),
        Command::Study(args) => crate::study::cli::run(args),
        Command::Kernels(args) => crate::backend::cuda::report::run(args),
        Command::Bench(args) => crate::backend::cuda::bench::run(args),
    }
}

/// The error and its causes on one line, as `{:#}` prints them, without a cause whose text the
/// message before it already holds (errors that show their source in their own message).
pub fn error_line(err: &anyhow::Error) -> String {
    let mut line = err.to_string();
    for cause in err.chain().skip(1) {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn a_cause_already_in_the_message_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = Err::<(), _>(crate::error::Error::io("scenarios", io))
            .context("demo stage failed")
            .unwrap_err();
        assert_eq!(
            error_line(&err),
            "demo stage failed: scenarios: no such file"
        );
        // The source quoted inside the message (with the fix after it) is not repeated either.
        let quoted = anyhow::Error::new(std::io::Error::other("bad byte"))
            .context("f.jsonl:1: not JSON (bad byte); each line must be an object");
        assert_eq!(
            error_line(&quoted),
            "f.jsonl:1: not JSON (bad byte); each line must be an object"
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_line(&plain), "outer: inner");
    }
}
