//! The training loop: batches, AdamW with a linear schedule, validation, checkpoints, metrics.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use crate::backend::dropout::mix64;
use crate::backend::{update_on_host, with_host, Backend};
use crate::error::{Error, Result};
use crate::model::loss::{loss, loss_and_grads_with};
use crate::model::tokenizer::Tokenizer;
use crate::model::{Ctx, Model};
use crate::peft::{io as peft_io, AdapterSet, Ia3Config, LoraConfig, PeftConfig, Targets};
use crate::train::checkpoint::{self, RunState};
use crate::train::config::{lr_at, Method, TrainConfig};
use crate::train::data::{collate, epoch_order, read_texts, split, tokenize};
use crate::train::memory;
use crate::train::optim::AdamW;

pub struct TrainSummary {
    pub steps: usize,
    pub first_loss: f64,
    pub last_loss: f64,
    pub val_loss: Option<f64>,
    pub adapter_dir: std::path::PathBuf,
    /// How the base linears were stored, e.g. "nf4 ×14, f32 ×1".
    pub base_weights: String,
}

pub struct Hooks {
    /// Stop as if interrupted after this many optimizer steps (resume tests).
    pub stop_after: Option<usize>,
    pub progress: bool,
}

fn peft_config(cfg: &TrainConfig, model: &Model) -> PeftConfig {
    let arch = model.config().arch;
    let list = |v: &[String]| Targets::List(v.to_vec());
    let base = Some(cfg.model.display().to_string());
    match cfg.method {
        Method::Lora => {
            let mut c = LoraConfig::study_default(arch);
            (c.r, c.lora_alpha, c.lora_dropout, c.base_model_name_or_path) =
                (cfg.lora_r, cfg.lora_alpha, cfg.lora_dropout, base);
            if !cfg.target_modules.is_empty() {
                c.target_modules = list(&cfg.target_modules);
            }
            PeftConfig::Lora(c)
        }
        Method::Ia3 => {
            let mut c = Ia3Config::study_default(arch);
            c.base_model_name_or_path = base;
            if !cfg.target_modules.is_empty() {
                c.target_modules = list(&cfg.target_modules);
            }
            if !cfg.feedforward_modules.is_empty() {
                c.feedforward_modules = list(&cfg.feedforward_modules);
            }
            PeftConfig::Ia3(c)
        }
    }
}

fn model_id(model: &Model) -> String {
    format!("{:?}/{}", model.config(), model.num_params())
}

/// Token-weighted mean loss over `seqs` in batches (no gradients).
fn eval_loss(
    model: &Model,
    be: &dyn Backend,
    adapter: &AdapterSet,
    seqs: &[&[u32]],
    batch: usize,
    pad: u32,
) -> Result<f64> {
    let ctx = Ctx::eval(be, Some(adapter));
    let (mut sum, mut n) = (0.0f64, 0usize);
    for chunk in seqs.chunks(batch.max(1)) {
        let b = collate(chunk, pad);
        let out = loss(model, &ctx, &b.ids, &b.labels, b.batch, b.seq)?;
        if out.n_tokens > 0 {
            sum += out.loss * out.n_tokens as f64;
            n += out.n_tokens;
        }
    }
    Ok(if n == 0 { f64::NAN } else { sum / n as f64 })
}

fn all_finite(be: &dyn Backend, set: &AdapterSet) -> Result<bool> {
    for (_, t) in set.named_tensors() {
        if !with_host(be, t, |v| v.iter().all(|x| x.is_finite()))? {
            return Ok(false);
        }
    }
    Ok(true)
}

