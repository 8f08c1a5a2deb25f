//! Table 3b: is a tuned run's change real? Per tuned run of Table 3 and per language, Fisher's
//! exact test against the same model's pre-trained run on the pooled secure and valid ratios,
//! and the scenarios whose own secure (valid) ratio moved at p < 0.05, up and down (the same
//! tests as `sectune eval compare`).

use serde::Serialize;

use super::load::RunData;
use super::manifest::RunMethod;
use super::tables::{Table, LANGUAGES, SIGNIFICANCE};
use crate::eval::compare::{compare_group, matched, significant_shifts};

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct LanguageShift {
    /// Fisher p of the pooled secure counts, [[secure, valid − secure]] base over tuned.
    pub secure_p: f64,
    /// Fisher p of the pooled valid counts, [[valid, generated − valid]].
    pub valid_p: f64,
    pub secure_up: Vec<String>,
    pub secure_down: Vec<String>,
    pub valid_up: Vec<String>,
    pub valid_down: Vec<String>,
    /// Scenarios judged in both runs (the others are not tested).
    pub compared_scenarios: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ShiftRow {
    pub model: String,
    pub method: RunMethod,
    pub granularity: Option<String>,
    pub run: String,
    pub base_run: String,
    pub c: Option<LanguageShift>,
    pub cpp: Option<LanguageShift>,
}

fn language_shift(base: &RunData, tuned: &RunData, lang: &str) -> Option<LanguageShift> {
    let (b, t) = (base.per_language.get(lang)?, tuned.per_language.get(lang)?);
    let pooled = compare_group(lang, *b, *t);
    let empty = Default::default();
    let rows = matched(
        base.per_language_scenario.get(lang).unwrap_or(&empty),
        tuned.per_language_scenario.get(lang).unwrap_or(&empty),
        &mut Vec::new(),
    );
    let (valid, secure) = significant_shifts(&rows);
    Some(LanguageShift {
        secure_p: pooled.secure_p,
        valid_p: pooled.valid_p,
        secure_up: secure.up,
        secure_down: secure.down,
        valid_up: valid.up,
        valid_down: valid.down,
        compared_scenarios: rows.len(),
    })
}

/// Tuned runs of Table 3 (outside the size study) whose model has a pre-trained run with judged
/// samples; None when there is none.
pub fn table3_significance(runs: &[RunData]) -> Option<Table> {
    let judged = |r: &&RunData| r.manifest.size.is_none() && !r.per_language.is_empty();
    let mut rows = Vec::new();
    for tuned in runs
        .iter()
        .filter(judged)
        .filter(|r| r.manifest.method != RunMethod::Base)
    {
        let m = &tuned.manifest;
        let Some(base) = runs
            .iter()
            .filter(judged)
            .find(|b| b.manifest.method == RunMethod::Base && b.manifest.model == m.model)
        else {
            continue;
        };
        rows.push(ShiftRow {
            model: m.model.clone(),
            method: m.method,
            granularity: m.granularity.clone(),
            run: tuned.dir.display().to_string(),
            base_run: base.dir.display().to_string(),
            c: language_shift(base, tuned, "c"),
            cpp: language_shift(base, tuned, "cpp"),
        });
    }
    if rows.is_empty() {
        return None;
    }
    let mut md_cols: Vec<String> = vec!["Model".into(), "Method".into(), "Granularity".into()];
    let mut csv_cols: Vec<String> = vec!["model".into(), "method".into(), "granularity".into()];
    for (key, shown) in LANGUAGES {
        md_cols.push(format!("{shown} secure p"));
        md_cols.push(format!("{shown} scenarios secure ↑/↓"));
        md_cols.push(format!("{shown} valid p"));
        md_cols.push(format!("{shown} scenarios valid ↑/↓"));
        for f in [
            "secure_p",
            "secure_up",
            "secure_down",
            "valid_p",
            "valid_up",
            "valid_down",
            "compared_scenarios",
        ] {
            csv_cols.push(format!("{key}_{f}"));
        }
    }
    let mut md_rows = Vec::new();
    let mut csv_rows = Vec::new();
    for row in &rows {
        let mut md = vec![
            row.model.clone(),
            row.method.display().into(),
            row.granularity.clone().unwrap_or_else(|| "–".into()),
        ];
        let mut csv = vec![
            row.model.clone(),
            row.method.name().into(),
            row.granularity.clone().unwrap_or_default(),
        ];
        for lang in [&row.c, &row.cpp] {
            match lang {
                Some(s) => {
                    let of = |up: &[String], down: &[String]| {
                        format!("{}/{} of {}", up.len(), down.len(), s.compared_scenarios)
                    };
                    md.extend([
                        p_cell(s.secure_p),
                        of(&s.secure_up, &s.secure_down),
                        p_cell(s.valid_p),
                        of(&s.valid_up, &s.valid_down),
                    ]);
                    csv.extend([
                        format!("{:.6}", s.secure_p),
                        s.secure_up.len().to_string(),
                        s.secure_down.len().to_string(),
                        format!("{:.6}", s.valid_p),
                        s.valid_up.len().to_string(),
                        s.valid_down.len().to_string(),
                        s.compared_scenarios.to_string(),
                    ]);
                }
                None => {
                    md.extend(std::iter::repeat_n("–".to_string(), 4));
                    csv.extend(std::iter::repeat_n(String::new(), 7));
                }
            }
        }
        md_rows.push(md);
        csv_rows.push(csv);
    }
    Some(Table {
        name: "table3-significance".into(),
        title: format!(
            "Table 3b: tuned vs pre-trained, Fisher's exact test (two-sided) on the pooled secure and \
             valid ratios per language, and scenarios whose own ratio moved at p < {SIGNIFICANCE} \
             (higher/lower of those judged in both runs)"
        ),
        markdown_columns: md_cols,
        markdown_rows: md_rows,
        csv_columns: csv_cols,
        csv_rows,
        rows: serde_json::to_value(&rows).unwrap_or_default(),
    })
}

/// "0.0123", with a star under the significance threshold.
fn p_cell(p: f64) -> String {
    match p < SIGNIFICANCE {
        true => format!("{p:.4}*"),
        false => format!("{p:.4}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::report::load::Counts;
    use crate::report::manifest::RunManifest;

    fn run(method: RunMethod, scenarios: &[(&str, &str, Counts)]) -> RunData {
        let mut r = RunData {
            dir: format!("runs/{}", method.name()).into(),
            manifest: RunManifest {
                format: crate::report::manifest::FORMAT_VERSION,
                model: "m".into(),
                method,
                granularity: (method != RunMethod::Base).then(|| "function".into()),
                size: None,
                languages: vec!["c".into(), "cpp".into()],
                files: Default::default(),
                provenance: None,
            },
            per_language: BTreeMap::new(),
            per_language_cwe: BTreeMap::new(),
            per_language_scenario: BTreeMap::new(),
            humaneval: None,
            losses: Vec::new(),
        };
        for &(lang, id, c) in scenarios {
            let total = r.per_language.entry(lang.into()).or_default();
            total.generated += c.generated;
            total.valid += c.valid;
            total.secure += c.secure;
            r.per_language_scenario
                .entry(lang.into())
                .or_default()
                .insert(id.into(), c);
        }
        r
    }

    fn c(generated: u64, valid: u64, secure: u64) -> Counts {
        Counts {
            generated,
            valid,
            secure,
        }
    }

    #[test]
    fn tuned_rows_name_the_scenarios_that_moved() {
        let base = run(
            RunMethod::Base,
            &[
                ("c", "a", c(10, 10, 0)),
                ("c", "b", c(10, 10, 10)),
                ("cpp", "x", c(10, 10, 5)),
            ],
        );
        let tuned = run(
            RunMethod::Lora,
            &[
                ("c", "a", c(10, 10, 10)),
                ("c", "b", c(10, 0, 0)),
                ("cpp", "x", c(10, 10, 5)),
            ],
        );
        let table = table3_significance(&[base, tuned]).unwrap();
        let rows: Vec<ShiftRow> = serde_json::from_value(table.rows.clone()).unwrap();
        assert_eq!(rows.len(), 1, "one tuned run");
        let cs = rows[0].c.as_ref().unwrap();
        // a: secure 0/10 → 10/10, [[0,10],[10,0]]: p = 2/C(20,10); b: valid 10/10 → 0/10.
        assert_eq!(
            (cs.secure_up.as_slice(), cs.secure_down.len()),
            (&["a".to_string()][..], 0)
        );
        assert_eq!(
            (cs.valid_up.len(), cs.valid_down.as_slice()),
            (0, &["b".to_string()][..])
        );
        // Pooled C secure: 10/20 → 10/10, [[10,10],[10,0]].
        assert!(cs.secure_p < SIGNIFICANCE, "{}", cs.secure_p);
        let cpp = rows[0].cpp.as_ref().unwrap();
        assert!((cpp.secure_p - 1.0).abs() < 1e-12 && cpp.secure_up.is_empty());
        assert_eq!(table.markdown_rows[0][4], "1/0 of 2");
        assert_eq!(table.markdown_rows[0][6], "0/1 of 2");
    }

    #[test]
    fn no_pre_trained_run_no_table() {
        let tuned = run(RunMethod::Lora, &[("c", "a", c(2, 2, 1))]);
        assert!(table3_significance(&[tuned]).is_none());
    }
}
