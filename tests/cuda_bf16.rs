//! GPU parity of the 16-bit kernel instances (`*_bf16`, `*_f16`) against the CPU backend.
//! Inputs are hashed values in [−1, 1) (scaled per op) ROUNDED to the dtype; the reference is the
//! CPU backend in f32 on those same rounded values, so the only differences are the kernel's
//! rounding of 16-bit outputs and f32 evaluation order. Needs `--features cuda` and a GPU; without
//! one each test prints why it skipped, unless SECTUNE_REQUIRE_GPU=1, where it fails.
//!
//! Tolerances (u = unit roundoff: bf16 2^-8, f16 2^-11; M = max|ref| of the output; S = max(1, M)):
//!   16-bit outputs:  |got − ref| ≤ 2·u·(|ref| + k·M) + 1e-5·S + f16 subnormal step (2^-24)
//!     2u: one rounding of the output (≤ u·|ref|) plus as much again for f32 order and the
//!     kernels' fast expf/tanhf; 1e-5·S: f32 cancellation noise on O(1) terms (as cuda_parity).
//!     k = 1/64 pointwise ops, norms, RoPE (cancellation only in f32: xa·cos − xb·sin, 1 + tanh);
//!     k = 1/8 GEMM outputs with fp32 accumulation (tensor-core fp32 accumulation truncates);
//!     k = 1 where the kernel rounds an intermediate to 16 bits and the reference does not
//!     (IA3 stages x⊙l and dY⊙l in T, ia3 dl reads the saved 16-bit z): each of the K terms
//!     carries its own u-relative error, whose sum is ~u·rms(ref) ≤ u·M;
//!     k = 0, S = 0 for cross-entropy dlogits: computed elementwise from lse, their error is
//!     relative (values ~1e-7 would make any absolute term vacuous).
//!   fp32 outputs computed on CUDA cores from 16-bit inputs (rstd, mean, lse, loss, dw, db, xa,
//!     dA, dB, embedding dweight): the f32 tolerance of cuda_parity, 1e-4·|ref| + 1e-5·S.
//!   fp32 outputs fed by a tensor-core GEMM (IA3-input dl): 1e-3·(|ref| + M): MMA accumulation
//!     truncates, ≤ 2^-23 per 16-term step, ~1e-4 relative at K = 11008; 10× margin.
//!   Copies (embedding fwd, cat_seq, gather_cols): bit-exact.
//!   Sampling: greedy ids equal the CPU's; with top-p, every id lies in the reference nucleus
//!     (ties kept together, as the kernel does) and at most one row in 32 differs from the f64
//!     host inversion of the CDF.
//! Each check prints its worst error as a percentage of the allowed one.
#![cfg(feature = "cuda")]

mod common;

use cudarc::driver::CudaSlice;
use sectune::backend::cpu::rope::inv_freq;
use sectune::backend::cpu::CpuBackend;
use sectune::backend::cuda::device::CudaDevice;
use sectune::backend::cuda::half::{Half, HalfRunner};
use sectune::backend::dropout::Dropout;
use sectune::backend::{AdapterGrad, AdapterOp, Backend, RopeStyle, IGNORE_INDEX};
use sectune::tensor::Tensor;

mod gpu_common;
use gpu_common::device as gpu;
use gpu_common::input;

const POINTWISE: f32 = 1.0 / 64.0;
const GEMM: f32 = 1.0 / 8.0;
const ROUNDED_TERMS: f32 = 1.0;

/// The dtypes this GPU has: bf16 entry points exist only in sm_80+ images.
fn dtypes(dev: &CudaDevice) -> Vec<Half> {
    match dev.compute_capability() {
        Ok((major, _)) if major >= 8 => Half::ALL.to_vec(),
        Ok(cc) => {
            eprintln!("bf16 skipped: compute capability {cc:?} < 8.0 has no bf16 kernels");
            vec![Half::F16]
        }
        Err(e) => panic!("reading the compute capability: {e}"),
    }
}

/// Hashed values times `scale`, rounded to `dt` (what the kernel and the reference both read).
fn rounded(dt: Half, n: usize, salt: usize, scale: f32) -> Vec<f32> {
    input(n, salt)
        .into_iter()
        .map(|x| dt.round(x * scale))
        .collect()
}

fn host(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape).expect("tensor")
}

fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |m, x| m.max(x.abs()))
}

/// A 16-bit output: 2·u·(|ref| + k·M) + f32_noise·S + subnormal step (see the header).
fn check16(dt: Half, what: &str, got: &[f32], want: &[f32], k: f32, f32_noise: bool) {
    let (u, m) = (dt.unit_roundoff(), max_abs(want));
    let noise = if f32_noise { 1e-5 * m.max(1.0) } else { 0.0 };
    let atol = 2.0 * u * k * m + noise + dt.subnormal_step();
    common::assert_close(&format!("{dt:?} {what}"), got, want, atol, 2.0 * u);
}

