//! Base vs tuned on a scenario suite: per scenario, CWE and language, Fisher's exact test on the
//! valid ratio (valid of generated) and on the secure ratio (judged not vulnerable of valid),
//! with Wilson 95% intervals. The study's question is both at once: more secure programs without
//! fewer valid ones.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{show_ratio, SIGNIFICANCE};
use crate::eval::stats::{fisher_exact, wilson95, Ratio};

/// The counts of one row of an `eval scenarios` summary that the ratios come from.
#[derive(Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupCount {
    pub generated: u64,
    pub valid: u64,
    pub secure: u64,
}

impl GroupCount {
    /// valid / generated.
    pub fn valid_ratio(&self) -> Option<f64> {
        (self.generated > 0).then(|| self.valid as f64 / self.generated as f64)
    }
    /// secure / valid.
    pub fn secure_ratio(&self) -> Option<f64> {
        (self.valid > 0).then(|| self.secure as f64 / self.valid as f64)
    }
}

/// The rows of a summary, as read.
#[derive(Deserialize)]
struct Rows {
    total: GroupCount,
    per_language: BTreeMap<String, GroupCount>,
    per_cwe: BTreeMap<String, GroupCount>,
    per_scenario: BTreeMap<String, GroupCount>,
}

/// One summary's rows, checked, and what decided its verdicts.
pub struct ScenarioSummary {
    /// The analyzers and compilers with their versions (`environment.tools`).
    judged_with: Option<serde_json::Value>,
    completion_rule: Option<serde_json::Value>,
    rows: Rows,
}

/// The counts of a summary.json: `eval scenarios` writes them under "summary", beside the
/// environment and timings.
pub(super) fn rows(doc: &serde_json::Value) -> &serde_json::Value {
    doc.get("summary").unwrap_or(doc)
}

/// An `eval scenarios` summary.json already read as JSON.
pub(super) fn parse(path: &Path, doc: serde_json::Value) -> Result<ScenarioSummary> {
    let s: Rows = serde_json::from_value(rows(&doc).clone()).with_context(|| {
        format!(
            "{}: not a summary.json written by `sectune eval scenarios --out`",
            path.display()
        )
    })?;
    let all = std::iter::once(("total", &s.total))
        .chain(s.per_language.iter().map(|(k, v)| (k.as_str(), v)))
        .chain(s.per_cwe.iter().map(|(k, v)| (k.as_str(), v)))
        .chain(s.per_scenario.iter().map(|(k, v)| (k.as_str(), v)));
    for (name, c) in all {
        if c.valid > c.generated || c.secure > c.valid {
            bail!(
                "{}: row {name} needs secure ≤ valid ≤ generated, has {}/{}/{}",
                path.display(),
                c.secure,
                c.valid,
                c.generated
            );
        }
    }
    Ok(ScenarioSummary {
        judged_with: doc.get("environment").and_then(|e| e.get("tools")).cloned(),
        completion_rule: rows(&doc).get("completion_rule").cloned(),
        rows: s,
    })
}

/// One row (a scenario, a CWE, a language or the total) in both runs.
#[derive(Serialize, Debug)]
pub struct GroupComparison {
    pub name: String,
    pub base: GroupCount,
    pub tuned: GroupCount,
    /// Two-sided Fisher p of [[valid, generated − valid]] base over tuned.
    pub valid_p: f64,
    /// Two-sided Fisher p of [[secure, valid − secure]] base over tuned.
    pub secure_p: f64,
    pub base_valid: Option<Ratio>,
    pub tuned_valid: Option<Ratio>,
    pub base_secure: Option<Ratio>,
    pub tuned_secure: Option<Ratio>,
}

