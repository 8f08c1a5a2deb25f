//! `adapter_config.json` in PEFT's format (LoRA and IA3), read and written field-compatibly.

use std::path::Path;

use serde_json::{json, Value};

use crate::error::{Error, Result};
use crate::model::config::Arch;

/// PEFT's target_modules: a list of module-name suffixes, or one regex that must match the
/// whole module name.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    List(Vec<String>),
    Regex(String),
}

impl Targets {
    /// PEFT's rule: a list entry matches `name == t` or `name.ends_with(".t")`; a string is
    /// a full-match regex.
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Targets::List(list) => list
                .iter()
                .any(|t| name == t || name.ends_with(&format!(".{t}"))),
            Targets::Regex(re) => regex::Regex::new(&format!("^(?:{re})$"))
                .map(|r| r.is_match(name))
                .unwrap_or(false),
        }
    }

    fn to_json(&self) -> Value {
        match self {
            Targets::List(l) => json!(l),
            Targets::Regex(r) => json!(r),
        }
    }

    fn from_json(path: &Path, field: &str, v: Option<&Value>) -> Result<Option<Self>> {
        let bad = |msg: &str| Error::Config {
            path: path.to_path_buf(),
            field: field.into(),
            msg: msg.into(),
        };
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => {
                regex::Regex::new(s).map_err(|e| bad(&format!("not a valid regex: {e}")))?;
                Ok(Some(Targets::Regex(s.clone())))
            }
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(String::from)
                        .ok_or_else(|| bad("every entry must be a module name string"))
                })
                .collect::<Result<Vec<_>>>()
                .map(|l| Some(Targets::List(l))),
            Some(_) => Err(bad("expected a list of module names or a regex string")),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f32,
    pub lora_dropout: f32,
    pub target_modules: Targets,
    pub use_rslora: bool,
    pub base_model_name_or_path: Option<String>,
}