/// An fp32 output computed on CUDA cores: cuda_parity's tolerance.
fn check32(dt: Half, what: &str, got: &[f32], want: &[f32]) {
    let m = max_abs(want);
    common::assert_close(
        &format!("{dt:?} {what}"),
        got,
        want,
        1e-5 * m.max(1.0),
        1e-4,
    );
}

/// An fp32 output fed by a tensor-core GEMM.
fn check_tc32(dt: Half, what: &str, got: &[f32], want: &[f32]) {
    let m = max_abs(want);
    common::assert_close(&format!("{dt:?} {what}"), got, want, 1e-3 * m, 1e-3);
}

fn check_exact(dt: Half, what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{dt:?} {what}: length");
    let bad = got
        .iter()
        .zip(want)
        .position(|(a, b)| a.to_bits() != b.to_bits());
    assert!(bad.is_none(), "{dt:?} {what}: differs at {bad:?}");
    println!("{dt:?} {what}: n={} bit-exact", got.len());
}

fn ref_host(t: &Tensor) -> Vec<f32> {
    t.host().expect("host tensor").to_vec()
}

#[test]
fn norms_match_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        for (m, c) in [(1, 1), (3, 17), (17, 130), (130, 4096)] {
            let tag = format!("{m}x{c}");
            let (x, w, b, dy) = (
                rounded(dt, m * c, 1, 2.0),
                rounded(dt, c, 2, 1.0),
                rounded(dt, c, 3, 1.0),
                rounded(dt, m * c, 4, 1.0),
            );
            let (xt, wt, bt, dyt) = (
                host(&x, &[m, c]),
                host(&w, &[c]),
                host(&b, &[c]),
                host(&dy, &[m, c]),
            );
            let (gx, gw, gb, gdy) = (
                g.upload(&x).unwrap(),
                g.upload(&w).unwrap(),
                g.upload(&b).unwrap(),
                g.upload(&dy).unwrap(),
            );
            let (y, dx) = (g.zeros(m * c).unwrap(), g.zeros(m * c).unwrap());
            let (mean, rstd) = (g.zeros_f32(m).unwrap(), g.zeros_f32(m).unwrap());
            let dw0 = input(c, 5);
            let db0 = input(c, 6);

            // RMSNorm
            let (y_ref, s_ref) = cpu.rmsnorm_fwd(&xt, &wt, 1e-5).unwrap();
            let mut dw_ref = host(&dw0, &[c]);
            let dx_ref = cpu
                .rmsnorm_bwd(&dyt, &xt, &wt, &s_ref, Some(&mut dw_ref))
                .unwrap();
            let dw = g.upload_f32(&dw0).unwrap();
            g.rmsnorm_fwd(&gx, &gw, &y, &rstd, m, c, 1e-5).unwrap();
            g.rmsnorm_bwd(&gdy, &gx, &gw, &rstd, &dx, m, c).unwrap();
            g.norm_bwd_dw(&gdy, &gx, None, &rstd, &dw, None, m, c)
                .unwrap();
            check16(
                dt,
                &format!("rmsnorm {tag} y"),
                &g.download(&y).unwrap(),
                &ref_host(&y_ref),
                POINTWISE,
                true,
            );
            check32(
                dt,
                &format!("rmsnorm {tag} rstd"),
                &g.download_f32(&rstd).unwrap(),
                &ref_host(&s_ref.rstd),
            );
            check16(
                dt,
                &format!("rmsnorm {tag} dx"),
                &g.download(&dx).unwrap(),
                &ref_host(&dx_ref),
                POINTWISE,
                true,
            );
            check32(
                dt,
                &format!("rmsnorm {tag} dw"),
                &g.download_f32(&dw).unwrap(),
                &ref_host(&dw_ref),
            );

            // LayerNorm
            let (y_ref, s_ref) = cpu.layernorm_fwd(&xt, &wt, &bt, 1e-5).unwrap();
            let (mut dw_ref, mut db_ref) = (host(&dw0, &[c]), host(&db0, &[c]));
            let dx_ref = cpu
                .layernorm_bwd(&dyt, &xt, &wt, &s_ref, Some(&mut dw_ref), Some(&mut db_ref))
                .unwrap();
            let (dw, db) = (g.upload_f32(&dw0).unwrap(), g.upload_f32(&db0).unwrap());
            g.layernorm_fwd(&gx, &gw, &gb, &y, &mean, &rstd, m, c, 1e-5)
                .unwrap();
            g.layernorm_bwd(&gdy, &gx, &gw, &mean, &rstd, &dx, m, c)
                .unwrap();
            g.norm_bwd_dw(&gdy, &gx, Some(&mean), &rstd, &dw, Some(&db), m, c)
                .unwrap();
            check16(
                dt,
                &format!("layernorm {tag} y"),
                &g.download(&y).unwrap(),
                &ref_host(&y_ref),
                POINTWISE,
                true,
            );
            let mean_ref = s_ref.mean.as_ref().expect("layernorm saves the mean");
            check32(
                dt,
                &format!("layernorm {tag} mean"),
                &g.download_f32(&mean).unwrap(),
                &ref_host(mean_ref),
            );
            check32(
                dt,
                &format!("layernorm {tag} rstd"),
                &g.download_f32(&rstd).unwrap(),
                &ref_host(&s_ref.rstd),
            );
            check16(
                dt,
                &format!("layernorm {tag} dx"),
                &g.download(&dx).unwrap(),
                &ref_host(&dx_ref),
                POINTWISE,
                true,
            );
            check32(
                dt,
                &format!("layernorm {tag} dw"),
                &g.download_f32(&dw).unwrap(),
                &ref_host(&dw_ref),
            );
            check32(
                dt,
                &format!("layernorm {tag} db"),
                &g.download_f32(&db).unwrap(),
                &ref_host(&db_ref),
            );
        }
    }
}

