//! `sectune dataset subsets | stats | contamination`, and the CLI end to end.

mod dataset_fixtures;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use dataset_fixtures::*;
use sectune::data::contamination::{check, load_scenarios};
use sectune::data::pipeline::{build, BuildOptions, SourceSpec};
use sectune::data::record::Record;
use sectune::data::{stats, subsets, Granularity, Lang, Side, SourceKind};

/// `n` single-file commits; even ones CWE-119, odd ones CWE-79. Commit i changes one line.
fn jsonl_data(dir: &Path, n: usize) -> PathBuf {
    let mut text = String::new();
    for i in 0..n {
        let row = serde_json::json!({
            "commit": format!("{:040x}", 0x5eed00 + i), "file_path": format!("f{i}.c"),
            "repository": format!("https://example.org/r{}", i % 3),
            "cwe_ids": [if i % 2 == 0 { "CWE-119" } else { "CWE-79" }], "cve_ids": [format!("CVE-2023-{:04}", 2000 + i)],
            "before": format!("int f{i}(void)\n{{\n  return 0;\n}}\n"),
            "after": format!("int f{i}(void)\n{{\n  return {i} + 1;\n}}\n"),
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    let jsonl = dir.join("in.jsonl");
    std::fs::write(&jsonl, text).unwrap();
    let out = dir.join("data");
    build(&BuildOptions {
        sources: vec![SourceSpec {
            kind: SourceKind::Jsonl,
            path: jsonl,
            commits_file: None,
        }],
        out: out.clone(),
        granularities: Granularity::ALL.to_vec(),
        languages: vec![Lang::C, Lang::Cpp],
        cwes: Vec::new(),
        side: Side::Fixed,
        train_fraction: 0.8,
        seed: 1,
        strict: false,
        force: false,
    })
    .unwrap();
    out
}

fn commits_in(folder: &Path) -> BTreeSet<String> {
    let mut set = BTreeSet::new();
    for split in ["train", "validation"] {
        let text = std::fs::read_to_string(folder.join(format!("{split}-file.jsonl"))).unwrap();
        set.extend(
            text.lines()
                .map(|l| serde_json::from_str::<Record>(l).unwrap().commit),
        );
    }
    set
}

#[test]
fn subsets_are_nested_seeded_and_of_one_cwe() {
    let tmp = tempfile::tempdir().unwrap();
    let data = jsonl_data(tmp.path(), 50); // 25 commits with CWE-119
    let out = tmp.path().join("subsets");
    let made = subsets::build(&data, &["CWE-119".into()], 10, 3, &out, false).unwrap();
    let sizes: Vec<(usize, usize)> = made.iter().map(|s| (s.commits, s.files)).collect();
    assert_eq!(sizes, vec![(10, 10), (20, 20), (25, 25)]);
    let sets: Vec<BTreeSet<String>> = made
        .iter()
        .map(|s| commits_in(&out.join(&s.folder)))
        .collect();
    assert_eq!(
        sets.iter().map(BTreeSet::len).collect::<Vec<_>>(),
        vec![10, 20, 25]
    );
    assert!(sets[0].is_subset(&sets[1]) && sets[1].is_subset(&sets[2]));
    let even: BTreeSet<String> = (0..50)
        .step_by(2)
        .map(|i| format!("{:040x}", 0x5eed00 + i))
        .collect();
    assert_eq!(sets[2], even);
    // Same seed, same subsets; another seed, another first subset; outputs are not overwritten.
    let again = subsets::build(
        &data,
        &["CWE-119".into()],
        10,
        3,
        &tmp.path().join("again"),
        false,
    )
    .unwrap();
    assert_eq!(again, made);
    let other = subsets::build(
        &data,
        &["CWE-119".into()],
        10,
        4,
        &tmp.path().join("other"),
        false,
    )
    .unwrap();
    assert_ne!(
        commits_in(&tmp.path().join("other").join(&other[0].folder)),
        sets[0]
    );
    assert!(subsets::build(&data, &["CWE-119".into()], 10, 3, &out, false).is_err());
    assert!(subsets::build(
        &data,
        &["CWE-22".into()],
        10,
        3,
        &tmp.path().join("none"),
        false
    )
    .is_err());
}

#[test]
fn stats_count_per_source_and_combined() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("CVEfixes.db");
    write_cvefixes(&db);
    let csv = tmp.path().join("MSR_data_cleaned.csv");
    write_bigvul(&csv, &standard_bigvul_rows());
    let out = tmp.path().join("out");
    build(&BuildOptions {
        sources: vec![
            SourceSpec {
                kind: SourceKind::Cvefixes,
                path: db,
                commits_file: None,
            },
            SourceSpec {
                kind: SourceKind::Bigvul,
                path: csv,
                commits_file: None,
            },
        ],
        out: out.clone(),
        granularities: Granularity::ALL.to_vec(),
        languages: vec![Lang::C, Lang::Cpp],
        cwes: Vec::new(),
        side: Side::Fixed,
        train_fraction: 0.5,
        seed: 9,
        strict: false,
        force: false,
    })
    .unwrap();
    let s = stats::compute(&out).unwrap();
    let cv = &s["cvefixes"];
    assert_eq!(
        (cv.commits, cv.projects, cv.cves, cv.cwes, cv.files),
        (2, 2, 2, 2, 2)
    );
    let items = |st: &stats::SourceStats| -> Vec<u64> {
        ["file", "function", "block", "line"]
            .iter()
            .map(|g| st.items[*g])
            .collect()
    };
    assert_eq!(items(cv), vec![2, 2, 2, 3]);
    let bv = &s["bigvul"];
    assert_eq!(
        (bv.commits, bv.projects, bv.cves, bv.cwes, bv.files),
        (1, 1, 1, 1, 1)
    );
    assert_eq!(items(bv), vec![0, 1, 2, 3]);
    let all = &s["all"];
    assert_eq!(
        (all.commits, all.projects, all.cves, all.cwes, all.files),
        (3, 3, 3, 2, 3)
    );
    assert_eq!(items(all), vec![2, 3, 4, 6]);
    let md = stats::markdown(&s);
    assert!(
        md.contains("| all | 3 | 3 | 3 | 2 | 3 | 2 | 3 | 4 | 6 |"),
        "{md}"
    );
    assert!(md.contains("BigVul rows are functions"));
}

fn scenario(dir: &Path, name: &str, prompt: &str) {
    let folder = dir.join(name);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("scenario.toml"),
        format!("id = \"{name}\"\ncwe = \"CWE-787\"\nlanguage = \"c\"\ndescription = \"d\"\nprompt = \"prompt.c\"\nextra = 1\n"),
    )
    .unwrap();
    std::fs::write(folder.join("prompt.c"), prompt).unwrap();
}

/// Scenario `hit` shares a 12-token run with the copy.c block (laid out differently);
/// scenario `miss` shares only short runs.
fn contamination_fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let scenarios = dir.join("scenarios");
    scenario(&scenarios, "hit", "#include <string.h>\n// copy\nvoid g(char*dst,const char*src,int n){\n  if(n>0){if(n>cap)\n return -1;\n");
    scenario(&scenarios, "miss", "int main(void)\n{\n    return 0;\n}\n");
    let db = dir.join("CVEfixes.db");
    write_cvefixes(&db);
    let out = dir.join("data");
    build(&BuildOptions {
        sources: vec![SourceSpec {
            kind: SourceKind::Cvefixes,
            path: db,
            commits_file: None,
        }],
        out: out.clone(),
        granularities: vec![Granularity::Block],
        languages: vec![Lang::C, Lang::Cpp],
        cwes: Vec::new(),
        side: Side::Fixed,
        train_fraction: 1.0,
        seed: 1,
        strict: false,
        force: false,
    })
    .unwrap();
    (scenarios, out)
}

