//! `run.json`: what one run folder holds (model, method, granularity, size, languages) and where
//! its result files are, so `sectune report` never guesses from folder names.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ReportError;
use crate::util::fsx::write_atomic;

pub const MANIFEST: &str = "run.json";
pub const FORMAT_VERSION: u32 = 1;
pub const GRANULARITIES: [&str; 4] = ["file", "function", "block", "line"];

/// The base model (no adapter) or the PEFT method of the tuned model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMethod {
    Base,
    Lora,
    Ia3,
}

impl RunMethod {
    pub fn name(self) -> &'static str {
        match self {
            RunMethod::Base => "base",
            RunMethod::Lora => "lora",
            RunMethod::Ia3 => "ia3",
        }
    }

    /// As the paper's tables write it.
    pub fn display(self) -> &'static str {
        match self {
            RunMethod::Base => "pre-trained",
            RunMethod::Lora => "LoRA",
            RunMethod::Ia3 => "IA3",
        }
    }
}

/// Result files of a run, relative to the run folder; each is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunFiles {
    /// results.jsonl written by `sectune eval scenarios --out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios: Option<PathBuf>,
    /// summary.json of the same `eval scenarios` run (its totals are cross-checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenarios_summary: Option<PathBuf>,
    /// summary.json written by `sectune eval humaneval --out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub humaneval: Option<PathBuf>,
    /// metrics.jsonl written by `sectune train`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunManifest {
    pub format: u32,
    /// Model name as the tables should show it (e.g. "CodeLlama-7B").
    pub model: String,
    pub method: RunMethod,
    /// file, function, block or line; absent for base runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub granularity: Option<String>,
    /// Commits in the size-study subset the adapter was trained on; absent outside the size study.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Scenario languages generated for ("c", "cpp").
    #[serde(default)]
    pub languages: Vec<String>,
    #[serde(default)]
    pub files: RunFiles,
    /// Free-form provenance (the study writes the cell's configuration and hash here).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provenance: Option<serde_json::Value>,
}

impl RunManifest {
    /// A short name for messages and plot legends: "llama lora function", "llama lora block n=200".
    pub fn label(&self) -> String {
        let mut label = format!("{} {}", self.model, self.method.display());
        if let Some(g) = &self.granularity {
            label.push(' ');
            label.push_str(g);
        }
        if let Some(n) = self.size {
            label.push_str(&format!(" n={n}"));
        }
        label
    }

    fn check(&self, path: &Path) -> Result<(), ReportError> {
        let bad = |reason: String| ReportError::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        if self.format != FORMAT_VERSION {
            return Err(bad(format!(
                "format {} is not supported (this sectune reads format {FORMAT_VERSION})",
                self.format
            )));
        }
        if self.model.trim().is_empty() {
            return Err(bad("\"model\" is empty".into()));
        }
        if self.method == RunMethod::Base {
            if self.granularity.is_some() {
                return Err(bad("a base run has no \"granularity\"".into()));
            }
            if self.size.is_some() {
                return Err(bad("a base run has no \"size\"".into()));
            }
        } else {
            match &self.granularity {
                None => {
                    return Err(bad(
                        "a tuned run needs \"granularity\" (file, function, block or line)".into(),
                    ))
                }
                Some(g) if !GRANULARITIES.contains(&g.as_str()) => {
                    return Err(bad(format!(
                        "granularity {g:?} is not one of file, function, block, line"
                    )))
                }
                Some(_) => {}
            }
        }
        if let Some(l) = self
            .languages
            .iter()
            .find(|l| !["c", "cpp"].contains(&l.as_str()))
        {
            return Err(bad(format!("language {l:?} is not \"c\" or \"cpp\"")));
        }
        Ok(())
    }
}

/// Reads and checks `DIR/run.json`.
pub fn read(dir: &Path) -> Result<RunManifest, ReportError> {
    let path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&path).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    let manifest: RunManifest = serde_json::from_str(&text).map_err(|e| ReportError::Manifest {
        path: path.clone(),
        reason: format!("not a run manifest ({e}); fields are described in docs/report.md"),
    })?;
    manifest.check(&path)?;
    Ok(manifest)
}

/// Writes `DIR/run.json` atomically.
pub fn write(dir: &Path, manifest: &RunManifest) -> crate::error::Result<()> {
    let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| {
        crate::error::Error::file(dir.join(MANIFEST), e.to_string(), "report a bug")
    })?;
    write_atomic(&dir.join(MANIFEST), &bytes)
}
