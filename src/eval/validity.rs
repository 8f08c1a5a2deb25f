//! Validity: does the program compile with the study's command (`gcc -g -O -c` for C,
//! `g++ -g -O -c` for C++), run in the sandbox? Failed compiles are classified from gcc's JSON
//! diagnostics (`-fdiagnostics-format=json`) into a syntax error or one of the semantic
//! classes, so a report can say why completions were invalid.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::eval::pch::PchCache;
use crate::eval::sandbox::{Limits, RunSpec, Sandbox, SandboxError, WorkDir};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    C,
    Cpp,
}

/// Compilers and flags; `Default` is the study's.
#[derive(Debug, Clone, Serialize)]
pub struct CompileConfig {
    pub c_compiler: String,
    pub cpp_compiler: String,
    pub flags: Vec<String>,
    pub limits: Limits,
}

impl Default for CompileConfig {
    fn default() -> Self {
        CompileConfig {
            c_compiler: "gcc".into(),
            cpp_compiler: "g++".into(),
            flags: ["-g", "-O", "-c"].map(String::from).to_vec(),
            limits: Limits {
                wall: std::time::Duration::from_secs(60),
                cpu_secs: 60,
                address_space_bytes: Some(4 << 30),
                memory_bytes: 2 << 30,
                ..Limits::default()
            },
        }
    }
}

impl CompileConfig {
    /// The argv that compiles `source` (in the work folder) to `object`.
    pub fn argv(&self, lang: Language, source: &str, object: &str) -> Vec<String> {
        let compiler = match lang {
            Language::C => &self.c_compiler,
            Language::Cpp => &self.cpp_compiler,
        };
        let mut argv = vec![compiler.clone()];
        argv.extend(self.flags.iter().cloned());
        argv.extend(
            ["-fdiagnostics-format=json", "-o", object, source]
                .iter()
                .map(|s| s.to_string()),
        );
        argv
    }
}

/// Why a compile failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    Syntax,
    UndeclaredIdentifier,
    ImplicitDeclaration,
    Redefinition,
    MissingHeader,
    TypeMismatch,
    /// Semantic errors of no class above, and compiler failures without diagnostics.
    Other,
}

impl ErrorClass {
    pub fn is_semantic(self) -> bool {
        self != ErrorClass::Syntax
    }
}

/// One error from gcc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub class: ErrorClass,
    pub kind: String,
    pub message: String,
    pub line: Option<u64>,
    pub option: Option<String>,
}

/// The outcome of one compile.
#[derive(Debug, Clone, Serialize)]
pub struct CompileReport {
    pub valid: bool,
    /// Class of the first error (the usual root cause); `None` when valid.
    pub primary: Option<ErrorClass>,
    pub errors: Vec<Diagnostic>,
    pub warnings: usize,
    pub command: Vec<String>,
}

#[derive(Deserialize)]
struct RawDiag {
    kind: String,
    message: String,
    #[serde(default)]
    option: Option<String>,
    #[serde(default)]
    locations: Vec<RawLocation>,
}

#[derive(Deserialize)]
struct RawLocation {
    caret: Option<RawPosition>,
}

#[derive(Deserialize)]
struct RawPosition {
    line: Option<u64>,
}

/// Classifies one gcc error message (message wording of gcc 12–14, C and C++ front ends).
pub fn classify(kind: &str, message: &str, option: Option<&str>) -> ErrorClass {
    let m = message;
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    if kind == "fatal error" && m.contains("No such file or directory") {
        return ErrorClass::MissingHeader;
    }
    if option == Some("-Wimplicit-function-declaration") || has(&["implicit declaration of"]) {
        return ErrorClass::ImplicitDeclaration;
    }
    if has(&[
        "redefinition of",
        "conflicting types for",
        "redeclared as different kind",
        "conflicting declaration",
        "previous definition",
    ]) {
        return ErrorClass::Redefinition;
    }
    if has(&[
        "undeclared",
        "was not declared in this scope",
        "unknown type name",
        "does not name a type",
        "has not been declared",
        "is not a namespace",
    ]) {
        return ErrorClass::UndeclaredIdentifier;
    }
    if has(&[
        "incompatible type",
        "cannot convert",
        "invalid conversion",
        "conversion from",
        "no match for",
        "no matching function",
        "invalid operands",
        "too many arguments",
        "too few arguments",
        "request for member",
        "has no member",
        "is not a member",
        "subscripted value",
        "lvalue required",
        "invalid type argument",
        "void value not ignored",
    ]) {
        return ErrorClass::TypeMismatch;
    }
    let syntax_start = ["expected", "stray", "missing terminating", "unterminated"];
    if syntax_start.iter().any(|s| m.starts_with(s))
        || has(&[
            "at end of input",
            "before numeric constant",
            "invalid preprocessing directive",
        ])
    {
        return ErrorClass::Syntax;
    }
    ErrorClass::Other
}

