//! The sandbox every compile and run of model-written code goes through.
//!
//! Layers, strongest first (see DESIGN.md "The sandbox" for the measurements behind each):
//! a dedicated non-root uid per worker (`sectune-run0..N`, made by `scripts/install-sandbox.sh`),
//! bubblewrap with new user/pid/net/ipc/uts namespaces, a read-only root holding only `/usr`,
//! a size-capped tmpfs work folder, rlimits, a memory and pids cgroup per run (where writable),
//! a wall clock with TERM-then-KILL of everything the run uid owns, a total-RSS watchdog, and a
//! seccomp filter. Layers that cannot be had on this
//! machine are left out and named in [`Layers`], which every report records; nothing is dropped
//! silently.
//!
//! ```no_run
//! use sectune::eval::sandbox::{Sandbox, SandboxConfig, RunSpec};
//! let sandbox = Sandbox::new(SandboxConfig::default())?;
//! let dir = sandbox.workdir()?;
//! dir.write_file("a.c", b"int main(void){return 0;}")?;
//! let out = sandbox.run(&dir, &RunSpec::new(["gcc", "-c", "a.c"]))?;
//! assert!(out.success());
//! # Ok::<(), sectune::eval::sandbox::SandboxError>(())
//! ```

mod cgroup;
mod launch;
mod lease;
mod probe;
mod procs;
mod supervise;
mod workdir;

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

pub use cgroup::CgroupStats;
pub use workdir::WorkDir;

/// Errors of the sandbox itself (never of the program it runs: those are a [`RunOutcome`]).
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("sandbox: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox could not start the program (bubblewrap said: {0}); run scripts/install-sandbox.sh as root, or pass --weak-sandbox to accept fewer layers")]
    Setup(String),
    #[error("sandbox layer required but unavailable: {0}; run scripts/install-sandbox.sh as root")]
    Unavailable(String),
    #[error("sandbox: file name {0:?} must be a plain relative path inside the work folder")]
    BadName(String),
    #[error("sandbox: {0:?} in the work folder is not a regular file (FIFO, device, folder or symlink refused)")]
    NotRegular(String),
    #[error("sandbox: empty argv")]
    EmptyArgv,
}

pub type Result<T> = std::result::Result<T, SandboxError>;

pub(crate) fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> SandboxError {
    let context = context.into();
    move |source| SandboxError::Io { context, source }
}

/// How the sandbox is set up; `Default` is what the CLI uses.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Parallel runs allowed at once (each takes one run uid).
    pub workers: usize,
    /// Run users are `{user_prefix}0`, `{user_prefix}1`, … from /etc/passwd.
    pub user_prefix: String,
    /// Refuse to start unless bwrap, a separate uid and the network namespace are all active.
    pub require_full_isolation: bool,
    /// Size cap of each work folder (a tmpfs of its own when we may mount).
    pub workdir_bytes: u64,
    /// Inode cap of each work folder (stops "many files").
    pub workdir_files: u64,
    /// Size of the sandbox's private /tmp.
    pub tmp_bytes: u64,
    /// Where work folders are made; default: the system temp dir.
    pub base_dir: Option<PathBuf>,
    /// Use bubblewrap when installed; `false` exercises the fallback (tests, debugging) and is
    /// reported as a missing layer like any other.
    pub use_bwrap: bool,
    /// Put each run in a memory and pids cgroup of its own when one is writable; `false`
    /// exercises the fallback and is reported as a missing layer.
    pub use_cgroups: bool,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            user_prefix: "sectune-run".into(),
            require_full_isolation: false,
            workdir_bytes: 256 << 20,
            workdir_files: 4096,
            tmp_bytes: 64 << 20,
            base_dir: None,
            use_bwrap: true,
            use_cgroups: true,
        }
    }
}

/// Which isolation layers are active; recorded in every report.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Layers {
    /// bubblewrap version when used.
    pub bwrap: Option<String>,
    /// Each run has a uid of its own (killing by uid reaches every process it made).
    pub separate_uid: bool,
    pub user_namespace: bool,
    pub pid_namespace: bool,
    /// Network namespace holding only `lo`.
    pub net_namespace: bool,
    /// Root is read-only and holds only /usr (+ linker cache); /etc, /home, /root are absent.
    pub minimal_root: bool,
    /// Work folder is a tmpfs with size and inode caps.
    pub workdir_tmpfs: bool,
    pub rlimits: bool,
    /// Each run in its own memory and pids cgroup (which version), removed after the run.
    pub cgroup: Option<String>,
    /// Total RSS of the run's processes polled and the run killed above the limit.
    pub rss_watchdog: bool,
    pub seccomp: bool,
    /// Our own process is a child subreaper and reaps the run's orphans.
    pub subreaper: bool,
    /// Human-readable reasons for every missing layer.
    pub missing: Vec<String>,
}

