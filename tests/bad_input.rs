//! Bad input gets a clear error that names the file (and the field or tensor), never a panic.

mod common;

use std::fs;
use std::path::Path;

use common::fixtures;
use sectune::backend::cpu::CpuBackend;
use sectune::model::Model;
use sectune::peft::io as peft_io;

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

fn load_err(dir: &Path) -> String {
    match Model::load(dir, &CpuBackend) {
        Ok(_) => panic!("{} loaded although it is broken", dir.display()),
        Err(e) => e.to_string(),
    }
}

fn edit_config(dir: &Path, f: impl Fn(&mut serde_json::Value)) {
    let p = dir.join("config.json");
    let mut v: serde_json::Value = serde_json::from_str(&fs::read_to_string(&p).unwrap()).unwrap();
    f(&mut v);
    fs::write(&p, v.to_string()).unwrap();
}

#[test]
fn truncated_safetensors_names_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("llama-base"), tmp.path());
    let w = tmp.path().join("model.safetensors");
    let bytes = fs::read(&w).unwrap();
    for cut in [bytes.len() - 100, 1000, 5] {
        fs::write(&w, &bytes[..cut]).unwrap();
        let e = load_err(tmp.path());
        assert!(
            e.contains("model.safetensors") && e.contains("download or copy it again"),
            "{e}"
        );
    }
}

#[test]
fn missing_tensor_and_wrong_shape_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("llama-base"), tmp.path());
    edit_config(tmp.path(), |v| v["num_hidden_layers"] = 3.into());
    let e = load_err(tmp.path());
    assert!(
        e.contains("model.layers.2.") && e.contains("has no tensor"),
        "{e}"
    );

    copy_dir(&fixtures().join("llama-base"), tmp.path());
    edit_config(tmp.path(), |v| v["intermediate_size"] = 100.into());
    let e = load_err(tmp.path());
    assert!(
        e.contains("gate_proj.weight has shape [176, 64]") && e.contains("[100, 64]"),
        "{e}"
    );
}

#[test]
fn malformed_config_names_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("codegen-base"), tmp.path());
    edit_config(tmp.path(), |v| {
        v.as_object_mut().unwrap().remove("n_embd");
    });
    let e = load_err(tmp.path());
    assert!(
        e.contains("config.json") && e.contains("`n_embd`") && e.contains("missing"),
        "{e}"
    );

    edit_config(tmp.path(), |v| v["model_type"] = "gpt2".into());
    let e = load_err(tmp.path());
    assert!(e.contains("\"gpt2\" is not supported"), "{e}");

    copy_dir(&fixtures().join("codegen-base"), tmp.path());
    edit_config(tmp.path(), |v| v["n_head"] = 6.into());
    let e = load_err(tmp.path());
    assert!(e.contains("`n_head`") && e.contains("multiple of 4"), "{e}");

    fs::write(tmp.path().join("config.json"), "{ not json").unwrap();
    let e = load_err(tmp.path());
    assert!(
        e.contains("config.json") && e.contains("not valid JSON"),
        "{e}"
    );

    fs::remove_file(tmp.path().join("config.json")).unwrap();
    let e = load_err(tmp.path());
    assert!(e.contains("config.json"), "{e}");
}

#[test]
fn adapter_for_another_base_model_is_refused() {
    let codegen = Model::load(&fixtures().join("codegen-base"), &CpuBackend).unwrap();
    let e = peft_io::load(
        &fixtures().join("llama-lora/adapter"),
        &codegen.linear_infos(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("adapter_config.json") && e.contains("another base model"),
        "{e}"
    );

    // Same module names, different sizes: the shape check names the tensor.
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("llama-base"), tmp.path());
    edit_config(tmp.path(), |v| v["hidden_size"] = 32.into());
    let mut infos = Model::load(&fixtures().join("llama-base"), &CpuBackend)
        .unwrap()
        .linear_infos();
    for i in &mut infos {
        i.in_features /= 2;
    }
    let e = peft_io::load(&fixtures().join("llama-lora/adapter"), &infos)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("adapter_model.safetensors") && e.contains("lora_A.weight has shape"),
        "{e}"
    );
}

#[test]
fn unknown_target_module_and_bad_adapter_config() {
    let llama = Model::load(&fixtures().join("llama-base"), &CpuBackend).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("llama-lora/adapter"), tmp.path());
    let cfg = tmp.path().join("adapter_config.json");
    let original = fs::read_to_string(&cfg).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
    v["target_modules"] = serde_json::json!(["q_proj", "attn_proj"]);
    fs::write(&cfg, v.to_string()).unwrap();
    let e = peft_io::load(tmp.path(), &llama.linear_infos())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("\"attn_proj\" matches no linear layer") && e.contains("q_proj"),
        "{e}"
    );

    v["target_modules"] = serde_json::json!(["q_proj"]);
    fs::write(&cfg, v.to_string()).unwrap();
    let e = peft_io::load(tmp.path(), &llama.linear_infos())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("does not have or the config does not target") && e.contains("k_proj"),
        "{e}"
    );

    v.as_object_mut().unwrap().remove("peft_type");
    fs::write(&cfg, v.to_string()).unwrap();
    let e = peft_io::load(tmp.path(), &llama.linear_infos())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`peft_type`") && e.contains("missing"), "{e}");

    fs::write(&cfg, "[]").unwrap();
    assert!(peft_io::load(tmp.path(), &llama.linear_infos()).is_err());
    fs::write(
        &cfg,
        original.replace("\"use_dora\": false", "\"use_dora\": true"),
    )
    .unwrap();
    let e = peft_io::load(tmp.path(), &llama.linear_infos())
        .unwrap_err()
        .to_string();
    assert!(e.contains("`use_dora`"), "{e}");
}

#[test]
fn sharded_index_pointing_to_a_missing_shard() {
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("llama-sharded"), tmp.path());
    fs::remove_file(tmp.path().join("model-00002-of-00003.safetensors")).unwrap();
    let e = load_err(tmp.path());
    assert!(e.contains("model-00002-of-00003.safetensors"), "{e}");
}
