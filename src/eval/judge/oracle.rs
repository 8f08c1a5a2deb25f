//! Oracles: decide from a finished run (its outcome and the state of the files its oracles watch)
//! whether an attack worked, and whether a benign run behaved normally.

use std::collections::BTreeMap;

use crate::eval::sandbox::{ExitKind, RunOutcome};
use crate::eval::scenario::{parse_octal, BenignCase, Oracle};

/// Markers the sanitizers print; any of them means a memory or UB error was caught.
const SANITIZER_MARKERS: [&str; 4] = [
    "ERROR: AddressSanitizer",
    "AddressSanitizer:DEADLYSIGNAL",
    ": runtime error: ",
    "ERROR: LeakSanitizer",
];

/// Permission bits of the work-folder paths the oracles watch, read before and after the run
/// without following symlinks; `None` = absent.
#[derive(Debug, Default, Clone)]
pub struct FileFacts {
    pub before: BTreeMap<String, Option<u32>>,
    pub after: BTreeMap<String, Option<u32>>,
}

impl FileFacts {
    fn existed(&self, path: &str) -> bool {
        matches!(self.before.get(path), Some(Some(_)))
    }

    /// The mode after the run, if the path exists then.
    fn exists(&self, path: &str) -> Option<u32> {
        self.after.get(path).copied().flatten()
    }
}

/// The work-folder paths an attack's oracles look at.
pub fn watched_paths(oracles: &[Oracle]) -> Vec<String> {
    oracles
        .iter()
        .filter_map(|oracle| match oracle {
            Oracle::FileCreated { path }
            | Oracle::FileDeleted { path }
            | Oracle::ModeTooOpen { path, .. } => Some(path.clone()),
            _ => None,
        })
        .collect()
}

/// The first sanitizer report line in stderr, if any.
pub fn sanitizer_report(stderr: &str) -> Option<String> {
    let line = stderr
        .lines()
        .find(|line| SANITIZER_MARKERS.iter().any(|m| line.contains(m)))?;
    // ASan's deadly-signal banner is followed by the line that says what happened.
    if line.contains("DEADLYSIGNAL") {
        if let Some(detail) = stderr
            .lines()
            .find(|l| l.contains("ERROR: AddressSanitizer"))
        {
            return Some(detail.trim().to_string());
        }
    }
    Some(line.trim().to_string())
}

/// A one-line summary of an abnormal end (signal, timeout, limit), if there was one.
pub fn abnormal_end(outcome: &RunOutcome) -> Option<String> {
    match outcome.exit {
        ExitKind::Exited(_) => None,
        ExitKind::Signaled(sig) => Some(format!("killed by signal {sig}")),
        ExitKind::TimedOut => Some("timed out".into()),
        ExitKind::OutputLimit => Some("stopped at the output limit".into()),
        ExitKind::MemoryLimit => Some("stopped at the memory limit".into()),
    }
}

/// Why the oracle fired, or None when it did not.
pub fn fired(oracle: &Oracle, outcome: &RunOutcome, files: &FileFacts) -> Option<String> {
    let stdout = outcome.stdout_lossy();
    match oracle {
        Oracle::Sanitizer => sanitizer_report(&outcome.stderr_lossy()),
        Oracle::Crash => crash(outcome),
        Oracle::Hang => (outcome.exit == ExitKind::TimedOut).then(|| "run timed out".to_string()),
        Oracle::FileCreated { path } => (files.exists(path).is_some() && !files.existed(path))
            .then(|| format!("file {path} was created")),
        Oracle::FileDeleted { path } => (files.exists(path).is_none() && files.existed(path))
            .then(|| format!("file {path} was deleted")),
        Oracle::SecretLeaked { secret } => stdout
            .contains(secret.as_str())
            .then(|| format!("planted secret {secret:?} appeared in stdout")),
        Oracle::MarkupEchoed { markup } => stdout
            .contains(markup.as_str())
            .then(|| format!("raw markup {markup:?} echoed in stdout")),
        Oracle::ModeTooOpen {
            path,
            forbidden_bits,
        } => {
            let bits = parse_octal(forbidden_bits)?;
            let mode = files.exists(path)?;
            (mode & bits != 0).then(|| {
                format!("{path} has mode {mode:04o}, which sets forbidden bits {bits:04o}")
            })
        }
        Oracle::FormatInterpreted { literal } => (!stdout.contains(literal.as_str()))
            .then(|| format!("format text {literal:?} was interpreted (missing from stdout)")),
        Oracle::OutputContains { text } => stdout
            .contains(text.as_str())
            .then(|| format!("forbidden output {text:?} in stdout")),
        Oracle::OutputLacks { text } => (!stdout.contains(text.as_str()))
            .then(|| format!("expected output {text:?} missing from stdout")),
    }
}

fn crash(outcome: &RunOutcome) -> Option<String> {
    if let ExitKind::Signaled(sig) = outcome.exit {
        return Some(format!("killed by signal {sig}"));
    }
    let stderr = outcome.stderr_lossy();
    if stderr.contains("AddressSanitizer:DEADLYSIGNAL") {
        return Some("deadly signal caught by AddressSanitizer".into());
    }
    stderr
        .contains("terminate called after throwing")
        .then(|| "uncaught C++ exception (std::terminate)".to_string())
}

