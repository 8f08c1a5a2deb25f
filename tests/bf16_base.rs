//! `--base-dtype bf16` (the default) holds a bf16 checkpoint's block linears in 16 bits: half
//! of f32's memory, and exactly the numbers of the same weights held in f32, because widening a
//! bf16 value is exact. Checked on the CPU reference, bit for bit: loss and adapter gradients
//! (LoRA with dropout, IA3), a training run, saving and merging. An f32 checkpoint is never
//! rounded. The GPU side (kernels/quant_dequant.cu's bf16 instances) is in tests/cuda_quant.rs.

mod common;

use std::path::{Path, PathBuf};

use sectune::backend::cpu::CpuBackend;
use sectune::model::init::{preset_config, write_random_model, write_random_model_as, Preset};
use sectune::model::loss::loss_and_grads;
use sectune::model::safetensors_io::{SaveDtype, TensorFiles};
use sectune::model::{Arch, Ctx, Model};
use sectune::peft::{Ia3Config, LoraConfig, PeftConfig};
use sectune::quant::{BaseDtype, QuantRequest};
use sectune::train::config::{Method, TrainConfig};
use sectune::train::run::{train, Hooks};

fn bf16_checkpoint(dir: &Path, arch: Arch) -> PathBuf {
    let out = dir.join(format!("{arch:?}-bf16"));
    write_random_model_as(
        &out,
        &preset_config(arch, Preset::Tiny),
        9,
        false,
        SaveDtype::BF16,
    )
    .unwrap();
    out
}

fn load(dir: &Path, dtype: BaseDtype) -> Model {
    let req = QuantRequest::new(dtype, false);
    Model::load_quantized(dir, &CpuBackend, req).unwrap()
}

/// Block linears: every linear but lm_head.
fn block_linear_values(m: &Model) -> u64 {
    m.linears()
        .iter()
        .filter(|l| l.name != "lm_head")
        .map(|l| l.weight.numel() as u64)
        .sum()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn a_bf16_checkpoint_is_held_in_16_bits_with_the_f32_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let ids: Vec<u32> = (0..2 * 10).map(|i| (i * 41 % 240) as u32 + 5).collect();
    let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    for arch in [Arch::Llama, Arch::Codegen] {
        let dir = bf16_checkpoint(tmp.path(), arch);
        let narrow = load(&dir, BaseDtype::Bf16);
        let wide = load(&dir, BaseDtype::F32);
        let n = narrow.linears().len() - 1;
        assert_eq!(
            narrow.base_weights_summary(),
            format!("bf16 ×{n}, f32 ×1"),
            "{arch:?}: lm_head stays f32, every block linear is bf16"
        );
        assert_eq!(wide.base_weights_summary(), format!("f32 ×{}", n + 1));
        assert_eq!(
            wide.weight_bytes() - narrow.weight_bytes(),
            2 * block_linear_values(&wide),
            "{arch:?}: bf16 holds 2 bytes a value where f32 holds 4"
        );
        assert_eq!(narrow.num_params(), wide.num_params());
        let mut lora = LoraConfig::study_default(arch);
        lora.lora_dropout = 0.1;
        for config in [
            PeftConfig::Lora(lora),
            PeftConfig::Ia3(Ia3Config::study_default(arch)),
        ] {
            let adapter = common::perturbed(config, &wide);
            let run = |m: &Model| {
                let mut g = adapter.zeros_like();
                let ctx = Ctx {
                    be: &CpuBackend,
                    adapters: Some(&adapter),
                    dropout_seed: Some(3),
                };
                let out = loss_and_grads(m, &ctx, &ids, &labels, 2, 10, &mut g).unwrap();
                (out.loss, g)
            };
            let ((ln, gn), (lw, gw)) = (run(&narrow), run(&wide));
            let what = format!("{arch:?} {}", adapter.config.method());
            assert_eq!(ln.to_bits(), lw.to_bits(), "{what}: loss {ln} vs {lw}");
            for ((name, a), (_, b)) in gn.named_tensors().iter().zip(gw.named_tensors()) {
                let (a, b) = (a.host().unwrap(), b.host().unwrap());
                assert!(b.iter().any(|v| *v != 0.0), "{what} {name}: zero gradient");
                assert_eq!(bits(a), bits(b), "{what} {name}");
            }
        }
    }
}

#[test]
fn an_f32_checkpoint_is_never_rounded() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("f32");
    write_random_model(&dir, &preset_config(Arch::Llama, Preset::Tiny), 9, false).unwrap();
    let m = load(&dir, BaseDtype::Bf16);
    assert_eq!(
        m.base_weights_summary(),
        format!("f32 ×{}", m.linears().len())
    );
}

