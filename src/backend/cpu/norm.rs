//! RMSNorm (Llama) and LayerNorm (CodeGen), statistics in f32 as transformers computes them.

use rayon::prelude::*;

use crate::backend::{check, NormSaved};
use crate::error::Result;
use crate::tensor::Tensor;

// x: (M, C), w: (C), out: (M, C), rstd: (M)
pub fn rmsnorm_fwd(x: &Tensor, w: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)> {
    let c = x.last_dim();
    check::len("rmsnorm_fwd", "weight", w, c)?;
    let (xs, ws) = (x.host()?, w.host()?);
    let mut out = vec![0.0f32; xs.len()];
    let mut rstd = vec![0.0f32; x.rows()];
    out.par_chunks_mut(c)
        .zip(xs.par_chunks(c))
        .zip(rstd.par_iter_mut())
        .for_each(|((o, row), r)| {
            let ms = row.iter().map(|v| v * v).sum::<f32>() / c as f32;
            *r = 1.0 / (ms + eps).sqrt();
            for ((o, v), w) in o.iter_mut().zip(row).zip(ws) {
                *o = v * *r * w;
            }
        });
    let rows = x.rows();
    Ok((
        Tensor::from_vec(out, x.shape())?,
        NormSaved {
            mean: None,
            rstd: Tensor::from_vec(rstd, &[rows])?,
        },
    ))
}

// dy, x: (M, C); returns dx (M, C); dw (C) accumulates when given
pub fn rmsnorm_bwd(
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    saved: &NormSaved,
    dw: Option<&mut Tensor>,
) -> Result<Tensor> {
    check::same_shape("rmsnorm_bwd", dy, x)?;
    let c = x.last_dim();
    check::len("rmsnorm_bwd", "weight", w, c)?;
    check::len("rmsnorm_bwd", "rstd", &saved.rstd, x.rows())?;
    let (dys, xs, ws, rs) = (dy.host()?, x.host()?, w.host()?, saved.rstd.host()?);
    let mut dx = vec![0.0f32; xs.len()];
    dx.par_chunks_mut(c)
        .zip(dys.par_chunks(c).zip(xs.par_chunks(c)))
        .zip(rs.par_iter())
        .for_each(|((dx, (dy, x)), &r)| {
            // y = x·r·w with r = (mean(x²)+eps)^-1/2: dx = r·g − x·r³·mean(g·x), g = dy·w
            let dot = dy
                .iter()
                .zip(x)
                .zip(ws)
                .map(|((g, x), w)| g * w * x)
                .sum::<f32>()
                / c as f32;
            for (((d, g), x), w) in dx.iter_mut().zip(dy).zip(x).zip(ws) {
                *d = r * g * w - x * r * r * r * dot;
            }
        });
    if let Some(dw) = dw {
        check::len("rmsnorm_bwd", "dw", dw, c)?;
        let dws = dw.host_mut()?;
        for ((dy, x), &r) in dys.chunks(c).zip(xs.chunks(c)).zip(rs) {
            for ((a, g), x) in dws.iter_mut().zip(dy).zip(x) {
                *a += g * x * r;
            }
        }
    }
    Tensor::from_vec(dx, x.shape())
}

// x: (M, C), w, b: (C), out: (M, C), mean and rstd: (M)
pub fn layernorm_fwd(x: &Tensor, w: &Tensor, b: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)> {
    let c = x.last_dim();
    check::len("layernorm_fwd", "weight", w, c)?;
    check::len("layernorm_fwd", "bias", b, c)?;
    let (xs, ws, bs) = (x.host()?, w.host()?, b.host()?);
    let rows = x.rows();
    let mut out = vec![0.0f32; xs.len()];
    let mut stats = vec![(0.0f32, 0.0f32); rows];
    out.par_chunks_mut(c)
        .zip(xs.par_chunks(c))
        .zip(stats.par_iter_mut())
        .for_each(|((o, row), st)| {
            let mean = row.iter().sum::<f32>() / c as f32;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / c as f32;
            let r = 1.0 / (var + eps).sqrt();
            *st = (mean, r);
            for (((o, v), w), b) in o.iter_mut().zip(row).zip(ws).zip(bs) {
                *o = (v - mean) * r * w + b;
            }
        });
    let (mean, rstd): (Vec<f32>, Vec<f32>) = stats.into_iter().unzip();
    Ok((
        Tensor::from_vec(out, x.shape())?,
        NormSaved {
            mean: Some(Tensor::from_vec(mean, &[rows])?),
            rstd: Tensor::from_vec(rstd, &[rows])?,
        },
    ))
}

// dy, x: (M, C); returns dx; dw, db (C) accumulate when given
pub fn layernorm_bwd(
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    saved: &NormSaved,
    dw: Option<&mut Tensor>,
    db: Option<&mut Tensor>,
) -> Result<Tensor> {
    check::same_shape("layernorm_bwd", dy, x)?;
    let c = x.last_dim();
    check::len("layernorm_bwd", "weight", w, c)?;
    let mean = saved.mean.as_ref().ok_or_else(|| {
        crate::error::Error::shape(
            "layernorm_bwd",
            "saved statistics lack the mean (RMSNorm saved?)",
        )
    })?;
    check::len("layernorm_bwd", "mean", mean, x.rows())?;
    check::len("layernorm_bwd", "rstd", &saved.rstd, x.rows())?;
    let (dys, xs, ws, ms, rs) = (
        dy.host()?,
        x.host()?,
        w.host()?,
        mean.host()?,
        saved.rstd.host()?,
    );
    let mut dx = vec![0.0f32; xs.len()];
    dx.par_chunks_mut(c)
        .zip(dys.par_chunks(c).zip(xs.par_chunks(c)))
        .zip(ms.par_iter().zip(rs.par_iter()))
        .for_each(|((dx, (dy, x)), (&mu, &r))| {
            // xhat = (x−μ)·r, g = dy·w: dx = r·(g − mean(g) − xhat·mean(g·xhat))
            let mut g_mean = 0.0f32;
            let mut gx_mean = 0.0f32;
            for ((g, x), w) in dy.iter().zip(x).zip(ws) {
                g_mean += g * w;
                gx_mean += g * w * (x - mu) * r;
            }
            g_mean /= c as f32;
            gx_mean /= c as f32;
            for (((d, g), x), w) in dx.iter_mut().zip(dy).zip(x).zip(ws) {
                *d = r * (g * w - g_mean - (x - mu) * r * gx_mean);
            }
        });
    if let Some(dw) = dw {
        check::len("layernorm_bwd", "dw", dw, c)?;
        let dws = dw.host_mut()?;
        for ((dy, x), (&mu, &r)) in dys.chunks(c).zip(xs.chunks(c)).zip(ms.iter().zip(rs)) {
            for ((a, g), x) in dws.iter_mut().zip(dy).zip(x) {
                *a += g * (x - mu) * r;
            }
        }
    }
    if let Some(db) = db {
        check::len("layernorm_bwd", "db", db, c)?;
        let dbs = db.host_mut()?;
        for dy in dys.chunks(c) {
            for (a, g) in dbs.iter_mut().zip(dy) {
                *a += g;
            }
        }
    }
    Tensor::from_vec(dx, x.shape())
}
