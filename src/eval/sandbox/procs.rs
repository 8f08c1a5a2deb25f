//! The run's processes as /proc shows them: finding, signalling, killing and reaping
//! everything a run made, by its uid (or, without one, its process group).

use std::time::Duration;

/// Which processes belong to the run: its uid, or (without one) its process group.
#[derive(Clone, Copy)]
pub(crate) enum Owner {
    Uid(u32),
    Group(i32),
}

/// A process as /proc/PID/status shows it.
pub(crate) struct ProcInfo {
    pid: i32,
    ppid: i32,
    uid: u32,
    pgid: i32,
    zombie: bool,
    rss_kb: u64,
}

pub(crate) fn processes() -> Vec<ProcInfo> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
            let mut info = ProcInfo {
                pid,
                ppid: 0,
                uid: u32::MAX,
                pgid: 0,
                zombie: false,
                rss_kb: 0,
            };
            for line in text.lines() {
                let (key, rest) = line.split_once(':')?;
                let first = rest.split_whitespace().next().unwrap_or("");
                match key {
                    "State" => info.zombie = first == "Z" || first == "X",
                    "PPid" => info.ppid = first.parse().unwrap_or(0),
                    "Uid" => info.uid = first.parse().unwrap_or(u32::MAX),
                    "NSpgid" => info.pgid = first.parse().unwrap_or(0),
                    "VmRSS" => info.rss_kb = first.parse().unwrap_or(0),
                    _ => {}
                }
            }
            Some(info)
        })
        .collect()
}

pub(crate) fn owned_by(p: &ProcInfo, owner: Owner) -> bool {
    match owner {
        Owner::Uid(u) => p.uid == u,
        Owner::Group(g) => p.pgid == g,
    }
}

pub(crate) fn processes_of_uid(uid: u32) -> usize {
    processes().iter().filter(|p| p.uid == uid).count()
}

pub(crate) fn live_processes(owner: Owner) -> usize {
    live_in(&processes(), owner)
}

pub(crate) fn live_in(snapshot: &[ProcInfo], owner: Owner) -> usize {
    snapshot
        .iter()
        .filter(|p| owned_by(p, owner) && !p.zombie)
        .count()
}

pub(crate) fn total_rss(owner: Owner) -> u64 {
    processes()
        .iter()
        .filter(|p| owned_by(p, owner))
        .map(|p| p.rss_kb * 1024)
        .sum()
}

/// Sends `sig` to every process of the run: as the run uid, `kill(-1)` reaches all of them at
/// once (the kernel holds the task list while it does, so a fork bomb cannot outrun it).
pub(crate) fn signal_all(owner: Owner, sig: libc::c_int) {
    match owner {
        Owner::Group(g) => {
            // SAFETY: signalling a process group we created.
            unsafe { libc::kill(-g, sig) };
        }
        Owner::Uid(uid) => {
            // SAFETY: the child only makes async-signal-safe syscalls and exits.
            unsafe {
                let pid = libc::fork();
                if pid == 0 {
                    if libc::setresuid(uid, uid, uid) == 0 {
                        libc::kill(-1, sig);
                    }
                    libc::_exit(0);
                }
                if pid > 0 {
                    let mut st = 0;
                    libc::waitpid(pid, &mut st, 0);
                }
            }
        }
    }
}

/// SIGKILL until no live process of the run is left (bounded: about 2 s).
pub(crate) fn kill_all(owner: Owner) {
    for _ in 0..400 {
        signal_all(owner, libc::SIGKILL);
        if live_processes(owner) == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reaps zombies of the run uid that were reparented to us (we are a child subreaper).
pub(crate) fn reap_zombies(uid: u32, snapshot: &[ProcInfo]) {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    for p in snapshot {
        if p.zombie && p.uid == uid && p.ppid == me {
            let mut st = 0;
            // SAFETY: waiting on a specific zombie child of ours.
            unsafe { libc::waitpid(p.pid, &mut st, libc::WNOHANG) };
        }
    }
}
