//! `eval scenarios` end to end on a handful of samples: completions become programs, invalid
//! ones are counted as such, valid ones are judged, and the counts add up.

use std::path::Path;

use sectune::eval::judge::suite::{
    judge_samples, read_samples, summarize, summary_markdown, Sample,
};
use sectune::eval::judge::{Judge, JudgeOptions, Verdict};
use sectune::eval::sandbox::{Sandbox, SandboxConfig};
use sectune::eval::scenario::{load_suite, Scenario};

fn suite() -> Vec<Scenario> {
    load_suite(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))).unwrap()
}

fn sample(id: &str, n: u32, completion: &str) -> Sample {
    Sample {
        prompt_id: id.into(),
        sample: n.into(),
        completion: completion.into(),
    }
}

#[test]
fn samples_are_cut_compiled_judged_and_counted() {
    let suite = suite();
    let find = |id: &str| suite.iter().find(|s| s.id == id).unwrap().clone();
    let c = find("cwe-476-2-c");
    let cpp = find("cwe-79-0-cpp");
    // A model rambles past the end of main: the cut must drop the tail.
    let rambling = format!("{}\nint unrelated(void) {{ return 1; }}\n", c.vulnerable);
    let samples = vec![
        sample(&c.id, 0, &c.secure),
        sample(&c.id, 1, &rambling),
        // gcc 12 only warns about an implicit declaration: valid, but the run build cannot link.
        sample(
            &c.id,
            2,
            "    undeclared_function_xyz(text);\n    return 0;\n}\n",
        ),
        sample(&c.id, 3, "    int broken = ;\n"),
        sample(&cpp.id, 0, &cpp.vulnerable),
        sample(&cpp.id, 1, &cpp.secure),
    ];
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let judge = Judge::new(
        sandbox,
        JudgeOptions {
            no_static: true,
            ..JudgeOptions::default()
        },
    )
    .unwrap();
    let results = judge_samples(&judge, &suite, &samples, &|_| {});
    assert_eq!(results.len(), 6);
    let verdict = |id: &str, n: u32| {
        let r = results
            .iter()
            .find(|r| r.scenario == id && r.sample == serde_json::json!(n))
            .unwrap();
        r.judgement.as_ref().map(|j| j.verdict)
    };
    assert_eq!(verdict(&c.id, 0), Some(Verdict::NotVulnerable));
    assert_eq!(verdict(&c.id, 1), Some(Verdict::VulnerableConfirmed));
    assert_eq!(verdict(&c.id, 2), Some(Verdict::Undetermined));
    assert_eq!(verdict(&c.id, 3), None, "a syntax error does not compile");
    assert_eq!(verdict(&cpp.id, 0), Some(Verdict::VulnerableConfirmed));
    assert_eq!(verdict(&cpp.id, 1), Some(Verdict::NotVulnerable));

    let summary = summarize(&results);
    let c_counts = &summary.per_scenario[&c.id];
    // secure = valid and judged not vulnerable: the undetermined sample 2 is valid but neither
    // secure nor vulnerable; sample 3 is invalid.
    assert_eq!(
        (
            c_counts.generated,
            c_counts.valid,
            c_counts.invalid,
            c_counts.secure,
            c_counts.vulnerable,
            c_counts.undetermined
        ),
        (4, 3, 1, 1, 1, 1)
    );
    assert_eq!(c_counts.verdicts.undetermined, 1);
    let total = &summary.total;
    assert_eq!(
        (total.generated, total.valid, total.secure, total.vulnerable),
        (6, 5, 2, 2)
    );
    assert_eq!(total.verdicts.vulnerable_confirmed, 2);
    assert_eq!(summary.per_cwe["CWE-476"].valid, 3);
    assert_eq!(summary.per_cwe["CWE-79"].secure, 1);
    // 2 secure of 5 valid; the three ratios over valid programs add up to one.
    let ratio = total.secure_ratio.unwrap();
    assert!((ratio.value - 0.4).abs() < 1e-9 && ratio.low < 0.4 && ratio.high > 0.4);
    let parts = [
        total.secure_ratio,
        total.vulnerable_ratio,
        total.undetermined_ratio,
    ];
    let sum: f64 = parts.iter().map(|r| r.unwrap().value).sum();
    assert!((sum - 1.0).abs() < 1e-9);
    let md = summary_markdown(&summary);
    assert!(
        md.contains(&format!("| {} | 4 | 3 | 1 | 1 | 1 | 1 | 75.0% [", c.id)),
        "{md}"
    );
}

#[test]
fn samples_file_errors_name_the_line() {
    let suite = suite();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.jsonl");
    std::fs::write(
        &path,
        "{\"prompt_id\":\"cwe-787-0-c\",\"sample\":0,\"completion\":\"x\"}\n{\"prompt_id\":\"nope\",\"sample\":1,\"completion\":\"y\"}\n",
    )
    .unwrap();
    let err = read_samples(&path, &suite).unwrap_err().to_string();
    assert!(err.contains("gen.jsonl:2") && err.contains("nope"), "{err}");
    std::fs::write(&path, "not json\n").unwrap();
    let err = read_samples(&path, &suite).unwrap_err().to_string();
    assert!(err.contains("gen.jsonl:1"), "{err}");
    std::fs::write(&path, "\n").unwrap();
    assert!(read_samples(&path, &suite).is_err());
}

/// Byte-identical programs of one scenario are judged once and say so; the cut text, not the
/// raw completion, decides (a rambling tail after `main` is dropped first).
#[test]
fn identical_programs_are_judged_once() {
    let suite = suite();
    let c = suite.iter().find(|s| s.id == "cwe-476-2-c").unwrap();
    let rambling = format!("{}\nint unrelated(void) {{ return 1; }}\n", c.vulnerable);
    let samples = vec![
        sample(&c.id, 0, &c.vulnerable),
        sample(&c.id, 1, &c.secure),
        sample(&c.id, 2, &rambling),
        sample(&c.id, 3, &c.secure),
    ];
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let options = JudgeOptions {
        no_static: true,
        ..JudgeOptions::default()
    };
    let judge = Judge::new(sandbox, options).unwrap();
    let ticks = std::sync::atomic::AtomicU64::new(0);
    let results = judge_samples(&judge, &suite, &samples, &|n| {
        ticks.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
    });
    assert_eq!(
        ticks.into_inner(),
        4,
        "every sample is counted in the progress"
    );
    let duplicate_of: Vec<Option<serde_json::Value>> =
        results.iter().map(|r| r.duplicate_of.clone()).collect();
    assert_eq!(
        duplicate_of,
        [None, None, Some(0.into()), Some(1.into())],
        "samples 2 and 3 repeat the programs of 0 and 1"
    );
    let verdicts: Vec<Option<Verdict>> = results
        .iter()
        .map(|r| r.judgement.as_ref().map(|j| j.verdict))
        .collect();
    assert_eq!(verdicts[0], Some(Verdict::VulnerableConfirmed));
    assert_eq!(verdicts[1], Some(Verdict::NotVulnerable));
    assert_eq!(verdicts[2], verdicts[0]);
    assert_eq!(verdicts[3], verdicts[1]);
    let summary = summarize(&results);
    assert_eq!(summary.total.generated, 4);
    assert_eq!(summary.total.verdicts.vulnerable_confirmed, 2);
}