/// Which way a significant difference went, tuned against base.
#[derive(Serialize, Debug, Default, PartialEq, Eq)]
pub struct Shifts {
    pub up: Vec<String>,
    pub down: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct ScenarioComparison {
    pub total: GroupComparison,
    pub per_language: Vec<GroupComparison>,
    pub per_cwe: Vec<GroupComparison>,
    pub per_scenario: Vec<GroupComparison>,
    /// Scenarios in only one run: left out of the per-scenario rows and tallies, but inside that
    /// run's CWE, language and total rows (which come from its summary as written).
    pub unmatched: Vec<String>,
    /// Scenarios whose valid ratio differs at p < 0.05.
    pub valid_shifts: Shifts,
    /// Scenarios whose secure ratio differs at p < 0.05.
    pub secure_shifts: Shifts,
    /// Differences in how the two runs were judged, which can move ratios on their own.
    pub caveats: Vec<String>,
}

/// One row in both runs: the counts, both Fisher tests and the Wilson intervals.
pub fn compare_group(name: &str, base: GroupCount, tuned: GroupCount) -> GroupComparison {
    GroupComparison {
        name: name.to_string(),
        base,
        tuned,
        valid_p: fisher_exact(
            base.valid,
            base.generated - base.valid,
            tuned.valid,
            tuned.generated - tuned.valid,
        ),
        secure_p: fisher_exact(
            base.secure,
            base.valid - base.secure,
            tuned.secure,
            tuned.valid - tuned.secure,
        ),
        base_valid: wilson95(base.valid, base.generated),
        tuned_valid: wilson95(tuned.valid, tuned.generated),
        base_secure: wilson95(base.secure, base.valid),
        tuned_secure: wilson95(tuned.secure, tuned.valid),
    }
}

/// Rows present in both maps, in key order; the names in only one go to `unmatched`.
pub fn matched(
    base: &BTreeMap<String, GroupCount>,
    tuned: &BTreeMap<String, GroupCount>,
    unmatched: &mut Vec<String>,
) -> Vec<GroupComparison> {
    let mut rows = Vec::new();
    for (name, b) in base {
        match tuned.get(name) {
            Some(t) => rows.push(compare_group(name, *b, *t)),
            None => unmatched.push(name.clone()),
        }
    }
    unmatched.extend(tuned.keys().filter(|k| !base.contains_key(*k)).cloned());
    rows
}

/// Whether tuned's `num / den` ratio is above base's (cross-multiplied: no division by zero).
fn tuned_higher(base: (u64, u64), tuned: (u64, u64)) -> bool {
    u128::from(tuned.0) * u128::from(base.1) > u128::from(base.0) * u128::from(tuned.1)
}

/// The rows whose valid ratio, then whose secure ratio, moved at p < 0.05, by direction.
pub fn significant_shifts(rows: &[GroupComparison]) -> (Shifts, Shifts) {
    let of = |p: fn(&GroupComparison) -> f64, ratio: fn(&GroupCount) -> (u64, u64)| {
        Shifts::of(
            rows.iter()
                .map(|r| (r.name.as_str(), p(r), ratio(&r.base), ratio(&r.tuned))),
        )
    };
    (
        of(|r| r.valid_p, |c| (c.valid, c.generated)),
        of(|r| r.secure_p, |c| (c.secure, c.valid)),
    )
}

impl Shifts {
    /// From (name, p, base (successes, total), tuned (successes, total)): the names with
    /// p < SIGNIFICANCE, by the direction the tuned ratio moved.
    pub fn of<'a>(rows: impl Iterator<Item = (&'a str, f64, (u64, u64), (u64, u64))>) -> Shifts {
        let mut s = Shifts::default();
        for (name, _, base, tuned) in rows.filter(|r| r.1 < SIGNIFICANCE) {
            match tuned_higher(base, tuned) {
                true => s.up.push(name.to_string()),
                false => s.down.push(name.to_string()),
            }
        }
        s
    }
}

pub fn compare_scenarios(base: &ScenarioSummary, tuned: &ScenarioSummary) -> ScenarioComparison {
    let mut unmatched = Vec::new();
    let (b, t) = (&base.rows, &tuned.rows);
    let per_scenario = matched(&b.per_scenario, &t.per_scenario, &mut unmatched);
    // CWE and language rows missing on one side are already named through their scenarios.
    let per_cwe = matched(&b.per_cwe, &t.per_cwe, &mut Vec::new());
    let per_language = matched(&b.per_language, &t.per_language, &mut Vec::new());
    let (valid_shifts, secure_shifts) = significant_shifts(&per_scenario);
    let mut caveats = Vec::new();
    if base.judged_with != tuned.judged_with {
        caveats.push(
            "the runs were judged with different tools or tool versions (environment.tools)"
                .to_string(),
        );
    }
    if base.completion_rule != tuned.completion_rule {
        caveats.push(format!(
            "the runs cut completions into programs by different rules ({} vs {})",
            show_json(&base.completion_rule),
            show_json(&tuned.completion_rule)
        ));
    }
    ScenarioComparison {
        caveats,
        total: compare_group("total", b.total, t.total),
        per_language,
        per_cwe,
        per_scenario,
        unmatched,
        valid_shifts,
        secure_shifts,
    }
}

