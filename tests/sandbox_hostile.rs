//! Hostile programs against the sandbox: each test states what "contained" means.
//! Needs gcc; the namespace tests need bubblewrap (scripts/install-sandbox.sh) and say so when
//! they skip.

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use sectune::eval::sandbox::{
    ExitKind, Limits, RunOutcome, RunSpec, Sandbox, SandboxConfig, WorkDir,
};

const WORKDIR_BYTES: u64 = 16 << 20;
const WORKDIR_FILES: u64 = 512;

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        let config = SandboxConfig {
            workdir_bytes: WORKDIR_BYTES,
            workdir_files: WORKDIR_FILES,
            tmp_bytes: 8 << 20,
            ..SandboxConfig::default()
        };
        let sb = Sandbox::new(config).expect("sandbox set up");
        eprintln!("sandbox layers: {}", sb.layers().summary());
        sb
    })
}

fn has_bwrap() -> bool {
    let present = sandbox().layers().bwrap.is_some();
    if !present {
        eprintln!("skipped: bubblewrap not active (run scripts/install-sandbox.sh)");
    }
    present
}

fn fast_limits() -> Limits {
    Limits {
        cpu_secs: 2,
        wall: Duration::from_secs(4),
        address_space_bytes: Some(512 << 20),
        memory_bytes: 256 << 20,
        file_size_bytes: 1 << 20,
        processes: 32,
        open_files: 64,
        output_bytes: 64 << 10,
    }
}

/// Compiles tests/hostile/NAME.c to `prog` inside the sandbox.
fn build(dir: &WorkDir, name: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hostile")
        .join(format!("{name}.c"));
    let text = std::fs::read(&src).expect("hostile source");
    dir.write_file("prog.c", &text).unwrap();
    let spec = RunSpec::new(["gcc", "-O", "-pthread", "-o", "prog", "prog.c"]);
    let out = sandbox().run(dir, &spec).unwrap();
    assert!(
        out.success(),
        "compiling {name} failed: {}",
        out.stderr_lossy()
    );
}

fn run_prog(dir: &WorkDir, args: &[&str], limits: Limits) -> RunOutcome {
    let mut argv = vec!["./prog".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    sandbox()
        .run(dir, &RunSpec::new(argv).limits(limits))
        .unwrap()
}

#[test]
fn fork_bomb_is_contained_and_nothing_survives() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "forkbomb");
    let out = run_prog(
        &dir,
        &[],
        Limits {
            wall: Duration::from_secs(2),
            ..fast_limits()
        },
    );
    assert_ne!(out.exit, ExitKind::Exited(0));
    assert_eq!(out.survivors, 0, "fork bomb processes survived the run");
    // With a cgroup, its pids.max (not RLIMIT_NPROC, set at twice that) refuses the forks.
    match (&sandbox().layers().cgroup, out.cgroup) {
        (Some(_), Some(stats)) => assert!(
            stats.pids_limit_hits > 0,
            "the cgroup refused no fork: {stats:?}"
        ),
        (Some(_), None) => panic!("the run had no cgroup although the layer is active"),
        _ => eprintln!("cgroup part skipped: {}", sandbox().layers().summary()),
    }
    assert!(
        std::process::Command::new("true")
            .status()
            .unwrap()
            .success(),
        "the host can still start processes"
    );
}

#[test]
fn thread_bomb_is_contained() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "threadbomb");
    let out = run_prog(
        &dir,
        &[],
        Limits {
            wall: Duration::from_secs(2),
            ..fast_limits()
        },
    );
    assert_ne!(out.exit, ExitKind::Exited(0));
    assert_eq!(out.survivors, 0);
}

#[test]
fn infinite_loop_is_stopped_by_cpu_limit_or_wall_clock() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "spin");
    let out = run_prog(
        &dir,
        &[],
        Limits {
            cpu_secs: 1,
            ..fast_limits()
        },
    );
    assert!(
        matches!(out.exit, ExitKind::Signaled(libc_sigxcpu) if libc_sigxcpu == 24 || libc_sigxcpu == 9)
            || out.exit == ExitKind::TimedOut,
        "got {:?}",
        out.exit
    );
}

#[test]
fn wall_clock_stops_a_sleeper_with_time_out() {
    let dir = sandbox().workdir().unwrap();
    let spec = RunSpec::new(["sleep", "30"]).limits(Limits {
        wall: Duration::from_millis(300),
        ..fast_limits()
    });
    let out = sandbox().run(&dir, &spec).unwrap();
    assert_eq!(out.exit, ExitKind::TimedOut);
}