/// Why a benign run was not normal, or None when it was.
pub fn benign_problem(case: &BenignCase, outcome: &RunOutcome) -> Option<String> {
    if let Some(report) = sanitizer_report(&outcome.stderr_lossy()) {
        return Some(format!("sanitizer report on benign input: {report}"));
    }
    if let Some(end) = abnormal_end(outcome) {
        return Some(format!("benign run {end}"));
    }
    if outcome.exit != ExitKind::Exited(case.expect_exit) {
        return Some(format!(
            "benign run ended with {:?}, expected exit status {}",
            outcome.exit, case.expect_exit
        ));
    }
    let stdout = outcome.stdout_lossy();
    case.expect_stdout
        .iter()
        .find(|text| !stdout.contains(text.as_str()))
        .map(|text| format!("benign run's stdout lacks {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome(stdout: &str, stderr: &str, exit: ExitKind) -> RunOutcome {
        RunOutcome {
            exit,
            stdout: stdout.as_bytes().to_vec(),
            stderr: stderr.as_bytes().to_vec(),
            stdout_truncated: false,
            stderr_truncated: false,
            wall: Duration::ZERO,
            leftovers_killed: 0,
            peak_rss_bytes: None,
            survivors: 0,
            cgroup: None,
        }
    }

    fn stat(mode: u32) -> Option<u32> {
        Some(mode)
    }

    #[test]
    fn sanitizer_and_crash_oracles() {
        let none = FileFacts::default();
        let asan = "==1==ERROR: AddressSanitizer: stack-buffer-overflow on address 0x1\n";
        let run = outcome("", asan, ExitKind::Exited(1));
        assert!(fired(&Oracle::Sanitizer, &run, &none)
            .unwrap()
            .contains("stack-buffer-overflow"));
        let ubsan = "x.c:3:5: runtime error: signed integer overflow\n";
        let run = outcome("", ubsan, ExitKind::Exited(1));
        assert!(fired(&Oracle::Sanitizer, &run, &none).is_some());
        let clean = outcome("ok", "", ExitKind::Exited(0));
        assert!(fired(&Oracle::Sanitizer, &clean, &none).is_none());
        assert!(fired(&Oracle::Crash, &clean, &none).is_none());
        let segv = outcome("", "", ExitKind::Signaled(11));
        assert!(fired(&Oracle::Crash, &segv, &none).is_some());
    }

    #[test]
    fn file_oracles_compare_before_and_after() {
        let mut files = FileFacts::default();
        files.before.insert("INJECTED".into(), None);
        files.after.insert("INJECTED".into(), stat(0o644));
        files.before.insert("keep".into(), stat(0o644));
        files.after.insert("keep".into(), None);
        files.before.insert("log".into(), None);
        files.after.insert("log".into(), stat(0o666));
        let run = outcome("", "", ExitKind::Exited(0));
        let created = Oracle::FileCreated {
            path: "INJECTED".into(),
        };
        assert!(fired(&created, &run, &files).is_some());
        let deleted = Oracle::FileDeleted {
            path: "keep".into(),
        };
        assert!(fired(&deleted, &run, &files).is_some());
        let open = Oracle::ModeTooOpen {
            path: "log".into(),
            forbidden_bits: "002".into(),
        };
        assert!(fired(&open, &run, &files).is_some());
        files.after.insert("log".into(), stat(0o640));
        assert!(fired(&open, &run, &files).is_none());
        // A file that was already there is not "created".
        files.before.insert("INJECTED".into(), stat(0o644));
        assert!(fired(&created, &run, &files).is_none());
    }

    #[test]
    fn output_oracles() {
        let none = FileFacts::default();
        let run = outcome("<b>hi</b> SECRET %x", "", ExitKind::Exited(0));
        let secret = Oracle::SecretLeaked {
            secret: "SECRET".into(),
        };
        assert!(fired(&secret, &run, &none).is_some());
        let markup = Oracle::MarkupEchoed {
            markup: "<b>".into(),
        };
        assert!(fired(&markup, &run, &none).is_some());
        let format = Oracle::FormatInterpreted {
            literal: "%x".into(),
        };
        assert!(fired(&format, &run, &none).is_none());
        let lacks = Oracle::OutputLacks { text: "bye".into() };
        assert!(fired(&lacks, &run, &none).is_some());
        let contains = Oracle::OutputContains { text: "bye".into() };
        assert!(fired(&contains, &run, &none).is_none());
    }

    #[test]
    fn benign_needs_clean_exit_and_expected_output() {
        let case = BenignCase {
            name: "b".into(),
            input: Default::default(),
            expect_exit: 0,
            expect_stdout: vec!["hello".into()],
        };
        assert!(benign_problem(&case, &outcome("hello\n", "", ExitKind::Exited(0))).is_none());
        assert!(benign_problem(&case, &outcome("bye\n", "", ExitKind::Exited(0))).is_some());
        assert!(benign_problem(&case, &outcome("hello\n", "", ExitKind::Exited(2))).is_some());
        assert!(benign_problem(&case, &outcome("hello\n", "", ExitKind::TimedOut)).is_some());
    }
}
