//! Generation: greedy tokens equal transformers' generate; top-p stays in the nucleus;
//! seeded sampling is reproducible and independent of the batch size; the CLI writes JSONL.

mod common;

use common::fixtures;
use sectune::backend::cpu::sampling::sample_row;
use sectune::backend::cpu::CpuBackend;
use sectune::generate::prompts::Prompt;
use sectune::generate::sample::{decode, generate_prompt, GenSettings};
use sectune::model::safetensors_io::TensorFiles;
use sectune::model::tokenizer::Tokenizer;
use sectune::model::{Ctx, Model};
use sectune::peft::io as peft_io;
use sectune::util::rng::Rng;

#[test]
fn greedy_decoding_matches_transformers_generate() {
    for case in ["llama-lora", "codegen-lora"] {
        let arch = case.split('-').next().unwrap();
        let model = Model::load(&fixtures().join(format!("{arch}-base")), &CpuBackend).unwrap();
        let adapter = peft_io::load(
            &fixtures().join(case).join("adapter"),
            &model.linear_infos(),
        )
        .unwrap();
        let fx = TensorFiles::open(&fixtures().join(case).join("greedy.safetensors")).unwrap();
        let prompt: Vec<u32> = fx
            .i64("prompt_ids")
            .unwrap()
            .0
            .iter()
            .map(|&i| i as u32)
            .collect();
        let want: Vec<u32> = fx
            .i64("greedy_ids")
            .unwrap()
            .0
            .iter()
            .map(|&i| i as u32)
            .collect();
        let ctx = Ctx::eval(&CpuBackend, Some(&adapter));
        let got = decode(
            &model,
            &ctx,
            &prompt,
            want.len(),
            0.0,
            1.0,
            vec![Rng::new(0)],
            None,
            &|_| Ok(false),
        )
        .unwrap();
        assert_eq!(
            got[0].0, want,
            "{case}: greedy tokens differ from transformers"
        );
        assert_eq!(got[0].1, "length");
    }
}

#[test]
fn top_p_never_leaves_the_nucleus() {
    // Probabilities ∝ exp(logit): 0.5, 0.25, 0.125, 0.0625, ... over 8 tokens, shuffled ids.
    let logits: Vec<f32> = [3, 0, 6, 1, 5, 2, 7, 4]
        .iter()
        .map(|&r: &i32| -(r as f32) * std::f32::consts::LN_2)
        .collect();
    let by_rank = |rank: i32| {
        [3, 0, 6, 1, 5, 2, 7, 4]
            .iter()
            .position(|&r| r == rank)
            .unwrap() as u32
    };
    for (top_p, nucleus) in [(0.5f32, 1), (0.6, 2), (0.75, 2), (0.8, 3), (1.0, 8)] {
        let allowed: Vec<u32> = (0..nucleus).map(by_rank).collect();
        let mut seen = std::collections::BTreeSet::new();
        for k in 0..2000 {
            let u = (k as f32 + 0.5) / 2000.0;
            let t = sample_row(&logits, 1.0, top_p, u);
            assert!(
                allowed.contains(&t),
                "top_p {top_p}: token {t} outside the nucleus {allowed:?}"
            );
            seen.insert(t);
        }
        assert_eq!(
            seen.len(),
            allowed.len(),
            "top_p {top_p}: every nucleus token should be reachable"
        );
    }
    assert_eq!(
        sample_row(&logits, 0.0, 0.9, 0.99),
        by_rank(0),
        "temperature 0 is greedy"
    );
}

#[test]
fn top_p_keeps_tokens_tied_at_its_edge() {
    // Three equally likely tokens (p ≈ 0.333 each) and a far less likely one: top_p 0.3 is
    // reached by the first, but the nucleus holds all three ties (as sampling.cu keeps them),
    // never the fourth.
    let logits = [0.0f32, -12.0, 0.0, 0.0];
    let seen: std::collections::BTreeSet<u32> = (0..300)
        .map(|k| sample_row(&logits, 1.0, 0.3, (k as f32 + 0.5) / 300.0))
        .collect();
    assert_eq!(seen, [0, 2, 3].into());
}

fn tiny(dir: &std::path::Path) -> std::path::PathBuf {
    let cfg = sectune::model::init::preset_config(
        sectune::model::Arch::Llama,
        sectune::model::init::Preset::Tiny,
    );
    let out = dir.join("m");
    sectune::model::init::write_random_model(&out, &cfg, 4, false).unwrap();
    out
}

