//! `sectune bench`, LoRA rank projections: the row-per-block kernels (xa = drop(x)·Aᵀ,
//! dyb = dY·B) beside their tiled and vec forms at the 7B shapes, bf16, r 8 and 16, with the largest
//! difference from the rows; plan::rank_project_tiled picks the form per call from these figures.
//! Then the rank sums dA = dybᵀ·drop(x) and dB = dYᵀ·xa as the backend runs them (f32 U, row
//! splits into partial sums, lora_rank_reduce): the split kernels beside their vec forms.

use anyhow::{bail, Result};

use super::bench::gpu::time_ms;
use super::bench_lora::{
    da_split_args, db_split_args, go, hashed, max_rel, ptr, reduce_args, upload_bf16, Splits,
    SHAPES,
};
use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::{cfg, KArg};
use super::plan::{
    rank_project_launch, rank_project_tiled, rank_splits, rank_sum_form, Projection,
};

pub fn run(dev: &CudaDevice, reps: u32) -> Result<()> {
    let s = dev.stream();
    println!(
        "\nLoRA rank projections, bf16: one row per block vs tiled (16 rows, V in shared memory) vs vec \
         (the tiled block with 16-byte loads, V in registers; SECTUNE_RANK_PROJECT=vec); \
         'uses': the forms plan::rank_project_tiled picks for xa / dyb"
    );
    println!(
        "{:>6} {:>6} {:>3} | {:>9} {:>9} {:>9} {:>6} | {:>9} {:>9} {:>9} {:>6} | {:>9} | uses",
        "M",
        "P",
        "r",
        "xa rows",
        "xa tiled",
        "xa vec",
        "t/vec",
        "dyb rows",
        "dyb tiled",
        "dyb vec",
        "t/vec",
        "max diff"
    );
    let mut worst_rel = 0f64;
    for &(m, n, k) in &SHAPES {
        for r in [8usize, 16] {
            // xa reduces over K (x [m,k], A [r,k]); dyb over N (dY [m,n], B [n,r]).
            let x = upload_bf16(s, &hashed(m * k, 41, 1.0))?;
            let dy = upload_bf16(s, &hashed(m * n, 42, 1.0))?;
            let a = s.clone_htod(&hashed(r * k, 43, 1e-2))?;
            let b = s.clone_htod(&hashed(n * r, 44, 1e-2))?;
            let outs = [
                s.alloc_zeros::<f32>(m * r)?,
                s.alloc_zeros::<f32>(m * r)?,
                s.alloc_zeros::<f32>(m * r)?,
            ];
            let (mi, ni, ki, ri) = (m as i32, n as i32, k as i32, r as i32);
            let mut ms = [[f64::NAN; 3]; 2];
            let mut results = Vec::new();
            // (entry infix, tiled launch); the vec form needs K and N multiples of 8.
            let vec_ok = k.is_multiple_of(8) && n.is_multiple_of(8);
            let forms = [("", false), ("_tiled", true), ("_vec", true)];
            for (form, &(infix, tiled)) in forms.iter().enumerate() {
                if infix == "_vec" && !vec_ok {
                    continue;
                }
                let (_, launch) = rank_project_launch(m, r, (0, 1), tiled);
                let f = |name: &str| {
                    dev.function(KernelModule::LoraMatmul, &format!("{name}{infix}_bf16"))
                };
                let (xa_fn, dyb_fn) = (f("lora_linear_xa")?, f("lora_linear_bwd_dyb")?);
                let out = &outs[form];
                ms[0][form] = time_ms(s, reps, || {
                    let args = [
                        ptr(s, &x),
                        ptr(s, &a),
                        ptr(s, out),
                        0.05f32.into(),
                        KArg::U64(7),
                        mi.into(),
                        ki.into(),
                        ri.into(),
                    ];
                    go(s, &xa_fn, launch, &args)
                })?;
                let xa = s.clone_dtoh(out)?;
                ms[1][form] = time_ms(s, reps, || {
                    let args = [
                        ptr(s, &dy),
                        ptr(s, &b),
                        ptr(s, out),
                        mi.into(),
                        ni.into(),
                        ri.into(),
                    ];
                    go(s, &dyb_fn, launch, &args)
                })?;
                results.push((xa, s.clone_dtoh(out)?));
            }
            let rel = |want: &[f32], got: &[f32]| {
                max_rel(got.iter().zip(want).map(|(g, w)| (*g as f64, *w as f64)))
            };
            let diff = results[1..].iter().fold(0f64, |d, (xa, dyb)| {
                d.max(rel(&results[0].0, xa)).max(rel(&results[0].1, dyb))
            });
            worst_rel = worst_rel.max(diff);
            println!(
                "{m:>6} {:>6} {r:>3} | {:>9.4} {:>9.4} {:>9.4} {:>6.2} | {:>9.4} {:>9.4} {:>9.4} {:>6.2} | {diff:>9.1e} | {}/{}",
                format!("{k}/{n}"),
                ms[0][0],
                ms[0][1],
                ms[0][2],
                ms[0][1] / ms[0][2],
                ms[1][0],
                ms[1][1],
                ms[1][2],
                ms[1][1] / ms[1][2],
                form_name(Projection::Xa, m, r),
                form_name(Projection::Dyb, m, r),
            );
        }
    }
    println!(
        "(ms per call; P = K for xa / N for dyb; t/vec = tiled / vec, above 1: vec is faster; \
         max diff of the tiled and vec forms relative to max |rows|)"
    );
    if !worst_rel.is_finite() || worst_rel > 1e-4 {
        bail!("the tiled or vec rank projections differ from the row kernels by {worst_rel:.2e}");
    }
    sums(dev, reps)
}

