//! `--precision bf16`: linears (over a bf16-held base, or an f32 weight rounded per call) and
//! attention at head dims 64/128/256 run on the bf16 tensor-core kernels (lora_matmul.cu's `tc_`
//! entries on gemm_tc.cuh, or gemm_wgmma.cu's `wg_` on compute capability 9.0, or opt-in gemm_tma.cu's
//! `wgt_`, plan::GemmCore;
//! attention_tc.cu). Each f32 input is rounded to bf16 (nearest even) on the way in,
//! the kernels accumulate in fp32 and round their outputs to bf16, as torch autocast does around
//! its bf16 GEMMs; the linears store those bf16 values as f32 directly (the `_f32y` entries), the
//! attention kernels store bf16 and are widened. The LoRA rank work (xa, dyb, dA, dB) stays in f32
//! on the unrounded activations, so adapter gradients carry only the base path's rounding.
//! IA3's scaling and dl run in f32 around the plain bf16 GEMM. An int8 or NF4 base is decoded to
//! bf16 inside quant_tc.cu's tensor-core kernels (no decoded copy in global memory), or, opt-in,
//! into a transient bf16 copy of the one weight for the dense GEMM (plan::QuantDecode).
//! Everything else (norms, RoPE, activations, loss, AdamW) keeps the f32 kernels.

use cudarc::driver::CudaSlice;

use super::super::backend::CudaBackend;
use super::super::kernels::KernelModule;
use super::super::launch::{int, launch, launch_args, stride_cfg, KArg, NULL};
use super::super::plan::{attention_tc_tiles, gemm16_core_launch, GemmCore};
use super::super::quant_storage::{QuantDeviceWeight, QuantFormat};
use super::super::tma::{gemm_operands, quant_lead, Elem16, GemmShape};
use super::attention::{tc_bwd, tc_fwd, AttnShape, HalfDtype, TcBuffers, TcBwd, TcGrads};
use super::linear::{column_dot, project_xa, rank_instance, sizes, LoraBwd};
use super::quant::qargs;
use crate::backend::cpu::attention::Geometry;
use crate::backend::cpu::linear::{grad_mismatch, missing, out_shape};
use crate::backend::{check, AdapterGrad, AdapterOp, LinearSaved};
use crate::error::Result;
use crate::tensor::Tensor;

/// bf16 bit patterns on the device.
type Bf16Buf = CudaSlice<u16>;

/// A bf16 copy of `t` (round to nearest even).
fn round(be: &CudaBackend, t: &Tensor) -> Result<Bf16Buf> {
    let n = t.numel();
    let out = scratch(be, n)?;
    launch!(be, Elementwise, "round_f32_to_bf16", stride_cfg(n); be.ptr(t)?, be.raw(&out), n as i64);
    Ok(out)
}

/// An f32 tensor of `shape` holding the bf16 values of `h` (exact).
fn widen(be: &CudaBackend, h: &Bf16Buf, shape: &[usize]) -> Result<Tensor> {
    let out = be.uninit(shape)?;
    let n = out.numel();
    launch!(be, Elementwise, "widen_bf16_to_f32", stride_cfg(n); be.raw(h), be.ptr(&out)?, n as i64);
    Ok(out)
}

/// `t` rounded to bf16 and widened back (the two conversion kernels in one call; for the
/// op-level parity test).
pub fn round_trip_bf16(be: &CudaBackend, t: &Tensor) -> Result<Tensor> {
    widen(be, &round(be, t)?, t.shape())
}

/// The bf16 rounding of a quantized weight, whole (quant_tc.cu's dequant_bf16_*; the values the
/// fused kernels decode into their tiles).
fn dequantized(be: &CudaBackend, w: &QuantDeviceWeight) -> Result<Bf16Buf> {
    let out = scratch(be, w.rows * w.cols)?;
    let q = qargs(be, w)?;
    let (rows, cols) = (int("dequant_bf16", w.rows)?, int("dequant_bf16", w.cols)?);
    let args: Vec<KArg> = q
        .args()
        .into_iter()
        .chain([be.raw(&out).into(), rows.into(), cols.into()])
        .collect();
    let cfg = stride_cfg(w.rows * w.cols.div_ceil(8));
    let name = format!("dequant_bf16_{}", q.fmt);
    launch_args(be.device(), KernelModule::QuantTc, &name, cfg, &args)?;
    Ok(out)
}

