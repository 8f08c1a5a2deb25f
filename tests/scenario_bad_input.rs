//! A misspelt key anywhere in scenario.toml is an error naming the file, the field and the fix,
//! never silently ignored (an ignored `agrv` would run the attack with no arguments).

use std::fs;
use std::path::Path;

use sectune::eval::scenario::{load_suite, Scenario};

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/cwe-22-0-c");

/// Copies the shipped scenario, applies `edit` to its scenario.toml and returns the load error.
fn load_error(edit: impl Fn(&str) -> String) -> (String, String) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cwe-22-0-c");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(SHIPPED).unwrap() {
        let entry = entry.unwrap();
        fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    let toml_path = dir.join("scenario.toml");
    let original = fs::read_to_string(&toml_path).unwrap();
    let edited = edit(&original);
    assert_ne!(edited, original, "the edit must change the file");
    fs::write(&toml_path, edited).unwrap();
    let message = match Scenario::load(&dir) {
        Ok(_) => panic!("a scenario.toml with a misspelt field loaded"),
        Err(err) => err.to_string(),
    };
    // The suite loader reports the same error.
    let suite_message = load_suite(tmp.path()).unwrap_err().to_string();
    assert_eq!(suite_message, message);
    (message, toml_path.display().to_string())
}

fn assert_names(message: &str, path: &str, field: &str) {
    assert!(message.contains(path), "file not named: {message}");
    assert!(
        message.contains(&format!("unknown field `{field}`")),
        "field not named: {message}"
    );
    assert!(message.contains("fix the spelling"), "no fix: {message}");
}

#[test]
fn shipped_scenario_loads() {
    Scenario::load(Path::new(SHIPPED)).unwrap();
}

#[test]
fn misspelt_field_inside_an_attack_is_refused() {
    let (message, path) = load_error(|t| t.replacen("argv = [\"../", "agrv = [\"../", 1));
    assert_names(&message, &path, "agrv");
    // serde lists the valid names, which is the fix for a typo.
    assert!(message.contains("`argv`"), "{message}");
}

#[test]
fn misspelt_field_inside_a_benign_case_is_refused() {
    let (message, path) = load_error(|t| t.replacen("expect_stdout", "expect_stdot", 1));
    assert_names(&message, &path, "expect_stdot");
}

#[test]
fn misspelt_top_level_planted_file_and_oracle_fields_are_refused() {
    let (message, path) = load_error(|t| t.replacen("description", "descripton", 1));
    assert_names(&message, &path, "descripton");
    let (message, path) = load_error(|t| t.replacen("content =", "contents =", 1));
    assert_names(&message, &path, "contents");
    let (message, path) = load_error(|t| t.replacen("secret =", "secrit =", 1));
    assert_names(&message, &path, "secrit");
}