/// dA / dB partial sums, split (a thread a position) against split_vec (8 positions a lane), each
/// followed by the same lora_rank_reduce, over f32 x and dY (the activations of both precisions).
fn sums(dev: &CudaDevice, reps: u32) -> Result<()> {
    let s = dev.stream();
    println!(
        "\nLoRA rank sums, f32 U (dA over x with dropout 0.05, dB over dY; row splits + lora_rank_reduce): \
         split vs vec (SECTUNE_RANK_PROJECT=vec), ms per partial-sum kernel"
    );
    println!(
        "{:>6} {:>6} {:>6} {:>3} | {:>9} {:>9} {:>6} | {:>9} {:>9} {:>6} | {:>9}",
        "M",
        "N",
        "K",
        "r",
        "dA split",
        "dA vec",
        "s/vec",
        "dB split",
        "dB vec",
        "s/vec",
        "max diff"
    );
    let reduce = dev.function(KernelModule::LoraMatmul, "lora_rank_reduce")?;
    let mut worst_rel = 0f64;
    for &(m, n, k) in &SHAPES {
        for r in [8usize, 16] {
            let x = s.clone_htod(&hashed(m * k, 51, 1.0))?;
            let dy = s.clone_htod(&hashed(m * n, 52, 1.0))?;
            let dyb = s.clone_htod(&hashed(m * r, 53, 1.0))?;
            let xa = s.clone_htod(&hashed(m * r, 54, 1.0))?;
            let (splits, rows) = rank_splits(m, k.max(n), r);
            let partial = s.alloc_zeros::<f32>(splits * k.max(n) * r)?;
            let (mi, ni, ki, ri, zi, rows_i) = (
                m as i32,
                n as i32,
                k as i32,
                r as i32,
                splits as i32,
                rows as i32,
            );
            let mut ms = [[f64::NAN; 2]; 2];
            let mut results = Vec::new();
            for (form, vec) in [false, true].into_iter().enumerate() {
                let grid = |p: usize| rank_sum_form(p, r, splits, vec).1;
                let infix = rank_sum_form(k, r, splits, vec).0;
                let f = |name: &str| {
                    dev.function(KernelModule::LoraMatmul, &format!("{name}{infix}_f32"))
                };
                let (da_fn, db_fn) = (
                    f("lora_linear_bwd_dA_split")?,
                    f("lora_linear_bwd_dB_split")?,
                );
                let (da, db) = (s.alloc_zeros::<f32>(r * k)?, s.alloc_zeros::<f32>(n * r)?);
                let z = Splits {
                    m: mi,
                    splits: zi,
                    rows: rows_i,
                    r: ri,
                };
                let da_args =
                    da_split_args(ptr(s, &x), ptr(s, &dyb), ptr(s, &partial), (0.05, 7), ki, z);
                ms[0][form] = time_ms(s, reps, || go(s, &da_fn, grid(k), &da_args))?;
                let reduce_cfg = |p: usize| cfg(((p * r).div_ceil(256) as u32, 1, 1), (256, 1, 1));
                let to_da = reduce_args(ptr(s, &partial), ptr(s, &da), 1.0, ki, (1, ki), z);
                go(s, &reduce, reduce_cfg(k), &to_da)?;
                let db_args = db_split_args(ptr(s, &dy), ptr(s, &xa), ptr(s, &partial), ni, z);
                ms[1][form] = time_ms(s, reps, || go(s, &db_fn, grid(n), &db_args))?;
                let to_db = reduce_args(ptr(s, &partial), ptr(s, &db), 1.0, ni, (ri, 1), z);
                go(s, &reduce, reduce_cfg(n), &to_db)?;
                results.push((s.clone_dtoh(&da)?, s.clone_dtoh(&db)?));
            }
            let rel = |want: &[f32], got: &[f32]| {
                max_rel(got.iter().zip(want).map(|(g, w)| (*g as f64, *w as f64)))
            };
            let diff = rel(&results[0].0, &results[1].0).max(rel(&results[0].1, &results[1].1));
            worst_rel = worst_rel.max(diff);
            println!(
                "{m:>6} {n:>6} {k:>6} {r:>3} | {:>9.4} {:>9.4} {:>6.2} | {:>9.4} {:>9.4} {:>6.2} | {diff:>9.1e}",
                ms[0][0],
                ms[0][1],
                ms[0][0] / ms[0][1],
                ms[1][0],
                ms[1][1],
                ms[1][0] / ms[1][1],
            );
        }
    }
    println!("(s/vec = split / vec, above 1: vec is faster; max diff of dA and dB, vec against split, relative to max |split|)");
    if !worst_rel.is_finite() || worst_rel > 1e-4 {
        bail!("the vec rank sums differ from the split ones by {worst_rel:.2e}");
    }
    Ok(())
}

fn form_name(which: Projection, rows: usize, r: usize) -> &'static str {
    match rank_project_tiled(which, rows, r) {
        true => "tiled",
        false => "rows",
    }
}