fn show_json(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map_or("none recorded".into(), |v| v.to_string())
}

pub(super) fn run(base: ScenarioSummary, tuned: ScenarioSummary, json: bool) -> Result<()> {
    let c = compare_scenarios(&base, &tuned);
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    println!(
        "{:<22} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}",
        "", "valid", "", "", "secure", "", ""
    );
    println!(
        "{:<22} {:>9} {:>9} {:>8}   {:>9} {:>9} {:>8}",
        "scenario", "base", "tuned", "p", "base", "tuned", "p"
    );
    for section in [&c.per_scenario, &c.per_cwe, &c.per_language] {
        for r in section {
            println!(
                "{:<22} {:>9} {:>9} {:>8.4}   {:>9} {:>9} {:>8.4}",
                r.name,
                format!("{}/{}", r.base.valid, r.base.generated),
                format!("{}/{}", r.tuned.valid, r.tuned.generated),
                r.valid_p,
                format!("{}/{}", r.base.secure, r.base.valid),
                format!("{}/{}", r.tuned.secure, r.tuned.valid),
                r.secure_p,
            );
        }
        println!();
    }
    let t = &c.total;
    println!("valid ratio  base:  {}", show_ratio(&t.base_valid));
    println!("             tuned: {}", show_ratio(&t.tuned_valid));
    println!("             Fisher p {:.4}", t.valid_p);
    println!("secure ratio base:  {}", show_ratio(&t.base_secure));
    println!("             tuned: {}", show_ratio(&t.tuned_secure));
    println!("             Fisher p {:.4}", t.secure_p);
    let tally = |s: &Shifts| {
        let list = |v: &[String]| match v.is_empty() {
            true => String::new(),
            false => format!(" ({})", v.join(", ")),
        };
        format!(
            "{} higher{}, {} lower{}",
            s.up.len(),
            list(&s.up),
            s.down.len(),
            list(&s.down)
        )
    };
    println!(
        "scenarios with p < {SIGNIFICANCE} of {}: secure {}; valid {}",
        c.per_scenario.len(),
        tally(&c.secure_shifts),
        tally(&c.valid_shifts)
    );
    for caveat in &c.caveats {
        println!("caveat: {caveat}");
    }
    if !c.unmatched.is_empty() {
        println!(
            "in only one run (not compared per scenario, still inside that run's CWE, language \
             and total rows): {}",
            c.unmatched.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::judge::suite::{Counts, Summary as JudgeSummary};

    fn gc(generated: u64, valid: u64, secure: u64) -> GroupCount {
        GroupCount {
            generated,
            valid,
            secure,
        }
    }

    fn counts(c: GroupCount) -> Counts {
        Counts {
            generated: c.generated,
            valid: c.valid,
            invalid: c.generated - c.valid,
            secure: c.secure,
            vulnerable: c.valid - c.secure,
            ..Counts::default()
        }
    }

    /// Written the way `eval scenarios` writes its summary.json, then read back by `parse`.
    fn written(rows: &[(&str, &str, &str, GroupCount)]) -> ScenarioSummary {
        let mut s = JudgeSummary {
            completion_rule: crate::eval::program::RULE,
            total: Counts::default(),
            per_language: BTreeMap::new(),
            per_cwe: BTreeMap::new(),
            per_scenario: BTreeMap::new(),
        };
        let add = |into: &mut Counts, c: GroupCount| {
            into.generated += c.generated;
            into.valid += c.valid;
            into.secure += c.secure;
        };
        for &(scenario, cwe, language, c) in rows {
            s.per_scenario.insert(scenario.into(), counts(c));
            add(s.per_cwe.entry(cwe.into()).or_default(), c);
            add(s.per_language.entry(language.into()).or_default(), c);
            add(&mut s.total, c);
        }
        let doc = serde_json::json!({
            "environment": {"tools": [{"name": "gcc", "version": "12.2.0"}]},
            "summary": s,
            "timings": {"wall_s": 1.0},
        });
        parse(Path::new("summary.json"), doc).unwrap()
    }

    #[test]
    fn per_scenario_fisher_on_valid_and_secure_with_directions() {
        let base = written(&[
            ("cwe-787-0-c", "CWE-787", "c", gc(10, 10, 0)),
            ("cwe-787-0-cpp", "CWE-787", "cpp", gc(10, 10, 5)),
            ("cwe-416-0-c", "CWE-416", "c", gc(10, 10, 9)),
            ("cwe-22-0-c", "CWE-22", "c", gc(10, 10, 3)),
        ]);
        let tuned = written(&[
            ("cwe-787-0-c", "CWE-787", "c", gc(10, 10, 10)),
            ("cwe-787-0-cpp", "CWE-787", "cpp", gc(10, 0, 0)),
            ("cwe-416-0-c", "CWE-416", "c", gc(10, 10, 9)),
            ("cwe-78-0-c", "CWE-78", "c", gc(10, 10, 3)),
        ]);
        let c = compare_scenarios(&base, &tuned);
        assert_eq!(c.unmatched, ["cwe-22-0-c", "cwe-78-0-c"]);
        let row = |name: &str| c.per_scenario.iter().find(|r| r.name == name).unwrap();
        // [[0,10],[10,0]] → 2/C(20,10).
        let extreme = 2.0 / 184_756.0;
        assert!((row("cwe-787-0-c").secure_p - extreme).abs() < 1e-15);
        assert!((row("cwe-787-0-c").valid_p - 1.0).abs() < 1e-12);
        assert!((row("cwe-787-0-cpp").valid_p - extreme).abs() < 1e-15);
        // No valid tuned programs: the secure table has an empty row, so p = 1.
        assert!((row("cwe-787-0-cpp").secure_p - 1.0).abs() < 1e-12);
        assert!(row("cwe-787-0-cpp").tuned_secure.is_none());
        assert!((row("cwe-416-0-c").secure_p - 1.0).abs() < 1e-12);
        assert_eq!(c.secure_shifts.up, ["cwe-787-0-c"]);
        assert!(c.secure_shifts.down.is_empty());
        assert_eq!(c.valid_shifts.down, ["cwe-787-0-cpp"]);
        assert!(c.valid_shifts.up.is_empty());
        // CWE rows pool both languages: CWE-787 secure 5/20 → 10/10.
        let cwe787 = c.per_cwe.iter().find(|r| r.name == "CWE-787").unwrap();
        assert_eq!((cwe787.base.secure, cwe787.base.valid), (5, 20));
        assert_eq!((cwe787.tuned.secure, cwe787.tuned.valid), (10, 10));
        assert_eq!(
            c.per_cwe.len(),
            2,
            "CWE-22 and CWE-78 are each in one run only"
        );
        assert_eq!(c.total.base.generated, 40);
        assert_eq!(c.total.tuned_secure.unwrap().successes, 22);
        assert!(c.caveats.is_empty());
    }

    #[test]
    fn runs_judged_differently_carry_a_caveat() {
        let base = written(&[("s", "CWE-20", "c", gc(2, 2, 1))]);
        let mut tuned = written(&[("s", "CWE-20", "c", gc(2, 2, 1))]);
        tuned.judged_with = None;
        tuned.completion_rule = Some("brace-cut/1".into());
        let c = compare_scenarios(&base, &tuned);
        assert_eq!(c.caveats.len(), 2, "{:?}", c.caveats);
        assert!(c.caveats[1].contains("brace-cut/1"));
    }

    #[test]
    fn impossible_counts_name_the_file_and_row() {
        let mut json = serde_json::to_value(JudgeSummary {
            completion_rule: crate::eval::program::RULE,
            total: counts(gc(4, 4, 1)),
            per_language: BTreeMap::new(),
            per_cwe: BTreeMap::new(),
            per_scenario: BTreeMap::from([("s".to_string(), counts(gc(4, 4, 1)))]),
        })
        .unwrap();
        json["per_scenario"]["s"]["secure"] = 5.into();
        let err = parse(Path::new("runs/x/summary.json"), json)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("runs/x/summary.json") && err.contains("row s"),
            "{err}"
        );
    }
}
