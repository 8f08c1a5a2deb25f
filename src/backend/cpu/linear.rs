//! Linear layer with a fused adapter (LoRA or IA3), the CPU reference of lora_matmul.cu/ia3.cu.
//! W is frozen: only the input and the adapter get gradients.

use super::gemm::{gemm, Layout};
use crate::backend::dropout::Dropout;
use crate::backend::{check, AdapterGrad, AdapterOp, LinearSaved};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub(crate) struct Dims {
    pub m: usize,
    pub k: usize,
    pub n: usize,
}

pub(crate) fn dims(x: &Tensor, w: &Tensor, adapter: AdapterOp<'_>) -> Result<Dims> {
    if w.shape().len() != 2 {
        return Err(Error::shape(
            "linear",
            format!(
                "input {:?} does not fit weight {:?} (expected (N, {}))",
                x.shape(),
                w.shape(),
                x.last_dim()
            ),
        ));
    }
    dims_of(x, (w.rows(), w.last_dim()), adapter)
}

/// `dims` for a weight of shape (n, k_w) held in any storage (quantized weights).
pub(crate) fn dims_of(
    x: &Tensor,
    (n, k_w): (usize, usize),
    adapter: AdapterOp<'_>,
) -> Result<Dims> {
    let k = x.last_dim();
    if k_w != k {
        return Err(Error::shape(
            "linear",
            format!(
                "input {:?} does not fit weight {:?} (expected (N, {k}))",
                x.shape(),
                [n, k_w]
            ),
        ));
    }
    match adapter {
        AdapterOp::None => {}
        AdapterOp::Lora { a, b, .. } => {
            let r = a.rows();
            if a.shape() != [r, k] || b.shape() != [n, r] {
                return Err(Error::shape(
                    "linear/lora",
                    format!(
                        "lora_A {:?} / lora_B {:?} do not fit a ({n}, {k}) weight",
                        a.shape(),
                        b.shape()
                    ),
                ));
            }
        }
        AdapterOp::Ia3Input { l } => check::len("linear/ia3", "ia3_l (feed-forward)", l, k)?,
        AdapterOp::Ia3Output { l } => check::len("linear/ia3", "ia3_l", l, n)?,
    }
    Ok(Dims { m: x.rows(), k, n })
}

pub(crate) fn out_shape(x: &Tensor, n: usize) -> Vec<usize> {
    let mut s = x.shape().to_vec();
    if let Some(last) = s.last_mut() {
        *last = n;
    }
    s
}

fn dropped(x: &[f32], dropout: Option<Dropout>) -> Vec<f32> {
    match dropout {
        Some(d) if d.p > 0.0 => x
            .iter()
            .enumerate()
            .map(|(i, v)| v * d.factor(i as u64))
            .collect(),
        _ => x.to_vec(),
    }
}

fn add_bias(y: &mut [f32], bias: Option<&Tensor>, n: usize) -> Result<()> {
    if let Some(b) = bias {
        check::len("linear", "bias", b, n)?;
        let bs = b.host()?;
        for row in y.chunks_mut(n) {
            for (v, b) in row.iter_mut().zip(bs) {
                *v += b;
            }
        }
    }
    Ok(())
}

// x: (.., K), w: (N, K), bias: (N), y: (.., N)
pub fn linear_fwd(
    x: &Tensor,
    w: &Tensor,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
) -> Result<(Tensor, LinearSaved)> {
    let Dims { m, k, n } = dims(x, w, adapter)?;
    let (xs, ws) = (x.host()?, w.host()?);
    let mut y = vec![0.0f32; m * n];
    let mut saved = LinearSaved::default();
    match adapter {
        AdapterOp::Ia3Input { l } => {
            let ls = l.host()?;
            let scaled: Vec<f32> = xs
                .chunks(k)
                .flat_map(|row| row.iter().zip(ls).map(|(v, l)| v * l))
                .collect();
            gemm(m, n, k, 1.0, &scaled, Layout::N, ws, Layout::T, 0.0, &mut y);
            add_bias(&mut y, bias, n)?;
        }
        _ => {
            gemm(m, n, k, 1.0, xs, Layout::N, ws, Layout::T, 0.0, &mut y);
            add_bias(&mut y, bias, n)?;
        }
    }
    match adapter {
        AdapterOp::Lora {
            a,
            b,
            scale,
            dropout,
        } => {
            let r = a.rows();
            let xd = dropped(xs, dropout);
            let mut xa = vec![0.0f32; m * r];
            gemm(
                m,
                r,
                k,
                1.0,
                &xd,
                Layout::N,
                a.host()?,
                Layout::T,
                0.0,
                &mut xa,
            );
            gemm(
                m,
                n,
                r,
                scale,
                &xa,
                Layout::N,
                b.host()?,
                Layout::T,
                1.0,
                &mut y,
            );
            saved.xa = Some(Tensor::from_vec(xa, &[m, r])?);
        }
        AdapterOp::Ia3Output { l } => {
            let ls = l.host()?;
            let base = y.clone();
            for row in y.chunks_mut(n) {
                for (v, l) in row.iter_mut().zip(ls) {
                    *v *= l;
                }
            }
            saved.base_out = Some(Tensor::from_vec(base, &[m, n])?);
        }
        AdapterOp::None | AdapterOp::Ia3Input { .. } => {}
    }
    Ok((Tensor::from_vec(y, &out_shape(x, n))?, saved))
}

