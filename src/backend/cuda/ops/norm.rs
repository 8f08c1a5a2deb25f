//! RMSNorm (no bias) and LayerNorm (with bias), forward and backward: kernels/norm.cu (f32).
//! The weight gradients use one row block (grid.y = 1), so their sums have a fixed order and a
//! run is reproducible bit for bit; the norms' weights are frozen in LoRA/IA3 training anyway.

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch, NULL};
use crate::backend::{check, NormSaved};
use crate::error::Result;
use crate::tensor::Tensor;

const THREADS: u32 = 256;

pub fn fwd(
    be: &CudaBackend,
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    eps: f32,
) -> Result<(Tensor, NormSaved)> {
    let op = if b.is_some() {
        "layernorm_fwd"
    } else {
        "rmsnorm_fwd"
    };
    let (rows, c) = (x.rows(), x.last_dim());
    check::len(op, "weight", w, c)?;
    if let Some(b) = b {
        check::len(op, "bias", b, c)?;
    }
    let (m, ci) = (int(op, rows)?, int(op, c)?);
    let y = be.zeros(x.shape())?;
    let rstd = be.zeros(&[rows])?;
    let grid = cfg((rows.max(1) as u32, 1, 1), (THREADS, 1, 1));
    if rows == 0 {
        return Ok((y, NormSaved { mean: None, rstd }));
    }
    match b {
        None => {
            launch!(be, Norm, "rmsnorm_fwd_f32", grid;
                be.ptr(x)?, be.ptr(w)?, be.ptr(&y)?, be.ptr(&rstd)?, m, ci, eps);
            Ok((y, NormSaved { mean: None, rstd }))
        }
        Some(b) => {
            let mean = be.zeros(&[rows])?;
            launch!(be, Norm, "layernorm_fwd_f32", grid;
                be.ptr(x)?, be.ptr(w)?, be.ptr(b)?, be.ptr(&y)?, be.ptr(&mean)?, be.ptr(&rstd)?, m, ci, eps);
            Ok((
                y,
                NormSaved {
                    mean: Some(mean),
                    rstd,
                },
            ))
        }
    }
}

pub fn bwd(
    be: &CudaBackend,
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    saved: &NormSaved,
    dw: Option<&mut Tensor>,
    db: Option<&mut Tensor>,
) -> Result<Tensor> {
    let layer = saved.mean.is_some();
    let op = if layer {
        "layernorm_bwd"
    } else {
        "rmsnorm_bwd"
    };
    check::same_shape(op, dy, x)?;
    let (rows, c) = (x.rows(), x.last_dim());
    check::len(op, "weight", w, c)?;
    check::len(op, "rstd", &saved.rstd, rows)?;
    if let Some(mean) = &saved.mean {
        check::len(op, "mean", mean, rows)?;
    }
    let dx = be.zeros(x.shape())?;
    if rows == 0 {
        return Ok(dx);
    }
    let (m, ci) = (int(op, rows)?, int(op, c)?);
    let grid = cfg((rows as u32, 1, 1), (THREADS, 1, 1));
    if let Some(mean) = &saved.mean {
        launch!(be, Norm, "layernorm_bwd_f32", grid;
            be.ptr(dy)?, be.ptr(x)?, be.ptr(w)?, be.ptr(mean)?, be.ptr(&saved.rstd)?, be.ptr(&dx)?, m, ci);
    } else {
        launch!(be, Norm, "rmsnorm_bwd_f32", grid;
            be.ptr(dy)?, be.ptr(x)?, be.ptr(w)?, be.ptr(&saved.rstd)?, be.ptr(&dx)?, m, ci);
    }
    if dw.is_some() || db.is_some() {
        let dw_ptr = match &dw {
            Some(t) => {
                check::len(op, "dw", t, c)?;
                be.ptr(t)?
            }
            None => {
                return Err(crate::error::Error::shape(
                    op,
                    "db without dw is not supported",
                ))
            }
        };
        let db_ptr = match &db {
            Some(t) => {
                check::len(op, "db", t, c)?;
                be.ptr(t)?
            }
            None => NULL,
        };
        let mean_ptr = be.opt_ptr(saved.mean.as_ref())?;
        launch!(be, Norm, "norm_bwd_dw_f32", cfg((c.div_ceil(32) as u32, 1, 1), (32, 8, 1));
            be.ptr(dy)?, be.ptr(x)?, mean_ptr, be.ptr(&saved.rstd)?, dw_ptr, db_ptr, m, ci);
    }
    Ok(dx)
}
