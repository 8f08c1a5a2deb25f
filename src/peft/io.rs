//! Save and load adapters as PEFT does: `adapter_config.json` + `adapter_model.safetensors`
//! with keys `base_model.model.<module>.lora_A.weight` / `.lora_B.weight` / `.ia3_l`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::error::{Error, Result};
use crate::model::safetensors_io::{to_bytes, SaveDtype, TensorFiles};
use crate::model::LinearInfo;
use crate::peft::adapter::{select_modules, AdapterSet, ModuleAdapter};
use crate::peft::config::PeftConfig;
use crate::tensor::Tensor;
use crate::util::fsx::write_atomic;

pub const CONFIG_NAME: &str = "adapter_config.json";
pub const WEIGHTS_NAME: &str = "adapter_model.safetensors";

/// Writes the adapter folder (both files atomically). IA3 vectors get PEFT's shapes:
/// (1, in) for feed-forward modules, (out, 1) otherwise.
pub fn save(adapter: &AdapterSet, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let mut tensors = BTreeMap::new();
    for (key, t) in adapter.named_tensors() {
        tensors.insert(key, t.clone());
    }
    for (name, m) in &adapter.modules {
        if let ModuleAdapter::Ia3 { l, feedforward } = m {
            let shape = if *feedforward {
                [1, l.numel()]
            } else {
                [l.numel(), 1]
            };
            tensors.insert(
                format!("base_model.model.{name}.ia3_l"),
                l.clone().reshape(&shape)?,
            );
        }
    }
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_atomic(
        &dir.join(WEIGHTS_NAME),
        &to_bytes(&tensors, SaveDtype::F32, Some(meta))?,
    )?;
    let json = serde_json::to_string_pretty(&adapter.config.to_json())
        .map_err(|e| Error::Unsupported(e.to_string()))?;
    write_atomic(&dir.join(CONFIG_NAME), json.as_bytes())
}

/// Loads an adapter folder for a model with the given linear layers; every tensor is checked
/// against the module it wraps, and tensors that wrap nothing are refused.
pub fn load(dir: &Path, linears: &[LinearInfo]) -> Result<AdapterSet> {
    let cfg_path = dir.join(CONFIG_NAME);
    if !cfg_path.exists() {
        return Err(Error::file(
            dir,
            format!("has no {CONFIG_NAME}"),
            "point --adapter at a folder written by peft's save_pretrained or sectune",
        ));
    }
    let config = PeftConfig::load(&cfg_path)?;
    let w_path = dir.join(WEIGHTS_NAME);
    let files = TensorFiles::open(&w_path)?;
    let adapter_err = |msg: String| Error::Adapter {
        path: w_path.clone(),
        msg,
    };
    let chosen = select_modules(config.target_modules(), linears).map_err(|e| Error::Adapter {
        path: cfg_path.clone(),
        msg: format!("{e}; the adapter was made for another base model"),
    })?;
    let mut modules = BTreeMap::new();
    let mut used = 0usize;
    for info in chosen {
        let key = |suffix: &str| format!("base_model.model.{}.{suffix}", info.name);
        let get = |k: &str, want: &[usize]| -> Result<Tensor> {
            if !files.contains(k) {
                return Err(adapter_err(format!(
                    "has no tensor {k}, which its config's target_modules require"
                )));
            }
            let t = files.f32(k)?;
            if t.shape() != want {
                return Err(adapter_err(format!(
                    "tensor {k} has shape {:?} but the base model's {} needs {want:?}: the adapter was made for another base model",
                    t.shape(),
                    info.name
                )));
            }
            Ok(t)
        };
        let m = match &config {
            PeftConfig::Lora(c) => {
                used += 2;
                ModuleAdapter::Lora {
                    a: get(&key("lora_A.weight"), &[c.r, info.in_features])?,
                    b: get(&key("lora_B.weight"), &[info.out_features, c.r])?,
                }
            }
            PeftConfig::Ia3(c) => {
                used += 1;
                let feedforward = c.feedforward_modules.matches(&info.name);
                let shape = if feedforward {
                    [1, info.in_features]
                } else {
                    [info.out_features, 1]
                };
                let l = get(&key("ia3_l"), &shape)?;
                let n = l.numel();
                ModuleAdapter::Ia3 {
                    l: l.reshape(&[n])?,
                    feedforward,
                }
            }
        };
        modules.insert(info.name.clone(), m);
    }
    let total = files.names().count();
    if used != total {
        let mut extra: Vec<&str> = files
            .names()
            .filter(|n| {
                !modules
                    .keys()
                    .any(|m| n.starts_with(&format!("base_model.model.{m}.")))
            })
            .collect();
        extra.sort_unstable();
        return Err(adapter_err(format!(
            "holds tensors for modules this base model does not have or the config does not target: {}",
            extra.join(", ")
        )));
    }
    Ok(AdapterSet { config, modules })
}
