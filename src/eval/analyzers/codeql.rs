//! CodeQL, used only when a `codeql` binary is on PATH (it cannot be installed from the
//! registries this project may use, so this path is untested here): build a database from one
//! compile of the program and run the standard security queries, reading SARIF.

use std::process::Command;

use super::{blank_quoted_includes, sarif, source_name, Finding};
use crate::eval::judge::ScratchDir;
use crate::eval::scenario::Language;

pub fn analyze(language: Language, source: &str) -> Result<Vec<Finding>, String> {
    let scratch = ScratchDir::new("codeql").map_err(|e| e.to_string())?;
    let name = source_name(language);
    std::fs::write(scratch.path().join(&name), blank_quoted_includes(source))
        .map_err(|e| e.to_string())?;
    let compile = format!("{} -c {name} -o prog.o", language.compiler());
    let create = Command::new("codeql")
        .args(["database", "create", "db", "--language=cpp", "--overwrite"])
        .arg(format!("--command={compile}"))
        .current_dir(scratch.path())
        .output()
        .map_err(|e| format!("cannot start codeql: {e}"))?;
    if !create.status.success() {
        return Err(format!(
            "codeql database create failed: {}",
            String::from_utf8_lossy(&create.stderr)
        ));
    }
    let analyze = Command::new("codeql")
        .args(["database", "analyze", "db", "codeql/cpp-queries"])
        .args(["--format=sarif-latest", "--output=codeql.sarif"])
        .current_dir(scratch.path())
        .output()
        .map_err(|e| format!("cannot start codeql: {e}"))?;
    if !analyze.status.success() {
        return Err(format!(
            "codeql database analyze failed: {}",
            String::from_utf8_lossy(&analyze.stderr)
        ));
    }
    let report = std::fs::read_to_string(scratch.path().join("codeql.sarif"))
        .map_err(|e| format!("codeql wrote no SARIF: {e}"))?;
    sarif::findings(&report, "codeql", |_, _| None)
}
