//! `sectune dataset build` on fixtures in the real layouts: items per granularity, skips,
//! de-dup, filters, split, determinism.

mod dataset_fixtures;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use dataset_fixtures::*;
use sectune::data::pipeline::{build, BuildOptions, Manifest, SourceSpec};
use sectune::data::record::Record;
use sectune::data::{DataError, Granularity, Lang, Side, SourceKind};

fn options(out: &Path, sources: Vec<SourceSpec>) -> BuildOptions {
    BuildOptions {
        sources,
        out: out.to_path_buf(),
        granularities: Granularity::ALL.to_vec(),
        languages: vec![Lang::C, Lang::Cpp],
        cwes: Vec::new(),
        side: Side::Fixed,
        train_fraction: 1.0,
        seed: 42,
        strict: false,
        force: false,
    }
}

fn source(kind: SourceKind, path: &Path) -> SourceSpec {
    SourceSpec {
        kind,
        path: path.to_path_buf(),
        commits_file: None,
    }
}

fn read(out: &Path, split: &str, g: &str) -> Vec<Record> {
    let text = std::fs::read_to_string(out.join(format!("{split}-{g}.jsonl"))).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn all_items(out: &Path, g: &str) -> Vec<Record> {
    let mut v = read(out, "train", g);
    v.extend(read(out, "validation", g));
    v
}

fn lines_of(code: &str, from: u32, to: u32) -> String {
    code.split('\n')
        .skip(from as usize - 1)
        .take((to - from + 1) as usize)
        .collect::<Vec<_>>()
        .join("\n")
}

fn cvefixes_db(dir: &Path) -> PathBuf {
    let db = dir.join("CVEfixes.db");
    write_cvefixes(&db);
    db
}

fn build_cvefixes(dir: &Path) -> (PathBuf, Manifest) {
    let db = cvefixes_db(dir);
    let out = dir.join("out");
    let manifest = build(&options(&out, vec![source(SourceKind::Cvefixes, &db)])).unwrap();
    (out, manifest)
}

#[test]
fn cvefixes_file_items_are_the_fixed_files() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, manifest) = build_cvefixes(tmp.path());
    let files = read(&out, "train", "file");
    assert_eq!(files.len(), 2);
    let c = &files[0];
    assert_eq!(c.text, COPY_C_AFTER);
    assert_eq!(c.commit, SHA_A);
    assert_eq!(c.repository, "https://github.com/o/alpha");
    assert_eq!(c.file_path, "src/copy.c");
    assert_eq!(c.cwe_ids, vec!["CWE-119"]);
    assert_eq!(c.cve_ids, vec!["CVE-2020-0001"]);
    assert_eq!(c.language, "C");
    assert_eq!(c.changed_lines, vec![8, 9]);
    assert_eq!(c.source, "cvefixes");
    assert_eq!((c.start_line, c.end_line), (None, None));
    let cpp = &files[1];
    assert_eq!(
        (cpp.language.as_str(), cpp.file_path.as_str()),
        ("C++", "lib/buf.hpp")
    );
    assert_eq!(
        cpp.changed_lines,
        vec![4],
        "a pure deletion lands on the next new-file line"
    );
    assert_eq!(cpp.cwe_ids, vec!["CWE-787"]);
    assert_eq!(manifest.commits.train, 2);
    assert!(read(&out, "validation", "file").is_empty());
}

#[test]
fn cvefixes_function_block_and_line_items() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = build_cvefixes(tmp.path());
    let got = |g: &str| -> Vec<(String, u32, u32, Vec<u32>, String)> {
        read(&out, "train", g)
            .into_iter()
            .map(|r| {
                (
                    r.file_path,
                    r.start_line.unwrap(),
                    r.end_line.unwrap(),
                    r.changed_lines,
                    r.text,
                )
            })
            .collect()
    };
    let c = |from, to, changed: Vec<u32>| {
        (
            "src/copy.c".to_string(),
            from,
            to,
            changed,
            lines_of(COPY_C_AFTER, from, to),
        )
    };
    let cpp = |from, to, changed: Vec<u32>| {
        (
            "lib/buf.hpp".to_string(),
            from,
            to,
            changed,
            lines_of(BUF_CPP_AFTER, from, to),
        )
    };
    assert_eq!(
        got("function"),
        vec![c(5, 13, vec![8, 9]), cpp(3, 5, vec![4])]
    );
    assert_eq!(got("block"), vec![c(7, 11, vec![8, 9]), cpp(3, 5, vec![4])]);
    assert_eq!(
        got("line"),
        vec![c(8, 8, vec![8]), c(9, 9, vec![9]), cpp(4, 4, vec![4])]
    );
    assert_eq!(got("line")[0].4, "        if (n > cap)");
    assert!(got("function")[0].4.starts_with("int copy(char *dst"));
    assert!(got("block")[0].4.starts_with("    if (n > 0) {"));
}

