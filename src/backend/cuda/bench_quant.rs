//! The quantized-base section of `sectune bench`: the linear forward and dX backward over int8,
//! nf4 and nf4 + double-quant weights (kernels/quant_dequant.cu, bf16 instances: the weight tile
//! is decoded while staged in shared memory) against our own f32 and bf16 linears (lora_matmul.cu)
//! at CodeLlama-7B shapes, beside bitsandbytes when bench/torch_baselines.py could import it, and
//! the f32 backend's bf16-held base (f32 instance over 16-bit weights) against its f32 linear; then
//! the tensor-core entries `--precision bf16` runs (quant_tc.cu: int8/nf4 decoded into bf16
//! tiles, against lora_matmul.cu's dense `tc_linear_*_f32y_bf16`, sm_80+); then
//! the GPU memory that the seven linears of one 7B decoder layer take for a LoRA forward and
//! backward on the f32 backend (quantized vs f32 base weights), read from the driver.
//! The quantized weights are synthetic byte patterns (timing does not depend on their values).

use std::sync::Arc;

use anyhow::Result;
use cudarc::driver::{
    sys::CUevent_flags, CudaFunction, CudaSlice, CudaStream, DevicePtr, LaunchConfig, PushKernelArg,
};
use half::bf16;

use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::KArg;
use super::plan::{gemm16_core_launch, GemmCore};
use super::tma::{gemm_operands, quant_lead, Elem16, GemmShape};

/// Mean milliseconds of `f` over `reps` runs after 3 warm-ups, timed with CUDA events.
fn time_ms(stream: &Arc<CudaStream>, reps: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
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

fn ptr<T>(stream: &Arc<CudaStream>, s: &CudaSlice<T>) -> u64 {
    s.device_ptr(stream).0
}

/// One quantized weight's buffers, as the kernels' QW_PARAMS pointers.
struct QWeight {
    /// Keeps the buffers behind `args` alive.
    _bytes: [CudaSlice<u8>; 2],
    _floats: [CudaSlice<f32>; 3],
    args: [u64; 5],
    offset: f32,
    nested: i32,
}

/// `fmt`: "int8", "nf4", "nf4dq" or "bf16"; the values are patterns of the right sizes.
fn qweight(stream: &Arc<CudaStream>, fmt: &str, n: usize, k: usize) -> Result<QWeight> {
    let numel = n * k;
    let (q_len, scale_len) = match fmt {
        "int8" => (numel, n),
        "bf16" => (2 * numel, 1),
        _ => (numel.div_ceil(2), numel.div_ceil(64)),
    };
    let q: Vec<u8> = (0..q_len).map(|i| (i * 37 % 251) as u8).collect();
    let dq = fmt == "nf4dq";
    let scale_host: Vec<f32> = if dq {
        vec![0.01; scale_len.div_ceil(256)]
    } else {
        (0..scale_len)
            .map(|i| 0.01 + (i % 7) as f32 * 1e-3)
            .collect()
    };
    let qscale: Vec<u8> = (0..if dq { scale_len } else { 1 })
        .map(|i| (i * 13 % 256) as u8)
        .collect();
    let map = crate::quant::dynamic::dynamic_map();
    let bytes = [stream.clone_htod(&q)?, stream.clone_htod(&qscale)?];
    let floats = [
        stream.clone_htod(&scale_host)?,
        stream.clone_htod(&map)?,
        stream.clone_htod(&crate::quant::nf4::NF4_LEVELS[..])?,
    ];
    let (int8, bf16) = (fmt == "int8", fmt == "bf16");
    let args = [
        ptr(stream, &bytes[0]),
        if bf16 { 0 } else { ptr(stream, &floats[0]) },
        if dq { ptr(stream, &bytes[1]) } else { 0 },
        if dq { ptr(stream, &floats[1]) } else { 0 },
        if int8 || bf16 {
            0
        } else {
            ptr(stream, &floats[2])
        },
    ];
    Ok(QWeight {
        _bytes: bytes,
        _floats: floats,
        args,
        offset: if dq { 0.02 } else { 0.0 },
        nested: 256,
    })
}

fn gemm_launch(rows: usize, cols: usize) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (cols.div_ceil(64) as u32, rows.div_ceil(64) as u32, 1),
        block_dim: (128, 1, 1),
        shared_mem_bytes: 0,
    }
}

