//! Dynamic confirmation: build the program with sanitizers, run every attack and benign case of
//! its scenario in a fresh work folder, and apply the oracles.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::oracle::{benign_problem, fired, sanitizer_report, watched_paths, FileFacts};
use crate::eval::pch::PchCache;
use crate::eval::sandbox::{ExitKind, Limits, RunOutcome, RunSpec, Sandbox, SandboxError, WorkDir};
use crate::eval::scenario::{parse_octal, Language, RunInput, Scenario};

/// The run build's flags (DESIGN.md "The judge"): sanitizers on, signed overflow checked for all.
pub const RUN_BUILD_FLAGS: [&str; 7] = [
    "-g",
    "-O0",
    "-fsanitize=address,undefined",
    "-fsanitize=signed-integer-overflow",
    "-fno-omit-frame-pointer",
    "-fno-sanitize-recover=all",
    "-w",
];

/// ASan: stop at the first error, no leak noise, let the fault library load first, and return
/// NULL for impossible sizes (so only real misuse of the result is reported).
const ASAN_OPTIONS: &str =
    "detect_leaks=0:halt_on_error=1:verify_asan_link_order=0:allocator_may_return_null=1";
const UBSAN_OPTIONS: &str = "halt_on_error=1:print_stacktrace=1";
const PROGRAM: &str = "prog";
/// Kept from stderr in the evidence: enough for the sanitizer's headline and first frames.
const STDERR_EXCERPT: usize = 1500;

#[derive(Debug, Clone)]
pub struct DynamicOptions {
    pub compile_timeout: Duration,
    pub run_timeout: Duration,
}