#[test]
fn cvefixes_skips_are_counted_by_reason_and_strict_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, manifest) = build_cvefixes(tmp.path());
    let expected: BTreeMap<String, u64> = [
        ("cvefixes: bad commit hash", 1),
        ("cvefixes: file deleted by the fix", 1),
        ("cvefixes: not C/C++", 1),
        ("cvefixes: unparsable diff", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(manifest.skipped, expected);
    assert_eq!(manifest.sources[0].rows, 6);
    assert_eq!(manifest.sources[0].units, 2);

    let db = tmp.path().join("CVEfixes.db");
    let mut opts = options(
        &tmp.path().join("strict"),
        vec![source(SourceKind::Cvefixes, &db)],
    );
    opts.strict = true;
    match build(&opts) {
        Err(DataError::Malformed { location, reason }) => {
            assert_eq!(reason, "cvefixes: bad commit hash");
            assert!(location.contains("file_change 104"), "{location}");
        }
        other => panic!("expected a malformed-row error, got {other:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(tmp.path().join("strict"))
        .unwrap()
        .collect();
    assert!(
        left.is_empty(),
        "a failed build leaves no temporary files: {left:?}"
    );
}

#[test]
fn missing_cvefixes_table_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let db = tmp.path().join("empty.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("CREATE TABLE fixes (cve_id TEXT)", [])
        .unwrap();
    let err = build(&options(
        &tmp.path().join("o"),
        vec![source(SourceKind::Cvefixes, &db)],
    ))
    .unwrap_err();
    assert!(
        matches!(err, DataError::MissingTable { ref table, .. } if table == "file_change"),
        "{err}"
    );
}

#[test]
fn bigvul_items_come_from_func_after() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("MSR_data_cleaned.csv");
    write_bigvul(&csv, &standard_bigvul_rows()[..1]);
    let out = tmp.path().join("out");
    let manifest = build(&options(&out, vec![source(SourceKind::Bigvul, &csv)])).unwrap();
    assert!(all_items(&out, "file").is_empty());
    assert_eq!(
        manifest
            .not_applicable
            .get("bigvul: no file text (file granularity)"),
        Some(&1)
    );
    let f = all_items(&out, "function");
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].text, PARSE_AFTER);
    assert_eq!((f[0].start_line, f[0].end_line), (Some(1), Some(9)));
    assert_eq!(f[0].changed_lines, vec![4, 5, 6]);
    assert_eq!(f[0].line_numbers, "function");
    assert_eq!(f[0].repository, "https://github.com/o/gamma");
    assert_eq!(
        (f[0].cwe_ids.clone(), f[0].cve_ids.clone()),
        (
            vec!["CWE-119".to_string()],
            vec!["CVE-2019-0003".to_string()]
        )
    );
    let blocks: Vec<(u32, u32, Vec<u32>)> = all_items(&out, "block")
        .into_iter()
        .map(|r| (r.start_line.unwrap(), r.end_line.unwrap(), r.changed_lines))
        .collect();
    assert_eq!(blocks, vec![(1, 9, vec![4]), (4, 6, vec![5, 6])]);
    let lines: Vec<String> = all_items(&out, "line")
        .into_iter()
        .map(|r| r.text)
        .collect();
    assert_eq!(lines, vec!["    if (n > 8) {", "        n = 8;", "    }"]);
}

#[test]
fn bigvul_lines_after_is_used_when_before_equals_after() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("b.csv");
    let mut row = standard_bigvul_rows().remove(0);
    row.before = PARSE_AFTER;
    row.lines_after = "        n = 8;";
    write_bigvul(&csv, &[row]);
    let out = tmp.path().join("out");
    build(&options(&out, vec![source(SourceKind::Bigvul, &csv)])).unwrap();
    let lines: Vec<u32> = all_items(&out, "line")
        .into_iter()
        .map(|r| r.start_line.unwrap())
        .collect();
    assert_eq!(lines, vec![5]);
}

#[test]
fn dedup_across_sources_keeps_the_first_source() {
    let tmp = tempfile::tempdir().unwrap();
    let db = cvefixes_db(tmp.path());
    let csv = tmp.path().join("MSR_data_cleaned.csv");
    write_bigvul(&csv, &standard_bigvul_rows());
    let out = tmp.path().join("out");
    // Given in the "wrong" order on purpose: precedence is fixed, not argument order.
    let manifest = build(&options(
        &out,
        vec![
            source(SourceKind::Bigvul, &csv),
            source(SourceKind::Cvefixes, &db),
        ],
    ))
    .unwrap();
    assert_eq!(
        manifest
            .skipped
            .get("bigvul: duplicate commit (kept from cvefixes)"),
        Some(&1)
    );
    assert_eq!(
        manifest
            .skipped
            .get("bigvul: vul=0 (function not changed by the fix)"),
        Some(&1)
    );
    assert_eq!(manifest.skipped.get("bigvul: vul is not 0 or 1"), Some(&1));
    let functions = all_items(&out, "function");
    let by_source: BTreeSet<(String, String)> = functions
        .iter()
        .map(|r| (r.source.clone(), r.commit.clone()))
        .collect();
    let expected: BTreeSet<(String, String)> =
        [("bigvul", SHA_C), ("cvefixes", SHA_A), ("cvefixes", SHA_B)]
            .into_iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
    assert_eq!(by_source, expected);
    assert_eq!(manifest.commits.train, 3);
}