/// quant_tc.cu's dequant_bf16_`fmt` of `q` [n, k] into `out` (the scratch decode's pass).
fn dequant(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    q: &QWeight,
    out: u64,
    (n, k): (usize, usize),
) -> Result<()> {
    let (rows, cols) = (n as i32, k as i32);
    let mut b = stream.launch_builder(f);
    for p in &q.args {
        b.arg(p);
    }
    b.arg(&q.offset)
        .arg(&q.nested)
        .arg(&out)
        .arg(&rows)
        .arg(&cols);
    // SAFETY: the arguments are dequant_bf16_*'s parameter list over live buffers of n·k values.
    unsafe { b.launch(crate::backend::cuda::launch::stride_cfg(n * k.div_ceil(8))) }?;
    Ok(())
}

/// Launches `f(lead..., [QW], [bias], out, M, N, K)`: `lead` is x or dY and a dense W as two
/// pointers (or the TMA core's two maps), or x / dY alone (a pointer or a map) before a quantized
/// weight's QW_PARAMS.
#[allow(clippy::too_many_arguments)]
fn launch(
    stream: &Arc<CudaStream>,
    f: &CudaFunction,
    cfg: LaunchConfig,
    lead: &[KArg],
    q: Option<&QWeight>,
    with_bias: bool,
    out: u64,
    dims: [i32; 3],
) -> Result<()> {
    let null = 0u64;
    let mut b = stream.launch_builder(f);
    for a in lead {
        a.push(&mut b);
    }
    if let Some(q) = q {
        for p in &q.args {
            b.arg(p);
        }
        b.arg(&q.offset);
        b.arg(&q.nested);
    }
    if with_bias {
        b.arg(&null);
    }
    b.arg(&out);
    for d in &dims {
        b.arg(d);
    }
    // SAFETY: the argument lists match linear_fwd_T(x, W, bias, y, M, N, K),
    // linear_bwd_dx_T(dy, W, dx, M, N, K), qlinear_fwd_F_T(x, QW, bias, y, M, N, K) and
    // qlinear_bwd_dx_F_T(dy, QW, dx, M, N, K) (and their tc_ / wg_ / _f32y twins, same lists; the
    // wgt_ ones with maps in place of the pointers); every buffer holds M·K, N·K (or its packed
    // form) and M·N elements of the kernel's type.
    unsafe { b.launch(cfg) }?;
    Ok(())
}

/// The leading arguments of `core`'s dense entry for `shape` (x and W, or the TMA core's two
/// maps), and the core that takes them.
fn dense_lead(core: GemmCore, shape: GemmShape, x: u64, w: u64) -> Result<(GemmCore, Vec<KArg>)> {
    let (core, args) = gemm_operands(core, Elem16::Bf16, shape, x, w)?;
    Ok((core, args.into()))
}

fn ms_cell(t: Option<f64>) -> String {
    t.map_or("-".to_string(), |t| format!("{t:.3}"))
}

fn bnb_row(torch: Option<&serde_json::Value>, m: usize, n: usize, k: usize) -> String {
    let Some(rows) = torch.and_then(|t| t.get("bnb")) else {
        return String::new();
    };
    if let Some(e) = rows.get("error") {
        return format!("  bitsandbytes: {}", e.as_str().unwrap_or("unavailable"));
    }
    let row = rows.as_array().and_then(|rows| {
        rows.iter().find(|r| {
            r["m"].as_u64() == Some(m as u64)
                && r["n"].as_u64() == Some(n as u64)
                && r["k"].as_u64() == Some(k as u64)
        })
    });
    let ms = |key: &str| {
        row.and_then(|r| r[key].as_f64())
            .map_or("n/a".to_string(), |v| format!("{v:.3}"))
    };
    format!(
        "  bitsandbytes ms: nf4 fwd {} bwd {}, int8 fwd {} bwd {}",
        ms("nf4_fwd_ms"),
        ms("nf4_bwd_ms"),
        ms("int8_fwd_ms"),
        ms("int8_bwd_ms")
    )
}

