//! GPU parity of the tensor-core flash attention (kernels/attention_tc.cu, f16/bf16, sm_80+)
//! against the CPU backend's f32 attention on the same 16-bit-rounded inputs: forward out and
//! lse, backward dQ/dK/dV (the GPU backward runs on the GPU forward's own out and lse; the split
//! and the fused backward, plan::AttentionBwd, each against the same tolerance, and on compute
//! capability 9.0 the warpgroup forward and backward, attention_wg.cu), head dims
//! 64/128/256, T = 1, 17, 64, 130, 200, KV offsets (S > T, T = 1 decoding), GQA with H = 4 and
//! Hkv = 4/2/1, B = 2. Inputs are a hash of (index, salt) in [−1, 1) times an amplitude for q
//! (4 to 16: scores of std ≈ 1.3 to 5, so the online max really moves), rounded to the dtype.
//! Needs `--features cuda` and a GPU of compute capability ≥ 8.0; without a GPU each test prints
//! why it skipped, unless SECTUNE_REQUIRE_GPU=1, where it fails.
//! Tolerance, elementwise: |got − ref| ≤ ε·|ref| + ε·max(max|ref|, 0.05), ε = 2^-7 for bf16 and
//! 2^-9 for f16 (the floor: with a single key dS ≡ 0, and dQ/dK are f32 noise around zero).
//! Why: out/dQ/dK/dV are stored in the 16-bit dtype (rounding 2^-9 bf16, 2^-11 f16 relative) and
//! P and dS enter the tensor cores in it too, so each term of the P·V, dS·K, Pᵀ·dO and dSᵀ·Q sums
//! carries one such rounding; the sums are of terms of both signs, so the error is bounded by
//! a few unit roundoffs of the largest output, not of each (possibly cancelled) element. The
//! backward also inherits Δ = rowsum(dO⊙O) from the 16-bit O. lse is fp32 from fp32 scores of
//! the same rounded inputs: |Δlse| ≤ 1e-3 absolute.
#![cfg(feature = "cuda")]

mod common;

use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::attention_tc::{
    self as tc, AttentionBwd, AttentionFwd, AttnShape, HalfDtype, TcInputs,
};
use sectune::backend::cuda::device::{CudaDevice, CudaError};
use sectune::backend::dropout::mix64;
use sectune::backend::Backend;
use sectune::tensor::Tensor;

fn gpu() -> Option<CudaDevice> {
    let required = std::env::var("SECTUNE_REQUIRE_GPU").is_ok_and(|v| v == "1");
    match CudaDevice::new(0) {
        Ok(dev) => {
            let cc = dev.compute_capability().expect("compute capability");
            if tc::supported(&dev).expect("compute capability") {
                Some(dev)
            } else {
                // A real GPU without the tensor-core path is not a failure, even when required.
                eprintln!(
                    "skipped: {} is sm_{}{}, the tensor-core attention needs sm_80+",
                    dev.name(),
                    cc.0,
                    cc.1
                );
                None
            }
        }
        Err(e) => {
            assert!(!required, "SECTUNE_REQUIRE_GPU=1 but {e}");
            assert!(
                matches!(e, CudaError::NoDriver | CudaError::NoKernels),
                "a GPU error other than a missing driver or kernels: {e}"
            );
            eprintln!("skipped: {e}");
            None
        }
    }
}

fn input(dtype: HalfDtype, n: usize, salt: u64, amp: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let h = mix64(i ^ ((salt + 1) << 40));
            tc::round_to(dtype, amp * ((h >> 40) as f32 / 8_388_608.0 - 1.0))
        })
        .collect()
}

fn eps(dtype: HalfDtype) -> f32 {
    match dtype {
        HalfDtype::Bf16 => 1.0 / 128.0,
        HalfDtype::F16 => 1.0 / 512.0,
    }
}

fn check(what: &str, dtype: HalfDtype, got: &[f32], want: &Tensor) {
    let w = want.host().expect("host");
    let max = w.iter().fold(0.05f32, |m, x| m.max(x.abs()));
    let e = eps(dtype);
    common::assert_close(what, got, w, e * max, e);
}

