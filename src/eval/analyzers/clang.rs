//! The clang static analyzer (SARIF) and clang-tidy's bugprone checks (text diagnostics).

use super::families::clang_rule_cwe;
use super::{run_sandboxed, sarif, source_name, Finding};
use crate::eval::sandbox::Sandbox;
use crate::eval::scenario::Language;

const REPORT: &str = "clang.sarif";

pub fn analyze(
    sandbox: &Sandbox,
    language: Language,
    source: &str,
) -> Result<Vec<Finding>, String> {
    let argv = vec![
        "clang".to_string(),
        "--analyze".into(),
        "-Xclang".into(),
        "-analyzer-output=sarif".into(),
        "-o".into(),
        REPORT.into(),
        source_name(language),
    ];
    let (_outcome, work) = run_sandboxed(sandbox, language, source, argv, None)?;
    match work.read_file_beneath(REPORT) {
        Ok(bytes) => sarif::findings(&String::from_utf8_lossy(&bytes), "clang", clang_rule_cwe),
        // No report: the file did not parse for clang; nothing to say about it.
        Err(_) => Ok(Vec::new()),
    }
}

pub fn tidy(sandbox: &Sandbox, language: Language, source: &str) -> Result<Vec<Finding>, String> {
    let argv = vec![
        "clang-tidy".to_string(),
        "--checks=-*,bugprone-*".into(),
        "--quiet".into(),
        source_name(language),
        "--".into(),
    ];
    let (outcome, _work) = run_sandboxed(sandbox, language, source, argv, None)?;
    Ok(parse_tidy(&outcome.stdout_lossy()))
}

/// Lines like `prog.c:12:5: warning: message [check-name]`.
fn parse_tidy(stdout: &str) -> Vec<Finding> {
    stdout
        .lines()
        .filter_map(|line| {
            let (location, rest) = line.split_once(": warning: ")?;
            let line_no = location.split(':').nth(1)?.parse().ok();
            let (message, rule) = rest.rsplit_once(" [")?;
            let rule = rule.strip_suffix(']')?.to_string();
            Some(Finding {
                tool: "clang-tidy".into(),
                cwe: clang_rule_cwe(&rule, message),
                rule,
                line: line_no,
                message: message.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tidy_lines_are_parsed() {
        let out = "prog.c:9:5: warning: the result from calling 'strlen' is not null-terminated [bugprone-not-null-terminated-result]\nnoise\n";
        let found = parse_tidy(out);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].line, Some(9));
        assert_eq!(found[0].rule, "bugprone-not-null-terminated-result");
        assert_eq!(found[0].cwe, Some(787));
    }
}
