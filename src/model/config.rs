//! HF `config.json` for the two supported families, normalized into one `ModelConfig`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::backend::RopeStyle;
use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// LlamaForCausalLM (CodeLlama).
    Llama,
    /// CodeGenForCausalLM (CodeGen, CodeGen2).
    Codegen,
}

impl Arch {
    pub fn as_str(&self) -> &'static str {
        match self {
            Arch::Llama => "llama",
            Arch::Codegen => "codegen",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub arch: Arch,
    pub vocab_size: usize,
    pub hidden: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
    pub intermediate: usize,
    pub norm_eps: f32,
    pub rope: RopeStyle,
    pub max_positions: usize,
    pub tie_word_embeddings: bool,
    pub attention_bias: bool,
    pub mlp_bias: bool,
}

/// Field access that names the file and the field in every error.
struct Fields<'a> {
    path: &'a Path,
    v: &'a Value,
}

impl Fields<'_> {
    fn err(&self, field: &str, msg: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.to_path_buf(),
            field: field.to_string(),
            msg: msg.into(),
        }
    }
    fn opt(&self, field: &str) -> Option<&Value> {
        self.v.get(field).filter(|v| !v.is_null())
    }
    fn usize(&self, field: &str) -> Result<usize> {
        match self.opt(field) {
            None => Err(self.err(
                field,
                "missing; a Hugging Face config.json of this architecture always has it",
            )),
            Some(v) => v
                .as_u64()
                .filter(|&n| n > 0)
                .map(|n| n as usize)
                .ok_or_else(|| self.err(field, format!("expected a positive integer, found {v}"))),
        }
    }
    fn usize_or(&self, field: &str, default: usize) -> Result<usize> {
        if self.opt(field).is_none() {
            Ok(default)
        } else {
            self.usize(field)
        }
    }
    fn f32_or(&self, field: &str, default: f32) -> Result<f32> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .map(|x| x as f32)
                .ok_or_else(|| self.err(field, format!("expected a number, found {v}"))),
        }
    }
    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.err(field, format!("expected true or false, found {v}"))),
        }
    }
    fn str_or<'s>(&'s self, field: &str, default: &'s str) -> Result<&'s str> {
        match self.opt(field) {
            None => Ok(default),
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.err(field, format!("expected a string, found {v}"))),
        }
    }
}