/// A bf16 buffer of n values the next kernel writes whole (CudaBackend::uninit).
fn scratch(be: &CudaBackend, n: usize) -> Result<Bf16Buf> {
    // SAFETY: every caller's kernel writes all n values before any read.
    Ok(unsafe { be.stream().alloc::<u16>(n.max(1)) }?)
}

/// The weight a mixed linear reads: a base held on the device (bf16 as it is; int8 or NF4 decoded
/// tile by tile into bf16 inside quant_tc.cu's kernels, as bitsandbytes dequantizes to the compute
/// dtype), or an f32 weight rounded for the call, as torch autocast does (exact for the values of
/// a bf16 checkpoint, e.g. its lm_head).
pub(super) enum Weight16<'a> {
    Held(&'a QuantDeviceWeight),
    Rounded(Bf16Buf),
}

/// The tensor-core GEMM-family entries a mixed linear launches.
#[derive(Clone, Copy)]
enum Gemm {
    Fwd,
    BwdDx,
    LoraFwd(usize),
    LoraBwdDx(usize),
}

impl Weight16<'_> {
    /// The entry point of `g` on `core` for this weight, and its leading arguments: the lead
    /// operand (x or dY) and the weight as the entry takes them (lora_matmul.cu's / gemm_wgmma.cu's
    /// `_f32y` entries two pointers, gemm_tma.cu's two tensor maps, quant_tc.cu's the lead and the
    /// seven quantized-weight arguments). A dense GEMM may move from the TMA core to wg_ there
    /// (tma::gemm_operands), hence the core it returns.
    fn entry(
        &self,
        be: &CudaBackend,
        core: GemmCore,
        g: Gemm,
        shape: GemmShape,
        lead: u64,
    ) -> Result<(GemmCore, KernelModule, String, Vec<KArg>)> {
        let dense = |ptr: u64| -> Result<(GemmCore, KernelModule, String, Vec<KArg>)> {
            let (core, operands) = gemm_operands(core, Elem16::Bf16, shape, lead, ptr)?;
            let base = match g {
                Gemm::Fwd => "linear_fwd".to_string(),
                Gemm::BwdDx => "linear_bwd_dx".to_string(),
                Gemm::LoraFwd(r) => format!("lora_linear_fwd_r{r}"),
                Gemm::LoraBwdDx(r) => format!("lora_linear_bwd_dx_r{r}"),
            };
            let name = format!("{}{base}_f32y_bf16", core.prefix());
            Ok((core, core.module(), name, operands.into()))
        };
        match self {
            Weight16::Held(w) if w.format != QuantFormat::Bf16 => {
                let q = qargs(be, w)?;
                let f = q.fmt;
                let base = match g {
                    Gemm::Fwd => format!("qlinear_fwd_{f}"),
                    Gemm::BwdDx => format!("qlinear_bwd_dx_{f}"),
                    Gemm::LoraFwd(r) => format!("qlora_fwd_r{r}_{f}"),
                    Gemm::LoraBwdDx(r) => format!("qlora_bwd_dx_r{r}_{f}"),
                };
                let (core, lead) = quant_lead(core, shape, lead)?;
                let name = format!("{}{base}_f32y_bf16", core.prefix());
                let operands = std::iter::once(lead).chain(q.args()).collect();
                Ok((core, core.quant_module(), name, operands))
            }
            Weight16::Held(w) => dense(be.raw(&w.bufs.q)),
            Weight16::Rounded(w) => dense(be.raw(w)),
        }
    }

    /// Launches `g` of `shape` (GemmShape::fwd for Fwd / LoraFwd, ::dx for the others): `lead` (x
    /// or dY), the weight, then `rest` in the entry's order (bias.., y or dX, sizes).
    fn launch(
        &self,
        be: &CudaBackend,
        g: Gemm,
        shape: GemmShape,
        lead: u64,
        rest: Vec<KArg>,
    ) -> Result<()> {
        // The tensor-core `_f32y` entries (bf16 operands, outputs rounded to bf16 and stored as
        // f32, so no widening pass) of the mma.sync core, or of the wgmma core when chosen;
        // `with_bf16_compute` checked for sm_80+. A quantized weight is decoded whole first
        // (plan::QuantDecode) or runs on its own core (`GemmCore::for_quantized`).
        let core = be.device().gemm_core()?.tensor();
        let core = match self {
            Weight16::Held(w) if w.format != QuantFormat::Bf16 => {
                if be.device().quant_decode()?.whole_weight(shape.rows) {
                    let whole = Weight16::Rounded(dequantized(be, w)?);
                    return whole.launch(be, g, shape, lead, rest);
                }
                core.for_quantized(
                    matches!(w.format, QuantFormat::Nf4 | QuantFormat::Nf4Dq),
                    matches!(g, Gemm::Fwd | Gemm::LoraFwd(_)),
                )
            }
            _ => core,
        };
        let rmax = match g {
            Gemm::Fwd | Gemm::BwdDx => 0,
            Gemm::LoraFwd(r) | Gemm::LoraBwdDx(r) => r,
        };
        let (core, module, name, operands) = self.entry(be, core, g, shape, lead)?;
        let args: Vec<KArg> = operands.into_iter().chain(rest).collect();
        let cfg = gemm16_core_launch(core, shape.rows, shape.cols, rmax);
        launch_args(be.device(), module, &name, cfg, &args)
    }
}

