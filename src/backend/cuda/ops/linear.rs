//! Linear layers with the adapter fused in: kernels/lora_matmul.cu (plain and LoRA) and
//! kernels/ia3.cu (IA3 on the input or the output), f32 instances.
//! The rank sums (dA, dB) split the rows into partial sums that one reduce kernel adds in split
//! order, and IA3's dl column sums run with one row split: sums in a fixed order, runs
//! reproducible bit for bit.

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch};
use super::super::plan::{
    gemm_grid, rank_project_launch, rank_project_tiled, rank_splits, rank_sum_launch, Projection,
    GEMM_THREADS,
};
use crate::backend::cpu::linear::{dims, grad_mismatch, missing, out_shape, Dims};
use crate::backend::dropout::Dropout;
use crate::backend::{check, AdapterGrad, AdapterOp, LinearSaved};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The rank bound of the LoRA entry point that serves rank r (r ≤ 16 or r ≤ 64).
pub(super) fn rank_instance(r: usize) -> Result<usize> {
    match r {
        1..=16 => Ok(16),
        17..=64 => Ok(64),
        _ => Err(Error::Unsupported(format!(
            "LoRA rank {r}: the CUDA kernels serve ranks 1 to 64; use a smaller r or the CPU backend"
        ))),
    }
}

/// Launch of a gemm_core.cuh kernel (also the quantized linears' core) with output rows×cols.
pub(super) fn gemm_cfg(rows: usize, cols: usize) -> cudarc::driver::LaunchConfig {
    cfg(gemm_grid(rows, cols), (GEMM_THREADS, 1, 1))
}

/// xa [m, r] = drop(x)·Aᵀ, the LoRA forward's rank projection (kept for the backward); shared by
/// the dense and the quantized linears.
pub(super) fn project_xa(
    be: &CudaBackend,
    x: &Tensor,
    a: &Tensor,
    dropout: Option<Dropout>,
    m: usize,
    k: usize,
) -> Result<Tensor> {
    let r = a.rows();
    let (p, seed) = dropout.map_or((0.0, 0), |d| (d.p, d.seed));
    let xa = be.zeros(&[m, r])?;
    let tiled = rank_project_tiled(Projection::Xa, m, r);
    let (infix, project) = rank_project_launch(m, r, (k, be.ptr(x)?), tiled);
    let (mi, ki, ri) = (int("linear", m)?, int("linear", k)?, int("linear", r)?);
    launch!(be, LoraMatmul, format!("lora_linear_xa{infix}_f32"), project;
        be.ptr(x)?, be.ptr(a)?, be.ptr(&xa)?, p, seed, mi, ki, ri);
    Ok(xa)
}

/// dl[c] += Σ_r u[r, c]·v[r, c] for u, v [rows, cols] (ia3.cu's column sums, one row split: a
/// fixed order): IA3 output scaling's dl = Σ dY⊙z, on every base storage and precision.
pub(super) fn column_dot(
    be: &CudaBackend,
    op: &'static str,
    u: &Tensor,
    v: &Tensor,
    dl: &Tensor,
    (rows, cols): (usize, usize),
) -> Result<()> {
    check::len(op, "dl", dl, cols)?;
    launch!(be, Ia3, "ia3_out_bwd_dl_f32", cfg((cols.div_ceil(32) as u32, 1, 1), (32, 8, 1));
        be.ptr(u)?, be.ptr(v)?, be.ptr(dl)?, int(op, rows)?, int(op, cols)?);
    Ok(())
}

pub(super) fn sizes(m: usize, n: usize, k: usize) -> Result<(i32, i32, i32)> {
    Ok((int("linear", m)?, int("linear", n)?, int("linear", k)?))
}

