//! `sectune bench layer`: training throughput of decoder layers at real 7B shapes on either
//! backend. A random model of `--layers` blocks with a 320-token vocabulary (so the embedding
//! and head cost next to nothing) runs the training step `sectune train` runs: forward, loss,
//! backward into the adapter. Beside it, bench/torch_layer.py times transformers + PEFT on the
//! same shapes, device and adapter in the same invocation.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::backend::dropout::mix64;
use crate::backend::select::{self, Device, Precision};
use crate::model::init::{init_of, preset_config, write_model_as, Init, Preset};
use crate::model::loss::{loss, loss_and_grads_with};
use crate::model::safetensors_io::SaveDtype;
use crate::model::{Arch, Ctx, Model, ModelConfig};
use crate::peft::{AdapterSet, Ia3Config, LoraConfig, PeftConfig};
use crate::quant::{BaseDtype, QuantRequest};
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LayerShape {
    /// CodeLlama-7B: hidden 4096, 32 heads of 128, MLP 11008.
    Codellama7b,
    /// CodeGen2-7B: hidden 4096, 16 heads of 256, MLP 16384, rotary on 64 dims.
    Codegen27b,
    /// The `small` random-init preset (Llama): seconds on a CPU, for checking the bench itself.
    Small,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Lora,
    Ia3,
}

#[derive(clap::Args, Debug, Clone)]
pub struct LayerBenchArgs {
    #[arg(long, value_enum, default_value = "codellama7b")]
    pub shape: LayerShape,
    /// Backend to time.
    #[arg(long, value_enum, default_value = "cpu")]
    pub device: Device,
    /// Compute precision: auto (default: bf16 on a CUDA GPU of compute capability 8.0+, else
    /// f32), f32 (exact, as the CPU reference) or bf16 (CUDA mixed precision on the tensor
    /// cores; see docs/cuda.md).
    #[arg(long, value_enum, default_value_t = Precision::Auto)]
    pub precision: Precision,
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    #[arg(long, default_value_t = 2048)]
    pub seq: usize,
    /// Adapter, with the study's settings and targets (`LoraConfig` / `Ia3Config::study_default`).
    #[arg(long, value_enum, default_value = "lora")]
    pub method: Method,
    /// Recompute each block in the backward (as `train --gradient-checkpointing`).
    #[arg(long)]
    pub checkpoint: bool,
    /// How the base linears are stored, as `train --base-dtype`.
    #[arg(long, value_enum, default_value = "bf16")]
    pub base_dtype: BaseDtype,
    /// With --base-dtype nf4: 8-bit absmax values.
    #[arg(long)]
    pub double_quant: bool,
    /// Vocabulary size: 320 keeps the embedding and head out of the figure; 32016 (CodeLlama)
    /// or 51200 (CodeGen2) adds the real head, for whole-model memory.
    #[arg(long, default_value_t = crate::model::init::TINY_VOCAB)]
    pub vocab: usize,
    /// Timed steps, after one warm-up.
    #[arg(long, default_value_t = 3)]
    pub reps: u32,
    /// Python for bench/torch_layer.py; "none" skips the torch baseline.
    #[arg(long, default_value = "python3")]
    pub python: String,
    #[arg(long)]
    pub json: bool,
}

/// What one invocation measured.
#[derive(Debug, Serialize)]
pub struct LayerBenchResult {
    pub shape: LayerShape,
    pub backend: String,
    pub layers: usize,
    pub batch: usize,
    pub seq: usize,
    pub method: Method,
    pub checkpoint: bool,
    pub base_dtype: BaseDtype,
    pub double_quant: bool,
    pub vocab: usize,
    /// Base weights as held (quantized linears packed), bytes.
    pub weight_bytes: u64,
    /// Most device memory the backend held during the timed training steps (None on the CPU).
    pub peak_device_bytes: Option<u64>,
    pub adapter_params: usize,
    pub forward_ms: f64,
    pub step_ms: f64,
    pub tokens_per_s: f64,
    /// Model FLOPs of a step (see `step_flops`) per second.
    pub tflops: f64,
    /// transformers + PEFT on the same shapes, or why it was not run.
    pub torch: Option<serde_json::Value>,
    /// torch step time / ours: above 1 means sectune is faster.
    pub speed_vs_torch: Option<f64>,
}

