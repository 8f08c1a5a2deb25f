//! `sectune bench`, LoRA rank projections: the row-per-block kernels (xa = drop(x)·Aᵀ,
//! dyb = dY·B) beside their tiled and vec forms at the 7B shapes, bf16, r 8 and 16, with the largest
//! difference from the rows; plan::rank_project_tiled picks the form per call from these figures.

use anyhow::{bail, Result};

use super::bench::gpu::time_ms;
use super::bench_lora::{go, hashed, max_rel, ptr, upload_bf16, SHAPES};
use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::KArg;
use super::plan::{rank_project_launch, rank_project_tiled, Projection};

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
    Ok(())
}

fn form_name(which: Projection, rows: usize, r: usize) -> &'static str {
    match rank_project_tiled(which, rows, r) {
        true => "tiled",
        false => "rows",
    }
}
