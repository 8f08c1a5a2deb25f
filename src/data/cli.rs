//! `sectune dataset …`: arguments and handlers.

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use super::pipeline::{self, BuildOptions, SourceSpec};
use super::{contamination, ids, stats, subsets, Granularity, Lang, Side, SourceKind};

#[derive(Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub command: DatasetCommand,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Build train/validation JSONL files from CVEfixes, BigVul, JSONL and/or a git repository.
    Build(BuildArgs),
    /// Nested random subsets of one CWE's commits (step, 2·step, …, all) of a built data set.
    Subsets(SubsetsArgs),
    /// Commits, projects, CVEs, CWEs, files and items per granularity, per source and combined.
    Stats(StatsArgs),
    /// n-gram overlap between training items and the evaluation prompts.
    Contamination(ContaminationArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GranularityArg {
    All,
    File,
    Function,
    Block,
    Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LangArg {
    C,
    #[value(name = "c++", alias = "cpp")]
    Cpp,
}

#[derive(Args, Debug)]
pub struct BuildArgs {
    /// CVEfixes SQLite database (CVEfixes.db).
    #[arg(long)]
    pub cvefixes: Option<PathBuf>,
    /// BigVul MSR_data_cleaned.csv.
    #[arg(long)]
    pub bigvul: Option<PathBuf>,
    /// JSONL file of fixes (fields in docs/dataset.md).
    #[arg(long)]
    pub jsonl: Option<PathBuf>,
    /// Local git repository.
    #[arg(long)]
    pub git: Option<PathBuf>,
    /// With --git: file listing commits (`<sha> [CVE-…] [CWE-…]` per line); default: commits whose
    /// message mentions a CVE or CWE id.
    #[arg(long, requires = "git")]
    pub commits: Option<PathBuf>,
    /// Output folder for train-<g>.jsonl, validation-<g>.jsonl and manifest.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Granularities to write (comma list, or all).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    pub granularity: Vec<GranularityArg>,
    #[arg(
        long = "lang",
        value_enum,
        value_delimiter = ',',
        default_value = "c,c++"
    )]
    pub languages: Vec<LangArg>,
    /// Keep only commits labelled with one of these CWEs (e.g. 119 or CWE-119; repeat or comma-separate).
    #[arg(long, value_delimiter = ',')]
    pub cwe: Vec<String>,
    /// Which side of each fix to keep.
    #[arg(long, value_enum, default_value = "fixed")]
    pub side: Side,
    /// Fraction of commits that go to train (the rest to validation).
    #[arg(long, default_value_t = 0.9)]
    pub split: f64,
    /// Seed of the commit shuffle that decides the split.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop at the first malformed row instead of skipping and counting it.
    #[arg(long)]
    pub strict: bool,
    /// Overwrite existing output files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SubsetsArgs {
    /// Folder made by `sectune dataset build`.
    #[arg(long)]
    pub data: PathBuf,
    /// CWE whose commits are subsampled (repeat for several).
    #[arg(long, value_delimiter = ',', required = true)]
    pub cwe: Vec<String>,
    /// Commits added per subset.
    #[arg(long, default_value_t = 100)]
    pub step: usize,
    /// Seed of the commit shuffle (subset k = the first k commits).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Output folder: one `commits-<k>/` data set per size, plus subsets.json.
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    Markdown,
    Json,
}

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// Folder made by `sectune dataset build` (or one .jsonl file).
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, value_enum, default_value = "markdown")]
    pub format: StatsFormat,
}

#[derive(Args, Debug)]
pub struct ContaminationArgs {
    /// Scenario suite: folders with scenario.toml (id, cwe, language, description, prompt).
    #[arg(long)]
    pub scenarios: PathBuf,
    /// Built data folder or one .jsonl file.
    #[arg(long)]
    pub data: PathBuf,
    /// n-gram length in tokens.
    #[arg(long, default_value_t = 10)]
    pub n: usize,
    /// Exit 0 even when overlaps exist.
    #[arg(long)]
    pub report_only: bool,
    /// Also write every hit as JSON here.
    #[arg(long)]
    pub report: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: DatasetArgs) -> anyhow::Result<()> {
    match args.command {
        DatasetCommand::Build(a) => build(a),
        DatasetCommand::Subsets(a) => run_subsets(a),
        DatasetCommand::Stats(a) => run_stats(a),
        DatasetCommand::Contamination(a) => run_contamination(a),
    }
}

fn parse_cwes(raw: &[String]) -> anyhow::Result<Vec<String>> {
    raw.iter()
        .map(|c| {
            ids::normalize_cwe(c)
                .with_context(|| format!("--cwe {c:?} is not a CWE id; use e.g. 119 or CWE-119"))
        })
        .collect()
}