pub fn config(shape: LayerShape, layers: usize) -> ModelConfig {
    use crate::backend::RopeStyle;
    let arch = match shape {
        LayerShape::Codegen27b => Arch::Codegen,
        _ => Arch::Llama,
    };
    let mut cfg = preset_config(arch, Preset::Small);
    let (hidden, heads, inter) = match shape {
        LayerShape::Codellama7b => (4096, 32, 11008),
        LayerShape::Codegen27b => (4096, 16, 16384),
        LayerShape::Small => (cfg.hidden, cfg.n_heads, cfg.intermediate),
    };
    cfg.hidden = hidden;
    cfg.n_heads = heads;
    if shape != LayerShape::Small {
        cfg.n_kv_heads = heads;
    }
    cfg.head_dim = hidden / heads;
    cfg.intermediate = inter;
    cfg.n_layers = layers;
    cfg.max_positions = 16384;
    if shape == LayerShape::Codegen27b {
        cfg.rope = RopeStyle::Interleaved {
            rotary_dim: 64,
            theta: 10000.0,
        };
    }
    cfg
}

/// Model FLOPs of one training step: per token and block, 2 per base-linear weight forward and
/// 2 more for dX (the base is frozen: no dW), causal attention 2·H·T·D forward and 2.5× that
/// backward; checkpointing adds one more forward. Adapter, norms and the tiny head are left out.
pub fn step_flops(cfg: &ModelConfig, batch: usize, seq: usize, checkpoint: bool) -> f64 {
    let (c, i) = (cfg.hidden as f64, cfg.intermediate as f64);
    let kv = (cfg.n_kv_heads * cfg.head_dim) as f64;
    let mlp = match cfg.arch {
        Arch::Llama => 3.0 * c * i,
        Arch::Codegen => 2.0 * c * i,
    };
    let linear = c * (2.0 * c + 2.0 * kv) + mlp;
    let attention = 2.0 * (cfg.n_heads * cfg.head_dim) as f64 * seq as f64;
    let (fwd, bwd) = (2.0 * linear + attention, 2.0 * linear + 2.5 * attention);
    let per_token = fwd + bwd + if checkpoint { fwd } else { 0.0 };
    per_token * (batch * seq * cfg.n_layers) as f64
}

fn peft(method: Method, arch: Arch) -> PeftConfig {
    match method {
        Method::Lora => PeftConfig::Lora(LoraConfig::study_default(arch)),
        Method::Ia3 => PeftConfig::Ia3(Ia3Config::study_default(arch)),
    }
}

pub fn run(args: LayerBenchArgs) -> Result<()> {
    let result = measure(&args)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        print(&result);
    }
    Ok(())
}

pub fn measure(args: &LayerBenchArgs) -> Result<LayerBenchResult> {
    if args.layers == 0 || args.batch == 0 || args.seq < 2 || args.reps == 0 {
        bail!("--layers, --batch and --reps must be at least 1 and --seq at least 2");
    }
    let mut cfg = config(args.shape, args.layers);
    cfg.vocab_size = args.vocab.max(2);
    if args.seq > cfg.max_positions {
        bail!(
            "--seq {} is over the {} positions",
            args.seq,
            cfg.max_positions
        );
    }
    let be = select::open(args.device, args.precision)?;
    let dir = ScratchDir::create()?;
    let req = QuantRequest::new(args.base_dtype, args.double_quant);
    let model = random_model(&dir.0, &cfg, be.as_ref(), req)?;
    drop(dir); // the weights are loaded: free the disk before timing
    let adapter = AdapterSet::init(peft(args.method, cfg.arch), &model.linear_infos(), 7)?
        .to_backend(be.as_ref())?;
    let tokens = args.batch * args.seq;
    let ids: Vec<u32> = (0..tokens)
        .map(|k| (k * 37 % cfg.vocab_size) as u32)
        .collect();
    let labels: Vec<i64> = ids.iter().map(|&t| t as i64).collect();
    let (b, t) = (args.batch, args.seq);
    let ctx = |seed| Ctx {
        be: be.as_ref(),
        adapters: Some(&adapter),
        dropout_seed: seed,
    };
    let forward = || -> Result<f64> { Ok(loss(&model, &ctx(None), &ids, &labels, b, t)?.loss) };
    let step = |k: u64| -> Result<f64> {
        let mut grads = adapter.zeros_like().to_backend(be.as_ref())?;
        let out = loss_and_grads_with(
            &model,
            &ctx(Some(k)),
            &ids,
            &labels,
            b,
            t,
            &mut grads,
            args.checkpoint,
        )?;
        Ok(out.loss)
    };
    // Every timed call returns the loss as a host number, so the device has finished.
    let forward_ms = mean_ms(args.reps, forward)?;
    be.reset_peak_memory();
    let step_ms = mean_ms(args.reps, || step(1))?;
    let peak_device_bytes = be.peak_memory();
    let flops = step_flops(&cfg, b, t, args.checkpoint);
    let torch = torch_baseline(args)?;
    let speed_vs_torch = torch
        .as_ref()
        .and_then(|v| v.get("step_ms"))
        .and_then(|v| v.as_f64())
        .map(|torch_ms| torch_ms / step_ms);
    Ok(LayerBenchResult {
        shape: args.shape,
        backend: be.name(),
        layers: args.layers,
        batch: b,
        seq: t,
        method: args.method,
        checkpoint: args.checkpoint,
        base_dtype: args.base_dtype,
        double_quant: args.double_quant,
        vocab: cfg.vocab_size,
        weight_bytes: model.weight_bytes(),
        peak_device_bytes,
        adapter_params: adapter.num_params(),
        forward_ms,
        step_ms,
        tokens_per_s: tokens as f64 / (step_ms / 1e3),
        tflops: flops / (step_ms / 1e3) / 1e12,
        torch,
        speed_vs_torch,
    })
}