#[test]
fn cwe_filter_keeps_only_labelled_commits() {
    let tmp = tempfile::tempdir().unwrap();
    let db = cvefixes_db(tmp.path());
    let out = tmp.path().join("out");
    let mut opts = options(&out, vec![source(SourceKind::Cvefixes, &db)]);
    opts.cwes = vec!["CWE-787".into()];
    let manifest = build(&opts).unwrap();
    let files = all_items(&out, "file");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].commit, SHA_B);
    assert_eq!(manifest.skipped.get("cvefixes: CWE not selected"), Some(&1));
}

#[test]
fn language_filter_and_vulnerable_side() {
    let tmp = tempfile::tempdir().unwrap();
    let db = cvefixes_db(tmp.path());
    let out = tmp.path().join("out");
    let mut opts = options(&out, vec![source(SourceKind::Cvefixes, &db)]);
    opts.languages = vec![Lang::C];
    opts.side = Side::Vulnerable;
    opts.granularities = vec![Granularity::File, Granularity::Line];
    build(&opts).unwrap();
    let files = all_items(&out, "file");
    let got: Vec<(&str, &str, Vec<u32>)> = files
        .iter()
        .map(|r| {
            (
                r.file_path.as_str(),
                r.language.as_str(),
                r.changed_lines.clone(),
            )
        })
        .collect();
    // Pure addition of lines 8-9 lands on old line 8 (the memcpy); the file the fix deleted has
    // a vulnerable side; the C++ file is filtered out.
    assert_eq!(
        got,
        vec![("src/copy.c", "C", vec![8]), ("src/old.c", "C", vec![1])]
    );
    assert_eq!(files[0].text, COPY_C_BEFORE);
    assert_eq!(
        all_items(&out, "line")[0].text,
        "        memcpy(dst, src, n);"
    );
    assert!(!out.join("train-block.jsonl").exists());
}

/// JSONL source with `n` commits, each one file whose line 3 changed; commit i gets CWE-119
/// when i is even, CWE-79 otherwise.
fn jsonl_fixture(path: &Path, n: usize) {
    let mut text = String::new();
    for i in 0..n {
        let before = format!("int f{i}(int x)\n{{\n  return x;\n}}\n");
        let after = format!("int f{i}(int x)\n{{\n  return x + {i};\n}}\n");
        let cwe = if i % 2 == 0 { "CWE-119" } else { "79" };
        let row = serde_json::json!({
            "commit": format!("{:040x}", 0xabc000 + i), "file_path": format!("src/f{i}.c"),
            "repository": "https://example.org/r", "cwe_ids": [cwe], "cve_ids": [format!("CVE-2024-{:04}", 1000 + i)],
            "before": before, "after": after,
        });
        text.push_str(&row.to_string());
        text.push('\n');
    }
    text.push_str("{not json}\n");
    std::fs::write(path, text).unwrap();
}

#[test]
fn jsonl_source_items_and_malformed_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("fixes.jsonl");
    jsonl_fixture(&jsonl, 2);
    let out = tmp.path().join("out");
    let manifest = build(&options(&out, vec![source(SourceKind::Jsonl, &jsonl)])).unwrap();
    assert_eq!(manifest.skipped.get("jsonl: invalid record"), Some(&1));
    let lines = all_items(&out, "line");
    assert_eq!(
        lines.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        vec!["  return x + 0;", "  return x + 1;"]
    );
    assert_eq!(lines[1].cwe_ids, vec!["CWE-79"]);
    let blocks = all_items(&out, "block");
    assert_eq!(blocks[0].text, "int f0(int x)\n{\n  return x + 0;\n}");
}