impl Default for DynamicOptions {
    fn default() -> Self {
        DynamicOptions {
            compile_timeout: Duration::from_secs(60),
            run_timeout: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaseKind {
    Attack,
    Benign,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub name: String,
    pub kind: CaseKind,
    /// Attack cases: one message per oracle that fired.
    pub fired: Vec<String>,
    /// Benign cases: why the run was not normal.
    pub problem: Option<String>,
    pub exit: ExitKind,
    pub stderr_excerpt: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DynamicResult {
    /// The sanitizer build did not compile or link (e.g. no `main`).
    BuildFailed {
        message: String,
    },
    Ran {
        cases: Vec<CaseResult>,
    },
}

impl DynamicResult {
    pub fn attacks_fired(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases()
            .iter()
            .filter(|c| c.kind == CaseKind::Attack && !c.fired.is_empty())
    }

    pub fn benign_failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases()
            .iter()
            .filter(|c| c.kind == CaseKind::Benign && c.problem.is_some())
    }

    fn cases(&self) -> &[CaseResult] {
        match self {
            DynamicResult::BuildFailed { .. } => &[],
            DynamicResult::Ran { cases } => cases,
        }
    }
}

/// Builds the sanitizer binary from `source` in the sandbox and runs every case of `scenario`
/// against it, each in a fresh work folder. `Err` only when the sandbox itself fails. Also
/// returns how long the build took.
pub fn confirm(
    sandbox: &Sandbox,
    fault_library: &Path,
    scenario: &Scenario,
    source: &str,
    options: &DynamicOptions,
    pch: Option<&PchCache>,
) -> Result<(DynamicResult, Duration), SandboxError> {
    let started = Instant::now();
    let build = sandbox.workdir()?;
    let source_name = format!("prog.{}", scenario.language.extension());
    build.write_file(&source_name, source.as_bytes())?;
    let mut argv: Vec<String> = vec![scenario.language.compiler().into()];
    argv.extend(RUN_BUILD_FLAGS.iter().map(|s| s.to_string()));
    argv.extend([source_name.clone(), "-o".into(), PROGRAM.into()]);
    argv.extend(scenario.link_flags.iter().cloned());
    let using = match (scenario.language, pch) {
        (Language::Cpp, Some(cache)) => cache.for_compile(sandbox, &argv, &source_name, source),
        _ => None,
    };
    if let Some(using) = &using {
        using.add_to(&mut argv);
    }
    let mut compile = RunSpec::new(argv).limits(Limits {
        wall: options.compile_timeout,
        cpu_secs: options.compile_timeout.as_secs().max(1),
        ..Limits::default()
    });
    compile.env.push(("LANG".into(), "C".into()));
    compile.readonly_dir = using.map(|u| u.dir);
    let compiled = sandbox.run(&build, &compile)?;
    let binary = match build.read_file_beneath(PROGRAM) {
        Ok(bytes) if compiled.success() => bytes,
        _ => {
            let message = compiled
                .stderr_lossy()
                .chars()
                .take(STDERR_EXCERPT)
                .collect();
            return Ok((DynamicResult::BuildFailed { message }, started.elapsed()));
        }
    };
    drop(build);
    let build_time = started.elapsed();
    let mut cases = Vec::new();
    for attack in &scenario.attacks {
        let watched = watched_paths(&attack.oracles);
        let (outcome, files) = run_case(
            sandbox,
            &binary,
            fault_library,
            &attack.input,
            &watched,
            options,
        )?;
        let fired: Vec<String> = attack
            .oracles
            .iter()
            .filter_map(|oracle| fired(oracle, &outcome, &files))
            .collect();
        cases.push(case_result(
            &attack.name,
            CaseKind::Attack,
            fired,
            None,
            &outcome,
        ));
    }
    for benign in &scenario.benign {
        let (outcome, _) = run_case(sandbox, &binary, fault_library, &benign.input, &[], options)?;
        let problem = benign_problem(benign, &outcome);
        cases.push(case_result(
            &benign.name,
            CaseKind::Benign,
            Vec::new(),
            problem,
            &outcome,
        ));
    }
    Ok((DynamicResult::Ran { cases }, build_time))
}

/// Plants the case's files in a fresh work folder, runs the binary there, and returns the outcome
/// with the watched paths' state before and after.
fn run_case(
    sandbox: &Sandbox,
    binary: &[u8],
    fault_library: &Path,
    input: &RunInput,
    watched: &[String],
    options: &DynamicOptions,
) -> Result<(RunOutcome, FileFacts), SandboxError> {
    let work = sandbox.workdir()?;
    for file in &input.files {
        let mode = file.mode.as_deref().and_then(parse_octal);
        if file.dir {
            work.create_dir_all(&file.path)?;
        } else {
            if let Some((parent, _)) = file.path.rsplit_once('/') {
                work.create_dir_all(parent)?;
            }
            work.write_file_mode(&file.path, file.content.as_bytes(), mode.unwrap_or(0o644))?;
        }
    }
    work.write_file_mode(PROGRAM, binary, 0o755)?;
    let mut facts = FileFacts::default();
    for path in watched {
        facts.before.insert(path.clone(), mode_of(&work, path)?);
    }
    let mut spec =
        RunSpec::new(std::iter::once(format!("./{PROGRAM}")).chain(input.argv.iter().cloned()))
            .stdin(input.stdin.as_bytes().to_vec())
            .limits(Limits {
                wall: options.run_timeout,
                cpu_secs: options.run_timeout.as_secs().max(1),
                // ASan reserves terabytes of shadow memory: no address-space cap for sanitizer builds.
                address_space_bytes: None,
                ..Limits::default()
            })
            .env("LANG", "C")
            .env("ASAN_OPTIONS", ASAN_OPTIONS)
            .env("UBSAN_OPTIONS", UBSAN_OPTIONS);
    if let Some(fault) = &input.fault {
        spec.preload = Some(fault_library.to_path_buf());
        let settings = [
            ("FAULTINJECT_FAIL_SIZE", fault.fail_size),
            ("FAULTINJECT_FAIL_MIN_SIZE", fault.fail_min_size),
            ("FAULTINJECT_FAIL_NTH", fault.fail_nth),
        ];
        for (name, value) in settings {
            if let Some(value) = value {
                spec.env.push((name.into(), value.to_string()));
            }
        }
    }
    for (key, value) in &input.env {
        spec.env.retain(|(k, _)| k != key);
        spec.env.push((key.clone(), value.clone()));
    }
    spec.umask = input
        .umask
        .as_deref()
        .and_then(parse_octal)
        .unwrap_or(0o022);
    let outcome = sandbox.run(&work, &spec)?;
    for path in watched {
        facts.after.insert(path.clone(), mode_of(&work, path)?);
    }
    Ok((outcome, facts))
}

fn mode_of(work: &WorkDir, path: &str) -> Result<Option<u32>, SandboxError> {
    // A path whose parent is a planted symlink is reported by the sandbox as an error: count it
    // as present so a program that plants links does not hide a created file.
    match work.stat_beneath(path) {
        Ok(stat) => Ok(stat.map(|s| s.mode)),
        Err(SandboxError::NotRegular(_)) => Ok(Some(0)),
        Err(err) => Err(err),
    }
}

fn case_result(
    name: &str,
    kind: CaseKind,
    fired: Vec<String>,
    problem: Option<String>,
    outcome: &RunOutcome,
) -> CaseResult {
    let stderr = outcome.stderr_lossy();
    // Lead with the sanitizer's report when there is one; otherwise the start of stderr.
    let start = sanitizer_report(&stderr)
        .and_then(|line| stderr.find(line.as_str()))
        .unwrap_or(0);
    CaseResult {
        name: name.to_string(),
        kind,
        fired,
        problem,
        exit: outcome.exit,
        stderr_excerpt: stderr[start..].chars().take(STDERR_EXCERPT).collect(),
    }
}

/// Compiles the fault-injection library (its source is built into sectune) into `dir`.
pub fn build_fault_library(dir: &Path) -> std::io::Result<PathBuf> {
    const SOURCE: &str = include_str!("../../../native/faultinject/faultinject.c");
    let source = dir.join("faultinject.c");
    let library = dir.join("libfaultinject.so");
    std::fs::write(&source, SOURCE)?;
    let output = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-O2", "-o"])
        .arg(&library)
        .arg(&source)
        .arg("-ldl")
        .output()?;
    if !output.status.success() {
        return Err(std::io::Error::other(format!(
            "building the fault-injection library failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(library)
}
