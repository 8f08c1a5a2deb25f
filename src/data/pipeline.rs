//! `dataset build`: sources -> filters -> de-dup -> cut -> split -> files + manifest.json.
//! Items stream to one temporary file per granularity; once every commit is known the split
//! copies them to train/validation files, so memory holds commits, not code.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::{self, File};
use std::hash::{Hash, Hasher};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;

use super::dedup::CommitClaims;
use super::granularity::{Cut, Extractor, Span};
use super::record::Record;
use super::{
    bigvul, cvefixes, git_source, io_err, jsonl_source, split, DataError, Granularity, Lang,
    Result, Scope, Side, SourceEvent, SourceKind, Unit,
};

#[derive(Debug, Clone)]
pub struct SourceSpec {
    pub kind: SourceKind,
    pub path: PathBuf,
    /// Git only: file listing the commits to take.
    pub commits_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub sources: Vec<SourceSpec>,
    pub out: PathBuf,
    pub granularities: Vec<Granularity>,
    pub languages: Vec<Lang>,
    /// Normalized (`CWE-119`); empty keeps every CWE.
    pub cwes: Vec<String>,
    pub side: Side,
    /// Fraction of commits that go to train.
    pub train_fraction: f64,
    pub seed: u64,
    pub strict: bool,
    pub force: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct SourceReport {
    pub kind: String,
    pub path: String,
    pub rows: u64,
    pub units: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct SplitCounts {
    pub train: u64,
    pub validation: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct Manifest {
    pub format: String,
    pub seed: u64,
    pub train_fraction: f64,
    pub side: String,
    pub granularities: Vec<String>,
    pub languages: Vec<String>,
    pub cwe_filter: Vec<String>,
    pub sources: Vec<SourceReport>,
    pub commits: SplitCounts,
    pub items: BTreeMap<String, SplitCounts>,
    /// Rows that produced no unit (or units dropped by a filter), by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Units with no item at some granularity, by reason (e.g. BigVul has no file text).
    pub not_applicable: BTreeMap<String, u64>,
    /// Files tree-sitter reported syntax errors in (cut anyway, best effort).
    pub parse_errors: u64,
    pub parse_error_examples: Vec<String>,
}

/// Units cut in parallel at a time: enough to keep the cores busy, small enough for memory.
const BATCH: usize = 64;

pub fn output_name(split: &str, g: Granularity) -> String {
    format!("{split}-{}.jsonl", g.as_str())
}

/// Build the data set described by `opts`; returns the manifest (also written to the folder).
pub fn build(opts: &BuildOptions) -> Result<Manifest> {
    let out = &opts.out;
    if opts.sources.is_empty() {
        return Err(DataError::Invalid {
            path: out.clone(),
            reason: "no source given; pass --cvefixes, --bigvul, --jsonl or --git".into(),
        });
    }
    if !(0.0..=1.0).contains(&opts.train_fraction) {
        return Err(DataError::Invalid {
            path: out.clone(),
            reason: format!("--split {} is outside 0..=1", opts.train_fraction),
        });
    }
    fs::create_dir_all(out).map_err(io_err(out))?;
    let mut finals = vec![out.join("manifest.json")];
    for &g in &opts.granularities {
        finals.push(out.join(output_name("train", g)));
        finals.push(out.join(output_name("validation", g)));
    }
    if !opts.force {
        if let Some(existing) = finals.iter().find(|p| p.exists()) {
            return Err(DataError::OutputExists {
                path: existing.clone(),
            });
        }
    }

    let state = State::new(opts)?;
    let mut temps: Vec<PathBuf> = state.writers.iter().map(|w| w.1.clone()).collect();
    temps.extend(finals.iter().map(|p| tmp_path(p)));
    let result = read_sources(state, opts).and_then(State::finish);
    if result.is_err() {
        // Leave no half-written files behind; finished outputs of an earlier run are untouched.
        for path in &temps {
            let _ = fs::remove_file(path);
        }
    }
    result
}

fn read_sources<'o>(mut state: State<'o>, opts: &'o BuildOptions) -> Result<State<'o>> {
    let mut sources = opts.sources.clone();
    sources.sort_by_key(|s| s.kind); // cvefixes, bigvul, jsonl, git: the de-dup precedence
    for spec in &sources {
        state.manifest.sources.push(SourceReport {
            kind: spec.kind.as_str().into(),
            path: spec.path.display().to_string(),
            ..Default::default()
        });
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{}: {}", spec.kind.as_str(), spec.path.display()));
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let mut emit = |event: SourceEvent| -> Result<()> {
            bar.inc(1);
            if bar.position().is_multiple_of(256) {
                bar.set_message(format!("{}: {} rows", spec.kind.as_str(), bar.position()));
            }
            state.take(event)
        };
        match spec.kind {
            SourceKind::Cvefixes => cvefixes::read(&spec.path, opts.side, &mut emit)?,
            SourceKind::Bigvul => bigvul::read(&spec.path, opts.side, &mut emit)?,
            SourceKind::Jsonl => jsonl_source::read(&spec.path, opts.side, &mut emit)?,
            SourceKind::Git => git_source::read(
                &spec.path,
                spec.commits_file.as_deref(),
                opts.side,
                &mut emit,
            )?,
        }
        bar.finish_and_clear();
    }
    Ok(state)
}

struct State<'o> {
    opts: &'o BuildOptions,
    manifest: Manifest,
    claims: CommitClaims,
    seen_files: HashSet<(String, String, u64)>,
    commits: BTreeSet<String>,
    pending: Vec<Unit>,
    writers: Vec<(Granularity, PathBuf, BufWriter<File>)>,
}

impl<'o> State<'o> {
    fn new(opts: &'o BuildOptions) -> Result<Self> {
        Extractor::new()?; // fail early on a grammar mismatch, not inside the workers
        let mut writers = Vec::new();
        for &g in &opts.granularities {
            let path = opts.out.join(format!(".unsplit-{}.jsonl.tmp", g.as_str()));
            let file = File::create(&path).map_err(io_err(&path))?;
            writers.push((g, path, BufWriter::new(file)));
        }
        let manifest = Manifest {
            format: "sectune-dataset-1".into(),
            seed: opts.seed,
            train_fraction: opts.train_fraction,
            side: match opts.side {
                Side::Fixed => "fixed".into(),
                Side::Vulnerable => "vulnerable".into(),
            },
            granularities: opts
                .granularities
                .iter()
                .map(|g| g.as_str().to_string())
                .collect(),
            languages: opts
                .languages
                .iter()
                .map(|l| l.as_str().to_string())
                .collect(),
            cwe_filter: opts.cwes.clone(),
            ..Default::default()
        };
        Ok(State {
            opts,
            manifest,
            claims: CommitClaims::default(),
            seen_files: HashSet::new(),
            commits: BTreeSet::new(),
            pending: Vec::new(),
            writers,
        })
    }

    fn skip(&mut self, reason: String) {
        *self.manifest.skipped.entry(reason).or_default() += 1;
    }

    fn take(&mut self, event: SourceEvent) -> Result<()> {
        if let Some(report) = self.manifest.sources.last_mut() {
            report.rows += 1;
        }
        let unit = match event {
            SourceEvent::Skipped(skip) => {
                if skip.malformed && self.opts.strict {
                    return Err(DataError::Malformed {
                        location: skip.location,
                        reason: skip.reason,
                    });
                }
                self.skip(skip.reason);
                return Ok(());
            }
            SourceEvent::Unit(unit) => unit,
        };
        let source = unit.source.as_str();
        if let Some(owner) = self.claims.claim(&unit.commit, unit.source) {
            self.skip(format!(
                "{source}: duplicate commit (kept from {})",
                owner.as_str()
            ));
            return Ok(());
        }
        if !self.opts.languages.contains(&unit.language) {
            self.skip(format!("{source}: language not selected"));
            return Ok(());
        }
        if !self.opts.cwes.is_empty() && !unit.cwe_ids.iter().any(|c| self.opts.cwes.contains(c)) {
            self.skip(format!("{source}: CWE not selected"));
            return Ok(());
        }
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        unit.code.hash(&mut hasher);
        if !self
            .seen_files
            .insert((unit.commit.clone(), unit.file_path.clone(), hasher.finish()))
        {
            self.skip(format!("{source}: duplicate file of the same commit"));
            return Ok(());
        }
        if let Some(report) = self.manifest.sources.last_mut() {
            report.units += 1;
        }
        self.commits.insert(unit.commit.clone());
        self.pending.push(*unit);
        if self.pending.len() >= BATCH {
            self.flush_pending()?;
        }
        Ok(())
    }

    /// Cut the pending units in parallel (one parser per worker), then write them in order,
    /// so the output does not depend on the thread count.
    fn flush_pending(&mut self) -> Result<()> {
        let units = std::mem::take(&mut self.pending);
        let granularities = &self.opts.granularities;
        let needs_cut = |unit: &Unit| {
            granularities.iter().any(|g| {
                *g == Granularity::Block
                    || (*g == Granularity::Function && unit.scope == Scope::File)
            })
        };
        let cuts: Vec<Option<Option<Cut>>> = units
            .par_iter()
            .map_init(Extractor::new, |extractor, unit| {
                needs_cut(unit).then(|| {
                    extractor
                        .as_mut()
                        .ok()
                        .and_then(|e| e.cut(&unit.code, unit.language, &unit.changed_lines))
                })
            })
            .collect();
        for (unit, cut) in units.iter().zip(cuts) {
            self.write_items(unit, cut)?;
        }
        Ok(())
    }

    /// `cut`: `None` when no granularity needs one; `Some(None)` when tree-sitter gave no tree.
    fn write_items(&mut self, unit: &Unit, cut: Option<Option<Cut>>) -> Result<()> {
        let lines: Vec<&str> = unit
            .code
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        let cut = if let Some(cut) = cut {
            let bad = cut.as_ref().is_none_or(|c| c.parse_error);
            if bad {
                self.manifest.parse_errors += 1;
                if self.manifest.parse_error_examples.len() < 20 {
                    self.manifest.parse_error_examples.push(format!(
                        "{} {} {}",
                        unit.source.as_str(),
                        unit.commit,
                        unit.file_path
                    ));
                }
            }
            cut
        } else {
            None
        };
        let whole = Span {
            start_line: 1,
            end_line: unit.code.lines().count().max(1) as u32,
            changed_lines: unit.changed_lines.clone(),
        };
        for i in 0..self.writers.len() {
            let g = self.writers[i].0;
            let spans: Vec<Span> = match (g, unit.scope) {
                (Granularity::File, Scope::File) => vec![whole.clone()],
                (Granularity::File, Scope::Function) => {
                    *self
                        .manifest
                        .not_applicable
                        .entry(format!(
                            "{}: no file text (file granularity)",
                            unit.source.as_str()
                        ))
                        .or_default() += 1;
                    Vec::new()
                }
                (Granularity::Function, Scope::Function) => vec![whole.clone()],
                (Granularity::Function, Scope::File) => cut
                    .as_ref()
                    .map(|c| c.functions.clone())
                    .unwrap_or_default(),
                (Granularity::Block, _) => {
                    cut.as_ref().map(|c| c.blocks.clone()).unwrap_or_default()
                }
                (Granularity::Line, _) => unit
                    .changed_lines
                    .iter()
                    .filter(|&&l| {
                        lines
                            .get(l as usize - 1)
                            .is_some_and(|t| !t.trim().is_empty())
                    })
                    .map(|&l| Span {
                        start_line: l,
                        end_line: l,
                        changed_lines: vec![l],
                    })
                    .collect(),
            };
            if spans.is_empty() && g != Granularity::File {
                *self
                    .manifest
                    .not_applicable
                    .entry(format!(
                        "{}: no {} item for the changed lines",
                        unit.source.as_str(),
                        g.as_str()
                    ))
                    .or_default() += 1;
            }
            for span in spans {
                let record = to_record(unit, g, &span, &lines);
                let (_, path, writer) = &mut self.writers[i];
                serde_json::to_writer(&mut *writer, &record).map_err(|e| DataError::Io {
                    path: path.clone(),
                    source: e.into(),
                })?;
                writer.write_all(b"\n").map_err(io_err(path.as_path()))?;
            }
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Manifest> {
        self.flush_pending()?;
        let train_set =
            split::train_commits(&self.commits, self.opts.train_fraction, self.opts.seed);
        self.manifest.commits = SplitCounts {
            train: train_set.len() as u64,
            validation: (self.commits.len() - train_set.len()) as u64,
        };
        let out = &self.opts.out;
        for (g, unsplit, mut writer) in std::mem::take(&mut self.writers) {
            writer.flush().map_err(io_err(&unsplit))?;
            drop(writer);
            let finals = [
                out.join(output_name("train", g)),
                out.join(output_name("validation", g)),
            ];
            let temps = finals.clone().map(|p| tmp_path(&p));
            let (train, validation) =
                split::distribute(&unsplit, &temps[0], &temps[1], &train_set)?;
            for (tmp, fin) in temps.iter().zip(&finals) {
                fs::rename(tmp, fin).map_err(io_err(fin))?;
            }
            fs::remove_file(&unsplit).map_err(io_err(&unsplit))?;
            self.manifest
                .items
                .insert(g.as_str().into(), SplitCounts { train, validation });
        }
        let manifest_path = out.join("manifest.json");
        let tmp = tmp_path(&manifest_path);
        let json = serde_json::to_string_pretty(&self.manifest).map_err(|e| DataError::Io {
            path: tmp.clone(),
            source: e.into(),
        })?;
        fs::write(&tmp, json + "\n").map_err(io_err(&tmp))?;
        fs::rename(&tmp, &manifest_path).map_err(io_err(&manifest_path))?;
        Ok(self.manifest)
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

fn to_record(unit: &Unit, g: Granularity, span: &Span, lines: &[&str]) -> Record {
    let text = if g == Granularity::File {
        unit.code.clone()
    } else {
        let from = span.start_line.saturating_sub(1) as usize;
        let to = (span.end_line as usize).min(lines.len());
        lines
            .get(from..to)
            .map(|ls| ls.join("\n"))
            .unwrap_or_default()
    };
    let ranged = g != Granularity::File;
    Record {
        text,
        commit: unit.commit.clone(),
        repository: unit.repository.clone(),
        file_path: unit.file_path.clone(),
        cwe_ids: unit.cwe_ids.clone(),
        cve_ids: unit.cve_ids.clone(),
        language: unit.language.as_str().into(),
        granularity: g.as_str().into(),
        changed_lines: span.changed_lines.clone(),
        source: unit.source.as_str().into(),
        line_numbers: match unit.scope {
            Scope::File => "file".into(),
            Scope::Function => "function".into(),
        },
        start_line: ranged.then_some(span.start_line),
        end_line: ranged.then_some(span.end_line),
    }
}
