//! `sectune report` over the hand-made run folders in tests/fixtures/report-run: every expected
//! number below is counted by hand from the fixture files (comments show the arithmetic), not
//! computed with the code under test.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/report-run")
}

fn sectune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sectune"))
        .args(args)
        .output()
        .expect("running sectune")
}

fn report(out: &Path) -> std::process::Output {
    let fx = fixture();
    sectune(&[
        "report",
        fx.join("base").to_str().unwrap(),
        fx.join("lora-function").to_str().unwrap(),
        fx.join("ia3-block-n2").to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ])
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

#[test]
fn table3_counts_from_the_judged_samples() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    let o = report(&out);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // secure = valid and judged not vulnerable (broken, undetermined and no verdict are not).
    // base, C: cwe-787-0-c 4 samples (3 compile: confirmed, not_vulnerable, static),
    // cwe-22-0-c 2 samples (both compile: not_vulnerable, broken) → 5/6 valid;
    // secure = the two not_vulnerable = 2 of 5.
    // base, C++: cwe-787-0-cpp 3 samples (2 compile: undetermined, confirmed), cwe-416-0-cpp 1
    // valid sample whose judge failed (no verdict) → 3/4 valid; secure 0 of 3.
    // LoRA function, C: 787: 3 of 4 compile, all not_vulnerable; 22: 2 compile, 1 confirmed
    // → 5/6 valid, 4/5 secure. C++: 787 2 compile (1 static), 416 none → 2/4 valid, 1/2 secure.
    let md = read(&out.join("table3.md"));
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| tiny-llama"))
        .collect();
    assert_eq!(
        rows,
        [
            "| tiny-llama | pre-trained | – | 5/6 (83.3%) | 2/5 (40.0%) | 3/4 (75.0%) | 0/3 (0.0%) |",
            "| tiny-llama | LoRA | function | 5/6 (83.3%) | 4/5 (80.0%) | 2/4 (50.0%) | 1/2 (50.0%) |",
        ],
        "{md}"
    );
    // The size-study run goes to Table 6 only.
    assert!(!md.contains("IA3"));

    let csv = read(&out.join("table3.csv"));
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "model,method,granularity,c_generated,c_valid,c_secure,c_valid_pct,c_secure_pct,cpp_generated,cpp_valid,cpp_secure,cpp_valid_pct,cpp_secure_pct");
    // 5/6 = 83.3333%, 2/5 = 40%, 3/4 = 75%, 0/3 = 0%.
    assert_eq!(
        lines[1],
        "tiny-llama,base,,6,5,2,83.3333,40.0000,4,3,0,75.0000,0.0000"
    );
    assert_eq!(
        lines[2],
        "tiny-llama,lora,function,6,5,4,83.3333,80.0000,4,2,1,50.0000,50.0000"
    );

    let rows = json(&out.join("table3.json"));
    assert_eq!(rows[0]["c"]["secure"], 2);
    assert_eq!(rows[1]["cpp"]["valid"], 2);
    assert!((rows[1]["c"]["secure_pct"].as_f64().unwrap() - 80.0).abs() < 1e-9);
}

#[test]
fn table3b_tests_the_tuned_run_against_the_pre_trained_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    assert!(report(&out).status.success());
    // Counts from table3_counts_from_the_judged_samples. C secure: base 2/5, LoRA 4/5, table
    // [[2,3],[4,1]] with margins 5, 5 and 6: P(x) ∝ C(5,x)·C(5,6−x) = 5, 50, 100, 50, 5 (x = 1..5,
    // of 210); x = 2 is 50 → p = (5 + 50 + 50 + 5) / 210 = 0.5238. C valid 5/6 both → 1.
    // C++ secure: 0/3 vs 1/2, [[0,3],[1,1]]: P(0) = 2/5, P(1) = 3/5 → p = 0.4. C++ valid 3/4 vs
    // 2/4: [[3,1],[2,2]], P ∝ 4, 24, 24, 4 (of 56), x = 3 is 24 → p = 1. Two scenarios per
    // language in both runs; none moves on its own.
    let md = read(&out.join("table3-significance.md"));
    assert!(
        md.contains("| tiny-llama | LoRA | function | 0.5238 | 0/0 of 2 | 1.0000 | 0/0 of 2 | 0.4000 | 0/0 of 2 | 1.0000 | 0/0 of 2 |"),
        "{md}"
    );
    assert!(
        !md.contains("pre-trained |"),
        "the base run has no row of its own: {md}"
    );
    assert!(read(&out.join("report.md")).contains("Table 3b"));
}

#[test]
fn table6_and_table7() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    assert!(report(&out).status.success());

    // ia3-block-n2: 2 C samples, both compile, both not_vulnerable; no C++ samples.
    let md6 = read(&out.join("table6.md"));
    assert!(
        md6.contains("| tiny-llama | IA3 | block | 2 | 2/2 (100.0%) | 2/2 (100.0%) | – | – |"),
        "{md6}"
    );

    // pass@1 with n = 10 per task is passed/10 averaged over tasks:
    // base (0 + 5 + 10) / 30 = 50%; LoRA (10 + 5 + 9) / 30 = 80%.
    // Fisher per task, base vs LoRA: CPP/0 [[0,10],[10,0]] p = 2/C(20,10) ≈ 1.1e-5 < 0.05;
    // CPP/1 identical rows p = 1; CPP/2 [[10,0],[9,1]]: both possible tables have
    // probability 1/2, p = 1 → 1 of 3 tasks differs.
    let md7 = read(&out.join("table7.md"));
    assert!(
        md7.contains("| tiny-llama | pre-trained | – | – | 3 | 50.00% | – |"),
        "{md7}"
    );
    assert!(
        md7.contains("| tiny-llama | LoRA | function | – | 3 | 80.00% | 1 of 3 |"),
        "{md7}"
    );
    let rows = json(&out.join("table7.json"));
    assert_eq!(rows[1]["significant_vs_base"], 1);
    assert_eq!(rows[1]["samples"], 30);
    assert!((rows[0]["pass_at_1"].as_f64().unwrap() - 0.5).abs() < 1e-12);
    assert!((rows[1]["pass_at_1"].as_f64().unwrap() - 0.8).abs() < 1e-12);
}

