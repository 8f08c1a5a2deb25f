//! Quantized frozen base weights: bit-exact dequantization against bitsandbytes-made fixtures,
//! loading the bitsandbytes safetensors layouts, LoRA/IA3 parity of a quantized-base model with
//! its dequantized f32 twin, and training + resume on a quantized base.

mod common;

use std::path::{Path, PathBuf};

use common::{assert_close, fixtures};
use safetensors::tensor::Dtype;
use sectune::backend::cpu::CpuBackend;
use sectune::model::loss::loss_and_grads;
use sectune::model::safetensors_io::TensorFiles;
use sectune::model::{Ctx, Keep, Model};
use sectune::peft::{io as peft_io, Ia3Config, LoraConfig, PeftConfig, Targets};
use sectune::quant::nf4::{Absmax, DoubleQuant, Nf4Weight, NF4_LEVELS};
use sectune::quant::{dynamic, BaseDtype, BaseWeight, Int8Weight, QuantRequest};
use sectune::train::config::{Method, TrainConfig};
use sectune::train::run::{train, Hooks};

fn quant_fixtures() -> PathBuf {
    fixtures().join("quant")
}

fn blocks() -> TensorFiles {
    TensorFiles::open(&quant_fixtures().join("blocks.safetensors")).unwrap()
}

fn f32s(f: &TensorFiles, name: &str) -> Vec<f32> {
    f.f32(name).unwrap().into_host().unwrap()
}

fn bytes(f: &TensorFiles, name: &str, want: Dtype) -> Vec<u8> {
    let (dtype, _, b) = f.raw_tensor(name).unwrap();
    assert_eq!(dtype, want, "{name}");
    b.to_vec()
}

fn assert_bits_eq(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let diff = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    if let Some(i) = diff {
        panic!(
            "{what}: element {i} is {} but bitsandbytes gives {}",
            got[i], want[i]
        );
    }
}

#[test]
fn dynamic_map_matches_bitsandbytes() {
    assert_bits_eq(
        "dynamic map",
        &dynamic::dynamic_map(),
        &f32s(&blocks(), "dynamic_map"),
    );
}

#[test]
fn nf4_quantize_and_dequantize_match_bitsandbytes_bit_for_bit() {
    let f = blocks();
    let w = f32s(&f, "nf4.input");
    let (rows, cols) = (12, 40); // 480 values: a partial last block, blocks spanning rows
    let q = Nf4Weight::quantize(&w, rows, cols, false).unwrap();
    assert_eq!(q.packed, bytes(&f, "nf4.weight", Dtype::U8), "packed codes");
    let Absmax::Plain(absmax) = &q.absmax else {
        panic!("plain absmax expected")
    };
    assert_bits_eq("absmax", absmax, &f32s(&f, "nf4.absmax"));
    // Dequantize bitsandbytes' own codes and statistics.
    let theirs = Nf4Weight {
        rows,
        cols,
        block: 64,
        packed: bytes(&f, "nf4.weight", Dtype::U8),
        absmax: Absmax::Plain(f32s(&f, "nf4.absmax")),
        levels: NF4_LEVELS,
    };
    assert_bits_eq(
        "nf4 dequantized",
        &theirs.dequantize().unwrap(),
        &f32s(&f, "nf4.dequantized"),
    );
    // Round trip against the input: within half the largest level gap of each block's absmax.
    let d = q.dequantize().unwrap();
    for (i, (a, b)) in w.iter().zip(&d).enumerate() {
        let bound = absmax[i / 64] * sectune::quant::nf4::half_max_gap(&NF4_LEVELS) * (1.0 + 1e-6);
        assert!((a - b).abs() <= bound, "{i}");
    }
}

