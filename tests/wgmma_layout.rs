//! The warpgroup (wgmma, sm_90a) GEMM core's shared-memory layouts, checked on the CPU: compiles
//! tests/host/wgmma_layout.cu with the nvcc this build used and runs it. The program calls the
//! kernel headers' own index helpers (the loaders' chunk placement, the wgmma descriptors, the
//! accumulator store mapping) and emulates what the descriptors address per the PTX ISA, so a wrong
//! stride, swizzle or fragment mapping shows here without a GPU. What it cannot show is a misreading
//! of the ISA itself; the GPU tests (cuda_bf16 / cuda_quant under SECTUNE_GEMM_CORE=wgmma) do.
//! Without nvcc the build has no kernels: the test says so and passes, unless
//! SECTUNE_REQUIRE_KERNELS=1.

use std::path::Path;
use std::process::Command;

mod common;

use common::kernels_present;
use sectune::backend::cuda::kernels::NVCC_PATH;

#[test]
fn wgmma_descriptors_read_what_the_tile_loaders_wrote() {
    if !kernels_present() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let nvcc = Path::new(NVCC_PATH);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let exe = dir.path().join("wgmma_layout");
    let mut compile = Command::new(nvcc);
    compile
        .args(["-std=c++17", "-O2", "-I"])
        .arg(root.join("kernels"))
        .arg(root.join("tests/host/wgmma_layout.cu"))
        .arg("-o")
        .arg(&exe);
    // The static CUDA runtime nvcc links host programs with: lib/ in the PyPI tree, lib64/ in a
    // system install.
    if let Some(tree) = nvcc.parent().and_then(Path::parent) {
        for lib in ["lib", "lib64"] {
            if tree.join(lib).is_dir() {
                compile.arg("-L").arg(tree.join(lib));
            }
        }
    }
    let built = compile.output().expect("nvcc runs");
    assert!(
        built.status.success(),
        "compiling tests/host/wgmma_layout.cu failed (a host C++ compiler nvcc accepts is needed):\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let run = Command::new(&exe).output().expect("the layout check runs");
    let report = String::from_utf8_lossy(&run.stdout);
    eprintln!("{report}");
    assert!(run.status.success(), "wgmma layout check failed:\n{report}");
    // Both cases ran, and both negative controls found the wrong outputs they must.
    assert!(report.contains("ok: all 4 checks"), "{report}");
    assert_eq!(
        report
            .matches(": 0 of 16384 outputs wrong, 0 layout faults")
            .count(),
        2,
        "{report}"
    );
}
