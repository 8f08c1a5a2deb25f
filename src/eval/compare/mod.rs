//! `sectune eval compare`: a base run against a tuned run. The summary's kind decides the test:
//! an `eval humaneval` summary gives Fisher's exact test per task; an `eval scenarios` summary
//! gives it per scenario, CWE and language on the valid and the secure ratio. Both report Wilson
//! 95% intervals beside the counts.

mod humaneval;
mod scenarios;

use std::path::Path;

use anyhow::{bail, Context, Result};

pub use humaneval::{compare, Comparison, TaskComparison, TaskCount};
pub use scenarios::{
    compare_group, compare_scenarios, matched, significant_shifts, GroupComparison, GroupCount,
    ScenarioComparison, Shifts,
};

use crate::eval::stats::Ratio;

/// p-values under this count as significant in the printed tallies.
pub const SIGNIFICANCE: f64 = 0.05;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Humaneval,
    Scenarios,
}

fn read_summary(path: &Path) -> Result<(Kind, serde_json::Value)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{}: not JSON; pass a summary.json", path.display()))?;
    let kind = if value.get("per_task").is_some() {
        Kind::Humaneval
    } else if scenarios::rows(&value).get("per_scenario").is_some() {
        Kind::Scenarios
    } else {
        bail!(
            "{}: neither an `eval humaneval` nor an `eval scenarios` summary.json (it has no \
             per_task or per_scenario field)",
            path.display()
        );
    };
    Ok((kind, value))
}

pub fn run(base: &Path, tuned: &Path, json: bool) -> Result<()> {
    let (base_kind, base_value) = read_summary(base)?;
    let (tuned_kind, tuned_value) = read_summary(tuned)?;
    if base_kind != tuned_kind {
        bail!(
            "{} is an `eval {}` summary but {} is an `eval {}` one; compare runs of the same \
             evaluation",
            base.display(),
            name(base_kind),
            tuned.display(),
            name(tuned_kind)
        );
    }
    match base_kind {
        Kind::Humaneval => humaneval::run(
            humaneval::parse(base, base_value)?,
            humaneval::parse(tuned, tuned_value)?,
            json,
        ),
        Kind::Scenarios => scenarios::run(
            scenarios::parse(base, base_value)?,
            scenarios::parse(tuned, tuned_value)?,
            json,
        ),
    }
}

fn name(kind: Kind) -> &'static str {
    match kind {
        Kind::Humaneval => "humaneval",
        Kind::Scenarios => "scenarios",
    }
}

/// `s/n = v [low, high]`, or a note when there was nothing to count.
pub(crate) fn show_ratio(r: &Option<Ratio>) -> String {
    match r {
        Some(r) => format!(
            "{}/{} = {:.4} [{:.4}, {:.4}]",
            r.successes, r.total, r.value, r.low, r.high
        ),
        None => "no samples".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_kind_decides_the_comparison_and_mixed_kinds_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let humaneval = write(
            "he.json",
            r#"{"per_task": {"CPP/0": {"n": 2, "passed": 1}}}"#,
        );
        let scenarios = write(
            "sc.json",
            r#"{"total": {"generated": 1, "valid": 1, "secure": 0},
                "per_language": {}, "per_cwe": {},
                "per_scenario": {"s": {"generated": 1, "valid": 1, "secure": 0}}}"#,
        );
        let other = write("other.json", r#"{"steps": 3}"#);
        assert_eq!(read_summary(&humaneval).unwrap().0, Kind::Humaneval);
        assert_eq!(read_summary(&scenarios).unwrap().0, Kind::Scenarios);
        run(&humaneval, &humaneval, true).unwrap();
        run(&scenarios, &scenarios, true).unwrap();
        let mixed = run(&humaneval, &scenarios, false).unwrap_err().to_string();
        assert!(
            mixed.contains("he.json") && mixed.contains("sc.json"),
            "{mixed}"
        );
        let unknown = run(&other, &other, false).unwrap_err().to_string();
        assert!(unknown.contains("other.json") && unknown.contains("per_scenario"));
    }
}