impl Layers {
    /// One line for logs and reports, e.g. `bwrap 0.8.0, uid, userns, pidns, netns, ...`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = &self.bwrap {
            parts.push(format!("bwrap {v}"));
        }
        if let Some(c) = &self.cgroup {
            parts.push(c.clone());
        }
        for (on, name) in [
            (self.separate_uid, "uid"),
            (self.user_namespace, "userns"),
            (self.pid_namespace, "pidns"),
            (self.net_namespace, "netns"),
            (self.minimal_root, "ro-root"),
            (self.workdir_tmpfs, "tmpfs-workdir"),
            (self.rlimits, "rlimits"),
            (self.rss_watchdog, "rss-watchdog"),
            (self.seccomp, "seccomp"),
            (self.subreaper, "subreaper"),
        ] {
            if on {
                parts.push(name.to_string());
            }
        }
        let mut s = parts.join(", ");
        if !self.missing.is_empty() {
            s.push_str(&format!("; missing: {}", self.missing.join("; ")));
        }
        s
    }
}

/// Resource limits of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    /// RLIMIT_CPU, per process.
    pub cpu_secs: u64,
    /// Wall clock for the whole run; TERM then KILL after it.
    pub wall: Duration,
    /// RLIMIT_AS per process; `None` for sanitizer builds (ASan reserves terabytes of shadow).
    pub address_space_bytes: Option<u64>,
    /// Total memory of all the run's processes: the cgroup's limit where there is one, and the
    /// RSS watchdog's in any case.
    pub memory_bytes: u64,
    /// RLIMIT_FSIZE.
    pub file_size_bytes: u64,
    /// Processes and threads of the run: the cgroup's pids.max where there is one (RLIMIT_NPROC
    /// then twice this, as a backup), else RLIMIT_NPROC (effective only under a separate uid).
    pub processes: u64,
    /// RLIMIT_NOFILE.
    pub open_files: u64,
    /// Bytes kept of stdout and of stderr each; more ends the run with `OutputLimit`.
    pub output_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            cpu_secs: 10,
            wall: Duration::from_secs(20),
            address_space_bytes: Some(2 << 30),
            memory_bytes: 1 << 30,
            file_size_bytes: 64 << 20,
            processes: 64,
            open_files: 256,
            output_bytes: 1 << 20,
        }
    }
}

/// An absolute path the program expects (e.g. `/safe`) shown inside the sandbox as a folder of
/// the work folder.
#[derive(Debug, Clone, Serialize)]
pub struct PathRedirect {
    /// Absolute path inside the sandbox, e.g. `/safe` or `/var/www/html`.
    pub inside: PathBuf,
    /// Relative folder in the work folder; created if missing.
    pub workdir_folder: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Program and arguments; the program is looked up on PATH inside the sandbox.
    pub argv: Vec<String>,
    pub stdin: Vec<u8>,
    /// Added to an empty environment (plus `PATH=/usr/bin:/bin` unless given here).
    pub env: Vec<(String, String)>,
    pub limits: Limits,
    pub umask: u32,
    /// A shared library (host path, opened by the harness) copied read-only into the sandbox
    /// and put in LD_PRELOAD.
    pub preload: Option<PathBuf>,
    pub redirects: Vec<PathRedirect>,
    /// A host folder of our own (e.g. precompiled headers) shown read-only to the run, at
    /// [`Sandbox::readonly_dir_inside`].
    pub readonly_dir: Option<PathBuf>,
}

impl RunSpec {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RunSpec {
            argv: argv.into_iter().map(Into::into).collect(),
            stdin: Vec::new(),
            env: Vec::new(),
            limits: Limits::default(),
            umask: 0o022,
            preload: None,
            redirects: Vec::new(),
            readonly_dir: None,
        }
    }

    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = bytes.into();
        self
    }

    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ExitKind {
    Exited(i32),
    /// Killed by this signal (under bwrap, exit codes 129..=192 are read as signals, as bwrap
    /// reports a signalled child as 128 + signal).
    Signaled(i32),
    TimedOut,
    OutputLimit,
    MemoryLimit,
}

