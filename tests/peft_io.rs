//! PEFT file format round trips, initialization and merging.

mod common;

use common::{assert_close, fixtures};
use sectune::backend::cpu::CpuBackend;
use sectune::model::{Ctx, Model};
use sectune::peft::{
    io as peft_io, merge, AdapterSet, Ia3Config, LoraConfig, ModuleAdapter, PeftConfig, Targets,
};

fn base(arch: &str) -> Model {
    Model::load(&fixtures().join(format!("{arch}-base")), &CpuBackend).unwrap()
}

fn ids() -> Vec<u32> {
    (0..24u32).map(|i| (i * 37 + 11) % 256).collect()
}

fn logits(model: &Model, adapter: Option<&AdapterSet>) -> Vec<f32> {
    let ctx = Ctx::eval(&CpuBackend, adapter);
    let ids = ids();
    let (l, _) = model
        .forward(&ctx, &ids, 2, 12, sectune::model::Keep::None)
        .unwrap();
    l.into_host().unwrap()
}

#[test]
fn save_then_load_is_identical_for_every_fixture_adapter() {
    for case in ["llama-lora", "llama-ia3", "codegen-lora", "codegen-ia3"] {
        let model = base(case.split('-').next().unwrap());
        let infos = model.linear_infos();
        let original = peft_io::load(&fixtures().join(case).join("adapter"), &infos).unwrap();
        let dir = tempfile::tempdir().unwrap();
        peft_io::save(&original, dir.path()).unwrap();
        let back = peft_io::load(dir.path(), &infos).unwrap();
        assert_eq!(
            original.modules, back.modules,
            "{case}: tensors changed in the round trip"
        );
        assert_eq!(
            original.config.target_modules(),
            back.config.target_modules()
        );
        match (&original.config, &back.config) {
            (PeftConfig::Lora(a), PeftConfig::Lora(b)) => {
                assert_eq!(
                    (a.r, a.lora_alpha, a.lora_dropout),
                    (b.r, b.lora_alpha, b.lora_dropout)
                )
            }
            (PeftConfig::Ia3(a), PeftConfig::Ia3(b)) => {
                assert_eq!(a.feedforward_modules, b.feedforward_modules)
            }
            _ => panic!("{case}: method changed in the round trip"),
        }
    }
}

#[test]
fn fresh_adapters_leave_the_base_model_unchanged() {
    for arch in ["llama", "codegen"] {
        let model = base(arch);
        let want = logits(&model, None);
        let arch_enum = model.config().arch;
        let lora = AdapterSet::init(
            PeftConfig::Lora(LoraConfig::study_default(arch_enum)),
            &model.linear_infos(),
            7,
        )
        .unwrap();
        // PEFT init: B = 0 and A ~ U(±1/√in).
        for (name, m) in &lora.modules {
            let ModuleAdapter::Lora { a, b } = m else {
                panic!()
            };
            let bound = 1.0 / (a.last_dim() as f32).sqrt();
            assert!(
                b.host().unwrap().iter().all(|&v| v == 0.0),
                "{name}: B must start at zero"
            );
            assert!(
                a.host().unwrap().iter().all(|&v| v.abs() <= bound),
                "{name}: A outside the kaiming bound"
            );
            assert!(
                a.host().unwrap().iter().any(|&v| v.abs() > bound / 2.0),
                "{name}: A suspiciously small"
            );
        }
        assert_eq!(
            logits(&model, Some(&lora)),
            want,
            "{arch}: a fresh LoRA must not change the logits"
        );
        let ia3 = AdapterSet::init(
            PeftConfig::Ia3(Ia3Config::study_default(arch_enum)),
            &model.linear_infos(),
            7,
        )
        .unwrap();
        assert_close(
            &format!("{arch} fresh ia3"),
            &logits(&model, Some(&ia3)),
            &want,
            1e-6,
            1e-6,
        );
    }
}

#[test]
fn merged_checkpoint_equals_base_plus_adapter() {
    for case in ["llama-lora", "llama-ia3", "codegen-lora", "codegen-ia3"] {
        let arch = case.split('-').next().unwrap();
        let mut model = base(arch);
        let adapter = peft_io::load(
            &fixtures().join(case).join("adapter"),
            &model.linear_infos(),
        )
        .unwrap();
        let want = logits(&model, Some(&adapter));
        merge::merge_into(&mut model, &adapter).unwrap();
        let dir = tempfile::tempdir().unwrap();
        model
            .save(dir.path(), sectune::model::safetensors_io::SaveDtype::F32)
            .unwrap();
        let reloaded = Model::load(dir.path(), &CpuBackend).unwrap();
        assert_close(
            &format!("{case} merged"),
            &logits(&reloaded, None),
            &want,
            1e-5,
            1e-4,
        );
    }
}

#[test]
fn target_matching_follows_peft() {
    let list = Targets::List(vec!["q_proj".into()]);
    assert!(list.matches("model.layers.0.self_attn.q_proj"));
    assert!(list.matches("q_proj"));
    assert!(!list.matches("model.layers.0.self_attn.qq_proj"));
    let re = Targets::Regex(r".*\.(q|v)_proj".into());
    assert!(re.matches("model.layers.3.self_attn.v_proj"));
    assert!(!re.matches("model.layers.3.self_attn.k_proj"));
}