#[test]
fn huge_allocation_fails_under_address_space_limit() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "bigalloc");
    let out = run_prog(&dir, &[], fast_limits());
    // Contained: malloc refused by RLIMIT_AS (exit 3), or the run killed for memory.
    assert!(
        out.exit == ExitKind::Exited(3) || out.exit == ExitKind::MemoryLimit,
        "8 GiB allocation not stopped: {:?} {}",
        out.exit,
        out.stdout_lossy()
    );
}

#[test]
fn many_processes_over_total_memory_are_killed() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "manyproc_mem");
    // 8 × 96 MiB passes a 512 MiB per-process RLIMIT_AS but not 256 MiB in total.
    let out = run_prog(
        &dir,
        &[],
        Limits {
            wall: Duration::from_secs(10),
            ..fast_limits()
        },
    );
    assert_eq!(
        out.exit,
        ExitKind::MemoryLimit,
        "peak {:?}",
        out.peak_rss_bytes
    );
    // Stopped at the kill, not left waiting on the killed child until the wall clock.
    assert!(out.wall < Duration::from_secs(10), "ran {:?}", out.wall);
}

/// One process touching 512 MiB under a 128 MiB run limit: with a cgroup the kernel stops it at
/// the limit (an OOM kill inside the run's group, never above the limit); the watchdog, which
/// only polls, is not what stopped it.
#[test]
fn memory_hog_is_stopped_by_the_cgroup_at_its_limit() {
    let Some(layer) = &sandbox().layers().cgroup else {
        eprintln!(
            "skipped: no cgroup layer ({})",
            sandbox().layers().missing.join("; ")
        );
        return;
    };
    let dir = sandbox().workdir().unwrap();
    build(&dir, "memhog");
    let limit: u64 = 128 << 20;
    let out = run_prog(
        &dir,
        &["512"],
        Limits {
            address_space_bytes: None,
            memory_bytes: limit,
            wall: Duration::from_secs(10),
            ..fast_limits()
        },
    );
    let stats = out.cgroup.expect("the run had a cgroup");
    assert_eq!(out.exit, ExitKind::MemoryLimit, "{layer}: {stats:?}");
    assert!(stats.oom_kills >= 1, "{stats:?}");
    assert!(
        stats.memory_peak_bytes.is_some_and(|peak| peak <= limit),
        "{stats:?}"
    );
    assert!(
        !out.stdout_lossy().contains("touched all"),
        "the hog finished"
    );
    assert_eq!(out.survivors, 0);
}

/// Run groups go away after every run, also runs that were killed (wall clock, OOM, fork bomb),
/// and the sandbox's own folder goes when it is dropped.
#[test]
fn run_cgroups_are_removed_even_when_the_run_was_killed() {
    let sb = Sandbox::new(SandboxConfig::default()).unwrap();
    let Some(folders) = sb.cgroup_folders() else {
        eprintln!(
            "skipped: no cgroup layer ({})",
            sb.layers().missing.join("; ")
        );
        return;
    };
    let run_groups = || -> Vec<std::path::PathBuf> {
        folders
            .iter()
            .flat_map(|f| std::fs::read_dir(f).unwrap().flatten())
            .filter(|e| e.file_type().unwrap().is_dir())
            .map(|e| e.path())
            .collect()
    };
    let dir = sb.workdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile");
    for name in ["forkbomb", "memhog"] {
        let text = std::fs::read(src.join(format!("{name}.c"))).unwrap();
        dir.write_file(&format!("{name}.c"), &text).unwrap();
        let spec = RunSpec::new(["gcc", "-O", "-o", name, &format!("{name}.c")]);
        assert!(sb.run(&dir, &spec).unwrap().success());
        assert!(run_groups().is_empty(), "after compiling {name}");
    }
    let cases = [
        (vec!["./forkbomb"], Duration::from_secs(1)),
        (vec!["./memhog", "512"], Duration::from_secs(10)),
        (vec!["sleep", "30"], Duration::from_millis(200)),
    ];
    for (argv, wall) in cases {
        let spec = RunSpec::new(argv.clone()).limits(Limits {
            address_space_bytes: None,
            memory_bytes: 64 << 20,
            wall,
            ..fast_limits()
        });
        let out = sb.run(&dir, &spec).unwrap();
        assert_ne!(out.exit, ExitKind::Exited(0), "{argv:?}");
        assert!(run_groups().is_empty(), "{argv:?} left {:?}", run_groups());
    }
    drop(dir);
    drop(sb);
    for folder in &folders {
        assert!(!folder.exists(), "{} left behind", folder.display());
    }
}

