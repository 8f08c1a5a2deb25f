//! The study's TOML config and its expansion into cells: one per model × method × granularity
//! (× dataset size), plus one base-model cell per model. A cell's folder name is a hash of its
//! full configuration, so changing any setting makes a new cell instead of reusing old results.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::report::manifest::{RunMethod, GRANULARITIES};

#[derive(Debug, thiserror::Error)]
pub enum StudyConfigError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {reason}; see docs/study.md for the keys", path.display())]
    Invalid { path: PathBuf, reason: String },
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StudyConfig {
    /// Which settings this config follows ("paper", "published-scripts", "tiny", …); recorded
    /// in every cell's run.json.
    pub profile: String,
    pub data: DataSpec,
    pub models: Vec<ModelSpec>,
    pub train: TrainSpec,
    pub generate: GenerateSpec,
    pub eval: EvalSpec,
    #[serde(default)]
    pub size_study: Option<SizeStudySpec>,
}

/// Where the fine-tuning data comes from (paths relative to the config file).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataSpec {
    #[serde(default)]
    pub jsonl: Option<PathBuf>,
    #[serde(default)]
    pub cvefixes: Option<PathBuf>,
    #[serde(default)]
    pub bigvul: Option<PathBuf>,
    #[serde(default = "default_split")]
    pub split: f64,
    #[serde(default = "default_seed")]
    pub seed: u64,
}

fn default_split() -> f64 {
    0.9
}
fn default_seed() -> u64 {
    42
}

/// A base model: a Hugging Face folder the user supplies, or a tiny random one sectune makes.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name in tables and plots.
    pub name: String,
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Make a random model with `sectune init-model` instead: arch "llama" or "codegen".
    #[serde(default)]
    pub init_arch: Option<String>,
    #[serde(default = "default_init_preset")]
    pub init_preset: String,
    #[serde(default)]
    pub init_seed: u64,
    /// LoRA target modules (default: the trainer's study targets for the architecture).
    #[serde(default)]
    pub lora_targets: Option<Vec<String>>,
    #[serde(default)]
    pub ia3_targets: Option<Vec<String>>,
    /// IA3 modules that scale their input.
    #[serde(default)]
    pub ia3_feedforward: Option<Vec<String>>,
}

