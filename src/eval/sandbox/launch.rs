//! Builds the command line of one run: bubblewrap's arguments, the seccomp filter, and the
//! pre-exec step (process group, umask, rlimits, descriptors, run uid, no-new-privs).

use std::ffi::OsString;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use super::cgroup::RunGroup;
use super::probe::{Plan, RootEntry};
use super::{RunSpec, WorkDir};

/// Where the work folder and a preload library appear inside the sandbox.
pub(crate) const INSIDE_WORKDIR: &str = "/work";
const INSIDE_PRELOAD: &str = "/run/sectune/preload.so";
pub(crate) const INSIDE_READONLY: &str = "/run/sectune/ro";
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Descriptors that must reach bubblewrap (status report, seccomp program).
pub(crate) struct PassedFds {
    pub status_write: Option<OwnedFd>,
    pub seccomp_read: Option<OwnedFd>,
    /// The preload library opened by us, so its host folder need not be open to the run uid.
    pub preload: Option<OwnedFd>,
}

pub(crate) fn command(
    plan: &Plan,
    uid: Option<u32>,
    dir: &WorkDir,
    spec: &RunSpec,
    fds: &PassedFds,
    group: Option<&RunGroup>,
) -> Command {
    let mut env: Vec<(String, String)> = spec.env.clone();
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.push(("PATH".into(), DEFAULT_PATH.into()));
    }
    let mut cmd = match &plan.bwrap {
        Some(bwrap) => {
            let mut cmd = Command::new(bwrap);
            cmd.args(bwrap_args(plan, dir, spec, fds, &mut env));
            cmd.arg("--");
            cmd.args(&spec.argv);
            cmd
        }
        None => {
            if let Some(lib) = &spec.preload {
                env.push(("LD_PRELOAD".into(), lib.display().to_string()));
            }
            let mut cmd = Command::new(&spec.argv[0]);
            cmd.args(&spec.argv[1..]);
            cmd.current_dir(dir.path());
            cmd
        }
    };
    cmd.env_clear();
    if plan.bwrap.is_none() {
        cmd.envs(env.iter().map(|(k, v)| (k, v)));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());

    let limits = rlimits(spec, uid, group.is_some());
    let cgroup_procs: Vec<std::ffi::CString> =
        group.map(|g| g.procs_files.clone()).unwrap_or_default();
    let umask = spec.umask as libc::mode_t;
    let keep: [RawFd; 3] = [
        fds.status_write.as_ref().map_or(-1, |f| f.as_raw_fd()),
        fds.seccomp_read.as_ref().map_or(-1, |f| f.as_raw_fd()),
        fds.preload.as_ref().map_or(-1, |f| f.as_raw_fd()),
    ];
    // SAFETY: the closure only makes async-signal-safe syscalls on data prepared before fork.
    unsafe {
        cmd.pre_exec(move || pre_exec(&limits, umask, keep, uid, &cgroup_procs));
    }
    cmd
}

fn bwrap_args(
    plan: &Plan,
    dir: &WorkDir,
    spec: &RunSpec,
    fds: &PassedFds,
    env: &mut Vec<(String, String)>,
) -> Vec<OsString> {
    let mut a: Vec<OsString> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(OsString::from));
    push(&[
        "--unshare-user",
        "--disable-userns",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
        "--die-with-parent",
        "--new-session",
        "--cap-drop",
        "ALL",
    ]);
    for entry in &plan.root_entries {
        match entry {
            RootEntry::RoBind(p) => a.extend(["--ro-bind".into(), p.into(), p.into()]),
            RootEntry::RoBindTry(p) => a.extend(["--ro-bind-try".into(), p.into(), p.into()]),
            RootEntry::Symlink { target, at } => {
                a.extend(["--symlink".into(), target.into(), at.into()])
            }
        }
    }
    let tmp_size = plan.tmp_bytes.to_string();
    a.extend(
        [
            "--proc", "/proc", "--dev", "/dev", "--size", &tmp_size, "--tmpfs", "/tmp",
        ]
        .iter()
        .map(OsString::from),
    );
    a.extend(["--bind".into(), dir.path().into(), INSIDE_WORKDIR.into()]);
    for r in &spec.redirects {
        a.extend([
            "--bind".into(),
            dir.path().join(&r.workdir_folder).into_os_string(),
            r.inside.clone().into_os_string(),
        ]);
    }
    if let Some(host) = &spec.readonly_dir {
        a.extend([
            "--ro-bind".into(),
            host.clone().into_os_string(),
            INSIDE_READONLY.into(),
        ]);
    }
    if let Some(fd) = &fds.preload {
        a.extend([
            "--perms".into(),
            "0555".into(),
            "--ro-bind-data".into(),
            fd.as_raw_fd().to_string().into(),
            INSIDE_PRELOAD.into(),
        ]);
        env.push(("LD_PRELOAD".into(), INSIDE_PRELOAD.into()));
    }
    a.extend(
        ["--remount-ro", "/", "--chdir", INSIDE_WORKDIR]
            .iter()
            .map(OsString::from),
    );
    if let Some(fd) = &fds.status_write {
        a.extend(["--json-status-fd".into(), fd.as_raw_fd().to_string().into()]);
    }
    if let Some(fd) = &fds.seccomp_read {
        a.extend(["--seccomp".into(), fd.as_raw_fd().to_string().into()]);
    }
    for (k, v) in env.iter() {
        a.extend(["--setenv".into(), k.into(), v.into()]);
    }
    a
}

type Rlimit = (libc::__rlimit_resource_t, libc::rlim_t, libc::rlim_t);

