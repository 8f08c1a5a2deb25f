//! Compile-level checks of the CUDA kernels (no GPU needed): every kernels/*.cu was compiled and
//! embedded, ptxas reported on every arch, the hot kernels do not spill registers, and every
//! entry point is launched from the Rust side.
//! Without nvcc the build has no kernels: these tests then say so and pass, unless
//! SECTUNE_REQUIRE_KERNELS=1 (set in CI after scripts/install-cuda-toolchain.sh), where they fail.

mod common;

use common::kernels_present;
use sectune::backend::cuda::kernels::{KernelModule, ARCHS, WGMMA_SERIALIZED};
use sectune::backend::cuda::plan::WGT_LAUNCH_REGS;
use sectune::backend::cuda::report::{embedded_report, HOT_MODULES};

#[test]
fn every_kernel_file_is_compiled_and_embedded() {
    if !kernels_present() {
        return;
    }
    let on_disk = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/kernels"))
        .expect("kernels/ exists")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "cu"))
        })
        .count();
    assert_eq!(
        KernelModule::ALL.len(),
        on_disk,
        "one KernelModule per kernels/*.cu"
    );
    for m in KernelModule::ALL {
        let bytes = m
            .fatbin()
            .unwrap_or_else(|| panic!("{} has no fatbin", m.name()));
        assert!(
            bytes.len() > 64,
            "{}: fatbin of {} bytes",
            m.name(),
            bytes.len()
        );
    }
}

#[test]
fn ptxas_reports_every_module_on_every_arch() {
    if !kernels_present() {
        return;
    }
    let rows = embedded_report().expect("the embedded report parses");
    assert!(!ARCHS.is_empty());
    for m in KernelModule::ALL {
        for arch in ARCHS {
            let n = rows
                .iter()
                // build.rs compiles SM90A_MODULES' sm_90 image as sm_90a
                .filter(|r| {
                    r.module == m.name() && (r.arch == *arch || r.arch == format!("{arch}a"))
                })
                .count();
            assert!(n > 0, "{} has no kernel compiled for {arch}", m.name());
        }
    }
}

/// ptxas keeps every wgmma asynchronous: when it cannot prove a kernel's pipeline safe (a wgmma under
/// a thread-dependent branch, A's registers or the accumulators written while one runs) it serializes
/// them all and says so; the kernel stays right but loses its overlap.
#[test]
fn no_wgmma_is_serialized() {
    if !kernels_present() {
        return;
    }
    assert!(
        WGMMA_SERIALIZED.is_empty(),
        "ptxas serialized wgmmas:\n{}",
        WGMMA_SERIALIZED.join("\n")
    );
}

#[test]
fn hot_kernels_do_not_spill() {
    if !kernels_present() {
        return;
    }
    let rows = embedded_report().expect("the embedded report parses");
    let mut checked = 0;
    let mut spills = Vec::new();
    for r in rows
        .iter()
        .filter(|r| HOT_MODULES.contains(&r.module.as_str()))
    {
        checked += 1;
        if r.spills() {
            spills.push(format!(
                "{} {} {}: {} B stores / {} B loads",
                r.module, r.kernel, r.arch, r.spill_stores, r.spill_loads
            ));
        }
    }
    for hot in HOT_MODULES {
        assert!(
            rows.iter().any(|r| r.module == *hot),
            "hot module {hot} is missing from the ptxas report"
        );
    }
    assert!(
        spills.is_empty(),
        "register spills in hot kernels:\n{}",
        spills.join("\n")
    );
    eprintln!("{checked} hot kernel×arch entries, zero spills");
}

/// A stack frame means per-thread arrays live in local memory (an unrolled loop became a
/// dynamic index): no spill, but the same memory traffic in the hot loop.
#[test]
fn hot_kernels_keep_their_arrays_in_registers() {
    if !kernels_present() {
        return;
    }
    let rows = embedded_report().expect("the embedded report parses");
    let framed: Vec<String> = rows
        .iter()
        .filter(|r| HOT_MODULES.contains(&r.module.as_str()) && r.stack_bytes > 0)
        .map(|r| format!("{} {}: {} B stack frame", r.kernel, r.arch, r.stack_bytes))
        .collect();
    assert!(
        framed.is_empty(),
        "hot kernels with local-memory arrays:\n{}",
        framed.join("\n")
    );
}

