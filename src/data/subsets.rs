//! `dataset subsets`: nested random subsets of one CWE's commits (step, 2·step, …, all), each
//! holding the previous one, seeded; written as data-set folders with their file counts
//! (the study's size experiment, Table 5).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::record::{data_files, for_each_line, for_each_record, RecordMeta};
use super::rng::SplitMix64;
use super::{io_err, DataError, Result};

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Subset {
    pub commits: usize,
    pub files: usize,
    pub folder: String,
    /// Items per output file name (`train-file.jsonl` …).
    pub items: BTreeMap<String, u64>,
}

/// Subset sizes: step, 2·step, … below `total`, then `total`.
pub fn sizes(total: usize, step: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (1..)
        .map(|i| i * step.max(1))
        .take_while(|&k| k < total)
        .collect();
    if total > 0 {
        out.push(total);
    }
    out
}

pub fn build(
    data: &Path,
    cwes: &[String],
    step: usize,
    seed: u64,
    out: &Path,
    force: bool,
) -> Result<Vec<Subset>> {
    let files = data_files(data)?;
    // Commits of the chosen CWEs, in a seeded random order: subset k is the first k.
    let mut chosen = BTreeSet::new();
    for f in &files {
        for_each_record(&f.path, |_, r: RecordMeta| {
            if r.cwe_ids.iter().any(|c| cwes.contains(c)) {
                chosen.insert(r.commit);
            }
            Ok(())
        })?;
    }
    if chosen.is_empty() {
        return Err(DataError::Invalid {
            path: data.to_path_buf(),
            reason: format!(
                "no commit labelled {}; check --cwe or the data folder",
                cwes.join(", ")
            ),
        });
    }
    let mut order: Vec<String> = chosen.into_iter().collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let rank: HashMap<String, usize> = order
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, c)| (c, i))
        .collect();
    let ks = sizes(order.len(), step);
    let folders: Vec<PathBuf> = ks
        .iter()
        .map(|k| out.join(format!("commits-{k:04}")))
        .collect();
    let summary_path = out.join("subsets.json");
    if !force {
        if let Some(p) = folders.iter().chain([&summary_path]).find(|p| p.exists()) {
            return Err(DataError::OutputExists { path: p.clone() });
        }
    }
    let mut subsets: Vec<Subset> = ks
        .iter()
        .zip(&folders)
        .map(|(&k, folder)| Subset {
            commits: k,
            files: 0,
            folder: folder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            items: BTreeMap::new(),
        })
        .collect();
    let mut file_sets: Vec<BTreeSet<(String, String)>> = vec![BTreeSet::new(); ks.len()];
    for folder in &folders {
        fs::create_dir_all(folder).map_err(io_err(folder))?;
    }
    for f in &files {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut writers = Vec::new();
        for folder in &folders {
            let tmp = folder.join(format!(".{name}.tmp"));
            writers.push((
                tmp.clone(),
                BufWriter::new(File::create(&tmp).map_err(io_err(&tmp))?),
            ));
        }
        for_each_line(&f.path, |line_no, line| {
            let meta: RecordMeta =
                serde_json::from_str(line).map_err(|source| DataError::Json {
                    path: f.path.clone(),
                    line: line_no,
                    source,
                })?;
            let Some(&r) = rank.get(&meta.commit) else {
                return Ok(());
            };
            for i in (0..ks.len()).filter(|&i| r < ks[i]) {
                let (tmp, w) = &mut writers[i];
                writeln!(w, "{line}").map_err(io_err(tmp.as_path()))?;
                *subsets[i].items.entry(name.clone()).or_default() += 1;
                file_sets[i].insert((meta.commit.clone(), meta.file_path.clone()));
            }
            Ok(())
        })?;
        for ((tmp, mut w), folder) in writers.into_iter().zip(&folders) {
            w.flush().map_err(io_err(&tmp))?;
            let fin = folder.join(&name);
            fs::rename(&tmp, &fin).map_err(io_err(&fin))?;
        }
    }
    for (s, set) in subsets.iter_mut().zip(file_sets) {
        s.files = set.len();
    }
    let tmp = out.join(".subsets.json.tmp");
    let json = serde_json::to_string_pretty(&subsets).map_err(|e| DataError::Io {
        path: tmp.clone(),
        source: e.into(),
    })?;
    fs::write(&tmp, json + "\n").map_err(io_err(&tmp))?;
    fs::rename(&tmp, &summary_path).map_err(io_err(&summary_path))?;
    Ok(subsets)
}

pub fn markdown(subsets: &[Subset]) -> String {
    let mut out = String::from("| commits | files | folder |\n|---:|---:|---|\n");
    for s in subsets {
        out.push_str(&format!("| {} | {} | {} |\n", s.commits, s.files, s.folder));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_step_then_all() {
        assert_eq!(sizes(507, 100), vec![100, 200, 300, 400, 500, 507]);
        assert_eq!(sizes(200, 100), vec![100, 200]);
        assert_eq!(sizes(3, 100), vec![3]);
        assert!(sizes(0, 100).is_empty());
    }
}
