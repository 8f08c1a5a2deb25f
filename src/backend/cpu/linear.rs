//! Linear layer with a fused adapter (LoRA or IA3), the CPU reference of lora_matmul.cu/ia3.cu.
//! W is frozen: only the input and the adapter get gradients.

use rayon::prelude::*;

use super::gemm::{gemm, Layout};
use crate::backend::dropout::Dropout;
use crate::backend::{check, AdapterGrad, AdapterOp, LinearSaved};
use crate::error::{Error, Result};
use crate::quant::decode::{RangeDecoder, BLOCK_VALUES as DECODED_BLOCK_VALUES};
use crate::quant::BaseWeight;
use crate::tensor::Tensor;

/// The frozen weight W (N, K) as the base GEMMs read it.
enum Frozen<'a> {
    /// f32 values, read in place.
    Dense(&'a [f32]),
    /// bf16 / int8 / nf4 on the host: decoded a block of rows (forward) or columns (dX) at a
    /// time. Each output element reduces over the same full K (or N) in the same order as the
    /// dense GEMM, so the results equal the fully decoded weight's bit for bit.
    Compact(RangeDecoder<'a>),
}

impl<'a> Frozen<'a> {
    /// f32 weights in place, any other storage through a block decoder.
    fn of(w: &'a BaseWeight) -> Result<Self> {
        Ok(match w.as_f32() {
            Some(t) => Frozen::Dense(t.host()?),
            None => Frozen::Compact(RangeDecoder::new(w)?),
        })
    }

    /// y (m, n) = a (m, k) · Wᵀ.
    fn xwt(&self, m: usize, n: usize, k: usize, a: &[f32], y: &mut [f32]) -> Result<()> {
        let d = match self {
            Frozen::Dense(w) => {
                gemm(m, n, k, 1.0, a, Layout::N, w, Layout::T, 0.0, y);
                return Ok(());
            }
            Frozen::Compact(d) => d,
        };
        let nb = (DECODED_BLOCK_VALUES / k.max(1)).clamp(1, n.max(1));
        let (mut wb, mut yb) = (vec![0f32; nb * k], vec![0f32; m * nb]);
        for n0 in (0..n).step_by(nb) {
            let bn = nb.min(n - n0);
            wb[..bn * k]
                .par_chunks_mut(k)
                .enumerate()
                .try_for_each(|(row, part)| d.decode((n0 + row) * k, part))?;
            gemm(
                m,
                bn,
                k,
                1.0,
                a,
                Layout::N,
                &wb[..bn * k],
                Layout::T,
                0.0,
                &mut yb[..m * bn],
            );
            for (row, part) in y.chunks_mut(n).zip(yb.chunks(bn)) {
                row[n0..n0 + bn].copy_from_slice(part);
            }
        }
        Ok(())
    }

    /// dx (m, k) = dy (m, n) · W.
    fn dyw(&self, m: usize, n: usize, k: usize, dy: &[f32], dx: &mut [f32]) -> Result<()> {
        let d = match self {
            Frozen::Dense(w) => {
                gemm(m, k, n, 1.0, dy, Layout::N, w, Layout::N, 0.0, dx);
                return Ok(());
            }
            Frozen::Compact(d) => d,
        };
        let kb = (DECODED_BLOCK_VALUES / n.max(1)).clamp(1, k.max(1));
        let (mut wb, mut xb) = (vec![0f32; n * kb], vec![0f32; m * kb]);
        for k0 in (0..k).step_by(kb) {
            let bk = kb.min(k - k0);
            wb[..n * bk]
                .par_chunks_mut(bk)
                .enumerate()
                .try_for_each(|(row, part)| d.decode(row * k + k0, part))?;
            gemm(
                m,
                bk,
                n,
                1.0,
                dy,
                Layout::N,
                &wb[..n * bk],
                Layout::N,
                0.0,
                &mut xb[..m * bk],
            );
            for (row, part) in dx.chunks_mut(k).zip(xb.chunks(bk)) {
                row[k0..k0 + bk].copy_from_slice(part);
            }
        }
        Ok(())
    }
}

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
    let dims = dims(x, w, adapter)?;
    fwd(x, Frozen::Dense(w.host()?), dims, bias, adapter)
}

/// `linear_fwd` over a host weight in any storage, decoded block by block (exact).
pub fn compact_linear_fwd(
    x: &Tensor,
    w: &BaseWeight,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
) -> Result<(Tensor, LinearSaved)> {
    let dims = dims_of(x, (w.rows(), w.cols()), adapter)?;
    fwd(x, Frozen::of(w)?, dims, bias, adapter)
}

fn fwd(
    x: &Tensor,
    w: Frozen<'_>,
    Dims { m, k, n }: Dims,
    bias: Option<&Tensor>,
    adapter: AdapterOp<'_>,
) -> Result<(Tensor, LinearSaved)> {
    let xs = x.host()?;
    let mut y = vec![0.0f32; m * n];
    let mut saved = LinearSaved::default();
    match adapter {
        AdapterOp::Ia3Input { l } => {
            w.xwt(m, n, k, &scale_cols(xs, l.host()?), &mut y)?;
            add_bias(&mut y, bias, n)?;
        }
        _ => {
            w.xwt(m, n, k, xs, &mut y)?;
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
            let base = std::mem::take(&mut y);
            y = scale_cols(&base, l.host()?);
            saved.base_out = Some(Tensor::from_vec(base, &[m, n])?);
        }
        AdapterOp::None | AdapterOp::Ia3Input { .. } => {}
    }
    Ok((Tensor::from_vec(y, &out_shape(x, n))?, saved))
}