/// Issue 4: every entry point in the fatbins is launched from the Rust side (src/backend/cuda),
/// so no kernel is compiled and left unwired. Launch names are written as string literals,
/// often formats ("lora_linear_xa{infix}_f32", "attention_fwd_d{d}_bf16"); each literal becomes
/// a pattern with `{…}` standing for any name characters. The 16-bit runner appends the dtype
/// itself and the GEMM core's prefix ("tc_", "wg_", "wgp_", "wgt_", plan::GemmCore::prefix) is prepended at run
/// time, so an entry also matches without its dtype suffix or that prefix. (A dtype appended at run time cannot be told apart,
/// so this finds families nothing launches, not one unused dtype of a launched family.)
#[test]
fn every_entry_point_is_launched_from_rust() {
    if !kernels_present() {
        return;
    }
    let mut sources = String::new();
    let mut dirs = vec![std::path::PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/backend/cuda"
    ))];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src/backend/cuda is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).expect("source file"));
            }
        }
    }
    let literal =
        regex::Regex::new(r#""([a-z][A-Za-z0-9_]*(?:\{[^"{}]*\}[A-Za-z0-9_]*)*)""#).unwrap();
    let literals: Vec<String> = literal
        .captures_iter(&sources)
        .map(|c| c[1].to_string())
        .collect();
    // A plain name of two words or more also stands for the names a launcher builds on it
    // (format!("{qname}_{fmt}_bf16") with qname = "qlinear_fwd").
    let stems: Vec<String> = literals
        .iter()
        .filter(|s| !s.contains('{') && s.contains('_'))
        .map(|s| format!("{s}_"))
        .collect();
    let patterns: Vec<regex::Regex> = literals
        .iter()
        // A pattern must pin its first word, or it would match every name.
        .filter(|s| s.split('{').next().is_some_and(|head| head.len() >= 3))
        .map(|s| {
            let parts: Vec<String> = s
                .split(['{', '}'])
                .enumerate()
                .map(|(i, part)| match i % 2 {
                    0 => regex::escape(part),
                    _ => "[A-Za-z0-9_]*".to_string(),
                })
                .collect();
            regex::Regex::new(&format!("^{}$", parts.concat())).unwrap()
        })
        .collect();
    let mut entries: Vec<String> = embedded_report()
        .expect("ptxas report")
        .into_iter()
        .map(|r| r.kernel)
        .collect();
    entries.sort();
    entries.dedup();
    let forms = |name: &str| -> Vec<String> {
        let mut v = vec![name.to_string()];
        for suffix in ["_f32", "_f16", "_bf16"] {
            if let Some(stem) = name.strip_suffix(suffix) {
                v.push(stem.to_string());
            }
        }
        let stripped: Vec<String> = v
            .iter()
            .filter_map(|n| {
                n.strip_prefix("tc_")
                    .or_else(|| n.strip_prefix("wg_"))
                    .or_else(|| n.strip_prefix("wgp_"))
                    .or_else(|| n.strip_prefix("wgt_"))
                    .map(String::from)
            })
            .collect();
        v.extend(stripped);
        v
    };
    let unwired: Vec<&String> = entries
        .iter()
        .filter(|e| {
            let launched = |f: &String| {
                patterns.iter().any(|p| p.is_match(f))
                    || stems.iter().any(|s| f.starts_with(s.as_str()))
            };
            !forms(e).iter().any(launched)
        })
        .collect();
    assert!(
        unwired.is_empty(),
        "entry points no Rust launch names: {unwired:?}"
    );
    assert!(
        entries.len() > 100,
        "only {} entries in the report",
        entries.len()
    );
}

/// The tensor-core attention backward starts with the Δ pass of attention.cu
/// (attention_bwd_delta_{dtype}), so every dtype attention_tc.cu is built for, on every arch,
/// needs that entry too. 5964b08 dropped the f16 one with the unused f16 CUDA-core attention and
/// only the first H100 run noticed (the wiring check above cannot: it sees a run-time suffix).
#[test]
fn tensor_core_attention_has_its_delta_pass_in_every_dtype() {
    if !kernels_present() {
        return;
    }
    let rows = embedded_report().expect("the embedded report parses");
    let has = |module: &str, arch: &str, kernel: &str| {
        rows.iter()
            .any(|r| r.module == module && r.arch == arch && r.kernel == kernel)
    };
    let mut checked = 0;
    for r in rows
        .iter()
        // sm_75 has stubs only: the backend launches the tensor-core attention from sm_80 on.
        .filter(|r| r.module == "attention_tc" && r.arch != "sm_75")
        .filter(|r| r.kernel.starts_with("attention_tc_fwd_"))
    {
        let dtype = r.kernel.rsplit('_').next().expect("a dtype suffix");
        let delta = format!("attention_bwd_delta_{dtype}");
        assert!(
            has("attention", &r.arch, &delta),
            "{} on {} has no {delta} in kernels/attention.cu",
            r.kernel,
            r.arch
        );
        checked += 1;
    }
    assert!(
        checked > 0,
        "no tensor-core attention entries in the report"
    );
}

/// gemm_wgmma.cu (and quant_wgmma.cu, gemm_tma.cu) is real code only in its sm_90a image (wgmma exists nowhere else): build.rs must
/// have compiled it as sm_90a when sm_90 is selected, and the other images hold trap stubs.
#[test]
fn warpgroup_gemms_are_built_for_sm90a_only() {
    if !kernels_present() {
        return;
    }
    let rows = embedded_report().expect("ptxas report");
    // Dense and quantized warpgroup modules with their sm_90a entry counts (both pipelines), and
    // the TMA core's.
    for (module, entries) in [
        ("gemm_wgmma", 36),
        ("quant_wgmma", 24),
        ("gemm_tma", 18),
        ("quant_tma", 6),
        ("attention_wg", 12),
    ] {
        let wg: Vec<_> = rows.iter().filter(|r| r.module == module).collect();
        assert!(!wg.is_empty(), "{module} is missing from the ptxas report");
        assert!(
            wg.iter().all(|r| r.arch != "sm_90"),
            "{module} was compiled as plain sm_90"
        );
        for r in &wg {
            let real = r.arch == "sm_90a";
            // A stub is a trap in a few registers; the GEMM holds 64 accumulators per thread.
            assert_eq!(
                r.registers >= 96,
                real,
                "{module} {} {}: {} registers",
                r.kernel,
                r.arch,
                r.registers
            );
        }
        // The TMA core's setmaxnreg split hands on exactly the registers the launch gives it.
        if module.ends_with("_tma") {
            for r in wg.iter().filter(|r| r.arch == "sm_90a") {
                assert_eq!(
                    r.registers, WGT_LAUNCH_REGS,
                    "{module} {}: built with {} registers, its setmaxnreg split needs {WGT_LAUNCH_REGS}",
                    r.kernel, r.registers
                );
            }
        }
        let sm90a = wg.iter().filter(|r| r.arch == "sm_90a").count();
        assert!(
            sm90a == entries || !ARCHS.contains(&"sm_90"),
            "{module}: {sm90a} sm_90a entries, expected {entries}"
        );
    }
}
