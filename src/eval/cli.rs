//! `sectune eval …`: the evaluation verbs and their handlers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};

use crate::eval::humaneval::{self, Timeouts};
use crate::eval::sandbox::{RunSpec, Sandbox, SandboxConfig};
use crate::eval::{passk, program};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Show which sandbox layers are active here and measure the cost of one sandboxed run.
    Sandbox(SandboxCheckArgs),
    /// HumanEval-X C++ pass@k: build and run every sample with its task's test, sandboxed.
    Humaneval(HumanevalArgs),
    /// Compare a base and a tuned run: two `eval humaneval` summaries (Fisher's exact test per
    /// task) or two `eval scenarios` summaries (per scenario, CWE and language on the valid and
    /// secure ratios), with Wilson 95% intervals.
    Compare(CompareArgs),
    /// Judge finished programs of one scenario: sanitizer attacks plus static analyzers.
    Analyze(crate::eval::judge::cli::AnalyzeArgs),
    /// Judge model samples of a scenario suite: valid and secure counts per scenario and CWE.
    Scenarios(crate::eval::judge::cli::ScenariosArgs),
}

#[derive(Args, Debug)]
pub struct HumanevalArgs {
    /// Problems in HumanEval-X JSONL (task_id, prompt, declaration, canonical_solution, test,
    /// example_test), optionally gzipped.
    #[arg(long)]
    pub problems: PathBuf,
    /// Samples JSONL (task_id or prompt_id, and generation or completion; `sectune generate`
    /// output as is), or the word `canonical` to run the problems' canonical solutions.
    #[arg(long)]
    pub samples: String,
    /// k values for pass@k.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub k: Vec<usize>,
    /// Folder for results.jsonl and summary.json.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Overwrite existing files in --out.
    #[arg(long)]
    pub force: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seconds each program may run.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
    /// Fail unless every sandbox layer is active.
    #[arg(long)]
    pub strict_sandbox: bool,
}

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// summary.json of the base model's run (`eval humaneval` or `eval scenarios`).
    #[arg(long)]
    pub base: PathBuf,
    /// summary.json of the tuned model's run.
    #[arg(long)]
    pub tuned: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SandboxCheckArgs {
    /// Runs of /bin/true to time.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Fail unless every isolation layer is active.
    #[arg(long)]
    pub strict: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    match args.command {
        EvalCommand::Sandbox(a) => sandbox_check(a),
        EvalCommand::Humaneval(a) => humaneval_cmd(a),
        EvalCommand::Compare(a) => crate::eval::compare::run(&a.base, &a.tuned, a.json),
        EvalCommand::Analyze(a) => crate::eval::judge::cli::analyze(a),
        EvalCommand::Scenarios(a) => crate::eval::judge::cli::scenarios(a),
    }
}

fn sandbox_check(args: SandboxCheckArgs) -> Result<()> {
    let config = SandboxConfig {
        require_full_isolation: args.strict,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).context("setting up the sandbox")?;
    let dir = sandbox.workdir().context("making a work folder")?;
    let spec = RunSpec::new(["true"]);
    let mut total = std::time::Duration::ZERO;
    for _ in 0..args.runs.max(1) {
        let out = sandbox
            .run(&dir, &spec)
            .context("running /bin/true in the sandbox")?;
        anyhow::ensure!(
            out.success(),
            "/bin/true failed in the sandbox: {:?}",
            out.exit
        );
        total += out.wall;
    }
    let per_run_ms = total.as_secs_f64() * 1e3 / args.runs.max(1) as f64;
    if args.json {
        let v = serde_json::json!({ "layers": sandbox.layers(), "per_run_ms": per_run_ms });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("layers: {}", sandbox.layers().summary());
        println!("per run of /bin/true: {per_run_ms:.1} ms");
    }
    Ok(())
}