/// A device-held base under `--precision bf16` (bf16, int8 or NF4): runs on the tensor cores.
pub(super) fn held<'a>(be: &CudaBackend, w: &'a QuantDeviceWeight) -> Option<Weight16<'a>> {
    be.bf16_compute().then_some(Weight16::Held(w))
}

/// An f32 weight under `--precision bf16`: its bf16 rounding.
pub(super) fn rounded(be: &CudaBackend, w: &Tensor) -> Result<Option<Weight16<'static>>> {
    if !be.bf16_compute() {
        return Ok(None);
    }
    Ok(Some(Weight16::Rounded(round(be, w)?)))
}

/// x ⊙ l along the last dim (x [rows, cols], l [cols]), f32: IA3's scaling outside the GEMM.
pub fn scale_cols(
    be: &CudaBackend,
    x: &Tensor,
    l: &Tensor,
    rows: usize,
    cols: usize,
) -> Result<Tensor> {
    check::len("ia3_bf16", "l", l, cols)?;
    let out = be.uninit(x.shape())?;
    launch!(be, Elementwise, "scale_cols_f32", stride_cfg(rows * cols);
        be.ptr(x)?, be.ptr(l)?, be.ptr(&out)?, rows as i64, cols as i64);
    Ok(out)
}

/// y = x·Wᵀ + bias with x, W, bias in bf16, and the adapter: LoRA's s·xa·Bᵀ in the epilogue
/// (xa from the f32 x), IA3's l on the f32 x before rounding (input) or on the f32 output
/// (output, which keeps that z for dl); m, n > 0.
pub(super) fn linear_fwd(
    be: &CudaBackend,
    x: &Tensor,
    w: Weight16<'_>,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
    (m, n, k): (usize, usize, usize),
) -> Result<(Tensor, LinearSaved)> {
    let (mi, ni, ki) = sizes(m, n, k)?;
    let xh = match adapter {
        AdapterOp::Ia3Input { l } => round(be, &scale_cols(be, x, l, m, k)?)?,
        _ => round(be, x)?,
    };
    let bias_h = bias.map(|b| round(be, b)).transpose()?;
    let y = be.uninit(&out_shape(x, n))?;
    let (xp, yp) = (be.raw(&xh), be.ptr(&y)?);
    let bp = bias_h.as_ref().map_or(NULL, |b| be.raw(b));
    let mut saved = LinearSaved::default();
    match adapter {
        // (x, W.., bias, xa, B, scale, y, M, N, K, r)
        AdapterOp::Lora {
            a,
            b,
            scale,
            dropout,
        } => {
            let r = a.rows();
            let rmax = rank_instance(r)?;
            let xa = project_xa(be, x, a, dropout, m, k)?;
            let rest = vec![
                bp.into(),
                be.ptr(&xa)?.into(),
                be.ptr(b)?.into(),
                scale.into(),
                yp.into(),
                mi.into(),
                ni.into(),
                ki.into(),
                (r as i32).into(),
            ];
            w.launch(be, Gemm::LoraFwd(rmax), GemmShape::fwd(m, n, k), xp, rest)?;
            saved.xa = Some(xa);
        }
        // (x, W.., bias, y, M, N, K)
        _ => {
            let rest = vec![bp.into(), yp.into(), mi.into(), ni.into(), ki.into()];
            w.launch(be, Gemm::Fwd, GemmShape::fwd(m, n, k), xp, rest)?;
        }
    }
    if let AdapterOp::Ia3Output { l } = adapter {
        let scaled = scale_cols(be, &y, l, m, n)?;
        saved.base_out = Some(y);
        return Ok((scaled, saved));
    }
    Ok((y, saved))
}

