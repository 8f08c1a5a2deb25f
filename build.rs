//! Compiles kernels/*.cu with nvcc into one fatbin per file, parses `ptxas -v` into a per-kernel
//! report, and writes OUT_DIR/kernels.rs (one const per fatbin, the module enum, the report), which
//! src/backend/cuda/kernels.rs includes. Without nvcc the build still succeeds: the generated file
//! then says no kernels were built, and a cargo warning says how to get them.
//!
//! Knobs: NVCC, CUDA_HOME, CUDA_PATH, SECTUNE_CUDA_PREFIX (where scripts/install-cuda-toolchain.sh
//! put the PyPI toolchain), SECTUNE_CUDA_ARCHS (e.g. "sm_80,sm_86"; PTX for compute_80 is kept when
//! sm_80 or a later arch is listed), SECTUNE_NVCC_FLAGS (extra flags, split on spaces),
//! SECTUNE_NO_KERNELS=1 (skip nvcc even if found).

use std::collections::hash_map::DefaultHasher;
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

const DEFAULT_ARCHS: &[&str] = &["sm_75", "sm_80", "sm_86", "sm_89", "sm_90"];
const PTX_ARCH: &str = "compute_80";
/// Kernel files whose sm_90 image is built as sm_90a, the arch-specific target that has wgmma
/// (such an image loads only on compute capability 9.0, which is every sm_90 GPU).
const SM90A_MODULES: &[&str] = &[
    "gemm_wgmma",
    "gemm_tma",
    "quant_wgmma",
    "quant_tma",
    "attention_wg",
];
const KNOBS: &[&str] = &[
    "NVCC",
    "CUDA_HOME",
    "CUDA_PATH",
    "PATH",
    "SECTUNE_CUDA_PREFIX",
    "SECTUNE_CUDA_ARCHS",
    "SECTUNE_NVCC_FLAGS",
    "SECTUNE_NO_KERNELS",
];

fn main() {
    let root =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rustc-check-cfg=cfg(has_kernels)");
    for knob in KNOBS {
        println!("cargo:rerun-if-env-changed={knob}");
    }
    let kernel_dir = root.join("kernels");
    let toolchain_env = root.join("scripts/cuda-toolchain.env");
    println!("cargo:rerun-if-changed={}", kernel_dir.display());
    println!("cargo:rerun-if-changed={}", toolchain_env.display());

    let (sources, headers) = list_kernel_files(&kernel_dir);
    for path in sources.iter().chain(headers.iter()) {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    let modules: Vec<String> = sources.iter().map(|p| file_stem(p)).collect();

    let toolchain = read_toolchain_env(&toolchain_env);
    let skip = std::env::var("SECTUNE_NO_KERNELS").is_ok_and(|v| v == "1");
    let nvcc = if skip { None } else { find_nvcc(&toolchain) };
    let Some(nvcc) = nvcc else {
        if skip {
            println!("cargo:warning=sectune: SECTUNE_NO_KERNELS=1, building without CUDA kernels");
        } else {
            println!(
                "cargo:warning=sectune: no nvcc found, so this build has no CUDA kernels. To get them: \
                 bash scripts/install-cuda-toolchain.sh, then rebuild (or set NVCC / CUDA_HOME)."
            );
        }
        write_generated(&out_dir, &modules, None);
        return;
    };

    let archs = selected_archs();
    let flags = nvcc_flags(&nvcc, &archs, &toolchain);
    let version = nvcc_version(&nvcc);
    let header_hash = hash_files(&headers);
    let cache = kernel_cache_dir(&out_dir);
    std::fs::create_dir_all(&cache).expect("create the kernel cache folder");

    let jobs = std::env::var("NUM_JOBS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(2)
        .max(1);
    let results: Vec<Result<Compiled, String>> = std::thread::scope(|scope| {
        let mut results = Vec::with_capacity(sources.len());
        for chunk in sources.chunks(jobs) {
            let handles: Vec<_> = chunk
                .iter()
                .map(|src| {
                    let flags = flags_for(&file_stem(src), &flags);
                    let key = cache_key(src, header_hash, &flags, &version);
                    let (nvcc, cache, headers, version) = (&nvcc, &cache, &headers, &version);
                    scope.spawn(move || {
                        let rekey = || cache_key(src, hash_files(headers), &flags, version);
                        compile_cached(nvcc, &flags, src, cache, key, &rekey)
                    })
                })
                .collect();
            for handle in handles {
                results.push(
                    handle
                        .join()
                        .unwrap_or_else(|_| Err("compile thread panicked".into())),
                );
            }
        }
        results
    });

    let mut compiled = Vec::new();
    let mut failures = String::new();
    for result in results {
        match result {
            Ok(c) => compiled.push(c),
            Err(e) => failures.push_str(&e),
        }
    }
    if !failures.is_empty() {
        panic!("sectune: nvcc failed on kernels/ (fix the kernel, or SECTUNE_NO_KERNELS=1 to build without):\n{failures}");
    }

    let mut report = String::from(
        "module\tkernel\tarch\tregisters\tsmem_bytes\tstack_bytes\tspill_stores\tspill_loads\n",
    );
    for c in &compiled {
        for row in parse_ptxas(&c.module, &c.ptxas_log) {
            report.push_str(&row);
            report.push('\n');
        }
    }
    std::fs::write(out_dir.join("ptxas_report.tsv"), &report).expect("write ptxas_report.tsv");
    let built = Built {
        compiled,
        archs,
        version,
        nvcc: nvcc.display().to_string(),
    };
    write_generated(&out_dir, &modules, Some(&built));
    println!("cargo:rustc-cfg=has_kernels");
}

struct Compiled {
    module: String,
    fatbin: PathBuf,
    ptxas_log: String,
}

struct Built {
    compiled: Vec<Compiled>,
    archs: Vec<String>,
    version: String,
    nvcc: String,
}

fn list_kernel_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut sources = Vec::new();
    let mut headers = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some("cu") => sources.push(path),
                Some("cuh") => headers.push(path),
                _ => {}
            }
        }
    }
    sources.sort();
    headers.sort();
    (sources, headers)
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// KEY="VALUE" lines of scripts/cuda-toolchain.env (comments and blanks skipped).
fn read_toolchain_env(path: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            Some((
                key.trim().to_string(),
                value.trim().trim_matches('"').to_string(),
            ))
        })
        .collect()
}

