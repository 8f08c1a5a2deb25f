//! `--precision bf16` (src/backend/cuda/ops/mixed.rs) against the f32 CPU reference, on bf16
//! checkpoints at the head dims of real models (Llama 64 with GQA, CodeGen 128): the linears
//! with no adapter or LoRA (lm_head included) and attention run on the bf16 tensor-core kernels,
//! everything else in f32.
//! Tolerances: each mixed linear or attention rounds its inputs and its output to bf16 (unit
//! roundoff 2^-9). A CPU emulation of exactly these roundings (f32 reference ops on rounded
//! inputs, outputs rounded; 2026-11-26, not committed) gave at most: loss 5.6e-5 relative, logits
//! ‖Δ‖₂/‖ref‖₂ 9.0e-3, adapter gradient 2.0e-2 (Llama layer-3 q_proj lora_A). The bounds leave
//! room for the GPU's other fp32 summation orders: loss 1e-3 relative, logits 2e-2, every
//! adapter gradient (LoRA with dropout, IA3) 5e-2. A wrong argument, tile or cast gives errors
//! of order 1. The mixed path must also be the one taken: its loss differs from the f32 GPU run's.
//! Needs `--features cuda` and a GPU of compute capability 8.0+; skips without one.
#![cfg(feature = "cuda")]

mod common;

use std::path::Path;

use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::CudaBackend;
use sectune::backend::{Backend, RopeStyle};
use sectune::model::init::{preset_config, write_random_model_as, Preset};
use sectune::model::loss::loss_and_grads;
use sectune::model::safetensors_io::SaveDtype;
use sectune::model::{Arch, Ctx, Model};
use sectune::peft::{AdapterSet, Ia3Config, LoraConfig, PeftConfig};

mod gpu_common;
use gpu_common::backend as gpu;

/// ‖got − want‖₂ / ‖want‖₂.
fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut err, mut norm) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        err += (*g as f64 - *w as f64).powi(2);
        norm += (*w as f64).powi(2);
    }
    (err / norm.max(1e-300)).sqrt()
}

fn uploaded(g: &CudaBackend, set: &AdapterSet) -> AdapterSet {
    let mut out = set.clone();
    out.map_tensors(|t| g.upload(t.clone())).unwrap();
    out
}

fn bf16_model(
    dir: &Path,
    arch: Arch,
    hidden: usize,
    heads: usize,
    kv: usize,
) -> std::path::PathBuf {
    let mut cfg = preset_config(arch, Preset::Small);
    cfg.hidden = hidden;
    cfg.n_heads = heads;
    cfg.n_kv_heads = kv;
    cfg.head_dim = hidden / heads;
    if let RopeStyle::Interleaved { theta, .. } = cfg.rope {
        cfg.rope = RopeStyle::Interleaved {
            rotary_dim: cfg.head_dim / 2,
            theta,
        };
    }
    let out = dir.join(format!("{arch:?}-d{}", cfg.head_dim));
    write_random_model_as(&out, &cfg, 5, false, SaveDtype::BF16).unwrap();
    out
}

#[test]
fn bf16_mixed_precision_tracks_the_f32_reference() {
    let Some(plain) = gpu() else { return };
    let mixed = match gpu().unwrap().with_bf16_compute() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("skipped: {e}");
            return;
        }
    };
    assert!(mixed.name().contains("bf16 mixed"), "{}", mixed.name());
    let dir = tempfile::tempdir().unwrap();
    let (batch, seq) = (2usize, 37usize);
    let ids: Vec<u32> = (0..(batch * seq) as u32)
        .map(|i| (i * 53 + 7) % 250)
        .collect();
    let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    for (arch, hidden, heads, kv) in [(Arch::Llama, 256, 4, 2), (Arch::Codegen, 512, 4, 4)] {
        let model_dir = bf16_model(dir.path(), arch, hidden, heads, kv);
        let cpu_model = Model::load(&model_dir, &CpuBackend).unwrap();
        let mixed_model = Model::load(&model_dir, &mixed).unwrap();
        let plain_model = Model::load(&model_dir, &plain).unwrap();
        assert!(
            mixed_model.base_weights_summary().starts_with("bf16"),
            "{arch:?}: the checkpoint's linears should be held in bf16: {}",
            mixed_model.base_weights_summary()
        );
        let mut lora = LoraConfig::study_default(arch);
        lora.lora_dropout = 0.1;
        for config in [
            PeftConfig::Lora(lora),
            PeftConfig::Ia3(Ia3Config::study_default(arch)),
        ] {
            let method = match config {
                PeftConfig::Lora(_) => "lora",
                PeftConfig::Ia3(_) => "ia3",
            };
            let tag = format!("{arch:?} {method}");
            let adapter = common::perturbed(config, &cpu_model);
            let run = |model: &Model, be: &dyn Backend, adapter: &AdapterSet| {
                let ctx = Ctx {
                    be,
                    adapters: Some(adapter),
                    dropout_seed: Some(99),
                };
                let mut grads = adapter.zeros_like();
                if !be.name().starts_with("cpu") {
                    grads.map_tensors(|t| be.upload(t.clone())).unwrap();
                }
                let out =
                    loss_and_grads(model, &ctx, &ids, &labels, batch, seq, &mut grads).unwrap();
                (out, grads)
            };
            let (want, want_grads) = run(&cpu_model, &CpuBackend, &adapter);
            let on_gpu = uploaded(&mixed, &adapter);
            let (got, got_grads) = run(&mixed_model, &mixed, &on_gpu);
            let (f32_run, _) = run(&plain_model, &plain, &on_gpu);

            let loss_rel = (got.loss - want.loss).abs() / want.loss.abs();
            eprintln!(
                "{tag}: loss cpu {} bf16-mixed {} (rel {loss_rel:.2e}), f32 gpu {}",
                want.loss, got.loss, f32_run.loss
            );
            assert!(loss_rel <= 1e-3, "{tag}: loss differs by {loss_rel:e}");
            assert_ne!(
                got.loss.to_bits(),
                f32_run.loss.to_bits(),
                "{tag}: --precision bf16 gave the f32 path's loss bit for bit: the mixed kernels did not run"
            );
            let logits = rel_l2(
                mixed.download(&got.logits).unwrap().host().unwrap(),
                want.logits.host().unwrap(),
            );
            eprintln!("{tag}: logits rel L2 {logits:.2e}");
            assert!(logits <= 2e-2, "{tag}: logits rel L2 {logits:e}");
            for ((k, w), (_, g)) in want_grads
                .named_tensors()
                .into_iter()
                .zip(got_grads.named_tensors())
            {
                let e = rel_l2(
                    mixed.download(g).unwrap().host().unwrap(),
                    w.host().unwrap(),
                );
                assert!(e <= 5e-2, "{tag}: gradient {k} rel L2 {e:e}");
            }
        }
    }
}
