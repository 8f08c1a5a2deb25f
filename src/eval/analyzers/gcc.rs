//! gcc's static analyzer and warnings, read from its JSON diagnostics.

use serde_json::Value;

use super::families::gcc_option_cwe;
use super::{run_sandboxed, source_name, Finding};
use crate::eval::pch::PchCache;
use crate::eval::sandbox::Sandbox;
use crate::eval::scenario::Language;

pub fn analyze(
    sandbox: &Sandbox,
    language: Language,
    source: &str,
    pch: Option<&PchCache>,
) -> Result<Vec<Finding>, String> {
    let mut argv = vec![language.compiler().to_string()];
    // gcc 12's analyzer supports C only (C++ is experimental, slow and noisy); C++ gets the
    // warnings, and the clang analyzer covers it.
    if language == Language::C {
        argv.push("-fanalyzer".into());
    }
    argv.extend(["-Wall", "-Wextra", "-O1", "-fdiagnostics-format=json", "-c"].map(String::from));
    let name = source_name(language);
    argv.extend([name.clone(), "-o".into(), "prog.o".into()]);
    let using = match (language, pch) {
        (Language::Cpp, Some(cache)) => cache.for_compile(sandbox, &argv, &name, source),
        _ => None,
    };
    if let Some(using) = &using {
        using.add_to(&mut argv);
    }
    let (outcome, _work) = run_sandboxed(sandbox, language, source, argv, using.map(|u| u.dir))?;
    parse(&outcome.stderr_lossy())
}

/// gcc prints one JSON array of diagnostics on stderr (possibly after plain lines from the driver).
fn parse(stderr: &str) -> Result<Vec<Finding>, String> {
    let Some(start) = stderr.find('[') else {
        return Ok(Vec::new());
    };
    let diagnostics: Value = serde_json::from_str(stderr[start..].trim())
        .map_err(|e| format!("bad gcc JSON diagnostics: {e}"))?;
    let mut out = Vec::new();
    for diag in diagnostics.as_array().into_iter().flatten() {
        if diag["kind"].as_str() != Some("warning") {
            continue;
        }
        let rule = diag["option"].as_str().unwrap_or("warning").to_string();
        let cwe = diag["metadata"]["cwe"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .or_else(|| gcc_option_cwe(&rule));
        out.push(Finding {
            tool: "gcc".into(),
            line: diag["locations"][0]["caret"]["line"]
                .as_u64()
                .and_then(|l| u32::try_from(l).ok()),
            message: diag["message"].as_str().unwrap_or("").to_string(),
            rule,
            cwe,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_analyzer_cwe_and_option_mapping() {
        let stderr = r#"[{"kind": "warning", "message": "dereference of NULL 'p'", "option": "-Wanalyzer-null-dereference",
            "metadata": {"cwe": 476}, "locations": [{"caret": {"file": "prog.c", "line": 14, "column": 5}}]},
            {"kind": "note", "message": "here", "locations": []},
            {"kind": "warning", "message": "array subscript 5 is above bounds", "option": "-Warray-bounds",
            "locations": [{"caret": {"file": "prog.c", "line": 3, "column": 1}}]}]"#;
        let found = parse(stderr).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].cwe, Some(476));
        assert_eq!(found[0].line, Some(14));
        assert_eq!(found[1].cwe, Some(119));
        assert!(parse("").unwrap().is_empty());
    }
}
