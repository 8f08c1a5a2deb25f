//! `sectune demo`: the whole pipeline on tiny random models with the shipped demo corpus,
//! in minutes on a CPU, with no downloads. Each stage runs as this binary's own verb, so the
//! demo exercises exactly what a user runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::report::manifest::{self, RunFiles, RunManifest, RunMethod, FORMAT_VERSION};

const CORPUS: &str = include_str!("../data/demo-corpus/fixes.jsonl");

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Output folder for models, data, adapters, samples and reports.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Scenario suite to generate for and judge.
    #[arg(long, default_value = "scenarios")]
    pub scenarios: PathBuf,
    /// HumanEval-format C++ tasks to generate for and run (pass@1, Table 7).
    #[arg(long, default_value = "tasks/humaneval-cpp/tasks.jsonl")]
    pub tasks: PathBuf,
    /// Optimizer steps per fine-tuning run.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Overwrite an earlier demo in --out.
    #[arg(long)]
    pub force: bool,
}

/// Stages the demo runs, for the "[k/N]" progress line.
const STAGES: usize = 16;

static STAGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn step(title: &str, args: &[&str]) -> Result<()> {
    let k = STAGE.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    eprintln!("\n== [{k}/{STAGES}] {title}\n$ sectune {}", args.join(" "));
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

/// A shipped input of the demo: the path as given when it exists; for the default, the source
/// tree's copy (a binary run outside the repository); otherwise an error before any stage runs.
fn shipped(given: &Path, default: &str, flag: &str) -> Result<PathBuf> {
    shipped_in(Path::new(env!("CARGO_MANIFEST_DIR")), given, default, flag)
}

fn shipped_in(tree: &Path, given: &Path, default: &str, flag: &str) -> Result<PathBuf> {
    if given.exists() {
        return Ok(given.to_path_buf());
    }
    if given == Path::new(default) {
        let in_tree = tree.join(default);
        if in_tree.exists() {
            return Ok(in_tree);
        }
    }
    bail!(
        "{}: not found; run the demo from the sectune repository root (it ships {default}), \
         or pass {flag} PATH",
        given.display()
    )
}

pub fn run(mut args: DemoArgs) -> Result<()> {
    args.scenarios = shipped(&args.scenarios, "scenarios", "--scenarios")?;
    args.tasks = shipped(&args.tasks, "tasks/humaneval-cpp/tasks.jsonl", "--tasks")?;
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
    for arch in ["llama", "codegen"] {
        for method in [RunMethod::Lora, RunMethod::Ia3] {
            let dir = out.join(format!("runs/{arch}-{}-function", method.name()));
            write_manifest(
                &dir,
                arch,
                method,
                RunFiles {
                    metrics: Some("metrics.jsonl".into()),
                    ..RunFiles::default()
                },
            )?;
        }
    }
    let model = out.join("models/llama");
    for (method, dir) in [
        (RunMethod::Base, out.join("runs/llama-base")),
        (RunMethod::Lora, out.join("runs/llama-lora-function")),
    ] {
        let adapter = (method != RunMethod::Base).then(|| dir.join("adapter"));
        let name = method.name();
        std::fs::create_dir_all(&dir)?;
        let gen = dir.join("samples-scenarios.jsonl");
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
        let eval = dir.join("eval-scenarios");
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
                s(&eval),
                "--no-static",
            ],
        )?;
        let raw = dir.join("samples-humaneval-raw.jsonl");
        let mut a = vec![
            "generate",
            "--model",
            s(&model),
            "--prompts",
            s(&args.tasks),
            "--out",
            s(&raw),
            "--samples",
            "2",
            "--max-new-tokens",
            "60",
            "--seed",
            "3",
        ];
        if let Some(ad) = &adapter {
            a.extend(["--adapter", s(ad)]);
        }
        step(
            &format!("generate for the HumanEval-format tasks (llama {name})"),
            &a,
        )?;
        let samples = dir.join("samples-humaneval.jsonl");
        crate::study::run::to_humaneval_samples(&raw, &samples)?;
        step(
            &format!("run the tasks' tests on the completions (llama {name})"),
            &[
                "eval",
                "humaneval",
                "--problems",
                s(&args.tasks),
                "--samples",
                s(&samples),
                "--out",
                s(&dir.join("eval-humaneval")),
            ],
        )?;
        write_manifest(
            &dir,
            "llama",
            method,
            RunFiles {
                scenarios: Some("eval-scenarios/results.jsonl".into()),
                scenarios_summary: Some("eval-scenarios/summary.json".into()),
                humaneval: Some("eval-humaneval/summary.json".into()),
                metrics: (method != RunMethod::Base).then(|| "metrics.jsonl".into()),
            },
        )?;
    }
    let report_dir = out.join("report");
    eprintln!(
        "\n== [{STAGES}/{STAGES}] tables and plots\n$ sectune report {} --out {}",
        out.join("runs").display(),
        report_dir.display()
    );
    let report = crate::report::build(&[out.join("runs")], &report_dir, false)
        .context("building the report")?;
    println!("\nsectune demo finished. Outputs in {}:", out.display());
    println!("  data/                 train/validation JSONL per granularity, manifest.json");
    println!(
        "  runs/*/adapter        PEFT adapters (LoRA and IA3, Llama and CodeGen), metrics.jsonl"
    );
    println!("  runs/llama-*/eval-*   judged scenario samples and HumanEval-format results");
    println!("  report/               Table 3 and Table 7 (markdown, CSV, JSON), per-CWE plot and loss curves (SVG, PNG)");
    println!("\nReport: {}", report.markdown.display());
    println!("\nThese are tiny random models trained for seconds: their numbers say nothing about security.");
    Ok(())
}

fn write_manifest(dir: &Path, arch: &str, method: RunMethod, files: RunFiles) -> Result<()> {
    let granularity = (method != RunMethod::Base).then(|| "function".to_string());
    manifest::write(
        dir,
        &RunManifest {
            format: FORMAT_VERSION,
            model: format!("tiny-{arch}"),
            method,
            granularity,
            size: None,
            languages: vec!["c".into(), "cpp".into()],
            files,
            provenance: Some(serde_json::json!({ "profile": "demo" })),
        },
    )
    .with_context(|| format!("writing {}", dir.join("run.json").display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_inputs_resolve_outside_the_repository_or_fail_up_front() {
        let tree = tempfile::tempdir().unwrap();
        let name = "demo-suite-only-in-the-tree";
        std::fs::create_dir(tree.path().join(name)).unwrap();
        // The default, missing where the demo runs, comes from the source tree.
        let found = shipped_in(tree.path(), Path::new(name), name, "--scenarios").unwrap();
        assert_eq!(found, tree.path().join(name));
        // A path the user gave is never swapped for the tree's copy.
        let given = Path::new("/no/such/suite");
        let err = shipped_in(tree.path(), given, name, "--scenarios")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/no/such/suite") && err.contains("--scenarios"),
            "{err}"
        );
        // Found where it runs: used as given.
        let here = shipped(Path::new("scenarios"), "scenarios", "--scenarios").unwrap();
        assert_eq!(here, Path::new("scenarios"));
    }
}
