//! `dataset contamination`: n-gram overlap between training items and evaluation prompts.
//!
//! Code is compared as tokens (identifier/number runs and single punctuation characters), so
//! whitespace and layout never matter. Every run of shared n-grams on one diagonal is one hit,
//! reported with both locations.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::record::{data_files, for_each_line};
use super::{io_err, DataError, Result};

/// A prompt of the scenario suite (`scenario.toml` keys id, cwe, language, description, prompt).
#[derive(Debug, Clone)]
pub struct Scenario {
    pub id: String,
    pub cwe: String,
    pub language: String,
    pub description: String,
    pub prompt_path: PathBuf,
    pub prompt: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hit {
    pub scenario: String,
    pub prompt_file: String,
    pub prompt_line: u32,
    pub data_file: String,
    /// Line of the record in the JSONL file.
    pub data_record: u64,
    pub commit: String,
    pub file_path: String,
    /// Line of the overlap in the item's source file (or function), when the record says where.
    pub item_line: u32,
    /// Length of the shared run in tokens (≥ n).
    pub tokens: usize,
    pub excerpt: String,
}

/// Tokens of `code` with their 1-based line.
pub fn tokenize(code: &str) -> Vec<(&str, u32)> {
    let mut out = Vec::new();
    let mut line = 1u32;
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line += 1;
            i += 1;
        } else if b.is_ascii_whitespace() {
            i += 1;
        } else if b.is_ascii_alphanumeric() || b == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            out.push((&code[start..i], line));
        } else {
            let len = code[i..].chars().next().map_or(1, char::len_utf8);
            out.push((&code[i..i + len], line));
            i += len;
        }
    }
    out
}

/// Every `scenario.toml` under `dir` (any depth), sorted by path.
pub fn load_scenarios(dir: &Path) -> Result<Vec<Scenario>> {
    let mut tomls = Vec::new();
    collect_tomls(dir, &mut tomls)?;
    tomls.sort();
    if tomls.is_empty() {
        return Err(DataError::Invalid {
            path: dir.to_path_buf(),
            reason:
                "no scenario.toml found; pass the scenario suite folder (one folder per scenario)"
                    .into(),
        });
    }
    tomls.iter().map(|p| load_scenario(p)).collect()
}

fn collect_tomls(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let path = entry.map_err(io_err(dir))?.path();
        if path.is_dir() {
            collect_tomls(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "scenario.toml") {
            out.push(path);
        }
    }
    Ok(())
}

