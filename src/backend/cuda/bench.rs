//! `sectune bench`: times the hot kernels with CUDA events beside their outside baselines in the
//! same run (cuBLAS GEMM via cudarc; torch flash SDPA and fused AdamW via bench/torch_baselines.py)
//! and prints ratios and the fraction of the GPU's peak. Without a GPU it says so and exits 0.
//! FLOP/byte formulas: GEMM 2·M·N·K; causal attention fwd 2·B·H·T²·D (4·b·s²·h·d halved),
//! bwd 2.5× fwd; AdamW 28 bytes per element (g, p, m, v read; p, m, v written).

use anyhow::Result;

/// Arguments of `sectune bench`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    /// Without one: the CUDA kernels against cuBLAS and torch.
    #[command(subcommand)]
    pub what: Option<BenchWhat>,
    /// Timed repetitions per kernel (after 3 warm-up runs).
    #[arg(long, default_value_t = 20)]
    pub reps: u32,
    /// Python interpreter for bench/torch_baselines.py; "none" skips the torch baselines.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Only these kernel tables (comma-separated); all of them without it.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<BenchTable>,
}

/// The kernel tables of `sectune bench`, for `--only`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BenchTable {
    Lora,
    Ia3,
    Attention,
    Adamw,
    Quant,
    Ops,
}

impl BenchArgs {
    pub fn wants(&self, table: BenchTable) -> bool {
        self.only.is_empty() || self.only.contains(&table)
    }
}

#[derive(clap::Subcommand, Debug)]
pub enum BenchWhat {
    /// Training throughput (tokens/s) of decoder layers at 7B shapes on the CPU or the GPU,
    /// beside transformers + PEFT on the same shapes.
    Layer(crate::train::layer_bench::LayerBenchArgs),
}

pub fn run(args: BenchArgs) -> Result<()> {
    match args.what {
        Some(BenchWhat::Layer(layer)) => crate::train::layer_bench::run(layer),
        None => run_kernels(args),
    }
}

#[cfg(not(feature = "cuda"))]
fn run_kernels(_args: BenchArgs) -> Result<()> {
    println!(
        "sectune bench: skipped, this binary was built without the `cuda` feature; \
         rebuild with `cargo build --release --features cuda` on a machine with an NVIDIA GPU"
    );
    Ok(())
}

