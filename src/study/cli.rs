//! `sectune study --config study.toml --out DIR`.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use super::config::StudyConfig;
use super::run::{run_all, Runner, DONE};
use crate::util::fsx::write_atomic;

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// Study config (configs/study-paper.toml, configs/study-tiny.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Output folder: cells/<hash>/, shared/, summary.json, report/. Rerunning with the same
    /// folder skips finished cells and resumes interrupted ones.
    #[arg(long)]
    pub out: PathBuf,
    /// Stop after this many stages, as if killed (for testing resume).
    #[arg(long, hide = true)]
    pub stop_after_stages: Option<usize>,
}

pub fn run(args: StudyArgs) -> Result<()> {
    let cfg = StudyConfig::load(&args.config)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let out = std::fs::canonicalize(&args.out)
        .with_context(|| format!("resolving {}", args.out.display()))?;
    let exe = std::env::current_exe().context("locating the sectune binary")?;
    let cells = cfg.cells();
    eprintln!(
        "study {:?}: {} cells into {}",
        cfg.profile,
        cells.len(),
        out.display()
    );
    let mut runner = Runner::new(exe, out.clone(), args.stop_after_stages);
    let outcomes = run_all(&mut runner, &cfg)?;
    let count = |s: &str| outcomes.iter().filter(|o| o.status == s).count();
    let (ran, skipped, failed) = (count("ran"), count("skipped"), count("failed"));
    let finished: Vec<PathBuf> = outcomes
        .iter()
        .filter(|o| o.status != "failed" && o.dir.join(DONE).exists())
        .map(|o| o.dir.clone())
        .collect();
    let report_dir = out.join("report");
    let report = if finished.is_empty() {
        Err("no finished cell".to_string())
    } else {
        crate::report::build(&finished, &report_dir, true).map_err(|e| e.to_string())
    };
    let summary = serde_json::json!({
        "config": args.config,
        "profile": cfg.profile,
        "ran": ran,
        "skipped": skipped,
        "failed": failed,
        "cells": outcomes,
        "report": match &report {
            Ok(r) => serde_json::json!(r.markdown),
            Err(e) => serde_json::json!({ "error": e }),
        },
    });
    write_atomic(
        &out.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;

    println!("\nstudy summary: {ran} ran, {skipped} skipped (finished earlier), {failed} failed");
    for o in &outcomes {
        match &o.error {
            Some(e) => println!("  FAILED  {} ({}): {e}", o.cell, o.hash),
            None => println!("  {:<7} {} ({})", o.status, o.cell, o.hash),
        }
    }
    println!("summary: {}", out.join("summary.json").display());
    match report {
        Ok(r) => println!("report: {}", r.markdown.display()),
        Err(e) => println!("report: not written ({e})"),
    }
    if failed > 0 {
        anyhow::bail!(
            "{failed} cell(s) failed; fix the cause and rerun the same command to finish them"
        );
    }
    Ok(())
}