fn load_scenario(toml_path: &Path) -> Result<Scenario> {
    let invalid = |reason: String| DataError::Invalid {
        path: toml_path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(toml_path).map_err(io_err(toml_path))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| invalid(format!("invalid TOML: {e}")))?;
    let field = |key: &str| -> Option<String> {
        table.get(key).map(|v| match v {
            toml::Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let id = field("id").ok_or_else(|| invalid("missing key `id`; add id = \"...\"".into()))?;
    let prompt_name = match table.get("prompt") {
        Some(toml::Value::String(s)) => s.clone(),
        _ => {
            return Err(invalid(
                "missing string key `prompt` (file name of the prompt, e.g. \"prompt.c\")".into(),
            ))
        }
    };
    let folder = toml_path.parent().unwrap_or(Path::new("."));
    let prompt_path = folder.join(&prompt_name);
    let prompt = std::fs::read_to_string(&prompt_path).map_err(io_err(&prompt_path))?;
    Ok(Scenario {
        id,
        cwe: field("cwe").unwrap_or_default(),
        language: field("language").unwrap_or_default(),
        description: field("description").unwrap_or_default(),
        prompt_path,
        prompt,
    })
}

fn token_hash(t: &str) -> u64 {
    // FNV-1a: stable across runs (std's hasher is randomly seeded).
    t.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn window_hash(hashes: &[u64]) -> u64 {
    hashes.iter().fold(0u64, |h, &t| {
        h.rotate_left(5) ^ t.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    })
}

#[derive(Deserialize)]
struct Item {
    text: String,
    #[serde(default)]
    commit: String,
    #[serde(default)]
    file_path: String,
    #[serde(default)]
    start_line: Option<u32>,
}

/// All overlaps of at least `n` tokens between items under `data` and the scenario prompts.
pub fn check(scenarios: &[Scenario], data: &Path, n: usize) -> Result<Vec<Hit>> {
    let n = n.max(1);
    let prompts: Vec<Vec<(&str, u32)>> = scenarios.iter().map(|s| tokenize(&s.prompt)).collect();
    let mut index: HashMap<u64, Vec<(usize, usize)>> = HashMap::new();
    for (s, toks) in prompts.iter().enumerate() {
        let hashes: Vec<u64> = toks.iter().map(|t| token_hash(t.0)).collect();
        for j in 0..hashes.len().saturating_sub(n - 1) {
            index
                .entry(window_hash(&hashes[j..j + n]))
                .or_default()
                .push((s, j));
        }
    }
    let mut hits = Vec::new();
    for file in data_files(data)? {
        for_each_line(&file.path, |record_line, line| {
            let item: Item = serde_json::from_str(line).map_err(|source| DataError::Json {
                path: file.path.clone(),
                line: record_line,
                source,
            })?;
            let toks = tokenize(&item.text);
            let hashes: Vec<u64> = toks.iter().map(|t| token_hash(t.0)).collect();
            // Runs of matching windows by (scenario, diagonal j - i): (start i, start j, last i).
            let mut runs: BTreeMap<(usize, i64), (usize, usize, usize)> = BTreeMap::new();
            let mut done = Vec::new();
            for i in 0..hashes.len().saturating_sub(n - 1) {
                let Some(cands) = index.get(&window_hash(&hashes[i..i + n])) else {
                    continue;
                };
                for &(s, j) in cands {
                    let same = toks[i..i + n]
                        .iter()
                        .zip(&prompts[s][j..j + n])
                        .all(|(a, b)| a.0 == b.0);
                    if !same {
                        continue;
                    }
                    let key = (s, j as i64 - i as i64);
                    match runs.get_mut(&key) {
                        Some(run) if run.2 + 1 == i => run.2 = i,
                        _ => {
                            if let Some(old) = runs.insert(key, (i, j, i)) {
                                done.push((s, old));
                            }
                        }
                    }
                }
            }
            done.extend(runs.into_iter().map(|((s, _), run)| (s, run)));
            done.sort();
            for (s, (i0, j0, i1)) in done {
                let len = i1 - i0 + n;
                let excerpt: Vec<&str> = toks[i0..i0 + len].iter().map(|t| t.0).collect();
                hits.push(Hit {
                    scenario: scenarios[s].id.clone(),
                    prompt_file: scenarios[s].prompt_path.display().to_string(),
                    prompt_line: prompts[s][j0].1,
                    data_file: file.path.display().to_string(),
                    data_record: record_line,
                    commit: item.commit.clone(),
                    file_path: item.file_path.clone(),
                    item_line: item.start_line.unwrap_or(1) + toks[i0].1 - 1,
                    tokens: len,
                    excerpt: excerpt.join(" ").chars().take(200).collect(),
                });
            }
            Ok(())
        })?;
    }
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_ignore_layout() {
        let a: Vec<&str> = tokenize("int  x=a->b;\n")
            .into_iter()
            .map(|t| t.0)
            .collect();
        let b: Vec<&str> = tokenize("int x = a - > b ;")
            .into_iter()
            .map(|t| t.0)
            .collect();
        assert_eq!(a, b);
        assert_eq!(a, vec!["int", "x", "=", "a", "-", ">", "b", ";"]);
        assert_eq!(tokenize("a\n\nb")[1], ("b", 3));
    }
}
