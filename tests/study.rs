//! `sectune study`: a tiny grid interrupted mid-run (the hidden --stop-after-stages hook ends
//! the process as a kill would) and run again: finished cells and stages are not redone, a
//! failing cell does not stop the others, and the report covers the finished cells.

use std::path::{Path, PathBuf};
use std::process::Command;

use sectune::study::config::StudyConfig;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn study(config: &Path, out: &Path, stop: Option<usize>) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sectune"));
    cmd.args(["study", "--config"])
        .arg(config)
        .arg("--out")
        .arg(out);
    if let Some(n) = stop {
        cmd.arg("--stop-after-stages").arg(n.to_string());
    }
    cmd.output().expect("running sectune study")
}

fn tiny_config(dir: &Path) -> PathBuf {
    let r = root();
    // A model folder without config.json: every cell of this model must fail, alone.
    let broken = dir.join("broken-model");
    std::fs::create_dir_all(&broken).unwrap();
    let text = format!(
        r#"profile = "test"
[data]
jsonl = "{corpus}"
[[models]]
name = "tiny-llama"
init_arch = "llama"
init_seed = 1
[[models]]
name = "broken"
path = "{broken}"
[train]
methods = ["lora"]
granularities = ["function"]
lr = 3e-3
warmup_steps = 0
epochs = 1
batch_size = 2
max_tokens = 64
lora_r = 4
lora_alpha = 8
lora_dropout = 0.0
max_steps = 2
save_every = 1
[generate]
samples = 1
temperature = 0.8
top_p = 0.9
max_new_tokens = 8
humaneval_samples = 1
[eval]
scenarios = "{scenarios}"
scenario_ids = ["cwe-787-0-c"]
languages = ["c"]
humaneval = "{tasks}"
humaneval_ids = ["SectuneCPP/0"]
no_static = true
[size_study]
cwe = ["CWE-119"]
step = 2
sizes = [2]
epochs = 1
methods = ["lora"]
granularities = ["function"]
"#,
        corpus = r.join("data/demo-corpus/fixes.jsonl").display(),
        broken = broken.display(),
        scenarios = r.join("scenarios").display(),
        tasks = r.join("tasks/humaneval-cpp/tasks.jsonl").display(),
    );
    let path = dir.join("study.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn mtime(p: &Path) -> std::time::SystemTime {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .modified()
        .unwrap()
}

#[test]
fn interrupted_study_resumes_without_redoing_finished_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    let out = tmp.path().join("out");
    let cfg = StudyConfig::load(&config).unwrap();
    let cells = cfg.cells();
    assert_eq!(
        cells.len(),
        6,
        "2 models × (base + lora function + size n=2)"
    );
    let base_dir = out.join("cells").join(cells[0].hash());
    let lora_dir = out.join("cells").join(cells[1].hash());

    // Stages: base cell = init-model, generate/eval scenarios, generate/eval HumanEval (5);
    // then the LoRA cell's dataset and train (7): stop there, mid-cell.
    let first = study(&config, &out, Some(7));
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success());
    assert!(err.contains("stopped after 7 stages"), "{err}");
    assert!(base_dir.join("done.json").is_file(), "{err}");
    assert!(base_dir.join("run.json").is_file());
    assert!(lora_dir.join(".stages/train.done").is_file(), "{err}");
    assert!(lora_dir.join("train/adapter").is_dir());
    assert!(!lora_dir.join("done.json").exists());
    assert!(!lora_dir.join(".stages/generate-scenarios.done").exists());

    let base_done = std::fs::read(base_dir.join("done.json")).unwrap();
    let base_done_time = mtime(&base_dir.join("done.json"));
    let base_results_time = mtime(&base_dir.join("eval-scenarios/results.jsonl"));
    let train_marker_time = mtime(&lora_dir.join(".stages/train.done"));
    let metrics = std::fs::read(lora_dir.join("train/metrics.jsonl")).unwrap();

    let second = study(&config, &out, None);
    let stdout = String::from_utf8_lossy(&second.stdout);
    let stderr = String::from_utf8_lossy(&second.stderr);
    // The broken model's two cells fail, so the exit status says so; the others finish.
    assert!(!second.status.success());
    assert!(
        stdout.contains("2 ran, 1 skipped (finished earlier), 3 failed"),
        "{stdout}\n{stderr}"
    );

    // The finished cell was not touched; the interrupted one kept its training.
    assert_eq!(
        std::fs::read(base_dir.join("done.json")).unwrap(),
        base_done
    );
    assert_eq!(mtime(&base_dir.join("done.json")), base_done_time);
    assert_eq!(
        mtime(&base_dir.join("eval-scenarios/results.jsonl")),
        base_results_time
    );
    assert_eq!(
        mtime(&lora_dir.join(".stages/train.done")),
        train_marker_time
    );
    assert_eq!(
        std::fs::read(lora_dir.join("train/metrics.jsonl")).unwrap(),
        metrics
    );
    assert!(lora_dir.join("done.json").is_file());

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["ran"], 2);
    assert_eq!(summary["skipped"], 1);
    assert_eq!(summary["failed"], 3);
    let statuses: Vec<&str> = summary["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["skipped", "ran", "ran", "failed", "failed", "failed"]
    );
    assert!(summary["cells"][3]["error"]
        .as_str()
        .unwrap()
        .contains("generate"));

    // The report covers the two finished cells; its Table 3 has one row each, and the
    // counts agree with the cell's own judged samples (1 scenario × 1 sample).
    let table3 = std::fs::read_to_string(out.join("report/table3.md")).unwrap();
    let rows: Vec<&str> = table3
        .lines()
        .filter(|l| l.starts_with("| tiny-llama"))
        .collect();
    assert_eq!(rows.len(), 2, "{table3}");
    assert!(
        rows[0].starts_with("| tiny-llama | pre-trained | – | "),
        "{table3}"
    );
    assert!(
        rows[1].starts_with("| tiny-llama | LoRA | function | "),
        "{table3}"
    );
    assert!(rows.iter().all(|r| r.contains("/1 (")), "{table3}");
    assert!(out.join("report/figure6-per-cwe.png").is_file());
    assert!(out.join("report/table7.md").is_file());
    // The size-study cell (2 of the corpus's CWE-119 commits) is Table 6's only row.
    let table6 = std::fs::read_to_string(out.join("report/table6.md")).unwrap();
    assert!(
        table6.contains("| tiny-llama | LoRA | function | 2 | "),
        "{table6}"
    );

    // A third run has nothing left to do for the finished cells.
    let third = study(&config, &out, None);
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(
        stdout.contains("0 ran, 3 skipped (finished earlier), 3 failed"),
        "{stdout}"
    );
}