pub(crate) fn missing(what: &str) -> Error {
    Error::shape(
        "linear_bwd",
        format!("the forward did not save {what} (adapter changed between fwd and bwd?)"),
    )
}

pub(crate) fn grad_mismatch() -> Error {
    Error::shape(
        "linear_bwd",
        "adapter gradient buffers do not match the adapter kind",
    )
}

// dy: (.., N), x: (.., K), w: (N, K); returns dx (.., K); adapter grads accumulate
pub fn linear_bwd(
    dy: &Tensor,
    x: &Tensor,
    w: &Tensor,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
) -> Result<Tensor> {
    let Dims { m, k, n } = dims(x, w, adapter)?;
    check::len("linear_bwd", "dy", dy, m * n)?;
    let (dys, xs, ws) = (dy.host()?, x.host()?, w.host()?);
    let mut dx = vec![0.0f32; m * k];
    match (adapter, grad) {
        (AdapterOp::None, _) => gemm(m, k, n, 1.0, dys, Layout::N, ws, Layout::N, 0.0, &mut dx),
        (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
            check::len("linear_bwd", "dl", dl, k)?;
            gemm(m, k, n, 1.0, dys, Layout::N, ws, Layout::N, 0.0, &mut dx);
            let (ls, dls) = (l.host()?, dl.host_mut()?);
            for (g, x) in dx.chunks_mut(k).zip(xs.chunks(k)) {
                for (((g, x), l), d) in g.iter_mut().zip(x).zip(ls).zip(dls.iter_mut()) {
                    *d += *g * x;
                    *g *= l;
                }
            }
        }
        (AdapterOp::Ia3Output { l }, AdapterGrad::Ia3 { dl }) => {
            check::len("linear_bwd", "dl", dl, n)?;
            let base = saved
                .base_out
                .as_ref()
                .ok_or_else(|| missing("the unscaled output"))?;
            let (ls, dls, bs) = (l.host()?, dl.host_mut()?, base.host()?);
            let mut dyl = dys.to_vec();
            for (row, brow) in dyl.chunks_mut(n).zip(bs.chunks(n)) {
                for (((g, b), l), d) in row.iter_mut().zip(brow).zip(ls).zip(dls.iter_mut()) {
                    *d += *g * b;
                    *g *= l;
                }
            }
            gemm(m, k, n, 1.0, &dyl, Layout::N, ws, Layout::N, 0.0, &mut dx);
        }
        (
            AdapterOp::Lora {
                a,
                b,
                scale,
                dropout,
            },
            AdapterGrad::Lora { da, db },
        ) => {
            let r = a.rows();
            if da.shape() != a.shape() || db.shape() != b.shape() {
                return Err(grad_mismatch());
            }
            let xa = saved.xa.as_ref().ok_or_else(|| missing("x·Aᵀ"))?;
            gemm(m, k, n, 1.0, dys, Layout::N, ws, Layout::N, 0.0, &mut dx);
            let mut dyb = vec![0.0f32; m * r];
            gemm(
                m,
                r,
                n,
                1.0,
                dys,
                Layout::N,
                b.host()?,
                Layout::N,
                0.0,
                &mut dyb,
            );
            // dB += s·dyᵀ·xa ; dA += s·dybᵀ·drop(x) ; dx += s·(dyb·A)⊙mask
            gemm(
                n,
                r,
                m,
                scale,
                dys,
                Layout::T,
                xa.host()?,
                Layout::N,
                1.0,
                db.host_mut()?,
            );
            let xd = dropped(xs, dropout);
            gemm(
                r,
                k,
                m,
                scale,
                &dyb,
                Layout::T,
                &xd,
                Layout::N,
                1.0,
                da.host_mut()?,
            );
            let mut dxa = vec![0.0f32; m * k];
            gemm(
                m,
                k,
                r,
                scale,
                &dyb,
                Layout::N,
                a.host()?,
                Layout::N,
                0.0,
                &mut dxa,
            );
            let dxa = dropped(&dxa, dropout);
            for (d, g) in dx.iter_mut().zip(dxa) {
                *d += g;
            }
        }
        _ => return Err(grad_mismatch()),
    }
    Tensor::from_vec(dx, x.shape())
}
