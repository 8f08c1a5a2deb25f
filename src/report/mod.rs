//! `sectune report`: the study's tables (3, 6, 7) and plots (Figure 6 per CWE, loss curves)
//! from run folders, each described by a `run.json` manifest (docs/report.md).

pub mod cli;
pub mod load;
pub mod manifest;
pub mod plots;
pub mod significance;
pub mod tables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use load::{load_run, RunData};
use tables::Table;

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Results {
        path: PathBuf,
        line: Option<usize>,
        reason: String,
    },
    #[error("{}: no run.json here or in its subfolders; pass run folders (written by `sectune study` or `sectune demo`, or by hand as docs/report.md describes)", path.display())]
    NoRuns { path: PathBuf },
    #[error("{} and {} describe the same run ({label}); pass only one of them", first.display(), second.display())]
    Duplicate {
        first: PathBuf,
        second: PathBuf,
        label: String,
    },
    #[error("{}: a report is already there; pass --force to overwrite it or choose another --out", path.display())]
    Exists { path: PathBuf },
    #[error("{}: drawing failed: {reason}", path.display())]
    Plot { path: PathBuf, reason: String },
}

/// Run folders under `path`: itself when it holds run.json, else the folders below it (two
/// levels, so a study's output folder and its `cells/` both work).
pub fn find_runs(path: &Path) -> Result<Vec<PathBuf>, ReportError> {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        if dir.join(manifest::MANIFEST).is_file() {
            out.push(dir.to_path_buf());
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            walk(&d, depth - 1, out);
        }
    }
    if !path.is_dir() {
        return Err(ReportError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a folder"),
        });
    }
    let mut out = Vec::new();
    walk(path, 2, &mut out);
    if out.is_empty() {
        return Err(ReportError::NoRuns {
            path: path.to_path_buf(),
        });
    }
    Ok(out)
}

/// Loads every run, refusing two runs with the same model, method, granularity and size.
pub fn load_runs(paths: &[PathBuf]) -> Result<Vec<RunData>, ReportError> {
    let mut runs = Vec::new();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for path in paths {
        for dir in find_runs(path)? {
            let run = load_run(&dir)?;
            let label = run.manifest.label();
            if let Some(first) = seen.insert(label.clone(), dir.clone()) {
                return Err(ReportError::Duplicate {
                    first,
                    second: dir,
                    label,
                });
            }
            runs.push(run);
        }
    }
    runs.sort_by_key(tables::sort_key);
    Ok(runs)
}

/// What `build` wrote.
#[derive(Debug)]
pub struct ReportOutput {
    pub runs: usize,
    pub files: Vec<PathBuf>,
    pub markdown: PathBuf,
}

fn write(path: PathBuf, bytes: &[u8], files: &mut Vec<PathBuf>) -> Result<(), ReportError> {
    crate::util::fsx::write_atomic(&path, bytes).map_err(|e| ReportError::Io {
        source: std::io::Error::other(e.to_string()),
        path: path.clone(),
    })?;
    files.push(path);
    Ok(())
}

fn json_bytes<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Reads the runs and writes the tables (markdown, CSV, JSON), the plots (SVG, PNG) and
/// report.md into `out`.
pub fn build(paths: &[PathBuf], out: &Path, force: bool) -> Result<ReportOutput, ReportError> {
    let runs = load_runs(paths)?;
    let markdown = out.join("report.md");
    if markdown.exists() && !force {
        return Err(ReportError::Exists {
            path: out.to_path_buf(),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| ReportError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut files = Vec::new();
    let tables: Vec<Table> = [
        Some(tables::table3(&runs)),
        significance::table3_significance(&runs),
        tables::table6(&runs),
        tables::table7(&runs),
    ]
    .into_iter()
    .flatten()
    .collect();
    for t in &tables {
        write(
            out.join(format!("{}.md", t.name)),
            t.markdown().as_bytes(),
            &mut files,
        )?;
        write(
            out.join(format!("{}.csv", t.name)),
            t.csv().as_bytes(),
            &mut files,
        )?;
        write(
            out.join(format!("{}.json", t.name)),
            &json_bytes(&t.rows),
            &mut files,
        )?;
    }
    let panels = plots::figure6_panels(&runs);
    write(
        out.join("figure6-per-cwe.json"),
        &json_bytes(&panels),
        &mut files,
    )?;
    let fig6 = plots::write_figure6(out, &panels)?;
    files.extend(fig6);
    let losses = plots::write_losses(out, &runs)?;
    let has_losses = !losses.is_empty();
    files.extend(losses);

    let mut md = format!(
        "# sectune report\n\n{} run folder(s): {}\n\n",
        runs.len(),
        runs.iter()
            .map(|r| format!("`{}` ({})", r.dir.display(), r.manifest.label()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    md.push_str("valid = compiles with the study's command; secure = valid and judged not vulnerable (a program the judge could not decide is not secure); ratios as `count/denominator (percent)`.\n\n");
    for t in &tables {
        md.push_str(&t.markdown());
        md.push('\n');
    }
    md.push_str(
        "## Figure 6: secure ratio per CWE\n\n![per-CWE secure ratio](figure6-per-cwe.svg)\n\n",
    );
    for p in &panels {
        let name = |s: &Option<plots::Series>| {
            s.as_ref()
                .map(|s| s.label.clone())
                .unwrap_or_else(|| "none".into())
        };
        md.push_str(&format!(
            "- {}: pre-trained = {}, best tuned = {}\n",
            p.title,
            name(&p.base),
            name(&p.tuned)
        ));
    }
    if has_losses {
        md.push_str("\n## Training loss\n\n![training loss](loss-curves.svg)\n");
    }
    let doc = serde_json::json!({
        "runs": runs.iter().map(|r| serde_json::json!({
            "dir": r.dir, "manifest": r.manifest, "per_language": r.per_language,
            "per_language_cwe": r.per_language_cwe, "losses": r.losses,
        })).collect::<Vec<_>>(),
        "tables": tables,
        "figure6": panels,
    });
    write(out.join("report.json"), &json_bytes(&doc), &mut files)?;
    write(markdown.clone(), md.as_bytes(), &mut files)?;
    Ok(ReportOutput {
        runs: runs.len(),
        files,
        markdown,
    })
}