/// (B, T, S, H, Hkv, amplitude of q)
const CASES: &[(usize, usize, usize, usize, usize, f32)] = &[
    (1, 1, 1, 4, 2, 4.0),
    (2, 1, 77, 4, 1, 4.0),
    (2, 17, 17, 4, 2, 4.0),
    (1, 64, 64, 4, 4, 4.0),
    (2, 130, 130, 4, 1, 8.0),
    (1, 17, 100, 4, 2, 4.0),
    (1, 130, 203, 4, 2, 16.0),
    // Several key tiles per block of the warpgroup forward (128 keys; 64 at D 256).
    (1, 200, 456, 4, 2, 8.0),
];

fn parity(dtype: HalfDtype, d: usize) {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for &(b, t, s, h, hkv, amp) in CASES {
        let g = AttnShape { b, t, s, h, hkv, d };
        let tag = format!("{dtype:?} d{d} b{b} t{t} s{s} h{h} hkv{hkv}");
        let (nq, nkv) = (b * t * h * d, b * s * hkv * d);
        let (q, k, v, dout) = (
            input(dtype, nq, 1, amp),
            input(dtype, nkv, 2, 1.0),
            input(dtype, nkv, 3, 1.0),
            input(dtype, nq, 4, 1.0),
        );
        let scale = 1.0 / (d as f32).sqrt();
        let inputs = TcInputs {
            q: &q,
            k: &k,
            v: &v,
            dout: &dout,
        };
        let mut paths = vec![
            (AttentionFwd::Tc, AttentionBwd::Split),
            (AttentionFwd::Tc, AttentionBwd::Fused),
        ];
        if dev.compute_capability().expect("compute capability") == (9, 0) {
            paths.push((AttentionFwd::Wgmma, AttentionBwd::Fused));
            paths.push((AttentionFwd::Tc, AttentionBwd::Wgmma));
        }
        let runs: Vec<_> = paths
            .into_iter()
            .map(|path| {
                let got = tc::run_fwd_bwd(&dev, dtype, g, &inputs, scale, path)
                    .unwrap_or_else(|e| panic!("{tag} {path:?}: {e}"));
                (path, got)
            })
            .collect();
        let qt = Tensor::from_vec(q, &[b, t, h, d]).unwrap();
        let kt = Tensor::from_vec(k, &[b, s, hkv, d]).unwrap();
        let vt = Tensor::from_vec(v, &[b, s, hkv, d]).unwrap();
        let dot = Tensor::from_vec(dout, &[b, t, h, d]).unwrap();
        let (out, lse) = cpu.attention_fwd(&qt, &kt, &vt, scale).unwrap();
        let (dq, dk, dv) = cpu
            .attention_bwd(&dot, &qt, &kt, &vt, &out, &lse, scale)
            .unwrap();
        for (path, got) in &runs {
            let tag = format!("{tag} {path:?}");
            check(&format!("{tag} out"), dtype, &got.out, &out);
            common::assert_close(
                &format!("{tag} lse"),
                &got.lse,
                lse.host().unwrap(),
                1e-3,
                0.0,
            );
            check(&format!("{tag} dq"), dtype, &got.dq, &dq);
            check(&format!("{tag} dk"), dtype, &got.dk, &dk);
            check(&format!("{tag} dv"), dtype, &got.dv, &dv);
        }
    }
}

#[test]
fn bf16_d64() {
    parity(HalfDtype::Bf16, 64);
}
#[test]
fn bf16_d128() {
    parity(HalfDtype::Bf16, 128);
}
#[test]
fn bf16_d256() {
    parity(HalfDtype::Bf16, 256);
}
#[test]
fn f16_d64() {
    parity(HalfDtype::F16, 64);
}
#[test]
fn f16_d128() {
    parity(HalfDtype::F16, 128);
}
#[test]
fn f16_d256() {
    parity(HalfDtype::F16, 256);
}

#[test]
fn other_head_dims_are_refused() {
    let Some(dev) = gpu() else { return };
    let g = AttnShape {
        b: 1,
        t: 2,
        s: 2,
        h: 1,
        hkv: 1,
        d: 96,
    };
    let x = vec![0.0; 2 * 96];
    let err = tc::run_fwd_bwd(
        &dev,
        HalfDtype::Bf16,
        g,
        &TcInputs {
            q: &x,
            k: &x,
            v: &x,
            dout: &x,
        },
        1.0,
        (AttentionFwd::Tc, AttentionBwd::Split),
    )
    .err()
    .expect("head dim 96 has no tensor-core kernel");
    assert!(err.to_string().contains("head dim 96"), "{err}");
}
