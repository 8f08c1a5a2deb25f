//! Running the study's cells. Every stage is this binary's own verb run as a child process (as
//! `sectune demo` does), so a crash in one cell cannot take the others down. Each finished
//! stage leaves a marker; a cell is finished when its `done.json` exists (written atomically,
//! last), so a rerun skips finished cells and stages and resumes training from its checkpoint.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::config::{Cell, DataSpec, ModelSpec, StudyConfig};
use crate::report::manifest::{self, RunFiles, RunManifest, RunMethod, FORMAT_VERSION};
use crate::util::fsx::write_atomic;

pub const DONE: &str = "done.json";

/// The test hook's stop: the whole study ends here, as if the process had been killed.
#[derive(Debug, thiserror::Error)]
#[error("stopped after {0} stages (--stop-after-stages, as if interrupted)")]
pub struct Interrupted(pub usize);

#[derive(Debug, Clone, Serialize)]
pub struct CellOutcome {
    pub cell: String,
    pub hash: String,
    pub dir: PathBuf,
    /// "ran", "skipped" (finished earlier) or "failed".
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub struct Runner {
    pub exe: PathBuf,
    pub out: PathBuf,
    pub stop_after_stages: Option<usize>,
    stages_run: usize,
}

fn short_hash<T: Serialize>(value: &T) -> String {
    let json = serde_json::to_vec(value).unwrap_or_default();
    Sha256::digest(&json)
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

impl Runner {
    pub fn new(exe: PathBuf, out: PathBuf, stop_after_stages: Option<usize>) -> Runner {
        Runner {
            exe,
            out,
            stop_after_stages,
            stages_run: 0,
        }
    }

    fn verb(&self, args: &[String]) -> Result<()> {
        eprintln!("  $ sectune {}", args.join(" "));
        let status = Command::new(&self.exe)
            .args(args)
            .status()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        if !status.success() {
            bail!(
                "`sectune {}` failed ({status}); its output is above",
                args.iter().take(2).cloned().collect::<Vec<_>>().join(" ")
            );
        }
        Ok(())
    }

    /// Runs `work` unless `stages/NAME.done` exists, then writes that marker.
    fn stage(
        &mut self,
        dir: &Path,
        name: &str,
        work: impl FnOnce(&Runner) -> Result<()>,
    ) -> Result<()> {
        let marker = dir.join(".stages").join(format!("{name}.done"));
        if marker.exists() {
            eprintln!("  [{name}] done earlier, skipped");
            return Ok(());
        }
        eprintln!("  [{name}]");
        std::fs::create_dir_all(dir.join(".stages"))
            .with_context(|| format!("creating {}", dir.display()))?;
        work(self)?;
        write_atomic(&marker, b"done\n")?;
        self.stages_run += 1;
        if self.stop_after_stages.is_some_and(|n| self.stages_run >= n) {
            return Err(Interrupted(self.stages_run).into());
        }
        Ok(())
    }

    /// The data set built once per data spec (all granularities).
    fn dataset(&mut self, data: &DataSpec) -> Result<PathBuf> {
        let dir = self
            .out
            .join("shared")
            .join(format!("data-{}", short_hash(data)));
        let target = dir.clone();
        self.stage(&dir, "dataset", |r| {
            let mut a = vec!["dataset".to_string(), "build".into()];
            for (flag, p) in [
                ("--jsonl", &data.jsonl),
                ("--cvefixes", &data.cvefixes),
                ("--bigvul", &data.bigvul),
            ] {
                if let Some(p) = p {
                    a.extend([flag.to_string(), s(p)]);
                }
            }
            a.extend([
                "--out".into(),
                s(&target),
                "--granularity".into(),
                "all".into(),
                "--split".into(),
                data.split.to_string(),
                "--seed".into(),
                data.seed.to_string(),
                "--force".into(),
            ]);
            r.verb(&a)
        })?;
        Ok(dir)
    }

    fn subsets(
        &mut self,
        data_dir: &Path,
        cwe: &[String],
        step: usize,
        seed: u64,
    ) -> Result<PathBuf> {
        let key = (data_dir, cwe, step, seed);
        let dir = self
            .out
            .join("shared")
            .join(format!("subsets-{}", short_hash(&key)));
        let target = dir.join("sets");
        self.stage(&dir, "subsets", |r| {
            r.verb(&[
                "dataset".into(),
                "subsets".into(),
                "--data".into(),
                s(data_dir),
                "--cwe".into(),
                cwe.join(","),
                "--step".into(),
                step.to_string(),
                "--seed".into(),
                seed.to_string(),
                "--out".into(),
                s(&target),
                "--force".into(),
            ])
        })?;
        Ok(target)
    }

    fn model(&mut self, spec: &ModelSpec) -> Result<PathBuf> {
        if let Some(p) = &spec.path {
            return Ok(p.clone());
        }
        let arch = spec.init_arch.clone().unwrap_or_default();
        let dir = self
            .out
            .join("shared")
            .join(format!("model-{}-{}", spec.name, short_hash(spec)));
        let target = dir.join("model");
        self.stage(&dir, "init-model", |r| {
            r.verb(&[
                "init-model".into(),
                "--arch".into(),
                arch,
                "--preset".into(),
                spec.init_preset.clone(),
                "--seed".into(),
                spec.init_seed.to_string(),
                "--out".into(),
                s(&target),
                "--force".into(),
            ])
        })?;
        Ok(target)
    }

    /// Runs one cell to its done-marker (or reports it finished earlier).
    pub fn run_cell(&mut self, cell: &Cell) -> Result<&'static str> {
        let dir = self.out.join("cells").join(cell.hash());
        if dir.join(DONE).exists() {
            return Ok("skipped");
        }
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        write_atomic(&dir.join("cell.json"), &serde_json::to_vec_pretty(cell)?)?;
        let model = self.model(&cell.model)?;
        let mut files = RunFiles::default();
        let adapter = match (&cell.train, &cell.data, &cell.granularity) {
            (Some(train), Some(data), Some(g)) => {
                let data_dir = self.dataset(data)?;
                let set = match (&cell.size_study, cell.size) {
                    (Some((cwe, step)), Some(size)) => {
                        let sets = self.subsets(&data_dir, cwe, *step, data.seed)?;
                        subset_folder(&sets, size, *step)?
                    }
                    _ => data_dir,
                };
                self.train(cell, train, &model, &set, g, &dir)?;
                files.metrics = Some("train/metrics.jsonl".into());
                Some(dir.join("train/adapter"))
            }
            _ => None,
        };
        self.scenarios(cell, &model, adapter.as_deref(), &dir)?;
        files.scenarios = Some("eval-scenarios/results.jsonl".into());
        files.scenarios_summary = Some("eval-scenarios/summary.json".into());
        if cell.eval.humaneval.is_some() {
            self.humaneval(cell, &model, adapter.as_deref(), &dir)?;
            files.humaneval = Some("eval-humaneval/summary.json".into());
        }
        let manifest = RunManifest {
            format: FORMAT_VERSION,
            model: cell.model.name.clone(),
            method: cell.method,
            granularity: cell.granularity.clone(),
            size: cell.size,
            languages: cell.eval.languages.clone(),
            files,
            provenance: Some(serde_json::json!({
                "profile": cell.profile, "cell_hash": cell.hash(), "cell": "cell.json",
            })),
        };
        manifest::write(&dir, &manifest)?;
        let done = serde_json::json!({ "cell": cell.label(), "hash": cell.hash() });
        write_atomic(&dir.join(DONE), &serde_json::to_vec_pretty(&done)?)?;
        Ok("ran")
    }

    fn train(
        &mut self,
        cell: &Cell,
        t: &super::config::TrainSpec,
        model: &Path,
        set: &Path,
        granularity: &str,
        dir: &Path,
    ) -> Result<()> {
        let out = dir.join("train");
        let validation = set.join(format!("validation-{granularity}.jsonl"));
        let method = cell.method;
        self.stage(dir, "train", |r| {
            let mut a: Vec<String> = vec![
                "train".into(),
                "--model".into(),
                s(model),
                "--train-file".into(),
                s(&set.join(format!("train-{granularity}.jsonl"))),
                "--method".into(),
                method.name().into(),
                "--lr".into(),
                t.lr.to_string(),
                "--warmup-steps".into(),
                t.warmup_steps.to_string(),
                "--epochs".into(),
                t.epochs.to_string(),
                "--batch-size".into(),
                t.batch_size.to_string(),
                "--grad-accum".into(),
                t.grad_accum.to_string(),
                "--max-tokens".into(),
                t.max_tokens.to_string(),
                "--lora-r".into(),
                t.lora_r.to_string(),
                "--lora-alpha".into(),
                t.lora_alpha.to_string(),
                "--lora-dropout".into(),
                t.lora_dropout.to_string(),
                "--seed".into(),
                t.seed.to_string(),
                "--out".into(),
                s(&out),
            ];
            if validation.is_file() {
                a.extend(["--validation-file".into(), s(&validation)]);
            }
            if let Some(n) = t.max_steps {
                a.extend(["--max-steps".into(), n.to_string()]);
            }
            if t.save_every > 0 {
                a.extend(["--save-every".into(), t.save_every.to_string()]);
            }
            if t.no_template {
                a.push("--no-template".into());
            }
            let (targets, ff) = match method {
                RunMethod::Lora => (&cell.model.lora_targets, &None),
                _ => (&cell.model.ia3_targets, &cell.model.ia3_feedforward),
            };
            if let Some(list) = targets {
                a.extend(["--target-modules".into(), list.join(",")]);
            }
            if let Some(list) = ff {
                a.extend(["--feedforward-modules".into(), list.join(",")]);
            }
            // An interrupted run continues from its last checkpoint; one that never saved
            // a checkpoint starts over.
            if out.join("checkpoints/latest").exists() {
                a.extend(["--resume".into(), s(&out)]);
            } else if out.exists() {
                std::fs::remove_dir_all(&out)
                    .with_context(|| format!("removing the unfinished {}", out.display()))?;
            }
            r.verb(&a)
        })
    }

    fn generate_args(
        cell: &Cell,
        model: &Path,
        adapter: Option<&Path>,
        prompts: &Path,
        out: &Path,
        samples: usize,
    ) -> Vec<String> {
        let g = &cell.generate;
        let mut a: Vec<String> = vec![
            "generate".into(),
            "--model".into(),
            s(model),
            "--prompts".into(),
            s(prompts),
            "--out".into(),
            s(out),
            "--samples".into(),
            samples.to_string(),
            "--temperature".into(),
            g.temperature.to_string(),
            "--top-p".into(),
            g.top_p.to_string(),
            "--max-new-tokens".into(),
            g.max_new_tokens.to_string(),
            "--template".into(),
            g.template.clone(),
            "--seed".into(),
            g.seed.to_string(),
            "--batch".into(),
            g.batch.to_string(),
            "--force".into(),
        ];
        if let Some(ad) = adapter {
            a.extend(["--adapter".into(), s(ad)]);
        }
        a
    }

    fn scenarios(
        &mut self,
        cell: &Cell,
        model: &Path,
        adapter: Option<&Path>,
        dir: &Path,
    ) -> Result<()> {
        let prompts = dir.join("prompts-scenarios.jsonl");
        let samples = dir.join("samples-scenarios.jsonl");
        self.stage(dir, "generate-scenarios", |r| {
            write_scenario_prompts(cell, &prompts)?;
            r.verb(&Self::generate_args(
                cell,
                model,
                adapter,
                &prompts,
                &samples,
                cell.generate.samples,
            ))
        })?;
        self.stage(dir, "eval-scenarios", |r| {
            let mut a: Vec<String> = vec![
                "eval".into(),
                "scenarios".into(),
                "--suite".into(),
                s(&cell.eval.scenarios),
                "--samples".into(),
                s(&samples),
                "--out".into(),
                s(&dir.join("eval-scenarios")),
                "--force".into(),
            ];
            if cell.eval.no_static {
                a.push("--no-static".into());
            }
            r.verb(&a)
        })
    }

    fn humaneval(
        &mut self,
        cell: &Cell,
        model: &Path,
        adapter: Option<&Path>,
        dir: &Path,
    ) -> Result<()> {
        let Some(problems) = &cell.eval.humaneval else {
            return Ok(());
        };
        let prompts = dir.join("prompts-humaneval.jsonl");
        let raw = dir.join("samples-humaneval-raw.jsonl");
        let samples = dir.join("samples-humaneval.jsonl");
        self.stage(dir, "generate-humaneval", |r| {
            write_humaneval_prompts(problems, &cell.eval.humaneval_ids, &prompts)?;
            r.verb(&Self::generate_args(
                cell,
                model,
                adapter,
                &prompts,
                &raw,
                cell.generate.humaneval_samples,
            ))?;
            to_humaneval_samples(&raw, &samples)
        })?;
        self.stage(dir, "eval-humaneval", |r| {
            r.verb(&[
                "eval".into(),
                "humaneval".into(),
                "--problems".into(),
                s(problems),
                "--samples".into(),
                s(&samples),
                "--out".into(),
                s(&dir.join("eval-humaneval")),
                "--force".into(),
            ])
        })
    }
}

/// The folder of the subset with `size` commits, as `dataset subsets` listed in subsets.json.
fn subset_folder(sets: &Path, size: u64, step: usize) -> Result<PathBuf> {
    #[derive(serde::Deserialize)]
    struct Subset {
        commits: u64,
        folder: String,
    }
    let index = sets.join("subsets.json");
    let text =
        std::fs::read_to_string(&index).with_context(|| format!("reading {}", index.display()))?;
    let subsets: Vec<Subset> = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not written by `sectune dataset subsets`",
            index.display()
        )
    })?;
    match subsets.iter().find(|s| s.commits == size) {
        Some(s) => Ok(sets.join(&s.folder)),
        None => bail!(
            "size {size}: no such subset (sizes are multiples of the step {step}, or the CWE's total: {}); fix [size_study] sizes",
            subsets.iter().map(|s| s.commits.to_string()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// The cell's scenarios (chosen ids, chosen languages) as a prompts JSONL for `generate`.
fn write_scenario_prompts(cell: &Cell, path: &Path) -> Result<()> {
    let suite = crate::eval::scenario::load_suite(&cell.eval.scenarios).with_context(|| {
        format!(
            "loading the scenario suite {}",
            cell.eval.scenarios.display()
        )
    })?;
    let wanted: HashSet<&str> = cell.eval.scenario_ids.iter().map(String::as_str).collect();
    if let Some(missing) = wanted
        .iter()
        .find(|id| !suite.iter().any(|sc| sc.id == **id))
    {
        bail!(
            "scenario {missing:?} is not in {}; fix [eval] scenario_ids",
            cell.eval.scenarios.display()
        );
    }
    let mut lines = String::new();
    for sc in &suite {
        let lang_ok = cell.eval.languages.iter().any(|l| l == sc.language.name());
        if lang_ok && (wanted.is_empty() || wanted.contains(sc.id.as_str())) {
            lines.push_str(&serde_json::json!({ "id": sc.id, "prompt": sc.prompt }).to_string());
            lines.push('\n');
        }
    }
    if lines.is_empty() {
        bail!("no scenario matches [eval] languages and scenario_ids");
    }
    write_atomic(path, lines.as_bytes())?;
    Ok(())
}

fn write_humaneval_prompts(problems: &Path, ids: &[String], path: &Path) -> Result<()> {
    let all = crate::eval::humaneval::load_problems(problems)
        .with_context(|| format!("loading {}", problems.display()))?;
    if let Some(missing) = ids.iter().find(|id| !all.iter().any(|p| &p.task_id == *id)) {
        bail!(
            "task {missing:?} is not in {}; fix [eval] humaneval_ids",
            problems.display()
        );
    }
    let mut lines = String::new();
    for p in all
        .iter()
        .filter(|p| ids.is_empty() || ids.contains(&p.task_id))
    {
        lines
            .push_str(&serde_json::json!({ "task_id": p.task_id, "prompt": p.prompt }).to_string());
        lines.push('\n');
    }
    write_atomic(path, lines.as_bytes())?;
    Ok(())
}

/// `generate` writes prompt_id + completion; `eval humaneval` reads task_id + completion.
pub fn to_humaneval_samples(raw: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(raw).with_context(|| format!("reading {}", raw.display()))?;
    let mut lines = String::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .with_context(|| format!("{}:{}: not JSON", raw.display(), i + 1))?;
        let (Some(id), Some(completion)) = (
            v.get("prompt_id").and_then(|x| x.as_str()),
            v.get("completion").and_then(|x| x.as_str()),
        ) else {
            bail!("{}:{}: no prompt_id or completion", raw.display(), i + 1);
        };
        lines.push_str(&serde_json::json!({ "task_id": id, "completion": completion }).to_string());
        lines.push('\n');
    }
    write_atomic(out, lines.as_bytes())?;
    Ok(())
}

/// Runs every cell; a failed cell is recorded and the next one starts. Returns the outcomes;
/// only the test hook's interruption ends the loop early (as an error).
pub fn run_all(runner: &mut Runner, cfg: &StudyConfig) -> Result<Vec<CellOutcome>> {
    let cells = cfg.cells();
    let mut outcomes = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        let hash = cell.hash();
        let dir = runner.out.join("cells").join(&hash);
        eprintln!(
            "\n== cell {}/{}: {} ({hash})",
            i + 1,
            cells.len(),
            cell.label()
        );
        let (status, error) = match runner.run_cell(cell) {
            Ok(status) => (status, None),
            Err(e) if e.downcast_ref::<Interrupted>().is_some() => return Err(e),
            Err(e) => {
                eprintln!("  cell failed: {e:#}");
                ("failed", Some(format!("{e:#}")))
            }
        };
        if status == "skipped" {
            eprintln!("  finished earlier ({}), skipped", dir.join(DONE).display());
        }
        outcomes.push(CellOutcome {
            cell: cell.label(),
            hash,
            dir,
            status,
            error,
        });
    }
    Ok(outcomes)
}
