//! A memory and pids cgroup per run, where one is writable (cgroup v1 memory/pids hierarchies, or
//! v2 with both controllers delegable). RLIMIT_AS is per process and RLIMIT_NPROC per uid; a
//! cgroup bounds the run as a whole, and the kernel enforces it at allocation and fork time,
//! where the RSS watchdog only polls.
//!
//! Groups are made under the cgroup we already are in (so every outer limit still holds), in a
//! folder `sectune-PID-N` of this sandbox; each run gets `run-K` there, removed after the run.
//! Folders of sandboxes whose process is gone are removed when a new sandbox starts.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

/// What the kernel counted for one run's cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CgroupStats {
    /// Highest memory use of the run's processes (page cache and tmpfs pages they wrote included).
    pub memory_peak_bytes: Option<u64>,
    /// Times an allocation met the memory limit.
    pub memory_limit_hits: u64,
    /// Processes the kernel's OOM killer ended inside the group.
    pub oom_kills: u64,
    /// Forks refused at the process limit.
    pub pids_limit_hits: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// This sandbox's cgroup folders: one per controller hierarchy (v1: memory and pids; v2: one).
#[derive(Debug)]
pub(crate) struct Cgroups {
    version: Version,
    /// v1: [memory folder, pids folder]; v2: [the one folder].
    parents: Vec<PathBuf>,
    next: AtomicU64,
}

/// One run's groups; removed on drop (after killing whatever is still inside).
pub(crate) struct RunGroup {
    version: Version,
    dirs: Vec<PathBuf>,
    /// `cgroup.procs` of every group, for the child to join before exec.
    pub procs_files: Vec<CString>,
}

impl Cgroups {
    /// Sets up this sandbox's folders, or says why cgroups cannot be used here.
    pub(crate) fn probe() -> Result<Cgroups, String> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo")
            .map_err(|e| format!("cannot read /proc/self/mountinfo: {e}"))?;
        let own = std::fs::read_to_string("/proc/self/cgroup")
            .map_err(|e| format!("cannot read /proc/self/cgroup: {e}"))?;
        static SANDBOXES: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "sectune-{}-{}",
            std::process::id(),
            SANDBOXES.fetch_add(1, Ordering::Relaxed)
        );
        let v1 = ["memory", "pids"].map(|controller| v1_own_dir(&mounts, &own, controller));
        if let [Some(memory), Some(pids)] = &v1 {
            let parents = [memory, pids]
                .iter()
                .map(|own_dir| make_parent(own_dir, &name))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Cgroups {
                version: Version::V1,
                parents,
                next: AtomicU64::new(0),
            });
        }
        let own_dir = v2_own_dir(&mounts, &own)
            .ok_or("no cgroup v1 memory and pids hierarchies and no cgroup v2 mount")?;
        let parent = make_parent(&own_dir, &name)?;
        // Children get memory.max and pids.max only when both levels delegate the controllers;
        // our own group refuses while it holds processes (unless it is the root).
        for dir in [&own_dir, &parent] {
            if let Err(e) = write(&dir.join("cgroup.subtree_control"), "+memory +pids") {
                let _ = std::fs::remove_dir(&parent);
                return Err(format!(
                    "cgroup v2: cannot enable memory and pids in {}: {e}",
                    dir.display()
                ));
            }
        }
        Ok(Cgroups {
            version: Version::V2,
            parents: vec![parent],
            next: AtomicU64::new(0),
        })
    }

    /// One line for the report, e.g. `cgroup v1 (memory, pids)`.
    pub(crate) fn describe(&self) -> String {
        match self.version {
            Version::V1 => "cgroup v1 (memory, pids)".into(),
            Version::V2 => "cgroup v2 (memory, pids)".into(),
        }
    }

    pub(crate) fn folders(&self) -> &[PathBuf] {
        &self.parents
    }

    /// A fresh group for one run with its memory and process limits.
    pub(crate) fn run_group(&self, memory_bytes: u64, processes: u64) -> std::io::Result<RunGroup> {
        let name = format!("run-{}", self.next.fetch_add(1, Ordering::Relaxed));
        let mut group = RunGroup {
            version: self.version,
            dirs: Vec::new(),
            procs_files: Vec::new(),
        };
        for parent in &self.parents {
            let dir = parent.join(&name);
            std::fs::create_dir(&dir)?;
            group.dirs.push(dir);
        }
        let memory = memory_bytes.to_string();
        let pids = processes.to_string();
        match self.version {
            Version::V1 => {
                write(&group.dirs[0].join("memory.limit_in_bytes"), &memory)?;
                // Memory + swap at the same bound: swapping does not get around the limit.
                // Absent without swap accounting, where there is nothing to get around.
                let _ = write(&group.dirs[0].join("memory.memsw.limit_in_bytes"), &memory);
                write(&group.dirs[1].join("pids.max"), &pids)?;
            }
            Version::V2 => {
                write(&group.dirs[0].join("memory.max"), &memory)?;
                let _ = write(&group.dirs[0].join("memory.swap.max"), "0");
                write(&group.dirs[0].join("pids.max"), &pids)?;
            }
        }
        for dir in &group.dirs {
            let path = dir.join("cgroup.procs");
            group.procs_files.push(
                CString::new(path.as_os_str().as_bytes())
                    .map_err(|_| std::io::Error::other("cgroup path holds a NUL byte"))?,
            );
        }
        Ok(group)
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for parent in &self.parents {
            remove_tree(parent);
        }
    }
}