#[cfg(feature = "cuda")]
fn run_kernels(args: BenchArgs) -> Result<()> {
    use super::device::{CudaDevice, CudaError};
    match CudaDevice::new(0) {
        Ok(dev) => gpu::run_all(&dev, &args),
        Err(e @ (CudaError::NoDriver | CudaError::NoKernels)) => {
            println!("sectune bench: skipped, {e}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Peak dense bf16 tensor FLOP/s (fp32 accumulate) and memory bandwidth of known GPUs, from the
/// vendors' data sheets; None for a GPU not listed (the bench then prints no % of peak).
pub fn peaks(device_name: &str) -> Option<(f64, f64)> {
    const TABLE: &[(&str, f64, f64)] = &[
        ("H200", 989e12, 4.8e12),
        ("H100 PCIe", 756e12, 2.0e12),
        ("H100", 989e12, 3.35e12),
        ("A100", 312e12, 2.0e12),
        ("L40S", 362e12, 0.864e12),
        ("RTX 4090", 165e12, 1.008e12),
        ("RTX 3090", 71e12, 0.936e12),
    ];
    TABLE
        .iter()
        .find(|(name, _, _)| device_name.contains(name))
        .map(|&(_, f, b)| (f, b))
}

#[cfg(feature = "cuda")]
pub(crate) mod gpu {
    use std::process::Command;
    use std::sync::Arc;

    use anyhow::{Context, Result};
    use cudarc::driver::{sys::CUevent_flags, CudaSlice, CudaStream, LaunchConfig, PushKernelArg};
    use half::bf16;

    use super::super::bench_lora::{hashed, upload_bf16};
    use super::super::device::CudaDevice;
    use super::super::kernels::KernelModule;
    use super::{peaks, BenchArgs, BenchTable};

    /// Mean milliseconds of `f` over `reps` runs after 3 warm-ups, timed with CUDA events.
    pub(crate) fn time_ms(
        stream: &Arc<CudaStream>,
        reps: u32,
        mut f: impl FnMut() -> Result<()>,
    ) -> Result<f64> {
        for _ in 0..3 {
            f()?;
        }
        let start = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        for _ in 0..reps {
            f()?;
        }
        let end = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
        Ok(start.elapsed_ms(&end)? as f64 / reps.max(1) as f64)
    }

    fn filled_f32(stream: &Arc<CudaStream>, n: usize, scale: f32) -> Result<CudaSlice<f32>> {
        let host: Vec<f32> = (0..n).map(|i| ((i % 13) as f32 - 6.0) * scale).collect();
        Ok(stream.clone_htod(&host)?)
    }

    fn grid(n: usize, tile: usize) -> u32 {
        n.div_ceil(tile) as u32
    }

    pub(crate) fn pct(x: f64, peak: Option<f64>) -> String {
        peak.map(|p| format!("{:5.1}%", 100.0 * x / p))
            .unwrap_or_else(|| "  n/a".into())
    }

    pub fn run_all(dev: &CudaDevice, args: &BenchArgs) -> Result<()> {
        let name = dev.name();
        let peak = peaks(&name);
        println!(
            "device: {name}; {} reps after 3 warm-ups; CUDA events",
            args.reps
        );
        let torch = torch_baselines(&args.python);
        if args.wants(BenchTable::Lora) {
            super::super::bench_lora::run(dev, args.reps, peak.map(|p| p.0))?;
        }
        if args.wants(BenchTable::Ia3) {
            super::super::bench_ia3::run(dev, args.reps)?;
        }
        if args.wants(BenchTable::Attention) {
            bench_attention(dev, args.reps, peak.map(|p| p.0), torch.as_ref())?;
        }
        if args.wants(BenchTable::Adamw) {
            bench_adamw(dev, args.reps, peak.map(|p| p.1), torch.as_ref())?;
        }
        if args.wants(BenchTable::Quant) {
            super::super::bench_quant::run(dev, args.reps, torch.as_ref())?;
        }
        if args.wants(BenchTable::Ops) {
            super::super::bench_ops::run(dev, args.reps, torch.as_ref())?;
        }
        Ok(())
    }

    fn bench_attention(
        dev: &CudaDevice,
        reps: u32,
        peak_flops: Option<f64>,
        torch: Option<&serde_json::Value>,
    ) -> Result<()> {
        let stream = dev.stream();
        println!("\nCausal attention, bf16, B = 1 (target: ≥ 0.9× torch flash SDPA)");
        println!("CUDA-core kernels (attention.cu) beside the tensor-core ones (attention_tc.cu, \"tc\", sm_80+)");
        println!(
            "\"fused\": the tc backward with dQ summed by atomics in the dK/dV kernel \
             (the default on 9.0, else SECTUNE_ATTENTION_BWD=fused); \"dQ diff\": max |fused − split| / max |split| of dQ"
        );
        println!(
            "\"wg\" (9.0 only): the warpgroup forward and backward (attention_wg.cu, SECTUNE_ATTENTION_FWD=wgmma, \
             SECTUNE_ATTENTION_BWD=wgmma); \"out diff\" / \"wg dQ\": max |wg − tc| / max |tc| \
             of the forward's output and of dQ (split)"
        );
        println!(
            "{:>4} {:>3} {:>5} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8} {:>9} {:>8} {:>8} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8}",
            "D",
            "H",
            "T",
            "fwd ms",
            "bwd ms",
            "torch fwd",
            "torch bwd",
            "fwd %pk",
            "ratio",
            "tc fwd",
            "tc bwd",
            "tc %pk",
            "tc ratio",
            "fused bwd",
            "fused r",
            "dQ diff",
            "wg fwd",
            "wg %pk",
            "wg bwd",
            "wg r",
            "out diff",
            "wg dQ"
        );
        let tc_ok = super::super::ops::attention::tc_supported_on(dev)?;
        for &(d, h, t) in &[
            (128usize, 32usize, 1024usize),
            (128, 32, 4096),
            (256, 16, 1024),
            (256, 16, 4096),
        ] {
            let fwd = dev.function(KernelModule::Attention, &format!("attention_fwd_d{d}_bf16"))?;
            let dq = dev.function(
                KernelModule::Attention,
                &format!("attention_bwd_dq_d{d}_bf16"),
            )?;
            let dkv = dev.function(
                KernelModule::Attention,
                &format!("attention_bwd_dkv_d{d}_bf16"),
            )?;
            let delta_fn = dev.function(KernelModule::Attention, "attention_bwd_delta_bf16")?;
            let n = t * h * d;
            // Distinct pseudo-random tensors: with periodic or equal ones the fused and split
            // dQ came out bit-equal, which said nothing about the atomics' order.
            let random = |seed| upload_bf16(stream, &hashed(n, seed, 1.0));
            let (q, k, v, d_out) = (random(11)?, random(12)?, random(13)?, random(14)?);
            let mut out = stream.alloc_zeros::<bf16>(n)?;
            let (mut dqb, mut dkb, mut dvb) = (
                stream.alloc_zeros::<bf16>(n)?,
                stream.alloc_zeros::<bf16>(n)?,
                stream.alloc_zeros::<bf16>(n)?,
            );
            let mut lse = stream.alloc_zeros::<f32>(h * t)?;
            let mut delta = stream.alloc_zeros::<f32>(h * t)?;
            let (ti, hi, di, bi) = (t as i32, h as i32, d as i32, 1i32);
            let scale = 1.0 / (d as f32).sqrt();
            let tiles = super::super::plan::attention_tiles(2, d);
            let (bq_fwd, bq_dq, bk_dkv) = (tiles.fwd_q, tiles.dq_q, tiles.dkv_k);
            let cfg = |rows: usize| LaunchConfig {
                grid_dim: (grid(t, rows), h as u32, 1),
                block_dim: (128, 1, 1),
                shared_mem_bytes: 0,
            };
            let t_fwd = time_ms(stream, reps, || {
                // SAFETY: matches attention_fwd_d{D}_bf16(q, k, v, out, lse, T, S = T, H, Hkv, scale).
                unsafe {
                    stream
                        .launch_builder(&fwd)
                        .arg(&q)
                        .arg(&k)
                        .arg(&v)
                        .arg(&mut out)
                        .arg(&mut lse)
                        .arg(&ti)
                        .arg(&ti)
                        .arg(&hi)
                        .arg(&hi)
                        .arg(&scale)
                        .launch(cfg(bq_fwd))
                }?;
                Ok(())
            })?;
            let t_bwd = time_ms(stream, reps, || {
                let rows = LaunchConfig {
                    grid_dim: (grid(t * h, 4), 1, 1),
                    block_dim: (128, 1, 1),
                    shared_mem_bytes: 0,
                };
                // SAFETY: each argument list matches its kernel's signature in attention.cu.
                unsafe {
                    stream
                        .launch_builder(&delta_fn)
                        .arg(&out)
                        .arg(&d_out)
                        .arg(&mut delta)
                        .arg(&bi)
                        .arg(&ti)
                        .arg(&hi)
                        .arg(&di)
                        .launch(rows)?;
                    stream
                        .launch_builder(&dq)
                        .arg(&q)
                        .arg(&k)
                        .arg(&v)
                        .arg(&d_out)
                        .arg(&lse)
                        .arg(&delta)
                        .arg(&mut dqb)
                        .arg(&ti)
                        .arg(&ti)
                        .arg(&hi)
                        .arg(&hi)
                        .arg(&scale)
                        .launch(cfg(bq_dq))?;
                    stream
                        .launch_builder(&dkv)
                        .arg(&q)
                        .arg(&k)
                        .arg(&v)
                        .arg(&d_out)
                        .arg(&lse)
                        .arg(&delta)
                        .arg(&mut dkb)
                        .arg(&mut dvb)
                        .arg(&ti)
                        .arg(&ti)
                        .arg(&hi)
                        .arg(&hi)
                        .arg(&scale)
                        .launch(cfg(bk_dkv))?;
                }
                Ok(())
            })?;
            let tc = if tc_ok {
                bench_attention_tc(dev, reps, (d, h, t), &q, &k, &v, &d_out, &out)?
            } else {
                TcTimes {
                    fwd: f64::NAN,
                    split: f64::NAN,
                    fused: f64::NAN,
                    dq_diff: f64::NAN,
                    wg_fwd: f64::NAN,
                    out_diff: f64::NAN,
                    wg_bwd: f64::NAN,
                    wg_dq_diff: f64::NAN,
                }
            };
            let (t_tc_fwd, t_tc_bwd) = (tc.fwd, tc.split);
            let flops = 2.0 * (h * t * t * d) as f64;
            let torch_row = torch.and_then(|j| j["sdpa"].as_array()).and_then(|rows| {
                rows.iter().find(|r| {
                    r["d"].as_u64() == Some(d as u64) && r["t"].as_u64() == Some(t as u64)
                })
            });
            let (tf, tb) = torch_row
                .map(|r| (r["fwd_ms"].as_f64(), r["bwd_ms"].as_f64()))
                .unwrap_or((None, None));
            let show = |x: Option<f64>| {
                x.map(|v| format!("{v:9.3}"))
                    .unwrap_or_else(|| "      n/a".into())
            };
            let ratio = tf
                .zip(tb)
                .map(|(f, b)| format!("{:8.2}", (f + b) / (t_fwd + t_bwd)))
                .unwrap_or_else(|| "     n/a".into());
            let torch_over = |ours: f64| {
                tf.zip(tb)
                    .filter(|_| tc_ok)
                    .map(|(f, b)| format!("{:8.2}", (f + b) / ours))
                    .unwrap_or_else(|| "     n/a".into())
            };
            let (tc_ratio, fused_ratio, wg_ratio) = (
                torch_over(t_tc_fwd + t_tc_bwd),
                torch_over(t_tc_fwd + tc.fused),
                torch_over(tc.wg_fwd + tc.wg_bwd),
            );
            println!(
                "{d:>4} {h:>3} {t:>5} {t_fwd:>9.3} {t_bwd:>9.3} {} {} {:>8} {ratio} {t_tc_fwd:>9.3} {t_tc_bwd:>9.3} {:>8} {tc_ratio} {:>9.3} {fused_ratio} {:>8.1e} {:>9.3} {:>8} {:>9.3} {wg_ratio} {:>8.1e} {:>8.1e}",
                show(tf),
                show(tb),
                pct(flops / (t_fwd * 1e-3), peak_flops),
                pct(flops / (t_tc_fwd * 1e-3), peak_flops),
                tc.fused,
                tc.dq_diff,
                tc.wg_fwd,
                pct(flops / (tc.wg_fwd * 1e-3), peak_flops),
                tc.wg_bwd,
                tc.out_diff,
                tc.wg_dq_diff
            );
        }
        Ok(())
    }

    /// Mean ms of the tensor-core forward and of both backwards, and how far the fused dQ is
    /// from the split one; on 9.0 the warpgroup forward's time and how far its output is from
    /// the mma.sync forward's (NaN elsewhere).
    struct TcTimes {
        fwd: f64,
        split: f64,
        fused: f64,
        dq_diff: f64,
        wg_fwd: f64,
        out_diff: f64,
        wg_bwd: f64,
        wg_dq_diff: f64,
    }

    /// Times the tensor-core forward and backward (Δ, dQ, dK/dV; split, then fused) on the same
    /// bf16 buffers.
    #[allow(clippy::too_many_arguments)]
    fn bench_attention_tc(
        dev: &CudaDevice,
        reps: u32,
        (d, h, t): (usize, usize, usize),
        q: &CudaSlice<bf16>,
        k: &CudaSlice<bf16>,
        v: &CudaSlice<bf16>,
        d_out: &CudaSlice<bf16>,
        out: &CudaSlice<bf16>,
    ) -> Result<TcTimes> {
        use super::super::ops::attention::{
            tc_bwd, tc_fwd_on, AttnShape, HalfDtype, TcBuffers, TcBwd, TcGrads,
        };
        use super::super::plan::AttentionFwd;
        use cudarc::driver::DevicePtr;
        let stream = dev.stream();
        let n = t * h * d;
        let (dq, dk, dv) = (
            stream.alloc_zeros::<bf16>(n)?,
            stream.alloc_zeros::<bf16>(n)?,
            stream.alloc_zeros::<bf16>(n)?,
        );
        let (lse, delta) = (
            stream.alloc_zeros::<f32>(h * t)?,
            stream.alloc_zeros::<f32>(h * t)?,
        );
        let p = |s: &CudaSlice<bf16>| s.device_ptr(stream).0;
        let g = AttnShape {
            b: 1,
            t,
            s: t,
            h,
            hkv: h,
            d,
        };
        let bufs = TcBuffers {
            q: p(q),
            k: p(k),
            v: p(v),
            out: p(out),
            lse: lse.device_ptr(stream).0,
        };
        let grads = TcGrads {
            dout: p(d_out),
            delta: delta.device_ptr(stream).0,
            dq: p(&dq),
            dk: p(&dk),
            dv: p(&dv),
        };
        let scale = 1.0 / (d as f32).sqrt();
        let fwd_on = |path| {
            time_ms(stream, reps, || {
                Ok(tc_fwd_on(dev, path, HalfDtype::Bf16, &g, &bufs, scale)?)
            })
        };
        // The warpgroup forward first, so the backwards below read the mma.sync forward's out
        // and lse, as before it existed.
        let (wg_fwd, out_wg) = if dev.gpu()?.sm90a {
            let ms = fwd_on(AttentionFwd::Wgmma)?;
            (ms, Some(stream.clone_dtoh(out)?))
        } else {
            (f64::NAN, None)
        };
        let fwd = fwd_on(AttentionFwd::Tc)?;
        let out_tc = stream.clone_dtoh(out)?;
        let out_wg_ran = out_wg.is_some();
        let out_diff = out_wg.map_or(f64::NAN, |wg| f64::from(max_rel_diff(&out_tc, &wg)));
        let bwd = |path| {
            time_ms(stream, reps, || {
                Ok(tc_bwd(
                    dev,
                    HalfDtype::Bf16,
                    &g,
                    &bufs,
                    &grads,
                    scale,
                    path,
                )?)
            })
        };
        let split = bwd(TcBwd::Split)?;
        let dq_split = stream.clone_dtoh(&dq)?;
        let dq_acc = stream.alloc_zeros::<f32>(n)?;
        let fused = bwd(TcBwd::Fused {
            dq_acc: dq_acc.device_ptr(stream).0,
        })?;
        let dq_fused = stream.clone_dtoh(&dq)?;
        let (wg_bwd, wg_dq_diff) = if out_wg_ran {
            let ms = bwd(TcBwd::Wgmma {
                dq_acc: dq_acc.device_ptr(stream).0,
            })?;
            (
                ms,
                f64::from(max_rel_diff(&dq_split, &stream.clone_dtoh(&dq)?)),
            )
        } else {
            (f64::NAN, f64::NAN)
        };
        Ok(TcTimes {
            fwd,
            split,
            fused,
            dq_diff: f64::from(max_rel_diff(&dq_split, &dq_fused)),
            wg_fwd,
            out_diff,
            wg_bwd,
            wg_dq_diff,
        })
    }

    /// max |b − a| / max |a| over two bf16 results of the same computation.
    fn max_rel_diff(a: &[bf16], b: &[bf16]) -> f32 {
        let max_a = a.iter().fold(0f32, |m, x| m.max(x.to_f32().abs()));
        let max_diff = a
            .iter()
            .zip(b)
            .fold(0f32, |m, (x, y)| m.max((x.to_f32() - y.to_f32()).abs()));
        max_diff / max_a
    }

    fn bench_adamw(
        dev: &CudaDevice,
        reps: u32,
        peak_bw: Option<f64>,
        torch: Option<&serde_json::Value>,
    ) -> Result<()> {
        let stream = dev.stream();
        let f = dev.function(KernelModule::Adamw, "adamw_step_f32")?;
        let n = 16usize << 20;
        let (mut p, g, mut m, mut v) = (
            filled_f32(stream, n, 1e-2)?,
            filled_f32(stream, n, 1e-3)?,
            stream.alloc_zeros::<f32>(n)?,
            stream.alloc_zeros::<f32>(n)?,
        );
        // One descriptor {param, grad, m, v, n}: four device pointers and an i64, as in adamw.cu.
        let desc: Vec<u64> = {
            use cudarc::driver::DevicePtr;
            let (pp, _g1) = p.device_ptr(stream);
            let (gp, _g2) = g.device_ptr(stream);
            let (mp, _g3) = m.device_ptr(stream);
            let (vp, _g4) = v.device_ptr(stream);
            vec![pp, gp, mp, vp, n as u64]
        };
        let desc_dev = stream.clone_htod(&desc)?;
        let (nt, lr, b1, b2, eps, wd, bc1, bc2) = (
            1i32, 3e-4f32, 0.9f32, 0.999f32, 1e-8f32, 0.01f32, 0.1f32, 0.001f32,
        );
        let cfg = LaunchConfig {
            grid_dim: (1024, 1, 1),
            block_dim: (256, 1, 1),
            shared_mem_bytes: 0,
        };
        let t = time_ms(stream, reps, || {
            // SAFETY: matches adamw_step_f32(tensors, n_tensors, lr, b1, b2, eps, wd, bc1, bc2); the
            // descriptor's pointers stay valid while p, g, m, v live (this function's scope).
            unsafe {
                stream
                    .launch_builder(&f)
                    .arg(&desc_dev)
                    .arg(&nt)
                    .arg(&lr)
                    .arg(&b1)
                    .arg(&b2)
                    .arg(&eps)
                    .arg(&wd)
                    .arg(&bc1)
                    .arg(&bc2)
                    .launch(cfg)
            }?;
            Ok(())
        })?;
        let _ = (&mut p, &mut m, &mut v);
        let bw = 28.0 * n as f64 / (t * 1e-3);
        let torch_ms = torch.and_then(|j| j["adamw"]["ms"].as_f64());
        println!("\nAdamW fp32, {n} elements (target: ≥ 80% of peak bandwidth)");
        println!(
            "ours {t:.3} ms, {:.0} GB/s ({} of peak); torch fused {}",
            bw / 1e9,
            pct(bw, peak_bw),
            torch_ms
                .map(|ms| format!("{ms:.3} ms (ratio {:.2})", ms / t))
                .unwrap_or_else(|| "n/a".into())
        );
        Ok(())
    }

    /// Runs bench/torch_baselines.py on the same GPU; None (with the reason printed) when it fails.
    fn torch_baselines(python: &str) -> Option<serde_json::Value> {
        if python == "none" {
            return None;
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/torch_baselines.py");
        let out = Command::new(python)
            .arg(script)
            .output()
            .with_context(|| format!("running {python} {script}"));
        match out.map(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout)) {
            Ok(Ok(v)) if v.get("error").is_none() => Some(v),
            Ok(Ok(v)) => {
                println!("torch baselines skipped: {}", v["error"]);
                None
            }
            Ok(Err(e)) => {
                println!("torch baselines skipped: unreadable output ({e})");
                None
            }
            Err(e) => {
                println!("torch baselines skipped: {e:#}");
                None
            }
        }
    }
}