fn env_value<'a>(toolchain: &'a [(String, String)], key: &str) -> Option<&'a str> {
    toolchain
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn runs(nvcc: &Path) -> bool {
    Command::new(nvcc)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// NVCC, CUDA_HOME/CUDA_PATH, PATH, the install script's prefix, then a PyPI install in site-packages.
fn find_nvcc(toolchain: &[(String, String)]) -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(p) = std::env::var("NVCC") {
        candidates.push(PathBuf::from(p));
    }
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Ok(p) = std::env::var(var) {
            candidates.push(Path::new(&p).join("bin/nvcc"));
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&paths).map(|d| d.join("nvcc")));
    }
    let tree = env_value(toolchain, "SECTUNE_CUDA_TREE").unwrap_or("nvidia/cu13");
    let rel_nvcc = env_value(toolchain, "SECTUNE_CUDA_NVCC").unwrap_or("bin/nvcc");
    let prefix = std::env::var("SECTUNE_CUDA_PREFIX")
        .ok()
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var("HOME").ok()?;
            Some(Path::new(&home).join(env_value(toolchain, "SECTUNE_CUDA_DEFAULT_PREFIX")?))
        });
    if let Some(prefix) = prefix {
        let installed = prefix.join(tree).join(rel_nvcc);
        // So that running the install script after a kernel-less build brings the kernels in.
        println!("cargo:rerun-if-changed={}", installed.display());
        candidates.push(installed);
    }
    if let Some(site) = python_nvidia_dir() {
        // site is .../site-packages/nvidia; the tree starts with "nvidia/".
        let below = tree.strip_prefix("nvidia/").unwrap_or(tree);
        candidates.push(site.join(below).join(rel_nvcc));
    }
    candidates.into_iter().find(|c| c.is_file() && runs(c))
}