/// The result of one run.
#[derive(Debug, Clone, Serialize)]
pub struct RunOutcome {
    pub exit: ExitKind,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub wall: Duration,
    /// Processes of the run still alive after its main process ended, killed by us.
    pub leftovers_killed: usize,
    /// Highest total RSS the watchdog saw (bytes), when it ran.
    pub peak_rss_bytes: Option<u64>,
    /// Processes of the run found alive after the final kill, while the run still held its uid
    /// (0 unless containment failed).
    pub survivors: usize,
    /// What the run's cgroup counted, when it had one.
    pub cgroup: Option<CgroupStats>,
}

impl RunOutcome {
    /// Exited with status 0.
    pub fn success(&self) -> bool {
        self.exit == ExitKind::Exited(0)
    }

    pub fn stdout_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_lossy(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// A configured sandbox; cheap to share across threads (`&Sandbox` is `Sync`).
pub struct Sandbox {
    config: SandboxConfig,
    layers: Layers,
    plan: probe::Plan,
    base: workdir::BaseDir,
    cgroups: Option<cgroup::Cgroups>,
}

impl Sandbox {
    /// Probes the machine, picks the strongest layers available and says which in `layers()`.
    pub fn new(config: SandboxConfig) -> Result<Sandbox> {
        let (plan, mut layers) = probe::probe(&config)?;
        let cgroups = if !config.use_cgroups {
            layers.missing.push(
                "cgroups turned off by the configuration: total memory bounded by the RSS watchdog only".into(),
            );
            None
        } else {
            match cgroup::Cgroups::probe() {
                Ok(groups) => {
                    layers.cgroup = Some(groups.describe());
                    Some(groups)
                }
                Err(why) => {
                    layers.missing.push(format!(
                        "no cgroup per run ({why}): total memory bounded by the RSS watchdog, processes by RLIMIT_NPROC"
                    ));
                    None
                }
            }
        };
        if config.require_full_isolation && !layers.missing.is_empty() {
            return Err(SandboxError::Unavailable(layers.missing.join("; ")));
        }
        let base = workdir::BaseDir::create(config.base_dir.as_deref())?;
        Ok(Sandbox {
            config,
            layers,
            plan,
            base,
            cgroups,
        })
    }

    /// Which isolation layers are active.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// This sandbox's cgroup folders (one per hierarchy), which hold a group per running run
    /// and are removed on drop; `None` without the cgroup layer.
    pub fn cgroup_folders(&self) -> Option<Vec<PathBuf>> {
        self.cgroups.as_ref().map(|c| c.folders().to_vec())
    }

    /// The uids runs execute under (empty when runs share our own uid).
    pub fn run_uids(&self) -> Vec<u32> {
        self.plan.uids.clone()
    }

    /// Runs that may go at once (the number of run uids, or `workers` without them).
    pub fn parallelism(&self) -> usize {
        if self.plan.uids.is_empty() {
            self.config.workers.max(1)
        } else {
            self.plan.uids.len()
        }
    }

    /// Where a run sees its `RunSpec::readonly_dir` (the host path itself without bubblewrap).
    pub fn readonly_dir_inside(&self, host: &std::path::Path) -> PathBuf {
        if self.plan.bwrap.is_some() {
            PathBuf::from(launch::INSIDE_READONLY)
        } else {
            host.to_path_buf()
        }
    }

    /// A fresh, empty work folder (a capped tmpfs when we may mount), removed on drop.
    pub fn workdir(&self) -> Result<WorkDir> {
        WorkDir::create(&self.base, &self.config, self.plan.mount_tmpfs)
    }

    /// Runs `spec` in `dir` and waits for it; the program's failures are in the outcome, an
    /// `Err` means the sandbox itself failed.
    pub fn run(&self, dir: &WorkDir, spec: &RunSpec) -> Result<RunOutcome> {
        if spec.argv.is_empty() {
            return Err(SandboxError::EmptyArgv);
        }
        let lease = match self.plan.uids.is_empty() {
            true => None,
            false => Some(lease::lease(&self.plan.uids)?),
        };
        let group = match &self.cgroups {
            Some(groups) => Some(
                groups
                    .run_group(spec.limits.memory_bytes, spec.limits.processes)
                    .map_err(io_err("make the run's cgroup"))?,
            ),
            None => None,
        };
        supervise::run(
            &self.plan,
            lease.as_ref().map(|l| l.uid),
            dir,
            spec,
            group.as_ref(),
        )
    }
}
