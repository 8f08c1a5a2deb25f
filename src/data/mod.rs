//! `sectune dataset`: fine-tuning data from vulnerability-fixing commits.
//!
//! Sources (CVEfixes SQLite, BigVul CSV, JSONL, a local git repository) each yield [`Unit`]s: the
//! kept side (fixed by default) of one changed C/C++ file (or one function for BigVul) with the
//! changed line numbers. The pipeline de-duplicates commits across sources, cuts every unit at the
//! requested granularities with tree-sitter, and splits by commit. See docs/dataset.md.

pub mod bigvul;
pub mod cli;
pub mod contamination;
pub mod cvefixes;
pub mod dedup;
pub mod diff;
pub mod git_source;
pub mod granularity;
pub mod ids;
pub mod jsonl_source;
pub mod pipeline;
pub mod record;
pub mod rng;
pub mod split;
pub mod stats;
pub mod subsets;

use std::path::PathBuf;

/// Source language of a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lang {
    C,
    Cpp,
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::C => "C",
            Lang::Cpp => "C++",
        }
    }
}

/// Where a unit came from; also the record's `source` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SourceKind {
    Cvefixes,
    Bigvul,
    Jsonl,
    Git,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Cvefixes => "cvefixes",
            SourceKind::Bigvul => "bigvul",
            SourceKind::Jsonl => "jsonl",
            SourceKind::Git => "git",
        }
    }
}

/// Which side of the fix to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Side {
    /// Code after the fix (the study's choice).
    Fixed,
    /// Code before the fix.
    Vulnerable,
}

/// How far one item reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Granularity {
    File,
    Function,
    Block,
    Line,
}

impl Granularity {
    pub const ALL: [Granularity; 4] = [
        Granularity::File,
        Granularity::Function,
        Granularity::Block,
        Granularity::Line,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Granularity::File => "file",
            Granularity::Function => "function",
            Granularity::Block => "block",
            Granularity::Line => "line",
        }
    }
}

/// What the text of a unit is: a whole file, or only one function (BigVul has no file text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    File,
    Function,
}

/// The kept side of one changed file (or function) of one commit, ready to cut.
#[derive(Debug, Clone)]
pub struct Unit {
    pub source: SourceKind,
    /// Lower-case hex SHA, full or abbreviated (at least 7 digits).
    pub commit: String,
    pub repository: String,
    pub file_path: String,
    pub cwe_ids: Vec<String>,
    pub cve_ids: Vec<String>,
    pub language: Lang,
    pub code: String,
    /// 1-based line numbers in `code`, sorted, unique.
    pub changed_lines: Vec<u32>,
    pub scope: Scope,
}

/// A source row that produced no unit, and why.
#[derive(Debug, Clone)]
pub struct Skip {
    /// Short, stable reason, used as a key in manifest.json.
    pub reason: String,
    /// Where (file and row / commit), for `--strict` errors.
    pub location: String,
    /// Broken input (an error under `--strict`), as opposed to a row filtered out on purpose.
    pub malformed: bool,
}

impl Skip {
    pub fn filtered(reason: &str, location: impl Into<String>) -> Self {
        Skip {
            reason: reason.to_string(),
            location: location.into(),
            malformed: false,
        }
    }
    pub fn malformed(reason: &str, location: impl Into<String>) -> Self {
        Skip {
            reason: reason.to_string(),
            location: location.into(),
            malformed: true,
        }
    }
}

/// What a source hands the pipeline for each row.
pub enum SourceEvent {
    Unit(Box<Unit>),
    Skipped(Skip),
}

/// Errors of the dataset library; every message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path}: SQLite error: {source}; is it a CVEfixes database (sqlite3 CVEfixes.db < dump)?"
    )]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: table `{table}` is missing; point --cvefixes at the CVEfixes SQLite database (docs/dataset.md)")]
    MissingTable { path: PathBuf, table: String },
    #[error("{path}: column `{column}` is missing from the header; expected the BigVul MSR_data_cleaned.csv layout (docs/dataset.md)")]
    MissingColumn { path: PathBuf, column: String },
    #[error("{path}: CSV error: {source}")]
    Csv { path: PathBuf, source: csv::Error },
    #[error(
        "{location}: malformed input ({reason}); fix the row or drop --strict to skip and count it"
    )]
    Malformed { location: String, reason: String },
    #[error("{path} already exists; pass --force to overwrite it or choose another output folder")]
    OutputExists { path: PathBuf },
    #[error("git {command} in {repo} failed: {stderr}; is it a git repository with that commit?")]
    Git {
        repo: PathBuf,
        command: String,
        stderr: String,
    },
    #[error("{path}:{line}: invalid JSON: {source}")]
    Json {
        path: PathBuf,
        line: u64,
        source: serde_json::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("tree-sitter: {0}; rebuild sectune (grammar version mismatch)")]
    Grammar(String),
}

pub type Result<T, E = DataError> = std::result::Result<T, E>;

pub(crate) fn io_err(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> DataError {
    let path = path.into();
    move |source| DataError::Io { path, source }
}