#[test]
fn split_is_by_commit_exact_and_seeded() {
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("fixes.jsonl");
    jsonl_fixture(&jsonl, 150); // more than one parallel batch
    let run = |name: &str, seed: u64| -> PathBuf {
        let out = tmp.path().join(name);
        let mut opts = options(&out, vec![source(SourceKind::Jsonl, &jsonl)]);
        opts.train_fraction = 0.9;
        opts.seed = seed;
        build(&opts).unwrap();
        out
    };
    let (a, b, c) = (run("a", 7), run("b", 7), run("c", 8));
    for g in ["file", "function", "block", "line"] {
        let train: BTreeSet<String> = read(&a, "train", g).into_iter().map(|r| r.commit).collect();
        let val: BTreeSet<String> = read(&a, "validation", g)
            .into_iter()
            .map(|r| r.commit)
            .collect();
        assert_eq!((train.len(), val.len()), (135, 15), "{g}");
        assert!(train.is_disjoint(&val));
    }
    for name in [
        "train-file.jsonl",
        "validation-line.jsonl",
        "train-block.jsonl",
        "manifest.json",
    ] {
        assert_eq!(
            std::fs::read(a.join(name)).unwrap(),
            std::fs::read(b.join(name)).unwrap(),
            "{name}"
        );
    }
    assert_ne!(
        std::fs::read(a.join("validation-file.jsonl")).unwrap(),
        std::fs::read(c.join("validation-file.jsonl")).unwrap()
    );
    let leftovers: Vec<_> = std::fs::read_dir(&a)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind");
}

#[test]
fn existing_outputs_need_force() {
    let tmp = tempfile::tempdir().unwrap();
    let (out, _) = build_cvefixes(tmp.path());
    let db = tmp.path().join("CVEfixes.db");
    let mut opts = options(&out, vec![source(SourceKind::Cvefixes, &db)]);
    assert!(matches!(build(&opts), Err(DataError::OutputExists { .. })));
    opts.force = true;
    build(&opts).unwrap();
}

#[test]
fn git_source_finds_fix_commits_by_message_and_by_list() {
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    let (fix, other) = write_git_repo(&repo);
    let out = tmp.path().join("out");
    let manifest = build(&options(&out, vec![source(SourceKind::Git, &repo)])).unwrap();
    assert_eq!(manifest.skipped.get("git: not C/C++"), Some(&1));
    let files = all_items(&out, "file");
    assert_eq!(files.len(), 1);
    assert_eq!(
        (files[0].commit.as_str(), files[0].file_path.as_str()),
        (fix.as_str(), "copy.c")
    );
    assert_eq!(files[0].text, COPY_C_AFTER);
    assert_eq!(files[0].cve_ids, vec!["CVE-2022-1111"]);
    assert_eq!(files[0].cwe_ids, vec!["CWE-787"]);
    assert_eq!(files[0].repository, "repo");
    let blocks = all_items(&out, "block");
    assert_eq!(
        (
            blocks[0].start_line,
            blocks[0].end_line,
            blocks[0].changed_lines.clone()
        ),
        (Some(7), Some(11), vec![8, 9])
    );

    // A list file: abbreviated SHA with extra ids, an unknown commit, and a commit without C files.
    let list = tmp.path().join("commits.txt");
    std::fs::write(
        &list,
        format!(
            "# fixes\n{} CWE-120\n{}\ndeadbeefdeadbeef\n",
            &fix[..12],
            other
        ),
    )
    .unwrap();
    let out2 = tmp.path().join("out2");
    let spec = SourceSpec {
        kind: SourceKind::Git,
        path: repo.clone(),
        commits_file: Some(list),
    };
    let manifest = build(&options(&out2, vec![spec])).unwrap();
    assert_eq!(
        manifest.skipped.get("git: commit not in repository"),
        Some(&1)
    );
    let files = all_items(&out2, "file");
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0].commit, fix,
        "listed abbreviations resolve to the full SHA"
    );
    assert_eq!(files[0].cwe_ids, vec!["CWE-120", "CWE-787"]);
}

#[test]
fn bigvul_broken_records_and_missing_columns() {
    let tmp = tempfile::tempdir().unwrap();
    let csv = tmp.path().join("MSR_data_cleaned.csv");
    write_bigvul(&csv, &standard_bigvul_rows()[..1]);
    let mut text = std::fs::read_to_string(&csv).unwrap();
    text.push_str("1,2,3\n"); // too few fields
    std::fs::write(&csv, text).unwrap();
    let manifest = build(&options(
        &tmp.path().join("out"),
        vec![source(SourceKind::Bigvul, &csv)],
    ))
    .unwrap();
    assert_eq!(
        manifest.skipped.get("bigvul: unreadable CSV record"),
        Some(&1)
    );
    assert_eq!(manifest.sources[0].units, 1);

    let renamed = tmp.path().join("renamed.csv");
    std::fs::write(&renamed, "commit,func_after\nabc1234,x\n").unwrap();
    let err = build(&options(
        &tmp.path().join("out2"),
        vec![source(SourceKind::Bigvul, &renamed)],
    ))
    .unwrap_err();
    assert!(
        matches!(err, DataError::MissingColumn { ref column, .. } if column == "CVE ID"),
        "{err}"
    );
    assert!(err.to_string().contains("renamed.csv"));
}