#[test]
fn nf4_double_quant_matches_bitsandbytes_bit_for_bit() {
    let f = blocks();
    let w = f32s(&f, "nf4dq.input");
    let (rows, cols) = (30, 640); // 300 absmax values: nested blocks of 256 and 44
    let theirs = Nf4Weight {
        rows,
        cols,
        block: 64,
        packed: bytes(&f, "nf4dq.weight", Dtype::U8),
        absmax: Absmax::Double(DoubleQuant {
            codes: bytes(&f, "nf4dq.absmax", Dtype::U8),
            absmax: f32s(&f, "nf4dq.nested_absmax"),
            offset: f32s(&f, "nf4dq.nested_offset")[0],
            map: f32s(&f, "dynamic_map"),
            block: 256,
        }),
        levels: NF4_LEVELS,
    };
    assert_bits_eq(
        "nf4+dq dequantized",
        &theirs.dequantize().unwrap(),
        &f32s(&f, "nf4dq.dequantized"),
    );
    // Quantizing here gives the same codes, offset and nested statistics.
    let ours = Nf4Weight::quantize(&w, rows, cols, true).unwrap();
    assert_eq!(ours.packed, theirs.packed, "packed codes");
    let (Absmax::Double(a), Absmax::Double(b)) = (&ours.absmax, &theirs.absmax) else {
        panic!("double-quantized absmax expected")
    };
    assert_eq!(
        a.offset.to_bits(),
        b.offset.to_bits(),
        "offset {} vs {}",
        a.offset,
        b.offset
    );
    assert_eq!(a.codes, b.codes, "absmax codes");
    assert_bits_eq("nested absmax", &a.absmax, &b.absmax);
    assert_bits_eq(
        "dequantized",
        &ours.dequantize().unwrap(),
        &f32s(&f, "nf4dq.dequantized"),
    );
}

#[test]
fn int8_quantize_and_dequantize_match_bitsandbytes_bit_for_bit() {
    let f = blocks();
    let w = f32s(&f, "int8.input"); // fp16-representable values: bitsandbytes casts to fp16 first
    let q = Int8Weight::quantize(&w, 16, 48).unwrap();
    let codes: Vec<u8> = q.q.iter().map(|&c| c as u8).collect();
    assert_eq!(codes, bytes(&f, "int8.weight", Dtype::I8), "codes");
    assert_bits_eq("row absmax (SCB)", &q.absmax, &f32s(&f, "int8.scb"));
    let theirs = Int8Weight::from_parts(
        16,
        48,
        bytes(&f, "int8.weight", Dtype::I8)
            .iter()
            .map(|&b| b as i8)
            .collect(),
        f32s(&f, "int8.scb"),
    )
    .unwrap();
    assert_bits_eq(
        "int8 dequantized",
        &theirs.dequantize(),
        &f32s(&f, "int8.dequantized"),
    );
}

fn flat_ids(f: &TensorFiles) -> (Vec<u32>, usize, usize) {
    let (ids, shape) = f.i64("input_ids").unwrap();
    (ids.iter().map(|&i| i as u32).collect(), shape[0], shape[1])
}

#[test]
fn bitsandbytes_checkpoints_load_as_stored_and_match_their_reference_logits() {
    let be = CpuBackend;
    for (case, kind) in [("llama-nf4", "nf4+dq"), ("llama-int8", "int8")] {
        let dir = quant_fixtures().join(case);
        // --base-dtype does not matter: a bitsandbytes checkpoint loads as stored.
        let model = Model::load(&dir, &be).unwrap();
        assert_eq!(
            model.base_weights_summary(),
            format!("{kind} ×14, f32 ×1"),
            "{case}"
        );
        let want = TensorFiles::open(&dir.join("expected.safetensors")).unwrap();
        for lin in model.linears() {
            let key = format!("deq.{}", lin.name);
            if want.contains(&key) {
                let got = lin.weight.dequantize().unwrap().into_host().unwrap();
                assert_bits_eq(&format!("{case} {key}"), &got, &f32s(&want, &key));
            }
        }
        let (ids, b, t) = flat_ids(&want);
        let (logits, _) = model
            .forward(&Ctx::eval(&be, None), &ids, b, t, Keep::None)
            .unwrap();
        // The reference is transformers' f32 model with the dequantized weights; the f32
        // backend's logits tolerance from tests/parity.rs.
        assert_close(
            case,
            logits.host().unwrap(),
            &f32s(&want, "logits"),
            1e-5,
            0.0,
        );
    }
}

fn tiny_model(dir: &Path, arch: sectune::model::Arch) -> PathBuf {
    let out = dir.join(format!("{arch:?}"));
    let cfg = sectune::model::init::preset_config(arch, sectune::model::init::Preset::Tiny);
    sectune::model::init::write_random_model(&out, &cfg, 3, false).unwrap();
    out
}

