//! Reading a run folder's result files: the judged samples of `eval scenarios`, the per-task
//! counts of `eval humaneval`, and the loss records of `train`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::manifest::{self, RunManifest};
use super::ReportError;
use crate::eval::compare::TaskCount;

/// Generated, valid (compiles) and secure (valid and judged not vulnerable) samples.
pub use crate::eval::compare::GroupCount as Counts;

/// Everything the report uses from one run folder.
#[derive(Debug, Clone)]
pub struct RunData {
    pub dir: PathBuf,
    pub manifest: RunManifest,
    /// Keyed by language ("c", "cpp").
    pub per_language: BTreeMap<String, Counts>,
    /// Language → CWE number → counts.
    pub per_language_cwe: BTreeMap<String, BTreeMap<u32, Counts>>,
    /// Language → scenario id → counts.
    pub per_language_scenario: BTreeMap<String, BTreeMap<String, Counts>>,
    /// HumanEval-X per-task sample counts.
    pub humaneval: Option<BTreeMap<String, TaskCount>>,
    /// Training loss per optimizer step.
    pub losses: Vec<(u64, f64)>,
}

/// The fields of one `eval scenarios` results.jsonl line that decide the counts.
#[derive(Deserialize)]
struct JudgedSample {
    scenario: String,
    cwe: u32,
    language: String,
    compile: Compile,
    judgement: Option<JudgementVerdict>,
}

#[derive(Deserialize)]
struct Compile {
    valid: bool,
}

#[derive(Deserialize)]
struct JudgementVerdict {
    verdict: String,
}

/// The one verdict of the judge (src/eval/judge) that makes a valid program secure, as in `eval
/// scenarios`' own summary: broken and undetermined programs were not judged not vulnerable.
const SECURE_VERDICT: &str = "not_vulnerable";
const KNOWN_VERDICTS: [&str; 5] = [
    "vulnerable_confirmed",
    "vulnerable_static",
    "not_vulnerable",
    "broken",
    "undetermined",
];

pub fn load_run(dir: &Path) -> Result<RunData, ReportError> {
    let manifest = manifest::read(dir)?;
    let mut run = RunData {
        dir: dir.to_path_buf(),
        manifest: manifest.clone(),
        per_language: BTreeMap::new(),
        per_language_cwe: BTreeMap::new(),
        per_language_scenario: BTreeMap::new(),
        humaneval: None,
        losses: Vec::new(),
    };
    if let Some(rel) = &manifest.files.scenarios {
        load_scenarios(&mut run, &dir.join(rel))?;
        if let Some(summary) = &manifest.files.scenarios_summary {
            cross_check(&run, &dir.join(summary))?;
        }
    }
    if let Some(rel) = &manifest.files.humaneval {
        run.humaneval = Some(load_humaneval(&dir.join(rel))?);
    }
    if let Some(rel) = &manifest.files.metrics {
        run.losses = load_losses(&dir.join(rel))?;
    }
    Ok(run)
}

fn read_text(path: &Path) -> Result<String, ReportError> {
    std::fs::read_to_string(path).map_err(|source| ReportError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, line: Option<usize>, reason: impl Into<String>) -> ReportError {
    ReportError::Results {
        path: path.to_path_buf(),
        line,
        reason: reason.into(),
    }
}

fn load_scenarios(run: &mut RunData, path: &Path) -> Result<(), ReportError> {
    let text = read_text(path)?;
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let sample: JudgedSample = serde_json::from_str(line).map_err(|e| {
            bad(
                path,
                Some(index + 1),
                format!("not a judged sample of `sectune eval scenarios` ({e})"),
            )
        })?;
        if !["c", "cpp"].contains(&sample.language.as_str()) {
            return Err(bad(
                path,
                Some(index + 1),
                format!("language {:?} is not c or cpp", sample.language),
            ));
        }
        let valid = sample.compile.valid || sample.judgement.is_some();
        let secure = match &sample.judgement {
            Some(j) if !KNOWN_VERDICTS.contains(&j.verdict.as_str()) => {
                return Err(bad(
                    path,
                    Some(index + 1),
                    format!(
                        "scenario {}: unknown verdict {:?} (this sectune knows {})",
                        sample.scenario,
                        j.verdict,
                        KNOWN_VERDICTS.join(", ")
                    ),
                ))
            }
            Some(j) => j.verdict == SECURE_VERDICT,
            // Valid, but the judge failed on it: no verdict, so not secure.
            None => false,
        };
        let add = |c: &mut Counts| {
            c.generated += 1;
            c.valid += u64::from(valid);
            c.secure += u64::from(valid && secure);
        };
        add(run.per_language.entry(sample.language.clone()).or_default());
        add(run
            .per_language_cwe
            .entry(sample.language.clone())
            .or_default()
            .entry(sample.cwe)
            .or_default());
        add(run
            .per_language_scenario
            .entry(sample.language)
            .or_default()
            .entry(sample.scenario)
            .or_default());
    }
    if run.per_language.is_empty() {
        return Err(bad(path, None, "holds no judged samples"));
    }
    Ok(())
}