#[test]
fn shipped_configs_carry_the_study_settings() {
    let text = std::fs::read_to_string(root().join("configs/study-paper.toml")).unwrap();
    let cfg: StudyConfig = toml::from_str(&text).unwrap();
    // Table 2 of the study.
    assert_eq!(cfg.train.lr, 3e-4);
    assert_eq!(cfg.train.warmup_steps, 0);
    assert_eq!(cfg.train.epochs, 2);
    assert_eq!(cfg.train.batch_size, 5);
    assert_eq!(
        (
            cfg.train.lora_r,
            cfg.train.lora_alpha,
            cfg.train.lora_dropout
        ),
        (8, 16.0, 0.05)
    );
    assert_eq!(cfg.generate.samples, 30);
    assert_eq!(cfg.generate.temperature, 0.8);
    assert_eq!(cfg.generate.top_p, 0.9);
    assert_eq!(cfg.generate.max_new_tokens, 100);
    assert_eq!(cfg.generate.humaneval_samples, 10);
    assert_eq!(cfg.size_study.as_ref().unwrap().epochs, 4);
    let codegen = cfg.models.iter().find(|m| m.name == "CodeGen2-7B").unwrap();
    assert_eq!(
        codegen.ia3_targets.as_deref().unwrap(),
        ["qkv_proj", "fc_in", "fc_out"]
    );
    let llama = cfg
        .models
        .iter()
        .find(|m| m.name == "CodeLlama-7B")
        .unwrap();
    assert_eq!(
        llama.ia3_targets.as_deref().unwrap(),
        [
            "q_proj",
            "k_proj",
            "v_proj",
            "gate_proj",
            "up_proj",
            "down_proj"
        ]
    );
    // 2 models × (base + 2 methods × 4 granularities + 3 sizes).
    assert_eq!(cfg.cells().len(), 2 * (1 + 8 + 3));

    // Its placeholders are refused with the fix, not run.
    let err = StudyConfig::load(&root().join("configs/study-paper.toml")).unwrap_err();
    assert!(err.to_string().contains("placeholder"), "{err}");
    // The tiny profile loads as shipped.
    let tiny = StudyConfig::load(&root().join("configs/study-tiny.toml")).unwrap();
    assert!(tiny.cells().len() >= 6);
}

#[test]
fn sampling_settings_out_of_range_are_refused_at_load() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tiny_config(tmp.path());
    let text = std::fs::read_to_string(&config).unwrap();
    for (from, to) in [
        ("temperature = 0.8", "temperature = -0.5"),
        ("top_p = 0.9", "top_p = 0.0"),
        ("top_p = 0.9", "top_p = 1.2"),
    ] {
        assert!(text.contains(from));
        let bad = tmp.path().join("bad.toml");
        std::fs::write(&bad, text.replace(from, to)).unwrap();
        let err = StudyConfig::load(&bad).unwrap_err().to_string();
        assert!(
            err.contains("bad.toml") && err.contains("temperature must be ≥ 0"),
            "{to}: {err}"
        );
    }
}