/// A folder for the random model, removed when the bench ends (also on error).
struct ScratchDir(std::path::PathBuf);

impl ScratchDir {
    fn create() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("sectune-layer-bench-{}", std::process::id()));
        std::fs::create_dir_all(&path)
            .with_context(|| format!("creating {} for the random model", path.display()))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn random_model(
    dir: &Path,
    cfg: &ModelConfig,
    be: &dyn crate::backend::Backend,
    req: QuantRequest,
) -> Result<Model> {
    // bf16 on disk, as the 7B checkpoints are: `--base-dtype bf16` then holds 16-bit weights.
    write_model_as(dir, cfg, &bench_weights(cfg)?, SaveDtype::BF16)?;
    Ok(Model::load_quantized(dir, be, req)?)
}

/// The init's tensors and scales (`init_of`) with values from a counter hash instead of the
/// seeded normal stream: uniform with the same standard deviation, every tensor filled in
/// parallel. Timing and memory need only a finite loss, and the normal init (Box–Muller, one
/// stream) took ~8 s per CodeLlama-7B block on 2 cores: minutes for the 32 blocks of
/// `--layers 32`.
fn bench_weights(cfg: &ModelConfig) -> Result<BTreeMap<String, Tensor>> {
    use rayon::prelude::*;
    let shapes = crate::model::init::tensor_shapes(cfg);
    let filled: Vec<(String, Tensor)> = shapes
        .into_iter()
        .enumerate()
        .map(|(t, (name, shape))| {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = match init_of(&name, &shape) {
                Init::Constant(v) => vec![v; n],
                Init::Random { std } => {
                    let half_width = std * 3f32.sqrt();
                    let salt = (t as u64 + 1) << 40;
                    (0..n as u64)
                        .into_par_iter()
                        .map(|i| {
                            let u = (mix64(i ^ salt) >> 40) as f32 / (1u64 << 24) as f32;
                            half_width * (2.0 * u - 1.0)
                        })
                        .collect()
                }
            };
            Ok((name, Tensor::from_vec(data, &shape)?))
        })
        .collect::<Result<_>>()?;
    Ok(filled.into_iter().collect())
}

/// Mean milliseconds of `f` over `reps` calls after one warm-up; `f` must be synchronous.
fn mean_ms(reps: u32, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    let warm = f()?;
    if !warm.is_finite() {
        bail!("the loss of the random model is not finite ({warm})");
    }
    let start = Instant::now();
    for _ in 0..reps {
        f()?;
    }
    Ok(start.elapsed().as_secs_f64() * 1e3 / reps as f64)
}