impl ModelConfig {
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| {
            Error::file(
                path,
                format!("not valid JSON ({e})"),
                "restore the model's original config.json",
            )
        })?;
        Self::from_json(path, &v)
    }

    pub fn from_json(path: &Path, v: &Value) -> Result<Self> {
        let f = Fields { path, v };
        let model_type = f.str_or("model_type", "")?;
        match model_type {
            "llama" => Self::llama(&f),
            "codegen" => Self::codegen(&f),
            "" => Err(f.err("model_type", "missing; sectune supports \"llama\" (CodeLlama) and \"codegen\" (CodeGen2)")),
            other => Err(f.err(
                "model_type",
                format!("architecture \"{other}\" is not supported; sectune supports \"llama\" (CodeLlama) and \"codegen\" (CodeGen2)"),
            )),
        }
    }

    fn llama(f: &Fields) -> Result<Self> {
        let hidden = f.usize("hidden_size")?;
        let n_heads = f.usize("num_attention_heads")?;
        let n_kv_heads = f.usize_or("num_key_value_heads", n_heads)?;
        if n_heads % n_kv_heads != 0 {
            return Err(f.err(
                "num_key_value_heads",
                format!("{n_kv_heads} does not divide num_attention_heads {n_heads}"),
            ));
        }
        let head_dim = f.usize_or("head_dim", hidden / n_heads)?;
        let act = f.str_or("hidden_act", "silu")?;
        if act != "silu" {
            return Err(f.err(
                "hidden_act",
                format!("\"{act}\" is not supported; Llama models use \"silu\""),
            ));
        }
        // Newer transformers nest rope_theta inside rope_parameters.
        let theta = match f.opt("rope_parameters") {
            Some(p) => {
                let nested = Fields { path: f.path, v: p };
                let kind = nested.str_or("rope_type", "default")?;
                if kind != "default" {
                    return Err(f.err(
                        "rope_parameters.rope_type",
                        format!("\"{kind}\" rope scaling is not supported"),
                    ));
                }
                nested.f32_or("rope_theta", 10000.0)?
            }
            None => f.f32_or("rope_theta", 10000.0)?,
        };
        if let Some(s) = f.opt("rope_scaling") {
            return Err(f.err(
                "rope_scaling",
                format!("rope scaling {s} is not supported (CodeLlama uses none)"),
            ));
        }
        Ok(ModelConfig {
            arch: Arch::Llama,
            vocab_size: f.usize("vocab_size")?,
            hidden,
            n_layers: f.usize("num_hidden_layers")?,
            n_heads,
            n_kv_heads,
            head_dim,
            intermediate: f.usize("intermediate_size")?,
            norm_eps: f.f32_or("rms_norm_eps", 1e-6)?,
            rope: RopeStyle::RotateHalf { theta },
            max_positions: f.usize_or("max_position_embeddings", 2048)?,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
            attention_bias: f.bool_or("attention_bias", false)?,
            mlp_bias: f.bool_or("mlp_bias", false)?,
        })
    }

    fn codegen(f: &Fields) -> Result<Self> {
        let hidden = f.usize("n_embd")?;
        let n_heads = f.usize("n_head")?;
        if n_heads % 4 != 0 || hidden % n_heads != 0 {
            return Err(f.err("n_head", format!("{n_heads} heads: CodeGen splits qkv in 4 groups, so n_head must be a multiple of 4 dividing n_embd {hidden}")));
        }
        let head_dim = hidden / n_heads;
        let rotary_dim = f.usize_or("rotary_dim", head_dim)?;
        if rotary_dim > head_dim || rotary_dim % 2 != 0 {
            return Err(f.err(
                "rotary_dim",
                format!("{rotary_dim} must be even and at most the head dim {head_dim}"),
            ));
        }
        let act = f.str_or("activation_function", "gelu_new")?;
        if act != "gelu_new" {
            return Err(f.err(
                "activation_function",
                format!("\"{act}\" is not supported; CodeGen uses \"gelu_new\""),
            ));
        }
        Ok(ModelConfig {
            arch: Arch::Codegen,
            vocab_size: f.usize("vocab_size")?,
            hidden,
            n_layers: f.usize("n_layer")?,
            n_heads,
            n_kv_heads: n_heads,
            head_dim,
            intermediate: f.usize_or("n_inner", 4 * hidden)?,
            norm_eps: f.f32_or("layer_norm_epsilon", 1e-5)?,
            rope: RopeStyle::Interleaved {
                rotary_dim,
                theta: 10000.0,
            },
            max_positions: f.usize("n_positions")?,
            tie_word_embeddings: f.bool_or("tie_word_embeddings", false)?,
            attention_bias: false,
            mlp_bias: true,
        })
    }

    /// The config.json transformers would read back as this model.
    pub fn to_hf_json(&self) -> Value {
        match self.arch {
            Arch::Llama => serde_json::json!({
                "architectures": ["LlamaForCausalLM"],
                "model_type": "llama",
                "vocab_size": self.vocab_size,
                "hidden_size": self.hidden,
                "intermediate_size": self.intermediate,
                "num_hidden_layers": self.n_layers,
                "num_attention_heads": self.n_heads,
                "num_key_value_heads": self.n_kv_heads,
                "head_dim": self.head_dim,
                "hidden_act": "silu",
                "rms_norm_eps": self.norm_eps,
                "rope_theta": match self.rope { RopeStyle::RotateHalf { theta } => theta, RopeStyle::Interleaved { theta, .. } => theta },
                "max_position_embeddings": self.max_positions,
                "tie_word_embeddings": self.tie_word_embeddings,
                "attention_bias": self.attention_bias,
                "mlp_bias": self.mlp_bias,
                "bos_token_id": 1,
                "eos_token_id": 2,
                "torch_dtype": "float32",
            }),
            Arch::Codegen => serde_json::json!({
                "architectures": ["CodeGenForCausalLM"],
                "model_type": "codegen",
                "vocab_size": self.vocab_size,
                "n_embd": self.hidden,
                "n_head": self.n_heads,
                "n_layer": self.n_layers,
                "n_inner": self.intermediate,
                "rotary_dim": match self.rope { RopeStyle::Interleaved { rotary_dim, .. } => rotary_dim, _ => self.head_dim },
                "activation_function": "gelu_new",
                "layer_norm_epsilon": self.norm_eps,
                "n_positions": self.max_positions,
                "n_ctx": self.max_positions,
                "tie_word_embeddings": self.tie_word_embeddings,
                "bos_token_id": 1,
                "eos_token_id": 2,
                "torch_dtype": "float32",
            }),
        }
    }

    pub fn config_path(dir: &Path) -> PathBuf {
        dir.join("config.json")
    }
}