fn default_init_preset() -> String {
    "tiny".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainSpec {
    pub methods: Vec<RunMethod>,
    pub granularities: Vec<String>,
    pub lr: f64,
    pub warmup_steps: usize,
    pub epochs: usize,
    pub batch_size: usize,
    #[serde(default = "default_grad_accum")]
    pub grad_accum: usize,
    pub max_tokens: usize,
    pub lora_r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// Checkpoint every N steps so an interrupted cell resumes (0: only at the end).
    #[serde(default)]
    pub save_every: usize,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub no_template: bool,
}

fn default_grad_accum() -> usize {
    1
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GenerateSpec {
    pub samples: usize,
    pub temperature: f64,
    pub top_p: f64,
    pub max_new_tokens: usize,
    /// Samples per HumanEval-X task (the study: 10).
    pub humaneval_samples: usize,
    /// "none", "study" (the fine-tuning template) or literal text.
    #[serde(default = "default_template")]
    pub template: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_template() -> String {
    "none".into()
}
fn default_batch() -> usize {
    15
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EvalSpec {
    /// Scenario suite folder.
    pub scenarios: PathBuf,
    /// Scenario ids to use (empty: every scenario of the languages below).
    #[serde(default)]
    pub scenario_ids: Vec<String>,
    /// "c", "cpp".
    pub languages: Vec<String>,
    /// HumanEval-X C++ problems JSONL; absent: no Table 7.
    #[serde(default)]
    pub humaneval: Option<PathBuf>,
    /// Task ids to use (empty: all).
    #[serde(default)]
    pub humaneval_ids: Vec<String>,
    /// Judge without the static analyzers (dynamic checks only; faster).
    #[serde(default)]
    pub no_static: bool,
}

/// Nested subsets of one CWE's commits (the study's Table 6).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SizeStudySpec {
    pub cwe: Vec<String>,
    /// Commits added per subset.
    pub step: usize,
    /// Subset sizes to train on (each a multiple of step, or the CWE's total).
    pub sizes: Vec<u64>,
    pub epochs: usize,
    pub methods: Vec<RunMethod>,
    pub granularities: Vec<String>,
}

/// One cell: everything that decides its results.
#[derive(Debug, Clone, Serialize)]
pub struct Cell {
    pub profile: String,
    pub model: ModelSpec,
    pub method: RunMethod,
    pub granularity: Option<String>,
    pub size: Option<u64>,
    pub data: Option<DataSpec>,
    pub size_study: Option<(Vec<String>, usize)>,
    pub train: Option<TrainSpec>,
    pub generate: GenerateSpec,
    pub eval: EvalSpec,
}

impl Cell {
    /// First 16 hex digits of SHA-256 over the cell's configuration as JSON.
    pub fn hash(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    pub fn label(&self) -> String {
        let mut s = format!("{} {}", self.model.name, self.method.name());
        if let Some(g) = &self.granularity {
            s.push(' ');
            s.push_str(g);
        }
        if let Some(n) = self.size {
            s.push_str(&format!(" n={n}"));
        }
        s
    }
}

impl StudyConfig {
    pub fn load(path: &Path) -> Result<StudyConfig, StudyConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| StudyConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg: StudyConfig =
            toml::from_str(&text).map_err(|e| StudyConfigError::Invalid {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        let base = path.parent().unwrap_or(Path::new("."));
        cfg.resolve_paths(base);
        cfg.check(path)?;
        Ok(cfg)
    }

    /// Relative paths in the config are relative to the config file's folder.
    fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for p in [
            &mut self.data.jsonl,
            &mut self.data.cvefixes,
            &mut self.data.bigvul,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
        for m in &mut self.models {
            if let Some(p) = &mut m.path {
                fix(p);
            }
        }
        fix(&mut self.eval.scenarios);
        if let Some(p) = &mut self.eval.humaneval {
            fix(p);
        }
    }

    fn check(&self, path: &Path) -> Result<(), StudyConfigError> {
        let bad = |reason: String| StudyConfigError::Invalid {
            path: path.to_path_buf(),
            reason,
        };
        if self.data.jsonl.is_none() && self.data.cvefixes.is_none() && self.data.bigvul.is_none() {
            return Err(bad(
                "[data] needs jsonl, cvefixes or bigvul (a path to your copy)".into(),
            ));
        }
        if self.models.is_empty() {
            return Err(bad("no [[models]]".into()));
        }
        for m in &self.models {
            match (&m.path, &m.init_arch) {
                (Some(_), None) => {}
                (None, Some(a)) if a == "llama" || a == "codegen" => {}
                _ => {
                    return Err(bad(format!(
                        "model {:?}: give either path (a Hugging Face folder) or init_arch (\"llama\" or \"codegen\")",
                        m.name
                    )))
                }
            }
        }
        let placeholder = [
            &self.data.jsonl,
            &self.data.cvefixes,
            &self.data.bigvul,
            &self.eval.humaneval,
        ]
        .into_iter()
        .flatten()
        .chain(self.models.iter().filter_map(|m| m.path.as_ref()))
        .find(|p| p.to_string_lossy().contains("PATH/TO"));
        if let Some(p) = placeholder {
            return Err(bad(format!(
                "{} is a placeholder: replace it with the path to your local copy",
                p.display()
            )));
        }
        let mut names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
        names.sort();
        if names.windows(2).any(|w| w[0] == w[1]) {
            return Err(bad("two [[models]] share a name".into()));
        }
        let grans = self
            .train
            .granularities
            .iter()
            .chain(self.size_study.iter().flat_map(|s| s.granularities.iter()));
        for g in grans {
            if !GRANULARITIES.contains(&g.as_str()) {
                return Err(bad(format!(
                    "granularity {g:?} is not one of file, function, block, line"
                )));
            }
        }
        let methods = self
            .train
            .methods
            .iter()
            .chain(self.size_study.iter().flat_map(|s| s.methods.iter()));
        if methods.clone().any(|m| *m == RunMethod::Base) {
            return Err(bad(
                "methods are lora and ia3 (base-model cells are added for every model)".into(),
            ));
        }
        if self.eval.languages.is_empty()
            || self.eval.languages.iter().any(|l| l != "c" && l != "cpp")
        {
            return Err(bad("[eval] languages must list \"c\" and/or \"cpp\"".into()));
        }
        if self.generate.samples == 0 || self.train.batch_size == 0 || self.train.epochs == 0 {
            return Err(bad("samples, batch_size and epochs must be positive".into()));
        }
        let (t, p) = (self.generate.temperature, self.generate.top_p);
        if !(t.is_finite() && t >= 0.0 && p > 0.0 && p <= 1.0) {
            return Err(bad(format!(
                "[generate] temperature {t} and top_p {p}: the temperature must be ≥ 0 (0 is greedy) \
                 and top_p in (0, 1] (the study: 0.8 and 0.9)"
            )));
        }
        Ok(())
    }

    /// Base cells first for each model, then tuned cells, then the size study's cells.
    pub fn cells(&self) -> Vec<Cell> {
        let mut cells = Vec::new();
        for model in &self.models {
            cells.push(Cell {
                profile: self.profile.clone(),
                model: model.clone(),
                method: RunMethod::Base,
                granularity: None,
                size: None,
                data: None,
                size_study: None,
                train: None,
                generate: self.generate.clone(),
                eval: self.eval.clone(),
            });
            for &method in &self.train.methods {
                for g in &self.train.granularities {
                    cells.push(Cell {
                        profile: self.profile.clone(),
                        model: model.clone(),
                        method,
                        granularity: Some(g.clone()),
                        size: None,
                        data: Some(self.data.clone()),
                        size_study: None,
                        train: Some(self.train.clone()),
                        generate: self.generate.clone(),
                        eval: self.eval.clone(),
                    });
                }
            }
            if let Some(ss) = &self.size_study {
                for &method in &ss.methods {
                    for g in &ss.granularities {
                        for &size in &ss.sizes {
                            let mut train = self.train.clone();
                            train.epochs = ss.epochs;
                            cells.push(Cell {
                                profile: self.profile.clone(),
                                model: model.clone(),
                                method,
                                granularity: Some(g.clone()),
                                size: Some(size),
                                data: Some(self.data.clone()),
                                size_study: Some((ss.cwe.clone(), ss.step)),
                                train: Some(train),
                                generate: self.generate.clone(),
                                eval: self.eval.clone(),
                            });
                        }
                    }
                }
            }
        }
        cells
    }
}