#[test]
fn seeded_sampling_is_reproducible_and_batch_independent() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny(tmp.path());
    let model = Model::load(&dir, &CpuBackend).unwrap();
    let tok = Tokenizer::load(&dir).unwrap();
    let ctx = Ctx::eval(&CpuBackend, None);
    let prompt = Prompt {
        id: "p".into(),
        text: "int main(void) {\n".into(),
    };
    let s = GenSettings {
        samples: 4,
        max_new_tokens: 12,
        seed: 7,
        batch: 4,
        ..GenSettings::default()
    };
    let a = generate_prompt(&model, &ctx, &tok, &prompt, 0, &s).unwrap();
    let b = generate_prompt(&model, &ctx, &tok, &prompt, 0, &s).unwrap();
    let one_by_one = generate_prompt(
        &model,
        &ctx,
        &tok,
        &prompt,
        0,
        &GenSettings {
            batch: 1,
            ..s.clone()
        },
    )
    .unwrap();
    let other_seed = generate_prompt(
        &model,
        &ctx,
        &tok,
        &prompt,
        0,
        &GenSettings {
            seed: 8,
            ..s.clone()
        },
    )
    .unwrap();
    assert_eq!(a, b);
    assert_eq!(a, one_by_one, "samples must not depend on the batch size");
    assert_ne!(a, other_seed);
    assert_eq!(
        a.iter().map(|x| x.sample).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(a
        .iter()
        .all(|x| x.tokens <= 12 && ["eos", "length"].contains(&x.finish_reason.as_str())));
    // Distinct samples, as a temperature-0.8 draw from a random model should give.
    assert!(
        a.iter()
            .map(|x| &x.completion)
            .collect::<std::collections::BTreeSet<_>>()
            .len()
            > 1
    );
    // A stop sequence cuts the completion before it.
    let stop_char = a[0].completion.chars().nth(2).map(String::from);
    if let Some(stop) = stop_char {
        let cut = generate_prompt(
            &model,
            &ctx,
            &tok,
            &prompt,
            0,
            &GenSettings {
                stop: vec![stop.clone()],
                ..s.clone()
            },
        )
        .unwrap();
        assert!(
            !cut[0].completion.contains(&stop) && cut[0].finish_reason == "stop",
            "{:?}",
            cut[0]
        );
    }
}

#[test]
fn generate_cli_writes_jsonl_for_a_scenario_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tiny(tmp.path());
    let suite = tmp.path().join("suite");
    for id in ["cwe-0-c", "cwe-1-c"] {
        std::fs::create_dir_all(suite.join(id)).unwrap();
        std::fs::write(
            suite.join(id).join("scenario.toml"),
            format!("id = \"{id}\"\nprompt = \"prompt.c\"\ncwe = 787\n"),
        )
        .unwrap();
        std::fs::write(
            suite.join(id).join("prompt.c"),
            "#include <stdio.h>\nint main(void) {\n",
        )
        .unwrap();
    }
    let out = tmp.path().join("gen.jsonl");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate",
            "--model",
            dir.to_str().unwrap(),
            "--prompts",
            suite.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--samples",
            "3",
            "--max-new-tokens",
            "5",
        ];
        args.extend_from_slice(extra);
        std::process::Command::new(env!("CARGO_BIN_EXE_sectune"))
            .args(&args)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 6);
    assert_eq!(rows[0]["prompt_id"], "cwe-0-c");
    assert!(rows
        .iter()
        .all(|r| r["completion"].is_string() && r["tokens"].as_u64().unwrap() <= 5));
    let again = run(&[]);
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        text,
        "a refused run must not touch the output"
    );
    // A negative temperature would invert the distribution on the GPU sampler (the CPU one reads it
    // as greedy): refused before anything runs, as is a top-p outside (0, 1].
    for (flag, value, says) in [
        ("--temperature", "-1", "finite number ≥ 0"),
        ("--temperature", "nan", "finite number ≥ 0"),
        ("--top-p", "0", "(0, 1]"),
        ("--top-p", "1.5", "(0, 1]"),
    ] {
        let refused = run(&["--force", flag, value]);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(
            !refused.status.success() && err.contains(flag) && err.contains(says),
            "{flag} {value}: {err}"
        );
    }
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);
}