#[test]
fn huge_file_stops_at_file_size_limit() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "bigfile");
    let out = run_prog(&dir, &[], fast_limits());
    assert_ne!(out.exit, ExitKind::Exited(0));
    let size = dir
        .stat_beneath("big.bin")
        .unwrap()
        .expect("big.bin written")
        .size;
    assert!(
        size <= 1 << 20,
        "file grew to {size} bytes past RLIMIT_FSIZE"
    );
}

#[test]
fn filling_the_work_folder_stops_at_its_cap() {
    if !sandbox().layers().workdir_tmpfs {
        eprintln!("skipped: work folder is not a capped tmpfs here (needs root)");
        return;
    }
    let dir = sandbox().workdir().unwrap();
    build(&dir, "fill");
    // Files of 512 KiB each stay under RLIMIT_FSIZE; only the tmpfs size stops them.
    let out = run_prog(&dir, &["524288"], fast_limits());
    let text = out.stdout_lossy();
    let bytes: u64 = text
        .split_whitespace()
        .nth(1)
        .and_then(|b| b.parse().ok())
        .expect("fill report");
    assert!(
        bytes <= WORKDIR_BYTES,
        "wrote {bytes} bytes into a {WORKDIR_BYTES}-byte folder"
    );
    // Empty files: only the inode cap stops them.
    let dir = sandbox().workdir().unwrap();
    build(&dir, "fill");
    let out = run_prog(&dir, &["0"], fast_limits());
    let files: u64 = out
        .stdout_lossy()
        .split_whitespace()
        .next()
        .and_then(|b| b.parse().ok())
        .expect("fill report");
    assert!(
        files <= WORKDIR_FILES,
        "made {files} files with an inode cap of {WORKDIR_FILES}"
    );
}

#[test]
fn network_is_unreachable_and_only_lo_exists() {
    if !has_bwrap() {
        return;
    }
    let dir = sandbox().workdir().unwrap();
    let out = sandbox()
        .run(&dir, &RunSpec::new(["cat", "/proc/net/dev"]))
        .unwrap();
    let names: Vec<String> = out
        .stdout_lossy()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next().map(|s| s.trim().to_string()))
        .collect();
    assert_eq!(names, ["lo"]);
    build(&dir, "connect");
    let out = run_prog(
        &dir,
        &[
            "1.1.1.1",
            "8.8.8.8",
            "10.0.0.1",
            "192.168.0.1",
            "172.17.0.1",
        ],
        fast_limits(),
    );
    assert!(
        !out.stdout_lossy().contains("connected"),
        "{}",
        out.stdout_lossy()
    );
    assert_eq!(out.exit, ExitKind::Exited(7));
}

#[test]
fn secrets_outside_the_work_folder_cannot_be_read() {
    if !has_bwrap() {
        return;
    }
    // A world-readable host file: only the sandbox's minimal root keeps it out.
    let secret_dir = tempfile::tempdir().unwrap();
    let secret = secret_dir.path().join("secret.txt");
    std::fs::write(&secret, "TOP-SECRET-42").unwrap();
    std::fs::set_permissions(
        secret_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let dir = sandbox().workdir().unwrap();
    build(&dir, "readfile");
    let secret_path = secret.to_str().unwrap();
    let out = run_prog(
        &dir,
        &[
            secret_path,
            "/etc/passwd",
            "/etc/shadow",
            "/root/.bashrc",
            "/home",
        ],
        fast_limits(),
    );
    let text = out.stdout_lossy();
    assert!(!text.contains("TOP-SECRET-42"));
    assert!(
        !text.contains("root:x:0:0"),
        "host /etc/passwd visible: {text}"
    );
    assert!(text.contains(&format!("cannot open {secret_path}")));
}

#[test]
fn writes_outside_the_work_folder_fail() {
    if !has_bwrap() {
        return;
    }
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        host_dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let host_target = host_dir.path().join("escaped.txt");
    let dir = sandbox().workdir().unwrap();
    build(&dir, "writeout");
    let out = run_prog(
        &dir,
        &[
            host_target.to_str().unwrap(),
            "/usr/escaped",
            "/escaped",
            "/etc/escaped",
        ],
        fast_limits(),
    );
    assert!(
        !host_target.exists(),
        "wrote into a world-writable host folder"
    );
    assert!(!Path::new("/usr/escaped").exists() && !Path::new("/escaped").exists());
    assert!(!out.stdout_lossy().contains("created /usr/escaped"));
    assert!(!out.stdout_lossy().contains("created /escaped"));
}

#[test]
fn daemon_outliving_its_parent_is_killed() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "daemon");
    let out = run_prog(&dir, &[], fast_limits());
    assert_eq!(out.exit, ExitKind::Exited(0));
    assert_eq!(out.survivors, 0, "daemon survived");
}

