//! Finds out which isolation layers this machine offers, once, when the sandbox is made.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{Layers, Result, SandboxConfig};

/// Uids used when we are root but `scripts/install-sandbox.sh` has not made the run users.
const FALLBACK_UID_BASE: u32 = 64_000;

/// One entry of the sandbox's read-only root.
#[derive(Debug, Clone)]
pub(crate) enum RootEntry {
    RoBind(PathBuf),
    RoBindTry(PathBuf),
    Symlink { target: PathBuf, at: PathBuf },
}

/// What the launcher does, decided from the probe.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    pub bwrap: Option<PathBuf>,
    pub root_entries: Vec<RootEntry>,
    pub tmp_bytes: u64,
    /// One uid per worker; empty means "run as ourselves".
    pub uids: Vec<u32>,
    pub mount_tmpfs: bool,
    pub subreaper: bool,
    pub seccomp: bool,
}

pub(crate) fn probe(config: &SandboxConfig) -> Result<(Plan, Layers)> {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut missing = Vec::new();

    let mut uids = run_users(&config.user_prefix);
    if root && uids.is_empty() {
        missing.push(format!(
            "no {}N users in /etc/passwd: using unregistered uids {}..",
            config.user_prefix, FALLBACK_UID_BASE
        ));
        uids = (0..config.workers.max(1) as u32)
            .map(|i| FALLBACK_UID_BASE + i)
            .collect();
    } else if !root {
        missing.push(
            "not root: runs share the caller's uid (no per-run uid, RLIMIT_NPROC counts all the caller's processes)"
                .into(),
        );
        uids.clear();
    }
    uids.truncate(config.workers.max(1));

    let mount_tmpfs = root && can_mount_tmpfs();
    if !mount_tmpfs {
        missing.push("work folder is a plain folder (no tmpfs size/inode cap: needs root)".into());
    }

    let mut plan = Plan {
        bwrap: None,
        root_entries: root_entries(),
        tmp_bytes: config.tmp_bytes,
        uids,
        mount_tmpfs,
        subreaper: false,
        seccomp: false,
    };

    let found = if config.use_bwrap { find_bwrap() } else { None };
    let bwrap_version = match found {
        None if !config.use_bwrap => {
            missing.push("bubblewrap turned off by the configuration: no namespaces, no network isolation, host filesystem visible".into());
            None
        }
        None => {
            missing.push("bubblewrap not installed: no namespaces, no network isolation, host filesystem visible".into());
            None
        }
        Some(path) => match check_bwrap(&path, &plan) {
            Ok(version) => {
                plan.bwrap = Some(path);
                Some(version)
            }
            Err(why) => {
                missing.push(format!(
                    "bubblewrap unusable here ({why}): no namespaces, no network isolation"
                ));
                None
            }
        },
    };
    if bwrap_version.is_some() {
        plan.seccomp = super::launch::seccomp_supported();
        if !plan.seccomp {
            missing.push("seccomp filter not built for this architecture".into());
        }
    }
    if !plan.uids.is_empty() {
        // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes an integer flag only.
        plan.subreaper = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } == 0;
        if !plan.subreaper {
            missing.push("could not become a child subreaper".into());
        }
    }

    let sandboxed = bwrap_version.is_some();
    let layers = Layers {
        bwrap: bwrap_version,
        separate_uid: !plan.uids.is_empty(),
        user_namespace: sandboxed,
        pid_namespace: sandboxed,
        net_namespace: sandboxed,
        minimal_root: sandboxed,
        workdir_tmpfs: plan.mount_tmpfs,
        rlimits: true,
        cgroup: None,
        rss_watchdog: true,
        seccomp: plan.seccomp,
        subreaper: plan.subreaper,
        missing,
    };
    Ok((plan, layers))
}

/// Uids of `{prefix}0`, `{prefix}1`, … in /etc/passwd, in name order.
fn run_users(prefix: &str) -> Vec<u32> {
    let Ok(passwd) = std::fs::read_to_string("/etc/passwd") else {
        return Vec::new();
    };
    let mut found: Vec<(u32, u32)> = passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let index: u32 = name.strip_prefix(prefix)?.parse().ok()?;
            let uid: u32 = fields.nth(1)?.parse().ok()?;
            (uid != 0).then_some((index, uid))
        })
        .collect();
    found.sort_unstable();
    found.into_iter().map(|(_, uid)| uid).collect()
}

fn can_mount_tmpfs() -> bool {
    let Ok(dir) = tempfile_dir() else {
        return false;
    };
    let ok = super::workdir::mount_tmpfs(&dir, 1 << 20, 16).is_ok();
    if ok {
        super::workdir::unmount(&dir);
    }
    let _ = std::fs::remove_dir(&dir);
    ok
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("sectune-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn find_bwrap() -> Option<PathBuf> {
    ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Runs `cat /proc/net/dev` in the real sandbox: proves bwrap works for the run uid and that
/// the network namespace holds only `lo`.
fn check_bwrap(path: &Path, plan: &Plan) -> std::result::Result<String, String> {
    let out = Command::new(path)
        .arg("--version")
        .env_clear()
        .output()
        .map_err(|e| e.to_string())?;
    let version = String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_start_matches("bubblewrap ")
        .to_string();
    let mut trial = plan.clone();
    trial.bwrap = Some(path.to_path_buf());
    let outcome = super::supervise::self_test(&trial).map_err(|e| e.to_string())?;
    let interfaces = net_interfaces(&outcome);
    if interfaces != ["lo"] {
        return Err(format!(
            "network namespace shows interfaces {interfaces:?}, want only lo"
        ));
    }
    Ok(version)
}

/// Interface names from /proc/net/dev output.
fn net_interfaces(proc_net_dev: &str) -> Vec<String> {
    proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// /usr read-only, merged-/usr symlinks as symlinks, and the few /etc files the toolchain needs.
fn root_entries() -> Vec<RootEntry> {
    let mut entries = vec![RootEntry::RoBind("/usr".into())];
    for name in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        let host = Path::new("/").join(name);
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                if let Ok(target) = std::fs::read_link(&host) {
                    entries.push(RootEntry::Symlink { target, at: host });
                }
            }
            Ok(m) if m.is_dir() => entries.push(RootEntry::RoBind(host)),
            _ => {}
        }
    }
    for etc in ["/etc/ld.so.cache", "/etc/alternatives", "/etc/localtime"] {
        entries.push(RootEntry::RoBindTry(etc.into()));
    }
    entries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_interfaces_of_proc_net_dev() {
        let text = "Inter-|   Receive\n face |bytes\n    lo: 0 0\n  eth0: 1 2\n";
        assert_eq!(net_interfaces(text), ["lo", "eth0"]);
    }
}
