//! `sectune bench`, IA3 part: the bf16 IA3 linears of kernels/ia3.cu (scaling on the input or
//! on the output, fused into the GEMM) against cuBLAS's plain GEMM at CodeLlama-7B shapes, forward
//! and backward (dX plus the vector's gradient), each output checked against cuBLAS on inputs
//! the host scaled the way the kernel does, so a fast wrong kernel cannot pass unnoticed.

use anyhow::{bail, Result};
use cudarc::cublas::{CudaBlas, Gemm};
use half::bf16;

use super::bench_lora::{blas_dx, blas_fwd, go, hashed, max_rel, ptr, upload_bf16, SHAPES};
use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::{cfg, KArg};
use super::plan::{gemm_grid, GEMM_THREADS};

/// `max_rel` of a bf16 output against a reference already on the host.
fn rel_to(ours: &[bf16], reference: &[f32]) -> f64 {
    max_rel(
        ours.iter()
            .zip(reference)
            .map(|(x, y)| (x.to_f64(), *y as f64)),
    )
}

/// `v` with row-major columns (`cols` wide) times `l[col]`, rounded to bf16 as the kernel does
/// when it stages scaled tiles.
fn scale_cols(v: &[f32], l: &[f32]) -> Vec<f32> {
    v.iter()
        .enumerate()
        .map(|(i, &x)| bf16::from_f32(x * l[i % l.len()]).to_f32())
        .collect()
}

fn host(v: &[bf16]) -> Vec<f32> {
    v.iter().map(|x| x.to_f32()).collect()
}

struct Row {
    cublas_fwd: f64,
    in_fwd: f64,
    out_fwd: f64,
    cublas_dx: f64,
    in_bwd: f64,
    out_bwd: f64,
    worst_rel: f64,
}

pub fn run(dev: &CudaDevice, reps: u32) -> Result<()> {
    println!(
        "\nIA3 linear, bf16, scaling fused into gemm_core.cuh (target: ≤ 1.10× cuBLAS GEMM; \
         no tensor-core IA3 entries yet)"
    );
    println!(
        "{:>6} {:>6} {:>6} | {:>9} {:>9} {:>9} {:>6} {:>6} | {:>9} {:>9} {:>9} {:>6} {:>6} | {:>8}",
        "M",
        "N",
        "K",
        "cuBLAS",
        "in fwd",
        "out fwd",
        "in/cb",
        "out/cb",
        "cuBLAS dX",
        "in bwd",
        "out bwd",
        "in/cb",
        "out/cb",
        "max rel"
    );
    let mut worst = 0f64;
    for &(m, n, k) in &SHAPES {
        let r = shape(dev, reps, m, n, k)?;
        println!(
            "{m:>6} {n:>6} {k:>6} | {:>9.3} {:>9.3} {:>9.3} {:>6.2} {:>6.2} | {:>9.3} {:>9.3} {:>9.3} {:>6.2} {:>6.2} | {:>8.1e}",
            r.cublas_fwd,
            r.in_fwd,
            r.out_fwd,
            r.in_fwd / r.cublas_fwd,
            r.out_fwd / r.cublas_fwd,
            r.cublas_dx,
            r.in_bwd,
            r.out_bwd,
            r.in_bwd / r.cublas_dx,
            r.out_bwd / r.cublas_dx,
            r.worst_rel
        );
        worst = worst.max(r.worst_rel);
    }
    println!(
        "(ms per call; bwd = dX and dl: one fused kernel on the input side, dX + column sums on \
         the output side; 'max rel' = max |ours − cuBLAS on host-scaled inputs| / max |ref| over \
         y and dX)"
    );
    if !worst.is_finite() || worst > 2e-2 {
        bail!("an IA3 kernel differs from cuBLAS by {worst:.2e} of max |ref|");
    }
    Ok(())
}