#[test]
fn child_holding_stdout_does_not_hang_the_run() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "holdstdout");
    let out = run_prog(
        &dir,
        &[],
        Limits {
            wall: Duration::from_secs(60),
            ..fast_limits()
        },
    );
    assert_eq!(out.exit, ExitKind::Exited(0));
    assert_eq!(out.stdout_lossy(), "parent done\n");
}

#[test]
fn unbounded_output_is_capped() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "flood");
    let out = run_prog(&dir, &[], fast_limits());
    assert_eq!(out.exit, ExitKind::OutputLimit);
    assert!(out.stdout_truncated);
    assert_eq!(out.stdout.len(), 64 << 10);
}

#[test]
fn planted_symlinks_and_fifos_are_refused_by_the_harness() {
    let dir = sandbox().workdir().unwrap();
    build(&dir, "plant");
    assert!(run_prog(&dir, &[], fast_limits()).success());
    assert!(
        dir.read_file_beneath("out.txt").is_err(),
        "followed a symlink to /etc/shadow"
    );
    assert!(
        dir.read_file_beneath("etcdir/passwd").is_err(),
        "walked a symlinked folder"
    );
    assert!(dir.read_file_beneath("fifo").is_err(), "opened a FIFO");
    assert!(
        dir.write_file("out.txt", b"x").is_err(),
        "wrote through a symlink"
    );
    assert!(dir.stat_beneath("out.txt").unwrap().unwrap().is_symlink);
}

#[test]
fn compiler_cannot_include_host_files() {
    if !has_bwrap() {
        return;
    }
    for name in ["include_passwd", "incbin_passwd"] {
        let dir = sandbox().workdir().unwrap();
        let src = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/hostile")
            .join(format!("{name}.c"));
        dir.write_file("leak.c", &std::fs::read(src).unwrap())
            .unwrap();
        let out = sandbox()
            .run(
                &dir,
                &RunSpec::new(["gcc", "-o", "leak", "leak.c"]).limits(fast_limits()),
            )
            .unwrap();
        assert!(!out.success(), "{name} compiled");
        assert!(
            !out.stderr_lossy().contains("root:x:0:0"),
            "{name} leaked passwd in diagnostics"
        );
    }
}

#[test]
fn compiler_reading_dev_zero_is_stopped() {
    let dir = sandbox().workdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/include_zero.c");
    dir.write_file("zero.c", &std::fs::read(src).unwrap())
        .unwrap();
    let out = sandbox()
        .run(
            &dir,
            &RunSpec::new(["gcc", "-c", "zero.c"]).limits(fast_limits()),
        )
        .unwrap();
    assert!(!out.success());
}

#[test]
fn environment_is_empty_but_for_what_the_spec_gives() {
    let dir = sandbox().workdir().unwrap();
    let spec = RunSpec::new(["env"]).env("ONLY", "this");
    let out = sandbox().run(&dir, &spec).unwrap();
    let mut keys: Vec<String> = out
        .stdout_lossy()
        .lines()
        .filter_map(|l| l.split('=').next().map(str::to_string))
        .collect();
    keys.sort();
    // bwrap sets PWD for --chdir; nothing of ours leaks.
    keys.retain(|k| k != "PWD");
    assert_eq!(keys, ["ONLY", "PATH"]);
}

#[test]
fn stdin_reaches_the_program_and_redirects_map_absolute_paths() {
    let dir = sandbox().workdir().unwrap();
    let out = sandbox()
        .run(
            &dir,
            &RunSpec::new(["cat"]).stdin(b"hello sandbox".to_vec()),
        )
        .unwrap();
    assert_eq!(out.stdout_lossy(), "hello sandbox");
    if !has_bwrap() {
        return;
    }
    dir.create_dir_all("safe_root").unwrap();
    dir.write_file("safe_root/data.txt", b"planted").unwrap();
    let mut spec = RunSpec::new(["cat", "/safe/data.txt"]);
    spec.redirects.push(sectune::eval::sandbox::PathRedirect {
        inside: "/safe".into(),
        workdir_folder: "safe_root".into(),
    });
    let out = sandbox().run(&dir, &spec).unwrap();
    assert_eq!(out.stdout_lossy(), "planted");
}

