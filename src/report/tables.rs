//! The study's tables from loaded runs: Table 3 (valid and secure ratios per model × method ×
//! granularity, C and C++), Table 6 (the size study) and Table 7 (HumanEval-X C++ pass@1 and
//! the tasks whose pass rate differs significantly from the base model's).

use serde::Serialize;

use super::load::{Counts, RunData};
use super::manifest::{RunMethod, GRANULARITIES};
use crate::eval::compare::compare;
use crate::eval::passk::mean_pass_at_k;

/// Fisher's exact test threshold for Table 7's count and Table 3b (the one `eval compare` uses).
pub use crate::eval::compare::SIGNIFICANCE;
pub const LANGUAGES: [(&str, &str); 2] = [("c", "C"), ("cpp", "C++")];

/// A rendered table: header and text cells for markdown/CSV, structured rows for JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: String,
    pub title: String,
    pub markdown_columns: Vec<String>,
    pub markdown_rows: Vec<Vec<String>>,
    pub csv_columns: Vec<String>,
    pub csv_rows: Vec<Vec<String>>,
    pub rows: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct LangCell {
    pub generated: u64,
    pub valid: u64,
    pub secure: u64,
    /// valid / generated × 100.
    pub valid_pct: Option<f64>,
    /// secure / valid × 100.
    pub secure_pct: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecurityRow {
    pub model: String,
    pub method: RunMethod,
    pub granularity: Option<String>,
    pub size: Option<u64>,
    pub run: String,
    pub c: Option<LangCell>,
    pub cpp: Option<LangCell>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PassRow {
    pub model: String,
    pub method: RunMethod,
    pub granularity: Option<String>,
    pub size: Option<u64>,
    pub run: String,
    pub tasks: usize,
    pub samples: u64,
    /// Mean over tasks of the unbiased pass@1 (= passed / n per task).
    pub pass_at_1: Option<f64>,
    /// Tasks with Fisher p < 0.05 against the same model's base run; None for base rows and
    /// when the model has no base run with HumanEval results.
    pub significant_vs_base: Option<usize>,
    /// Tasks present in both this run and the base run.
    pub compared_tasks: Option<usize>,
}

/// Order of rows: model, then base before LoRA before IA3, then granularity as the paper
/// lists them, then size.
pub fn sort_key(run: &RunData) -> (String, RunMethod, usize, u64) {
    let m = &run.manifest;
    let g = m
        .granularity
        .as_deref()
        .and_then(|g| GRANULARITIES.iter().position(|x| *x == g))
        .unwrap_or(0);
    (m.model.clone(), m.method, g, m.size.unwrap_or(0))
}

fn pct(num: u64, den: u64) -> Option<f64> {
    (den > 0).then(|| num as f64 * 100.0 / den as f64)
}

fn cell(c: &Counts) -> LangCell {
    LangCell {
        generated: c.generated,
        valid: c.valid,
        secure: c.secure,
        valid_pct: pct(c.valid, c.generated),
        secure_pct: pct(c.secure, c.valid),
    }
}

/// "720/780 (92.3%)", or "–" without samples.
pub fn fraction(num: u64, den: u64) -> String {
    match pct(num, den) {
        Some(p) => format!("{num}/{den} ({p:.1}%)"),
        None if den == 0 && num == 0 => "–".into(),
        None => format!("{num}/{den}"),
    }
}

fn opt_num(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.4}")).unwrap_or_default()
}

fn security_row(run: &RunData) -> SecurityRow {
    let m = &run.manifest;
    SecurityRow {
        model: m.model.clone(),
        method: m.method,
        granularity: m.granularity.clone(),
        size: m.size,
        run: run.dir.display().to_string(),
        c: run.per_language.get("c").map(cell),
        cpp: run.per_language.get("cpp").map(cell),
    }
}

fn security_table(name: &str, title: &str, runs: &[&RunData], with_size: bool) -> Table {
    let rows: Vec<SecurityRow> = runs.iter().map(|r| security_row(r)).collect();
    let mut md_cols: Vec<String> = vec!["Model".into(), "Method".into(), "Granularity".into()];
    let mut csv_cols: Vec<String> = vec!["model".into(), "method".into(), "granularity".into()];
    if with_size {
        md_cols.push("Commits".into());
        csv_cols.push("size".into());
    }
    for (key, shown) in LANGUAGES {
        md_cols.push(format!("{shown} valid/total"));
        md_cols.push(format!("{shown} secure/valid"));
        for f in ["generated", "valid", "secure", "valid_pct", "secure_pct"] {
            csv_cols.push(format!("{key}_{f}"));
        }
    }
    let mut md_rows = Vec::new();
    let mut csv_rows = Vec::new();
    for row in &rows {
        let gran = row.granularity.clone().unwrap_or_else(|| "–".into());
        let mut md = vec![row.model.clone(), row.method.display().into(), gran];
        let mut csv = vec![
            row.model.clone(),
            row.method.name().into(),
            row.granularity.clone().unwrap_or_default(),
        ];
        if with_size {
            let size = row.size.map(|s| s.to_string()).unwrap_or_default();
            md.push(if size.is_empty() {
                "–".into()
            } else {
                size.clone()
            });
            csv.push(size);
        }
        for lang in [&row.c, &row.cpp] {
            match lang {
                Some(c) => {
                    md.push(fraction(c.valid, c.generated));
                    md.push(fraction(c.secure, c.valid));
                    csv.extend([
                        c.generated.to_string(),
                        c.valid.to_string(),
                        c.secure.to_string(),
                        opt_num(c.valid_pct),
                        opt_num(c.secure_pct),
                    ]);
                }
                None => {
                    md.extend(["–".to_string(), "–".to_string()]);
                    csv.extend(std::iter::repeat_n(String::new(), 5));
                }
            }
        }
        md_rows.push(md);
        csv_rows.push(csv);
    }
    Table {
        name: name.into(),
        title: title.into(),
        markdown_columns: md_cols,
        markdown_rows: md_rows,
        csv_columns: csv_cols,
        csv_rows,
        rows: serde_json::to_value(&rows).unwrap_or_default(),
    }
}

/// Table 3: every run outside the size study that judged scenarios, base rows included.
pub fn table3(runs: &[RunData]) -> Table {
    let chosen: Vec<&RunData> = runs
        .iter()
        .filter(|r| r.manifest.size.is_none() && !r.per_language.is_empty())
        .collect();
    security_table(
        "table3",
        "Table 3: valid ratio (valid/total) and secure ratio (secure/valid) per model, method and granularity",
        &chosen,
        false,
    )
}

/// Table 6: the size study's runs (those whose manifest carries a dataset size).
pub fn table6(runs: &[RunData]) -> Option<Table> {
    let chosen: Vec<&RunData> = runs
        .iter()
        .filter(|r| r.manifest.size.is_some() && !r.per_language.is_empty())
        .collect();
    (!chosen.is_empty()).then(|| {
        security_table(
            "table6",
            "Table 6: size study, valid and secure ratios by the number of commits fine-tuned on",
            &chosen,
            true,
        )
    })
}

/// Table 7: pass@1 per run with HumanEval-X results, and per tuned run the number of tasks
/// whose pass rate differs from the base model's (Fisher's exact test, p < 0.05).
pub fn table7(runs: &[RunData]) -> Option<Table> {
    let mut rows = Vec::new();
    for run in runs {
        let Some(tasks) = &run.humaneval else {
            continue;
        };
        let m = &run.manifest;
        let counts: Vec<(usize, usize)> = tasks
            .values()
            .map(|c| (c.n as usize, c.passed as usize))
            .collect();
        let base = runs.iter().find(|b| {
            b.manifest.method == RunMethod::Base
                && b.manifest.model == m.model
                && b.humaneval.is_some()
        });
        let (significant, compared) = match (m.method, base.and_then(|b| b.humaneval.as_ref())) {
            (RunMethod::Base, _) | (_, None) => (None, None),
            (_, Some(base_tasks)) => {
                let c = compare(base_tasks, tasks);
                let significant = c.tasks.iter().filter(|t| t.fisher_p < SIGNIFICANCE).count();
                (Some(significant), Some(c.tasks.len()))
            }
        };
        rows.push(PassRow {
            model: m.model.clone(),
            method: m.method,
            granularity: m.granularity.clone(),
            size: m.size,
            run: run.dir.display().to_string(),
            tasks: tasks.len(),
            samples: tasks.values().map(|c| c.n).sum(),
            pass_at_1: mean_pass_at_k(&counts, 1),
            significant_vs_base: significant,
            compared_tasks: compared,
        });
    }
    if rows.is_empty() {
        return None;
    }
    let md_cols = [
        "Model",
        "Method",
        "Granularity",
        "Commits",
        "Tasks",
        "pass@1",
        "Tasks with p < 0.05 vs pre-trained",
    ];
    let csv_cols = [
        "model",
        "method",
        "granularity",
        "size",
        "tasks",
        "samples",
        "pass_at_1",
        "significant_vs_base",
        "compared_tasks",
    ];
    let mut md_rows = Vec::new();
    let mut csv_rows = Vec::new();
    for r in &rows {
        let dash = |s: Option<String>| s.unwrap_or_else(|| "–".into());
        md_rows.push(vec![
            r.model.clone(),
            r.method.display().into(),
            dash(r.granularity.clone()),
            dash(r.size.map(|s| s.to_string())),
            r.tasks.to_string(),
            dash(r.pass_at_1.map(|p| format!("{:.2}%", p * 100.0))),
            match (r.method, r.significant_vs_base, r.compared_tasks) {
                (RunMethod::Base, _, _) => "–".into(),
                (_, Some(s), Some(n)) => format!("{s} of {n}"),
                _ => "n/a (no base run)".into(),
            },
        ]);
        csv_rows.push(vec![
            r.model.clone(),
            r.method.name().into(),
            r.granularity.clone().unwrap_or_default(),
            r.size.map(|s| s.to_string()).unwrap_or_default(),
            r.tasks.to_string(),
            r.samples.to_string(),
            opt_num(r.pass_at_1),
            r.significant_vs_base
                .map(|s| s.to_string())
                .unwrap_or_default(),
            r.compared_tasks.map(|s| s.to_string()).unwrap_or_default(),
        ]);
    }
    Some(Table {
        name: "table7".into(),
        title: "Table 7: HumanEval-X C++ pass@1, and tasks whose pass rate differs from the pre-trained model's (Fisher's exact test)".into(),
        markdown_columns: md_cols.iter().map(|s| s.to_string()).collect(),
        markdown_rows: md_rows,
        csv_columns: csv_cols.iter().map(|s| s.to_string()).collect(),
        csv_rows,
        rows: serde_json::to_value(&rows).unwrap_or_default(),
    })
}

impl Table {
    pub fn markdown(&self) -> String {
        let mut out = format!("## {}\n\n", self.title);
        out.push_str(&format!("| {} |\n", self.markdown_columns.join(" | ")));
        out.push_str(&format!(
            "|{}\n",
            "---|".repeat(self.markdown_columns.len())
        ));
        for row in &self.markdown_rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
        out
    }

    pub fn csv(&self) -> String {
        let line = |cells: &[String]| {
            cells
                .iter()
                .map(|c| csv_field(c))
                .collect::<Vec<_>>()
                .join(",")
        };
        let mut out = line(&self.csv_columns);
        out.push('\n');
        for row in &self.csv_rows {
            out.push_str(&line(row));
            out.push('\n');
        }
        out
    }
}

/// RFC 4180 quoting where a field needs it.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
