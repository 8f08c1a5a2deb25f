//! The GEMM, attention and op kernels' own source, run on the CPU by a SIMT emulator
//! (tests/host/sim/simt.h): each program includes a kernels/*.cu file, runs its entries block by
//! block with every thread a fiber, and checks the outputs against a double-precision reference.
//! Covered: the GEMM cores (FMA / wmma of the f32 backend, mma.sync, and the sm_90a warpgroup core
//! in both pipelines, wg_ and wgp_), dense (sim_gemm.cpp) and int8 / NF4 with the decoded tiles bit
//! for bit (sim_quant.cpp), and flash attention forward and backward, tensor-core (split and
//! fused backward) and the f32 CUDA-core kernels with their Δ pass (sim_attention.cpp), and the
//! sm_90a warpgroup attention forward and backward, P and dS in registers (sim_attention_wg.cpp).
//! The TMA GEMM core and the warpgroup attention have not yet run on a GPU; this is their
//! whole-kernel check until they do (docs/cuda.md). The CUDA-core ops, f32 and
//! bf16 (sim_ops.cpp): cross-entropy (separate, in-place and forward-only dlogits; ignored and
//! out-of-range labels), multi-tensor AdamW (float4 and scalar paths), RMSNorm / LayerNorm forward,
//! dx and dw / db, RoPE (rotate-half, interleaved partial), SwiGLU / gelu_new, embedding (bad ids,
//! repeated ids' atomics) and both IA3 linears with their dl. The FMA-core quantized linears of
//! quant_dequant.cu (every f32 entry for NF4, double-quantized NF4, int8 and bf16 weights, and the bf16
//! plain ones, the decoded tiles bit for bit) and lora_matmul.cu's rank kernels (xa / dyb in both
//! forms, dA / dB atomic, split and split-vec + reduce) (sim_qlinear.cpp). Causal attention at the small head
//! dims 16 and 32 (attention_small.cu), sampling (greedy and top-p with given uniforms: the exact
//! token) and the element-wise copies and adds, bit for bit (sim_misc.cpp).
//! Each program runs under two scheduler seeds (different thread interleavings and cp.async landing
//! times), then with deliberate defects (SIM_FAULT: a barrier skipped, a cp.async or wgmma wait one
//! group short), which must fail, so the checks are shown to catch what they are for.
//! Needs a host C++ compiler (CXX, else c++) and the CUDA headers of the toolchain the build used;
//! without nvcc the test says so and passes, unless SECTUNE_REQUIRE_KERNELS=1.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::kernels_present;
use sectune::backend::cuda::kernels::NVCC_PATH;

