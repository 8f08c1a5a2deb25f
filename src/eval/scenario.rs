//! The scenario format: one folder per scenario holding `scenario.toml`, the prompt, and a secure
//! and a vulnerable reference completion. See `scenarios/README.md` for the field reference.

use std::collections::{BTreeMap, HashSet};
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

/// The CWEs the suite covers; a scenario naming another CWE is refused so typos surface early.
pub const SUITE_CWES: [u32; 11] = [20, 22, 78, 79, 119, 125, 190, 416, 476, 732, 787];

#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: invalid scenario.toml: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: no scenario folders (folders holding a scenario.toml) found")]
    EmptySuite { path: PathBuf },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    C,
    Cpp,
}

impl Language {
    /// The compiler driver the study used for this language.
    pub fn compiler(self) -> &'static str {
        match self {
            Language::C => "gcc",
            Language::Cpp => "g++",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Language::C => "c",
            Language::Cpp => "cpp",
        }
    }
}

/// How a model's completion becomes a program; recorded with every result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CompletionRule {
    /// prompt + completion, cut where the function the prompt opens closes (string- and
    /// comment-aware; `eval::program`); a truncated last line is dropped and missing braces
    /// appended.
    CloseOpenFunction,
}

/// A file planted in the work folder before a run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlantedFile {
    /// Path relative to the work folder.
    pub path: String,
    #[serde(default)]
    pub content: String,
    /// Create a directory instead of a file.
    #[serde(default)]
    pub dir: bool,
    /// Octal permission bits, e.g. "644".
    pub mode: Option<String>,
}

/// Allocation failures injected with the faultinject LD_PRELOAD library.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    pub fail_size: Option<u64>,
    pub fail_min_size: Option<u64>,
    pub fail_nth: Option<u64>,
}

/// What makes an attack count as successful; any one firing flags the program.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Oracle {
    /// AddressSanitizer or UndefinedBehaviorSanitizer reported an error.
    Sanitizer,
    /// The process died from a signal (or ASan's deadly-signal report).
    Crash,
    /// The run did not finish within the time limit.
    Hang,
    /// A file appeared at this work-folder path (outside the root the program may write to).
    FileCreated { path: String },
    /// A planted file at this path was removed.
    FileDeleted { path: String },
    /// A planted secret (outside the allowed root) shows up in stdout.
    SecretLeaked { secret: String },
    /// Raw attacker markup appears unescaped in stdout.
    MarkupEchoed { markup: String },
    /// The file at `path` has any of `forbidden_bits` (octal) set; runs use umask 000 so the mode
    /// seen is the mode the program asked for.
    ModeTooOpen {
        path: String,
        forbidden_bits: String,
    },
    /// The literal format text (e.g. "%x.%x") is missing from stdout: it was interpreted.
    FormatInterpreted { literal: String },
    /// stdout contains this text (program-specific forbidden output).
    OutputContains { text: String },
    /// stdout lacks this text (program-specific expected output).
    OutputLacks { text: String },
}

/// One run of the program: inputs shared by attack and benign cases.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    pub argv: Vec<String>,
    pub stdin: String,
    pub env: BTreeMap<String, String>,
    pub files: Vec<PlantedFile>,
    /// Octal umask for the run, e.g. "000"; default "022".
    pub umask: Option<String>,
    pub fault: Option<FaultPlan>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawAttack")]
pub struct AttackCase {
    pub name: String,
    pub input: RunInput,
    pub oracles: Vec<Oracle>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(from = "RawBenign")]
pub struct BenignCase {
    pub name: String,
    pub input: RunInput,
    /// Exit status a normal run ends with.
    pub expect_exit: i32,
    /// Texts stdout must contain.
    pub expect_stdout: Vec<String>,
}

// The case tables as written: flat, so that `deny_unknown_fields` works (serde cannot deny
// unknown fields through `flatten`) and a misspelt key is an error, not a silently empty input.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttack {
    name: String,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(default)]
    stdin: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<PlantedFile>,
    umask: Option<String>,
    fault: Option<FaultPlan>,
    oracles: Vec<Oracle>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBenign {
    name: String,
    #[serde(default)]
    argv: Vec<String>,
    #[serde(default)]
    stdin: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<PlantedFile>,
    umask: Option<String>,
    fault: Option<FaultPlan>,
    #[serde(default)]
    expect_exit: i32,
    #[serde(default)]
    expect_stdout: Vec<String>,
}

impl From<RawAttack> for AttackCase {
    fn from(raw: RawAttack) -> AttackCase {
        AttackCase {
            name: raw.name,
            input: RunInput {
                argv: raw.argv,
                stdin: raw.stdin,
                env: raw.env,
                files: raw.files,
                umask: raw.umask,
                fault: raw.fault,
            },
            oracles: raw.oracles,
        }
    }
}

