//! `dataset stats`: per source and combined — commits, projects, CVEs, CWEs, files, and items
//! per granularity (the study's Tables 1 and 4) — as markdown or JSON.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::record::{data_files, for_each_record, RecordMeta};
use super::Result;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct SourceStats {
    pub commits: usize,
    pub projects: usize,
    pub cves: usize,
    pub cwes: usize,
    /// Distinct (commit, file path); for BigVul the files its functions come from.
    pub files: usize,
    /// Items per granularity, train + validation.
    pub items: BTreeMap<String, u64>,
}

#[derive(Default)]
struct Sets {
    commits: BTreeSet<String>,
    projects: BTreeSet<String>,
    cves: BTreeSet<String>,
    cwes: BTreeSet<String>,
    files: BTreeSet<(String, String)>,
    items: BTreeMap<String, u64>,
}

impl Sets {
    fn add(&mut self, r: &RecordMeta) {
        if !self.commits.contains(&r.commit) {
            self.commits.insert(r.commit.clone());
        }
        if !r.repository.is_empty() && !self.projects.contains(&r.repository) {
            self.projects.insert(r.repository.clone());
        }
        self.cves.extend(r.cve_ids.iter().cloned());
        self.cwes.extend(r.cwe_ids.iter().cloned());
        self.files.insert((r.commit.clone(), r.file_path.clone()));
        *self.items.entry(r.granularity.clone()).or_default() += 1;
    }

    fn stats(self, granularities: &BTreeSet<String>) -> SourceStats {
        let mut items = self.items;
        for g in granularities {
            items.entry(g.clone()).or_default();
        }
        SourceStats {
            commits: self.commits.len(),
            projects: self.projects.len(),
            cves: self.cves.len(),
            cwes: self.cwes.len(),
            files: self.files.len(),
            items,
        }
    }
}

/// Stats by source name, plus `all` for the combined data.
pub fn compute(data: &Path) -> Result<BTreeMap<String, SourceStats>> {
    let mut by_source: BTreeMap<String, Sets> = BTreeMap::new();
    let mut granularities = BTreeSet::new();
    for file in data_files(data)? {
        granularities.insert(file.granularity.clone());
        for_each_record(&file.path, |_, r: RecordMeta| {
            by_source.entry(r.source.clone()).or_default().add(&r);
            by_source.entry("all".into()).or_default().add(&r);
            Ok(())
        })?;
    }
    Ok(by_source
        .into_iter()
        .map(|(k, v)| (k, v.stats(&granularities)))
        .collect())
}

pub fn markdown(stats: &BTreeMap<String, SourceStats>) -> String {
    let granularities: BTreeSet<&String> = stats.values().flat_map(|s| s.items.keys()).collect();
    let order = ["file", "function", "block", "line"];
    let mut gs: Vec<&String> = granularities.into_iter().collect();
    gs.sort_by_key(|g| order.iter().position(|o| o == g).unwrap_or(order.len()));
    let mut out = String::from("| source | commits | projects | CVEs | CWEs | files |");
    for g in &gs {
        out.push_str(&format!(" {g} items |"));
    }
    out.push_str("\n|---|---:|---:|---:|---:|---:|");
    out.push_str(&"---:|".repeat(gs.len()));
    out.push('\n');
    let rows = stats
        .iter()
        .filter(|(k, _)| *k != "all")
        .chain(stats.get_key_value("all"));
    for (name, s) in rows {
        out.push_str(&format!(
            "| {name} | {} | {} | {} | {} | {} |",
            s.commits, s.projects, s.cves, s.cwes, s.files
        ));
        for g in &gs {
            out.push_str(&format!(" {} |", s.items.get(*g).copied().unwrap_or(0)));
        }
        out.push('\n');
    }
    if stats.contains_key("bigvul") {
        out.push_str(
            "\nBigVul rows are functions: it has no file items; its function items are `func_after`, \
             its block/line items come from the changed lines of `func_after`, and its files are the \
             distinct (commit, file_name) pairs of those functions.\n",
        );
    }
    out
}
