//! `sectune demo`: the whole pipeline on tiny random models with the shipped demo corpus,
//! in minutes on a CPU, with no downloads. Each stage runs as this binary's own verb, so the
//! demo exercises exactly what a user runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

const CORPUS: &str = include_str!("../data/demo-corpus/fixes.jsonl");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder for models, data, adapters, samples and reports.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Scenario suite to generate for and judge.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// Optimizer steps per fine-tuning run.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Overwrite an earlier demo in --out.
    #[arg(long)]
    pub force: bool,
}

fn step(title: &str, args: &[&str]) -> Result<()> {
    eprintln!("\n== {title}\n$ sectune {}", args.join(" "));
    let exe = std::env::current_exe().context("locating the sectune binary")?;
    let status = Command::new(exe)
        .args(args)
        .status()
        .with_context(|| format!("running sectune {}", args[0]))?;
    if !status.success() {
        bail!("demo stage \"{title}\" failed ({status})");
    }
    Ok(())
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

pub fn run(args: DemoArgs) -> Result<()> {
    let out = &args.out;
    if out.exists() {
        if !args.force {
            bail!(
                "{} exists; pass --force to replace the earlier demo, or choose another --out",
                out.display()
            );
        }
        std::fs::remove_dir_all(out).with_context(|| format!("removing {}", out.display()))?;
    }
    std::fs::create_dir_all(out)?;
    let corpus = out.join("corpus.jsonl");
    std::fs::write(&corpus, CORPUS)?;
    let data = out.join("data");
    step(
        "fine-tuning data from the shipped fix corpus (4 granularities)",
        &[
            "dataset",
            "build",
            "--jsonl",
            s(&corpus),
            "--out",
            s(&data),
            "--granularity",
            "all",
            "--seed",
            "42",
        ],
    )?;
    let steps = args.steps.to_string();
    for arch in ["llama", "codegen"] {
        let model = out.join(format!("models/{arch}"));
        step(
            &format!("tiny random {arch} model"),
            &[
                "init-model",
                "--arch",
                arch,
                "--seed",
                "1",
                "--out",
                s(&model),
            ],
        )?;
        for method in ["lora", "ia3"] {
            let run = out.join(format!("runs/{arch}-{method}-function"));
            step(
                &format!("fine-tune {arch} with {method} on function-level items"),
                &[
                    "train",
                    "--model",
                    s(&model),
                    "--train-file",
                    s(&data.join("train-function.jsonl")),
                    "--method",
                    method,
                    "--max-steps",
                    &steps,
                    "--batch-size",
                    "2",
                    "--max-tokens",
                    "256",
                    "--lr",
                    "3e-3",
                    "--out",
                    s(&run),
                ],
            )?;
        }
    }
    let model = out.join("models/llama");
    let mut reports = Vec::new();
    for (name, adapter) in [
        ("base", None),
        ("lora", Some(out.join("runs/llama-lora-function/adapter"))),
    ] {
        let gen = out.join(format!("samples-llama-{name}.jsonl"));
        let mut a = vec![
            "generate",
            "--model",
            s(&model),
            "--prompts",
            s(&args.scenarios),
            "--out",
            s(&gen),
            "--samples",
            "2",
            "--max-new-tokens",
            "40",
            "--seed",
            "3",
        ];
        if let Some(ad) = &adapter {
            a.extend(["--adapter", s(ad)]);
        }
        step(
            &format!("generate for the scenario suite (llama {name})"),
            &a,
        )?;
        let report = out.join(format!("eval-llama-{name}"));
        step(
            &format!("judge the completions (llama {name})"),
            &[
                "eval",
                "scenarios",
                "--suite",
                s(&args.scenarios),
                "--samples",
                s(&gen),
                "--out",
                s(&report),
                "--no-static",
            ],
        )?;
        reports.push(report);
    }
    println!("\nsectune demo finished. Outputs in {}:", out.display());
    println!("  data/            train/validation JSONL per granularity, manifest.json");
    println!("  runs/*/adapter   PEFT adapters (LoRA and IA3, Llama and CodeGen), metrics.jsonl");
    for r in &reports {
        println!(
            "  {}/summary.md   valid and secure ratios per scenario and CWE",
            r.display()
        );
    }
    println!("\nThese are tiny random models trained for seconds: their numbers say nothing about security.");
    println!(
        "The study's tables and plots (sectune report) are not built yet; see the open issues."
    );
    Ok(())
}
