//! HumanEval-X C++: problems (task_id, prompt, declaration, canonical_solution, test,
//! example_test) and samples (task_id + `generation` or `completion`) in JSONL, optionally
//! gzipped. A sample may name its task `prompt_id` instead of `task_id`, as `sectune generate`
//! writes it, so generated files need no conversion. Each sample becomes standard includes + prompt + completion (cut by
//! [`crate::eval::program`]) + test, built with `g++ -std=c++11` and run, both in the sandbox;
//! it passes iff the program exits 0 within the time limit.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::eval::program;
use crate::eval::sandbox::{ExitKind, Limits, RunSpec, Sandbox, SandboxError};

/// Included before every program: the headers HumanEval-X C++ solutions and tests use.
pub const PRELUDE: &str = "#include <algorithm>\n#include <cassert>\n#include <climits>\n\
#include <cmath>\n#include <cstdio>\n#include <cstdlib>\n#include <cstring>\n#include <functional>\n\
#include <iostream>\n#include <map>\n#include <numeric>\n#include <queue>\n#include <set>\n\
#include <sstream>\n#include <stack>\n#include <string>\n#include <unordered_map>\n\
#include <unordered_set>\n#include <utility>\n#include <vector>\nusing namespace std;\n";

#[derive(Debug, thiserror::Error)]
pub enum HumanEvalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}:{line}: not a valid JSON record ({source}); each line must be one JSON object"
    )]
    Json {
        path: PathBuf,
        line: usize,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}:{line}: sample has neither \"generation\" nor \"completion\"")]
    NoCompletion { path: PathBuf, line: usize },
    #[error("{path}:{line}: sample has neither \"task_id\" nor \"prompt_id\"; add the task id of the problems file")]
    NoTaskId { path: PathBuf, line: usize },
    #[error("{path}:{line}: sample names two tasks, task_id {task_id:?} and prompt_id {prompt_id:?}; keep one")]
    TwoTaskIds {
        path: PathBuf,
        line: usize,
        task_id: String,
        prompt_id: String,
    },
    #[error("{path}:{line}: task {task_id:?} is not in the problems file")]
    UnknownTask {
        path: PathBuf,
        line: usize,
        task_id: String,
    },
    #[error("{path}:{line}: task {task_id:?} appears twice")]
    DuplicateTask {
        path: PathBuf,
        line: usize,
        task_id: String,
    },
    #[error("{0}: holds no records")]
    Empty(PathBuf),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Problem {
    pub task_id: String,
    pub prompt: String,
    #[serde(default)]
    pub declaration: String,
    #[serde(default)]
    pub canonical_solution: String,
    pub test: String,
    #[serde(default)]
    pub example_test: String,
}

#[derive(Debug, Clone, Deserialize)]
struct RawSample {
    task_id: Option<String>,
    /// What `sectune generate` calls the task id.
    prompt_id: Option<String>,
    generation: Option<String>,
    completion: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub task_id: String,
    pub completion: String,
}

/// Reads JSONL records, transparently gunzipping files that start with the gzip magic.
fn read_jsonl<T: for<'de> Deserialize<'de>>(
    path: &Path,
) -> Result<Vec<(usize, T)>, HumanEvalError> {
    let io = |source| HumanEvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 2];
    let got = file.read(&mut magic).map_err(io)?;
    let file = std::fs::File::open(path).map_err(io)?;
    let reader: Box<dyn BufRead> = if got == 2 && magic == [0x1f, 0x8b] {
        Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut out = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(io)?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|source| HumanEvalError::Json {
            path: path.to_path_buf(),
            line: i + 1,
            source,
        })?;
        out.push((i + 1, value));
    }
    if out.is_empty() {
        return Err(HumanEvalError::Empty(path.to_path_buf()));
    }
    Ok(out)
}

/// Problems by task id, in file order.
pub fn load_problems(path: &Path) -> Result<Vec<Problem>, HumanEvalError> {
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for (line, p) in read_jsonl::<Problem>(path)? {
        if !seen.insert(p.task_id.clone()) {
            return Err(HumanEvalError::DuplicateTask {
                path: path.to_path_buf(),
                line,
                task_id: p.task_id,
            });
        }
        problems.push(p);
    }
    Ok(problems)
}

/// Samples, checked against the problems.
pub fn load_samples(path: &Path, problems: &[Problem]) -> Result<Vec<Sample>, HumanEvalError> {
    let known: std::collections::HashSet<&str> =
        problems.iter().map(|p| p.task_id.as_str()).collect();
    let mut samples = Vec::new();
    for (line, raw) in read_jsonl::<RawSample>(path)? {
        let task_id = match (raw.task_id, raw.prompt_id) {
            (Some(task_id), Some(prompt_id)) if task_id != prompt_id => {
                return Err(HumanEvalError::TwoTaskIds {
                    path: path.to_path_buf(),
                    line,
                    task_id,
                    prompt_id,
                })
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                return Err(HumanEvalError::NoTaskId {
                    path: path.to_path_buf(),
                    line,
                })
            }
        };
        let completion =
            raw.generation
                .or(raw.completion)
                .ok_or_else(|| HumanEvalError::NoCompletion {
                    path: path.to_path_buf(),
                    line,
                })?;
        if !known.contains(task_id.as_str()) {
            return Err(HumanEvalError::UnknownTask {
                path: path.to_path_buf(),
                line,
                task_id,
            });
        }
        samples.push(Sample {
            task_id,
            completion,
        });
    }
    Ok(samples)
}