pub fn fwd(
    be: &CudaBackend,
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
) -> Result<(Tensor, LinearSaved)> {
    let Dims { m, k, n } = dims(x, w, adapter)?;
    if let Some(b) = bias {
        check::len("linear", "bias", b, n)?;
    }
    let (mi, ni, ki) = sizes(m, n, k)?;
    if m > 0 && n > 0 {
        if let Some(w16) = super::mixed::rounded(be, w)? {
            return super::mixed::linear_fwd(be, x, w16, bias, adapter, (m, n, k));
        }
    }
    let y = be.zeros(&out_shape(x, n))?;
    let mut saved = LinearSaved::default();
    if m == 0 || n == 0 {
        return Ok((y, saved));
    }
    let (xp, wp, bp, yp) = (be.ptr(x)?, be.ptr(w)?, be.opt_ptr(bias)?, be.ptr(&y)?);
    let grid = gemm_cfg(m, n);
    match adapter {
        AdapterOp::None => {
            launch!(be, LoraMatmul, "linear_fwd_f32", grid; xp, wp, bp, yp, mi, ni, ki);
        }
        AdapterOp::Lora {
            a,
            b,
            scale,
            dropout,
        } => {
            let r = a.rows();
            let name = format!("lora_linear_fwd_r{}_f32", rank_instance(r)?);
            let xa = project_xa(be, x, a, dropout, m, k)?;
            launch!(be, LoraMatmul, name, grid;
                xp, wp, bp, be.ptr(&xa)?, be.ptr(b)?, scale, yp, mi, ni, ki, r as i32);
            saved.xa = Some(xa);
        }
        AdapterOp::Ia3Input { l } => {
            launch!(be, Ia3, "ia3_in_fwd_f32", grid; xp, wp, bp, be.ptr(l)?, yp, mi, ni, ki);
        }
        AdapterOp::Ia3Output { l } => {
            let z = be.zeros(&[m, n])?;
            launch!(be, Ia3, "ia3_out_fwd_f32", grid;
                xp, wp, bp, be.ptr(l)?, yp, be.ptr(&z)?, mi, ni, ki);
            saved.base_out = Some(z);
        }
    }
    Ok((y, saved))
}

pub fn bwd(
    be: &CudaBackend,
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
) -> Result<Tensor> {
    let Dims { m, k, n } = dims(x, w, adapter)?;
    check::len("linear_bwd", "dy", dy, m * n)?;
    let (mi, ni, ki) = sizes(m, n, k)?;
    if m > 0 && k > 0 {
        if let Some(w16) = super::mixed::rounded(be, w)? {
            return super::mixed::linear_bwd(be, dy, x, w16, adapter, saved, grad, (m, n, k));
        }
    }
    let dx = be.zeros(x.shape())?;
    if m == 0 || k == 0 {
        return Ok(dx);
    }
    let (dyp, wp, dxp) = (be.ptr(dy)?, be.ptr(w)?, be.ptr(&dx)?);
    let grid = gemm_cfg(m, k);
    match (adapter, grad) {
        (AdapterOp::None, _) => {
            launch!(be, LoraMatmul, "linear_bwd_dx_f32", grid; dyp, wp, dxp, mi, ni, ki);
        }
        (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
            check::len("linear_bwd", "dl", dl, k)?;
            launch!(be, Ia3, "ia3_in_bwd_f32", grid;
                dyp, be.ptr(x)?, wp, be.ptr(l)?, dxp, be.ptr(dl)?, mi, ni, ki);
        }
        (AdapterOp::Ia3Output { l }, AdapterGrad::Ia3 { dl }) => {
            let z = saved
                .base_out
                .as_ref()
                .ok_or_else(|| missing("the unscaled output"))?;
            column_dot(be, "linear_bwd", dy, z, dl, (m, n))?;
            launch!(be, Ia3, "ia3_out_bwd_dx_f32", grid; dyp, wp, be.ptr(l)?, dxp, mi, ni, ki);
        }
        (op @ AdapterOp::Lora { a, scale, .. }, g @ AdapterGrad::Lora { .. }) => {
            LoraBwd::of(op, g)?.run(be, dy, x, saved, (m, n, k), |dyb, rmax, p, seed| {
                launch!(be, LoraMatmul, format!("lora_linear_bwd_dx_r{rmax}_f32"), grid;
                    dyp, wp, be.ptr(dyb)?, be.ptr(a)?, scale, p, seed, dxp, mi, ni, ki, a.rows() as i32);
                Ok(())
            })?;
        }
        _ => return Err(grad_mismatch()),
    }
    Ok(dx)
}

