//! `sectune eval analyze` and `sectune eval scenarios`: the judge's verbs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use super::report::{to_sarif, Environment, JudgeReport, JudgedProgram};
use super::suite::{judge_samples, read_samples, stage_totals, summarize, summary_markdown};
use super::{Judge, JudgeOptions};
use crate::eval::sandbox::{Sandbox, SandboxConfig};
use crate::eval::scenario::{load_suite, Scenario};

/// Options shared by both verbs.
#[derive(Args, Debug)]
pub struct JudgeFlags {
    /// Dynamic confirmation only (no static analyzers).
    #[arg(long)]
    pub no_static: bool,
    /// Also run the static analyzers on programs an attack already confirmed.
    #[arg(long)]
    pub static_when_confirmed: bool,
    /// Add clang-tidy's bugprone checks (slow on C++).
    #[arg(long)]
    pub clang_tidy: bool,
    /// Run every static tool on every program, also tools that cannot report a finding of the
    /// scenario's CWE family (by default they are skipped: they cannot change the verdict).
    #[arg(long)]
    pub all_static_tools: bool,
    /// Seconds each attack or benign run may take.
    #[arg(long, default_value_t = 5)]
    pub run_timeout: u64,
    /// Fail unless every sandbox layer is active.
    #[arg(long)]
    pub strict_sandbox: bool,
}

#[derive(Args, Debug)]
pub struct AnalyzeArgs {
    /// Scenario folder (holding scenario.toml) the programs belong to.
    #[arg(long)]
    pub scenario: PathBuf,
    /// Complete programs (prompt + completion) to judge.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Print the full report as JSON instead of one line per file.
    #[arg(long)]
    pub json: bool,
    /// Also write the evidence as SARIF to this file.
    #[arg(long)]
    pub sarif: Option<PathBuf>,
    /// Overwrite an existing --sarif file.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub judge: JudgeFlags,
}

#[derive(Args, Debug)]
pub struct ScenariosArgs {
    /// Suite folder (one sub-folder per scenario).
    #[arg(long)]
    pub suite: PathBuf,
    /// Samples JSONL: prompt_id (scenario id), sample, completion.
    #[arg(long)]
    pub samples: PathBuf,
    /// Output folder for results.jsonl, summary.json, summary.md and judge.sarif.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite existing files in --out.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub judge: JudgeFlags,
}

fn make_judge(flags: &JudgeFlags) -> Result<Judge> {
    let sandbox = Sandbox::new(SandboxConfig {
        require_full_isolation: flags.strict_sandbox,
        ..SandboxConfig::default()
    })
    .context("setting up the sandbox")?;
    eprintln!("sandbox: {}", sandbox.layers().summary());
    let mut options = JudgeOptions {
        no_static: flags.no_static,
        static_when_confirmed: flags.static_when_confirmed,
        clang_tidy: flags.clang_tidy,
        all_static_tools: flags.all_static_tools,
        ..JudgeOptions::default()
    };
    options.dynamic.run_timeout = Duration::from_secs(flags.run_timeout.max(1));
    let judge = Judge::new(sandbox, options).context("setting up the judge")?;
    for tool in &judge.analyzers().tools {
        let version = tool.version.as_deref().unwrap_or("not installed");
        eprintln!("tool {}: {version}", tool.name);
    }
    Ok(judge)
}

fn environment(judge: &Judge) -> Environment {
    Environment::new(
        judge.analyzers().tools.clone(),
        judge.sandbox().layers().clone(),
    )
}

pub fn analyze(args: AnalyzeArgs) -> Result<()> {
    let scenario = Scenario::load(&args.scenario)?;
    if let Some(path) = &args.sarif {
        refuse_overwrite(path, args.force)?;
    }
    let mut sources = Vec::new();
    for file in &args.files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading program {}", file.display()))?;
        sources.push((file.display().to_string(), text));
    }
    let judge = make_judge(&args.judge)?;
    let mut programs = Vec::new();
    for (name, text) in sources {
        let judgement = judge
            .judge(&scenario, &text)
            .with_context(|| format!("judging {name}"))?;
        programs.push(JudgedProgram {
            source: name,
            judgement,
        });
    }
    let report = JudgeReport {
        environment: environment(&judge),
        programs,
    };
    if let Some(path) = &args.sarif {
        write_atomic(path, &serde_json::to_vec_pretty(&to_sarif(&report))?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    for program in &report.programs {
        let j = &program.judgement;
        println!("{}: {} (CWE-{})", program.source, j.verdict_label, j.cwe);
        for e in &j.evidence {
            let case = e.attack_case.as_deref().map(|c| format!(" [case {c}]"));
            let line = e.line.map(|l| format!(" line {l}"));
            println!(
                "  {}/{}{}{}: {}",
                e.tool,
                e.rule,
                line.unwrap_or_default(),
                case.unwrap_or_default(),
                e.message
            );
        }
    }
    Ok(())
}

pub fn scenarios(args: ScenariosArgs) -> Result<()> {
    let names = ["results.jsonl", "summary.json", "summary.md", "judge.sarif"];
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for name in names {
        refuse_overwrite(&args.out.join(name), args.force)?;
    }
    let suite = load_suite(&args.suite)?;
    let samples = read_samples(&args.samples, &suite)?;
    let judge = make_judge(&args.judge)?;
    let bar = indicatif::ProgressBar::new(samples.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} samples [{elapsed}<{eta}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let results = judge_samples(&judge, &suite, &samples, &|n| bar.inc(n));
    bar.finish();
    let wall_s = started.elapsed().as_secs_f64();
    let totals = stage_totals(&results);
    eprintln!(
        "judged {} distinct programs ({} duplicate samples reused) in {wall_s:.1} s; \
         stage seconds summed over {} workers: validity {:.1}, sanitizer builds {:.1}, runs {:.1}, static {:.1} ({})",
        totals.programs,
        totals.duplicates,
        judge.sandbox().parallelism(),
        totals.validity_s,
        totals.build_s,
        totals.runs_s,
        totals.static_s,
        totals
            .static_tools_s
            .iter()
            .map(|(tool, s)| format!("{tool} {s:.1}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let summary = summarize(&results);
    let mut lines = Vec::new();
    for result in &results {
        serde_json::to_writer(&mut lines, result)?;
        lines.push(b'\n');
    }
    let environment = environment(&judge);
    let summary_doc = serde_json::json!({
        "environment": environment,
        "summary": summary,
        "timings": { "wall_s": wall_s, "stages": totals },
    });
    let report = JudgeReport {
        environment,
        programs: results
            .iter()
            .filter_map(|r| {
                Some(JudgedProgram {
                    source: format!("{}#{}", r.scenario, r.sample),
                    judgement: r.judgement.clone()?,
                })
            })
            .collect(),
    };
    write_atomic(&args.out.join("results.jsonl"), &lines)?;
    write_atomic(
        &args.out.join("summary.json"),
        &serde_json::to_vec_pretty(&summary_doc)?,
    )?;
    write_atomic(
        &args.out.join("summary.md"),
        summary_markdown(&summary).as_bytes(),
    )?;
    write_atomic(
        &args.out.join("judge.sarif"),
        &serde_json::to_vec_pretty(&to_sarif(&report))?,
    )?;
    println!("{}", summary_markdown(&summary));
    Ok(())
}

fn refuse_overwrite(path: &Path, force: bool) -> Result<()> {
    if path.exists() && !force {
        bail!(
            "{} exists; pass --force to overwrite or choose another output",
            path.display()
        );
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