#[test]
fn a_bf16_held_base_saves_and_merges_as_the_f32_one() {
    let tmp = tempfile::tempdir().unwrap();
    for arch in [Arch::Llama, Arch::Codegen] {
        let dir = bf16_checkpoint(tmp.path(), arch);
        // Saved unchanged: the same bytes as saving the f32-held copy.
        let mut saved = Vec::new();
        for dtype in [BaseDtype::Bf16, BaseDtype::F32] {
            let out = tmp
                .path()
                .join(format!("{arch:?}-saved-{}", dtype.as_str()));
            load(&dir, dtype).save(&out, SaveDtype::BF16).unwrap();
            saved.push(std::fs::read(out.join("model.safetensors")).unwrap());
        }
        assert!(saved[0] == saved[1], "{arch:?}: saved checkpoints differ");
        let reread = TensorFiles::open(
            &tmp.path()
                .join(format!("{arch:?}-saved-bf16/model.safetensors")),
        )
        .unwrap();
        let original = TensorFiles::open(&dir.join("model.safetensors")).unwrap();
        assert_eq!(reread.names().count(), original.names().count());
        for name in original.names() {
            assert_eq!(
                reread.raw_tensor(name).unwrap(),
                original.raw_tensor(name).unwrap(),
                "{arch:?} {name}"
            );
        }
        // Merging widens the bf16 linears to f32 first and gives the f32-held result.
        let (mut narrow, mut wide) = (load(&dir, BaseDtype::Bf16), load(&dir, BaseDtype::F32));
        let adapter = common::perturbed(PeftConfig::Lora(LoraConfig::study_default(arch)), &wide);
        sectune::peft::merge::merge_into(&mut narrow, &adapter).unwrap();
        sectune::peft::merge::merge_into(&mut wide, &adapter).unwrap();
        for (a, b) in narrow.linears().iter().zip(wide.linears()) {
            let (a, b) = (
                a.weight.dequantize().unwrap(),
                b.weight.dequantize().unwrap(),
            );
            assert_eq!(bits(a.host().unwrap()), bits(b.host().unwrap()), "{arch:?}");
        }
    }
}

const CORPUS: [&str; 5] = [
    "size_t bounded_len(const char *s, size_t cap) {\n  size_t n = 0;\n  while (n < cap && s[n]) n++;\n  return n;\n}\n",
    "int safe_div(int a, int b, int *out) {\n  if (b == 0 || (a == INT_MIN && b == -1)) return -1;\n  *out = a / b;\n  return 0;\n}\n",
    "void zero_secret(volatile unsigned char *p, size_t n) {\n  while (n--) *p++ = 0;\n}\n",
    "int read_u16(const unsigned char *buf, size_t len, size_t off) {\n  if (off + 2 > len) return -1;\n  return buf[off] << 8 | buf[off + 1];\n}\n",
    "char *join(const char *a, const char *b) {\n  size_t n = strlen(a) + strlen(b) + 1;\n  char *r = malloc(n);\n  if (r) snprintf(r, n, \"%s%s\", a, b);\n  return r;\n}\n",
];

#[test]
fn training_on_a_bf16_held_base_gives_the_f32_held_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("train.jsonl");
    let lines: Vec<String> = CORPUS
        .iter()
        .map(|s| serde_json::json!({ "text": s }).to_string())
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let model = bf16_checkpoint(tmp.path(), Arch::Llama);
    let mut adapters = Vec::new();
    for dtype in [BaseDtype::Bf16, BaseDtype::F32] {
        let cfg = TrainConfig {
            model: model.clone(),
            train_file: data.clone(),
            validation_split: 0.0,
            template: String::new(),
            method: Method::Lora,
            batch_size: 2,
            epochs: 1,
            max_steps: Some(6),
            lr: 1e-2,
            base_dtype: dtype,
            out: tmp.path().join(format!("run-{}", dtype.as_str())),
            ..TrainConfig::default()
        };
        let hooks = Hooks {
            stop_after: None,
            progress: false,
        };
        let s = train(&cfg, &CpuBackend, None, &hooks).unwrap();
        assert_eq!(s.steps, 6);
        let want = match dtype {
            BaseDtype::Bf16 => "bf16 ×14, f32 ×1",
            _ => "f32 ×15",
        };
        assert_eq!(s.base_weights, want);
        adapters.push(std::fs::read(s.adapter_dir.join("adapter_model.safetensors")).unwrap());
    }
    assert!(
        adapters[0] == adapters[1],
        "the adapters trained on the bf16- and f32-held base differ"
    );
}