/// The same model with every quantized block linear replaced by its dequantized f32 weight.
fn dequantized_twin(dir: &Path, quantized: &Model) -> Model {
    let mut twin = Model::load(dir, &CpuBackend).unwrap();
    for (t, q) in twin.linears_mut().into_iter().zip(quantized.linears()) {
        assert_eq!(t.name, q.name);
        t.weight = BaseWeight::F32(q.weight.dequantize().unwrap());
    }
    twin
}

fn rel_max(got: &[f32], want: &[f32]) -> f32 {
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    got.iter()
        .zip(want)
        .fold(0f32, |m, (a, b)| m.max((a - b).abs()))
        / scale
}

#[test]
fn lora_and_ia3_on_a_quantized_base_match_the_dequantized_f32_model() {
    use sectune::model::Arch;
    let tmp = tempfile::tempdir().unwrap();
    let be = CpuBackend;
    let ids: Vec<u32> = (0..2 * 12).map(|i| (i * 37 % 250) as u32 + 3).collect();
    let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
    for arch in [Arch::Llama, Arch::Codegen] {
        let dir = tiny_model(tmp.path(), arch);
        let plain = Model::load(&dir, &be).unwrap();
        for (dtype, dq) in [
            (BaseDtype::Int8, false),
            (BaseDtype::Nf4, false),
            (BaseDtype::Nf4, true),
        ] {
            let req = QuantRequest::new(dtype, dq);
            let quantized = Model::load_quantized(&dir, &be, req).unwrap();
            assert!(!quantized.base_weights_summary().contains("f32 ×2"));
            let twin = dequantized_twin(&dir, &quantized);
            let lora = {
                let mut c = LoraConfig::study_default(arch);
                c.lora_dropout = 0.0;
                c.target_modules = Targets::List(match arch {
                    Arch::Llama => vec!["q_proj".into(), "v_proj".into(), "down_proj".into()],
                    Arch::Codegen => vec!["qkv_proj".into(), "fc_out".into()],
                });
                PeftConfig::Lora(c)
            };
            let ia3 = PeftConfig::Ia3(Ia3Config::study_default(arch));
            for config in [lora, ia3] {
                let adapter = common::perturbed(config, &quantized);
                let run = |m: &Model| {
                    let mut g = adapter.zeros_like();
                    let ctx = Ctx::eval(&be, Some(&adapter));
                    let out = loss_and_grads(m, &ctx, &ids, &labels, 2, 12, &mut g).unwrap();
                    (out.loss, g)
                };
                let (lq, gq) = run(&quantized);
                let (lt, gt) = run(&twin);
                let (lp, _) = run(&plain);
                let what = format!("{arch:?} {} {}", dtype.as_str(), adapter.config.method());
                assert!(((lq - lt) / lt).abs() <= 1e-6, "{what}: loss {lq} vs {lt}");
                for ((name, a), (_, b)) in gq.named_tensors().iter().zip(gt.named_tensors()) {
                    let (a, b) = (a.host().unwrap(), b.host().unwrap());
                    assert!(b.iter().any(|v| *v != 0.0), "{what} {name}: zero gradient");
                    assert!(rel_max(a, b) <= 1e-6, "{what} {name}: {}", rel_max(a, b));
                }
                // Quantization is really in effect: the loss moves off the f32 model's, a little.
                assert!(
                    lq != lp && ((lq - lp) / lp).abs() < 0.05,
                    "{what}: {lq} vs f32 {lp}"
                );
            }
        }
    }
}

const SNIPPETS: [&str; 6] = [
    "int clamp(int v, int lo, int hi) {\n  if (v < lo) return lo;\n  if (v > hi) return hi;\n  return v;\n}\n",
    "void free_list(struct node *n) {\n  while (n) {\n    struct node *next = n->next;\n    free(n);\n    n = next;\n  }\n}\n",
    "int parse_port(const char *s) {\n  long v = strtol(s, NULL, 10);\n  if (v <= 0 || v > 65535) return -1;\n  return (int)v;\n}\n",
    "char *dup_or_null(const char *s) {\n  if (!s) return NULL;\n  char *d = malloc(strlen(s) + 1);\n  if (!d) return NULL;\n  strcpy(d, s);\n  return d;\n}\n",
    "int sum(const int *a, size_t n) {\n  int s = 0;\n  for (size_t i = 0; i < n; i++) s += a[i];\n  return s;\n}\n",
    "bool in_range(size_t i, size_t n) {\n  return i < n;\n}\n",
];