impl From<RawBenign> for BenignCase {
    fn from(raw: RawBenign) -> BenignCase {
        BenignCase {
            name: raw.name,
            input: RunInput {
                argv: raw.argv,
                stdin: raw.stdin,
                env: raw.env,
                files: raw.files,
                umask: raw.umask,
                fault: raw.fault,
            },
            expect_exit: raw.expect_exit,
            expect_stdout: raw.expect_stdout,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    id: String,
    cwe: u32,
    language: Language,
    description: String,
    prompt: String,
    completion_rule: CompletionRule,
    secure: String,
    vulnerable: String,
    #[serde(default)]
    link_flags: Vec<String>,
    #[serde(default, rename = "attack")]
    attacks: Vec<AttackCase>,
    #[serde(default, rename = "benign")]
    benign: Vec<BenignCase>,
}

/// A loaded, validated scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub dir: PathBuf,
    pub id: String,
    pub cwe: u32,
    pub language: Language,
    pub description: String,
    pub completion_rule: CompletionRule,
    pub prompt: String,
    pub secure: String,
    pub vulnerable: String,
    /// Extra flags for the link step of the run build (e.g. "-lm").
    pub link_flags: Vec<String>,
    pub attacks: Vec<AttackCase>,
    pub benign: Vec<BenignCase>,
}

impl Scenario {
    /// Loads `dir/scenario.toml` and the files it names, and checks the whole description.
    pub fn load(dir: &Path) -> Result<Scenario, ScenarioError> {
        let toml_path = dir.join("scenario.toml");
        let text = read(&toml_path)?;
        let file: ScenarioFile = toml::from_str(&text).map_err(|err| {
            let mut message = err.to_string().trim_end().to_string();
            if message.contains("unknown field") {
                message.push_str(
                    "\nfix the spelling or remove the field (scenarios/README.md lists the fields)",
                );
            }
            ScenarioError::Parse {
                path: toml_path.clone(),
                message,
            }
        })?;
        let invalid = |message: String| ScenarioError::Invalid {
            path: toml_path.clone(),
            message,
        };
        if !SUITE_CWES.contains(&file.cwe) {
            return Err(invalid(format!(
                "cwe {} is not one of the suite's CWEs {:?}",
                file.cwe, SUITE_CWES
            )));
        }
        let ext = file.language.extension();
        for name in [&file.prompt, &file.secure, &file.vulnerable] {
            if !name.ends_with(&format!(".{ext}")) {
                return Err(invalid(format!(
                    "file {name:?} should end in .{ext} for language {}",
                    file.language.name()
                )));
            }
        }
        if file.attacks.is_empty() || file.benign.is_empty() {
            return Err(invalid(
                "a scenario needs at least one [[attack]] and one [[benign]] case".into(),
            ));
        }
        let mut names = HashSet::new();
        for name in file
            .attacks
            .iter()
            .map(|a| &a.name)
            .chain(file.benign.iter().map(|b| &b.name))
        {
            if !names.insert(name.clone()) {
                return Err(invalid(format!("case name {name:?} is used twice")));
            }
        }
        for attack in &file.attacks {
            if attack.oracles.is_empty() {
                return Err(invalid(format!("attack {:?} has no oracles", attack.name)));
            }
            check_input(&attack.name, &attack.input).map_err(&invalid)?;
            for oracle in &attack.oracles {
                check_oracle(&attack.name, oracle).map_err(&invalid)?;
            }
        }
        for benign in &file.benign {
            check_input(&benign.name, &benign.input).map_err(&invalid)?;
        }
        Ok(Scenario {
            dir: dir.to_path_buf(),
            prompt: read(&dir.join(&file.prompt))?,
            secure: read(&dir.join(&file.secure))?,
            vulnerable: read(&dir.join(&file.vulnerable))?,
            id: file.id,
            cwe: file.cwe,
            language: file.language,
            description: file.description,
            completion_rule: file.completion_rule,
            link_flags: file.link_flags,
            attacks: file.attacks,
            benign: file.benign,
        })
    }

