//! Models: config.json parsing, safetensors loading, Llama and CodeGen forward/backward.

pub mod codegen;
pub mod config;
pub mod init;
mod layers;
pub mod llama;
pub mod loss;
pub mod safetensors_io;
pub mod tokenizer;

use std::collections::BTreeMap;
use std::path::Path;

pub use config::{Arch, ModelConfig};
pub use layers::Ctx;

use crate::backend::Backend;
use crate::error::Result;
use crate::peft::AdapterSet;
use crate::tensor::Tensor;
use safetensors_io::{SaveDtype, TensorFiles};

/// A frozen linear layer `y = x·Wᵀ + b`, named by its HF module path.
#[derive(Clone, Debug)]
pub struct Linear {
    pub name: String,
    /// (out, in), HF layout.
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

/// What an adapter needs to know about a linear layer.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearInfo {
    pub name: String,
    pub in_features: usize,
    pub out_features: usize,
}

impl Linear {
    pub fn info(&self) -> LinearInfo {
        LinearInfo {
            name: self.name.clone(),
            in_features: self.weight.last_dim(),
            out_features: self.weight.rows(),
        }
    }

    fn load(
        files: &TensorFiles,
        be: &dyn Backend,
        name: &str,
        out: usize,
        inp: usize,
        bias: bool,
    ) -> Result<Self> {
        let weight = be.upload(files.f32_shaped(&format!("{name}.weight"), &[out, inp])?)?;
        let bias = if bias {
            Some(be.upload(files.f32_shaped(&format!("{name}.bias"), &[out])?)?)
        } else {
            None
        };
        Ok(Linear {
            name: name.to_string(),
            weight,
            bias,
        })
    }
}

pub enum Model {
    Llama(llama::Llama),
    Codegen(codegen::Codegen),
}

/// Activations a forward keeps for the backward.
pub enum Tape {
    Llama(llama::Tape),
    Codegen(codegen::Tape),
}

impl Model {
    /// Loads `config.json` and the safetensors weights of a HF model folder.
    pub fn load(dir: &Path, be: &dyn Backend) -> Result<Self> {
        let cfg = ModelConfig::load(&ModelConfig::config_path(dir))?;
        let files = TensorFiles::open_model_dir(dir)?;
        Self::from_files(cfg, &files, be)
    }

    pub fn from_files(cfg: ModelConfig, files: &TensorFiles, be: &dyn Backend) -> Result<Self> {
        Ok(match cfg.arch {
            Arch::Llama => Model::Llama(llama::Llama::load(cfg, files, be)?),
            Arch::Codegen => Model::Codegen(codegen::Codegen::load(cfg, files, be)?),
        })
    }

    pub fn config(&self) -> &ModelConfig {
        match self {
            Model::Llama(m) => &m.cfg,
            Model::Codegen(m) => &m.cfg,
        }
    }

    pub fn linears(&self) -> Vec<&Linear> {
        match self {
            Model::Llama(m) => m.linears(),
            Model::Codegen(m) => m.linears(),
        }
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            Model::Llama(m) => m.linears_mut(),
            Model::Codegen(m) => m.linears_mut(),
        }
    }

    pub fn linear_infos(&self) -> Vec<LinearInfo> {
        self.linears().iter().map(|l| l.info()).collect()
    }

    /// Every weight under its HF name (for writing merged checkpoints).
    pub fn named_weights(&self) -> BTreeMap<String, &Tensor> {
        match self {
            Model::Llama(m) => m.named_weights(),
            Model::Codegen(m) => m.named_weights(),
        }
    }

    pub fn num_params(&self) -> usize {
        self.named_weights().values().map(|t| t.numel()).sum()
    }

    /// logits (B·T, V) for ids (B·T); the tape when the caller will run `backward`.
    pub fn forward(
        &self,
        ctx: &Ctx,
        ids: &[u32],
        batch: usize,
        seq: usize,
        keep_tape: bool,
    ) -> Result<(Tensor, Option<Tape>)> {
        match self {
            Model::Llama(m) => m
                .forward(ctx, ids, batch, seq, keep_tape)
                .map(|(l, t)| (l, t.map(Tape::Llama))),
            Model::Codegen(m) => m
                .forward(ctx, ids, batch, seq, keep_tape)
                .map(|(l, t)| (l, t.map(Tape::Codegen))),
        }
    }

    /// Back-propagates dlogits (B·T, V); adapter gradients accumulate into `grads`.
    pub fn backward(
        &self,
        ctx: &Ctx,
        tape: Tape,
        dlogits: &Tensor,
        grads: &mut AdapterSet,
    ) -> Result<()> {
        match (self, tape) {
            (Model::Llama(m), Tape::Llama(t)) => m.backward(ctx, t, dlogits, grads),
            (Model::Codegen(m), Tape::Codegen(t)) => m.backward(ctx, t, dlogits, grads),
            _ => Err(crate::error::Error::Unsupported(
                "tape from another model".into(),
            )),
        }
    }

    /// Writes config.json + model.safetensors (one file) in `dtype`.
    pub fn save(&self, dir: &Path, dtype: SaveDtype) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
        let mut tensors = BTreeMap::new();
        for (k, t) in self.named_weights() {
            tensors.insert(k, t.clone());
        }
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = safetensors_io::to_bytes(&tensors, dtype, Some(meta))?;
        crate::util::fsx::write_atomic(&dir.join("model.safetensors"), &bytes)?;
        let cfg = serde_json::to_string_pretty(&self.config().to_hf_json())
            .map_err(|e| crate::error::Error::Unsupported(e.to_string()))?;
        crate::util::fsx::write_atomic(&ModelConfig::config_path(dir), cfg.as_bytes())
    }
}