#[test]
fn rope_matches_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    let interleaved = |rotary_dim| RopeStyle::Interleaved {
        rotary_dim,
        theta: 1e4,
    };
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        for (shape, style, offset) in [
            ([1, 1, 1, 2], RopeStyle::RotateHalf { theta: 1e4 }, 0),
            ([3, 17, 2, 16], RopeStyle::RotateHalf { theta: 1e6 }, 5),
            (
                [1, 130, 32, 128],
                RopeStyle::RotateHalf { theta: 1e4 },
                4091,
            ),
            ([2, 17, 3, 32], interleaved(16), 3),
            ([1, 130, 16, 256], interleaved(64), 2000),
        ] {
            let [b, t, h, d] = shape;
            let n = b * t * h * d;
            let (rot, theta) = match style {
                RopeStyle::RotateHalf { theta } => (d, theta),
                RopeStyle::Interleaved { rotary_dim, theta } => (rotary_dim, theta),
            };
            let part = matches!(style, RopeStyle::Interleaved { .. }).then_some(rot);
            let x = rounded(dt, n, 1, 1.0);
            let xt = host(&x, &shape);
            let (gx, gy) = (g.upload(&x).unwrap(), g.zeros(n).unwrap());
            let freqs = g.upload_f32(&inv_freq(theta, rot)).unwrap();
            let tag = format!("rope {shape:?} {style:?} +{offset}");
            for inverse in [false, true] {
                let want = if inverse {
                    cpu.rope_bwd(&xt, style, offset)
                } else {
                    cpu.rope_fwd(&xt, style, offset)
                };
                g.rope(&gx, &gy, &freqs, b * t, t, h, d, part, offset, inverse)
                    .unwrap();
                let dir = if inverse { "bwd" } else { "fwd" };
                check16(
                    dt,
                    &format!("{tag} {dir}"),
                    &g.download(&gy).unwrap(),
                    &ref_host(&want.unwrap()),
                    POINTWISE,
                    true,
                );
            }
        }
    }
}

#[test]
fn activations_match_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        // 67×11008: a 7B MLP activation; inputs span [−4, 4) to reach the sigmoid/tanh tails.
        for (m, c) in [(1, 1), (3, 17), (17, 130), (67, 11008)] {
            let n = m * c;
            let (gate, upv, d) = (
                rounded(dt, n, 1, 4.0),
                rounded(dt, n, 2, 4.0),
                rounded(dt, n, 3, 1.0),
            );
            let (gt, ut, dtt) = (host(&gate, &[m, c]), host(&upv, &[m, c]), host(&d, &[m, c]));
            let (gg, gu, gd) = (
                g.upload(&gate).unwrap(),
                g.upload(&upv).unwrap(),
                g.upload(&d).unwrap(),
            );
            let (o1, o2) = (g.zeros(n).unwrap(), g.zeros(n).unwrap());
            let tag = format!("{m}x{c}");

            g.swiglu_fwd(&gg, &gu, &o1, n).unwrap();
            let want = cpu.swiglu_fwd(&gt, &ut).unwrap();
            check16(
                dt,
                &format!("swiglu {tag} h"),
                &g.download(&o1).unwrap(),
                &ref_host(&want),
                POINTWISE,
                true,
            );
            g.swiglu_bwd(&gd, &gg, &gu, &o1, &o2, n).unwrap();
            let (dg_ref, du_ref) = cpu.swiglu_bwd(&dtt, &gt, &ut).unwrap();
            check16(
                dt,
                &format!("swiglu {tag} dgate"),
                &g.download(&o1).unwrap(),
                &ref_host(&dg_ref),
                POINTWISE,
                true,
            );
            check16(
                dt,
                &format!("swiglu {tag} dup"),
                &g.download(&o2).unwrap(),
                &ref_host(&du_ref),
                POINTWISE,
                true,
            );

            g.gelu_new_fwd(&gg, &o1, n).unwrap();
            let want = cpu.gelu_new_fwd(&gt).unwrap();
            check16(
                dt,
                &format!("gelu_new {tag} y"),
                &g.download(&o1).unwrap(),
                &ref_host(&want),
                POINTWISE,
                true,
            );
            g.gelu_new_bwd(&gd, &gg, &o1, n).unwrap();
            let want = cpu.gelu_new_bwd(&dtt, &gt).unwrap();
            check16(
                dt,
                &format!("gelu_new {tag} dx"),
                &g.download(&o1).unwrap(),
                &ref_host(&want),
                POINTWISE,
                true,
            );
        }
    }
}