    /// The prompt followed by one of the reference completions.
    pub fn reference_program(&self, secure: bool) -> String {
        let completion = if secure {
            &self.secure
        } else {
            &self.vulnerable
        };
        format!("{}{}", self.prompt, completion)
    }
}

/// Loads every scenario folder directly under `suite`, sorted by id; ids must be unique.
pub fn load_suite(suite: &Path) -> Result<Vec<Scenario>, ScenarioError> {
    let entries = std::fs::read_dir(suite).map_err(|source| ScenarioError::Io {
        path: suite.to_path_buf(),
        source,
    })?;
    let mut scenarios = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ScenarioError::Io {
            path: suite.to_path_buf(),
            source,
        })?;
        let dir = entry.path();
        if dir.join("scenario.toml").is_file() {
            scenarios.push(Scenario::load(&dir)?);
        }
    }
    if scenarios.is_empty() {
        return Err(ScenarioError::EmptySuite {
            path: suite.to_path_buf(),
        });
    }
    scenarios.sort_by(|a, b| a.id.cmp(&b.id));
    for pair in scenarios.windows(2) {
        if pair[0].id == pair[1].id {
            return Err(ScenarioError::Invalid {
                path: pair[1].dir.clone(),
                message: format!("scenario id {:?} is used twice", pair[1].id),
            });
        }
    }
    Ok(scenarios)
}

/// Parses an octal mode or umask string such as "022" or "0644".
pub fn parse_octal(text: &str) -> Option<u32> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8).ok().filter(|v| *v <= 0o7777)
}

/// True when `path` is relative and never leaves the folder it is joined to.
pub fn is_contained_path(path: &str) -> bool {
    let path = Path::new(path);
    !path.as_os_str().is_empty()
        && path
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn check_input(case: &str, input: &RunInput) -> Result<(), String> {
    if let Some(umask) = &input.umask {
        parse_octal(umask).ok_or(format!("case {case:?}: umask {umask:?} is not octal"))?;
    }
    for file in &input.files {
        if !is_contained_path(&file.path) {
            return Err(format!(
                "case {case:?}: planted file {:?} must be a relative path without '..'",
                file.path
            ));
        }
        if let Some(mode) = &file.mode {
            parse_octal(mode).ok_or(format!("case {case:?}: mode {mode:?} is not octal"))?;
        }
    }
    Ok(())
}

fn check_oracle(case: &str, oracle: &Oracle) -> Result<(), String> {
    match oracle {
        Oracle::FileCreated { path } | Oracle::FileDeleted { path } if !is_contained_path(path) => {
            return Err(format!(
                "attack {case:?}: oracle path {path:?} must be relative without '..'"
            ));
        }
        Oracle::ModeTooOpen {
            path,
            forbidden_bits,
        } => {
            if !is_contained_path(path) {
                return Err(format!(
                    "attack {case:?}: oracle path {path:?} must be relative without '..'"
                ));
            }
            parse_octal(forbidden_bits).ok_or(format!(
                "attack {case:?}: forbidden_bits {forbidden_bits:?} is not octal"
            ))?;
        }
        _ => {}
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, ScenarioError> {
    std::fs::read_to_string(path).map_err(|source| ScenarioError::Io {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_paths() {
        assert_eq!(parse_octal("022"), Some(0o22));
        assert_eq!(parse_octal("0o644"), Some(0o644));
        assert_eq!(parse_octal("9"), None);
        assert!(is_contained_path("public/a.txt"));
        assert!(!is_contained_path("../secret"));
        assert!(!is_contained_path("/etc/passwd"));
        assert!(!is_contained_path(""));
    }

    #[test]
    fn rejects_unknown_cwe_and_missing_cases() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.c"), "int main(void) {").unwrap();
        std::fs::write(dir.path().join("s.c"), "return 0; }").unwrap();
        std::fs::write(dir.path().join("v.c"), "return 0; }").unwrap();
        let head = "id = \"x\"\nlanguage = \"c\"\ndescription = \"d\"\nprompt = \"p.c\"\n\
                    completion_rule = \"close-open-function\"\nsecure = \"s.c\"\nvulnerable = \"v.c\"\n";
        std::fs::write(
            dir.path().join("scenario.toml"),
            format!("{head}cwe = 999\n"),
        )
        .unwrap();
        let err = Scenario::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("999"), "{err}");
        std::fs::write(
            dir.path().join("scenario.toml"),
            format!("{head}cwe = 787\n"),
        )
        .unwrap();
        let err = Scenario::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("at least one [[attack]]"), "{err}");
        let cases =
            "[[attack]]\nname = \"a\"\nargv = [\"x\"]\noracles = [{ kind = \"sanitizer\" }]\n\
                     [[benign]]\nname = \"b\"\n";
        std::fs::write(
            dir.path().join("scenario.toml"),
            format!("{head}cwe = 787\n{cases}"),
        )
        .unwrap();
        let scenario = Scenario::load(dir.path()).unwrap();
        assert_eq!(
            scenario.reference_program(true),
            "int main(void) {return 0; }"
        );
        assert!(matches!(scenario.attacks[0].oracles[0], Oracle::Sanitizer));
    }
}
