//! JSONL source: one fix per line, for data sets sectune has no reader for (e.g. converted
//! AndroidCVEfixes). Fields are documented in docs/dataset.md.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;

use super::diff::{diff_texts, parse_unified, ChangedLines};
use super::ids::{lang_of_field, lang_of_path, normalize_commit, normalize_cwe};
use super::{io_err, Result, Scope, Side, Skip, SourceEvent, SourceKind, Unit};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    commit: String,
    file_path: String,
    #[serde(default)]
    repository: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    cwe_ids: Vec<String>,
    #[serde(default)]
    cve_ids: Vec<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
    #[serde(default)]
    diff: Option<String>,
    /// `file` (default) or `function` when before/after hold one function.
    #[serde(default)]
    scope: Option<String>,
}

const DIFF_BUDGET: usize = 16 << 20;

pub fn read(
    path: &Path,
    side: Side,
    emit: &mut dyn FnMut(SourceEvent) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(io_err(path))?;
    for (idx, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(io_err(path))?;
        if line.trim().is_empty() {
            continue;
        }
        let location = format!("{}:{}", path.display(), idx + 1);
        let event = match serde_json::from_str::<Row>(&line) {
            Err(e) => SourceEvent::Skipped(Skip::malformed(
                "jsonl: invalid record",
                format!("{location}: {e}"),
            )),
            Ok(row) => match to_unit(row, side) {
                Ok(unit) => SourceEvent::Unit(Box::new(unit)),
                Err((reason, malformed)) => SourceEvent::Skipped(Skip {
                    reason: format!("jsonl: {reason}"),
                    location,
                    malformed,
                }),
            },
        };
        emit(event)?;
    }
    Ok(())
}

fn to_unit(row: Row, side: Side) -> Result<Unit, (&'static str, bool)> {
    let commit = normalize_commit(&row.commit).ok_or(("bad commit hash", true))?;
    let hint = row.language.as_deref().and_then(lang_of_field);
    let language = lang_of_path(&row.file_path, hint)
        .or(hint)
        .ok_or(("not C/C++", false))?;
    let scope = match row.scope.as_deref() {
        None | Some("file") => Scope::File,
        Some("function") => Scope::Function,
        Some(_) => return Err(("scope is not file or function", true)),
    };
    let code = match side {
        Side::Fixed => row
            .after
            .clone()
            .ok_or(("`after` missing (file deleted?)", false))?,
        Side::Vulnerable => row
            .before
            .clone()
            .ok_or(("`before` missing (file added?)", false))?,
    };
    let changed = match (&row.diff, &row.before, &row.after) {
        (Some(diff), _, _) => parse_unified(diff).map_err(|_| ("unparsable diff", true))?,
        (None, Some(before), Some(after)) => diff_texts(before, after, DIFF_BUDGET),
        _ => return Err(("needs `diff`, or both `before` and `after`", true)),
    };
    let lines = match side {
        Side::Fixed => changed.new,
        Side::Vulnerable => changed.old,
    };
    let changed_lines = ChangedLines::clamped(&lines, code.lines().count() as u32);
    if changed_lines.is_empty() {
        return Err(("no changed lines on the kept side", false));
    }
    let mut cwe_ids: Vec<String> = row
        .cwe_ids
        .iter()
        .filter_map(|c| normalize_cwe(c))
        .collect();
    cwe_ids.dedup();
    Ok(Unit {
        source: SourceKind::Jsonl,
        commit,
        repository: row.repository,
        file_path: row.file_path,
        cwe_ids,
        cve_ids: row.cve_ids,
        language,
        code,
        changed_lines,
        scope,
    })
}
