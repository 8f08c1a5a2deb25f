//! Models: config.json parsing, safetensors loading, Llama and CodeGen forward/backward.

pub mod codegen;
pub mod config;
pub mod init;
mod layers;
pub mod llama;
pub mod loss;
pub mod safetensors_io;
mod stack;
pub mod tokenizer;

use std::collections::BTreeMap;
use std::path::Path;

pub use config::{Arch, ModelConfig};
pub use layers::Ctx;

use crate::backend::Backend;
use crate::error::Result;
use crate::peft::AdapterSet;
use crate::quant::{BaseWeight, QuantRequest};
use crate::tensor::Tensor;
use safetensors_io::{SaveDtype, TensorFiles};

/// A frozen linear layer `y = x·Wᵀ + b`, named by its HF module path.
#[derive(Clone, Debug)]
pub struct Linear {
    pub name: String,
    /// (out, in), HF layout; f32 or quantized (crate::quant).
    pub weight: BaseWeight,
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
            in_features: self.weight.cols(),
            out_features: self.weight.rows(),
        }
    }

    /// Adds this layer's f32 weight (a quantized one has no f32 tensor) and bias to a
    /// `named_weights` map under their HF names.
    fn insert_named<'a>(&'a self, m: &mut BTreeMap<String, &'a Tensor>) {
        if let Some(w) = self.weight.as_f32() {
            m.insert(format!("{}.weight", self.name), w);
        }
        if let Some(b) = &self.bias {
            m.insert(format!("{}.bias", self.name), b);
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
        // lm_head stays f32 unless the checkpoint stores it quantized (as bitsandbytes).
        let req = if name == "lm_head" {
            QuantRequest::new(crate::quant::BaseDtype::F32, false)
        } else {
            files.quant_request()
        };
        let weight = be.upload_base(crate::quant::bnb::load_linear_weight(
            files, name, out, inp, req,
        )?)?;
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

/// Batch geometry of one forward: B sequences of T new tokens at positions pos..pos+T.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geom {
    pub batch: usize,
    pub seq: usize,
    pub pos: usize,
    /// Attention softmax scale, 1/sqrt(head_dim).
    pub scale: f32,
}

/// What a forward keeps for the backward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Nothing (evaluation, generation).
    None,
    /// Every block's activations.
    Full,
    /// Only each block's input; the backward recomputes the block (gradient checkpointing).
    Checkpoint,
}

/// A block's saved state: its activations, or only its input under checkpointing.
pub enum Saved<T> {
    Full(T),
    Input(Tensor),
}

/// Keys and values (B, S, Hkv, D) after RoPE, per layer, for incremental decoding.
#[derive(Default)]
pub struct KvCache {
    layers: Vec<KvLayer>,
    /// Positions already cached.
    pub len: usize,
}

#[derive(Default)]
pub struct KvLayer {
    kv: Option<(Tensor, Tensor)>,
}

impl KvLayer {
    /// Appends this step's k, v and returns the whole cached k, v.
    pub fn append(&mut self, be: &dyn Backend, k: Tensor, v: Tensor) -> Result<(Tensor, Tensor)> {
        let (k, v) = match self.kv.take() {
            Some((ck, cv)) => (be.cat_seq(&ck, &k)?, be.cat_seq(&cv, &v)?),
            None => (k, v),
        };
        self.kv = Some((k.clone(), v.clone()));
        Ok((k, v))
    }
}

impl KvCache {
    pub fn new(n_layers: usize) -> Self {
        KvCache {
            layers: (0..n_layers).map(|_| KvLayer::default()).collect(),
            len: 0,
        }
    }
    fn layer(&mut self, i: usize) -> &mut KvLayer {
        if self.layers.len() <= i {
            self.layers.resize_with(i + 1, KvLayer::default);
        }
        &mut self.layers[i]
    }
    fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

/// Activations a forward keeps for the backward.
pub enum Tape {
    Llama(llama::Tape),
    Codegen(codegen::Tape),
}

impl Model {
    /// Loads `config.json` and the safetensors weights of a HF model folder.
    pub fn load(dir: &Path, be: &dyn Backend) -> Result<Self> {
        Self::load_quantized(dir, be, QuantRequest::default())
    }

    /// Like `load`, storing the block linears as `req` asks (quantized layer by layer as they
    /// are read). Checkpoints saved in a bitsandbytes layout load as stored.
    pub fn load_quantized(dir: &Path, be: &dyn Backend, req: QuantRequest) -> Result<Self> {
        let cfg = ModelConfig::load(&ModelConfig::config_path(dir))?;
        let mut files = TensorFiles::open_model_dir(dir)?;
        files.set_quant_request(req);
        Self::from_files(cfg, &files, be)
    }

