//! Shared test helpers: tolerance checks that report their margin even on a pass, and the skip
//! rule of the compile-level kernel checks.
#![allow(dead_code)]

use std::path::PathBuf;

/// Asserts |got − want| ≤ atol + rtol·|want| elementwise; prints max abs/rel error, the worst
/// index and the share of the allowed error used.
pub fn assert_close(name: &str, got: &[f32], want: &[f32], atol: f32, rtol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{name}: length {} vs {}",
        got.len(),
        want.len()
    );
    let (mut max_abs, mut max_rel, mut worst, mut worst_frac) = (0f32, 0f32, 0usize, 0f32);
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{name}[{i}] is {g}");
        let err = (g - w).abs();
        let allowed = atol + rtol * w.abs();
        max_abs = max_abs.max(err);
        max_rel = max_rel.max(err / w.abs().max(1e-30));
        if err / allowed > worst_frac {
            worst_frac = err / allowed;
            worst = i;
        }
    }
    println!(
        "{name}: n={} max_abs={max_abs:.3e} max_rel={max_rel:.3e} worst[{worst}] got={} want={} ({:.1}% of allowed)",
        got.len(),
        got.get(worst).copied().unwrap_or(0.0),
        want.get(worst).copied().unwrap_or(0.0),
        100.0 * worst_frac
    );
    assert!(
        worst_frac <= 1.0,
        "{name}: error exceeds atol {atol} + rtol {rtol}·|ref| at index {worst}"
    );
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Adapters that change the model (PEFT's init leaves LoRA B at zero and IA3 at one).
pub fn perturbed(
    config: sectune::peft::PeftConfig,
    model: &sectune::model::Model,
) -> sectune::peft::AdapterSet {
    let mut a = sectune::peft::AdapterSet::init(config, &model.linear_infos(), 7).unwrap();
    for (k, m) in a.modules.values_mut().enumerate() {
        let t = match m {
            sectune::peft::ModuleAdapter::Lora { b, .. } => b,
            sectune::peft::ModuleAdapter::Ia3 { l, .. } => l,
        };
        for (i, v) in t.host_mut().unwrap().iter_mut().enumerate() {
            *v += 0.05 * (((i * 31 + k * 17) % 23) as f32 / 11.0 - 1.0);
        }
    }
    a
}

/// ‖got − want‖₂ / ‖want‖₂.
pub fn rel_l2(got: &[f32], want: &[f32]) -> f64 {
    assert_eq!(got.len(), want.len());
    let (mut err, mut norm) = (0f64, 0f64);
    for (g, w) in got.iter().zip(want) {
        err += (*g as f64 - *w as f64).powi(2);
        norm += (*w as f64).powi(2);
    }
    (err / norm.max(1e-300)).sqrt()
}

/// bf16 checkpoints of random Llama (head dim 64, GQA 4/2) and CodeGen (head dim 128) models at
/// the `small` preset's depth: the mixed-precision tests' models (attention on the tensor-core
/// head dims, every linear held in bf16).
pub fn bf16_real_head_dim_models(dir: &std::path::Path) -> Vec<(sectune::model::Arch, PathBuf)> {
    use sectune::backend::RopeStyle;
    use sectune::model::init::{preset_config, write_random_model_as, Preset};
    use sectune::model::safetensors_io::SaveDtype;
    use sectune::model::Arch;
    [(Arch::Llama, 256, 4, 2), (Arch::Codegen, 512, 4, 4)]
        .into_iter()
        .map(|(arch, hidden, heads, kv)| {
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
            (arch, out)
        })
        .collect()
}

/// The mixed-precision tests' adapters: LoRA with dropout 0.1 and IA3, perturbed from PEFT's init.
pub fn mixed_test_adapters(
    arch: sectune::model::Arch,
    model: &sectune::model::Model,
) -> Vec<(&'static str, sectune::peft::AdapterSet)> {
    use sectune::peft::{Ia3Config, LoraConfig, PeftConfig};
    let mut lora = LoraConfig::study_default(arch);
    lora.lora_dropout = 0.1;
    vec![
        ("lora", perturbed(PeftConfig::Lora(lora), model)),
        (
            "ia3",
            perturbed(PeftConfig::Ia3(Ia3Config::study_default(arch)), model),
        ),
    ]
}

/// The batch the mixed-precision tests score: 2 × 37 tokens, every position labelled.
pub fn mixed_test_batch() -> (Vec<u32>, Vec<i64>, usize, usize) {
    let (batch, seq) = (2usize, 37usize);
    let ids: Vec<u32> = (0..(batch * seq) as u32)
        .map(|i| (i * 53 + 7) % 250)
        .collect();
    let labels = ids.iter().map(|&i| i as i64).collect();
    (ids, labels, batch, seq)
}

/// Loss, logits and adapter gradients of one batch (host values).
pub struct Scored {
    pub loss: f64,
    pub logits: Vec<f32>,
    pub grads: Vec<(String, Vec<f32>)>,
}

/// The mixed-precision tests' batch scored on `be` with `adapter`, dropout seed 99.
pub fn scored(
    model: &sectune::model::Model,
    be: &dyn sectune::backend::Backend,
    adapter: &sectune::peft::AdapterSet,
) -> Scored {
    let (ids, labels, batch, seq) = mixed_test_batch();
    let mut on_device = adapter.clone();
    on_device.map_tensors(|t| be.upload(t.clone())).unwrap();
    let ctx = sectune::model::Ctx {
        be,
        adapters: Some(&on_device),
        dropout_seed: Some(99),
    };
    let mut grads = adapter.zeros_like();
    grads.map_tensors(|t| be.upload(t.clone())).unwrap();
    let out =
        sectune::model::loss::loss_and_grads(model, &ctx, &ids, &labels, batch, seq, &mut grads)
            .unwrap();
    let host = |t: &sectune::tensor::Tensor| be.download(t).unwrap().host().unwrap().to_vec();
    let grads = grads
        .named_tensors()
        .into_iter()
        .map(|(k, g)| (k, host(g)))
        .collect();
    Scored {
        loss: out.loss,
        logits: host(&out.logits),
        grads,
    }
}

/// Mixed-precision bounds against the f32 reference (tests/bf16_mixed.rs sizes them): loss
/// relative, logits and each adapter gradient ‖Δ‖₂/‖ref‖₂.
#[derive(Clone, Copy, Debug)]
pub struct MixedBounds {
    pub loss_rel: f64,
    pub logits_l2: f64,
    pub grad_l2: f64,
}

impl MixedBounds {
    /// Whether errors (loss, logits, worst gradient) leave the margin the GPU's other fp32
    /// summation orders need: 10× for the loss, 2× for logits and gradients.
    pub fn have_room_over(&self, (loss, logits, grad): (f64, f64, f64)) -> bool {
        10.0 * loss <= self.loss_rel && 2.0 * logits <= self.logits_l2 && 2.0 * grad <= self.grad_l2
    }
}

/// A bf16 checkpoint (weights exact in bf16; inputs and outputs rounded). The CPU model's
/// worst: loss 1.3e-4, logits 9.2e-3, gradients 2.3e-2.
pub const MIXED: MixedBounds = MixedBounds {
    loss_rel: 2e-3,
    logits_l2: 2e-2,
    grad_l2: 5e-2,
};

/// An int8 or NF4 base, whose decoded weights are rounded to bf16 as well. The CPU model's worst
/// (2026-11-26): loss 2.8e-4 (Llama int8 IA3), logits 1.2e-2, gradients 2.9e-2.
pub const MIXED_QUANTIZED: MixedBounds = MixedBounds {
    loss_rel: 3e-3,
    logits_l2: 3e-2,
    grad_l2: 6e-2,
};

/// Asserts `got` is within `bounds` of `want`; returns (loss rel, logits L2, worst gradient L2)
/// for the caller to print.
pub fn assert_mixed_close(
    tag: &str,
    got: &Scored,
    want: &Scored,
    bounds: MixedBounds,
) -> (f64, f64, f64) {
    let loss = (got.loss - want.loss).abs() / want.loss.abs();
    let logits = rel_l2(&got.logits, &want.logits);
    let mut worst = 0f64;
    for ((k, g), (_, w)) in got.grads.iter().zip(&want.grads) {
        let e = rel_l2(g, w);
        assert!(
            e <= bounds.grad_l2,
            "{tag}: gradient {k} rel L2 {e:e} > {}",
            bounds.grad_l2
        );
        worst = worst.max(e);
    }
    eprintln!(
        "{tag}: loss rel {loss:.2e}, logits rel L2 {logits:.2e}, worst gradient rel L2 {worst:.2e}"
    );
    assert!(
        loss <= bounds.loss_rel,
        "{tag}: loss rel {loss:e} > {}",
        bounds.loss_rel
    );
    assert!(
        logits <= bounds.logits_l2,
        "{tag}: logits rel L2 {logits:e} > {}",
        bounds.logits_l2
    );
    (loss, logits, worst)
}

/// False (after printing why) when there are no kernels and none are required.
pub fn kernels_present() -> bool {
    if sectune::backend::cuda::kernels::KERNELS_BUILT {
        return true;
    }
    let required = std::env::var("SECTUNE_REQUIRE_KERNELS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "SECTUNE_REQUIRE_KERNELS=1 but this build has no CUDA kernels: run scripts/install-cuda-toolchain.sh \
         and rebuild (build.rs found no nvcc)"
    );
    eprintln!("skipped: this build has no CUDA kernels (no nvcc at build time); set SECTUNE_REQUIRE_KERNELS=1 to fail instead");
    false
}