fn python_nvidia_dir() -> Option<PathBuf> {
    let out = Command::new("python3")
        .args(["-c", "import nvidia, os; print(list(nvidia.__path__)[0])"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

fn selected_archs() -> Vec<String> {
    match std::env::var("SECTUNE_CUDA_ARCHS") {
        Ok(list) if !list.trim().is_empty() => list
            .split([',', ' ', ';'])
            .filter(|a| !a.is_empty())
            .map(|a| {
                if a.starts_with("sm_") {
                    a.to_string()
                } else {
                    format!("sm_{a}")
                }
            })
            .collect(),
        _ => DEFAULT_ARCHS.iter().map(|a| a.to_string()).collect(),
    }
}

fn arch_number(arch: &str) -> u32 {
    arch.trim_start_matches("sm_")
        .trim_start_matches("compute_")
        .parse()
        .unwrap_or(0)
}

fn nvcc_flags(nvcc: &Path, archs: &[String], toolchain: &[(String, String)]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--fatbin",
        "-O3",
        "-std=c++17",
        "-Xptxas",
        "-v",
        "-lineinfo",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for arch in archs {
        let n = arch_number(arch);
        flags.push("-gencode".into());
        flags.push(format!("arch=compute_{n},code=sm_{n}"));
    }
    // PTX for forward compatibility with GPUs newer than every listed SASS target.
    if archs.iter().any(|a| arch_number(a) >= 80) {
        flags.push("-gencode".into());
        flags.push(format!("arch={PTX_ARCH},code={PTX_ARCH}"));
    }
    // The PyPI wheel layout: headers sit beside bin/ in the same tree.
    if let Some(tree_root) = nvcc.parent().and_then(Path::parent) {
        for dir in env_value(toolchain, "SECTUNE_CUDA_INCLUDE_DIRS")
            .unwrap_or("")
            .split_whitespace()
        {
            let inc = tree_root.join(dir);
            if inc.is_dir() {
                flags.push(format!("-I{}", inc.display()));
            }
        }
    }
    if let Ok(extra) = std::env::var("SECTUNE_NVCC_FLAGS") {
        flags.extend(extra.split_whitespace().map(str::to_string));
    }
    flags
}

/// `flags` for one kernel file: the SM90A_MODULES get sm_90a in place of sm_90.
fn flags_for(module: &str, flags: &[String]) -> Vec<String> {
    let arch_specific = SM90A_MODULES.contains(&module);
    flags
        .iter()
        .map(|f| match f.as_str() {
            "arch=compute_90,code=sm_90" if arch_specific => "arch=compute_90a,code=sm_90a".into(),
            _ => f.clone(),
        })
        .collect()
}

fn nvcc_version(nvcc: &Path) -> String {
    Command::new(nvcc)
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text
                .lines()
                .find(|l| l.contains("release"))
                .or_else(|| text.lines().last());
            line.unwrap_or("").trim().to_string()
        })
        .unwrap_or_default()
}

fn hash_files(paths: &[PathBuf]) -> u64 {
    let mut h = DefaultHasher::new();
    for p in paths {
        p.file_name().hash(&mut h);
        std::fs::read(p).unwrap_or_default().hash(&mut h);
    }
    h.finish()
}

fn cache_key(src: &Path, header_hash: u64, flags: &[String], version: &str) -> u64 {
    let mut h = DefaultHasher::new();
    std::fs::read(src).unwrap_or_default().hash(&mut h);
    header_hash.hash(&mut h);
    flags.hash(&mut h);
    version.hash(&mut h);
    h.finish()
}

/// target/sectune-kernel-cache, shared by every profile and feature set (each has its own OUT_DIR,
/// and `cargo build` then `cargo test` would otherwise compile every kernel twice). Entries are
/// keyed by content hash, so sharing is safe. Falls back to OUT_DIR outside a target/ layout.
fn kernel_cache_dir(out_dir: &Path) -> PathBuf {
    // OUT_DIR = <target>/<profile>/build/<pkg>-<hash>/out
    match out_dir.ancestors().nth(4) {
        Some(target)
            if out_dir
                .ancestors()
                .nth(2)
                .is_some_and(|b| b.ends_with("build")) =>
        {
            target.join("sectune-kernel-cache")
        }
        _ => out_dir.join("kernel-cache"),
    }
}

/// Reuses <cache>/<module>-<hash>.{fatbin,ptxas} when the source, headers, flags and
/// nvcc are unchanged, so editing one kernel recompiles one file.
fn compile_cached(
    nvcc: &Path,
    flags: &[String],
    src: &Path,
    cache: &Path,
    key: u64,
    rekey: &dyn Fn() -> u64,
) -> Result<Compiled, String> {
    let module = file_stem(src);
    let fatbin = cache.join(format!("{module}-{key:016x}.fatbin"));
    let log_path = cache.join(format!("{module}-{key:016x}.ptxas"));
    if fatbin.is_file() {
        if let Ok(ptxas_log) = std::fs::read_to_string(&log_path) {
            return Ok(Compiled {
                module,
                fatbin,
                ptxas_log,
            });
        }
    }
    let tmp = cache.join(format!(
        "{module}-{key:016x}.fatbin.{}.tmp",
        std::process::id()
    ));
    let out = Command::new(nvcc)
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .output()
        .map_err(|e| {
            format!(
                "{}: cannot run nvcc {}: {e}\n",
                src.display(),
                nvcc.display()
            )
        })?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if !out.status.success() {
        return Err(format!("--- {} ---\n{log}\n", src.display()));
    }
    if rekey() != key {
        // A source changed while nvcc ran: use this result, but never as a cache hit for `key`.
        let stale = cache.join(format!(
            "{module}-{key:016x}-stale-{}.fatbin",
            std::process::id()
        ));
        std::fs::rename(&tmp, &stale).map_err(|e| format!("{}: {e}\n", stale.display()))?;
        return Ok(Compiled {
            module,
            fatbin: stale,
            ptxas_log: log,
        });
    }
    // The fatbin is renamed into place last: a cache hit needs both files.
    let log_tmp = cache.join(format!(
        "{module}-{key:016x}.ptxas.{}.tmp",
        std::process::id()
    ));
    std::fs::write(&log_tmp, &log).map_err(|e| format!("{}: {e}\n", log_tmp.display()))?;
    std::fs::rename(&log_tmp, &log_path).map_err(|e| format!("{}: {e}\n", log_path.display()))?;
    std::fs::rename(&tmp, &fatbin).map_err(|e| format!("{}: {e}\n", fatbin.display()))?;
    Ok(Compiled {
        module,
        fatbin,
        ptxas_log: log,
    })
}

/// One TSV row per (kernel, arch) from `ptxas -v`: "Compiling entry function 'k' for 'sm_80'", then
/// "N bytes stack frame, N bytes spill stores, N bytes spill loads", then "Used N registers, ... N bytes smem".
fn parse_ptxas(module: &str, log: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let (mut kernel, mut arch) = (String::new(), String::new());
    let (mut stack, mut stores, mut loads) = (0u64, 0u64, 0u64);
    let mut props_for_entry = false;
    for line in log.lines() {
        if let Some(rest) = line.split("Compiling entry function '").nth(1) {
            let mut parts = rest.split('\'');
            kernel = parts.next().unwrap_or("").to_string();
            arch = parts.nth(1).unwrap_or("").to_string();
            (stack, stores, loads) = (0, 0, 0);
            props_for_entry = false;
        } else if let Some(name) = line.split("Function properties for ").nth(1) {
            props_for_entry = name.trim() == kernel;
        } else if line.contains("bytes stack frame") && props_for_entry {
            stack = number_before(line, "bytes stack frame");
            stores = number_before(line, "bytes spill stores");
            loads = number_before(line, "bytes spill loads");
        } else if line.contains("Used") && line.contains("registers") && !kernel.is_empty() {
            let regs = number_before(line, "registers");
            let smem = number_before(line, "bytes smem");
            rows.push(format!(
                "{module}\t{kernel}\t{arch}\t{regs}\t{smem}\t{stack}\t{stores}\t{loads}"
            ));
            kernel.clear();
        }
    }
    rows
}

/// The integer just before `marker` in `line` (0 when absent).
fn number_before(line: &str, marker: &str) -> u64 {
    let Some(idx) = line.find(marker) else {
        return 0;
    };
    line[..idx]
        .trim_end()
        .rsplit([' ', ',', ':'])
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn rust_variant(module: &str) -> String {
    module
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

fn write_generated(out_dir: &Path, modules: &[String], built: Option<&Built>) {
    let mut s = String::from("// Generated by build.rs. Do not edit.\n");
    let _ = writeln!(s, "/// True when nvcc compiled kernels/ into this binary.");
    let _ = writeln!(s, "pub const KERNELS_BUILT: bool = {};", built.is_some());
    let (archs, version, nvcc) = match built {
        Some(b) => (b.archs.clone(), b.version.clone(), b.nvcc.clone()),
        None => (Vec::new(), String::new(), String::new()),
    };
    let _ = writeln!(
        s,
        "/// SASS targets compiled (PTX for {PTX_ARCH} is added when one is >= sm_80)."
    );
    let _ = writeln!(s, "pub const ARCHS: &[&str] = &{archs:?};");
    let _ = writeln!(
        s,
        "/// `nvcc --version` of the compiler used, and its path."
    );
    let _ = writeln!(s, "pub const NVCC_VERSION: &str = {version:?};");
    let _ = writeln!(s, "pub const NVCC_PATH: &str = {nvcc:?};");
    let report = if built.is_some() {
        out_dir.join("ptxas_report.tsv").display().to_string()
    } else {
        String::new()
    };
    if built.is_some() {
        let _ = writeln!(
            s,
            "/// ptxas -v per kernel and arch, as TSV with a header line."
        );
        let _ = writeln!(
            s,
            "pub const PTXAS_REPORT: &str = include_str!({report:?});"
        );
    } else {
        let _ = writeln!(s, "pub const PTXAS_REPORT: &str = \"\";");
    }
    // ptxas serializes every wgmma of a kernel when it cannot prove the asynchronous pipeline safe
    // (e.g. a wgmma under a thread-dependent branch, or A's registers written while one runs): the
    // kernel stays correct but loses the overlap it was written for. tests/kernels_build.rs wants none.
    let serialized: Vec<String> = built
        .map(|b| {
            b.compiled
                .iter()
                .flat_map(|c| {
                    c.ptxas_log
                        .lines()
                        .filter(|l| l.contains("wgmma.mma_async instructions are serialized"))
                        .map(move |l| format!("{}: {}", c.module, l.trim()))
                })
                .collect()
        })
        .unwrap_or_default();
    for line in &serialized {
        println!("cargo:warning={line}");
    }
    let _ = writeln!(
        s,
        "/// ptxas's \"wgmma.mma_async instructions are serialized\" notes, one per kernel and arch."
    );
    let _ = writeln!(s, "pub const WGMMA_SERIALIZED: &[&str] = &{serialized:?};");
    let _ = writeln!(s, "\n/// One variant per kernels/*.cu file.");
    let _ = writeln!(
        s,
        "#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\npub enum KernelModule {{"
    );
    for m in modules {
        let _ = writeln!(s, "    {},", rust_variant(m));
    }
    let _ = writeln!(s, "}}\n\nimpl KernelModule {{");
    let all: Vec<String> = modules
        .iter()
        .map(|m| format!("KernelModule::{}", rust_variant(m)))
        .collect();
    let _ = writeln!(
        s,
        "    pub const ALL: &'static [KernelModule] = &[{}];",
        all.join(", ")
    );
    let _ = writeln!(s, "    /// The kernels/ file stem.\n    pub fn name(self) -> &'static str {{\n        match self {{");
    for m in modules {
        let _ = writeln!(s, "            KernelModule::{} => {m:?},", rust_variant(m));
    }
    let _ = writeln!(s, "        }}\n    }}");
    let _ = writeln!(
        s,
        "    /// The embedded fatbin, or None when this build has no kernels."
    );
    let _ = writeln!(
        s,
        "    pub fn fatbin(self) -> Option<&'static [u8]> {{\n        match self {{"
    );
    for m in modules {
        let path = built
            .and_then(|b| b.compiled.iter().find(|c| &c.module == m))
            .map(|c| c.fatbin.display().to_string());
        match path {
            Some(p) => {
                let _ = writeln!(
                    s,
                    "            KernelModule::{} => Some(include_bytes!({p:?})),",
                    rust_variant(m)
                );
            }
            None => {
                let _ = writeln!(s, "            KernelModule::{} => None,", rust_variant(m));
            }
        }
    }
    let _ = writeln!(s, "        }}\n    }}\n}}");
    std::fs::write(out_dir.join("kernels.rs"), s).expect("write OUT_DIR/kernels.rs");
}
