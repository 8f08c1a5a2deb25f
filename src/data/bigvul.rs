//! BigVul source (`MSR_data_cleaned.csv`): one row per function of a file touched by a fix.
//! Only `vul = 1` rows (functions the fix changed) become units; their text is `func_after`
//! (`func_before` for `--side vulnerable`) and BigVul has no whole-file text.
//! Changed lines: a line diff of func_before -> func_after; when the two are identical, the
//! lines of the function that equal a line listed in `lines_after` (`lines_before`).

use std::collections::HashMap;
use std::path::Path;

use super::diff::{diff_texts, ChangedLines};
use super::ids::{
    is_missing, lang_of_field, normalize_commit, normalize_cwe, repository_of_commit_url,
};
use super::{DataError, Result, Scope, Side, Skip, SourceEvent, SourceKind, Unit};

const REQUIRED: &[&str] = &[
    "CVE ID",
    "CWE ID",
    "codeLink",
    "commit_id",
    "file_name",
    "func_after",
    "func_before",
    "lang",
    "lines_after",
    "lines_before",
    "project",
    "vul",
];

/// DP cells allowed for one function's line diff (~64 MB of u32).
const DIFF_BUDGET: usize = 16 << 20;

pub fn read(
    csv_path: &Path,
    side: Side,
    emit: &mut dyn FnMut(SourceEvent) -> Result<()>,
) -> Result<()> {
    let csv_err = |source| DataError::Csv {
        path: csv_path.to_path_buf(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(csv_path)
        .map_err(csv_err)?;
    let headers = reader.headers().map_err(csv_err)?.clone();
    let mut col: HashMap<&'static str, usize> = HashMap::new();
    for name in REQUIRED {
        let idx =
            headers
                .iter()
                .position(|h| h == *name)
                .ok_or_else(|| DataError::MissingColumn {
                    path: csv_path.to_path_buf(),
                    column: name.to_string(),
                })?;
        col.insert(name, idx);
    }
    let mut record = csv::StringRecord::new();
    let mut row_no: u64 = 0;
    loop {
        row_no += 1;
        let location = format!("{}: CSV row {row_no}", csv_path.display());
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) if e.is_io_error() => return Err(csv_err(e)),
            Err(_) => {
                emit(SourceEvent::Skipped(Skip::malformed(
                    "bigvul: unreadable CSV record",
                    location,
                )))?;
                continue;
            }
        }
        let row = Row {
            record: &record,
            col: &col,
        };
        let event = match to_unit(&row, side) {
            Ok(unit) => SourceEvent::Unit(Box::new(unit)),
            Err((reason, malformed)) => SourceEvent::Skipped(Skip {
                reason: format!("bigvul: {reason}"),
                location,
                malformed,
            }),
        };
        emit(event)?;
    }
    Ok(())
}

/// One CSV record with cells looked up by column name ("" when absent).
struct Row<'r> {
    record: &'r csv::StringRecord,
    col: &'r HashMap<&'static str, usize>,
}

impl<'r> Row<'r> {
    fn get(&self, name: &str) -> &'r str {
        self.col
            .get(name)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }
}

fn to_unit(row: &Row<'_>, side: Side) -> Result<Unit, (&'static str, bool)> {
    let get = |name: &str| row.get(name);
    match get("vul").trim() {
        "1" | "1.0" => {}
        "0" | "0.0" => return Err(("vul=0 (function not changed by the fix)", false)),
        _ => return Err(("vul is not 0 or 1", true)),
    }
    let commit = normalize_commit(get("commit_id")).ok_or(("bad commit_id", true))?;
    let language = lang_of_field(get("lang")).ok_or(("not C/C++", false))?;
    let (before, after) = (get("func_before"), get("func_after"));
    let (kept, listed) = match side {
        Side::Fixed => (after, get("lines_after")),
        Side::Vulnerable => (before, get("lines_before")),
    };
    if kept.trim().is_empty() || is_missing(kept) {
        return Err(("function text missing", true));
    }
    let changed = diff_texts(before, after, DIFF_BUDGET);
    let lines = match side {
        Side::Fixed => changed.new,
        Side::Vulnerable => changed.old,
    };
    let line_count = kept.lines().count() as u32;
    let mut changed_lines = if before == after {
        Vec::new()
    } else {
        ChangedLines::clamped(&lines, line_count)
    };
    if changed_lines.is_empty() {
        changed_lines = lines_matching(kept, listed);
    }
    if changed_lines.is_empty() {
        return Err(("no changed lines in the function", false));
    }
    let repository = repository_of_commit_url(get("codeLink"))
        .unwrap_or_else(|| get("project").trim().to_string());
    let ids = |name: &str, norm: &dyn Fn(&str) -> Option<String>| -> Vec<String> {
        norm(get(name)).into_iter().collect()
    };
    Ok(Unit {
        source: SourceKind::Bigvul,
        commit,
        repository,
        file_path: get("file_name").trim().to_string(),
        cwe_ids: ids("CWE ID", &normalize_cwe),
        cve_ids: ids("CVE ID", &|s: &str| {
            (!is_missing(s)).then(|| s.trim().to_string())
        }),
        language,
        code: kept.to_string(),
        changed_lines,
        scope: Scope::Function,
    })
}

/// 1-based lines of `code` whose trimmed text equals a non-blank line of `listed`.
fn lines_matching(code: &str, listed: &str) -> Vec<u32> {
    if is_missing(listed) {
        return Vec::new();
    }
    let wanted: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    code.lines()
        .enumerate()
        .filter(|(_, l)| wanted.contains(&l.trim()))
        .map(|(i, _)| i as u32 + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_lines_match_trimmed() {
        let code = "int f() {\n  int a = 1;\n  return a;\n}\n";
        assert_eq!(lines_matching(code, " return a;\n\n"), vec![3]);
        assert!(lines_matching(code, "nan").is_empty());
    }
}
