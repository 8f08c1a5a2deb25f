//! Residual adds and column gathers (CodeGen's fused qkv split).

use crate::backend::check;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub fn add(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check::same_shape("add", a, b)?;
    let data = a
        .host()?
        .iter()
        .zip(b.host()?)
        .map(|(x, y)| x + y)
        .collect();
    Tensor::from_vec(data, a.shape())
}

pub fn add_assign(acc: &mut Tensor, x: &Tensor) -> Result<()> {
    check::same_shape("add_assign", acc, x)?;
    for (a, b) in acc.host_mut()?.iter_mut().zip(x.host()?) {
        *a += b;
    }
    Ok(())
}

pub(crate) fn check_idx(op: &'static str, idx: &[u32], k: usize) -> Result<()> {
    match idx.iter().find(|&&i| i as usize >= k) {
        Some(i) => Err(Error::shape(
            op,
            format!("column index {i} out of range for {k} columns"),
        )),
        None => Ok(()),
    }
}

// x: (M, K), out: (M, J) with J = idx.len()
pub fn gather_cols(x: &Tensor, idx: &[u32]) -> Result<Tensor> {
    let k = x.last_dim();
    check_idx("gather_cols", idx, k)?;
    let xs = x.host()?;
    let rows = x.rows();
    let mut out = Vec::with_capacity(rows * idx.len());
    for r in 0..rows {
        let row = &xs[r * k..(r + 1) * k];
        out.extend(idx.iter().map(|&i| row[i as usize]));
    }
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = idx.len();
    }
    Tensor::from_vec(out, &shape)
}

// dx: (M, K) accumulated, dout: (M, J)
pub fn scatter_cols_add(dx: &mut Tensor, dout: &Tensor, idx: &[u32]) -> Result<()> {
    let k = dx.last_dim();
    check_idx("scatter_cols_add", idx, k)?;
    check::scatter_cols(dx, dout, idx)?;
    let j = idx.len();
    let ds = dout.host()?.to_vec();
    let dxs = dx.host_mut()?;
    for (r, drow) in ds.chunks(j).enumerate() {
        let row = &mut dxs[r * k..(r + 1) * k];
        for (&i, &g) in idx.iter().zip(drow) {
            row[i as usize] += g;
        }
    }
    Ok(())
}

// a: (B, S1, H, D), b: (B, S2, H, D), out: (B, S1+S2, H, D)
pub fn cat_seq(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ba, sa, sb, ha, da) = check::cat_seq(a, b)?;
    let (row, xa, xb) = (ha * da, a.host()?, b.host()?);
    let mut out = Vec::with_capacity(xa.len() + xb.len());
    for i in 0..ba {
        out.extend_from_slice(&xa[i * sa * row..(i + 1) * sa * row]);
        out.extend_from_slice(&xb[i * sb * row..(i + 1) * sb * row]);
    }
    Tensor::from_vec(out, &[ba, sa + sb, ha, da])
}