/// The LoRA side of a backward around the caller's fused dX GEMM: dyb = dY·B first, then
/// `dx_gemm(dyb, rank bound, p, seed)` launches the dX kernel of the caller's weight format
/// (16-bit/f32 W or quantized), then dA and dB as split sums added in split order.
pub(super) struct LoraBwd<'a> {
    pub a: &'a Tensor,
    pub b: &'a Tensor,
    pub scale: f32,
    pub dropout: Option<Dropout>,
    pub da: &'a mut Tensor,
    pub db: &'a mut Tensor,
}

impl<'a> LoraBwd<'a> {
    /// The LoRA backward of a linear whose adapter and gradient are both LoRA.
    pub fn of(adapter: AdapterOp<'a>, grad: AdapterGrad<'a>) -> Result<Self> {
        match (adapter, grad) {
            (
                AdapterOp::Lora {
                    a,
                    b,
                    scale,
                    dropout,
                },
                AdapterGrad::Lora { da, db },
            ) => Ok(LoraBwd {
                a,
                b,
                scale,
                dropout,
                da,
                db,
            }),
            _ => Err(grad_mismatch()),
        }
    }

    pub fn run(
        self,
        be: &CudaBackend,
        dy: &Tensor,
        x: &Tensor,
        saved: &LinearSaved,
        (m, n, k): (usize, usize, usize),
        dx_gemm: impl FnOnce(&Tensor, usize, f32, u64) -> Result<()>,
    ) -> Result<()> {
        let r = self.a.rows();
        if self.da.shape() != self.a.shape() || self.db.shape() != self.b.shape() {
            return Err(grad_mismatch());
        }
        let xa = saved.xa.as_ref().ok_or_else(|| missing("x·Aᵀ"))?;
        let rmax = rank_instance(r)?;
        let (p, seed) = self.dropout.map_or((0.0, 0), |d| (d.p, d.seed));
        let (mi, ni, ki) = sizes(m, n, k)?;
        let ri = r as i32;
        let dyp = be.ptr(dy)?;
        let dyb = be.zeros(&[m, r])?;
        let tiled = rank_project_tiled(Projection::Dyb, m, r);
        let (infix, project) = rank_project_launch(m, r, (n, dyp), tiled);
        launch!(be, LoraMatmul, format!("lora_linear_bwd_dyb{infix}_f32"), project;
            dyp, be.ptr(self.b)?, be.ptr(&dyb)?, mi, ni, ri);
        dx_gemm(&dyb, rmax, p, seed)?;
        let (splits, rows) = rank_splits(m, k.max(n), r);
        let partial = be.zeros(&[splits, k.max(n), r])?;
        let (pp, zi, rows_i) = (be.ptr(&partial)?, splits as i32, rows as i32);
        let scale = self.scale;
        let xp = be.ptr(x)?;
        let (infix, sums) = rank_sum_launch((k, xp), r, splits);
        launch!(be, LoraMatmul, format!("lora_linear_bwd_dA_split{infix}_f32"), sums;
            xp, be.ptr(&dyb)?, pp, p, seed, mi, ki, ri, rows_i);
        launch!(be, LoraMatmul, "lora_rank_reduce", cfg(((k * r).div_ceil(256) as u32, 1, 1), (256, 1, 1));
            pp, be.ptr(self.da)?, scale, zi, ki, ri, 1i32, ki);
        let (infix, sums) = rank_sum_launch((n, dyp), r, splits);
        launch!(be, LoraMatmul, format!("lora_linear_bwd_dB_split{infix}_f32"), sums;
            dyp, be.ptr(xa)?, pp, mi, ni, ri, rows_i);
        launch!(be, LoraMatmul, "lora_rank_reduce", cfg(((n * r).div_ceil(256) as u32, 1, 1), (256, 1, 1));
            pp, be.ptr(self.db)?, scale, zi, ni, ri, ri, 1i32);
        Ok(())
    }
}
