//! The model verbs end to end through the binary: init-model, score (with and without an
//! adapter), inspect, merge, and their errors.

mod common;

use std::path::Path;
use std::process::Command;

use sectune::backend::cpu::CpuBackend;
use sectune::model::loss::loss;
use sectune::model::tokenizer::Tokenizer;
use sectune::model::{Ctx, Model};
use sectune::peft::{io as peft_io, AdapterSet, LoraConfig, ModuleAdapter, PeftConfig};
use sectune::util::rng::Rng;

fn sectune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sectune"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> String {
    let out = sectune(args);
    assert!(
        out.status.success(),
        "sectune {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn json_loss(stdout: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    v["loss"].as_f64().unwrap()
}

const TEXT: &str =
    "#include <string.h>\nvoid copy(char *dst, const char *src) {\n  strcpy(dst, src);\n}\n";

fn random_lora(model: &Model, dir: &Path) -> AdapterSet {
    let mut cfg = LoraConfig::study_default(model.config().arch);
    cfg.lora_dropout = 0.0;
    let mut a = AdapterSet::init(PeftConfig::Lora(cfg), &model.linear_infos(), 1).unwrap();
    let mut rng = Rng::new(9);
    for m in a.modules.values_mut() {
        if let ModuleAdapter::Lora { b, .. } = m {
            b.host_mut()
                .unwrap()
                .iter_mut()
                .for_each(|v| *v = 0.5 * rng.normal());
        }
    }
    peft_io::save(&a, dir).unwrap();
    a
}

#[test]
fn init_score_inspect_merge() {
    let tmp = tempfile::tempdir().unwrap();
    let text = tmp.path().join("t.c");
    std::fs::write(&text, TEXT).unwrap();
    for arch in ["llama", "codegen"] {
        let mdir = tmp.path().join(arch);
        let m = mdir.to_str().unwrap();
        ok(&["init-model", "--arch", arch, "--seed", "3", "--out", m]);
        // Same seed, same bytes.
        let again = tmp.path().join(format!("{arch}-again"));
        ok(&[
            "init-model",
            "--arch",
            arch,
            "--seed",
            "3",
            "--out",
            again.to_str().unwrap(),
        ]);
        let same = std::fs::read(mdir.join("model.safetensors")).unwrap()
            == std::fs::read(again.join("model.safetensors")).unwrap();
        assert!(same, "{arch}: the same seed wrote different bytes");
        // Refuses to overwrite.
        let out = sectune(&["init-model", "--arch", arch, "--out", m]);
        assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("--force"));

        let base_loss = json_loss(&ok(&[
            "score",
            "--model",
            m,
            "--text-file",
            text.to_str().unwrap(),
            "--json",
        ]));
        // A random model scores near uniform over the 320-token vocabulary (ln 320 = 5.77),
        // somewhat above it since its logits are spread.
        assert!(
            base_loss > 5.0 && base_loss < 8.0,
            "{arch}: base loss {base_loss}"
        );

        let model = Model::load(&mdir, &CpuBackend).unwrap();
        let adir = tmp.path().join(format!("{arch}-adapter"));
        let adapter = random_lora(&model, &adir);
        let cli_loss = json_loss(&ok(&[
            "score",
            "--model",
            m,
            "--adapter",
            adir.to_str().unwrap(),
            "--text-file",
            text.to_str().unwrap(),
            "--json",
        ]));
        let tok = Tokenizer::load(&mdir).unwrap();
        let ids = tok.encode(TEXT).unwrap();
        assert_eq!(
            tok.decode(&ids).unwrap(),
            TEXT,
            "byte-level tokenizer must round-trip"
        );
        let labels: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let lib = loss(
            &model,
            &Ctx::eval(&CpuBackend, Some(&adapter)),
            &ids,
            &labels,
            1,
            ids.len(),
        )
        .unwrap();
        assert!(
            (cli_loss - lib.loss).abs() < 1e-6,
            "{arch}: cli {cli_loss} vs library {}",
            lib.loss
        );
        assert!(
            (cli_loss - base_loss).abs() > 1e-3,
            "{arch}: the adapter did not change the loss"
        );

        let merged = tmp.path().join(format!("{arch}-merged"));
        ok(&[
            "merge",
            "--model",
            m,
            "--adapter",
            adir.to_str().unwrap(),
            "--out",
            merged.to_str().unwrap(),
        ]);
        let merged_loss = json_loss(&ok(&[
            "score",
            "--model",
            merged.to_str().unwrap(),
            "--text-file",
            text.to_str().unwrap(),
            "--json",
        ]));
        assert!(
            (merged_loss - cli_loss).abs() < 1e-4,
            "{arch}: merged {merged_loss} vs adapter {cli_loss}"
        );

        let info = ok(&["inspect", m]);
        assert!(info.contains(arch) && info.contains("parameters"), "{info}");
        assert!(
            info.contains("training memory plan") && info.contains("nf4 --double-quant"),
            "{info}"
        );
    }
}

#[test]
fn errors_name_the_problem_without_panicking() {
    let tmp = tempfile::tempdir().unwrap();
    let out = sectune(&[
        "score",
        "--model",
        tmp.path().to_str().unwrap(),
        "--text-file",
        "/nonexistent",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("config.json") && !err.contains("panicked"),
        "{err}"
    );

    // A tokenizer whose ids exceed the model's vocabulary (fixture base has 256 rows).
    let mdir = tmp.path().join("m");
    std::fs::create_dir_all(&mdir).unwrap();
    let base = common::fixtures().join("llama-base");
    for f in ["config.json", "model.safetensors"] {
        std::fs::copy(base.join(f), mdir.join(f)).unwrap();
    }
    let tok =
        serde_json::to_string(&sectune::model::tokenizer::byte_level_tokenizer_json()).unwrap();
    std::fs::write(mdir.join("tokenizer.json"), tok).unwrap();
    let text = tmp.path().join("t.c");
    std::fs::write(&text, TEXT).unwrap();
    let out = sectune(&[
        "score",
        "--model",
        mdir.to_str().unwrap(),
        "--text-file",
        text.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("outside the vocabulary")
            && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn a_bf16_random_model_is_held_and_scored_in_16_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let m = tmp.path().join("bf16");
    let ms = m.to_str().unwrap();
    ok(&[
        "init-model",
        "--arch",
        "llama",
        "--dtype",
        "bf16",
        "--out",
        ms,
    ]);
    let files =
        sectune::model::safetensors_io::TensorFiles::open(&m.join("model.safetensors")).unwrap();
    assert!(files
        .names()
        .all(|n| files.dtype(n) == Some(safetensors::Dtype::BF16)));
    let info = ok(&["inspect", ms]);
    assert!(info.contains("bf16 (default)"), "{info}");
    let text = tmp.path().join("t.c");
    std::fs::write(&text, TEXT).unwrap();
    let score = |dtype: &str| {
        json_loss(&ok(&[
            "score",
            "--model",
            ms,
            "--text-file",
            text.to_str().unwrap(),
            "--base-dtype",
            dtype,
            "--json",
        ]))
    };
    // Widening bf16 is exact: the 16-bit base scores exactly as the f32 one.
    assert_eq!(score("bf16").to_bits(), score("f32").to_bits());
}