pub fn train(
    cfg: &TrainConfig,
    be: &dyn Backend,
    resume: Option<&Path>,
    hooks: &Hooks,
) -> Result<TrainSummary> {
    if cfg.batch_size == 0 || cfg.grad_accum == 0 {
        return Err(Error::Unsupported(
            "--batch-size and --grad-accum must be at least 1".into(),
        ));
    }
    let model = Model::load_quantized(&cfg.model, be, cfg.quant_request())?;
    let tok = Tokenizer::load(&cfg.model)?;
    let max_tokens = cfg.max_tokens.min(model.config().max_positions);
    let texts = read_texts(&cfg.train_file)?;
    let seqs = tokenize(&tok, &texts, &cfg.template, max_tokens)?;
    let (train_idx, val_seqs): (Vec<usize>, Vec<Vec<u32>>) = match &cfg.validation_file {
        Some(v) => (
            (0..seqs.len()).collect(),
            tokenize(&tok, &read_texts(v)?, &cfg.template, max_tokens)?,
        ),
        None => {
            let (t, v) = split(seqs.len(), cfg.validation_split, cfg.seed);
            (t, v.iter().map(|&i| seqs[i].clone()).collect())
        }
    };
    let pad = tok.eos_id.unwrap_or(0);
    let per_step = cfg.batch_size * cfg.grad_accum;
    let steps_per_epoch = train_idx.len().div_ceil(per_step);
    let total = cfg.max_steps.unwrap_or(steps_per_epoch * cfg.epochs);

    let linears = model.linear_infos();
    let (adapter, opt, mut state) = match resume {
        Some(path) => {
            let ck = checkpoint::load(&checkpoint::resolve(path)?, &linears)?;
            if ck.state.config != cfg.fingerprint() || ck.state.model != model_id(&model) {
                return Err(Error::file(
                    path,
                    "was written by a run with another model, method or settings",
                    "resume with exactly the settings of the interrupted run, or start a new run",
                ));
            }
            (ck.adapter, AdamW { m: ck.m, v: ck.v }, ck.state)
        }
        None => {
            // A new run never mixes with an earlier one in the same folder.
            if cfg.out.join("metrics.jsonl").exists() {
                return Err(Error::file(
                    &cfg.out,
                    "already holds a training run",
                    "pass --resume to continue it, or choose another --out folder",
                ));
            }
            let a = AdapterSet::init(peft_config(cfg, &model), &linears, cfg.seed)?;
            let opt = AdamW::new(&a);
            let st = RunState {
                step: 0,
                epoch: 0,
                batch_in_epoch: 0,
                total_steps: total,
                config: cfg.fingerprint(),
                model: model_id(&model),
            };
            (a, opt, st)
        }
    };
    std::fs::create_dir_all(&cfg.out).map_err(|e| Error::io(&cfg.out, e))?;
    // Adapter and optimizer state live on the backend for the whole run; host copies are made
    // only to save.
    let mut adapter = adapter.to_backend(be)?;
    let mut opt = AdamW {
        m: opt.m.to_backend(be)?,
        v: opt.v.to_backend(be)?,
    };

    let longest = train_idx.iter().map(|&i| seqs[i].len()).max().unwrap_or(1);
    let largest_linear = model
        .linears()
        .iter()
        .map(|l| l.weight.decoded_copy_values())
        .max();
    let mut plan = memory::plan(
        model.config(),
        model.weight_bytes(),
        largest_linear.unwrap_or(0) as u64,
        adapter.num_params() as u64,
        cfg.batch_size,
        longest,
        4,
        cfg.gradient_checkpointing,
    );
    if be.computes_in_bf16() {
        // An f32-held weight's rounded copy, or a quantized one's decoded copy (scratch decode).
        let whole = be.copies_quantized_weights();
        let largest_f32_held = model
            .linears()
            .iter()
            .map(|l| match whole {
                true => l
                    .weight
                    .rounded_copy_values()
                    .max(l.weight.quantized_values()),
                false => l.weight.rounded_copy_values(),
            })
            .max()
            .unwrap_or(0);
        let tokens = (cfg.batch_size * longest) as u64;
        plan.bf16_copies = memory::bf16_copies(
            model.config(),
            tokens,
            largest_f32_held as u64,
            be.sums_attention_dq_in_f32(),
        );
    }
    eprintln!(
        "sectune train: {} on {} | {} {} params | {} train / {} validation records | {} steps | backend {}",
        model.config().arch.as_str(),
        cfg.model.display(),
        adapter.config.method(),
        adapter.num_params(),
        train_idx.len(),
        val_seqs.len(),
        total,
        be.name()
    );
    let stored = model.base_weights_summary();
    eprintln!(
        "base weights: {} requested; linears stored as {stored}",
        cfg.base_dtype.as_str()
    );
    if cfg.base_dtype == crate::quant::BaseDtype::Bf16 && !stored.contains("bf16") {
        let compute = if be.computes_in_bf16() {
            "they stay f32 in memory (rounded to bf16 per call for the tensor cores)"
        } else {
            "they stay f32 and nothing is rounded"
        };
        eprintln!(
            "  (the checkpoint's linears are not bf16 values, so {compute}; --base-dtype int8 or \
             nf4 shrinks them)"
        );
    }
    eprintln!(
        "memory plan (batch {} × {} tokens{}): weights {} + adapter/optimizer {} + activations {} + logits {}{} = {}",
        cfg.batch_size,
        longest,
        if cfg.gradient_checkpointing { ", checkpointing" } else { "" },
        memory::human(plan.weights),
        memory::human(plan.adapter_and_optimizer),
        memory::human(plan.activations),
        memory::human(plan.logits),
        if plan.bf16_copies > 0 {
            format!(" + bf16 copies {}", memory::human(plan.bf16_copies))
        } else {
            String::new()
        },
        memory::human(plan.total())
    );
    // The base weights are already loaded: what must still fit is the rest of the plan.
    let still_needed = plan.total().saturating_sub(model.weight_bytes());
    memory::check_fits(
        still_needed,
        be.available_memory(),
        &be.name(),
        matches!(
            cfg.base_dtype,
            crate::quant::BaseDtype::Bf16 | crate::quant::BaseDtype::F32
        ),
    )?;

    let metrics_path = cfg.out.join("metrics.jsonl");
    let mut metrics = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&metrics_path)
        .map_err(|e| Error::io(&metrics_path, e))?;
    let bar = if hooks.progress {
        indicatif::ProgressBar::new(total as u64)
    } else {
        indicatif::ProgressBar::hidden()
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(state.step as u64);
    let adam = cfg.adamw();
    let (mut first_loss, mut last_loss, mut val_loss) = (f64::NAN, f64::NAN, None);
    let ckpt_dir = cfg.out.join("checkpoints");

    'outer: while state.step < total {
        let order = epoch_order(train_idx.len(), cfg.seed, state.epoch, cfg.shuffle);
        let batches: Vec<&[usize]> = order.chunks(per_step).collect();
        while state.batch_in_epoch < batches.len() && state.step < total {
            let started = Instant::now();
            let mut grads = adapter.zeros_like().to_backend(be)?;
            let (mut loss_sum, mut tokens) = (0.0f64, 0usize);
            let micro: Vec<&[usize]> = batches[state.batch_in_epoch]
                .chunks(cfg.batch_size)
                .collect();
            for (mi, ids) in micro.iter().enumerate() {
                let rows: Vec<&[u32]> =
                    ids.iter().map(|&k| seqs[train_idx[k]].as_slice()).collect();
                let b = collate(&rows, pad);
                let seed = mix64(cfg.seed ^ mix64((state.step * 64 + mi) as u64 + 1));
                let ctx = Ctx {
                    be,
                    adapters: Some(&adapter),
                    dropout_seed: Some(seed),
                };
                let out = loss_and_grads_with(
                    &model,
                    &ctx,
                    &b.ids,
                    &b.labels,
                    b.batch,
                    b.seq,
                    &mut grads,
                    cfg.gradient_checkpointing,
                )?;
                loss_sum += out.loss;
                tokens += b.tokens;
            }
            let step_loss = loss_sum / micro.len() as f64;
            let finite = step_loss.is_finite() && all_finite(be, &grads)?;
            if !finite && !cfg.skip_nonfinite {
                return Err(Error::Unsupported(format!(
                    "step {}: the loss ({step_loss}) or a gradient is not finite; lower --lr, or pass --skip-nonfinite to skip such steps",
                    state.step + 1
                )));
            }
            let lr = lr_at(cfg.lr, state.step, cfg.warmup_steps, total);
            if finite {
                if micro.len() > 1 {
                    // Mean over micro-batches (adapter-sized: a host round trip on a GPU is cheap).
                    for (_, g) in grads.named_tensors_mut() {
                        update_on_host(be, g, |v| {
                            v.iter_mut().for_each(|x| *x /= micro.len() as f32)
                        })?;
                    }
                }
                opt.step(be, &mut adapter, &grads, &adam, lr, state.step as u64 + 1)?;
            }
            state.step += 1;
            state.batch_in_epoch += 1;
            if first_loss.is_nan() {
                first_loss = step_loss;
            }
            last_loss = step_loss;
            let tps = tokens as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let mut rec = serde_json::json!({"step": state.step, "epoch": state.epoch, "loss": step_loss, "lr": lr,
                "tokens_per_s": tps, "resident_bytes": crate::util::host_memory::resident(),
                "device_peak_bytes": be.peak_memory(), "skipped": !finite});
            if cfg.eval_every > 0 && state.step % cfg.eval_every == 0 && !val_seqs.is_empty() {
                let refs: Vec<&[u32]> = val_seqs.iter().map(|s| s.as_slice()).collect();
                let vl = eval_loss(&model, be, &adapter, &refs, cfg.batch_size, pad)?;
                rec["val_loss"] = vl.into();
                val_loss = Some(vl);
            }
            writeln!(metrics, "{rec}").map_err(|e| Error::io(&metrics_path, e))?;
            bar.set_message(format!("loss {step_loss:.4}  {tps:.0} tok/s"));
            bar.set_position(state.step as u64);
            if cfg.save_every > 0 && state.step % cfg.save_every == 0 {
                checkpoint::save(
                    &ckpt_dir,
                    &adapter.to_host(be)?,
                    &opt.m.to_host(be)?,
                    &opt.v.to_host(be)?,
                    &state,
                )?;
            }
            if hooks.stop_after.is_some_and(|n| state.step >= n) {
                bar.abandon_with_message("stopped (as if interrupted)");
                break 'outer;
            }
        }
        if state.batch_in_epoch >= batches.len() {
            state.epoch += 1;
            state.batch_in_epoch = 0;
            if !val_seqs.is_empty() {
                let refs: Vec<&[u32]> = val_seqs.iter().map(|s| s.as_slice()).collect();
                let vl = eval_loss(&model, be, &adapter, &refs, cfg.batch_size, pad)?;
                writeln!(metrics, "{}", serde_json::json!({"step": state.step, "epoch_end": state.epoch, "val_loss": vl})).map_err(|e| Error::io(&metrics_path, e))?;
                val_loss = Some(vl);
            }
        }
    }
    bar.finish_and_clear();
    let adapter_dir = cfg.out.join("adapter");
    if state.step >= total {
        peft_io::save(&adapter.to_host(be)?, &adapter_dir)?;
    }
    Ok(TrainSummary {
        steps: state.step,
        first_loss,
        last_loss,
        val_loss,
        adapter_dir,
        base_weights: model.base_weights_summary(),
    })
}
