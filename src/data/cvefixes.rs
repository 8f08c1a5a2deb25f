//! CVEfixes SQLite source: streams `file_change` rows; commit -> repository/CVE/CWE from
//! `fixes` and `cwe_classification` (small, loaded once). All columns are TEXT and missing
//! values are the string 'None' (see shared/formats/datasets.md).

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};

use super::diff::{parse_unified, ChangedLines};
use super::ids::{is_missing, lang_of_field, lang_of_path, normalize_commit, normalize_cwe};
use super::{DataError, Result, Scope, Side, Skip, SourceEvent, SourceKind, Unit};

#[derive(Default)]
struct CommitMeta {
    repository: String,
    cves: BTreeSet<String>,
    cwes: BTreeSet<String>,
}

const REQUIRED_TABLES: &[&str] = &["fixes", "file_change", "cwe_classification"];

/// Read every C/C++ file change of `db`, emitting one unit (or skip) per row.
pub fn read(db: &Path, side: Side, emit: &mut dyn FnMut(SourceEvent) -> Result<()>) -> Result<()> {
    let sql_err = |source| DataError::Sqlite {
        path: db.to_path_buf(),
        source,
    };
    if !db.is_file() {
        return Err(DataError::Invalid {
            path: db.to_path_buf(),
            reason: "no such file; pass the CVEfixes SQLite database (CVEfixes.db)".into(),
        });
    }
    let conn =
        Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(sql_err)?;
    for table in REQUIRED_TABLES {
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .map_err(sql_err)?;
        if n == 0 {
            return Err(DataError::MissingTable {
                path: db.to_path_buf(),
                table: table.to_string(),
            });
        }
    }
    let metas = load_commit_meta(&conn).map_err(sql_err)?;

    let mut stmt = conn
        .prepare(
            "SELECT file_change_id, hash, filename, old_path, new_path, diff, code_after, \
             code_before, programming_language FROM file_change",
        )
        .map_err(sql_err)?;
    let mut rows = stmt.query([]).map_err(sql_err)?;
    while let Some(row) = rows.next().map_err(sql_err)? {
        let col = |i: usize| text(row.get_ref(i).ok());
        let id = col(0).unwrap_or_default();
        let location = format!("{}: file_change {}", db.display(), id);
        let event = match to_unit(
            FileRow {
                hash: col(1),
                filename: col(2),
                old_path: col(3),
                new_path: col(4),
                diff: col(5),
                code_after: col(6),
                code_before: col(7),
                language: col(8),
            },
            &metas,
            side,
        ) {
            Ok(unit) => SourceEvent::Unit(Box::new(unit)),
            Err((reason, malformed)) => SourceEvent::Skipped(Skip {
                reason: format!("cvefixes: {reason}"),
                location,
                malformed,
            }),
        };
        emit(event)?;
    }
    Ok(())
}

fn load_commit_meta(conn: &Connection) -> rusqlite::Result<HashMap<String, CommitMeta>> {
    let mut cwes_of_cve: HashMap<String, Vec<String>> = HashMap::new();
    let mut stmt = conn.prepare("SELECT cve_id, cwe_id FROM cwe_classification")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        if let (Some(cve), Some(cwe)) = (text(row.get_ref(0).ok()), text(row.get_ref(1).ok())) {
            if let Some(cwe) = normalize_cwe(&cwe) {
                cwes_of_cve
                    .entry(cve.trim().to_string())
                    .or_default()
                    .push(cwe);
            }
        }
    }
    let mut metas: HashMap<String, CommitMeta> = HashMap::new();
    let mut stmt = conn.prepare("SELECT hash, repo_url, cve_id FROM fixes")?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        let Some(hash) = text(row.get_ref(0).ok()).and_then(|h| normalize_commit(&h)) else {
            continue;
        };
        let meta = metas.entry(hash).or_default();
        if let Some(repo) = text(row.get_ref(1).ok()) {
            // Several repo URLs for one hash (forks): keep the smallest so the choice is stable.
            let repo = repo.trim().trim_end_matches(".git").to_string();
            if meta.repository.is_empty() || repo < meta.repository {
                meta.repository = repo;
            }
        }
        if let Some(cve) = text(row.get_ref(2).ok()) {
            let cve = cve.trim().to_string();
            if let Some(cwes) = cwes_of_cve.get(&cve) {
                meta.cwes.extend(cwes.iter().cloned());
            }
            meta.cves.insert(cve);
        }
    }
    Ok(metas)
}

/// A TEXT cell, with CVEfixes' 'None'/'nan' and SQL NULL as missing.
fn text(cell: Option<ValueRef<'_>>) -> Option<String> {
    let s = match cell? {
        ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned(),
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Real(r) => r.to_string(),
        ValueRef::Blob(b) => String::from_utf8_lossy(b).into_owned(),
        ValueRef::Null => return None,
    };
    (!is_missing(&s)).then_some(s)
}

struct FileRow {
    hash: Option<String>,
    filename: Option<String>,
    old_path: Option<String>,
    new_path: Option<String>,
    diff: Option<String>,
    code_after: Option<String>,
    code_before: Option<String>,
    language: Option<String>,
}

/// The unit of one row, or (reason, malformed).
fn to_unit(
    row: FileRow,
    metas: &HashMap<String, CommitMeta>,
    side: Side,
) -> Result<Unit, (&'static str, bool)> {
    let commit = row
        .hash
        .as_deref()
        .and_then(normalize_commit)
        .ok_or(("bad commit hash", true))?;
    let meta = metas.get(&commit).ok_or(("commit not in fixes", true))?;
    let kept_path = match side {
        Side::Fixed => row.new_path.as_ref(),
        Side::Vulnerable => row.old_path.as_ref(),
    };
    let path = kept_path
        .or(row.new_path.as_ref())
        .or(row.old_path.as_ref())
        .or(row.filename.as_ref())
        .ok_or(("no file path", true))?
        .clone();
    let hint = row.language.as_deref().and_then(lang_of_field);
    let language = lang_of_path(&path, hint).ok_or(("not C/C++", false))?;
    let code = match side {
        Side::Fixed => match (row.code_after, &row.new_path) {
            (Some(code), _) => code,
            (None, None) => return Err(("file deleted by the fix", false)),
            (None, Some(_)) => return Err(("code_after missing", true)),
        },
        Side::Vulnerable => match (row.code_before, &row.old_path) {
            (Some(code), _) => code,
            (None, None) => return Err(("file added by the fix", false)),
            (None, Some(_)) => return Err(("code_before missing", true)),
        },
    };
    let diff = row.diff.ok_or(("diff missing", true))?;
    let changed = parse_unified(&diff).map_err(|_| ("unparsable diff", true))?;
    let lines = match side {
        Side::Fixed => changed.new,
        Side::Vulnerable => changed.old,
    };
    let changed_lines = ChangedLines::clamped(&lines, code.lines().count() as u32);
    if changed_lines.is_empty() {
        return Err(("no changed lines on the kept side", false));
    }
    Ok(Unit {
        source: SourceKind::Cvefixes,
        commit,
        repository: meta.repository.clone(),
        file_path: path,
        cwe_ids: meta.cwes.iter().cloned().collect(),
        cve_ids: meta.cves.iter().cloned().collect(),
        language,
        code,
        changed_lines,
        scope: Scope::File,
    })
}