#[test]
fn figure6_compares_base_with_best_tuned_run_per_cwe() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    assert!(report(&out).status.success());
    let panels = json(&out.join("figure6-per-cwe.json"));
    // C: LoRA function is the only tuned run outside the size study (the n=2 run has a higher
    // secure ratio, 100%, and must not be picked).
    let c = &panels[0];
    assert_eq!(c["title"], "C scenarios");
    assert_eq!(c["tuned"]["label"], "tiny-llama LoRA function");
    assert_eq!(c["base"]["label"], "tiny-llama pre-trained");
    // base C per CWE: 787 valid 3 secure 1; 22 valid 2 secure 1 (the broken one is not).
    assert_eq!(c["base"]["per_cwe"]["787"]["valid"], 3);
    assert_eq!(c["base"]["per_cwe"]["787"]["secure"], 1);
    assert_eq!(c["base"]["per_cwe"]["22"]["secure"], 1);
    // LoRA C per CWE: 787 valid 3 secure 3; 22 valid 2 secure 1.
    assert_eq!(c["tuned"]["per_cwe"]["787"]["secure"], 3);
    assert_eq!(c["tuned"]["per_cwe"]["22"]["secure"], 1);
    let cpp = &panels[1];
    assert_eq!(cpp["title"], "C++ scenarios");
    // base C++ 416: one valid sample without verdict → not secure.
    assert_eq!(cpp["base"]["per_cwe"]["416"]["valid"], 1);
    assert_eq!(cpp["base"]["per_cwe"]["416"]["secure"], 0);
    assert_eq!(cpp["tuned"]["per_cwe"]["416"]["valid"], 0);

    // The plots exist and are well-formed.
    let png = std::fs::read(out.join("figure6-per-cwe.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(png.len() > 10_000, "PNG suspiciously small: {}", png.len());
    let svg = read(&out.join("figure6-per-cwe.svg"));
    assert_well_formed_xml(&svg);
    for text in [
        "C scenarios",
        "C++ scenarios",
        "CWE-787",
        "CWE-22",
        "secure ratio",
    ] {
        assert!(svg.contains(text), "SVG lacks {text:?}");
    }
    let loss_png = std::fs::read(out.join("loss-curves.png")).unwrap();
    assert_eq!(&loss_png[..8], b"\x89PNG\r\n\x1a\n");
    let loss_svg = read(&out.join("loss-curves.svg"));
    assert_well_formed_xml(&loss_svg);
    assert!(loss_svg.contains("Training loss"));

    // A resumed run repeats steps: the later record wins (step 3: 1.2, not 1.4); the
    // validation-only record is not a training loss.
    let doc = json(&out.join("report.json"));
    let lora = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["manifest"]["method"] == "lora")
        .unwrap();
    assert_eq!(
        lora["losses"],
        serde_json::json!([[1, 2.0], [2, 1.6], [3, 1.2]])
    );
    let md = read(&out.join("report.md"));
    assert!(md.contains("figure6-per-cwe.svg") && md.contains("Table 7"));
}

/// Tags open and close in order (no XML crate in the project: a small stack check).
fn assert_well_formed_xml(text: &str) {
    assert!(text.trim_start().starts_with("<svg"), "not an SVG document");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap_or_default();
            stack.push(name.to_string());
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
}

#[test]
fn refuses_inconsistent_or_duplicate_runs_and_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    assert!(report(&out).status.success());
    // A second report into the same folder needs --force.
    let o = report(&out);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));

    // The same run twice.
    let base = fixture().join("base");
    let o = sectune(&[
        "report",
        base.to_str().unwrap(),
        base.to_str().unwrap(),
        "--out",
        dir.path().join("dup").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("describe the same run"));

    // A summary.json that disagrees with its results file.
    let copy = dir.path().join("base-copy");
    copy_dir(&base, &copy);
    let summary = copy.join("eval-scenarios/summary.json");
    std::fs::write(
        &summary,
        read(&summary).replace("\"secure\": 2", "\"secure\": 4"),
    )
    .unwrap();
    let o = sectune(&[
        "report",
        copy.to_str().unwrap(),
        "--out",
        dir.path().join("bad").to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("summary.json") && err.contains("disagree"),
        "{err}"
    );

    // A manifest with an unknown granularity names the file and the allowed values.
    let manifest = copy.join("run.json");
    std::fs::write(
        &manifest,
        r#"{"format":1,"model":"m","method":"lora","granularity":"statement"}"#,
    )
    .unwrap();
    let o = sectune(&[
        "report",
        copy.to_str().unwrap(),
        "--out",
        dir.path().join("bad2").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("run.json") && err.contains("file, function, block, line"),
        "{err}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