pub fn run(dev: &CudaDevice, reps: u32, torch: Option<&serde_json::Value>) -> Result<()> {
    let stream = dev.stream();
    println!("\nQuantized linear, weights decoded in the tile load (ours: bf16 instances), ms");
    println!("(f32+w16: the f32 backend's linear over a bf16-held base, against its f32 linear)");
    println!(
        "{:>5} {:>6} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>8} {:>8}",
        "M",
        "N",
        "K",
        "pass",
        "f32",
        "bf16",
        "int8",
        "nf4",
        "nf4+dq",
        "int8/bf16",
        "nf4/bf16",
        "f32+w16",
        "w16/f32"
    );
    let gpu = dev.gpu()?;
    let tc_cores: Vec<GemmCore> = [
        GemmCore::TensorCore,
        GemmCore::Wgmma,
        GemmCore::WgmmaInFlight,
        GemmCore::WgmmaTma,
    ]
    .into_iter()
    .filter(|core| core.runs_on(gpu))
    .collect();
    let mut tc_rows = Vec::new();
    for &(m, n, k) in &[
        (2048usize, 4096usize, 4096usize),
        (2048, 11008, 4096),
        (2048, 4096, 11008),
        (4096, 4096, 4096),
    ] {
        let dims = [m as i32, n as i32, k as i32];
        let x16: CudaSlice<bf16> = stream.alloc_zeros(m * k.max(n))?;
        let y16: CudaSlice<bf16> = stream.alloc_zeros(m * k.max(n))?;
        let w16: CudaSlice<bf16> = stream.alloc_zeros(n * k)?;
        let x32: CudaSlice<f32> = stream.alloc_zeros(m * k.max(n))?;
        let y32: CudaSlice<f32> = stream.alloc_zeros(m * k.max(n))?;
        let w32: CudaSlice<f32> = stream.alloc_zeros(n * k)?;
        let (x16, y16, w16) = (ptr(stream, &x16), ptr(stream, &y16), ptr(stream, &w16));
        let (x32, y32, w32) = (ptr(stream, &x32), ptr(stream, &y32), ptr(stream, &w32));
        let quant = [
            ("int8", qweight(stream, "int8", n, k)?),
            ("nf4", qweight(stream, "nf4", n, k)?),
            ("nf4", qweight(stream, "nf4dq", n, k)?),
        ];
        let held16 = qweight(stream, "bf16", n, k)?;
        // The scratch decode's whole-weight pass (into w16), once per shape: NF4 + dq, int8.
        let mut deq = [0.0; 2];
        if !tc_cores.is_empty() {
            for (t, (fmt, q)) in deq
                .iter_mut()
                .zip([("nf4", &quant[2].1), ("int8", &quant[0].1)])
            {
                let f = dev.function(KernelModule::QuantTc, &format!("dequant_bf16_{fmt}"))?;
                *t = time_ms(stream, reps, || dequant(stream, &f, q, w16, (n, k)))?;
            }
        }
        for pass in ["fwd", "dX"] {
            let (plain, qname, bias, cfg) = if pass == "fwd" {
                ("linear_fwd", "qlinear_fwd", true, gemm_launch(m, n))
            } else {
                ("linear_bwd_dx", "qlinear_bwd_dx", false, gemm_launch(m, k))
            };
            let f32_fn = dev.function(KernelModule::LoraMatmul, &format!("{plain}_f32"))?;
            let bf16_fn = dev.function(KernelModule::LoraMatmul, &format!("{plain}_bf16"))?;
            let t32 = time_ms(stream, reps, || {
                launch(
                    stream,
                    &f32_fn,
                    cfg,
                    &[x32.into(), w32.into()],
                    None,
                    bias,
                    y32,
                    dims,
                )
            })?;
            let t16 = time_ms(stream, reps, || {
                launch(
                    stream,
                    &bf16_fn,
                    cfg,
                    &[x16.into(), w16.into()],
                    None,
                    bias,
                    y16,
                    dims,
                )
            })?;
            let mut tq = Vec::new();
            for (fmt, q) in &quant {
                let f = dev.function(KernelModule::QuantDequant, &format!("{qname}_{fmt}_bf16"))?;
                tq.push(time_ms(stream, reps, || {
                    launch(stream, &f, cfg, &[x16.into()], Some(q), bias, y16, dims)
                })?);
            }
            let f = dev.function(KernelModule::QuantDequant, &format!("{qname}_bf16_f32"))?;
            let tw16 = time_ms(stream, reps, || {
                launch(
                    stream,
                    &f,
                    cfg,
                    &[x32.into()],
                    Some(&held16),
                    bias,
                    y32,
                    dims,
                )
            })?;
            println!(
                "{m:>5} {n:>6} {k:>6} {pass:>4} {t32:>8.3} {t16:>8.3} {:>8.3} {:>8.3} {:>8.3} {:>9.2} {:>9.2} {tw16:>8.3} {:>8.2}",
                tq[0],
                tq[1],
                tq[2],
                tq[0] / t16,
                tq[1] / t16,
                tw16 / t32
            );
        }
        let row = bnb_row(torch, m, n, k);
        if !row.is_empty() {
            println!("{row}");
        }
        for &core in &tc_cores {
            for pass in ["fwd", "dX"] {
                let (plain, qname, bias, shape) = if pass == "fwd" {
                    (
                        "linear_fwd_f32y_bf16",
                        "qlinear_fwd",
                        true,
                        GemmShape::fwd(m, n, k),
                    )
                } else {
                    (
                        "linear_bwd_dx_f32y_bf16",
                        "qlinear_bwd_dx",
                        false,
                        GemmShape::dx(m, n, k),
                    )
                };
                let (dense_core, lead) = dense_lead(core, shape, x16, w16)?;
                let cfg = gemm16_core_launch(dense_core, m, shape.cols, 0);
                let name = format!("{}{plain}", dense_core.prefix());
                let f =
                    dev.function_for_launch(dense_core.module(), &name, cfg.shared_mem_bytes)?;
                let t16 = time_ms(stream, reps, || {
                    launch(stream, &f, cfg, &lead, None, bias, y32, dims)
                })?;
                // Each format on this core's own entries; the TMA core has NF4 ones only.
                let (qcore, qlead) = quant_lead(core, shape, x16)?;
                let qlead = [qlead];
                let mut tq = Vec::new();
                for (fmt, q) in &quant {
                    if core == GemmCore::WgmmaTma && *fmt != "nf4" {
                        tq.push(None);
                        continue;
                    }
                    let cfg = gemm16_core_launch(qcore, m, shape.cols, 0);
                    let name = format!("{}{qname}_{fmt}_f32y_bf16", qcore.prefix());
                    let f =
                        dev.function_for_launch(qcore.quant_module(), &name, cfg.shared_mem_bytes)?;
                    tq.push(Some(time_ms(stream, reps, || {
                        launch(stream, &f, cfg, &qlead, Some(q), bias, y32, dims)
                    })?));
                }
                let ratio =
                    |t: Option<f64>| t.map_or("-".to_string(), |t| format!("{:.2}", t / t16));
                tc_rows.push(format!(
                    "{:>5} {m:>5} {n:>6} {k:>6} {pass:>4} {t16:>8.3} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9.3} {:>9.3} {:>9.2}",
                    core.prefix().trim_end_matches('_'),
                    ms_cell(tq[0]),
                    ms_cell(tq[1]),
                    ms_cell(tq[2]),
                    ratio(tq[0]),
                    ratio(tq[1]),
                    deq[0],
                    deq[1],
                    (t16 + deq[0]) / t16
                ));
            }
        }
    }
    if !tc_rows.is_empty() {
        println!("\nTensor cores (--precision bf16: the quantized linears against the dense GEMM of the same core; tc = quant_tc.cu, wg / wgp = quant_wgmma.cu's two pipelines, wgt = quant_tma.cu's TMA core, NF4 only), ms");
        println!(
            "deq: the scratch decode's whole-weight pass (dequant_bf16_*, SECTUNE_QUANT_DECODE=scratch); \
             scr/bf16: (bf16 + deq nf4+dq) / bf16, the scratch path's cost against nf4+dq's fused one"
        );
        println!(
            "{:>5} {:>5} {:>6} {:>6} {:>4} {:>8} {:>8} {:>8} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "core",
            "M",
            "N",
            "K",
            "pass",
            "bf16",
            "int8",
            "nf4",
            "nf4+dq",
            "int8/bf16",
            "nf4/bf16",
            "deq nf4dq",
            "deq int8",
            "scr/bf16"
        );
        for row in tc_rows {
            println!("{row}");
        }
    }
    layer_memory(dev)
}