fn rlimits(spec: &RunSpec, uid: Option<u32>, cgroup: bool) -> Vec<Rlimit> {
    let l = &spec.limits;
    let mut v: Vec<Rlimit> = vec![
        (libc::RLIMIT_CPU, l.cpu_secs, l.cpu_secs + 1),
        (libc::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes),
        (libc::RLIMIT_NOFILE, l.open_files, l.open_files),
        (libc::RLIMIT_CORE, 0, 0),
    ];
    if let Some(bytes) = l.address_space_bytes {
        v.push((libc::RLIMIT_AS, bytes, bytes));
    }
    // Under our own uid the count includes every process we already have.
    // With a cgroup, its pids.max is the bound (per run, not per uid) and this a backup.
    let per_run = if cgroup { l.processes * 2 } else { l.processes };
    let procs = match uid {
        Some(_) => per_run,
        None => super::procs::processes_of_uid(current_uid()) as u64 + l.processes,
    };
    v.push((libc::RLIMIT_NPROC, procs, procs));
    v
}

fn current_uid() -> u32 {
    // SAFETY: getuid has no preconditions.
    unsafe { libc::getuid() }
}

/// Runs in the forked child before exec: only syscalls, no allocation.
fn pre_exec(
    limits: &[Rlimit],
    umask: libc::mode_t,
    keep: [RawFd; 3],
    uid: Option<u32>,
    cgroup_procs: &[std::ffi::CString],
) -> std::io::Result<()> {
    let check = |rc: libc::c_int| {
        if rc == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    // SAFETY: plain syscalls on values owned by this (forked) process.
    unsafe {
        check(libc::setpgid(0, 0))?;
        // Join the run's cgroups while still root ("0" is the writing process); the run uid
        // cannot write cgroup files, so nothing it starts can leave them.
        for path in cgroup_procs {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
            if written != 1 {
                return Err(std::io::Error::last_os_error());
            }
        }
        libc::umask(umask);
        for &(resource, soft, hard) in limits {
            let lim = libc::rlimit {
                rlim_cur: soft,
                rlim_max: hard,
            };
            check(libc::setrlimit(resource, &lim))?;
        }
        // Every inherited descriptor but the two bwrap needs closes at exec.
        if libc::close_range(3, u32::MAX, libc::CLOSE_RANGE_CLOEXEC as libc::c_int) != 0 {
            for fd in 3..4096 {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            }
        }
        for fd in keep {
            if fd >= 0 {
                check(libc::fcntl(fd, libc::F_SETFD, 0))?;
            }
        }
        if let Some(uid) = uid {
            check(libc::setgroups(0, std::ptr::null()))?;
            check(libc::setresgid(uid, uid, uid))?;
            check(libc::setresuid(uid, uid, uid))?;
        }
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        // Set after the uid change, which clears it.
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
    }
    Ok(())
}

pub(crate) fn seccomp_supported() -> bool {
    cfg!(target_arch = "x86_64")
}

/// Syscalls no judged program needs and that widen the kernel surface or escape the sandbox.
#[cfg(target_arch = "x86_64")]
const DENIED_SYSCALLS: &[u32] = &[
    101, // ptrace
    321, // bpf
    298, // perf_event_open
    323, // userfaultfd
    425, 426, 427, // io_uring_setup, io_uring_enter, io_uring_register
    248, 249, 250, // add_key, request_key, keyctl
    246, 320, // kexec_load, kexec_file_load
    175, 313, 176, // init_module, finit_module, delete_module
    165, 166, 155, // mount, umount2, pivot_root
    272, 308, // unshare, setns
    167, 168, 169, // swapon, swapoff, reboot
];

/// A classic-BPF seccomp program (as bwrap's `--seccomp` reads it): deny the syscalls above and
/// `ioctl(_, TIOCSTI)` with EPERM, kill other architectures and the x32 ABI, allow the rest.
#[cfg(target_arch = "x86_64")]
pub(crate) fn seccomp_program() -> Vec<u8> {
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_BIT: u32 = 0x4000_0000;
    const IOCTL: u32 = 16;
    const TIOCSTI: u32 = 0x5412;
    let ld = |k: u32| (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0u8, 0u8, k);
    let ret = |k: u32| (libc::BPF_RET | libc::BPF_K, 0u8, 0u8, k);
    let deny = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    let mut prog: Vec<(u32, u8, u8, u32)> = vec![
        ld(4), // seccomp_data.arch
        (
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            1,
            0,
            AUDIT_ARCH_X86_64,
        ),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
        ld(0), // seccomp_data.nr
        (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K, 0, 1, X32_BIT),
        ret(libc::SECCOMP_RET_KILL_PROCESS),
    ];
    for &nr in DENIED_SYSCALLS {
        prog.push((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, nr));
        prog.push(ret(deny));
    }
    // ioctl: compare the low word of args[1] (offset 24) with TIOCSTI.
    prog.push((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 3, IOCTL));
    prog.push(ld(24));
    prog.push((libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K, 0, 1, TIOCSTI));
    prog.push(ret(deny));
    prog.push(ret(libc::SECCOMP_RET_ALLOW));
    let mut bytes = Vec::with_capacity(prog.len() * 8);
    for (code, jt, jf, k) in prog {
        bytes.extend_from_slice(&(code as u16).to_ne_bytes());
        bytes.push(jt);
        bytes.push(jf);
        bytes.extend_from_slice(&k.to_ne_bytes());
    }
    bytes
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn seccomp_program() -> Vec<u8> {
    Vec::new()
}