/// Compiles tests/host/`name`.cpp against the kernels; None when there is no toolchain to do it with.
fn build(name: &str) -> Option<(tempfile::TempDir, PathBuf)> {
    if !kernels_present() {
        return None;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let include = Path::new(NVCC_PATH)
        .parent()
        .and_then(Path::parent)
        .map(|tree| tree.join("include"))
        .expect("nvcc sits in <toolkit>/bin");
    assert!(
        include.join("cuda_bf16.h").is_file(),
        "no cuda_bf16.h in {} (the emulator compiles the kernels against the toolkit's headers)",
        include.display()
    );
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = dir.path().join(name);
    let built = Command::new(&cxx)
        // -Wno-psabi: GCC notes that 128-byte-aligned by-value arguments (the TMA entries'
        // tensor maps) pass differently than before GCC 4.6; nothing here links against old code.
        .args(["-std=c++17", "-O2", "-DSECTUNE_SIM", "-Wno-psabi", "-I"])
        .arg(root.join("kernels"))
        .arg("-I")
        .arg(root.join("tests/host"))
        .arg("-I")
        .arg(&include)
        .arg(root.join(format!("tests/host/{name}.cpp")))
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("running the host C++ compiler {cxx}: {e} (set CXX to one)"));
    assert!(
        built.status.success(),
        "compiling tests/host/{name}.cpp failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    Some((dir, exe))
}

/// `fault` is a SIM_FAULT value, optionally after "PART/" (SIM_PART: a program that has parts runs
/// only that one, so a defect can be aimed at a kernel that runs after another it would stop).
fn run(exe: &Path, seed: u64, fault: Option<&str>) -> Output {
    let mut cmd = Command::new(exe);
    cmd.arg(seed.to_string()).env_remove("SIM_PART");
    match fault.map(|f| f.split_once('/').unwrap_or(("", f))) {
        Some((part, f)) => {
            if !part.is_empty() {
                cmd.env("SIM_PART", part);
            }
            cmd.env("SIM_FAULT", f)
        }
        None => cmd.env_remove("SIM_FAULT"),
    };
    cmd.output().expect("the emulator program runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Builds tests/host/`program`.cpp; every one of its `cases` passes under two seeds, and each
/// (SIM_FAULT, alarm) defect makes it fail with that alarm (ANY_ALARM: wrong outputs or any).
fn check(program: &str, cases: usize, defects: &[(&str, &str)]) {
    let Some((_dir, exe)) = build(program) else {
        return;
    };
    for seed in [1, 7919] {
        let out = run(&exe, seed, None);
        let report = text(&out);
        eprintln!("{program}, seed {seed}:\n{report}");
        assert!(out.status.success(), "seed {seed}:\n{report}");
        assert!(
            report.contains(&format!("ok: {cases} cases, 0 failed")),
            "{report}"
        );
    }
    for (fault, alarm) in defects {
        let out = run(&exe, 1, Some(fault));
        let report = text(&out);
        // ANY_ALARM: wrong outputs, or any of the emulator's own alarms (a skipped barrier can also
        // let a stage be refilled under an in-flight wgmma).
        let caught = match *alarm {
            ANY_ALARM => report.contains("FAILED:") || report.contains("sim: "),
            specific => report.contains(specific),
        };
        assert!(
            !out.status.success() && caught,
            "{program} with SIM_FAULT={fault} went unnoticed:\n{report}"
        );
        let last = report.lines().last().unwrap_or("");
        eprintln!("{program}, control SIM_FAULT={fault}: {last}");
    }
}

const ANY_ALARM: &str = "wrong outputs or an emulator alarm";

#[test]
fn gemm_cores_mma_sync_and_wgmma_run_right_in_the_emulator() {
    check(
        "sim_gemm",
        80,
        &[
            ("skip-barrier:2", ANY_ALARM),
            ("cp-wait-early", ANY_ALARM),
            ("mbar-wait-early", ANY_ALARM),
            (
                "wg-wait-early",
                "shared memory under an in-flight wgmma changed",
            ),
        ],
    );
}

#[test]
fn quantized_linears_run_right_in_the_emulator() {
    check(
        "sim_quant",
        136,
        &[
            ("skip-barrier:3", ANY_ALARM),
            // SIM_PART=tma: the TMA core's NF4 linears alone (their producer warpgroup decodes).
            ("tma/mbar-wait-early", ANY_ALARM),
            ("tma/wg-wait-early", ANY_ALARM),
        ],
    );
}

#[test]
fn flash_attention_runs_right_in_the_emulator() {
    check(
        "sim_attention",
        66,
        &[("skip-barrier:2", ANY_ALARM), ("cp-wait-early", ANY_ALARM)],
    );
}

#[test]
fn warpgroup_attention_runs_right_in_the_emulator() {
    // Forward, barrier 1: Q's and the first key tile's loads; 2: the next K and this V landed, and
    // K's stage refilled only after both warpgroups' scores read it; 3: V's stage refilled only
    // after both warpgroups' P·V read it (4: the last V landed). A wgmma wait one
    // group short reads S before it is formed and rewrites P's registers under the running P·V.
    // Backward (SIM_PART=bwd: D 64 / 128; bwd-split: D 256, whose warpgroups split D), barrier 1:
    // K, V and the first query tile; 2: both warpgroups' dSᵀ (and Pᵀ) written before dQ (and dV,
    // dK) read them; 3: the next tile landed and the last one's dSᵀ read.
    check(
        "sim_attention_wg",
        35,
        &[
            ("fwd/skip-barrier:1", ANY_ALARM),
            ("fwd/skip-barrier:2", ANY_ALARM),
            ("fwd/skip-barrier:3", ANY_ALARM),
            ("fwd/cp-wait-early", ANY_ALARM),
            (
                "fwd/wg-wait-early",
                "registers of an in-flight wgmma's A changed",
            ),
            ("bwd/skip-barrier:1", ANY_ALARM),
            ("bwd/skip-barrier:2", ANY_ALARM),
            ("bwd/skip-barrier:3", ANY_ALARM),
            ("bwd/cp-wait-early", ANY_ALARM),
            ("bwd/wg-wait-early", ANY_ALARM),
            ("bwd-split/skip-barrier:1", ANY_ALARM),
            ("bwd-split/skip-barrier:2", ANY_ALARM),
            ("bwd-split/skip-barrier:3", ANY_ALARM),
            ("bwd-split/wg-wait-early", ANY_ALARM),
        ],
    );
}

#[test]
fn op_kernels_run_right_in_the_emulator() {
    // Barrier 1: the column sums' (norm dw / db, IA3 dl) and the GEMM core's tile load; 2: inside
    // every block reduction; 3: between two reductions sharing their scratch (cross-entropy's max
    // then sum, LayerNorm's mean then variance).
    check(
        "sim_ops",
        80,
        &[
            ("skip-barrier:1", ANY_ALARM),
            ("skip-barrier:2", ANY_ALARM),
            ("skip-barrier:3", ANY_ALARM),
        ],
    );
}

#[test]
fn fma_quantized_linears_and_lora_rank_kernels_run_right_in_the_emulator() {
    // Barrier 1: the NF4 decode table's staging (only NF4 reads it); 2: the first k-tile's load before
    // the FMA steps, and inside the rank projections' block sums and tiled V staging.
    check(
        "sim_qlinear",
        202,
        &[
            ("skip-barrier:1", ANY_ALARM),
            ("skip-barrier:2", ANY_ALARM),
            // SIM_PART=sums-vec: the vec rank sums alone (both barriers of their warp reduction).
            ("sums-vec/skip-barrier:1", ANY_ALARM),
            ("sums-vec/skip-barrier:2", ANY_ALARM),
        ],
    );
}

#[test]
fn small_attention_sampling_and_elementwise_run_right_in_the_emulator() {
    // Barrier 1: greedy sampling's first tree step, after each thread's best (attention's first barrier
    // guards nothing at the first tile); 2: attention's tile loads and sampling's block reductions.
    check(
        "sim_misc",
        60,
        &[("skip-barrier:1", ANY_ALARM), ("skip-barrier:2", ANY_ALARM)],
    );
}