/// GPU memory of the seven linears of one CodeLlama-7B layer (q, k, v, o 4096×4096; gate, up
/// 11008×4096; down 4096×11008) with LoRA r 8 on each, one forward and backward over 2048 tokens
/// on the f32 CUDA backend, per base dtype: the weights as uploaded, and the pool's growth over
/// the pass (the pool keeps freed memory, so the growth is the peak of the pass). Activations
/// are f32 here; attention and norms are not included.
fn layer_memory(dev: &CudaDevice) -> Result<()> {
    use crate::backend::{AdapterGrad, AdapterOp, Backend};
    use crate::quant::{BaseDtype, BaseWeight, QuantRequest};
    use crate::tensor::Tensor;

    let be = super::CudaBackend::new(0)?;
    let used = || -> Result<u64> {
        trim_pool(&be)?;
        let (free, total) = be.device().memory()?;
        Ok((total - free) as u64)
    };
    // q, k, v, o; gate, up; down.
    let shapes = [(4096usize, 4096usize), (11008, 4096), (4096, 11008)];
    let layer = [0usize, 0, 0, 0, 1, 1, 2];
    // bf16 values, as a bf16 checkpoint holds: `--base-dtype bf16` keeps them in 16 bits.
    let host: Vec<Tensor> = shapes
        .iter()
        .map(|&(n, k)| {
            let w: Vec<f32> = (0..n * k)
                .map(|j| bf16::from_f32((j % 97) as f32 / 970.0 - 0.05).to_f32())
                .collect();
            Tensor::from_vec(w, &[n, k])
        })
        .collect::<crate::error::Result<_>>()?;
    let (tokens, r) = (2048usize, 8usize);
    let mib = |b: u64| b as f64 / (1u64 << 20) as f64;
    println!(
        "\nOne 7B layer's 7 linears, LoRA r {r}, fwd+bwd over {tokens} tokens (f32 backend, f32 activations; {}):",
        dev.name()
    );
    for (name, dtype, dq) in [
        ("f32", BaseDtype::F32, false),
        ("bf16", BaseDtype::Bf16, false),
        ("int8", BaseDtype::Int8, false),
        ("nf4", BaseDtype::Nf4, false),
        ("nf4+dq", BaseDtype::Nf4, true),
    ] {
        let before = used()?;
        let req = QuantRequest::new(dtype, dq);
        let mut weights = Vec::new();
        for &i in &layer {
            weights.push(be.upload_base(BaseWeight::quantize(host[i].clone(), req)?)?);
        }
        be.synchronize()?;
        let (free, total) = be.device().memory()?;
        let after_weights = (total - free) as u64;
        for (w, &i) in weights.iter().zip(&layer) {
            let (n, k) = shapes[i];
            let x = be.upload(Tensor::full(&[tokens, k], 0.01))?;
            let dy = be.upload(Tensor::full(&[tokens, n], 0.01))?;
            let a = be.upload(Tensor::full(&[r, k], 0.01))?;
            let b = be.upload(Tensor::full(&[n, r], 0.01))?;
            let mut da = be.zeros(&[r, k])?;
            let mut db = be.zeros(&[n, r])?;
            let op = AdapterOp::Lora {
                a: &a,
                b: &b,
                scale: 2.0,
                dropout: None,
            };
            let (y, saved) = be.quant_linear_fwd(&x, w, None, op)?;
            let grad = AdapterGrad::Lora {
                da: &mut da,
                db: &mut db,
            };
            let dx = be.quant_linear_bwd(&dy, &x, w, op, &saved, grad)?;
            drop((y, dx, saved));
        }
        // The pool keeps what the pass freed (release threshold "never"): its size now is the
        // pass's peak.
        be.synchronize()?;
        let (free, total) = be.device().memory()?;
        let peak = (total - free) as u64;
        println!(
            "  {name:>6}: weights {:8.1} MiB, pass peak above the weights {:8.1} MiB",
            mib(after_weights.saturating_sub(before)),
            mib(peak.saturating_sub(after_weights))
        );
        drop(weights);
    }
    trim_pool(&be)?;
    Ok(())
}

/// Returns the pool's unused memory to the driver, so the next reading starts from live buffers.
fn trim_pool(be: &super::CudaBackend) -> Result<()> {
    use cudarc::driver::sys;
    be.synchronize()?;
    let ctx = be.device().context();
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    // SAFETY: plain driver calls on this context's device with a valid out-pointer.
    unsafe {
        ctx.bind_to_thread()?;
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result()?;
        sys::cuMemPoolTrimTo(pool, 0).result()?;
    }
    Ok(())
}