/// bench/torch_layer.py on the same shapes; None when skipped, the script's JSON otherwise
/// (an {"error": …} object when torch, transformers or peft is missing).
fn torch_baseline(args: &LayerBenchArgs) -> Result<Option<serde_json::Value>> {
    if args.python == "none" {
        return Ok(None);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/torch_layer.py");
    let out = Command::new(&args.python)
        .arg(script)
        .args([
            "--shape",
            &cli_name(args.shape),
            "--device",
            &cli_name(args.device),
        ])
        .args(["--layers", &args.layers.to_string()])
        .args(["--batch", &args.batch.to_string()])
        .args(["--seq", &args.seq.to_string()])
        .args(["--reps", &args.reps.to_string()])
        .args(["--vocab", &args.vocab.to_string()])
        .args(["--method", &cli_name(args.method)])
        // Quantized bases run on bitsandbytes there; bf16 and f32 are the script's plain model.
        .args(
            matches!(args.base_dtype, BaseDtype::Int8 | BaseDtype::Nf4)
                .then(|| ["--base-dtype".to_string(), cli_name(args.base_dtype)])
                .into_iter()
                .flatten(),
        )
        .args(args.checkpoint.then_some("--checkpoint"))
        .args(args.double_quant.then_some("--double-quant"))
        .output();
    let value = match out {
        Err(e) => serde_json::json!({"error": format!("running {} {script}: {e}", args.python)}),
        Ok(o) => serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
            serde_json::json!({"error": format!(
                "unreadable output ({e}); stderr: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )})
        }),
    };
    Ok(Some(value))
}

/// The value's name on the command line (the script's flags take the same names).
fn cli_name(v: impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map_or_else(String::new, |p| p.get_name().to_string())
}

fn print(r: &LayerBenchResult) {
    println!(
        "decoder layers: {} × {:?}, batch {} × {} tokens, {:?}{} ({} trainable), backend {}",
        r.layers,
        r.shape,
        r.batch,
        r.seq,
        r.method,
        if r.checkpoint { ", checkpointing" } else { "" },
        r.adapter_params,
        r.backend
    );
    println!(
        "base linears {}{}, vocabulary {}: weights {} as held; peak device memory in the steps: {}",
        r.base_dtype.as_str(),
        if r.double_quant {
            " (double quant)"
        } else {
            ""
        },
        r.vocab,
        crate::train::memory::human(r.weight_bytes),
        r.peak_device_bytes
            .map_or("n/a on the CPU".into(), crate::train::memory::human)
    );
    let tokens = (r.batch * r.seq) as f64;
    println!(
        "forward + loss      {:>10.2} ms   {:>9.0} tokens/s",
        r.forward_ms,
        tokens / (r.forward_ms / 1e3)
    );
    println!(
        "training step       {:>10.2} ms   {:>9.0} tokens/s   {:.3} TFLOP/s (model FLOPs)",
        r.step_ms, r.tokens_per_s, r.tflops
    );
    match &r.torch {
        None => println!("torch baseline: skipped (--python none)"),
        Some(v) if v.get("error").is_some() => println!("torch baseline: skipped, {}", v["error"]),
        Some(v) => println!(
            "torch {} ({} {}, base {}{}, transformers {}, peft {}): forward {:.2} ms, step {:.2} ms; \
             sectune is {:.2}× torch's speed",
            v["torch"].as_str().unwrap_or("?"),
            v["device"].as_str().unwrap_or("?"),
            v["dtype"].as_str().unwrap_or("?"),
            v["base"].as_str().unwrap_or("?"),
            v["bitsandbytes"]
                .as_str()
                .map_or(String::new(), |b| format!(" via bitsandbytes {b}")),
            v["transformers"].as_str().unwrap_or("?"),
            v["peft"].as_str().unwrap_or("?"),
            v["forward_ms"].as_f64().unwrap_or(f64::NAN),
            v["step_ms"].as_f64().unwrap_or(f64::NAN),
            r.speed_vs_torch.unwrap_or(f64::NAN)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_match_the_published_configs() {
        let c = config(LayerShape::Codellama7b, 32);
        assert_eq!(
            (c.hidden, c.n_heads, c.head_dim, c.intermediate),
            (4096, 32, 128, 11008)
        );
        let g = config(LayerShape::Codegen27b, 32);
        assert_eq!(
            (g.hidden, g.n_heads, g.head_dim, g.intermediate),
            (4096, 16, 256, 16384)
        );
        // Linear weights per CodeLlama-7B block: 4·4096² + 3·4096·11008 = 202.4 M; at T = 1
        // attention is negligible, so a step is ≈ 4 FLOPs per weight per token.
        let per_token = step_flops(&c, 1, 1, false) / 32.0;
        let weights = 4.0 * 4096.0 * 4096.0 + 3.0 * 4096.0 * 11008.0;
        assert!(
            (per_token / (4.0 * weights) - 1.0).abs() < 1e-3,
            "{per_token}"
        );
        let ck = step_flops(&c, 1, 1, true) / 32.0;
        assert!((ck / (6.0 * weights) - 1.0).abs() < 1e-3);
        // The names bench/torch_layer.py's flags accept.
        assert_eq!(cli_name(LayerShape::Codegen27b), "codegen27b");
        assert_eq!(cli_name(LayerShape::Codellama7b), "codellama7b");
        assert_eq!(
            (cli_name(Method::Ia3), cli_name(Device::Cuda)),
            ("ia3".into(), "cuda".into())
        );
        assert_eq!(
            (cli_name(BaseDtype::Int8), cli_name(BaseDtype::Nf4)),
            ("int8".into(), "nf4".into())
        );
    }

    fn small(python: &str, method: Method, checkpoint: bool) -> LayerBenchArgs {
        LayerBenchArgs {
            shape: LayerShape::Small,
            device: Device::Cpu,
            precision: Precision::F32,
            layers: 1,
            batch: 2,
            seq: 8,
            method,
            checkpoint,
            base_dtype: BaseDtype::Bf16,
            double_quant: false,
            vocab: crate::model::init::TINY_VOCAB,
            reps: 1,
            python: python.into(),
            json: true,
        }
    }

    #[test]
    fn measures_a_training_step_and_survives_a_missing_baseline() {
        for (method, checkpoint) in [(Method::Lora, false), (Method::Ia3, true)] {
            let r = measure(&small("none", method, checkpoint)).unwrap();
            assert!(r.step_ms > 0.0 && r.forward_ms > 0.0, "{r:?}");
            assert!(r.tokens_per_s.is_finite() && r.tokens_per_s > 0.0);
            assert!(r.adapter_params > 0);
            assert!(r.torch.is_none() && r.speed_vs_torch.is_none());
        }
        // A quantized base holds fewer bytes and still trains.
        let mut nf4 = small("none", Method::Lora, false);
        nf4.base_dtype = BaseDtype::Nf4;
        let (q, plain) = (
            measure(&nf4).unwrap(),
            measure(&small("none", Method::Lora, false)).unwrap(),
        );
        assert!(q.weight_bytes < plain.weight_bytes, "{q:?}");
        assert!(q.tokens_per_s > 0.0 && q.peak_device_bytes.is_none());
        // The random model is bf16 on disk, so bf16 holds the block linears in half of f32's bytes.
        let mut f32_base = small("none", Method::Lora, false);
        f32_base.base_dtype = BaseDtype::F32;
        let wide = measure(&f32_base).unwrap();
        let linears: u64 = crate::model::init::tensor_shapes(&config(LayerShape::Small, 1))
            .iter()
            .filter(|(name, shape)| name.starts_with("model.layers.") && shape.len() == 2)
            .map(|(_, shape)| (shape[0] * shape[1]) as u64)
            .sum();
        assert_eq!(
            wide.weight_bytes - plain.weight_bytes,
            2 * linears,
            "{wide:?}"
        );
        // A python that cannot start is reported in the result, not raised.
        let r = measure(&small("/nonexistent/python3", Method::Lora, false)).unwrap();
        let err = r.torch.unwrap()["error"].as_str().unwrap().to_string();
        assert!(err.contains("/nonexistent/python3"), "{err}");
        assert!(r.speed_vs_torch.is_none());
    }

    #[test]
    fn bench_weights_keep_the_inits_shapes_constants_and_scale() {
        let cfg = config(LayerShape::Small, 2);
        let w = bench_weights(&cfg).unwrap();
        let shapes = crate::model::init::tensor_shapes(&cfg);
        assert_eq!(w.len(), shapes.len());
        for (name, shape) in shapes {
            let t = &w[&name];
            assert_eq!(t.shape(), &shape[..], "{name}");
            let v = t.host().unwrap();
            match init_of(&name, &shape) {
                Init::Constant(c) => assert!(v.iter().all(|&x| x == c), "{name}"),
                Init::Random { std } => {
                    let n = v.len() as f64;
                    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
                    let sd = (v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
                    assert!(mean.abs() < 0.05 * std as f64, "{name}: mean {mean}");
                    assert!(
                        (sd / std as f64 - 1.0).abs() < 0.05,
                        "{name}: sd {sd} vs {std}"
                    );
                }
            }
        }
    }

    #[test]
    fn impossible_settings_are_refused() {
        let mut a = small("none", Method::Lora, false);
        a.seq = 1 << 20;
        assert!(measure(&a).unwrap_err().to_string().contains("positions"));
        a.seq = 8;
        a.layers = 0;
        assert!(measure(&a).is_err());
    }
}
