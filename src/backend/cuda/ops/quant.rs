//! Linear layers over compact frozen weights (bf16, int8, NF4, NF4 + double quant) with the adapter
//! fused: kernels/quant_dequant.cu (f32 instances) decodes the weight tile by tile in shared
//! memory. The rank projections and sums that never touch W (LoRA xa, dyb, dA, dB; IA3's output
//! dl) are lora_matmul.cu's and ia3.cu's kernels, launched as ops/linear.rs launches them.
//! Same semantics, saved tensors and accumulation as `linear`; dX only (the base is frozen).

use super::super::backend::CudaBackend;
use super::super::launch::{int, launch, KArg, NULL};
use super::super::quant_storage::QuantDeviceWeight;
use super::linear::{column_dot, gemm_cfg, project_xa, rank_instance, LoraBwd};
use crate::backend::cpu::linear::{dims_of, grad_mismatch, missing, out_shape, Dims};
use crate::backend::{check, AdapterGrad, AdapterOp, LinearSaved};
use crate::error::{Error, Result};
use crate::quant::BaseWeight;
use crate::tensor::Tensor;

/// The seven weight arguments every quant_dequant.cu / quant_tc.cu entry point takes (QW_PARAMS).
pub(super) struct QArgs {
    q: u64,
    scale: u64,
    qscale: u64,
    map: u64,
    levels: u64,
    offset: f32,
    nested: i32,
    /// "nf4", "int8" or "bf16": the kernels' instance suffix.
    pub(super) fmt: &'static str,
}

impl QArgs {
    /// In QW_PARAMS order.
    pub(super) fn args(&self) -> Vec<KArg> {
        vec![
            self.q.into(),
            self.scale.into(),
            self.qscale.into(),
            self.map.into(),
            self.levels.into(),
            self.offset.into(),
            self.nested.into(),
        ]
    }
}

pub(super) fn qargs(be: &CudaBackend, w: &QuantDeviceWeight) -> Result<QArgs> {
    let b = &w.bufs;
    Ok(QArgs {
        q: be.raw(&b.q),
        scale: b.scale.as_ref().map_or(NULL, |s| be.raw(s)),
        qscale: b.qscale.as_ref().map_or(NULL, |s| be.raw(s)),
        map: b.map.as_ref().map_or(NULL, |s| be.raw(s)),
        levels: b.levels.as_ref().map_or(NULL, |s| be.raw(s)),
        offset: w.offset,
        nested: int("quant_linear", w.nested_block)?,
        fmt: w.format.kernel_suffix(),
    })
}

/// The device weight, or an error naming how a host weight should have reached the GPU.
fn device_weight(w: &BaseWeight) -> Result<&QuantDeviceWeight> {
    match w {
        BaseWeight::Cuda(q) => Ok(q),
        other => Err(Error::Unsupported(format!(
            "a host {} weight was passed to the CUDA backend: move it with `be.upload_base(w)` first",
            other.kind()
        ))),
    }
}

fn sizes(m: usize, n: usize, k: usize) -> Result<(i32, i32, i32)> {
    Ok((
        int("quant_linear", m)?,
        int("quant_linear", n)?,
        int("quant_linear", k)?,
    ))
}

