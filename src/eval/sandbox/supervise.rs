//! Watches one run: feeds stdin, captures capped output, enforces the wall clock and the total
//! RSS, then kills everything the run left behind and reaps it.

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use super::cgroup::RunGroup;
use super::launch::{self, PassedFds};
use super::probe::Plan;
use super::procs::{kill_all, live_in, processes, reap_zombies, signal_all, total_rss, Owner};
use super::{io_err, ExitKind, Result, RunOutcome, RunSpec, SandboxError, WorkDir};

const POLL_SLICE: Duration = Duration::from_millis(20);
const WATCH_EVERY: Duration = Duration::from_millis(50);
const TERM_GRACE: Duration = Duration::from_millis(200);
const DRAIN_GRACE: Duration = Duration::from_millis(200);

pub(crate) fn run(
    plan: &Plan,
    uid: Option<u32>,
    dir: &WorkDir,
    spec: &RunSpec,
    group: Option<&RunGroup>,
) -> Result<RunOutcome> {
    if !spec.redirects.is_empty() && plan.bwrap.is_none() {
        return Err(SandboxError::Unavailable(
            "path redirects need bubblewrap".into(),
        ));
    }
    for r in &spec.redirects {
        if !r.inside.is_absolute() {
            return Err(SandboxError::BadName(r.inside.display().to_string()));
        }
        dir.create_dir_all(&r.workdir_folder)?;
    }
    if let Some(u) = uid {
        let snapshot = processes();
        reap_zombies(u, &snapshot);
        if live_in(&snapshot, Owner::Uid(u)) > 0 {
            kill_all(Owner::Uid(u));
        }
        dir.chown_all(u)?;
    }
    let (fds, status_read) = passed_fds(plan, spec)?;
    let mut cmd = launch::command(plan, uid, dir, spec, &fds, group);
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(io_err(format!("start {:?}", spec.argv[0])))?;
    drop(fds);
    let owner = match uid {
        Some(u) => Owner::Uid(u),
        None => Owner::Group(child.id() as i32),
    };

    let mut stdin = child.stdin.take().filter(|_| !spec.stdin.is_empty());
    let mut pipes = [
        Capture::new(
            child.stdout.take().map(OwnedFd::from),
            spec.limits.output_bytes,
        ),
        Capture::new(
            child.stderr.take().map(OwnedFd::from),
            spec.limits.output_bytes,
        ),
    ];
    if let Some(s) = &stdin {
        set_nonblocking(s.as_raw_fd());
    }
    let deadline = start + spec.limits.wall;
    let mut verdict: Option<ExitKind> = None;
    let mut status: Option<ExitStatus> = None;
    let mut stdin_sent = 0usize;
    let mut last_watch = start;
    let mut peak_rss = 0u64;

    while status.is_none() && verdict.is_none() {
        status = child.try_wait().map_err(io_err("wait for the run"))?;
        if status.is_some() {
            break;
        }
        let now = Instant::now();
        if now >= deadline {
            verdict = Some(ExitKind::TimedOut);
            break;
        }
        if now.duration_since(last_watch) >= WATCH_EVERY {
            last_watch = now;
            let rss = total_rss(owner);
            peak_rss = peak_rss.max(rss);
            // The cgroup's OOM killer may already have ended part of the run: stop it there
            // rather than letting the rest wait for the killed process until the wall clock.
            let oom_killed = group.is_some_and(|g| g.oom_kills() > 0);
            if rss > spec.limits.memory_bytes || oom_killed {
                verdict = Some(ExitKind::MemoryLimit);
                break;
            }
        }
        let wait = POLL_SLICE.min(deadline - now);
        let stdin_fd = stdin.as_ref().map(|s| s.as_raw_fd());
        let ready = poll_fds(stdin_fd, &pipes, wait);
        if ready.stdin {
            if let Some(s) = stdin.as_mut() {
                match s.write(&spec.stdin[stdin_sent..]) {
                    Ok(n) => stdin_sent += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => stdin_sent = spec.stdin.len(),
                }
            }
            if stdin_sent >= spec.stdin.len() {
                stdin = None;
            }
        }
        for p in pipes.iter_mut() {
            p.read_available();
        }
        if pipes.iter().any(|p| p.truncated) {
            verdict = Some(ExitKind::OutputLimit);
        }
    }
    drop(stdin);

    if verdict == Some(ExitKind::TimedOut) {
        signal_all(owner, libc::SIGTERM);
        let grace_end = Instant::now() + TERM_GRACE;
        while Instant::now() < grace_end {
            if child.try_wait().ok().flatten().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    if verdict.is_some() {
        kill_all(owner);
    }
    let final_status = match status {
        Some(s) => s,
        None => child.wait().map_err(io_err("wait for the killed run"))?,
    };
    // One /proc scan (they cost milliseconds) tells whether anything outlived the run.
    let snapshot = processes();
    let live = live_in(&snapshot, owner);
    let leftovers_killed = if verdict.is_none() { live } else { 0 };
    if live > 0 {
        kill_all(owner);
    }
    let drain_end = Instant::now() + DRAIN_GRACE;
    while pipes.iter().any(|p| p.open()) && Instant::now() < drain_end {
        poll_fds(None, &pipes, Duration::from_millis(10));
        for p in pipes.iter_mut() {
            p.read_available();
        }
    }
    let snapshot = if live > 0 { processes() } else { snapshot };
    if let Owner::Uid(u) = owner {
        reap_zombies(u, &snapshot);
    }
    let survivors = live_in(&snapshot, owner);
    let wall = start.elapsed();
    let [out, err] = pipes;
    let cgroup = group.map(RunGroup::stats);
    // The kernel's OOM killer ended (part of) the run at the cgroup's memory limit.
    let oom_killed = cgroup.is_some_and(|c| c.oom_kills > 0);

    let exit = match verdict {
        // A run whose cgroup OOM-killed a process was stopped by memory, even when what was left
        // of it then ran into the wall clock (waiting on the killed child).
        Some(ExitKind::TimedOut) | None if oom_killed => ExitKind::MemoryLimit,
        Some(v) => v,
        None => {
            if let Some(fd) = status_read {
                if !bwrap_started_child(fd) {
                    return Err(SandboxError::Setup(err.lossy_trimmed()));
                }
            }
            exit_kind(final_status, plan.bwrap.is_some())
        }
    };
    Ok(RunOutcome {
        exit,
        stdout: out.bytes,
        stderr: err.bytes,
        stdout_truncated: out.truncated,
        stderr_truncated: err.truncated,
        wall,
        leftovers_killed,
        peak_rss_bytes: Some(peak_rss),
        survivors,
        cgroup,
    })
}

/// Runs `cat /proc/net/dev` in a throwaway work folder with `plan`; returns its stdout.
pub(crate) fn self_test(plan: &Plan) -> Result<String> {
    let config = super::SandboxConfig::default();
    let base = super::workdir::BaseDir::create(None)?;
    let dir = WorkDir::create(&base, &config, plan.mount_tmpfs)?;
    let spec = RunSpec::new(["cat", "/proc/net/dev"]);
    let lease = match plan.uids.is_empty() {
        true => None,
        false => Some(super::lease::lease(&plan.uids)?),
    };
    let out = run(plan, lease.as_ref().map(|l| l.uid), &dir, &spec, None)?;
    if !out.success() {
        return Err(SandboxError::Setup(format!(
            "self-test exited {:?}: {}",
            out.exit,
            out.stderr_lossy().trim()
        )));
    }
    Ok(out.stdout_lossy())
}

fn passed_fds(plan: &Plan, spec: &RunSpec) -> Result<(PassedFds, Option<OwnedFd>)> {
    if plan.bwrap.is_none() {
        let none = PassedFds {
            status_write: None,
            seccomp_read: None,
            preload: None,
        };
        return Ok((none, None));
    }
    let (status_read, status_write) = pipe()?;
    let seccomp_read = if plan.seccomp {
        let (read, write) = pipe()?;
        let mut file = std::fs::File::from(write);
        file.write_all(&launch::seccomp_program())
            .map_err(io_err("write the seccomp program"))?;
        Some(read)
    } else {
        None
    };
    let preload = match &spec.preload {
        Some(lib) => Some(OwnedFd::from(
            std::fs::File::open(lib)
                .map_err(io_err(format!("open preload library {}", lib.display())))?,
        )),
        None => None,
    };
    let fds = PassedFds {
        status_write: Some(status_write),
        seccomp_read,
        preload,
    };
    Ok((fds, Some(status_read)))
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: fds is a valid array of two descriptors for the kernel to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io_err("pipe")(std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors are fresh and owned by us.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// bwrap writes `"child-pid"` to its status fd only once the sandbox is set up.
fn bwrap_started_child(fd: OwnedFd) -> bool {
    set_nonblocking(fd.as_raw_fd());
    let mut text = String::new();
    let _ = std::fs::File::from(fd).read_to_string(&mut text);
    text.contains("\"child-pid\"")
}

fn exit_kind(status: ExitStatus, via_bwrap: bool) -> ExitKind {
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        return ExitKind::Signaled(sig);
    }
    match status.code() {
        Some(code) if via_bwrap && (129..=192).contains(&code) => ExitKind::Signaled(code - 128),
        Some(code) => ExitKind::Exited(code),
        None => ExitKind::Signaled(0),
    }
}

/// One captured output stream, kept up to `cap` bytes.
struct Capture {
    fd: Option<OwnedFd>,
    bytes: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capture {
    fn new(fd: Option<OwnedFd>, cap: usize) -> Capture {
        if let Some(f) = &fd {
            set_nonblocking(f.as_raw_fd());
        }
        Capture {
            fd,
            bytes: Vec::new(),
            cap,
            truncated: false,
        }
    }

    fn open(&self) -> bool {
        self.fd.is_some()
    }

    fn read_available(&mut self) {
        let Some(fd) = &self.fd else { return };
        let mut buf = [0u8; 65536];
        loop {
            // SAFETY: reading into a stack buffer of the stated length.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                let n = n as usize;
                let room = self.cap.saturating_sub(self.bytes.len());
                self.bytes.extend_from_slice(&buf[..n.min(room)]);
                if n > room {
                    self.truncated = true;
                    self.fd = None;
                    return;
                }
            } else if n == 0 {
                self.fd = None;
                return;
            } else {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::Interrupted {
                    if e.kind() != std::io::ErrorKind::WouldBlock {
                        self.fd = None;
                    }
                    return;
                }
            }
        }
    }

    fn lossy_trimmed(&self) -> String {
        String::from_utf8_lossy(&self.bytes).trim().to_string()
    }
}

struct Ready {
    stdin: bool,
}

fn poll_fds(stdin: Option<RawFd>, pipes: &[Capture; 2], wait: Duration) -> Ready {
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
    if let Some(fd) = stdin {
        fds.push(libc::pollfd {
            fd,
            events: libc::POLLOUT,
            revents: 0,
        });
    }
    for p in pipes {
        if let Some(fd) = &p.fd {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
    }
    if fds.is_empty() {
        // Both pipes closed: the run is ending; look again soon.
        std::thread::sleep(wait.min(Duration::from_millis(2)));
        return Ready { stdin: false };
    }
    let ms = wait.as_millis().clamp(1, 1000) as libc::c_int;
    // SAFETY: fds is a valid array of pollfd of the given length.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
    Ready {
        stdin: stdin.is_some() && fds[0].revents != 0,
    }
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}
