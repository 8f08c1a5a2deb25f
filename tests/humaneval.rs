//! HumanEval-X C++ harness on the shipped tasks (tasks/humaneval-cpp): canonical solutions all
//! pass, empty and known-wrong completions all fail. Needs g++.

use std::path::{Path, PathBuf};

use sectune::eval::humaneval::{self, Sample, Status, Timeouts};
use sectune::eval::passk;
use sectune::eval::sandbox::{Sandbox, SandboxConfig};

fn tasks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tasks/humaneval-cpp")
}

fn pass_at_1(results: &[humaneval::SampleResult]) -> f64 {
    let counts: Vec<(usize, usize)> = humaneval::counts(results).into_values().collect();
    passk::mean_pass_at_k(&counts, 1).expect("every task has a sample")
}

#[test]
fn canonical_pass_and_wrong_or_empty_completions_fail() {
    let problems = humaneval::load_problems(&tasks_dir().join("tasks.jsonl")).unwrap();
    assert!(problems.len() >= 10, "ship at least 10 tasks");
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let timeouts = Timeouts::default();

    let canonical = humaneval::canonical_samples(&problems);
    let results = humaneval::evaluate(&sandbox, &problems, &canonical, timeouts, &|| {}).unwrap();
    let failed: Vec<_> = results
        .iter()
        .filter(|r| r.status != Status::Passed)
        .collect();
    assert!(failed.is_empty(), "canonical solutions failed: {failed:#?}");
    assert_eq!(pass_at_1(&results), 1.0);

    // One plausible wrong completion per task: each task's test must catch it.
    let wrong = humaneval::load_samples(&tasks_dir().join("wrong.jsonl"), &problems).unwrap();
    assert_eq!(wrong.len(), problems.len());
    let results = humaneval::evaluate(&sandbox, &problems, &wrong, timeouts, &|| {}).unwrap();
    let passed: Vec<_> = results
        .iter()
        .filter(|r| r.status == Status::Passed)
        .map(|r| &r.task_id)
        .collect();
    assert!(passed.is_empty(), "wrong solutions passed: {passed:?}");
    assert_eq!(pass_at_1(&results), 0.0);

    // Empty completions (a few tasks, to keep the suite quick): the function body is closed
    // empty, so the program fails to compile or its asserts fail.
    let empty: Vec<Sample> = problems
        .iter()
        .take(3)
        .map(|p| Sample {
            task_id: p.task_id.clone(),
            completion: String::new(),
        })
        .collect();
    let subset: Vec<_> = problems.iter().take(3).cloned().collect();
    let results = humaneval::evaluate(&sandbox, &subset, &empty, timeouts, &|| {}).unwrap();
    assert_eq!(pass_at_1(&results), 0.0, "{results:#?}");
}

#[test]
fn samples_file_errors_name_the_file_and_line() {
    let problems = humaneval::load_problems(&tasks_dir().join("tasks.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"task_id\": \"SectuneCPP/0\", \"generation\": \"x\"}\n{\"task_id\": \"Nope/1\", \"completion\": \"\"}\n").unwrap();
    let err = humaneval::load_samples(&bad, &problems)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.jsonl:2") && err.contains("Nope/1"),
        "{err}"
    );
    std::fs::write(&bad, "{\"task_id\": \"SectuneCPP/0\"}\n").unwrap();
    let err = humaneval::load_samples(&bad, &problems)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bad.jsonl:1") && err.contains("generation"),
        "{err}"
    );
    std::fs::write(&bad, "not json\n").unwrap();
    let err = humaneval::load_samples(&bad, &problems)
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.jsonl:1"), "{err}");
}

/// `sectune generate` names the task `prompt_id`; HumanEval-X names it `task_id`: both are read,
/// a line giving two different ids or none is refused.
#[test]
fn samples_name_their_task_by_task_id_or_prompt_id() {
    let problems = humaneval::load_problems(&tasks_dir().join("tasks.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gen.jsonl");
    std::fs::write(
        &path,
        "{\"prompt_id\": \"SectuneCPP/1\", \"sample\": 0, \"completion\": \"a\", \"tokens\": 3}\n\
         {\"task_id\": \"SectuneCPP/2\", \"generation\": \"b\"}\n\
         {\"task_id\": \"SectuneCPP/3\", \"prompt_id\": \"SectuneCPP/3\", \"completion\": \"c\"}\n",
    )
    .unwrap();
    let samples = humaneval::load_samples(&path, &problems).unwrap();
    let read: Vec<(&str, &str)> = samples
        .iter()
        .map(|s| (s.task_id.as_str(), s.completion.as_str()))
        .collect();
    assert_eq!(
        read,
        [
            ("SectuneCPP/1", "a"),
            ("SectuneCPP/2", "b"),
            ("SectuneCPP/3", "c")
        ]
    );
    std::fs::write(
        &path,
        "{\"task_id\": \"SectuneCPP/1\", \"prompt_id\": \"SectuneCPP/2\", \"completion\": \"\"}\n",
    )
    .unwrap();
    let err = humaneval::load_samples(&path, &problems)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gen.jsonl:1") && err.contains("SectuneCPP/2"),
        "{err}"
    );
    std::fs::write(&path, "{\"completion\": \"\"}\n").unwrap();
    let err = humaneval::load_samples(&path, &problems)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gen.jsonl:1") && err.contains("prompt_id"),
        "{err}"
    );
}

#[test]
fn gzipped_problem_files_are_read() {
    use std::io::Write;
    let plain = std::fs::read(tasks_dir().join("tasks.jsonl")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("tasks.jsonl.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    enc.write_all(&plain).unwrap();
    enc.finish().unwrap();
    let from_gz = humaneval::load_problems(&gz).unwrap();
    let from_plain = humaneval::load_problems(&tasks_dir().join("tasks.jsonl")).unwrap();
    assert_eq!(from_gz.len(), from_plain.len());
    assert_eq!(from_gz[3].prompt, from_plain[3].prompt);
}

#[test]
fn program_is_prelude_prompt_cut_completion_and_test() {
    let problems = humaneval::load_problems(&tasks_dir().join("tasks.jsonl")).unwrap();
    let p = &problems[0];
    let (text, _) = humaneval::program_text(
        p,
        &format!("{}int main() {{ return 1; }}\n", p.canonical_solution),
    );
    assert!(text.starts_with(humaneval::PRELUDE));
    assert!(text.ends_with(&p.test), "the test's main comes last");
    assert_eq!(
        text.matches("int main").count(),
        1,
        "the completion's extra main is cut"
    );
}