pub fn fwd(
    be: &CudaBackend,
    x: &Tensor,
    w: &BaseWeight,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
) -> Result<(Tensor, LinearSaved)> {
    if let BaseWeight::F32(t) = w {
        return super::linear::fwd(be, x, t, bias, adapter);
    }
    let qw = device_weight(w)?;
    let Dims { m, k, n } = dims_of(x, (qw.rows, qw.cols), adapter)?;
    if let Some(b) = bias {
        check::len("quant_linear", "bias", b, n)?;
    }
    let (mi, ni, ki) = sizes(m, n, k)?;
    if m > 0 && n > 0 {
        if let Some(w16) = super::mixed::held(be, qw) {
            return super::mixed::linear_fwd(be, x, w16, bias, adapter, (m, n, k));
        }
    }
    let y = be.zeros(&out_shape(x, n))?;
    let mut saved = LinearSaved::default();
    if m == 0 || n == 0 {
        return Ok((y, saved));
    }
    let q = qargs(be, qw)?;
    let f = q.fmt;
    let (xp, bp, yp) = (be.ptr(x)?, be.opt_ptr(bias)?, be.ptr(&y)?);
    let grid = gemm_cfg(m, n);
    match adapter {
        AdapterOp::None => {
            launch!(be, QuantDequant, format!("qlinear_fwd_{f}_f32"), grid;
                xp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested, bp, yp, mi, ni, ki);
        }
        AdapterOp::Lora {
            a,
            b,
            scale,
            dropout,
        } => {
            let r = a.rows();
            let name = format!("qlora_fwd_r{}_{f}_f32", rank_instance(r)?);
            let xa = project_xa(be, x, a, dropout, m, k)?;
            launch!(be, QuantDequant, name, grid;
                xp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                bp, be.ptr(&xa)?, be.ptr(b)?, scale, yp, mi, ni, ki, r as i32);
            saved.xa = Some(xa);
        }
        AdapterOp::Ia3Input { l } => {
            launch!(be, QuantDequant, format!("qia3_in_fwd_{f}_f32"), grid;
                xp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                bp, be.ptr(l)?, yp, mi, ni, ki);
        }
        AdapterOp::Ia3Output { l } => {
            let z = be.zeros(&[m, n])?;
            launch!(be, QuantDequant, format!("qia3_out_fwd_{f}_f32"), grid;
                xp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                bp, be.ptr(l)?, yp, be.ptr(&z)?, mi, ni, ki);
            saved.base_out = Some(z);
        }
    }
    Ok((y, saved))
}

pub fn bwd(
    be: &CudaBackend,
    dy: &Tensor,
    x: &Tensor,
    w: &BaseWeight,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
) -> Result<Tensor> {
    if let BaseWeight::F32(t) = w {
        return super::linear::bwd(be, dy, x, t, adapter, saved, grad);
    }
    let qw = device_weight(w)?;
    let Dims { m, k, n } = dims_of(x, (qw.rows, qw.cols), adapter)?;
    check::len("quant_linear_bwd", "dy", dy, m * n)?;
    let (mi, ni, ki) = sizes(m, n, k)?;
    if m > 0 && k > 0 {
        if let Some(w16) = super::mixed::held(be, qw) {
            return super::mixed::linear_bwd(be, dy, x, w16, adapter, saved, grad, (m, n, k));
        }
    }
    let dx = be.zeros(x.shape())?;
    if m == 0 || k == 0 {
        return Ok(dx);
    }
    let q = qargs(be, qw)?;
    let f = q.fmt;
    let (dyp, dxp) = (be.ptr(dy)?, be.ptr(&dx)?);
    let grid = gemm_cfg(m, k);
    match (adapter, grad) {
        (AdapterOp::None, _) => {
            launch!(be, QuantDequant, format!("qlinear_bwd_dx_{f}_f32"), grid;
                dyp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested, dxp, mi, ni, ki);
        }
        (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
            check::len("quant_linear_bwd", "dl", dl, k)?;
            launch!(be, QuantDequant, format!("qia3_in_bwd_{f}_f32"), grid;
                dyp, be.ptr(x)?, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                be.ptr(l)?, dxp, be.ptr(dl)?, mi, ni, ki);
        }
        (AdapterOp::Ia3Output { l }, AdapterGrad::Ia3 { dl }) => {
            let z = saved
                .base_out
                .as_ref()
                .ok_or_else(|| missing("the unscaled output"))?;
            column_dot(be, "quant_linear_bwd", dy, z, dl, (m, n))?;
            launch!(be, QuantDequant, format!("qia3_out_bwd_dx_{f}_f32"), grid;
                dyp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                be.ptr(l)?, dxp, mi, ni, ki);
        }
        (op @ AdapterOp::Lora { a, scale, .. }, g @ AdapterGrad::Lora { .. }) => {
            LoraBwd::of(op, g)?.run(be, dy, x, saved, (m, n, k), |dyb, rmax, p, seed| {
                launch!(be, QuantDequant, format!("qlora_bwd_dx_r{rmax}_{f}_f32"), grid;
                    dyp, q.q, q.scale, q.qscale, q.map, q.levels, q.offset, q.nested,
                    be.ptr(dyb)?, be.ptr(a)?, scale, p, seed, dxp, mi, ni, ki, a.rows() as i32);
                Ok(())
            })?;
        }
        _ => return Err(grad_mismatch()),
    }
    Ok(dx)
}
