//! Shared test helpers: tolerance checks that report their margin even on a pass.
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