impl RunGroup {
    /// What the kernel counted; read after the run, before the group goes.
    pub(crate) fn stats(&self) -> CgroupStats {
        let read = |dir: &Path, file: &str| std::fs::read_to_string(dir.join(file)).ok();
        let number = |text: Option<String>| text.and_then(|t| t.trim().parse::<u64>().ok());
        let mut stats = CgroupStats::default();
        match self.version {
            Version::V1 => {
                let (memory, pids) = (&self.dirs[0], &self.dirs[1]);
                stats.memory_peak_bytes = number(read(memory, "memory.max_usage_in_bytes"));
                stats.memory_limit_hits = number(read(memory, "memory.failcnt")).unwrap_or(0);
                stats.oom_kills = self.oom_kills();
                stats.pids_limit_hits = keyed(read(pids, "pids.events"), "max");
            }
            Version::V2 => {
                let dir = &self.dirs[0];
                stats.memory_peak_bytes = number(read(dir, "memory.peak"));
                let events = read(dir, "memory.events");
                stats.memory_limit_hits = keyed(events.clone(), "max");
                stats.oom_kills = keyed(events, "oom_kill");
                stats.pids_limit_hits = keyed(read(dir, "pids.events"), "max");
            }
        }
        stats
    }

    /// Processes the kernel's OOM killer has ended in this group so far; cheap enough to poll.
    pub(crate) fn oom_kills(&self) -> u64 {
        let file = match self.version {
            Version::V1 => "memory.oom_control",
            Version::V2 => "memory.events",
        };
        keyed(
            std::fs::read_to_string(self.dirs[0].join(file)).ok(),
            "oom_kill",
        )
    }