    /// How the linear weights are stored, e.g. "nf4 ×14, f32 ×1" (lm_head stays f32).
    pub fn base_weights_summary(&self) -> String {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for l in self.linears() {
            *counts.entry(l.weight.kind()).or_default() += 1;
        }
        let mut parts: Vec<(usize, &str)> = counts.into_iter().map(|(k, n)| (n, k)).collect();
        parts.sort_by(|a, b| b.cmp(a));
        parts
            .iter()
            .map(|(n, k)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Bytes the base weights hold: f32 tensors at 4 bytes, quantized linears as stored.
    pub fn weight_bytes(&self) -> u64 {
        let quantized: u64 = self
            .linears()
            .iter()
            .filter(|l| l.weight.as_f32().is_none())
            .map(|l| l.weight.storage_bytes())
            .sum();
        4 * self
            .named_weights()
            .values()
            .map(|t| t.numel() as u64)
            .sum::<u64>()
            + quantized
    }

    /// Linears held in a lossy format (int8, nf4), which cannot be saved.
    fn quantized_linears(&self) -> usize {
        self.linears()
            .iter()
            .filter(|l| l.weight.is_lossy())
            .count()
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

    /// Every f32 weight under its HF name (for writing merged checkpoints); quantized linears
    /// are not listed.
    pub fn named_weights(&self) -> BTreeMap<String, &Tensor> {
        match self {
            Model::Llama(m) => m.named_weights(),
            Model::Codegen(m) => m.named_weights(),
        }
    }

    pub fn num_params(&self) -> usize {
        let quantized: usize = self
            .linears()
            .iter()
            .filter(|l| l.weight.as_f32().is_none())
            .map(|l| l.weight.numel())
            .sum();
        self.named_weights()
            .values()
            .map(|t| t.numel())
            .sum::<usize>()
            + quantized
    }

    pub fn geom(&self, batch: usize, seq: usize, pos: usize) -> Geom {
        Geom {
            batch,
            seq,
            pos,
            scale: 1.0 / (self.config().head_dim as f32).sqrt(),
        }
    }

    /// logits (B·T, V) for ids (B·T) at positions 0..T; the tape when `keep` asks for one.
    pub fn forward(
        &self,
        ctx: &Ctx,
        ids: &[u32],
        batch: usize,
        seq: usize,
        keep: Keep,
    ) -> Result<(Tensor, Option<Tape>)> {
        self.forward_at(ctx, ids, self.geom(batch, seq, 0), keep, None)
    }

    /// Incremental forward: ids (B·T) at positions cache.len.., appending to the KV cache.
    pub fn forward_cached(
        &self,
        ctx: &Ctx,
        ids: &[u32],
        batch: usize,
        seq: usize,
        cache: &mut KvCache,
    ) -> Result<Tensor> {
        let g = self.geom(batch, seq, cache.len);
        Ok(self.forward_at(ctx, ids, g, Keep::None, Some(cache))?.0)
    }

    fn forward_at(
        &self,
        ctx: &Ctx,
        ids: &[u32],
        g: Geom,
        keep: Keep,
        cache: Option<&mut KvCache>,
    ) -> Result<(Tensor, Option<Tape>)> {
        if g.pos + g.seq > self.config().max_positions {
            return Err(crate::error::Error::Unsupported(format!(
                "{} positions requested; the model supports {}",
                g.pos + g.seq,
                self.config().max_positions
            )));
        }
        match self {
            Model::Llama(m) => {
                stack::forward(m, ctx, ids, g, keep, cache).map(|(l, t)| (l, t.map(Tape::Llama)))
            }
            Model::Codegen(m) => {
                stack::forward(m, ctx, ids, g, keep, cache).map(|(l, t)| (l, t.map(Tape::Codegen)))
            }
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
            (Model::Llama(m), Tape::Llama(t)) => stack::backward(m, ctx, t, dlogits, grads),
            (Model::Codegen(m), Tape::Codegen(t)) => stack::backward(m, ctx, t, dlogits, grads),
            _ => Err(crate::error::Error::Unsupported(
                "tape from another model".into(),
            )),
        }
    }

    /// Writes config.json + model.safetensors (one file) in `dtype`.
    pub fn save(&self, dir: &Path, dtype: SaveDtype) -> Result<()> {
        if self.quantized_linears() > 0 {
            return Err(crate::error::Error::Unsupported(format!(
                "{} linear layers are quantized ({}); saving needs unquantized weights: load the model with --base-dtype bf16",
                self.quantized_linears(),
                self.base_weights_summary()
            )));
        }
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
        let mut tensors = BTreeMap::new();
        for (k, t) in self.named_weights() {
            tensors.insert(k, t.clone());
        }
        // Linears held in bf16 are not among the f32 weights; they widen exactly.
        for l in self.linears() {
            if l.weight.as_f32().is_none() {
                tensors.insert(format!("{}.weight", l.name), l.weight.dequantize()?);
            }
        }
        let meta = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
        let bytes = safetensors_io::to_bytes(&tensors, dtype, Some(meta))?;
        crate::util::fsx::write_atomic(&dir.join("model.safetensors"), &bytes)?;
        let cfg = serde_json::to_string_pretty(&self.config().to_hf_json())
            .map_err(|e| crate::error::Error::Unsupported(e.to_string()))?;
        crate::util::fsx::write_atomic(&ModelConfig::config_path(dir), cfg.as_bytes())
    }
}