pub fn build_options(a: BuildArgs) -> anyhow::Result<BuildOptions> {
    let mut sources = Vec::new();
    let mut push = |kind, path: Option<PathBuf>, commits_file| {
        if let Some(path) = path {
            sources.push(SourceSpec {
                kind,
                path,
                commits_file,
            });
        }
    };
    push(SourceKind::Cvefixes, a.cvefixes, None);
    push(SourceKind::Bigvul, a.bigvul, None);
    push(SourceKind::Jsonl, a.jsonl, None);
    push(SourceKind::Git, a.git, a.commits);
    if sources.is_empty() {
        bail!("no source given; pass at least one of --cvefixes, --bigvul, --jsonl, --git");
    }
    let mut granularities: Vec<Granularity> = if a.granularity.contains(&GranularityArg::All) {
        Granularity::ALL.to_vec()
    } else {
        a.granularity
            .iter()
            .map(|g| match g {
                GranularityArg::File | GranularityArg::All => Granularity::File,
                GranularityArg::Function => Granularity::Function,
                GranularityArg::Block => Granularity::Block,
                GranularityArg::Line => Granularity::Line,
            })
            .collect()
    };
    granularities.sort();
    granularities.dedup();
    let mut languages: Vec<Lang> = a
        .languages
        .iter()
        .map(|l| match l {
            LangArg::C => Lang::C,
            LangArg::Cpp => Lang::Cpp,
        })
        .collect();
    languages.sort();
    languages.dedup();
    Ok(BuildOptions {
        sources,
        out: a.out,
        granularities,
        languages,
        cwes: parse_cwes(&a.cwe)?,
        side: a.side,
        train_fraction: a.split,
        seed: a.seed,
        strict: a.strict,
        force: a.force,
    })
}

fn build(a: BuildArgs) -> anyhow::Result<()> {
    let opts = build_options(a)?;
    let manifest = pipeline::build(&opts)
        .with_context(|| format!("building the data set in {}", opts.out.display()))?;
    println!(
        "{} commits ({} train, {} validation) written to {}",
        manifest.commits.train + manifest.commits.validation,
        manifest.commits.train,
        manifest.commits.validation,
        opts.out.display()
    );
    for (g, c) in &manifest.items {
        println!(
            "  {g:>8}: {} train, {} validation items",
            c.train, c.validation
        );
    }
    let skipped: u64 = manifest.skipped.values().sum();
    if skipped > 0 {
        println!("  skipped {skipped} rows (reasons in manifest.json)");
    }
    if manifest.parse_errors > 0 {
        println!(
            "  {} files had syntax errors for tree-sitter (cut anyway; see manifest.json)",
            manifest.parse_errors
        );
    }
    Ok(())
}

fn run_subsets(a: SubsetsArgs) -> anyhow::Result<()> {
    let cwes = parse_cwes(&a.cwe)?;
    let made = subsets::build(&a.data, &cwes, a.step, a.seed, &a.out, a.force)
        .with_context(|| format!("making subsets of {}", a.data.display()))?;
    print!("{}", subsets::markdown(&made));
    Ok(())
}

fn run_stats(a: StatsArgs) -> anyhow::Result<()> {
    let s = stats::compute(&a.data).with_context(|| format!("reading {}", a.data.display()))?;
    match a.format {
        StatsFormat::Markdown => print!("{}", stats::markdown(&s)),
        StatsFormat::Json => println!("{}", serde_json::to_string_pretty(&s)?),
    }
    Ok(())
}

fn run_contamination(a: ContaminationArgs) -> anyhow::Result<()> {
    if a.n == 0 {
        bail!("--n must be at least 1");
    }
    let scenarios = contamination::load_scenarios(&a.scenarios)
        .with_context(|| format!("loading scenarios from {}", a.scenarios.display()))?;
    let hits = contamination::check(&scenarios, &a.data, a.n)
        .with_context(|| format!("checking {}", a.data.display()))?;
    for h in &hits {
        println!(
            "{} ({}:{}) <-> {}:{} commit {} {}:{}: {} tokens: {}",
            h.scenario,
            h.prompt_file,
            h.prompt_line,
            h.data_file,
            h.data_record,
            h.commit,
            h.file_path,
            h.item_line,
            h.tokens,
            h.excerpt
        );
    }
    if let Some(report) = &a.report {
        if report.exists() && !a.force {
            bail!(
                "{} already exists; pass --force to overwrite it",
                report.display()
            );
        }
        let tmp = report.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_string_pretty(&hits)? + "\n")
            .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, report).with_context(|| format!("writing {}", report.display()))?;
    }
    println!(
        "{} overlaps of ≥{} tokens with {} scenario prompts",
        hits.len(),
        a.n,
        scenarios.len()
    );
    if !hits.is_empty() && !a.report_only {
        bail!(
            "{} training items overlap the evaluation prompts; remove them or pass --report-only",
            hits.len()
        );
    }
    Ok(())
}
