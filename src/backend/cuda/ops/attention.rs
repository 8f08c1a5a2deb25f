//! Causal flash-style attention with GQA and a KV offset (S ≥ T): kernels/attention.cu, f32
//! instances for head dims 16, 32, 64, 128 and 256. Tiles come from plan::attention_tiles.

use super::super::backend::CudaBackend;
use super::super::kernels::KernelModule;
use super::super::launch::{cfg, int, launch};
use super::super::plan::{attention_tiles, ATTENTION_THREADS};
use crate::backend::check;
use crate::backend::cpu::attention::Geometry;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn head_dim(d: usize) -> Result<usize> {
    match d {
        16 | 32 | 64 | 128 | 256 => Ok(d),
        _ => Err(Error::Unsupported(format!(
            "attention head dim {d}: the CUDA kernels are built for 16, 32, 64, 128 and 256; use the CPU backend for this model"
        ))),
    }
}

/// The tiny models' head dims live in their own module (attention_small.cu), off the hot path.
fn module(d: usize) -> KernelModule {
    if d < 64 {
        KernelModule::AttentionSmall
    } else {
        KernelModule::Attention
    }
}

fn grid(rows: usize, per_block: usize, heads: usize, batch: usize) -> cudarc::driver::LaunchConfig {
    cfg(
        (
            rows.div_ceil(per_block).max(1) as u32,
            heads as u32,
            batch as u32,
        ),
        (ATTENTION_THREADS, 1, 1),
    )
}

pub fn fwd(
    be: &CudaBackend,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f32,
) -> Result<(Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    let d = head_dim(g.d)?;
    let out = be.zeros(q.shape())?;
    let lse = be.zeros(&[g.b, g.h, g.t])?;
    if g.b * g.t == 0 {
        return Ok((out, lse));
    }
    let tiles = attention_tiles(4, d);
    let (t, s, h, hkv) = (
        int("attention", g.t)?,
        int("attention", g.s)?,
        g.h as i32,
        g.hkv as i32,
    );
    launch!(@module be, module(d), format!("attention_fwd_d{d}_f32"), grid(g.t, tiles.fwd_q, g.h, g.b);
        be.ptr(q)?, be.ptr(k)?, be.ptr(v)?, be.ptr(&out)?, be.ptr(&lse)?, t, s, h, hkv, scale);
    Ok((out, lse))
}

#[allow(clippy::too_many_arguments)]
pub fn bwd(
    be: &CudaBackend,
    dout: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    scale: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    let d = head_dim(g.d)?;
    check::same_shape("attention_bwd", dout, q)?;
    check::same_shape("attention_bwd", out, q)?;
    check::len("attention_bwd", "lse", lse, g.b * g.h * g.t)?;
    let (dq, dk, dv) = (
        be.zeros(q.shape())?,
        be.zeros(k.shape())?,
        be.zeros(v.shape())?,
    );
    if g.b * g.t == 0 {
        return Ok((dq, dk, dv));
    }
    let tiles = attention_tiles(4, d);
    let (t, s, h, hkv) = (
        int("attention", g.t)?,
        int("attention", g.s)?,
        g.h as i32,
        g.hkv as i32,
    );
    let delta = be.zeros(&[g.b, g.h, g.t])?;
    let rows = g.b * g.t * g.h;
    launch!(be, Attention, "attention_bwd_delta_f32", cfg((rows.div_ceil(4) as u32, 1, 1), (128, 1, 1));
        be.ptr(out)?, be.ptr(dout)?, be.ptr(&delta)?, g.b as i32, t, h, d as i32);
    let (qp, kp, vp, dop, lp, dp) = (
        be.ptr(q)?,
        be.ptr(k)?,
        be.ptr(v)?,
        be.ptr(dout)?,
        be.ptr(lse)?,
        be.ptr(&delta)?,
    );
    launch!(@module be, module(d), format!("attention_bwd_dq_d{d}_f32"), grid(g.t, tiles.dq_q, g.h, g.b);
        qp, kp, vp, dop, lp, dp, be.ptr(&dq)?, t, s, h, hkv, scale);
    launch!(@module be, module(d), format!("attention_bwd_dkv_d{d}_f32"), grid(g.s, tiles.dkv_k, g.hkv, g.b);
        qp, kp, vp, dop, lp, dp, be.ptr(&dk)?, be.ptr(&dv)?, t, s, h, hkv, scale);
    Ok((dq, dk, dv))
}