    fn pids(&self) -> Vec<i32> {
        self.dirs
            .iter()
            .filter_map(|dir| std::fs::read_to_string(dir.join("cgroup.procs")).ok())
            .flat_map(|text| {
                text.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect()
    }
}

impl Drop for RunGroup {
    fn drop(&mut self) {
        // The uid sweep has normally emptied the group; kill stragglers by pid, then remove it.
        // A group's last tasks may take a moment to leave after SIGKILL: retry for about 1 s.
        for _ in 0..200 {
            for pid in self.pids() {
                // SAFETY: SIGKILL to a pid listed in our own run's cgroup.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            self.dirs.retain(|dir| std::fs::remove_dir(dir).is_err());
            if self.dirs.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// `key N` from a flat-keyed cgroup file (memory.oom_control, pids.events, memory.events).
fn keyed(text: Option<String>, key: &str) -> u64 {
    text.and_then(|t| {
        t.lines().find_map(|line| {
            let (k, v) = line.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    })
    .unwrap_or(0)
}

fn write(path: &Path, value: &str) -> std::io::Result<()> {
    std::fs::write(path, value)
}

/// Makes `own_dir/name` after removing folders left by sandboxes of processes that are gone.
fn make_parent(own_dir: &Path, name: &str) -> Result<PathBuf, String> {
    sweep_stale(own_dir);
    let dir = own_dir.join(name);
    std::fs::create_dir(&dir).map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
    Ok(dir)
}

fn sweep_stale(own_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(own_dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix("sectune-"))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            remove_tree(&entry.path());
        }
    }
}

/// Removes a sandbox folder and its run groups (cgroup folders go with rmdir only).
fn remove_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                let _ = std::fs::remove_dir(entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

/// Our own folder in the cgroup v1 hierarchy of `controller`, when it is mounted.
fn v1_own_dir(mountinfo: &str, own: &str, controller: &str) -> Option<PathBuf> {
    let (mount_root, mount_point) = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let mut right = right.split_whitespace();
        let fstype = right.next()?;
        let options = right.nth(1)?;
        let fields: Vec<&str> = left.split_whitespace().collect();
        (fstype == "cgroup" && options.split(',').any(|o| o == controller))
            .then(|| (fields.get(3).copied(), fields.get(4).copied()))
    })?;
    let path = own.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })?;
    own_dir(mount_root?, mount_point?, &path)
}

fn v2_own_dir(mountinfo: &str, own: &str) -> Option<PathBuf> {
    let (mount_root, mount_point) = mountinfo.lines().find_map(|line| {
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split_whitespace().collect();
        (right.split_whitespace().next()? == "cgroup2")
            .then(|| (fields.get(3).copied(), fields.get(4).copied()))
    })?;
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    own_dir(mount_root?, mount_point?, path)
}

/// The folder of cgroup `path` under a mount of the hierarchy's `mount_root` at `mount_point`.
fn own_dir(mount_root: &str, mount_point: &str, path: &str) -> Option<PathBuf> {
    let relative = path.strip_prefix(mount_root.trim_end_matches('/'))?;
    Some(Path::new(mount_point).join(relative.trim_start_matches('/')))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
        35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
        39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n\
        41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

    #[test]
    fn finds_our_own_group_in_each_hierarchy() {
        let own = "8:pids:/\n4:memory:/api/e05\n1:cpu,cpuacct:/\n0::/user.slice\n";
        assert_eq!(
            v1_own_dir(MOUNTINFO, own, "memory"),
            Some(PathBuf::from("/sys/fs/cgroup/memory/api/e05"))
        );
        assert_eq!(
            v1_own_dir(MOUNTINFO, own, "pids"),
            Some(PathBuf::from("/sys/fs/cgroup/pids/"))
        );
        assert_eq!(v1_own_dir(MOUNTINFO, own, "cpu"), None, "not mounted");
        assert_eq!(
            v2_own_dir(MOUNTINFO, own),
            Some(PathBuf::from("/sys/fs/cgroup/unified/user.slice"))
        );
        assert_eq!(own_dir("/x", "/m", "/y"), None, "outside the mount's root");
        assert_eq!(own_dir("/x", "/m", "/x/y"), Some(PathBuf::from("/m/y")));
    }

    #[test]
    fn reads_flat_keyed_counters() {
        let text = Some("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n".to_string());
        assert_eq!(keyed(text, "oom_kill"), 3);
        assert_eq!(keyed(Some("max 12\n".into()), "max"), 12);
        assert_eq!(keyed(Some("max 12\n".into()), "oom_kill"), 0);
        assert_eq!(keyed(None, "max"), 0);
    }
}