#[test]
fn seccomp_denies_kernel_attack_surface() {
    if !sandbox().layers().seccomp {
        eprintln!("skipped: seccomp layer not active here");
        return;
    }
    let dir = sandbox().workdir().unwrap();
    build(&dir, "syscalls");
    let out = run_prog(&dir, &[], fast_limits());
    let text = out.stdout_lossy();
    for name in ["ptrace", "io_uring_setup", "bpf", "keyctl"] {
        assert!(
            text.contains(&format!("{name} EPERM")),
            "{name} not denied: {text}"
        );
    }
}

#[test]
fn preload_library_from_a_root_only_folder_is_loaded() {
    // The library's folder is closed to the run uid: the harness opens it and passes it in.
    let host = tempfile::tempdir().unwrap();
    let src = host.path().join("hello.c");
    std::fs::write(
        &src,
        "#include <unistd.h>\n__attribute__((constructor)) static void hello(void) { write(2, \"preloaded\\n\", 10); }\n",
    )
    .unwrap();
    let lib = host.path().join("libhello.so");
    let status = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let dir = sandbox().workdir().unwrap();
    let mut spec = RunSpec::new(["cat", "/dev/null"]).limits(fast_limits());
    spec.preload = Some(lib);
    let out = sandbox().run(&dir, &spec).unwrap();
    assert!(out.success(), "{:?} {}", out.exit, out.stderr_lossy());
    assert_eq!(out.stderr_lossy(), "preloaded\n");
}

#[test]
fn umask_reaches_the_program() {
    let dir = sandbox().workdir().unwrap();
    let mut spec = RunSpec::new(["sh", "-c", "umask"]).limits(fast_limits());
    spec.umask = 0o000;
    let out = sandbox().run(&dir, &spec).unwrap();
    assert_eq!(out.stdout_lossy().trim(), "0000");
}

/// Without bubblewrap the sandbox falls back to uid (when root) + process group + rlimits +
/// wall clock, and says so.
#[test]
fn fallback_without_bwrap_still_bounds_time_output_and_processes() {
    let config = SandboxConfig {
        use_bwrap: false,
        ..SandboxConfig::default()
    };
    let sb = Sandbox::new(config).unwrap();
    assert!(sb.layers().bwrap.is_none() && !sb.layers().net_namespace);
    assert!(sb.layers().missing.iter().any(|m| m.contains("bubblewrap")));
    let dir = sb.workdir().unwrap();
    let out = sb
        .run(&dir, &RunSpec::new(["cat"]).stdin(b"in".to_vec()))
        .unwrap();
    assert_eq!(out.stdout_lossy(), "in");
    let spec = RunSpec::new(["sleep", "30"]).limits(Limits {
        wall: Duration::from_millis(300),
        ..fast_limits()
    });
    assert_eq!(sb.run(&dir, &spec).unwrap().exit, ExitKind::TimedOut);
    let spec = RunSpec::new(["yes"]).limits(fast_limits());
    let out = sb.run(&dir, &spec).unwrap();
    assert_eq!(out.exit, ExitKind::OutputLimit);
    // A double-forked sleeper leaves the process group but not the run uid.
    let spec =
        RunSpec::new(["sh", "-c", "(setsid sleep 300 &) ; echo started"]).limits(fast_limits());
    let out = sb.run(&dir, &spec).unwrap();
    assert_eq!(out.stdout_lossy(), "started\n");
    if sb.layers().separate_uid {
        assert_eq!(out.survivors, 0, "the daemon outlived the run");
        assert!(out.leftovers_killed >= 1, "the daemon was not seen");
    }
}

/// Without cgroups the total-RSS watchdog still stops many processes that each stay under
/// their own RLIMIT_AS, and the report says the cgroup layer is missing.
#[test]
fn without_cgroups_the_watchdog_bounds_total_memory() {
    let config = SandboxConfig {
        use_cgroups: false,
        ..SandboxConfig::default()
    };
    let sb = Sandbox::new(config).unwrap();
    assert!(sb.layers().cgroup.is_none());
    assert!(sb.layers().missing.iter().any(|m| m.contains("cgroup")));
    let dir = sb.workdir().unwrap();
    let text =
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile/manyproc_mem.c"))
            .unwrap();
    dir.write_file("prog.c", &text).unwrap();
    let spec = RunSpec::new(["gcc", "-O", "-o", "prog", "prog.c"]);
    assert!(sb.run(&dir, &spec).unwrap().success());
    let spec = RunSpec::new(["./prog"]).limits(Limits {
        wall: Duration::from_secs(10),
        ..fast_limits()
    });
    let out = sb.run(&dir, &spec).unwrap();
    assert_eq!(
        out.exit,
        ExitKind::MemoryLimit,
        "peak {:?}",
        out.peak_rss_bytes
    );
    assert!(out.cgroup.is_none());
    assert_eq!(out.survivors, 0);
}