#[test]
fn cross_entropy_matches_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        for (m, v) in [(1, 3), (3, 17), (17, 130), (256, 32016)] {
            let logits = rounded(dt, m * v, 1, 8.0);
            let lt = host(&logits, &[m, v]);
            let labels: Vec<i32> = (0..m)
                .map(|i| {
                    if i % 4 == 1 {
                        IGNORE_INDEX
                    } else {
                        ((i * 7919) % v) as i32
                    }
                })
                .collect();
            let f_ref = cpu.cross_entropy_fwd(&lt, &labels).unwrap();
            let scale = 1.0 / f_ref.n_valid.max(1) as f32;
            let d_ref = cpu
                .cross_entropy_bwd(&lt, &labels, &f_ref.lse, scale)
                .unwrap();

            let gl = g.upload(&logits).unwrap();
            let glab = g.upload_i32(&labels).unwrap();
            let (loss, lse, dl) = (
                g.zeros_f32(m).unwrap(),
                g.zeros_f32(m).unwrap(),
                g.zeros(m * v).unwrap(),
            );
            g.cross_entropy(&gl, &glab, &loss, &lse, Some(&dl), scale, m, v)
                .unwrap();
            let per_row = g.download_f32(&loss).unwrap();
            let loss_sum: f64 = per_row
                .iter()
                .zip(&labels)
                .filter(|(_, &l)| l != IGNORE_INDEX)
                .map(|(&x, _)| x as f64)
                .sum();
            let rel = (loss_sum - f_ref.loss_sum).abs() / f_ref.loss_sum.abs().max(1.0);
            println!(
                "{dt:?} ce {m}x{v} loss_sum {loss_sum} vs {} (rel {rel:.2e}, allowed 1e-4)",
                f_ref.loss_sum
            );
            assert!(
                rel <= 1e-4,
                "{dt:?} ce {m}x{v}: loss {loss_sum} vs {}",
                f_ref.loss_sum
            );
            check32(
                dt,
                &format!("ce {m}x{v} lse"),
                &g.download_f32(&lse).unwrap(),
                &ref_host(&f_ref.lse),
            );
            check16(
                dt,
                &format!("ce {m}x{v} dlogits"),
                &g.download(&dl).unwrap(),
                &ref_host(&d_ref),
                0.0,
                false,
            );
        }
    }
}

#[test]
fn embedding_matches_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        // The last case is CodeLlama-7B's table (vocab 32016 × hidden 4096).
        for (v, c, m) in [(1, 1, 1), (17, 3, 5), (130, 17, 130), (32016, 4096, 67)] {
            let weight = rounded(dt, v * c, 1, 1.0);
            let ids: Vec<u32> = (0..m).map(|i| ((i * 7919 + 3) % v) as u32).collect();
            let ids32: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
            let wt = host(&weight, &[v, c]);
            let (gw, gids, out) = (
                g.upload(&weight).unwrap(),
                g.upload_i32(&ids32).unwrap(),
                g.zeros(m * c).unwrap(),
            );
            let bad = g.zeros_i32(1).unwrap();
            g.embedding_fwd(&gids, &gw, &out, m, c, v, Some(&bad))
                .unwrap();
            let want = cpu.embedding_fwd(&wt, &ids).unwrap();
            check_exact(
                dt,
                &format!("embedding {v}x{c} m{m} fwd"),
                &g.download(&out).unwrap(),
                &ref_host(&want),
            );
            assert_eq!(
                g.download_i32(&bad).unwrap(),
                [0],
                "{dt:?}: no id was out of range"
            );

            let dout = rounded(dt, m * c, 2, 1.0);
            let dw0 = input(v * c, 3);
            let mut dw_ref = host(&dw0, &[v, c]);
            cpu.embedding_bwd(&host(&dout, &[m, c]), &ids, &mut dw_ref)
                .unwrap();
            let dw = g.upload_f32(&dw0).unwrap();
            g.embedding_bwd(&gids, &g.upload(&dout).unwrap(), &dw, m, c, v)
                .unwrap();
            check32(
                dt,
                &format!("embedding {v}x{c} m{m} dweight"),
                &g.download_f32(&dw).unwrap(),
                &ref_host(&dw_ref),
            );
        }
        // An id outside [0, V): the kernel writes a zero row and raises the flag instead of reading.
        let (v, c) = (7, 5);
        let gw = g.upload(&rounded(dt, v * c, 1, 1.0)).unwrap();
        let out = g.upload(&[1.0; 10]).unwrap();
        let bad = g.zeros_i32(1).unwrap();
        g.embedding_fwd(
            &g.upload_i32(&[2, 7]).unwrap(),
            &gw,
            &out,
            2,
            c,
            v,
            Some(&bad),
        )
        .unwrap();
        assert_eq!(
            g.download_i32(&bad).unwrap(),
            [1],
            "{dt:?}: id 7 of 7 must raise the flag"
        );
        assert!(
            g.download(&out).unwrap()[c..].iter().all(|&x| x == 0.0),
            "{dt:?}: bad row not zeroed"
        );
    }
}

