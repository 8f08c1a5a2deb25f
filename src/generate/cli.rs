//! `sectune generate`: completions for a prompt file, folder or scenario suite, as JSONL.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;

use crate::cli::model::load_quantized_model_and_adapter;
use crate::generate::prompts;
use crate::generate::sample::{generate_prompt, GenSettings};
use crate::model::tokenizer::Tokenizer;
use crate::model::Ctx;
use crate::train::config::STUDY_TEMPLATE;

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[arg(long)]
    pub model: PathBuf,
    /// PEFT adapter folder (LoRA or IA3); without it the base model generates.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// Backend: cpu (f32 reference) or cuda (GPU 0; needs a build with --features cuda).
    #[arg(long, value_enum, default_value_t = crate::backend::select::Device::Cpu)]
    pub device: crate::backend::select::Device,
    /// Compute precision: auto (default: bf16 on a CUDA GPU of compute capability 8.0+, else
    /// f32), f32 (exact, as the CPU reference) or bf16 (CUDA mixed precision on the tensor
    /// cores; see docs/cuda.md).
    #[arg(long, value_enum, default_value_t = crate::backend::select::Precision::Auto)]
    pub precision: crate::backend::select::Precision,
    /// JSONL with id (or task_id) and prompt, a folder of .c/.cpp files, or a scenario suite.
    #[arg(long)]
    pub prompts: PathBuf,
    /// Store the base linears as bf16 (where lossless, else f32), f32, int8 or nf4
    /// (docs/quantization.md).
    #[arg(long, value_enum, default_value = "bf16")]
    pub base_dtype: crate::quant::BaseDtype,
    /// With --base-dtype nf4: 8-bit absmax values (double quantization).
    #[arg(long)]
    pub double_quant: bool,
    /// Output JSONL: prompt_id, sample, completion, tokens, finish_reason.
    #[arg(long)]
    pub out: PathBuf,
    /// Samples per prompt (study: 30).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub samples: u64,
    /// Study: 0.8. 0 is greedy; a negative value is refused (the GPU sampler would invert the
    /// distribution).
    #[arg(long, default_value_t = 0.8, value_parser = temperature_arg, allow_negative_numbers = true)]
    pub temperature: f32,
    /// Study: 0.9. In (0, 1].
    #[arg(long, default_value_t = 0.9, value_parser = top_p_arg, allow_negative_numbers = true)]
    pub top_p: f32,
    /// Study: 100.
    #[arg(long, default_value_t = 100)]
    pub max_new_tokens: usize,
    /// Stop when the completion contains this text (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Text before each prompt: "none", "study" (the fine-tuning template) or literal text.
    #[arg(long, default_value = "none")]
    pub template: String,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Samples decoded together.
    #[arg(long, default_value_t = 15)]
    pub batch: usize,
    /// Greedy decoding (temperature 0, one sample).
    #[arg(long)]
    pub greedy: bool,
    #[arg(long)]
    pub force: bool,
}

fn temperature_arg(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Ok(t),
        _ => Err(format!(
            "{s:?} is not a temperature: give a finite number ≥ 0 (0 means greedy, the study uses 0.8)"
        )),
    }
}

fn top_p_arg(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(p) if p > 0.0 && p <= 1.0 => Ok(p),
        _ => Err(format!(
            "{s:?} is not a top-p: give a number in (0, 1] (1 keeps every token, the study uses 0.9)"
        )),
    }
}

pub fn settings(args: &GenerateArgs) -> GenSettings {
    let template = match args.template.as_str() {
        "none" => String::new(),
        "study" => STUDY_TEMPLATE.to_string(),
        other => other.to_string(),
    };
    GenSettings {
        samples: if args.greedy {
            1
        } else {
            args.samples as usize
        },
        temperature: if args.greedy { 0.0 } else { args.temperature },
        top_p: args.top_p,
        max_new_tokens: args.max_new_tokens,
        stop: args.stop.clone(),
        template,
        seed: args.seed,
        batch: args.batch,
    }
}

pub fn run(args: GenerateArgs) -> Result<()> {
    if args.out.exists() && !args.force {
        anyhow::bail!(
            "{} exists; choose another --out or pass --force to overwrite it",
            args.out.display()
        );
    }
    let be = crate::backend::select::open(args.device, args.precision)?;
    let be = be.as_ref();
    if args.double_quant && args.base_dtype != crate::quant::BaseDtype::Nf4 {
        anyhow::bail!("--double-quant applies to --base-dtype nf4 only");
    }
    let req = crate::quant::QuantRequest::new(args.base_dtype, args.double_quant);
    let (model, adapter) =
        load_quantized_model_and_adapter(be, &args.model, args.adapter.as_deref(), req)?;
    let tok = Tokenizer::load(&args.model)?;
    let prompts = prompts::load(&args.prompts)?;
    let s = settings(&args);
    let ctx = Ctx::eval(be, adapter.as_ref());
    let bar = indicatif::ProgressBar::new((prompts.len() * s.samples) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} samples  {msg}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let mut lines = String::new();
    for (i, p) in prompts.iter().enumerate() {
        for sample in generate_prompt(&model, &ctx, &tok, p, i, &s)
            .with_context(|| format!("generating for prompt {}", p.id))?
        {
            lines.push_str(&serde_json::to_string(&sample)?);
            lines.push('\n');
            bar.inc(1);
        }
        bar.set_message(format!(
            "{:.1} samples/s",
            bar.position() as f64 / started.elapsed().as_secs_f64().max(1e-9)
        ));
    }
    bar.finish_and_clear();
    crate::util::fsx::write_atomic(&args.out, lines.as_bytes())?;
    println!(
        "{} samples for {} prompts in {:.1}s → {}",
        prompts.len() * s.samples,
        prompts.len(),
        started.elapsed().as_secs_f64(),
        args.out.display()
    );
    Ok(())
}
