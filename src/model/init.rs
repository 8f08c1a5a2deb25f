//! Random-init checkpoints in the HF layout (config.json, model.safetensors, tokenizer.json)
//! for tests and the demo: fixed seed, transformers' N(0, 0.02) init, no downloads.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use crate::backend::RopeStyle;
use crate::error::{Error, Result};
use crate::model::safetensors_io::{to_bytes, SaveDtype};
use crate::model::{Arch, ModelConfig};
use crate::tensor::Tensor;
use crate::util::fsx::write_atomic;
use crate::util::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Preset {
    /// A few hundred thousand parameters: milliseconds per step on a CPU.
    Tiny,
    /// A few million parameters: still trains on a CPU in minutes.
    Small,
}

/// Vocabulary of the shipped byte-level tokenizer (256 bytes + 3 specials), padded.
pub const TINY_VOCAB: usize = 320;

pub fn preset_config(arch: Arch, preset: Preset) -> ModelConfig {
    let (hidden, layers, heads, kv, inter) = match (arch, preset) {
        (Arch::Llama, Preset::Tiny) => (64, 2, 4, 2, 176),
        (Arch::Llama, Preset::Small) => (256, 4, 8, 4, 688),
        (Arch::Codegen, Preset::Tiny) => (64, 2, 4, 4, 256),
        (Arch::Codegen, Preset::Small) => (256, 4, 8, 8, 1024),
    };
    let head_dim = hidden / heads;
    ModelConfig {
        arch,
        vocab_size: TINY_VOCAB,
        hidden,
        n_layers: layers,
        n_heads: heads,
        n_kv_heads: kv,
        head_dim,
        intermediate: inter,
        norm_eps: 1e-5,
        rope: match arch {
            Arch::Llama => RopeStyle::RotateHalf { theta: 1e6 },
            Arch::Codegen => RopeStyle::Interleaved {
                rotary_dim: head_dim / 2,
                theta: 10000.0,
            },
        },
        max_positions: 1024,
        tie_word_embeddings: false,
        attention_bias: false,
        mlp_bias: arch == Arch::Codegen,
    }
}

/// Every tensor name and shape of a model, as transformers names them.
pub fn tensor_shapes(cfg: &ModelConfig) -> Vec<(String, Vec<usize>)> {
    let (c, v, i) = (cfg.hidden, cfg.vocab_size, cfg.intermediate);
    let mut out = Vec::new();
    let mut push = |n: String, s: &[usize]| out.push((n, s.to_vec()));
    match cfg.arch {
        Arch::Llama => {
            let (qd, kvd) = (cfg.n_heads * cfg.head_dim, cfg.n_kv_heads * cfg.head_dim);
            push("model.embed_tokens.weight".into(), &[v, c]);
            for l in 0..cfg.n_layers {
                let p = format!("model.layers.{l}");
                push(format!("{p}.input_layernorm.weight"), &[c]);
                push(format!("{p}.self_attn.q_proj.weight"), &[qd, c]);
                push(format!("{p}.self_attn.k_proj.weight"), &[kvd, c]);
                push(format!("{p}.self_attn.v_proj.weight"), &[kvd, c]);
                push(format!("{p}.self_attn.o_proj.weight"), &[c, qd]);
                push(format!("{p}.post_attention_layernorm.weight"), &[c]);
                push(format!("{p}.mlp.gate_proj.weight"), &[i, c]);
                push(format!("{p}.mlp.up_proj.weight"), &[i, c]);
                push(format!("{p}.mlp.down_proj.weight"), &[c, i]);
            }
            push("model.norm.weight".into(), &[c]);
            if !cfg.tie_word_embeddings {
                push("lm_head.weight".into(), &[v, c]);
            }
        }
        Arch::Codegen => {
            push("transformer.wte.weight".into(), &[v, c]);
            for l in 0..cfg.n_layers {
                let p = format!("transformer.h.{l}");
                push(format!("{p}.ln_1.weight"), &[c]);
                push(format!("{p}.ln_1.bias"), &[c]);
                push(format!("{p}.attn.qkv_proj.weight"), &[3 * c, c]);
                push(format!("{p}.attn.out_proj.weight"), &[c, c]);
                push(format!("{p}.mlp.fc_in.weight"), &[i, c]);
                push(format!("{p}.mlp.fc_in.bias"), &[i]);
                push(format!("{p}.mlp.fc_out.weight"), &[c, i]);
                push(format!("{p}.mlp.fc_out.bias"), &[c]);
            }
            push("transformer.ln_f.weight".into(), &[c]);
            push("transformer.ln_f.bias".into(), &[c]);
            push("lm_head.weight".into(), &[v, c]);
            push("lm_head.bias".into(), &[v]);
        }
    }
    out
}