#[test]
fn elementwise_match_cpu() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        for (m, c) in [(1, 1), (3, 17), (17, 130), (67, 4096)] {
            let n = m * c;
            let tag = format!("{m}x{c}");
            let (a, b) = (rounded(dt, n, 1, 4.0), rounded(dt, n, 2, 4.0));
            let (at, bt) = (host(&a, &[m, c]), host(&b, &[m, c]));
            let (ga, gb, out) = (
                g.upload(&a).unwrap(),
                g.upload(&b).unwrap(),
                g.zeros(n).unwrap(),
            );
            g.add(&ga, &gb, &out, n).unwrap();
            check16(
                dt,
                &format!("add {tag}"),
                &g.download(&out).unwrap(),
                &ref_host(&cpu.add(&at, &bt).unwrap()),
                POINTWISE,
                true,
            );
            let mut acc_ref = at.clone();
            cpu.add_assign(&mut acc_ref, &bt).unwrap();
            g.add_assign(&ga, &gb, n).unwrap();
            check16(
                dt,
                &format!("add_assign {tag}"),
                &g.download(&ga).unwrap(),
                &ref_host(&acc_ref),
                POINTWISE,
                true,
            );

            // KV concat along the sequence: [2, m, 1, c] and [2, 3, 1, c].
            let (k1, k2) = (rounded(dt, 2 * n, 3, 1.0), rounded(dt, 2 * 3 * c, 4, 1.0));
            let cat = g.zeros(2 * (m + 3) * c).unwrap();
            g.cat_seq(
                &g.upload(&k1).unwrap(),
                &g.upload(&k2).unwrap(),
                &cat,
                2,
                m,
                3,
                c,
            )
            .unwrap();
            let want = cpu
                .cat_seq(&host(&k1, &[2, m, 1, c]), &host(&k2, &[2, 3, 1, c]))
                .unwrap();
            check_exact(
                dt,
                &format!("cat_seq {tag}"),
                &g.download(&cat).unwrap(),
                &ref_host(&want),
            );

            // Every third column, reversed (distinct indices, as scatter_cols_add requires).
            let idx: Vec<u32> = (0..c as u32).rev().step_by(3).collect();
            let j = idx.len();
            let gidx = g
                .upload_i32(&idx.iter().map(|&i| i as i32).collect::<Vec<_>>())
                .unwrap();
            let gathered = g.zeros(m * j).unwrap();
            g.gather_cols(&g.upload(&a).unwrap(), &gidx, &gathered, m, c, j)
                .unwrap();
            check_exact(
                dt,
                &format!("gather_cols {tag}"),
                &g.download(&gathered).unwrap(),
                &ref_host(&cpu.gather_cols(&at, &idx).unwrap()),
            );
            let dout = rounded(dt, m * j, 5, 4.0);
            let mut dx_ref = at.clone();
            cpu.scatter_cols_add(&mut dx_ref, &host(&dout, &[m, j]), &idx)
                .unwrap();
            let gdx = g.upload(&a).unwrap();
            g.scatter_cols_add(&gdx, &g.upload(&dout).unwrap(), &gidx, m, c, j)
                .unwrap();
            check16(
                dt,
                &format!("scatter_cols_add {tag}"),
                &g.download(&gdx).unwrap(),
                &ref_host(&dx_ref),
                POINTWISE,
                true,
            );
        }
    }
}

/// Adapter of one linear case.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Plain,
    Lora { r: usize, p: f32 },
    Ia3In,
    Ia3Out,
}

const SEED: u64 = 1234;
const LORA_SCALE: f32 = 2.0;

