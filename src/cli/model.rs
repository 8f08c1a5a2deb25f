//! Model verbs: `init-model`, `score`, `inspect`, `merge`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use crate::backend::cpu::CpuBackend;
use crate::backend::Backend;
use crate::model::init::{preset_config, write_random_model_as, Preset};
use crate::model::loss::loss;
use crate::model::safetensors_io::{SaveDtype, TensorFiles};
use crate::model::tokenizer::Tokenizer;
use crate::model::{Arch, Ctx, Model, ModelConfig};
use crate::peft::{io as peft_io, merge, AdapterSet};

#[derive(Args, Debug)]
pub struct InitModelArgs {
    /// Architecture family.
    #[arg(long, value_enum)]
    pub arch: ArchArg,
    /// Size preset.
    #[arg(long, value_enum, default_value = "tiny")]
    pub preset: Preset,
    /// Seed of the random initialization (same seed, same bytes).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite a model already in the folder.
    #[arg(long)]
    pub force: bool,
    /// Dtype of the written weights (bf16, as 7B checkpoints are, exercises the 16-bit base).
    #[arg(long, value_enum, default_value = "f32")]
    pub dtype: WeightDtypeArg,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum WeightDtypeArg {
    F32,
    Bf16,
    F16,
}

impl From<WeightDtypeArg> for SaveDtype {
    fn from(d: WeightDtypeArg) -> Self {
        match d {
            WeightDtypeArg::F32 => SaveDtype::F32,
            WeightDtypeArg::Bf16 => SaveDtype::BF16,
            WeightDtypeArg::F16 => SaveDtype::F16,
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ArchArg {
    Llama,
    Codegen,
}

impl From<ArchArg> for Arch {
    fn from(a: ArchArg) -> Self {
        match a {
            ArchArg::Llama => Arch::Llama,
            ArchArg::Codegen => Arch::Codegen,
        }
    }
}

pub fn init_model(args: InitModelArgs) -> Result<()> {
    let cfg = preset_config(args.arch.into(), args.preset);
    write_random_model_as(&args.out, &cfg, args.seed, args.force, args.dtype.into())?;
    let params: usize = crate::model::init::tensor_shapes(&cfg)
        .iter()
        .map(|(_, s)| s.iter().product::<usize>())
        .sum();
    println!(
        "wrote a random {} model ({params} parameters, seed {}) to {}",
        cfg.arch.as_str(),
        args.seed,
        args.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct ScoreArgs {
    /// Model folder (config.json, safetensors weights, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// PEFT adapter folder (adapter_config.json + adapter_model.safetensors).
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Text to score.
    #[arg(long)]
    pub text_file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Include the token ids in the JSON output (to replay the text in another tool).
    #[arg(long, requires = "json")]
    pub show_ids: bool,
    /// Store the base linears as bf16 (where lossless, else f32), f32, int8 or nf4 while scoring.
    #[arg(long, value_enum, default_value = "bf16")]
    pub base_dtype: crate::quant::BaseDtype,
    /// With --base-dtype nf4: 8-bit absmax values (double quantization).
    #[arg(long)]
    pub double_quant: bool,
}

/// Loads a model and, optionally, an adapter checked against it.
pub fn load_model_and_adapter(
    be: &dyn Backend,
    model: &Path,
    adapter: Option<&Path>,
) -> Result<(Model, Option<AdapterSet>)> {
    load_quantized_model_and_adapter(be, model, adapter, Default::default())
}

/// `load_model_and_adapter` with the base linears stored as `req` asks.
pub fn load_quantized_model_and_adapter(
    be: &dyn Backend,
    model: &Path,
    adapter: Option<&Path>,
    req: crate::quant::QuantRequest,
) -> Result<(Model, Option<AdapterSet>)> {
    let m = Model::load_quantized(model, be, req)
        .with_context(|| format!("loading the model from {}", model.display()))?;
    let a = match adapter {
        Some(dir) => Some(
            peft_io::load(dir, &m.linear_infos())
                .and_then(|a| a.to_backend(be))
                .with_context(|| format!("loading the adapter from {}", dir.display()))?,
        ),
        None => None,
    };
    Ok((m, a))
}

pub fn score(args: ScoreArgs) -> Result<()> {
    let be = CpuBackend;
    if args.double_quant && args.base_dtype != crate::quant::BaseDtype::Nf4 {
        anyhow::bail!("--double-quant applies to --base-dtype nf4 only");
    }
    let req = crate::quant::QuantRequest::new(args.base_dtype, args.double_quant);
    let (model, adapter) =
        load_quantized_model_and_adapter(&be, &args.model, args.adapter.as_deref(), req)?;
    let tok = Tokenizer::load(&args.model)?;
    let text = std::fs::read_to_string(&args.text_file)
        .with_context(|| format!("reading {}", args.text_file.display()))?;
    let mut ids = tok.encode(&text)?;
    let max = model.config().max_positions;
    let truncated = ids.len() > max;
    ids.truncate(max);
    if ids.len() < 2 {
        anyhow::bail!(
            "{}: the text gives {} token(s); at least 2 are needed to score",
            args.text_file.display(),
            ids.len()
        );
    }
    let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    let ctx = Ctx::eval(&be, adapter.as_ref());
    let out = loss(&model, &ctx, &ids, &labels, 1, ids.len())?;
    if args.json {
        let v = serde_json::json!({
            "loss": out.loss,
            "tokens": out.n_tokens,
            "perplexity": out.loss.exp(),
            "truncated_to": if truncated { Some(max) } else { None },
            "adapter": args.adapter,
            "backend": be.name(),
            "base_weights": model.base_weights_summary(),
        });
        let mut v = v;
        if args.show_ids {
            v["token_ids"] = serde_json::json!(ids);
        }
        println!("{v}");
    } else {
        println!(
            "loss {:.6}  tokens {}  perplexity {:.4}",
            out.loss,
            out.n_tokens,
            out.loss.exp()
        );
        if truncated {
            println!("note: the text was cut to the model's {max} positions");
        }
    }
    Ok(())
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    /// Model folder.
    pub dir: PathBuf,
}

/// Bytes to hold weights at `bytes_per` bytes each, in GiB.
fn gib(params: usize, bytes_per: usize) -> f64 {
    (params * bytes_per) as f64 / (1u64 << 30) as f64
}

pub fn inspect(args: InspectArgs) -> Result<()> {
    let cfg = ModelConfig::load(&ModelConfig::config_path(&args.dir))?;
    let files = TensorFiles::open_model_dir(&args.dir)?;
    let params: usize = files
        .names()
        .filter_map(|n| files.shape(n))
        .map(|s| s.iter().product::<usize>())
        .sum();
    let mut dtypes: Vec<String> = files
        .names()
        .filter_map(|n| files.dtype(n))
        .map(|d| format!("{d:?}"))
        .collect();
    dtypes.sort();
    dtypes.dedup();
    println!("{}", args.dir.display());
    println!(
        "  architecture   {} ({} layers, hidden {}, heads {} / kv {}, head dim {}, mlp {})",
        cfg.arch.as_str(),
        cfg.n_layers,
        cfg.hidden,
        cfg.n_heads,
        cfg.n_kv_heads,
        cfg.head_dim,
        cfg.intermediate
    );
    println!(
        "  vocabulary     {}   positions {}   rope {:?}",
        cfg.vocab_size, cfg.max_positions, cfg.rope
    );
    println!(
        "  parameters     {params} ({:.2} B) stored as {}",
        params as f64 / 1e9,
        dtypes.join(", ")
    );
    // LoRA at the study's settings on the family's default targets.
    let lora = crate::peft::LoraConfig::study_default(cfg.arch);
    let infos: Vec<_> = crate::model::init::tensor_shapes(&cfg)
        .into_iter()
        .filter(|(n, s)| {
            n.ends_with(".weight")
                && s.len() == 2
                && n != "model.embed_tokens.weight"
                && n != "transformer.wte.weight"
        })
        .map(|(n, s)| crate::model::LinearInfo {
            name: n.trim_end_matches(".weight").to_string(),
            out_features: s[0],
            in_features: s[1],
        })
        .collect();
    let lora_params: usize = crate::peft::adapter::select_modules(&lora.target_modules, &infos)?
        .iter()
        .map(|i| lora.r * (i.in_features + i.out_features))
        .sum();
    println!(
        "  memory (weights only)   bf16 {:.2} GiB   f32 {:.2} GiB",
        gib(params, 2),
        gib(params, 4)
    );
    print_quantized_sizes(&cfg, &files);
    println!(
        "  LoRA r={} on {:?}: {lora_params} trainable parameters; adapter + grads + AdamW state {:.3} GiB (f32)",
        lora.r, lora.target_modules, gib(lora_params, 16)
    );
    print_training_plan(&cfg, &files, lora_params as u64);
    Ok(())
}

/// `sectune train`'s memory plan (train::memory::plan) for this config with each base dtype, at
/// issue 9's target setting: batch 1 × 2048 tokens (or the model's positions), with and without
/// gradient checkpointing. Activations, embeddings, norms and lm_head count 4 bytes (f32, also
/// under `--precision bf16`, whose transient bf16 copies are printed below the table); `--base-dtype bf16` holds the block linears in 2 bytes when the
/// checkpoint stores them in bf16 (4 otherwise); quantized linears count their packed size; the
/// GPU decodes tile by tile, so no decoded copy is added (the CPU adds one decode block).
fn print_training_plan(cfg: &ModelConfig, files: &TensorFiles, adapter_params: u64) {
    use crate::quant::{BaseDtype, QuantRequest};
    use crate::train::memory::{human, plan};
    let seq = cfg.max_positions.min(2048);
    let bf16_checkpoint = linears_stored_in_bf16(cfg, files);
    let bf16_bytes = if bf16_checkpoint { 2 } else { 4 };
    let weights = |req: QuantRequest| weight_bytes(cfg, req, 4, bf16_bytes);
    println!(
        "  training memory plan (as `sectune train` prints it), batch 1 × {seq} tokens, the LoRA above:"
    );
    println!(
        "    {:<22} {:>10} {:>12} {:>22} {:>10} {:>22}",
        "--base-dtype",
        "weights",
        "adapter+opt",
        "activations ckpt/full",
        "logits",
        "total ckpt/full"
    );
    let bf16_label = if bf16_checkpoint {
        "bf16 (default)"
    } else {
        "bf16 (f32 checkpoint)"
    };
    for (label, dtype, double_quant) in [
        (bf16_label, BaseDtype::Bf16, false),
        ("f32", BaseDtype::F32, false),
        ("int8", BaseDtype::Int8, false),
        ("nf4", BaseDtype::Nf4, false),
        ("nf4 --double-quant", BaseDtype::Nf4, true),
    ] {
        let w = weights(QuantRequest::new(dtype, double_quant));
        let [ckpt, full] = [true, false].map(|c| plan(cfg, w, 0, adapter_params, 1, seq, 4, c));
        println!(
            "    {:<22} {:>10} {:>12} {:>22} {:>10} {:>22}",
            label,
            human(ckpt.weights),
            human(ckpt.adapter_and_optimizer),
            format!("{} / {}", human(ckpt.activations), human(full.activations)),
            human(ckpt.logits),
            format!("{} / {}", human(ckpt.total()), human(full.total()))
        );
    }
    if !bf16_checkpoint {
        println!(
            "    (the block linears are not stored in bf16, so --base-dtype bf16 keeps them in f32)"
        );
    }
    // lm_head stays f32-held (and the block linears too for an f32 checkpoint's bf16 row).
    let head = (cfg.vocab_size * cfg.hidden) as u64;
    let largest_f32 = if bf16_checkpoint {
        head
    } else {
        head.max((cfg.intermediate * cfg.hidden) as u64)
    };
    // Up to: with the fused attention backward (the default on compute capability 9.0).
    println!(
        "    --precision bf16 (the default on a GPU of compute capability 8.0+) adds up to {} of transient bf16 copies",
        human(crate::train::memory::bf16_copies(cfg, seq as u64, largest_f32, true))
    );
}

/// Whether every block linear of the checkpoint is a bf16 tensor (what `--base-dtype bf16`
/// then holds in 16 bits).
fn linears_stored_in_bf16(cfg: &ModelConfig, files: &TensorFiles) -> bool {
    crate::model::init::tensor_shapes(cfg)
        .iter()
        .filter(|(n, s)| is_block_linear(n, s))
        .all(|(n, _)| files.dtype(n) == Some(safetensors::Dtype::BF16))
}

/// Bytes of every weight of `cfg` with the block linears stored as `req` asks (`bf16_bytes` a
/// value for `--base-dtype bf16`) and everything else at `other_bytes` per value.
fn weight_bytes(
    cfg: &ModelConfig,
    req: crate::quant::QuantRequest,
    other_bytes: u64,
    bf16_bytes: u64,
) -> u64 {
    crate::model::init::tensor_shapes(cfg)
        .iter()
        .map(|(n, s)| match is_block_linear(n, s) {
            true => crate::quant::planned_bytes(s[0], s[1], req, bf16_bytes),
            false => other_bytes * s.iter().product::<usize>() as u64,
        })
        .sum()
}

/// The decoder blocks' 2-D weights: the linears `--base-dtype` quantizes.
fn is_block_linear(name: &str, shape: &[usize]) -> bool {
    shape.len() == 2
        && name.ends_with(".weight")
        && (name.starts_with("model.layers.") || name.starts_with("transformer.h."))
}

/// Weight memory with the block linears quantized (embeddings, norms and lm_head stay bf16),
/// and the layout the checkpoint itself is stored in when bitsandbytes wrote it.
fn print_quantized_sizes(cfg: &ModelConfig, files: &TensorFiles) {
    use crate::quant::{BaseDtype, QuantRequest};
    let bytes = |req: QuantRequest| weight_bytes(cfg, req, 2, 2);
    let q = |dtype, double_quant| QuantRequest::new(dtype, double_quant);
    let gib = |b: u64| b as f64 / (1u64 << 30) as f64;
    println!(
        "  memory, block linears quantized (--base-dtype): int8 {:.2} GiB   nf4 {:.2} GiB   nf4 + --double-quant {:.2} GiB",
        gib(bytes(q(BaseDtype::Int8, false))),
        gib(bytes(q(BaseDtype::Nf4, false))),
        gib(bytes(q(BaseDtype::Nf4, true)))
    );
    let stored: Vec<&str> = files
        .names()
        .filter_map(|n| {
            if n.ends_with(".SCB") {
                Some("int8")
            } else if n.contains(".quant_state.bitsandbytes__") {
                Some("nf4")
            } else {
                None
            }
        })
        .collect();
    if let Some(kind) = stored.first() {
        println!(
            "  stored quantized by bitsandbytes: {} {kind} linears (loaded as stored; the parameter count above counts packed bytes)",
            stored.len()
        );
    }
}

#[derive(Args, Debug)]
pub struct InitAdapterArgs {
    /// Base model folder the adapter is for.
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long, value_enum, default_value = "lora")]
    pub method: MethodArg,
    /// LoRA rank (study: 8).
    #[arg(long, default_value_t = 8)]
    pub r: usize,
    /// LoRA alpha (study: 16); scaling = alpha / r.
    #[arg(long, default_value_t = 16.0)]
    pub alpha: f32,
    /// LoRA dropout on the input of A (study: 0.05).
    #[arg(long, default_value_t = 0.05)]
    pub dropout: f32,
    /// Comma-separated target modules; default: the study's targets for the family.
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// IA3 feed-forward modules (comma-separated); default: the down projection.
    #[arg(long, value_delimiter = ',')]
    pub feedforward: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Add N(0, s²) noise to LoRA B / IA3 vectors so the adapter changes the model (for
    /// interoperability checks; PEFT's own init leaves the model unchanged).
    #[arg(long, default_value_t = 0.0)]
    pub perturb: f32,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum MethodArg {
    Lora,
    Ia3,
}

pub fn init_adapter(args: InitAdapterArgs) -> Result<()> {
    use crate::peft::{Ia3Config, LoraConfig, ModuleAdapter, PeftConfig, Targets};
    let be = CpuBackend;
    let (model, _) = load_model_and_adapter(&be, &args.model, None)?;
    let arch = model.config().arch;
    let list = |v: &[String]| Targets::List(v.to_vec());
    let base_name = Some(args.model.display().to_string());
    let config = match args.method {
        MethodArg::Lora => {
            let mut c = LoraConfig::study_default(arch);
            c.r = args.r;
            c.lora_alpha = args.alpha;
            c.lora_dropout = args.dropout;
            if !args.targets.is_empty() {
                c.target_modules = list(&args.targets);
            }
            c.base_model_name_or_path = base_name;
            PeftConfig::Lora(c)
        }
        MethodArg::Ia3 => {
            let mut c = Ia3Config::study_default(arch);
            if !args.targets.is_empty() {
                c.target_modules = list(&args.targets);
            }
            if !args.feedforward.is_empty() {
                c.feedforward_modules = list(&args.feedforward);
            }
            c.base_model_name_or_path = base_name;
            PeftConfig::Ia3(c)
        }
    };
    crate::util::fsx::ensure_fresh_output(&args.out, peft_io::WEIGHTS_NAME, args.force)?;
    let mut adapter = AdapterSet::init(config, &model.linear_infos(), args.seed)?;
    if args.perturb != 0.0 {
        let mut rng = crate::util::rng::Rng::new(args.seed ^ 0x5eed);
        for m in adapter.modules.values_mut() {
            let t = match m {
                ModuleAdapter::Lora { b, .. } => b,
                ModuleAdapter::Ia3 { l, .. } => l,
            };
            t.host_mut()?
                .iter_mut()
                .for_each(|v| *v += args.perturb * rng.normal());
        }
    }
    peft_io::save(&adapter, &args.out)?;
    println!(
        "wrote a {} adapter ({} modules, {} parameters) to {}",
        adapter.config.method(),
        adapter.modules.len(),
        adapter.num_params(),
        args.out.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    #[arg(long)]
    pub model: PathBuf,
    #[arg(long)]
    pub adapter: PathBuf,
    /// Output folder for the merged checkpoint (config.json, model.safetensors, tokenizer.json).
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

pub fn merge_cmd(args: MergeArgs) -> Result<()> {
    let be = CpuBackend;
    let (mut model, adapter) = load_model_and_adapter(&be, &args.model, Some(&args.adapter))?;
    let adapter = adapter.context("adapter missing")?;
    crate::util::fsx::ensure_fresh_output(&args.out, "model.safetensors", args.force)?;
    merge::merge_into(&mut model, &adapter)?;
    let files = TensorFiles::open_model_dir(&args.model)?;
    let dtype = files
        .names()
        .next()
        .and_then(|n| files.dtype(n))
        .map(SaveDtype::from_safetensors)
        .unwrap_or(SaveDtype::F32);
    model.save(&args.out, dtype)?;
    let tok = args.model.join("tokenizer.json");
    if tok.exists() {
        std::fs::copy(&tok, args.out.join("tokenizer.json"))
            .with_context(|| format!("copying {}", tok.display()))?;
    }
    println!(
        "merged {} into {} → {}",
        args.adapter.display(),
        args.model.display(),
        args.out.display()
    );
    Ok(())
}