/// Matrices N(0, 1/in_features), norm weights 1, biases 0. transformers' fixed std 0.02 suits
/// 4096-wide models; on a 64-wide toy it caps every logit near ±1, so nothing could be learned.
pub fn random_weights(cfg: &ModelConfig, seed: u64) -> Result<BTreeMap<String, Tensor>> {
    let mut rng = Rng::new(seed);
    let mut out = BTreeMap::new();
    for (name, shape) in tensor_shapes(cfg) {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = match init_of(&name, &shape) {
            Init::Constant(v) => vec![v; n],
            Init::Random { std } => (0..n).map(|_| std * rng.normal()).collect(),
        };
        out.insert(name, Tensor::from_vec(data, &shape)?);
    }
    Ok(out)
}

/// How the random init fills one tensor: biases 0, norm weights 1, everything else random with
/// standard deviation 1/√(last dim).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    Constant(f32),
    Random { std: f32 },
}

pub fn init_of(name: &str, shape: &[usize]) -> Init {
    if name.ends_with(".bias") {
        Init::Constant(0.0)
    } else if name.contains("norm") || name.contains("ln_") {
        Init::Constant(1.0)
    } else {
        Init::Random {
            std: 1.0 / (*shape.last().unwrap_or(&1) as f32).sqrt(),
        }
    }
}

/// Writes a complete random model folder in f32; refuses to overwrite an existing model.
pub fn write_random_model(dir: &Path, cfg: &ModelConfig, seed: u64, force: bool) -> Result<()> {
    write_random_model_as(dir, cfg, seed, force, SaveDtype::F32)
}

/// `write_random_model` with the weights stored as `dtype` (bf16, as real 7B checkpoints are).
pub fn write_random_model_as(
    dir: &Path,
    cfg: &ModelConfig,
    seed: u64,
    force: bool,
    dtype: SaveDtype,
) -> Result<()> {
    crate::util::fsx::ensure_fresh_output(dir, "model.safetensors", force)?;
    write_model_as(dir, cfg, &random_weights(cfg, seed)?, dtype)
}

/// Writes `weights` as a model folder (safetensors as `dtype`, config.json, a byte-level
/// tokenizer); the caller checked that nothing is overwritten.
pub fn write_model_as(
    dir: &Path,
    cfg: &ModelConfig,
    weights: &BTreeMap<String, Tensor>,
    dtype: SaveDtype,
) -> Result<()> {
    // One metadata key only: safetensors writes its metadata map in hash order, so more
    // keys would make the bytes differ between runs of the same seed.
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    write_atomic(
        &dir.join("model.safetensors"),
        &to_bytes(weights, dtype, Some(meta))?,
    )?;
    let json = |v: &serde_json::Value| {
        serde_json::to_string_pretty(v).map_err(|e| Error::Unsupported(e.to_string()))
    };
    write_atomic(
        &ModelConfig::config_path(dir),
        json(&cfg.to_hf_json())?.as_bytes(),
    )?;
    let tok = super::tokenizer::byte_level_tokenizer_json();
    write_atomic(&dir.join("tokenizer.json"), json(&tok)?.as_bytes())
}