/// dX = dY·W with dY and W in bf16, and the adapter's part: LoRA's s·(dY·B)·A ⊙ mask in the
/// epilogue with dA, dB from the f32 activations; IA3 input: dX = g⊙l, dl += Σ x⊙g with
/// g = dY·W (bf16 values in f32); IA3 output: dX = (dY⊙l)·W, dl += Σ dY⊙z (f32); m, k > 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn linear_bwd(
    be: &CudaBackend,
    dy: &Tensor,
    x: &Tensor,
    w: Weight16<'_>,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
    (m, n, k): (usize, usize, usize),
) -> Result<Tensor> {
    let (mi, ni, ki) = sizes(m, n, k)?;
    let scaled_dy = match adapter {
        AdapterOp::Ia3Output { l } => Some(scale_cols(be, dy, l, m, n)?),
        _ => None,
    };
    let dyh = round(be, scaled_dy.as_ref().unwrap_or(dy))?;
    let dx = be.uninit(x.shape())?;
    let (dyp, dxp) = (be.raw(&dyh), be.ptr(&dx)?);
    // (dy, W.., dx, M, N, K)
    let plain_dx = || {
        let rest = vec![dxp.into(), mi.into(), ni.into(), ki.into()];
        w.launch(be, Gemm::BwdDx, GemmShape::dx(m, n, k), dyp, rest)
    };
    match (adapter, grad) {
        (AdapterOp::None, _) => plain_dx()?,
        // (dy, W.., dyb, A, scale, p, seed, dx, M, N, K, r)
        (op @ AdapterOp::Lora { a, scale, .. }, g @ AdapterGrad::Lora { .. }) => {
            LoraBwd::of(op, g)?.run(be, dy, x, saved, (m, n, k), |dyb, rmax, p, seed| {
                let rest = vec![
                    be.ptr(dyb)?.into(),
                    be.ptr(a)?.into(),
                    scale.into(),
                    p.into(),
                    seed.into(),
                    dxp.into(),
                    mi.into(),
                    ni.into(),
                    ki.into(),
                    (a.rows() as i32).into(),
                ];
                w.launch(be, Gemm::LoraBwdDx(rmax), GemmShape::dx(m, n, k), dyp, rest)
            })?;
        }
        (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
            plain_dx()?;
            column_dot(be, "ia3_bf16", x, &dx, dl, (m, k))?; // dx holds g = dY·W here
            return scale_cols(be, &dx, l, m, k);
        }
        (AdapterOp::Ia3Output { .. }, AdapterGrad::Ia3 { dl }) => {
            let z = saved
                .base_out
                .as_ref()
                .ok_or_else(|| missing("the unscaled output"))?;
            column_dot(be, "ia3_bf16", dy, z, dl, (m, n))?;
            plain_dx()?;
        }
        _ => return Err(grad_mismatch()),
    }
    Ok(dx)
}