fn corpus(dir: &Path) -> PathBuf {
    let p = dir.join("train.jsonl");
    let lines: Vec<String> = SNIPPETS
        .iter()
        .map(|s| serde_json::json!({ "text": s }).to_string())
        .collect();
    std::fs::write(&p, lines.join("\n")).unwrap();
    p
}

fn quiet(stop_after: Option<usize>) -> Hooks {
    Hooks {
        stop_after,
        progress: false,
    }
}

#[test]
fn a_quantized_base_trains_and_resumes_to_identical_adapters() {
    let tmp = tempfile::tempdir().unwrap();
    let data = corpus(tmp.path());
    let model = tiny_model(tmp.path(), sectune::model::Arch::Llama);
    for (dtype, dq, method) in [
        (BaseDtype::Nf4, true, Method::Lora),
        (BaseDtype::Int8, false, Method::Ia3),
    ] {
        let base = TrainConfig {
            model: model.clone(),
            train_file: data.clone(),
            validation_split: 0.0,
            template: String::new(),
            method,
            lora_dropout: 0.0,
            batch_size: 3,
            epochs: 1,
            max_steps: Some(40),
            lr: 1e-2,
            save_every: 7,
            base_dtype: dtype,
            double_quant: dq,
            ..TrainConfig::default()
        };
        let tag = format!("{}-{method:?}", dtype.as_str());
        let whole = TrainConfig {
            out: tmp.path().join(format!("{tag}-whole")),
            ..base.clone()
        };
        let s1 = train(&whole, &CpuBackend, None, &quiet(None)).unwrap();
        assert_eq!(s1.steps, 40);
        assert!(
            s1.base_weights
                .starts_with(if dq { "nf4+dq ×14" } else { "int8 ×14" }),
            "{}",
            s1.base_weights
        );
        assert!(
            s1.last_loss < 0.9 * s1.first_loss,
            "{tag}: loss went {} -> {}",
            s1.first_loss,
            s1.last_loss
        );
        let parts = TrainConfig {
            out: tmp.path().join(format!("{tag}-parts")),
            ..base.clone()
        };
        let stopped = train(&parts, &CpuBackend, None, &quiet(Some(10))).unwrap();
        assert_eq!(stopped.steps, 10);
        let s2 = train(&parts, &CpuBackend, Some(&parts.out), &quiet(None)).unwrap();
        assert_eq!(s2.steps, 40);
        for f in ["adapter_model.safetensors", "adapter_config.json"] {
            let a = std::fs::read(s1.adapter_dir.join(f)).unwrap();
            let b = std::fs::read(s2.adapter_dir.join(f)).unwrap();
            assert!(
                a == b,
                "{tag}: {f} differs between the whole run and the resumed one"
            );
        }
        // Resuming with another base dtype is refused: the numbers would differ.
        let other = TrainConfig {
            base_dtype: BaseDtype::Bf16,
            double_quant: false,
            ..parts.clone()
        };
        let e = train(&other, &CpuBackend, Some(&parts.out), &quiet(None));
        assert!(
            e.is_err(),
            "{tag}: a resume with another --base-dtype must be refused"
        );
        // The adapter is in PEFT's layout and loads against the unquantized model too.
        let plain = Model::load(&model, &CpuBackend).unwrap();
        let adapter = peft_io::load(&s1.adapter_dir, &plain.linear_infos()).unwrap();
        let st = TensorFiles::open(&s1.adapter_dir.join("adapter_model.safetensors")).unwrap();
        assert!(st
            .names()
            .all(|n| n.starts_with("base_model.model.model.layers.")));
        assert_eq!(st.names().count(), adapter.named_tensors().len());
    }
}

#[test]
fn quantized_models_refuse_to_be_saved_or_merged() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny_model(tmp.path(), sectune::model::Arch::Codegen);
    let req = QuantRequest::new(BaseDtype::Nf4, false);
    let mut m = Model::load_quantized(&dir, &CpuBackend, req).unwrap();
    let e = m
        .save(
            &tmp.path().join("out"),
            sectune::model::safetensors_io::SaveDtype::F32,
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("--base-dtype bf16"), "{e}");
    assert!(!tmp.path().join("out").exists());
    let adapter = common::perturbed(
        PeftConfig::Ia3(Ia3Config::study_default(sectune::model::Arch::Codegen)),
        &m,
    );
    let e = sectune::peft::merge::merge_into(&mut m, &adapter)
        .unwrap_err()
        .to_string();
    assert!(e.contains("--base-dtype bf16"), "{e}");
}