/// One linear layer fwd + bwd with adapter `kind`, 16-bit kernels vs the CPU backend.
fn linear_case(g: &HalfRunner<'_>, m: usize, n: usize, k: usize, kind: Kind, with_bias: bool) {
    let (cpu, dt) = (CpuBackend, g.dt);
    let tag = format!("linear {kind:?} m{m} n{n} k{k} bias {with_bias}");
    let (x, w, bias, dy) = (
        rounded(dt, m * k, 1, 1.0),
        rounded(dt, n * k, 2, 1.0),
        rounded(dt, n, 3, 1.0),
        rounded(dt, m * n, 6, 1.0),
    );
    let (xt, wt, biast, dyt) = (
        host(&x, &[m, k]),
        host(&w, &[n, k]),
        host(&bias, &[n]),
        host(&dy, &[m, n]),
    );
    let (gx, gw, gbias, gdy) = (
        g.upload(&x).unwrap(),
        g.upload(&w).unwrap(),
        g.upload(&bias).unwrap(),
        g.upload(&dy).unwrap(),
    );
    let gb_opt = with_bias.then_some(&gbias);
    let (y, dx) = (g.zeros(m * n).unwrap(), g.zeros(m * k).unwrap());
    let down = |b: &CudaSlice<u16>| g.download(b).unwrap();
    let down32 = |b: &CudaSlice<f32>| g.download_f32(b).unwrap();
    match kind {
        Kind::Plain => {
            let (y_ref, saved) = cpu
                .linear_fwd(&xt, &wt, with_bias.then_some(&biast), AdapterOp::None)
                .unwrap();
            let dx_ref = cpu
                .linear_bwd(&dyt, &xt, &wt, AdapterOp::None, &saved, AdapterGrad::None)
                .unwrap();
            g.linear_fwd(&gx, &gw, gb_opt, &y, m, n, k).unwrap();
            g.linear_bwd_dx(&gdy, &gw, &dx, m, n, k).unwrap();
            check16(
                dt,
                &format!("{tag} y"),
                &down(&y),
                &ref_host(&y_ref),
                GEMM,
                true,
            );
            check16(
                dt,
                &format!("{tag} dx"),
                &down(&dx),
                &ref_host(&dx_ref),
                GEMM,
                true,
            );
        }
        Kind::Lora { r, p } => {
            let (a, b) = (input(r * k, 4), input(n * r, 5));
            let (at, bt) = (host(&a, &[r, k]), host(&b, &[n, r]));
            let dropout = (p > 0.0).then_some(Dropout { p, seed: SEED });
            let op = AdapterOp::Lora {
                a: &at,
                b: &bt,
                scale: LORA_SCALE,
                dropout,
            };
            let (da0, db0) = (input(r * k, 8), input(n * r, 9));
            let (mut da_ref, mut db_ref) = (host(&da0, &[r, k]), host(&db0, &[n, r]));
            let (y_ref, saved) = cpu
                .linear_fwd(&xt, &wt, with_bias.then_some(&biast), op)
                .unwrap();
            let grad = AdapterGrad::Lora {
                da: &mut da_ref,
                db: &mut db_ref,
            };
            let dx_ref = cpu.linear_bwd(&dyt, &xt, &wt, op, &saved, grad).unwrap();

            let (ga, gb) = (g.upload_f32(&a).unwrap(), g.upload_f32(&b).unwrap());
            let (xa, dyb) = (g.zeros_f32(m * r).unwrap(), g.zeros_f32(m * r).unwrap());
            let (da, db) = (g.upload_f32(&da0).unwrap(), g.upload_f32(&db0).unwrap());
            g.lora_fwd(
                &gx, &gw, gb_opt, &ga, &gb, &xa, LORA_SCALE, p, SEED, &y, m, n, k, r,
            )
            .unwrap();
            g.lora_bwd(
                &gdy, &gx, &gw, &ga, &gb, &xa, &dyb, LORA_SCALE, p, SEED, &dx, &da, &db, m, n, k, r,
            )
            .unwrap();
            let xa_ref = saved.xa.as_ref().expect("LoRA saves x·Aᵀ");
            check32(dt, &format!("{tag} xa"), &down32(&xa), &ref_host(xa_ref));
            check16(
                dt,
                &format!("{tag} y"),
                &down(&y),
                &ref_host(&y_ref),
                GEMM,
                true,
            );
            check16(
                dt,
                &format!("{tag} dx"),
                &down(&dx),
                &ref_host(&dx_ref),
                GEMM,
                true,
            );
            check32(dt, &format!("{tag} dA"), &down32(&da), &ref_host(&da_ref));
            check32(dt, &format!("{tag} dB"), &down32(&db), &ref_host(&db_ref));
        }
        Kind::Ia3In | Kind::Ia3Out => {
            let len = if matches!(kind, Kind::Ia3In) { k } else { n };
            let (l, dl0) = (input(len, 7), input(len, 8));
            let lt = host(&l, &[len]);
            let op = if matches!(kind, Kind::Ia3In) {
                AdapterOp::Ia3Input { l: &lt }
            } else {
                AdapterOp::Ia3Output { l: &lt }
            };
            let mut dl_ref = host(&dl0, &[len]);
            let (y_ref, saved) = cpu
                .linear_fwd(&xt, &wt, with_bias.then_some(&biast), op)
                .unwrap();
            let dx_ref = cpu
                .linear_bwd(
                    &dyt,
                    &xt,
                    &wt,
                    op,
                    &saved,
                    AdapterGrad::Ia3 { dl: &mut dl_ref },
                )
                .unwrap();
            let (gl, dl) = (g.upload_f32(&l).unwrap(), g.upload_f32(&dl0).unwrap());
            if matches!(kind, Kind::Ia3In) {
                g.ia3_in_fwd(&gx, &gw, gb_opt, &gl, &y, m, n, k).unwrap();
                g.ia3_in_bwd(&gdy, &gx, &gw, &gl, &dx, &dl, m, n, k)
                    .unwrap();
                // y: x⊙l staged in T; dx = round(g·l) from the fp32 tile; dl from the fp32 tile.
                check16(
                    dt,
                    &format!("{tag} y"),
                    &down(&y),
                    &ref_host(&y_ref),
                    ROUNDED_TERMS,
                    true,
                );
                check16(
                    dt,
                    &format!("{tag} dx"),
                    &down(&dx),
                    &ref_host(&dx_ref),
                    GEMM,
                    true,
                );
                check_tc32(dt, &format!("{tag} dl"), &down32(&dl), &ref_host(&dl_ref));
            } else {
                let z = g.zeros(m * n).unwrap();
                g.ia3_out_fwd(&gx, &gw, gb_opt, &gl, &y, &z, m, n, k)
                    .unwrap();
                g.ia3_out_bwd(&gdy, &gw, &gl, &z, &dx, &dl, m, n, k)
                    .unwrap();
                let z_ref = saved.base_out.as_ref().expect("IA3-out saves z");
                // y, z: one rounding of the fp32 accumulator; dx: dY⊙l staged in T; dl: Σ dY·z
                // over the saved 16-bit z.
                check16(
                    dt,
                    &format!("{tag} y"),
                    &down(&y),
                    &ref_host(&y_ref),
                    GEMM,
                    true,
                );
                check16(
                    dt,
                    &format!("{tag} z"),
                    &down(&z),
                    &ref_host(z_ref),
                    GEMM,
                    true,
                );
                check16(
                    dt,
                    &format!("{tag} dx"),
                    &down(&dx),
                    &ref_host(&dx_ref),
                    ROUNDED_TERMS,
                    true,
                );
                check16(
                    dt,
                    &format!("{tag} dl"),
                    &down32(&dl),
                    &ref_host(&dl_ref),
                    ROUNDED_TERMS,
                    true,
                );
            }
        }
    }
}