/// Whether attention at head dim `d` runs in bf16 (the tensor-core kernels' head dims).
pub(super) fn takes_attention(be: &CudaBackend, d: usize) -> bool {
    be.bf16_compute() && attention_tc_tiles(d).is_some()
}

fn attn_shape(g: &Geometry) -> AttnShape {
    AttnShape {
        b: g.b,
        t: g.t,
        s: g.s,
        h: g.h,
        hkv: g.hkv,
        d: g.d,
    }
}

/// bf16 copies of an attention call's q, k, v.
struct Qkv([Bf16Buf; 3]);

impl Qkv {
    fn round(be: &CudaBackend, q: &Tensor, k: &Tensor, v: &Tensor) -> Result<Self> {
        Ok(Qkv([round(be, q)?, round(be, k)?, round(be, v)?]))
    }

    fn buffers(&self, be: &CudaBackend, out: &Bf16Buf, lse: u64) -> TcBuffers {
        let [q, k, v] = &self.0;
        TcBuffers {
            q: be.raw(q),
            k: be.raw(k),
            v: be.raw(v),
            out: be.raw(out),
            lse,
        }
    }
}

/// out (widened from bf16) and lse [B,H,T] fp32; B·T > 0.
pub(super) fn attention_fwd(
    be: &CudaBackend,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    g: &Geometry,
    scale: f32,
) -> Result<(Tensor, Tensor)> {
    let qkv = Qkv::round(be, q, k, v)?;
    let out_h = scratch(be, q.numel())?;
    let lse = be.zeros(&[g.b, g.h, g.t])?;
    let buf = qkv.buffers(be, &out_h, be.ptr(&lse)?);
    tc_fwd(be.device(), HalfDtype::Bf16, &attn_shape(g), &buf, scale)?;
    Ok((widen(be, &out_h, q.shape())?, lse))
}

/// dQ, dK, dV (widened from bf16). `out` came from `attention_fwd`, so it holds bf16 values and
/// rounds back to the bits the forward stored; B·T > 0.
#[allow(clippy::too_many_arguments)]
pub(super) fn attention_bwd(
    be: &CudaBackend,
    dout: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    g: &Geometry,
    scale: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let qkv = Qkv::round(be, q, k, v)?;
    let (out_h, dout_h) = (round(be, out)?, round(be, dout)?);
    let (dq_h, dk_h, dv_h) = (
        scratch(be, q.numel())?,
        scratch(be, k.numel())?,
        scratch(be, v.numel())?,
    );
    let delta = be.zeros(&[g.b, g.h, g.t])?;
    let buf = qkv.buffers(be, &out_h, be.ptr(lse)?);
    let grads = TcGrads {
        dout: be.raw(&dout_h),
        delta: be.ptr(&delta)?,
        dq: be.raw(&dq_h),
        dk: be.raw(&dk_h),
        dv: be.raw(&dv_h),
    };
    // The fused backward's f32 dQ sums (dQ's shape), only when it runs (plan::AttentionBwd);
    // tc_bwd zeroes them on the stream before the kernel.
    let bwd = be.device().attention_bwd()?;
    let dq_acc = if bwd.sums_dq_in_f32() {
        Some(be.uninit(&[q.numel()])?)
    } else {
        None
    };
    let path = TcBwd::new(bwd, dq_acc.as_ref().map(|acc| be.ptr(acc)).transpose()?)?;
    tc_bwd(
        be.device(),
        HalfDtype::Bf16,
        &attn_shape(g),
        &buf,
        &grads,
        scale,
        path,
    )?;
    Ok((
        widen(be, &dq_h, q.shape())?,
        widen(be, &dk_h, k.shape())?,
        widen(be, &dv_h, v.shape())?,
    ))
}
