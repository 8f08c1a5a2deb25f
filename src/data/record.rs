//! The output record: one JSON object per line in `train-<g>.jsonl` / `validation-<g>.jsonl`.
//! Training reads only `text`; the rest is provenance for stats, subsets and contamination.
//! Every field is documented in docs/dataset.md.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The code to learn.
    pub text: String,
    pub commit: String,
    pub repository: String,
    pub file_path: String,
    pub cwe_ids: Vec<String>,
    pub cve_ids: Vec<String>,
    /// `C` or `C++`.
    pub language: String,
    /// `file`, `function`, `block` or `line`.
    pub granularity: String,
    /// Changed lines that fall inside this item, numbered as `line_numbers` says.
    pub changed_lines: Vec<u32>,
    /// `cvefixes`, `bigvul`, `jsonl` or `git`.
    pub source: String,
    /// `file`: line numbers count in the fixed file; `function`: in the function text
    /// (BigVul, which has no file text).
    pub line_numbers: String,
    /// First and last line of the item (function, block and line items).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
}

/// The provenance subset that stats, subsets and contamination need (skips parsing `text` twice).
#[derive(Debug, Clone, Deserialize)]
pub struct RecordMeta {
    pub commit: String,
    pub repository: String,
    pub file_path: String,
    pub cwe_ids: Vec<String>,
    pub cve_ids: Vec<String>,
    pub granularity: String,
    pub source: String,
}

/// One output file of a built data set.
#[derive(Debug, Clone)]
pub struct DataFile {
    /// `train` or `validation`.
    pub split: String,
    pub granularity: String,
    pub path: std::path::PathBuf,
}

/// The `train-<g>.jsonl` / `validation-<g>.jsonl` files of `dir`, sorted by name; a single
/// `.jsonl` file is returned as is (split and granularity read from its name when possible).
pub fn data_files(path: &std::path::Path) -> super::Result<Vec<DataFile>> {
    let parse = |p: std::path::PathBuf| -> Option<DataFile> {
        let name = p.file_name()?.to_str()?.to_string();
        let stem = name.strip_suffix(".jsonl")?;
        let (split, g) = stem.split_once('-').unwrap_or((stem, ""));
        Some(DataFile {
            split: split.to_string(),
            granularity: g.to_string(),
            path: p,
        })
    };
    if path.is_file() {
        return parse(path.to_path_buf())
            .ok_or_else(|| super::DataError::Invalid {
                path: path.to_path_buf(),
                reason: "expected a .jsonl file or a folder made by `sectune dataset build`".into(),
            })
            .map(|f| vec![f]);
    }
    let entries = std::fs::read_dir(path).map_err(super::io_err(path))?;
    let mut files = Vec::new();
    for entry in entries {
        let p = entry.map_err(super::io_err(path))?.path();
        if let Some(f) = parse(p) {
            if f.split == "train" || f.split == "validation" {
                files.push(f);
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    if files.is_empty() {
        return Err(super::DataError::Invalid {
            path: path.to_path_buf(),
            reason: "no train-<g>.jsonl / validation-<g>.jsonl files; run `sectune dataset build --out` first".into(),
        });
    }
    Ok(files)
}

/// Call `f` with each parsed line of `file` (line numbers 1-based).
pub fn for_each_record<T: serde::de::DeserializeOwned>(
    file: &std::path::Path,
    mut f: impl FnMut(u64, T) -> super::Result<()>,
) -> super::Result<()> {
    for_each_line(file, |line_no, line| {
        let rec = serde_json::from_str(line).map_err(|source| super::DataError::Json {
            path: file.to_path_buf(),
            line: line_no,
            source,
        })?;
        f(line_no, rec)
    })
}

/// Call `f` with each non-blank line of `file` (line numbers 1-based).
pub fn for_each_line(
    file: &std::path::Path,
    mut f: impl FnMut(u64, &str) -> super::Result<()>,
) -> super::Result<()> {
    use std::io::BufRead;
    let reader = std::io::BufReader::new(std::fs::File::open(file).map_err(super::io_err(file))?);
    for (idx, line) in reader.lines().enumerate() {
        let line = line.map_err(super::io_err(file))?;
        if !line.trim().is_empty() {
            f(idx as u64 + 1, &line)?;
        }
    }
    Ok(())
}