fn humaneval_cmd(args: HumanevalArgs) -> Result<()> {
    if args.k.is_empty() || args.k.contains(&0) {
        bail!("--k needs positive values, e.g. --k 1,10");
    }
    let outputs = match &args.out {
        Some(dir) => Some(prepare_out(
            dir,
            &["results.jsonl", "summary.json"],
            args.force,
        )?),
        None => None,
    };
    let problems = humaneval::load_problems(&args.problems)?;
    let samples = if args.samples == "canonical" {
        humaneval::canonical_samples(&problems)
    } else {
        humaneval::load_samples(Path::new(&args.samples), &problems)?
    };
    let config = SandboxConfig {
        require_full_isolation: args.strict_sandbox,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).context("setting up the sandbox")?;
    eprintln!("sandbox: {}", sandbox.layers().summary());
    let compiler = compiler_version(&sandbox, "g++");

    let bar = indicatif::ProgressBar::new(samples.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} samples [{elapsed}<{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let timeouts = Timeouts {
        run: Duration::from_secs(args.timeout.max(1)),
        ..Timeouts::default()
    };
    let results = humaneval::evaluate(&sandbox, &problems, &samples, timeouts, &|| bar.inc(1))?;
    bar.finish_and_clear();

    let counts = humaneval::counts(&results);
    let tasks: Vec<(usize, usize)> = counts.values().copied().collect();
    let mut pass_at = serde_json::Map::new();
    for &k in &args.k {
        let value = passk::mean_pass_at_k(&tasks, k);
        pass_at.insert(format!("pass@{k}"), serde_json::json!(value));
    }
    let mut status_counts = std::collections::BTreeMap::new();
    for r in &results {
        *status_counts
            .entry(format!("{:?}", r.status))
            .or_insert(0usize) += 1;
    }
    let summary = serde_json::json!({
        "problems": args.problems,
        "samples": args.samples,
        "tasks_in_file": problems.len(),
        "tasks_with_samples": counts.len(),
        "samples_run": results.len(),
        "pass_at_k": pass_at,
        "status_counts": status_counts,
        "per_task": counts.iter().map(|(t, (n, c))| (t.clone(), serde_json::json!({"n": n, "passed": c}))).collect::<serde_json::Map<_, _>>(),
        "program_rule": program::RULE,
        "compile_command": "g++ -std=c++11 -o prog main.cpp",
        "compiler": compiler,
        "run_timeout_s": timeouts.run.as_secs(),
        "sandbox": sandbox.layers(),
    });
    if let (Some(dir), Some(())) = (&args.out, outputs) {
        let mut lines = String::new();
        for r in &results {
            lines.push_str(&serde_json::to_string(r)?);
            lines.push('\n');
        }
        write_atomic(&dir.join("results.jsonl"), lines.as_bytes())?;
        write_atomic(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&summary)?.as_bytes(),
        )?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        println!(
            "{} samples over {} tasks ({})",
            results.len(),
            counts.len(),
            compiler
        );
        for (name, value) in &pass_at {
            match value.as_f64() {
                Some(v) => println!("{name}: {v:.4}"),
                None => println!("{name}: n/a (some task has fewer samples than k)"),
            }
        }
        println!("statuses: {status_counts:?}");
    }
    Ok(())
}

/// First line of `tool --version`, run in the sandbox (the binary that compiles is the one
/// inside).
fn compiler_version(sandbox: &Sandbox, tool: &str) -> String {
    let run = || -> Option<String> {
        let dir = sandbox.workdir().ok()?;
        let out = sandbox.run(&dir, &RunSpec::new([tool, "--version"])).ok()?;
        out.stdout_lossy().lines().next().map(str::to_string)
    };
    run().unwrap_or_else(|| format!("{tool} (version unknown)"))
}

/// Makes `dir` and refuses to clobber `names` in it unless `force`.
fn prepare_out(dir: &Path, names: &[&str], force: bool) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for name in names {
        let path = dir.join(name);
        if path.exists() && !force {
            bail!(
                "{} exists; pass --force to overwrite or choose another --out",
                path.display()
            );
        }
    }
    Ok(())
}

/// Writes via a temporary file and rename, so a crash never leaves half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}