#[test]
fn linear_lora_and_ia3_match_cpu() {
    let Some(dev) = gpu() else { return };
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        // The last two have rows of whole 16-byte chunks, as SECTUNE_GEMM_CORE=wgmma-tma's tensor
        // maps need (the others run its wg_ fallback): ragged M, N and K tails, more k-tiles than
        // its 4 ring stages.
        for (m, n, k) in [
            (1, 1, 1),
            (3, 17, 130),
            (17, 130, 3),
            (130, 300, 257),
            (5, 8, 8),
            (130, 264, 584),
        ] {
            for bias in [false, true] {
                linear_case(&g, m, n, k, Kind::Plain, bias);
                linear_case(&g, m, n, k, Kind::Ia3In, bias);
                linear_case(&g, m, n, k, Kind::Ia3Out, bias);
            }
            linear_case(&g, m, n, k, Kind::Lora { r: 5, p: 0.0 }, true);
            linear_case(&g, m, n, k, Kind::Lora { r: 16, p: 0.25 }, false);
            linear_case(&g, m, n, k, Kind::Lora { r: 40, p: 0.1 }, false);
        }
    }
}

#[test]
fn linear_at_7b_shapes_matches_cpu() {
    let Some(dev) = gpu() else { return };
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        // CodeLlama-7B: q/k/v/o 4096×4096, gate/up 11008×4096, down 4096×11008; r 8 as in the study.
        for (n, k) in [(4096, 4096), (11008, 4096), (4096, 11008)] {
            linear_case(&g, 67, n, k, Kind::Lora { r: 8, p: 0.05 }, false);
        }
        linear_case(&g, 67, 11008, 4096, Kind::Ia3Out, false);
        linear_case(&g, 67, 4096, 11008, Kind::Ia3In, false);
    }
}

/// The tiled rank projections (16 rows per block, V staged in shared memory) against the
/// row-per-block kernels they are meant to replace (plan::rank_project_tiled picks per call): same inputs, same
/// dropout masks, sums in another order, so f32 rounding only: ≤ 1e-5 of the largest term sum.
#[test]
fn rank_projections_tiled_match_the_row_kernels() {
    use sectune::backend::cuda::plan::Projection;
    let Some(dev) = gpu() else { return };
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        for (m, p_dim, r) in [
            (1, 8, 1),
            (17, 1000, 5),
            (33, 257, 16),
            (64, 300, 40),
            (16, 64, 64),
            (300, 4096, 8),
        ] {
            let u = g.upload(&rounded(dt, m * p_dim, 31, 1.0)).unwrap();
            let v = g.upload_f32(&input(p_dim * r, 32)).unwrap();
            // |u|·|v| summed over p: the scale the rounding is relative to.
            let bound =
                p_dim as f32 * max_abs(&input(m * p_dim, 31)) * max_abs(&input(p_dim * r, 32));
            for (which, drop) in [
                (Projection::Xa, 0.0),
                (Projection::Xa, 0.1),
                (Projection::Dyb, 0.0),
            ] {
                let (rows, tiled) = (g.zeros_f32(m * r).unwrap(), g.zeros_f32(m * r).unwrap());
                for (out, form) in [(&rows, false), (&tiled, true)] {
                    g.rank_project(which, form, &u, &v, out, drop, 7, m, p_dim, r)
                        .unwrap();
                }
                let (want, got) = (
                    g.download_f32(&rows).unwrap(),
                    g.download_f32(&tiled).unwrap(),
                );
                let worst = got
                    .iter()
                    .zip(&want)
                    .fold(0f32, |w, (a, b)| w.max((a - b).abs()));
                println!(
                    "{dt:?} {which:?} p {drop} M {m} P {p_dim} r {r}: max |tiled − rows| {worst:.2e} \
                     ({:.1}% of allowed)",
                    100.0 * worst / (1e-5 * bound)
                );
                assert!(
                    worst <= 1e-5 * bound && got.iter().all(|x| x.is_finite()),
                    "{dt:?} {which:?} M {m} P {p_dim} r {r}: tiled differs by {worst}"
                );
                assert!(max_abs(&want) > 0.0, "the reference must not be all zeros");
            }
        }
    }
}