/// Parses gcc's JSON diagnostics (the first JSON array in `stderr`; gcc may print plain
/// lines such as "compilation terminated." after it). Returns errors and the warning count.
pub fn parse_diagnostics(stderr: &str) -> Option<(Vec<Diagnostic>, usize)> {
    let start = stderr.find("[{").or_else(|| stderr.find("[]"))?;
    let mut stream =
        serde_json::Deserializer::from_str(&stderr[start..]).into_iter::<Vec<RawDiag>>();
    let raw = stream.next()?.ok()?;
    let mut errors = Vec::new();
    let mut warnings = 0;
    for d in raw {
        match d.kind.as_str() {
            "error" | "fatal error" => {
                let line = d
                    .locations
                    .first()
                    .and_then(|l| l.caret.as_ref())
                    .and_then(|c| c.line);
                errors.push(Diagnostic {
                    class: classify(&d.kind, &d.message, d.option.as_deref()),
                    kind: d.kind,
                    message: d.message,
                    line,
                    option: d.option,
                });
            }
            "warning" => warnings += 1,
            _ => {}
        }
    }
    Some((errors, warnings))
}

/// Compiles `source` (a file in `dir`) and classifies the result.
pub fn check(
    sandbox: &Sandbox,
    dir: &WorkDir,
    source: &str,
    lang: Language,
    config: &CompileConfig,
) -> Result<CompileReport, SandboxError> {
    check_with_pch(sandbox, dir, source, lang, config, None)
}

/// [`check`], with C++ compiles given the precompiled leading includes of `text` (the source's
/// content) when `pch` is set: same result, less parsing (`eval::pch`).
pub fn check_with_pch(
    sandbox: &Sandbox,
    dir: &WorkDir,
    source: &str,
    lang: Language,
    config: &CompileConfig,
    pch: Option<(&PchCache, &str)>,
) -> Result<CompileReport, SandboxError> {
    let mut argv = config.argv(lang, source, "prog.o");
    let mut spec = RunSpec::new(Vec::<String>::new()).limits(config.limits.clone());
    if let (Language::Cpp, Some((cache, text))) = (lang, pch) {
        if let Some(using) = cache.for_compile(sandbox, &argv, source, text) {
            using.add_to(&mut argv);
            spec.readonly_dir = Some(using.dir);
        }
    }
    spec.argv = argv.clone();
    let out = sandbox.run(dir, &spec)?;
    let stderr = out.stderr_lossy();
    let (mut errors, warnings) = parse_diagnostics(&stderr).unwrap_or_default();
    let valid = out.success() && errors.is_empty();
    if !valid && errors.is_empty() {
        // Killed, timed out, or a crash without JSON: keep what it said.
        errors.push(Diagnostic {
            class: ErrorClass::Other,
            kind: format!("{:?}", out.exit),
            message: stderr.chars().take(500).collect(),
            line: None,
            option: None,
        });
    }
    Ok(CompileReport {
        valid,
        primary: errors.first().map(|e| e.class).filter(|_| !valid),
        errors: if valid { Vec::new() } else { errors },
        warnings,
        command: argv,
    })
}

/// Writes `text` to a fresh work folder and checks it.
pub fn check_source(
    sandbox: &Sandbox,
    text: &str,
    lang: Language,
    config: &CompileConfig,
) -> Result<CompileReport, SandboxError> {
    let dir = sandbox.workdir()?;
    let name = match lang {
        Language::C => "prog.c",
        Language::Cpp => "prog.cpp",
    };
    dir.write_file(name, text.as_bytes())?;
    check(sandbox, &dir, name, lang, config)
}

/// [`check_source`] with precompiled headers for C++ (see [`check_with_pch`]).
pub fn check_source_with_pch(
    sandbox: &Sandbox,
    text: &str,
    lang: Language,
    config: &CompileConfig,
    pch: &PchCache,
) -> Result<CompileReport, SandboxError> {
    let dir = sandbox.workdir()?;
    let name = match lang {
        Language::C => "prog.c",
        Language::Cpp => "prog.cpp",
    };
    dir.write_file(name, text.as_bytes())?;
    check_with_pch(sandbox, &dir, name, lang, config, Some((pch, text)))
}