/// x ⊙ l along the last dim (rows of l.len() values): IA3's scaling.
pub(crate) fn scale_cols(x: &[f32], l: &[f32]) -> Vec<f32> {
    x.chunks(l.len().max(1))
        .flat_map(|row| row.iter().zip(l).map(|(v, l)| v * l))
        .collect()
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
    let dims = dims(x, w, adapter)?;
    bwd(dy, x, Frozen::Dense(w.host()?), dims, adapter, saved, grad)
}

/// `linear_bwd` over a host weight in any storage, decoded block by block (exact).
pub fn compact_linear_bwd(
    dy: &Tensor,
    x: &Tensor,
    w: &BaseWeight,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
) -> Result<Tensor> {
    let dims = dims_of(x, (w.rows(), w.cols()), adapter)?;
    bwd(dy, x, Frozen::of(w)?, dims, adapter, saved, grad)
}

fn bwd(
    dy: &Tensor,
    x: &Tensor,
    w: Frozen<'_>,
    Dims { m, k, n }: Dims,
    adapter: AdapterOp<'_>,
    saved: &LinearSaved,
    grad: AdapterGrad<'_>,
) -> Result<Tensor> {
    check::len("linear_bwd", "dy", dy, m * n)?;
    let (dys, xs) = (dy.host()?, x.host()?);
    let mut dx = vec![0.0f32; m * k];
    match (adapter, grad) {
        (AdapterOp::None, _) => w.dyw(m, n, k, dys, &mut dx)?,
        (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
            check::len("linear_bwd", "dl", dl, k)?;
            w.dyw(m, n, k, dys, &mut dx)?;
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
            w.dyw(m, n, k, &dyl, &mut dx)?;
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
            w.dyw(m, n, k, dys, &mut dx)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{BaseDtype, QuantRequest};

    fn tensor(shape: &[usize], salt: usize) -> Tensor {
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|i| ((i * 7919 + salt * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect();
        Tensor::from_vec(v, shape).unwrap()
    }

    fn bits(t: &Tensor) -> Vec<u32> {
        t.host().unwrap().iter().map(|v| v.to_bits()).collect()
    }

    #[test]
    fn block_decoded_weights_give_the_fully_decoded_results_bit_for_bit() {
        // About 1.5 blocks of weights: two row blocks in the forward, two column blocks in dX.
        let (m, k, r) = (3, 2000, 4);
        let n = DECODED_BLOCK_VALUES * 3 / 2 / k;
        assert!(n * k > DECODED_BLOCK_VALUES && n * k < 2 * DECODED_BLOCK_VALUES);
        let mut w = tensor(&[n, k], 1);
        w.host_mut()
            .unwrap()
            .iter_mut()
            .for_each(|v| *v = half::bf16::from_f32(*v * 0.05).to_f32());
        let (x, dy) = (tensor(&[m, k], 2), tensor(&[m, n], 3));
        let (a, b, bias) = (tensor(&[r, k], 4), tensor(&[n, r], 5), tensor(&[n], 6));
        for dtype in [BaseDtype::Bf16, BaseDtype::Int8, BaseDtype::Nf4] {
            let q = BaseWeight::quantize(w.clone(), QuantRequest::new(dtype, false)).unwrap();
            assert_ne!(q.kind(), "f32");
            let dense = q.dequantize().unwrap();
            let op = AdapterOp::Lora {
                a: &a,
                b: &b,
                scale: 2.0,
                dropout: Some(Dropout { p: 0.1, seed: 9 }),
            };
            let (y1, s1) = compact_linear_fwd(&x, &q, Some(&bias), op).unwrap();
            let (y2, s2) = linear_fwd(&x, &dense, Some(&bias), op).unwrap();
            assert_eq!(bits(&y1), bits(&y2), "{} y", q.kind());
            let run_bwd = |s: &LinearSaved, compact: bool| {
                let (mut da, mut db) = (Tensor::zeros(&[r, k]), Tensor::zeros(&[n, r]));
                let grad = AdapterGrad::Lora {
                    da: &mut da,
                    db: &mut db,
                };
                let dx = if compact {
                    compact_linear_bwd(&dy, &x, &q, op, s, grad)
                } else {
                    linear_bwd(&dy, &x, &dense, op, s, grad)
                };
                (dx.unwrap(), da, db)
            };
            let ((dx1, da1, db1), (dx2, da2, db2)) = (run_bwd(&s1, true), run_bwd(&s2, false));
            assert_eq!(bits(&dx1), bits(&dx2), "{} dx", q.kind());
            assert_eq!(bits(&da1), bits(&da2), "{} dA", q.kind());
            assert_eq!(bits(&db1), bits(&db2), "{} dB", q.kind());
        }
    }
}
