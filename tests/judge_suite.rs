//! Acceptance test for the judge over the whole shipped suite: every vulnerable reference is
//! flagged and every secure reference passes (both behave on the benign cases).
//!
//! The test needs gcc/g++ with AddressSanitizer; it runs the static ensemble with whatever
//! analyzers are installed (scripts/install-analyzers.sh) and records which ones ran.

use std::path::Path;

use rayon::prelude::*;
use sectune::eval::judge::{Judge, JudgeOptions, Verdict};
use sectune::eval::program::{self, Cut};
use sectune::eval::sandbox::{Sandbox, SandboxConfig};
use sectune::eval::scenario::{load_suite, Language, SUITE_CWES};

fn suite_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios"))
}

#[test]
fn suite_covers_every_cwe_twice_per_language() {
    let scenarios = load_suite(suite_dir()).expect("the shipped suite loads");
    for language in [Language::C, Language::Cpp] {
        let count = scenarios.iter().filter(|s| s.language == language).count();
        assert!(
            count >= 26,
            "{count} {language:?} scenarios, want at least 26"
        );
        for cwe in SUITE_CWES {
            let per_cwe = scenarios
                .iter()
                .filter(|s| s.language == language && s.cwe == cwe)
                .count();
            assert!(
                per_cwe >= 2,
                "CWE-{cwe} has {per_cwe} {language:?} scenarios"
            );
        }
    }
}

/// The completion rule must turn prompt + reference completion into exactly the reference
/// program: nothing of the function dropped (e.g. when the prompt leaves a loop open inside
/// `main`), nothing appended.
#[test]
fn completion_rule_keeps_every_reference_program_whole() {
    let scenarios = load_suite(suite_dir()).expect("the shipped suite loads");
    let mut wrong = Vec::new();
    for scenario in &scenarios {
        for (secure, completion) in [(true, &scenario.secure), (false, &scenario.vulnerable)] {
            let program = program::complete(&scenario.prompt, completion);
            let closed_whole = program.cut
                == Cut::Closed {
                    dropped_bytes: 0,
                    closers_added: 0,
                };
            if program.text != scenario.reference_program(secure) || !closed_whole {
                wrong.push(format!(
                    "{} secure={secure}: {:?}",
                    scenario.id, program.cut
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "cut differs:\n{}", wrong.join("\n"));
}

#[test]
fn judge_flags_every_vulnerable_reference_and_passes_every_secure_one() {
    let scenarios = load_suite(suite_dir()).expect("the shipped suite loads");
    let sandbox = Sandbox::new(SandboxConfig::default()).expect("sandbox starts");
    let judge = Judge::new(sandbox, JudgeOptions::default()).expect("judge starts");
    let tools: Vec<String> = judge
        .analyzers()
        .tools
        .iter()
        .map(|t| format!("{}: {}", t.name, t.version.as_deref().unwrap_or("missing")))
        .collect();
    eprintln!("analyzers: {tools:?}");
    eprintln!("sandbox: {}", judge.sandbox().layers().summary());
    let jobs: Vec<(usize, bool)> = (0..scenarios.len())
        .flat_map(|i| [(i, true), (i, false)])
        .collect();
    let results: Vec<(usize, bool, Verdict, String)> = jobs
        .par_iter()
        .map(|&(i, secure)| {
            let scenario = &scenarios[i];
            // Judged as a model's sample is: through the completion rule.
            let completion = if secure {
                &scenario.secure
            } else {
                &scenario.vulnerable
            };
            let program = program::complete(&scenario.prompt, completion);
            let judgement = judge.judge(scenario, &program.text).expect("judging runs");
            let detail = serde_json::to_string(&judgement.evidence).unwrap_or_default();
            (i, secure, judgement.verdict, detail)
        })
        .collect();
    let mut failures = Vec::new();
    let mut confirmed = 0;
    for (i, secure, verdict, detail) in &results {
        let id = &scenarios[*i].id;
        if *secure && *verdict != Verdict::NotVulnerable {
            failures.push(format!("{id} secure: {verdict:?} {detail}"));
        }
        if !*secure && !verdict.is_vulnerable() {
            failures.push(format!("{id} vulnerable: {verdict:?} {detail}"));
        }
        if !*secure && *verdict == Verdict::VulnerableConfirmed {
            confirmed += 1;
        }
    }
    eprintln!(
        "{} programs judged; {confirmed} vulnerable references confirmed dynamically",
        results.len()
    );
    assert!(
        failures.is_empty(),
        "judge disagrees with the references:\n{}",
        failures.join("\n")
    );
    // Dynamic confirmation is the point of the suite: every vulnerable reference must be
    // caught by an attack, not only by a static tool.
    assert_eq!(confirmed, scenarios.len());
}
