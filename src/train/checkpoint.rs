//! Resumable checkpoints: the adapter (PEFT format), AdamW moments, and where the run stood,
//! written into a temporary folder that is renamed into place only when complete.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::safetensors_io::{to_bytes, SaveDtype, TensorFiles};
use crate::model::LinearInfo;
use crate::peft::{io as peft_io, AdapterSet};
use crate::util::fsx::write_atomic;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunState {
    /// Optimizer steps done.
    pub step: usize,
    pub epoch: usize,
    /// Batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    pub total_steps: usize,
    /// TrainConfig::fingerprint of the run.
    pub config: String,
    /// Identifies the base model (architecture and shapes).
    pub model: String,
}

pub struct Checkpoint {
    pub adapter: AdapterSet,
    pub m: AdapterSet,
    pub v: AdapterSet,
    pub state: RunState,
}

const STATE: &str = "state.json";
const OPTIMIZER: &str = "optimizer.safetensors";

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Writes `<dir>/step-<n>` atomically and points `<dir>/latest` at it.
pub fn save(
    dir: &Path,
    adapter: &AdapterSet,
    m: &AdapterSet,
    v: &AdapterSet,
    state: &RunState,
) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = format!("step-{}", state.step);
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_dir_all(&tmp);
    peft_io::save(adapter, &tmp)?;
    let mut moments = BTreeMap::new();
    for (prefix, set) in [("m.", m), ("v.", v)] {
        for (k, t) in set.named_tensors() {
            moments.insert(format!("{prefix}{k}"), t.clone());
        }
    }
    let meta = HashMap::from([("format".to_string(), "sectune-adamw".to_string())]);
    write_atomic(
        &tmp.join(OPTIMIZER),
        &to_bytes(&moments, SaveDtype::F32, Some(meta))?,
    )?;
    let json =
        serde_json::to_string_pretty(state).map_err(|e| Error::Unsupported(e.to_string()))?;
    write_atomic(&tmp.join(STATE), json.as_bytes())?;
    sync_dir(&tmp);
    let fin = dir.join(&name);
    let _ = std::fs::remove_dir_all(&fin);
    std::fs::rename(&tmp, &fin).map_err(|e| Error::io(&fin, e))?;
    sync_dir(dir);
    write_atomic(&dir.join("latest"), name.as_bytes())?;
    Ok(fin)
}

/// Accepts a checkpoint folder, or a run/checkpoints folder holding `latest`.
pub fn resolve(path: &Path) -> Result<PathBuf> {
    for candidate in [path.to_path_buf(), path.join("checkpoints")] {
        if candidate.join(STATE).exists() {
            return Ok(candidate);
        }
        if let Ok(name) = std::fs::read_to_string(candidate.join("latest")) {
            return Ok(candidate.join(name.trim()));
        }
    }
    Err(Error::file(
        path,
        "holds no sectune checkpoint (state.json or latest)",
        "pass the run's output folder or one of its checkpoints/step-N folders",
    ))
}

pub fn load(dir: &Path, linears: &[LinearInfo]) -> Result<Checkpoint> {
    let state_path = dir.join(STATE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: RunState = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            &state_path,
            format!("is corrupt ({e})"),
            "resume from an earlier checkpoints/step-N folder",
        )
    })?;
    let adapter = peft_io::load(dir, linears)?;
    let opt_path = dir.join(OPTIMIZER);
    let files = TensorFiles::open(&opt_path)?;
    let mut m = adapter.zeros_like();
    let mut v = adapter.zeros_like();
    for (prefix, set) in [("m.", &mut m), ("v.", &mut v)] {
        for (k, t) in set.named_tensors_mut() {
            let key = format!("{prefix}{k}");
            *t = files.f32_shaped(&key, t.shape()).map_err(|_| {
                Error::file(
                    &opt_path,
                    format!("lacks {key} or has the wrong shape"),
                    "resume from an earlier checkpoints/step-N folder",
                )
            })?;
        }
    }
    Ok(Checkpoint {
        adapter,
        m,
        v,
        state,
    })
}