impl LoraConfig {
    /// PEFT's scaling: alpha/r, or alpha/sqrt(r) with rsLoRA.
    pub fn scaling(&self) -> f32 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f32).sqrt()
        } else {
            self.lora_alpha / self.r as f32
        }
    }

    /// The study's settings: r 8, alpha 16, dropout 0.05, PEFT's default targets per family.
    pub fn study_default(arch: Arch) -> Self {
        let targets = match arch {
            Arch::Llama => vec!["q_proj", "v_proj"],
            Arch::Codegen => vec!["qkv_proj"],
        };
        LoraConfig {
            r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.05,
            target_modules: Targets::List(targets.into_iter().map(String::from).collect()),
            use_rslora: false,
            base_model_name_or_path: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Ia3Config {
    pub target_modules: Targets,
    pub feedforward_modules: Targets,
    pub base_model_name_or_path: Option<String>,
}

impl Ia3Config {
    /// The study's IA3 targets, with the down projection as the feed-forward module.
    pub fn study_default(arch: Arch) -> Self {
        let (t, ff): (&[&str], &[&str]) = match arch {
            Arch::Llama => (
                &[
                    "q_proj",
                    "k_proj",
                    "v_proj",
                    "gate_proj",
                    "up_proj",
                    "down_proj",
                ],
                &["down_proj"],
            ),
            Arch::Codegen => (&["qkv_proj", "fc_in", "fc_out"], &["fc_out"]),
        };
        let list = |x: &[&str]| Targets::List(x.iter().map(|s| s.to_string()).collect());
        Ia3Config {
            target_modules: list(t),
            feedforward_modules: list(ff),
            base_model_name_or_path: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum PeftConfig {
    Lora(LoraConfig),
    Ia3(Ia3Config),
}

impl PeftConfig {
    pub fn method(&self) -> &'static str {
        match self {
            PeftConfig::Lora(_) => "lora",
            PeftConfig::Ia3(_) => "ia3",
        }
    }

    pub fn target_modules(&self) -> &Targets {
        match self {
            PeftConfig::Lora(c) => &c.target_modules,
            PeftConfig::Ia3(c) => &c.target_modules,
        }
    }

    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("not valid JSON ({e})"),
                "write it again with peft's save_pretrained or sectune",
            )
        })?;
        Self::from_json(path, &v)
    }

    pub fn from_json(path: &Path, v: &Value) -> Result<Self> {
        let err = |field: &str, msg: String| Error::Config {
            path: path.to_path_buf(),
            field: field.into(),
            msg,
        };
        let num = |field: &str, default: Option<f64>| -> Result<f64> {
            match v.get(field).filter(|x| !x.is_null()) {
                Some(x) => x
                    .as_f64()
                    .ok_or_else(|| err(field, format!("expected a number, found {x}"))),
                None => default.ok_or_else(|| err(field, "missing".into())),
            }
        };
        let flag = |field: &str| v.get(field).and_then(|x| x.as_bool()).unwrap_or(false);
        let base = v
            .get("base_model_name_or_path")
            .and_then(|x| x.as_str())
            .map(String::from);
        // Options sectune does not implement are refused rather than silently ignored.
        for (field, unsupported) in [
            ("use_dora", flag("use_dora")),
            ("fan_in_fan_out", flag("fan_in_fan_out")),
            ("lora_bias", flag("lora_bias")),
        ] {
            if unsupported {
                return Err(err(field, "true is not supported by sectune".into()));
            }
        }
        for field in ["modules_to_save", "layers_to_transform"] {
            if v.get(field)
                .is_some_and(|x| !x.is_null() && x != &json!([]))
            {
                return Err(err(
                    field,
                    "is set; sectune supports adapters without it".into(),
                ));
            }
        }
        for field in ["rank_pattern", "alpha_pattern"] {
            if v.get(field)
                .is_some_and(|x| x.as_object().is_some_and(|o| !o.is_empty()))
            {
                return Err(err(
                    field,
                    "per-module ranks/alphas are not supported by sectune".into(),
                ));
            }
        }
        let targets = |field: &str| -> Result<Targets> {
            Targets::from_json(path, field, v.get(field))?
                .ok_or_else(|| err(field, "missing; list the modules the adapter wraps".into()))
        };
        match v.get("peft_type").and_then(|x| x.as_str()) {
            Some("LORA") => {
                if let Some(b) = v
                    .get("bias")
                    .and_then(|x| x.as_str())
                    .filter(|b| *b != "none")
                {
                    return Err(err(
                        "bias",
                        format!(
                            "\"{b}\" is not supported; sectune trains no biases (use \"none\")"
                        ),
                    ));
                }
                let r = num("r", Some(8.0))?;
                if r < 1.0 || r.fract() != 0.0 {
                    return Err(err("r", format!("{r} is not a positive integer rank")));
                }
                let dropout = num("lora_dropout", Some(0.0))?;
                if !(0.0..1.0).contains(&dropout) {
                    return Err(err("lora_dropout", format!("{dropout} is outside [0, 1)")));
                }
                Ok(PeftConfig::Lora(LoraConfig {
                    r: r as usize,
                    lora_alpha: num("lora_alpha", Some(8.0))? as f32,
                    lora_dropout: dropout as f32,
                    target_modules: targets("target_modules")?,
                    use_rslora: flag("use_rslora"),
                    base_model_name_or_path: base,
                }))
            }
            Some("IA3") => Ok(PeftConfig::Ia3(Ia3Config {
                target_modules: targets("target_modules")?,
                feedforward_modules: Targets::from_json(
                    path,
                    "feedforward_modules",
                    v.get("feedforward_modules"),
                )?
                .unwrap_or(Targets::List(Vec::new())),
                base_model_name_or_path: base,
            })),
            Some(other) => Err(err(
                "peft_type",
                format!("\"{other}\" is not supported; sectune reads LORA and IA3 adapters"),
            )),
            None => Err(err(
                "peft_type",
                "missing; PEFT requires it (LORA or IA3)".into(),
            )),
        }
    }

    /// The JSON peft's `save_pretrained` writes for this config (every dataclass field PEFT
    /// needs to load it, with PEFT's defaults for what sectune does not use).
    pub fn to_json(&self) -> Value {
        match self {
            PeftConfig::Lora(c) => json!({
                "peft_type": "LORA",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": c.base_model_name_or_path,
                "revision": null,
                "inference_mode": true,
                "r": c.r,
                "lora_alpha": c.lora_alpha,
                "lora_dropout": c.lora_dropout,
                "target_modules": c.target_modules.to_json(),
                "exclude_modules": null,
                "bias": "none",
                "fan_in_fan_out": false,
                "use_rslora": c.use_rslora,
                "use_dora": false,
                "init_lora_weights": true,
                "modules_to_save": null,
                "layers_to_transform": null,
                "layers_pattern": null,
                "rank_pattern": {},
                "alpha_pattern": {},
                "auto_mapping": null,
            }),
            PeftConfig::Ia3(c) => json!({
                "peft_type": "IA3",
                "task_type": "CAUSAL_LM",
                "base_model_name_or_path": c.base_model_name_or_path,
                "revision": null,
                "inference_mode": true,
                "target_modules": c.target_modules.to_json(),
                "exclude_modules": null,
                "feedforward_modules": c.feedforward_modules.to_json(),
                "fan_in_fan_out": false,
                "modules_to_save": null,
                "init_ia3_weights": true,
                "auto_mapping": null,
            }),
        }
    }
}