/// The counts must agree with the totals `eval scenarios` wrote beside its results; a
/// mismatch means the two files come from different runs or formats.
fn cross_check(run: &RunData, path: &Path) -> Result<(), ReportError> {
    #[derive(Deserialize)]
    struct Doc {
        summary: Inner,
    }
    #[derive(Deserialize)]
    struct Inner {
        per_language: BTreeMap<String, Counts2>,
    }
    #[derive(Deserialize)]
    struct Counts2 {
        generated: u64,
        valid: u64,
        secure: u64,
    }
    let doc: Doc = serde_json::from_str(&read_text(path)?).map_err(|e| {
        bad(
            path,
            None,
            format!("not a summary.json of `sectune eval scenarios` ({e})"),
        )
    })?;
    for (lang, mine) in &run.per_language {
        let theirs = doc.summary.per_language.get(lang);
        let agrees = theirs.is_some_and(|t| {
            t.generated == mine.generated && t.valid == mine.valid && t.secure == mine.secure
        });
        if !agrees || doc.summary.per_language.len() != run.per_language.len() {
            return Err(bad(
                path,
                None,
                format!(
                    "its {lang} totals disagree with the results file ({}/{}/{} generated/valid/secure counted there); \
                     point run.json at the summary.json written together with that results.jsonl",
                    mine.generated, mine.valid, mine.secure
                ),
            ));
        }
    }
    Ok(())
}

fn load_humaneval(path: &Path) -> Result<BTreeMap<String, TaskCount>, ReportError> {
    #[derive(Deserialize)]
    struct Summary {
        per_task: BTreeMap<String, TaskCount>,
    }
    let summary: Summary = serde_json::from_str(&read_text(path)?).map_err(|e| {
        bad(
            path,
            None,
            format!("not a summary.json of `sectune eval humaneval --out` ({e})"),
        )
    })?;
    if let Some((task, _)) = summary
        .per_task
        .iter()
        .find(|(_, c)| c.passed > c.n || c.n == 0)
    {
        return Err(bad(
            path,
            None,
            format!("task {task}: needs 0 ≤ passed ≤ n and n > 0"),
        ));
    }
    if summary.per_task.is_empty() {
        return Err(bad(path, None, "per_task is empty"));
    }
    Ok(summary.per_task)
}

/// Step and loss of every optimizer-step record; validation-only records are skipped. A resumed
/// run repeats the steps after its last checkpoint: the later record of a step wins.
fn load_losses(path: &Path) -> Result<Vec<(u64, f64)>, ReportError> {
    let text = read_text(path)?;
    let mut out = BTreeMap::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| bad(path, Some(index + 1), format!("not JSON ({e})")))?;
        if let (Some(step), Some(loss)) = (
            v.get("step").and_then(|s| s.as_u64()),
            v.get("loss").and_then(|l| l.as_f64()),
        ) {
            if loss.is_finite() {
                out.insert(step, loss);
            }
        }
    }
    Ok(out.into_iter().collect())
}
