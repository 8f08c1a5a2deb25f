//! `sectune report RUN_DIR... --out DIR`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Run folders (each with run.json), or folders holding them (a study's output folder).
    #[arg(required = true)]
    pub runs: Vec<PathBuf>,
    /// Output folder for the tables (markdown, CSV, JSON) and plots (SVG, PNG).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an earlier report in --out.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: ReportArgs) -> Result<()> {
    let out = super::build(&args.runs, &args.out, args.force).context("building the report")?;
    println!("report over {} run(s):", out.runs);
    for f in &out.files {
        println!("  {}", f.display());
    }
    println!("start with {}", out.markdown.display());
    Ok(())
}