#[test]
fn contamination_reports_hits_with_both_locations_and_misses() {
    let tmp = tempfile::tempdir().unwrap();
    let (scenarios, data) = contamination_fixture(tmp.path());
    let loaded = load_scenarios(&scenarios).unwrap();
    assert_eq!(
        loaded.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        vec!["hit", "miss"]
    );
    assert_eq!(loaded[0].cwe, "CWE-787");
    let hits = check(&loaded, &data, 10).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    let h = &hits[0];
    assert_eq!(h.scenario, "hit");
    assert_eq!(h.prompt_line, 4);
    assert_eq!(h.commit, SHA_A);
    assert_eq!(h.file_path, "src/copy.c");
    assert_eq!(h.item_line, 7, "the block starts at line 7 of copy.c");
    assert_eq!(h.data_record, 1);
    // `if ( n > 0 ) { if ( n > cap ) return - 1 ;` = 17 tokens.
    assert_eq!(h.tokens, 17);
    assert!(h.excerpt.starts_with("if ( n > 0 )"));
    // Longer n than the shared run: no hit.
    assert!(check(&loaded, &data, 18).unwrap().is_empty());
}

fn sectune(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sectune"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn cli_contamination_exit_code_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let (scenarios, data) = contamination_fixture(tmp.path());
    let (s, d) = (scenarios.to_str().unwrap(), data.to_str().unwrap());
    let failing = sectune(&[
        "dataset",
        "contamination",
        "--scenarios",
        s,
        "--data",
        d,
        "--n",
        "10",
    ]);
    assert!(!failing.status.success());
    assert!(String::from_utf8_lossy(&failing.stderr).contains("overlap the evaluation prompts"));
    let report = tmp.path().join("hits.json");
    let ok = sectune(&[
        "dataset",
        "contamination",
        "--scenarios",
        s,
        "--data",
        d,
        "--report-only",
        "--report",
        report.to_str().unwrap(),
    ]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let hits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(hits.as_array().unwrap().len(), 1);
    let miss = sectune(&[
        "dataset",
        "contamination",
        "--scenarios",
        s,
        "--data",
        d,
        "--n",
        "40",
    ]);
    assert!(miss.status.success());
}

#[test]
fn cli_build_stats_and_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("CVEfixes.db");
    write_cvefixes(&db);
    let out = tmp.path().join("out");
    let (db_s, out_s) = (db.to_str().unwrap(), out.to_str().unwrap());
    let built = sectune(&[
        "dataset",
        "build",
        "--cvefixes",
        db_s,
        "--out",
        out_s,
        "--granularity",
        "file,line",
        "--cwe",
        "119",
        "--seed",
        "5",
    ]);
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    assert!(out.join("train-line.jsonl").exists() && !out.join("train-block.jsonl").exists());
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["cwe_filter"], serde_json::json!(["CWE-119"]));
    assert_eq!(manifest["seed"], 5);
    let again = sectune(&["dataset", "build", "--cvefixes", db_s, "--out", out_s]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    let strict = sectune(&[
        "dataset",
        "build",
        "--cvefixes",
        db_s,
        "--out",
        tmp.path().join("s").to_str().unwrap(),
        "--strict",
    ]);
    assert!(String::from_utf8_lossy(&strict.stderr).contains("bad commit hash"));
    let bad_cwe = sectune(&[
        "dataset",
        "build",
        "--cvefixes",
        db_s,
        "--out",
        out_s,
        "--cwe",
        "buffer",
    ]);
    assert!(String::from_utf8_lossy(&bad_cwe.stderr).contains("not a CWE id"));
    let stats = sectune(&["dataset", "stats", "--data", out_s, "--format", "json"]);
    let parsed: serde_json::Value = serde_json::from_slice(&stats.stdout).unwrap();
    assert_eq!(parsed["all"]["commits"], 1);
    let missing = sectune(&[
        "dataset",
        "build",
        "--bigvul",
        tmp.path().join("nope.csv").to_str().unwrap(),
        "--out",
        out_s,
        "--force",
    ]);
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.csv"));
}
