//! Train/validation split by commit: every item of one commit lands on the same side.
//! Commits are sorted, shuffled with the seeded SplitMix64, and the first round(n·fraction)
//! go to train, so the split is exact and identical on every run and platform.

use std::collections::{BTreeSet, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::Deserialize;

use super::rng::SplitMix64;
use super::{io_err, DataError, Result};

/// The commits that go to train.
pub fn train_commits(
    commits: &BTreeSet<String>,
    train_fraction: f64,
    seed: u64,
) -> HashSet<String> {
    let mut order: Vec<&String> = commits.iter().collect();
    SplitMix64::new(seed).shuffle(&mut order);
    let n_train = ((commits.len() as f64) * train_fraction.clamp(0.0, 1.0)).round() as usize;
    order.into_iter().take(n_train).cloned().collect()
}

#[derive(Deserialize)]
struct CommitOnly {
    commit: String,
}

/// Copy each line of `unsplit` to `train` or `validation` by its commit; returns the counts.
pub fn distribute(
    unsplit: &Path,
    train: &Path,
    validation: &Path,
    train_set: &HashSet<String>,
) -> Result<(u64, u64)> {
    let reader = BufReader::new(File::open(unsplit).map_err(io_err(unsplit))?);
    let mut to_train = BufWriter::new(File::create(train).map_err(io_err(train))?);
    let mut to_val = BufWriter::new(File::create(validation).map_err(io_err(validation))?);
    let (mut n_train, mut n_val) = (0, 0);
    for (idx, line) in reader.lines().enumerate() {
        let line = line.map_err(io_err(unsplit))?;
        let rec: CommitOnly = serde_json::from_str(&line).map_err(|source| DataError::Json {
            path: unsplit.to_path_buf(),
            line: idx as u64 + 1,
            source,
        })?;
        let (out, path) = if train_set.contains(&rec.commit) {
            n_train += 1;
            (&mut to_train, train)
        } else {
            n_val += 1;
            (&mut to_val, validation)
        };
        writeln!(out, "{line}").map_err(io_err(path))?;
    }
    to_train.flush().map_err(io_err(train))?;
    to_val.flush().map_err(io_err(validation))?;
    Ok((n_train, n_val))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_fraction_and_seeded() {
        let commits: BTreeSet<String> = (0..20).map(|i| format!("{i:07x}")).collect();
        let a = train_commits(&commits, 0.9, 3);
        assert_eq!(a.len(), 18);
        assert_eq!(a, train_commits(&commits, 0.9, 3));
        assert_ne!(a, train_commits(&commits, 0.9, 4));
        assert!(a.iter().all(|c| commits.contains(c)));
    }
}
