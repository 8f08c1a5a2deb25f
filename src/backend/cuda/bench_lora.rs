//! `sectune bench`, LoRA linear part: our bf16 GEMM cores and the fused LoRA kernels against
//! cuBLAS at CodeLlama-7B shapes, forward (y = x·Wᵀ) and backward (dX = dY·W; W is frozen), each
//! also checked against cuBLAS's output so a fast wrong kernel cannot pass unnoticed.
//! LoRA fwd = xa projection + fused GEMM; LoRA bwd = dyb projection + fused dX GEMM + dA + dB.

use std::sync::Arc;

use anyhow::{bail, Result};
use cudarc::cublas::{sys::cublasOperation_t, CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig};
use half::bf16;

use super::bench::gpu::{pct, time_ms};
use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::{cfg, KArg};
use super::plan::{
    gemm16_core_launch, rank_project_launch, rank_project_tiled, rank_splits, rank_sum_launch,
    GemmCore, Projection,
};
use super::tma::{gemm_operands, Elem16, GemmShape};

const RANK: usize = 8;
pub(super) const SHAPES: [(usize, usize, usize); 4] = [
    (4096, 4096, 4096),
    (4096, 11008, 4096),
    (4096, 4096, 11008),
    (16384, 4096, 4096),
];

/// Values in [-amp, amp) from a hash of the index: no period for sums to cancel on.
pub(super) fn hashed(n: usize, seed: u64, amp: f32) -> Vec<f32> {
    (0..n as u64)
        .map(|i| {
            let mut z =
                (i ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z ^= z >> 31;
            z = z.wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 29;
            ((z >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * amp
        })
        .collect()
}

pub(super) fn upload_bf16(s: &Arc<CudaStream>, v: &[f32]) -> Result<CudaSlice<bf16>> {
    let h: Vec<bf16> = v.iter().map(|&x| bf16::from_f32(x)).collect();
    Ok(s.clone_htod(&h)?)
}

pub(super) fn ptr<T>(s: &Arc<CudaStream>, b: &CudaSlice<T>) -> KArg {
    KArg::U64(b.device_ptr(s).0)
}

pub(super) fn go(
    s: &Arc<CudaStream>,
    f: &CudaFunction,
    c: LaunchConfig,
    args: &[KArg],
) -> Result<()> {
    let mut b = s.launch_builder(f);
    for a in args {
        a.push(&mut b);
    }
    // SAFETY: each caller passes the argument list of the entry point's signature (in
    // kernels/lora_matmul.cu or ia3.cu), with buffers of the sizes the shapes need.
    unsafe { b.launch(c) }?;
    Ok(())
}

/// Row splits of the rank sums as the kernels take them: M, splits, rows per split, r.
#[derive(Clone, Copy)]
pub(super) struct Splits {
    pub m: i32,
    pub splits: i32,
    pub rows: i32,
    pub r: i32,
}

/// lora_linear_bwd_dA_split*(x, dyb, partial, p, seed, M, K, r, rows).
pub(super) fn da_split_args(
    x: KArg,
    dyb: KArg,
    partial: KArg,
    (p, seed): (f32, u64),
    k: i32,
    z: Splits,
) -> [KArg; 9] {
    [
        x,
        dyb,
        partial,
        p.into(),
        KArg::U64(seed),
        z.m.into(),
        k.into(),
        z.r.into(),
        z.rows.into(),
    ]
}

/// lora_linear_bwd_dB_split*(dy, xa, partial, M, N, r, rows).
pub(super) fn db_split_args(dy: KArg, xa: KArg, partial: KArg, n: i32, z: Splits) -> [KArg; 7] {
    [
        dy,
        xa,
        partial,
        z.m.into(),
        n.into(),
        z.r.into(),
        z.rows.into(),
    ]
}

/// lora_rank_reduce(partial, out, scale, splits, P, r, sp, sj): dA [r, K] has (sp, sj) = (1, K),
/// dB [N, r] (r, 1).
pub(super) fn reduce_args(
    partial: KArg,
    out: KArg,
    scale: f32,
    p: i32,
    (sp, sj): (i32, i32),
    z: Splits,
) -> [KArg; 8] {
    [
        partial,
        out,
        scale.into(),
        z.splits.into(),
        p.into(),
        z.r.into(),
        sp.into(),
        sj.into(),
    ]
}

/// max |ours − ref| / max |ref| over (ours, ref) pairs: the error measure of every bench check.
pub(super) fn max_rel(pairs: impl Iterator<Item = (f64, f64)>) -> f64 {
    let (worst, scale) = pairs.fold((0f64, 0f64), |(w, m), (ours, reference)| {
        (w.max((ours - reference).abs()), m.max(reference.abs()))
    });
    worst / scale.max(f64::MIN_POSITIVE)
}

/// `max_rel` over two bf16 device buffers.
pub(super) fn rel_diff(
    s: &Arc<CudaStream>,
    ours: &CudaSlice<bf16>,
    reference: &CudaSlice<bf16>,
) -> Result<f64> {
    let (a, b) = (s.clone_dtoh(ours)?, s.clone_dtoh(reference)?);
    Ok(max_rel(
        a.iter().zip(&b).map(|(x, y)| (x.to_f64(), y.to_f64())),
    ))
}

pub fn run(dev: &CudaDevice, reps: u32, peak_flops: Option<f64>) -> Result<()> {
    let gpu = dev.gpu()?;
    // The mma.sync (or FMA) core first; on 9.0 the default runs its dense GEMMs on wgmma.
    let core = match GemmCore::for_gpu(gpu) {
        GemmCore::Hopper => GemmCore::TensorCore,
        core => core,
    };
    table(dev, core, reps, peak_flops)?;
    if gpu.cc.0 >= 8 {
        odd_shapes(dev, core)?;
    }
    super::bench_rank::run(dev, reps)?;
    // The warpgroup pipelines, last.
    for core in [GemmCore::Wgmma, GemmCore::WgmmaInFlight, GemmCore::WgmmaTma] {
        if core.runs_on(gpu) {
            table(dev, core, reps, peak_flops)?;
            odd_shapes(dev, core)?;
        }
    }
    Ok(())
}

fn core_name(core: GemmCore) -> &'static str {
    match core {
        GemmCore::TensorCore => "mma.sync tensor-core pipeline (gemm_tc.cuh)",
        GemmCore::Wgmma | GemmCore::Hopper => {
            "wgmma warpgroup pipeline (gemm_wgmma.cuh; the dense GEMMs' default on 9.0)"
        }
        GemmCore::WgmmaInFlight => {
            "wgmma, one k-tile in flight (gemm_wgmma.cuh, SECTUNE_GEMM_CORE=wgmma-inflight)"
        }
        GemmCore::WgmmaTma => {
            "wgmma, TMA loads, warp-specialized, 128×256 tiles (gemm_tma.cuh, SECTUNE_GEMM_CORE=wgmma-tma)"
        }
        GemmCore::Fma => "gemm_core.cuh (sm < 80)",
    }
}

fn table(dev: &CudaDevice, core: GemmCore, reps: u32, peak_flops: Option<f64>) -> Result<()> {
    println!(
        "\nLoRA linear, bf16, r = {RANK}, W frozen (target: LoRA ≤ 1.10× cuBLAS GEMM). core: {}",
        core_name(core)
    );
    println!(
        "{:>6} {:>6} {:>6} | {:>9} {:>9} {:>9} {:>6} {:>6} {:>7} | {:>9} {:>9} {:>9} {:>6} {:>6} | {:>8}",
        "M", "N", "K", "cuBLAS", "GEMM", "LoRA", "G/cb", "L/cb", "L %pk", "cuBLAS dX", "dX", "LoRA bwd", "G/cb", "L/cb", "max rel"
    );
    for &(m, n, k) in &SHAPES {
        let row = shape(dev, core, reps, m, n, k)?;
        let flops = 2.0 * (m * n * k) as f64;
        println!(
            "{m:>6} {n:>6} {k:>6} | {:>9.3} {:>9.3} {:>9.3} {:>6.2} {:>6.2} {:>7} | {:>9.3} {:>9.3} {:>9.3} {:>6.2} {:>6.2} | {:>8.1e}",
            row.cublas_fwd,
            row.gemm_fwd,
            row.lora_fwd,
            row.gemm_fwd / row.cublas_fwd,
            row.lora_fwd / row.cublas_fwd,
            pct(flops / (row.lora_fwd * 1e-3), peak_flops),
            row.cublas_dx,
            row.gemm_dx,
            row.lora_bwd,
            row.gemm_dx / row.cublas_dx,
            row.lora_bwd / row.cublas_dx,
            row.worst_rel,
        );
    }
    println!("(ms per call; 'max rel' = max |ours − cuBLAS| / max |cuBLAS| over y and dX of the plain GEMMs)");
    Ok(())
}

/// `core`'s tensor-core entries at shapes with partial tiles and unaligned rows (the element-wise
/// load path): plain GEMMs against cuBLAS, LoRA (with dropout in dX) against the gemm_core.cuh
/// entries of the same name. Fails the bench when any differs by more than 2e-2 of max |ref|
/// (two bf16 roundings of the output are ~8e-3).
fn odd_shapes(dev: &CudaDevice, tc: GemmCore) -> Result<()> {
    let s = dev.stream();
    let blas = CudaBlas::new(s.clone())?;
    let mut worst = 0f64;
    for &(m, n, k, r) in &[
        (1, 8, 8, 1),
        (130, 97, 75, 5),
        (257, 136, 72, 16),
        (64, 1000, 4096, 40),
        (300, 4096, 11008, 8),
    ] {
        let rmax = if r <= 16 { 16 } else { 64 };
        let x = upload_bf16(s, &hashed(m * k, 11, 1.0))?;
        let w = upload_bf16(s, &hashed(n * k, 12, 0.1))?;
        let dy = upload_bf16(s, &hashed(m * n, 13, 1.0))?;
        let a = s.clone_htod(&hashed(r * k, 14, 0.2))?;
        let b = s.clone_htod(&hashed(n * r, 15, 0.2))?;
        let xa = s.clone_htod(&hashed(m * r, 16, 1.0))?;
        let dyb = s.clone_htod(&hashed(m * r, 17, 1.0))?;
        let (mut y_ref, y) = (s.alloc_zeros::<bf16>(m * n)?, s.alloc_zeros::<bf16>(m * n)?);
        let (mut dx_ref, dx) = (s.alloc_zeros::<bf16>(m * k)?, s.alloc_zeros::<bf16>(m * k)?);
        // SAFETY: buffer sizes match the configs' dimensions (see `shape`).
        unsafe {
            blas.gemm(blas_fwd(m, n, k), &w, &x, &mut y_ref)?;
            blas.gemm(blas_dx(m, n, k), &w, &dy, &mut dx_ref)?;
        }
        let (mi, ni, ki, ri) = (m as i32, n as i32, k as i32, r as i32);
        // The operands as each core takes them (the TMA core's tensor maps, or pointers when
        // these rows do not suit TMA and its wg_ fallback runs), and that core's entry prefix.
        let fwd_shape = GemmShape::fwd(m, n, k);
        let dx_shape = GemmShape::dx(m, n, k);
        let (xp, wp, dyp) = (x.device_ptr(s).0, w.device_ptr(s).0, dy.device_ptr(s).0);
        let (fwd_core, fwd_ops) = gemm_operands(tc, Elem16::Bf16, fwd_shape, xp, wp)?;
        let (dx_core, dx_ops) = gemm_operands(tc, Elem16::Bf16, dx_shape, dyp, wp)?;
        let plain_ops = |lead: u64| [KArg::U64(lead), KArg::U64(wp)];
        let run = |core: GemmCore,
                   entry: &str,
                   rank: usize,
                   rows: usize,
                   cols: usize,
                   operands: &[KArg; 2],
                   rest: &[KArg]|
         -> Result<()> {
            let prefix = core.prefix();
            let args: Vec<KArg> = operands.iter().chain(rest).cloned().collect();
            let c = gemm16_core_launch(core, rows, cols, rank);
            let f = dev.function_for_launch(
                core.module(),
                &format!("{prefix}{entry}"),
                c.shared_mem_bytes,
            )?;
            go(s, &f, c, &args)
        };
        run(
            fwd_core,
            "linear_fwd_bf16",
            0,
            m,
            n,
            &fwd_ops,
            &[KArg::U64(0), ptr(s, &y), mi.into(), ni.into(), ki.into()],
        )?;
        let e_fwd = rel_diff(s, &y, &y_ref)?;
        run(
            dx_core,
            "linear_bwd_dx_bf16",
            0,
            m,
            k,
            &dx_ops,
            &[ptr(s, &dx), mi.into(), ni.into(), ki.into()],
        )?;
        let e_dx = rel_diff(s, &dx, &dx_ref)?;
        let fwd_name = format!("lora_linear_fwd_r{rmax}_bf16");
        let plain_x = plain_ops(xp);
        for (core, ops, out) in [(GemmCore::Fma, &plain_x, &y_ref), (fwd_core, &fwd_ops, &y)] {
            run(
                core,
                &fwd_name,
                rmax,
                m,
                n,
                ops,
                &[
                    KArg::U64(0),
                    ptr(s, &xa),
                    ptr(s, &b),
                    0.5f32.into(),
                    ptr(s, out),
                    mi.into(),
                    ni.into(),
                    ki.into(),
                    ri.into(),
                ],
            )?;
        }
        let e_lora = rel_diff(s, &y, &y_ref)?;
        let dx_name = format!("lora_linear_bwd_dx_r{rmax}_bf16");
        let plain_dy = plain_ops(dyp);
        for (core, ops, out) in [(GemmCore::Fma, &plain_dy, &dx_ref), (dx_core, &dx_ops, &dx)] {
            run(
                core,
                &dx_name,
                rmax,
                m,
                k,
                ops,
                &[
                    ptr(s, &dyb),
                    ptr(s, &a),
                    0.5f32.into(),
                    0.1f32.into(),
                    KArg::U64(7),
                    ptr(s, out),
                    mi.into(),
                    ni.into(),
                    ki.into(),
                    ri.into(),
                ],
            )?;
        }
        let e_lora_dx = rel_diff(s, &dx, &dx_ref)?;
        println!("odd shape M {m} N {n} K {k} r {r}: max rel vs reference  y {e_fwd:.1e}  dX {e_dx:.1e}  LoRA y {e_lora:.1e}  LoRA dX (p 0.1) {e_lora_dx:.1e}");
        worst = worst.max(e_fwd).max(e_dx).max(e_lora).max(e_lora_dx);
    }
    if !worst.is_finite() || worst > 2e-2 {
        bail!(
            "a {} GEMM entry differs from its reference by {worst:.2e} of max |ref|",
            core_name(tc)
        );
    }
    Ok(())
}

/// cuBLAS (column-major) for y [m,n] = x [m,k]·Wᵀ (W [n,k]): yᵀ = op(W)·xᵀ with op = transpose.
pub(super) fn blas_fwd(m: usize, n: usize, k: usize) -> GemmConfig<bf16> {
    blas_cfg(cublasOperation_t::CUBLAS_OP_T, (n, m, k), (k, k, n))
}

/// cuBLAS for dX [m,k] = dY [m,n]·W [n,k]: dXᵀ = Wᵀ·dYᵀ, no transposes in column-major terms.
pub(super) fn blas_dx(m: usize, n: usize, k: usize) -> GemmConfig<bf16> {
    blas_cfg(cublasOperation_t::CUBLAS_OP_N, (k, m, n), (k, n, k))
}

fn blas_cfg(
    transa: cublasOperation_t,
    (m, n, k): (usize, usize, usize),
    (lda, ldb, ldc): (usize, usize, usize),
) -> GemmConfig<bf16> {
    GemmConfig {
        transa,
        transb: cublasOperation_t::CUBLAS_OP_N,
        m: m as i32,
        n: n as i32,
        k: k as i32,
        alpha: bf16::ONE,
        lda: lda as i32,
        ldb: ldb as i32,
        beta: bf16::ZERO,
        ldc: ldc as i32,
    }
}

struct Row {
    cublas_fwd: f64,
    gemm_fwd: f64,
    lora_fwd: f64,
    cublas_dx: f64,
    gemm_dx: f64,
    lora_bwd: f64,
    worst_rel: f64,
}

fn shape(dev: &CudaDevice, core: GemmCore, reps: u32, m: usize, n: usize, k: usize) -> Result<Row> {
    let s = dev.stream();
    let blas = CudaBlas::new(s.clone())?;
    let x = upload_bf16(s, &hashed(m * k, 1, 1.0))?;
    let w = upload_bf16(s, &hashed(n * k, 2, 1.0 / 64.0))?;
    let dy = upload_bf16(s, &hashed(m * n, 3, 1.0))?;
    let a = s.clone_htod(&hashed(RANK * k, 4, 1e-2))?;
    let b = s.clone_htod(&hashed(n * RANK, 5, 1e-2))?;
    let (mut y_ref, y) = (s.alloc_zeros::<bf16>(m * n)?, s.alloc_zeros::<bf16>(m * n)?);
    let (mut dx_ref, dx) = (s.alloc_zeros::<bf16>(m * k)?, s.alloc_zeros::<bf16>(m * k)?);
    let (xa, dyb) = (
        s.alloc_zeros::<f32>(m * RANK)?,
        s.alloc_zeros::<f32>(m * RANK)?,
    );
    let (da, db) = (
        s.alloc_zeros::<f32>(RANK * k)?,
        s.alloc_zeros::<f32>(n * RANK)?,
    );

    let (fwd_cfg, dx_cfg) = (blas_fwd(m, n, k), blas_dx(m, n, k));
    // SAFETY: w [n,k], x [m,k], y [m,n], dy [m,n], dx [m,k] match the dimensions in the configs.
    let cublas_fwd = time_ms(s, reps, || {
        Ok(unsafe { blas.gemm(fwd_cfg, &w, &x, &mut y_ref) }?)
    })?;
    let cublas_dx = time_ms(s, reps, || {
        Ok(unsafe { blas.gemm(dx_cfg, &w, &dy, &mut dx_ref) }?)
    })?;

    let f = |name: String| dev.function(KernelModule::LoraMatmul, &name);
    // The GEMMs' operands as `core` takes them (tensor maps for the TMA core) and the core each
    // direction runs on (the same here: the 7B shapes suit TMA).
    let wp = w.device_ptr(s).0;
    let fwd_shape = GemmShape::fwd(m, n, k);
    let dx_shape = GemmShape::dx(m, n, k);
    let (fwd_core, fwd_ops) = gemm_operands(core, Elem16::Bf16, fwd_shape, x.device_ptr(s).0, wp)?;
    let (dx_core, dx_ops) = gemm_operands(core, Elem16::Bf16, dx_shape, dy.device_ptr(s).0, wp)?;
    let fwd_launch = gemm16_core_launch(fwd_core, m, n, 0);
    let dx_launch = gemm16_core_launch(dx_core, m, k, 0);
    let lora_fwd_launch = gemm16_core_launch(fwd_core, m, n, 16);
    let lora_dx_launch = gemm16_core_launch(dx_core, m, k, 16);
    let entry = |core: GemmCore, name: &str, launch: LaunchConfig| {
        dev.function_for_launch(
            core.module(),
            &format!("{}{name}", core.prefix()),
            launch.shared_mem_bytes,
        )
    };
    let fwd_fn = entry(fwd_core, "linear_fwd_bf16", fwd_launch)?;
    let dx_fn = entry(dx_core, "linear_bwd_dx_bf16", dx_launch)?;
    let lora_fn = entry(fwd_core, "lora_linear_fwd_r16_bf16", lora_fwd_launch)?;
    let lora_dx_fn = entry(dx_core, "lora_linear_bwd_dx_r16_bf16", lora_dx_launch)?;
    // The rank projections the backends launch (plan::rank_project_tiled picks each form).
    let xa_tiled = rank_project_tiled(Projection::Xa, m, RANK);
    let (xa_infix, xa_launch) = rank_project_launch(m, RANK, (k, x.device_ptr(s).0), xa_tiled);
    let dyb_tiled = rank_project_tiled(Projection::Dyb, m, RANK);
    let (dyb_infix, dyb_launch) = rank_project_launch(m, RANK, (n, dy.device_ptr(s).0), dyb_tiled);
    let (xa_fn, dyb_fn) = (
        f(format!("lora_linear_xa{xa_infix}_bf16"))?,
        f(format!("lora_linear_bwd_dyb{dyb_infix}_bf16"))?,
    );
    // dA / dB: row splits into partial sums, added in split order by lora_rank_reduce, in the form
    // the backend picks (rank_sum_launch: split, or vec under SECTUNE_RANK_PROJECT=vec).
    let (splits, rows) = rank_splits(m, k.max(n), RANK);
    let (da_infix, da_launch) = rank_sum_launch((k, x.device_ptr(s).0), RANK, splits);
    let (db_infix, db_launch) = rank_sum_launch((n, dy.device_ptr(s).0), RANK, splits);
    let (da_fn, db_fn) = (
        f(format!("lora_linear_bwd_dA_split{da_infix}_bf16"))?,
        f(format!("lora_linear_bwd_dB_split{db_infix}_bf16"))?,
    );
    let reduce_fn = f("lora_rank_reduce".into())?;

    let (mi, ni, ki, ri) = (m as i32, n as i32, k as i32, RANK as i32);
    let (scale, p, seed, null) = (2.0f32, 0.0f32, 0u64, 0u64);
    let partial = s.alloc_zeros::<f32>(splits * k.max(n) * RANK)?;
    let reduce_cfg = |p: usize| cfg(((p * RANK).div_ceil(256) as u32, 1, 1), (256, 1, 1));
    let (zi, rows_i) = (splits as i32, rows as i32);
    let plain_fwd = || {
        go(
            s,
            &fwd_fn,
            fwd_launch,
            &[
                fwd_ops[0].clone(),
                fwd_ops[1].clone(),
                KArg::U64(null),
                ptr(s, &y),
                mi.into(),
                ni.into(),
                ki.into(),
            ],
        )
    };
    let gemm_fwd = time_ms(s, reps, plain_fwd)?;
    let mut worst_rel = rel_diff(s, &y, &y_ref)?;
    let lora_fwd = time_ms(s, reps, || {
        go(
            s,
            &xa_fn,
            xa_launch,
            &[
                ptr(s, &x),
                ptr(s, &a),
                ptr(s, &xa),
                p.into(),
                KArg::U64(seed),
                mi.into(),
                ki.into(),
                ri.into(),
            ],
        )?;
        go(
            s,
            &lora_fn,
            lora_fwd_launch,
            &[
                fwd_ops[0].clone(),
                fwd_ops[1].clone(),
                KArg::U64(null),
                ptr(s, &xa),
                ptr(s, &b),
                scale.into(),
                ptr(s, &y),
                mi.into(),
                ni.into(),
                ki.into(),
                ri.into(),
            ],
        )
    })?;
    let plain_dx = || {
        go(
            s,
            &dx_fn,
            dx_launch,
            &[
                dx_ops[0].clone(),
                dx_ops[1].clone(),
                ptr(s, &dx),
                mi.into(),
                ni.into(),
                ki.into(),
            ],
        )
    };
    let gemm_dx = time_ms(s, reps, plain_dx)?;
    worst_rel = worst_rel.max(rel_diff(s, &dx, &dx_ref)?);
    let lora_bwd = time_ms(s, reps, || {
        go(
            s,
            &dyb_fn,
            dyb_launch,
            &[
                ptr(s, &dy),
                ptr(s, &b),
                ptr(s, &dyb),
                mi.into(),
                ni.into(),
                ri.into(),
            ],
        )?;
        go(
            s,
            &lora_dx_fn,
            lora_dx_launch,
            &[
                dx_ops[0].clone(),
                dx_ops[1].clone(),
                ptr(s, &dyb),
                ptr(s, &a),
                scale.into(),
                p.into(),
                KArg::U64(seed),
                ptr(s, &dx),
                mi.into(),
                ni.into(),
                ki.into(),
                ri.into(),
            ],
        )?;
        let z = Splits {
            m: mi,
            splits: zi,
            rows: rows_i,
            r: ri,
        };
        let da_args = da_split_args(ptr(s, &x), ptr(s, &dyb), ptr(s, &partial), (p, seed), ki, z);
        go(s, &da_fn, da_launch, &da_args)?;
        let to_da = reduce_args(ptr(s, &partial), ptr(s, &da), scale, ki, (1, ki), z);
        go(s, &reduce_fn, reduce_cfg(k), &to_da)?;
        go(
            s,
            &db_fn,
            db_launch,
            &db_split_args(ptr(s, &dy), ptr(s, &xa), ptr(s, &partial), ni, z),
        )?;
        let to_db = reduce_args(ptr(s, &partial), ptr(s, &db), scale, ni, (ri, 1), z);
        go(s, &reduce_fn, reduce_cfg(n), &to_db)
    })?;
    if !worst_rel.is_finite() || worst_rel > 2e-2 {
        bail!("our {m}×{n}×{k} GEMM differs from cuBLAS by {worst_rel:.2e} of max |y|: the kernel is wrong");
    }
    Ok(Row {
        cublas_fwd,
        gemm_fwd,
        lora_fwd,
        cublas_dx,
        gemm_dx,
        lora_bwd,
        worst_rel,
    })
}
