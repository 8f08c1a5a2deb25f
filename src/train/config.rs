//! Training settings: defaults from the study's Table 2, overridable by a TOML file and flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::AdamWConfig;

/// The study's prompt template (its published fine-tuning script).
pub const STUDY_TEMPLATE: &str = "### Instruction:\nPlease complete the code\n\n";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Lora,
    Ia3,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    pub model: PathBuf,
    pub train_file: PathBuf,
    /// Without one, `validation_split` of the training records are held out.
    pub validation_file: Option<PathBuf>,
    pub validation_split: f64,
    pub out: PathBuf,
    /// Text prepended to every record; empty for none.
    pub template: String,
    pub max_tokens: usize,
    pub method: Method,
    pub lora_r: usize,
    pub lora_alpha: f32,
    pub lora_dropout: f32,
    /// Empty: the study's targets for the model family.
    pub target_modules: Vec<String>,
    pub feedforward_modules: Vec<String>,
    pub batch_size: usize,
    pub grad_accum: usize,
    pub epochs: usize,
    /// Stop after this many optimizer steps (the schedule then spans these steps).
    pub max_steps: Option<usize>,
    pub lr: f32,
    pub warmup_steps: usize,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
    pub shuffle: bool,
    pub seed: u64,
    /// Validation loss every N steps (0: only at the end of each epoch).
    pub eval_every: usize,
    /// Checkpoint every N steps (0: only the final adapter).
    pub save_every: usize,
    pub gradient_checkpointing: bool,
    /// Storage of the frozen base linears: bf16 (where lossless, else f32), f32, int8 or nf4.
    pub base_dtype: crate::quant::BaseDtype,
    /// nf4 only: also quantize the per-block absmax values (QLoRA's double quantization).
    pub double_quant: bool,
    /// Skip a step whose loss or gradients are not finite instead of stopping.
    pub skip_nonfinite: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        let adam = AdamWConfig::default();
        TrainConfig {
            model: PathBuf::new(),
            train_file: PathBuf::new(),
            validation_file: None,
            validation_split: 0.1,
            out: PathBuf::from("runs/train"),
            template: STUDY_TEMPLATE.to_string(),
            max_tokens: 1024,
            method: Method::Lora,
            lora_r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.05,
            target_modules: Vec::new(),
            feedforward_modules: Vec::new(),
            batch_size: 5,
            grad_accum: 1,
            epochs: 2,
            max_steps: None,
            lr: adam.lr,
            warmup_steps: 0,
            beta1: adam.beta1,
            beta2: adam.beta2,
            eps: adam.eps,
            weight_decay: adam.weight_decay,
            shuffle: true,
            seed: 42,
            eval_every: 0,
            save_every: 0,
            gradient_checkpointing: false,
            base_dtype: crate::quant::BaseDtype::Bf16,
            double_quant: false,
            skip_nonfinite: false,
        }
    }
}

impl TrainConfig {
    pub fn adamw(&self) -> AdamWConfig {
        AdamWConfig {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
            weight_decay: self.weight_decay,
        }
    }

    pub fn quant_request(&self) -> crate::quant::QuantRequest {
        crate::quant::QuantRequest::new(self.base_dtype, self.double_quant)
    }

    /// Settings that change the numbers of a run; a resumed run must match them.
    pub fn fingerprint(&self) -> String {
        let mut c = self.clone();
        c.out = PathBuf::new();
        c.save_every = 0;
        c.eval_every = 0;
        serde_json::to_string(&c).unwrap_or_default()
    }
}

/// HF `get_linear_schedule_with_warmup`: linear warm-up, then linear decay to 0 at `total`.
/// `step` counts optimizer steps from 0.
pub fn lr_at(base: f32, step: usize, warmup: usize, total: usize) -> f32 {
    if step < warmup {
        return base * step as f32 / warmup.max(1) as f32;
    }
    let left = total.saturating_sub(step) as f32;
    base * (left / (total.saturating_sub(warmup)).max(1) as f32).max(0.0)
}
