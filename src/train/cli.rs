//! `sectune train`: flags, an optional TOML config (flags win), resume.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::train::config::{Method, TrainConfig};
use crate::train::run::{train, Hooks};

#[derive(Args, Debug, Default)]
pub struct TrainArgs {
    /// TOML file with any of the settings below (snake_case keys); flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Backend: cpu (f32 reference) or cuda (GPU 0; needs a build with --features cuda).
    #[arg(long, value_enum, default_value_t = crate::backend::select::Device::Cpu)]
    pub device: crate::backend::select::Device,
    /// Compute precision: auto (default: bf16 on a CUDA GPU of compute capability 8.0+, else
    /// f32), f32 (exact, as the CPU reference) or bf16 (CUDA mixed precision on the tensor
    /// cores; see docs/cuda.md).
    #[arg(long, value_enum, default_value_t = crate::backend::select::Precision::Auto)]
    pub precision: crate::backend::select::Precision,
    /// Continue the run whose output (or checkpoint) folder this is.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Base model folder.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// JSONL records with a "text" field.
    #[arg(long)]
    pub train_file: Option<PathBuf>,
    #[arg(long)]
    pub validation_file: Option<PathBuf>,
    /// Held-out fraction when no validation file is given [default: 0.1].
    #[arg(long)]
    pub validation_split: Option<f64>,
    /// Output folder: adapter/, checkpoints/, metrics.jsonl [default: runs/train].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Prompt template before each record [default: the study's "### Instruction: …"].
    #[arg(long)]
    pub template: Option<String>,
    /// Train on the raw text, without the template.
    #[arg(long)]
    pub no_template: bool,
    /// Tokens per record, EOS included [default: 1024].
    #[arg(long)]
    pub max_tokens: Option<usize>,
    #[arg(long, value_enum)]
    pub method: Option<Method>,
    /// [default: 8]
    #[arg(long)]
    pub lora_r: Option<usize>,
    /// [default: 16]
    #[arg(long)]
    pub lora_alpha: Option<f32>,
    /// [default: 0.05]
    #[arg(long)]
    pub lora_dropout: Option<f32>,
    /// Comma-separated module names [default: the study's targets].
    #[arg(long, value_delimiter = ',')]
    pub target_modules: Option<Vec<String>>,
    /// IA3 modules that scale their input [default: the down projection].
    #[arg(long, value_delimiter = ',')]
    pub feedforward_modules: Option<Vec<String>>,
    /// [default: 5]
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Micro-batches per optimizer step [default: 1].
    #[arg(long)]
    pub grad_accum: Option<usize>,
    /// [default: 2]
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// [default: 3e-4]
    #[arg(long)]
    pub lr: Option<f32>,
    /// [default: 0]
    #[arg(long)]
    pub warmup_steps: Option<usize>,
    #[arg(long)]
    pub beta1: Option<f32>,
    #[arg(long)]
    pub beta2: Option<f32>,
    #[arg(long)]
    pub eps: Option<f32>,
    #[arg(long)]
    pub weight_decay: Option<f32>,
    #[arg(long, overrides_with = "no_shuffle")]
    pub shuffle: bool,
    #[arg(long)]
    pub no_shuffle: bool,
    /// [default: 42]
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub eval_every: Option<usize>,
    #[arg(long)]
    pub save_every: Option<usize>,
    #[arg(long)]
    pub gradient_checkpointing: bool,
    /// Frozen base linears: bf16 (16 bits where lossless: bf16 checkpoints; others stay f32),
    /// f32, int8 (per-row absmax) or nf4 (QLoRA 4-bit) [default: bf16]. Checkpoints saved by
    /// bitsandbytes load as stored.
    #[arg(long, value_enum)]
    pub base_dtype: Option<crate::quant::BaseDtype>,
    /// With --base-dtype nf4: store the block absmax values in 8 bits too (double quantization).
    #[arg(long)]
    pub double_quant: bool,
    #[arg(long)]
    pub skip_nonfinite: bool,
    /// Stop after N steps as if the process were killed (for testing --resume).
    #[arg(long, hide = true)]
    pub stop_after_steps: Option<usize>,
}

macro_rules! take {
    ($cfg:ident, $args:ident, $($field:ident),*) => {
        $( if let Some(v) = $args.$field.clone() { $cfg.$field = v; } )*
    };
}

/// Settings from the config file (or defaults), then the flags.
pub fn resolve(args: &TrainArgs) -> Result<TrainConfig> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| {
                format!(
                    "{}: invalid training config (keys are the snake_case flag names)",
                    p.display()
                )
            })?
        }
        None => TrainConfig::default(),
    };
    take!(
        cfg,
        args,
        model,
        train_file,
        validation_split,
        out,
        template,
        max_tokens,
        method,
        lora_r,
        lora_alpha,
        lora_dropout,
        target_modules,
        feedforward_modules,
        batch_size,
        grad_accum,
        epochs,
        lr,
        warmup_steps,
        beta1,
        beta2,
        eps,
        weight_decay,
        seed,
        eval_every,
        save_every,
        base_dtype
    );
    if args.validation_file.is_some() {
        cfg.validation_file = args.validation_file.clone();
    }
    if args.max_steps.is_some() {
        cfg.max_steps = args.max_steps;
    }
    if args.no_template {
        cfg.template.clear();
    }
    if args.no_shuffle {
        cfg.shuffle = false;
    } else if args.shuffle {
        cfg.shuffle = true;
    }
    cfg.gradient_checkpointing |= args.gradient_checkpointing;
    cfg.skip_nonfinite |= args.skip_nonfinite;
    cfg.double_quant |= args.double_quant;
    if cfg.double_quant && cfg.base_dtype != crate::quant::BaseDtype::Nf4 {
        anyhow::bail!(
            "--double-quant applies to --base-dtype nf4 only (got {})",
            cfg.base_dtype.as_str()
        );
    }
    if cfg.model.as_os_str().is_empty() || cfg.train_file.as_os_str().is_empty() {
        anyhow::bail!("--model and --train-file are required (as flags or in --config)");
    }
    Ok(cfg)
}

pub fn run(args: TrainArgs) -> Result<()> {
    let cfg = resolve(&args)?;
    let be = crate::backend::select::open(args.device, args.precision)?;
    let hooks = Hooks {
        stop_after: args.stop_after_steps,
        progress: true,
    };
    let s = train(&cfg, be.as_ref(), args.resume.as_deref(), &hooks)?;
    if s.steps > 0 {
        println!(
            "trained {} steps: loss {:.4} → {:.4}",
            s.steps, s.first_loss, s.last_loss
        );
    }
    println!(
        "base weights: --base-dtype {} (linears stored as {})",
        cfg.base_dtype.as_str(),
        s.base_weights
    );
    if let Some(v) = s.val_loss {
        println!("validation loss {v:.4}");
    }
    if s.adapter_dir.exists() {
        println!("adapter (PEFT format): {}", s.adapter_dir.display());
    }
    println!("metrics: {}", cfg.out.join("metrics.jsonl").display());
    Ok(())
}