/// The kernel's nucleus in f64: p = softmax(logits/T); τ = the probability at which the mass of
/// {p ≥ τ} first reaches `top_p` (ties at the edge kept together); returns (p, τ).
fn nucleus(row: &[f32], temperature: f32, top_p: f64) -> (Vec<f64>, f64) {
    let t = temperature as f64;
    let mx = row
        .iter()
        .fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64 / t));
    let e: Vec<f64> = row.iter().map(|&x| (x as f64 / t - mx).exp()).collect();
    let z: f64 = e.iter().sum();
    let p: Vec<f64> = e.iter().map(|x| x / z).collect();
    if top_p >= 1.0 {
        return (p, 0.0);
    }
    let mut sorted = p.clone();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let mut mass = 0.0;
    for &q in &sorted {
        mass += q;
        if mass >= top_p {
            return (p, q);
        }
    }
    (p, 0.0)
}

#[test]
fn sampling_stays_in_the_nucleus() {
    let Some(dev) = gpu() else { return };
    let cpu = CpuBackend;
    let (rows, v) = (32, 32016);
    let uniforms: Vec<f32> = (0..rows).map(|i| (i as f32 + 0.37) / rows as f32).collect();
    for dt in dtypes(&dev) {
        let g = HalfRunner::new(&dev, dt);
        let logits = rounded(dt, rows * v, 3, 6.0);
        let lt = host(&logits, &[rows, v]);
        let (gl, gu, out) = (
            g.upload(&logits).unwrap(),
            g.upload_f32(&uniforms).unwrap(),
            g.zeros_i32(rows).unwrap(),
        );
        g.sample(&gl, 0.0, 1.0, &gu, &out, rows, v).unwrap();
        let greedy: Vec<u32> = g
            .download_i32(&out)
            .unwrap()
            .iter()
            .map(|&i| i as u32)
            .collect();
        assert_eq!(
            greedy,
            cpu.sample(&lt, 0.0, 1.0, &uniforms).unwrap(),
            "{dt:?}: greedy must agree exactly"
        );
        for (temp, top_p) in [(0.8f32, 0.9f32), (1.0, 1.0), (0.2, 0.5)] {
            g.sample(&gl, temp, top_p, &gu, &out, rows, v).unwrap();
            let got = g.download_i32(&out).unwrap();
            let cpu_ids = cpu.sample(&lt, temp, top_p, &uniforms).unwrap();
            let (mut outside, mut differ, mut differ_cpu) = (0, 0, 0);
            for (s, &id) in got.iter().enumerate() {
                let row = &logits[s * v..(s + 1) * v];
                let (p, tau) = nucleus(row, temp, top_p as f64);
                // A slightly larger set (mass + 1e-5) absorbs the kernel's f32 mass sums at the edge.
                let (_, tau_loose) = nucleus(row, temp, (top_p as f64 + 1e-5).min(1.0));
                let inside = usize::try_from(id).is_ok_and(|i| i < v && p[i] >= tau_loose);
                outside += usize::from(!inside);
                // The host inversion of the same CDF: kept tokens in id order.
                let kept_mass: f64 = p.iter().filter(|&&q| q >= tau).sum();
                let target = uniforms[s] as f64 * kept_mass;
                let mut run = 0.0;
                let mut pick = v;
                for (i, &q) in p.iter().enumerate().filter(|(_, &q)| q >= tau) {
                    pick = i;
                    run += q;
                    if run > target {
                        break;
                    }
                }
                differ += usize::from(pick as i32 != id);
                differ_cpu += usize::from(cpu_ids[s] as i32 != id);
            }
            println!(
                "{dt:?} sampling t{temp} p{top_p}: {outside}/{rows} outside the nucleus, {differ}/{rows} differ \
                 from the host inversion, {differ_cpu}/{rows} from the CPU backend"
            );
            assert_eq!(
                outside, 0,
                "{dt:?} t {temp} top_p {top_p}: ids outside the nucleus: {got:?}"
            );
            assert!(
                differ <= 1,
                "{dt:?} t {temp} top_p {top_p}: {differ} rows differ from the host inversion"
            );
        }
    }
}