/// Valid and invalid counts of one scenario, invalid ones by primary class.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ValidityCounts {
    pub generated: usize,
    pub compiled: usize,
    pub syntax_errors: usize,
    pub semantic_errors: usize,
    pub by_class: BTreeMap<ErrorClass, usize>,
}

impl ValidityCounts {
    pub fn add(&mut self, report: &CompileReport) {
        self.generated += 1;
        match report.primary {
            None => self.compiled += 1,
            Some(class) => {
                if class.is_semantic() {
                    self.semantic_errors += 1;
                } else {
                    self.syntax_errors += 1;
                }
                *self.by_class.entry(class).or_insert(0) += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_gcc_messages() {
        let cases = [
            (
                "fatal error",
                "nothere.h: No such file or directory",
                None,
                ErrorClass::MissingHeader,
            ),
            (
                "error",
                "‘y’ undeclared (first use in this function)",
                None,
                ErrorClass::UndeclaredIdentifier,
            ),
            (
                "error",
                "‘f’ was not declared in this scope",
                None,
                ErrorClass::UndeclaredIdentifier,
            ),
            (
                "error",
                "unknown type name ‘size’",
                None,
                ErrorClass::UndeclaredIdentifier,
            ),
            (
                "error",
                "implicit declaration of function ‘foo’",
                Some("-Wimplicit-function-declaration"),
                ErrorClass::ImplicitDeclaration,
            ),
            (
                "error",
                "redefinition of ‘f’",
                None,
                ErrorClass::Redefinition,
            ),
            (
                "error",
                "conflicting types for ‘g’",
                None,
                ErrorClass::Redefinition,
            ),
            (
                "error",
                "incompatible types when initializing type ‘int *’ using type ‘struct s’",
                None,
                ErrorClass::TypeMismatch,
            ),
            (
                "error",
                "cannot convert ‘std::string’ to ‘int’ in return",
                None,
                ErrorClass::TypeMismatch,
            ),
            (
                "error",
                "expected ‘,’ or ‘;’ before ‘return’",
                None,
                ErrorClass::Syntax,
            ),
            (
                "error",
                "expected declaration or statement at end of input",
                None,
                ErrorClass::Syntax,
            ),
            ("error", "stray ‘\\’ in program", None, ErrorClass::Syntax),
            (
                "error",
                "missing terminating \" character",
                None,
                ErrorClass::Syntax,
            ),
            (
                "error",
                "label at end of compound statement",
                None,
                ErrorClass::Other,
            ),
        ];
        for (kind, msg, opt, want) in cases {
            assert_eq!(classify(kind, msg, opt), want, "{msg}");
        }
    }

    #[test]
    fn parses_json_followed_by_plain_text() {
        let stderr = r#"[{"kind": "fatal error", "children": [], "locations": [{"caret": {"line": 1, "file": "a.c", "column": 10}}], "message": "nothere.h: No such file or directory"}, {"kind": "warning", "message": "unused", "option": "-Wunused", "locations": []}]
compilation terminated.
"#;
        let (errors, warnings) = parse_diagnostics(stderr).unwrap();
        assert_eq!(warnings, 1);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].class, ErrorClass::MissingHeader);
        assert_eq!(errors[0].line, Some(1));
        assert_eq!(parse_diagnostics("[]\n").unwrap().0.len(), 0);
        assert!(parse_diagnostics("Segmentation fault").is_none());
    }

    #[test]
    fn counts_by_primary_class() {
        let report = |primary: Option<ErrorClass>| CompileReport {
            valid: primary.is_none(),
            primary,
            errors: Vec::new(),
            warnings: 0,
            command: Vec::new(),
        };
        let mut c = ValidityCounts::default();
        c.add(&report(None));
        c.add(&report(Some(ErrorClass::Syntax)));
        c.add(&report(Some(ErrorClass::UndeclaredIdentifier)));
        c.add(&report(Some(ErrorClass::UndeclaredIdentifier)));
        assert_eq!(
            (c.generated, c.compiled, c.syntax_errors, c.semantic_errors),
            (4, 1, 1, 2)
        );
        assert_eq!(c.by_class[&ErrorClass::UndeclaredIdentifier], 2);
    }

    #[test]
    fn study_command_line() {
        let argv = CompileConfig::default().argv(Language::C, "p.c", "p.o");
        assert_eq!(
            argv,
            [
                "gcc",
                "-g",
                "-O",
                "-c",
                "-fdiagnostics-format=json",
                "-o",
                "p.o",
                "p.c"
            ]
        );
    }
}