fn shape(dev: &CudaDevice, reps: u32, m: usize, n: usize, k: usize) -> Result<Row> {
    use super::bench::gpu::time_ms;
    let s = dev.stream();
    let blas = CudaBlas::new(s.clone())?;
    let round = |v: Vec<f32>| host(&v.iter().map(|&x| bf16::from_f32(x)).collect::<Vec<_>>());
    let (xh, wh, dyh) = (
        round(hashed(m * k, 21, 1.0)),
        round(hashed(n * k, 22, 1.0 / 64.0)),
        round(hashed(m * n, 23, 1.0)),
    );
    // Vectors near 1, as trained IA3 vectors are (PEFT initializes them to 1).
    let near_one =
        |len, seed| -> Vec<f32> { hashed(len, seed, 0.5).iter().map(|v| 1.0 + v).collect() };
    let (l_in, l_out) = (near_one(k, 24), near_one(n, 25));
    let (x, w, dy) = (
        upload_bf16(s, &xh)?,
        upload_bf16(s, &wh)?,
        upload_bf16(s, &dyh)?,
    );
    let (li, lo) = (s.clone_htod(&l_in)?, s.clone_htod(&l_out)?);
    // The references: cuBLAS on the inputs scaled on the host as the kernels scale them.
    let (x_scaled, dy_scaled) = (
        upload_bf16(s, &scale_cols(&xh, &l_in))?,
        upload_bf16(s, &scale_cols(&dyh, &l_out))?,
    );
    let (mut y_ref, mut y_in_ref, mut dx_ref, mut dx_out_ref) = (
        s.alloc_zeros::<bf16>(m * n)?,
        s.alloc_zeros::<bf16>(m * n)?,
        s.alloc_zeros::<bf16>(m * k)?,
        s.alloc_zeros::<bf16>(m * k)?,
    );
    let (fwd_cfg, dx_cfg) = (blas_fwd(m, n, k), blas_dx(m, n, k));
    // SAFETY: w [n,k], x [m,k], y [m,n], dy [m,n], dx [m,k] match the dimensions in the configs.
    unsafe {
        blas.gemm(fwd_cfg, &w, &x_scaled, &mut y_in_ref)?;
        blas.gemm(dx_cfg, &w, &dy_scaled, &mut dx_out_ref)?;
    }
    let cublas_fwd = time_ms(s, reps, || {
        Ok(unsafe { blas.gemm(fwd_cfg, &w, &x, &mut y_ref) }?)
    })?;
    let cublas_dx = time_ms(s, reps, || {
        Ok(unsafe { blas.gemm(dx_cfg, &w, &dy, &mut dx_ref) }?)
    })?;

    let f = |name: &str| dev.function(KernelModule::Ia3, name);
    let (in_fwd_fn, out_fwd_fn) = (f("ia3_in_fwd_bf16")?, f("ia3_out_fwd_bf16")?);
    let (in_bwd_fn, out_dx_fn, out_dl_fn) = (
        f("ia3_in_bwd_bf16")?,
        f("ia3_out_bwd_dx_bf16")?,
        f("ia3_out_bwd_dl_bf16")?,
    );
    let (y, z) = (s.alloc_zeros::<bf16>(m * n)?, s.alloc_zeros::<bf16>(m * n)?);
    let dx = s.alloc_zeros::<bf16>(m * k)?;
    let (dl_in, dl_out) = (s.alloc_zeros::<f32>(k)?, s.alloc_zeros::<f32>(n)?);
    let (mi, ni, ki) = (m as i32, n as i32, k as i32);
    let null = || KArg::U64(0);
    let fwd_launch = cfg(gemm_grid(m, n), (GEMM_THREADS, 1, 1));
    let dx_launch = cfg(gemm_grid(m, k), (GEMM_THREADS, 1, 1));
    // One row block, as the backend launches it (one add per column: deterministic).
    let dl_launch = cfg((n.div_ceil(32) as u32, 1, 1), (32, 8, 1));

    let in_fwd = time_ms(s, reps, || {
        let args = [
            ptr(s, &x),
            ptr(s, &w),
            null(),
            ptr(s, &li),
            ptr(s, &y),
            mi.into(),
            ni.into(),
            ki.into(),
        ];
        go(s, &in_fwd_fn, fwd_launch, &args)
    })?;
    let mut worst_rel = rel_to(&s.clone_dtoh(&y)?, &host(&s.clone_dtoh(&y_in_ref)?));
    let out_fwd = time_ms(s, reps, || {
        let args = [
            ptr(s, &x),
            ptr(s, &w),
            null(),
            ptr(s, &lo),
            ptr(s, &y),
            ptr(s, &z),
            mi.into(),
            ni.into(),
            ki.into(),
        ];
        go(s, &out_fwd_fn, fwd_launch, &args)
    })?;
    // z is the plain GEMM; y = z·l rounded once from fp32 (within an ulp of z rounded, then ·l).
    let y_plain = host(&s.clone_dtoh(&y_ref)?);
    let y_scaled: Vec<f32> = y_plain
        .iter()
        .enumerate()
        .map(|(i, v)| v * l_out[i % n])
        .collect();
    worst_rel = worst_rel
        .max(rel_to(&s.clone_dtoh(&z)?, &y_plain))
        .max(rel_to(&s.clone_dtoh(&y)?, &y_scaled));

    let in_bwd = time_ms(s, reps, || {
        let args = [
            ptr(s, &dy),
            ptr(s, &x),
            ptr(s, &w),
            ptr(s, &li),
            ptr(s, &dx),
            ptr(s, &dl_in),
            mi.into(),
            ni.into(),
            ki.into(),
        ];
        go(s, &in_bwd_fn, dx_launch, &args)
    })?;
    // dx = (dY·W)⊙l: the fp32 accumulator scaled, then rounded once.
    let g = host(&s.clone_dtoh(&dx_ref)?);
    let dx_in_ref: Vec<f32> = g.iter().enumerate().map(|(i, v)| v * l_in[i % k]).collect();
    worst_rel = worst_rel.max(rel_to(&s.clone_dtoh(&dx)?, &dx_in_ref));

    let out_bwd = time_ms(s, reps, || {
        let args = [
            ptr(s, &dy),
            ptr(s, &w),
            ptr(s, &lo),
            ptr(s, &dx),
            mi.into(),
            ni.into(),
            ki.into(),
        ];
        go(s, &out_dx_fn, dx_launch, &args)?;
        go(
            s,
            &out_dl_fn,
            dl_launch,
            &[
                ptr(s, &dy),
                ptr(s, &z),
                ptr(s, &dl_out),
                mi.into(),
                ni.into(),
            ],
        )
    })?;
    worst_rel = worst_rel.max(rel_to(
        &s.clone_dtoh(&dx)?,
        &host(&s.clone_dtoh(&dx_out_ref)?),
    ));
    Ok(Row {
        cublas_fwd,
        in_fwd,
        out_fwd,
        cublas_dx,
        in_bwd,
        out_bwd,
        worst_rel,
    })
}
