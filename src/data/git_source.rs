//! Local git repository source: shells out to `git`. Commits come from a list file
//! (`<sha> [CVE-…] [CWE-…]` per line) or from `git log` messages that mention a CVE or CWE id.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::diff::{parse_unified, ChangedLines};
use super::ids::{lang_of_path, normalize_commit, scan_cve_ids, scan_cwe_ids};
use super::{io_err, DataError, Result, Scope, Side, Skip, SourceEvent, SourceKind, Unit};

struct Repo {
    dir: PathBuf,
}

impl Repo {
    fn git(&self, args: &[&str]) -> Result<Vec<u8>> {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(["-c", "core.quotePath=false"])
            .args(args)
            .output()
            .map_err(io_err("git"))?;
        if !out.status.success() {
            return Err(DataError::Git {
                repo: self.dir.clone(),
                command: args.join(" "),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(out.stdout)
    }

    fn git_text(&self, args: &[&str]) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.git(args)?).into_owned())
    }
}

struct Target {
    commit: String,
    cve_ids: Vec<String>,
    cwe_ids: Vec<String>,
}

pub fn read(
    dir: &Path,
    commits_file: Option<&Path>,
    side: Side,
    emit: &mut dyn FnMut(SourceEvent) -> Result<()>,
) -> Result<()> {
    let repo = Repo {
        dir: dir.to_path_buf(),
    };
    repo.git(&["rev-parse", "--git-dir"])?;
    let repository = repo
        .git_text(&["config", "--get", "remote.origin.url"])
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let repository = if repository.is_empty() {
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        canonical
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        repository
    };
    let targets = match commits_file {
        Some(list) => listed_commits(&repo, list, emit)?,
        None => commits_from_log(&repo)?,
    };
    for target in targets {
        read_commit(&repo, &repository, &target, side, emit)?;
    }
    Ok(())
}

fn listed_commits(
    repo: &Repo,
    list: &Path,
    emit: &mut dyn FnMut(SourceEvent) -> Result<()>,
) -> Result<Vec<Target>> {
    let text = std::fs::read_to_string(list).map_err(io_err(list))?;
    let mut targets = Vec::new();
    for (idx, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        let location = format!("{}:{}", list.display(), idx + 1);
        let Some(sha) = normalize_commit(first) else {
            emit(SourceEvent::Skipped(Skip::malformed(
                "git: bad commit hash in list",
                location,
            )))?;
            continue;
        };
        let full = match repo.git_text(&[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{sha}^{{commit}}"),
        ]) {
            Ok(full) => full.trim().to_string(),
            Err(_) => {
                emit(SourceEvent::Skipped(Skip::malformed(
                    "git: commit not in repository",
                    location,
                )))?;
                continue;
            }
        };
        let message = repo.git_text(&["log", "-1", "--format=%B", &full])?;
        let mut cve_ids = scan_cve_ids(line);
        let mut cwe_ids = scan_cwe_ids(line);
        merge(&mut cve_ids, scan_cve_ids(&message));
        merge(&mut cwe_ids, scan_cwe_ids(&message));
        targets.push(Target {
            commit: full,
            cve_ids,
            cwe_ids,
        });
    }
    Ok(targets)
}

fn commits_from_log(repo: &Repo) -> Result<Vec<Target>> {
    let log = repo.git_text(&["log", "--no-merges", "--format=%H%x00%B%x1e"])?;
    Ok(log
        .split('\u{1e}')
        .filter_map(|entry| {
            let (sha, message) = entry.trim_start().split_once('\0')?;
            let (cve_ids, cwe_ids) = (scan_cve_ids(message), scan_cwe_ids(message));
            (!cve_ids.is_empty() || !cwe_ids.is_empty()).then(|| Target {
                commit: sha.trim().to_string(),
                cve_ids,
                cwe_ids,
            })
        })
        .collect())
}

fn merge(into: &mut Vec<String>, more: Vec<String>) {
    for id in more {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}

fn read_commit(
    repo: &Repo,
    repository: &str,
    target: &Target,
    side: Side,
    emit: &mut dyn FnMut(SourceEvent) -> Result<()>,
) -> Result<()> {
    let patch = repo.git_text(&[
        "diff-tree",
        "-p",
        "-r",
        "-M",
        "--root",
        "--no-color",
        "--no-ext-diff",
        "--no-commit-id",
        "-U3",
        &target.commit,
    ])?;
    let commit = normalize_commit(&target.commit).unwrap_or_else(|| target.commit.clone());
    for section in patch
        .split("\ndiff --git ")
        .filter(|s| !s.trim().is_empty())
    {
        let (old_path, new_path) = section_paths(section);
        let location = format!(
            "{}: commit {} {}",
            repo.dir.display(),
            commit,
            new_path.or(old_path).unwrap_or("?")
        );
        let skip = |reason: &str, malformed| {
            SourceEvent::Skipped(Skip {
                reason: format!("git: {reason}"),
                location: location.clone(),
                malformed,
            })
        };
        let (path, rev) = match side {
            Side::Fixed => (new_path, commit.clone()),
            Side::Vulnerable => (old_path, format!("{commit}^")),
        };
        let Some(path) = path else {
            let reason = if new_path.or(old_path).is_some() {
                "file deleted or added on the kept side"
            } else {
                "binary or unnamed file"
            };
            emit(skip(reason, false))?;
            continue;
        };
        let Some(language) = lang_of_path(path, None) else {
            emit(skip("not C/C++", false))?;
            continue;
        };
        let Ok(changed) = parse_unified(section) else {
            emit(skip("unparsable diff", true))?;
            continue;
        };
        let code = repo.git_text(&["show", &format!("{rev}:{path}")])?;
        let lines = match side {
            Side::Fixed => changed.new,
            Side::Vulnerable => changed.old,
        };
        let changed_lines = ChangedLines::clamped(&lines, code.lines().count() as u32);
        if changed_lines.is_empty() {
            emit(skip("no changed lines on the kept side", false))?;
            continue;
        }
        emit(SourceEvent::Unit(Box::new(Unit {
            source: SourceKind::Git,
            commit: commit.clone(),
            repository: repository.to_string(),
            file_path: path.to_string(),
            cwe_ids: target.cwe_ids.clone(),
            cve_ids: target.cve_ids.clone(),
            language,
            code,
            changed_lines,
            scope: Scope::File,
        })))?;
    }
    Ok(())
}

/// (old, new) repo paths from the `---`/`+++` lines of one file's section; `None` for /dev/null.
fn section_paths(section: &str) -> (Option<&str>, Option<&str>) {
    let mut old = None;
    let mut new = None;
    for line in section.lines() {
        if line.starts_with("@@") {
            break;
        }
        if let Some(p) = line.strip_prefix("--- ") {
            old = p.trim_end_matches('\t').strip_prefix("a/");
        } else if let Some(p) = line.strip_prefix("+++ ") {
            new = p.trim_end_matches('\t').strip_prefix("b/");
        }
    }
    (old, new)
}