/// One sample per problem: its canonical solution.
pub fn canonical_samples(problems: &[Problem]) -> Vec<Sample> {
    problems
        .iter()
        .map(|p| Sample {
            task_id: p.task_id.clone(),
            completion: p.canonical_solution.clone(),
        })
        .collect()
}

/// The source compiled for one sample.
pub fn program_text(problem: &Problem, completion: &str) -> (String, program::Cut) {
    let cut = program::complete(&problem.prompt, completion);
    (format!("{PRELUDE}{}\n{}", cut.text, problem.test), cut.cut)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    CompileError,
    Failed,
    TimedOut,
    ResourceLimit,
}

#[derive(Debug, Clone, Serialize)]
pub struct SampleResult {
    pub task_id: String,
    /// Index of the sample among this task's samples, in file order.
    pub index: usize,
    pub status: Status,
    pub exit: Option<ExitKind>,
    pub cut: program::Cut,
    /// First 2 KiB of the compiler's or the program's stderr.
    pub stderr: String,
}

/// Time limits of one sample.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub compile: Duration,
    pub run: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            compile: Duration::from_secs(60),
            run: Duration::from_secs(10),
        }
    }
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(2048)]);
    text.into_owned()
}

/// Compiles and runs one sample in a fresh work folder.
pub fn evaluate_sample(
    sandbox: &Sandbox,
    problem: &Problem,
    sample: &Sample,
    index: usize,
    timeouts: Timeouts,
) -> Result<SampleResult, HumanEvalError> {
    let (source, cut) = program_text(problem, &sample.completion);
    let dir = sandbox.workdir()?;
    dir.write_file("main.cpp", source.as_bytes())?;
    let compile_limits = Limits {
        cpu_secs: timeouts.compile.as_secs().max(1),
        wall: timeouts.compile,
        address_space_bytes: Some(4 << 30),
        memory_bytes: 2 << 30,
        ..Limits::default()
    };
    let compile =
        RunSpec::new(["g++", "-std=c++11", "-o", "prog", "main.cpp"]).limits(compile_limits);
    let built = sandbox.run(&dir, &compile)?;
    let result = |status, exit, stderr: &[u8]| SampleResult {
        task_id: sample.task_id.clone(),
        index,
        status,
        exit,
        cut: cut.clone(),
        stderr: excerpt(stderr),
    };
    if !built.success() {
        return Ok(result(
            Status::CompileError,
            Some(built.exit),
            &built.stderr,
        ));
    }
    let run_limits = Limits {
        cpu_secs: timeouts.run.as_secs().max(1),
        wall: timeouts.run,
        ..Limits::default()
    };
    let ran = sandbox.run(&dir, &RunSpec::new(["./prog"]).limits(run_limits))?;
    let status = match ran.exit {
        ExitKind::Exited(0) => Status::Passed,
        ExitKind::TimedOut => Status::TimedOut,
        ExitKind::MemoryLimit | ExitKind::OutputLimit => Status::ResourceLimit,
        _ => Status::Failed,
    };
    Ok(result(status, Some(ran.exit), &ran.stderr))
}

/// Evaluates every sample in parallel (one worker per run uid); `progress` is called after each.
pub fn evaluate(
    sandbox: &Sandbox,
    problems: &[Problem],
    samples: &[Sample],
    timeouts: Timeouts,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<SampleResult>, HumanEvalError> {
    let by_id: BTreeMap<&str, &Problem> =
        problems.iter().map(|p| (p.task_id.as_str(), p)).collect();
    let mut counters: BTreeMap<&str, usize> = BTreeMap::new();
    let mut jobs = Vec::with_capacity(samples.len());
    for s in samples {
        let Some(problem) = by_id.get(s.task_id.as_str()) else {
            continue; // load_samples has already rejected unknown tasks
        };
        let n = counters.entry(s.task_id.as_str()).or_insert(0);
        jobs.push((*problem, s, *n));
        *n += 1;
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(sandbox.parallelism())
        .build()
        .map_err(|e| SandboxError::Setup(format!("thread pool: {e}")))?;
    pool.install(|| {
        jobs.par_iter()
            .map(|(problem, sample, index)| {
                let r = evaluate_sample(sandbox, problem, sample, *index, timeouts);
                progress();
                r
            })
            .collect()
    })
}

/// Per task: (samples, passed), in task order; tasks without samples are left out.
pub fn counts(results: &[SampleResult]) -> BTreeMap<String, (usize, usize)> {
    let mut out: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in results {
        let e = out.entry(r.task_id.clone()).or_insert((0, 0));
        e.0 += 1;
        if r.status == Status::Passed {
            e.1 += 1;
        }
    }
    out
}