/// New bytes for a tensor, and optionally a new dtype and shape.
type Edited = (Vec<u8>, Option<(Dtype, Vec<usize>)>);
type Edit = Box<dyn Fn(&[u8]) -> Edited>;

/// Copies a fixture checkpoint folder with one tensor's bytes replaced (dtype and shape kept
/// unless given).
fn tampered(dir: &Path, out: &Path, name: &str, edit: impl Fn(&[u8]) -> Edited) {
    std::fs::create_dir_all(out).unwrap();
    std::fs::copy(dir.join("config.json"), out.join("config.json")).unwrap();
    let f = TensorFiles::open(&dir.join("model.safetensors")).unwrap();
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for n in f.names() {
        let (dtype, shape, b) = f.raw_tensor(n).unwrap();
        let (mut dtype, mut shape, mut b) = (dtype, shape.to_vec(), b.to_vec());
        if n == name {
            let (nb, ds) = edit(&b);
            b = nb;
            if let Some((d, s)) = ds {
                (dtype, shape) = (d, s);
            } else if dtype == Dtype::U8 && shape.len() == 1 {
                shape = vec![b.len()];
            }
        }
        owned.push((n.to_string(), dtype, shape, b));
    }
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(
        out.join("model.safetensors"),
        safetensors::serialize(views, None).unwrap(),
    )
    .unwrap();
}

#[test]
fn malformed_bitsandbytes_checkpoints_are_refused_with_the_file_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let nf4 = quant_fixtures().join("llama-nf4");
    let state = "model.layers.0.self_attn.q_proj.weight.quant_state.bitsandbytes__nf4";
    let json_edit = |from: &'static str, to: &'static str| {
        move |b: &[u8]| {
            let text = String::from_utf8(b.to_vec()).unwrap();
            assert!(text.contains(from), "{text}");
            (text.replace(from, to).into_bytes(), None)
        }
    };
    let cases: Vec<(&str, Edit, &str)> = vec![
        ("fp4", Box::new(json_edit("\"nf4\"", "\"fp4\"")), "fp4"),
        (
            "shape",
            Box::new(json_edit("[64, 64]", "[64, 32]")),
            "[64, 32]",
        ),
        (
            "json",
            Box::new(|_: &[u8]| (b"{not json".to_vec(), None)),
            "quant-state JSON",
        ),
    ];
    for (tag, edit, needle) in cases {
        let out = tmp.path().join(tag);
        tampered(&nf4, &out, state, edit);
        let e = match Model::load(&out, &CpuBackend) {
            Ok(_) => panic!("{tag}: a malformed checkpoint loaded"),
            Err(e) => e.to_string(),
        };
        assert!(
            e.contains(needle) && e.contains("model.safetensors"),
            "{tag}: {e}"
        );
    }
    // Truncated packed codes: the parts no longer fit together.
    let out = tmp.path().join("short");
    tampered(&nf4, &out, "model.layers.0.self_attn.q_proj.weight", |b| {
        (
            b[..b.len() - 2].to_vec(),
            Some((Dtype::U8, vec![b.len() - 2, 1])),
        )
    });
    let e = Model::load(&out, &CpuBackend).err().unwrap().to_string();
    assert!(
        e.contains("do not fit together") && e.contains("re-save"),
        "{e}"
    );
    // An 8-bit weight whose row scales are missing one row.
    let out = tmp.path().join("scb");
    tampered(
        &quant_fixtures().join("llama-int8"),
        &out,
        "model.layers.0.self_attn.q_proj.SCB",
        |b| {
            (
                b[..b.len() - 4].to_vec(),
                Some((Dtype::F32, vec![b.len() / 4 - 1])),
            )
        },
    );
    let e = Model::load(&out, &CpuBackend).err().unwrap().to_string();
    assert!(
        e.contains("row scales") && e.contains("model.safetensors"),
        "{e}"
    );
}
