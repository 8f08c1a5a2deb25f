//! Base vs tuned on HumanEval-X: per task, Fisher's exact test on (passed, failed) of the two
//! runs; overall, the pass ratios with Wilson 95% intervals.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::scenarios::Shifts;
use super::{show_ratio, SIGNIFICANCE};
use crate::eval::stats::{fisher_exact, wilson95, Ratio};

#[derive(Deserialize)]
struct Summary {
    per_task: BTreeMap<String, TaskCount>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskCount {
    pub n: u64,
    pub passed: u64,
}

#[derive(Serialize, Debug)]
pub struct TaskComparison {
    pub task_id: String,
    pub base: TaskCount,
    pub tuned: TaskCount,
    /// Two-sided Fisher exact p-value of [[base passed, base failed], [tuned passed, tuned failed]].
    pub fisher_p: f64,
}

#[derive(Serialize, Debug)]
pub struct Comparison {
    pub tasks: Vec<TaskComparison>,
    /// Tasks in only one of the two summaries (left out of everything else).
    pub unmatched: Vec<String>,
    pub base_pass: Option<Ratio>,
    pub tuned_pass: Option<Ratio>,
    /// Fisher p of the pooled counts (all matched tasks' samples).
    pub pooled_p: f64,
    pub significant_at_0_05: usize,
    /// The tasks with p < 0.05 whose pass rate went up / down.
    pub shifts: Shifts,
}

/// The per-task counts of an `eval humaneval` summary.json already read as JSON.
pub(super) fn parse(path: &Path, value: serde_json::Value) -> Result<BTreeMap<String, TaskCount>> {
    let summary: Summary = serde_json::from_value(value).with_context(|| {
        format!(
            "{}: not a summary.json written by `sectune eval humaneval --out`",
            path.display()
        )
    })?;
    for (task, c) in &summary.per_task {
        if c.passed > c.n {
            bail!("{}: task {task} has passed > n", path.display());
        }
    }
    Ok(summary.per_task)
}

pub fn compare(
    base: &BTreeMap<String, TaskCount>,
    tuned: &BTreeMap<String, TaskCount>,
) -> Comparison {
    let mut tasks = Vec::new();
    let mut unmatched = Vec::new();
    let (mut bp, mut bn, mut tp, mut tn) = (0, 0, 0, 0);
    for (task, b) in base {
        let Some(t) = tuned.get(task) else {
            unmatched.push(task.clone());
            continue;
        };
        bp += b.passed;
        bn += b.n;
        tp += t.passed;
        tn += t.n;
        tasks.push(TaskComparison {
            task_id: task.clone(),
            base: *b,
            tuned: *t,
            fisher_p: fisher_exact(b.passed, b.n - b.passed, t.passed, t.n - t.passed),
        });
    }
    unmatched.extend(tuned.keys().filter(|k| !base.contains_key(*k)).cloned());
    let significant_at_0_05 = tasks.iter().filter(|t| t.fisher_p < SIGNIFICANCE).count();
    let shifts = Shifts::of(tasks.iter().map(|t| {
        let (b, u) = (t.base, t.tuned);
        (
            t.task_id.as_str(),
            t.fisher_p,
            (b.passed, b.n),
            (u.passed, u.n),
        )
    }));
    Comparison {
        tasks,
        unmatched,
        base_pass: wilson95(bp, bn),
        tuned_pass: wilson95(tp, tn),
        pooled_p: fisher_exact(bp, bn - bp, tp, tn - tp),
        significant_at_0_05,
        shifts,
    }
}

pub(super) fn run(
    base: BTreeMap<String, TaskCount>,
    tuned: BTreeMap<String, TaskCount>,
    json: bool,
) -> Result<()> {
    let c = compare(&base, &tuned);
    if json {
        println!("{}", serde_json::to_string_pretty(&c)?);
        return Ok(());
    }
    println!(
        "{:<24} {:>9} {:>9} {:>9}",
        "task", "base", "tuned", "fisher p"
    );
    for t in &c.tasks {
        println!(
            "{:<24} {:>4}/{:<4} {:>4}/{:<4} {:>9.4}",
            t.task_id, t.base.passed, t.base.n, t.tuned.passed, t.tuned.n, t.fisher_p
        );
    }
    println!("base pass:  {}", show_ratio(&c.base_pass));
    println!("tuned pass: {}", show_ratio(&c.tuned_pass));
    println!("pooled Fisher p: {:.4}", c.pooled_p);
    println!(
        "tasks with p < {SIGNIFICANCE}: {} of {} ({} higher, {} lower){}",
        c.significant_at_0_05,
        c.tasks.len(),
        c.shifts.up.len(),
        c.shifts.down.len(),
        match c.significant_at_0_05 {
            0 => String::new(),
            _ => format!(
                ": higher [{}], lower [{}]",
                c.shifts.up.join(", "),
                c.shifts.down.join(", ")
            ),
        }
    );
    if !c.unmatched.is_empty() {
        println!("in only one run (ignored): {}", c.unmatched.join(", "));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_task_fisher_and_overall_wilson() {
        let tc = |n, passed| TaskCount { n, passed };
        let base = BTreeMap::from([
            ("a".to_string(), tc(10, 0)),
            ("b".to_string(), tc(10, 5)),
            ("x".to_string(), tc(10, 1)),
        ]);
        let tuned = BTreeMap::from([("a".to_string(), tc(10, 10)), ("b".to_string(), tc(10, 5))]);
        let c = compare(&base, &tuned);
        assert_eq!(c.unmatched, ["x"]);
        // a: [[0,10],[10,0]] → 2/C(20,10); b: identical rows → 1.
        assert!((c.tasks[0].fisher_p - 2.0 / 184_756.0).abs() < 1e-15);
        assert!((c.tasks[1].fisher_p - 1.0).abs() < 1e-12);
        assert_eq!(c.significant_at_0_05, 1);
        assert_eq!(c.shifts.up, ["a"]);
        assert!(c.shifts.down.is_empty());
        // Pooled over a and b: 5/20 → 15/20, [[5,15],[15,5]].
        assert!(c.pooled_p < 0.01, "{}", c.pooled_p);
        assert_eq!(c.base_pass.unwrap().successes, 5);
        assert_eq!(c.tuned_pass.unwrap().successes, 15);
    }
}
