//! add, add_assign, cat_seq, gather_cols, scatter_cols_add: kernels/elementwise.cu (f32).

use super::super::backend::CudaBackend;
use super::super::launch::{launch, stride_cfg};
use crate::backend::check;
use crate::backend::cpu::elementwise::check_idx;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub fn add(be: &CudaBackend, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    check::same_shape("add", a, b)?;
    let out = be.zeros(a.shape())?;
    let n = a.numel() as i64;
    launch!(be, Elementwise, "add_f32", stride_cfg(a.numel()); be.ptr(a)?, be.ptr(b)?, be.ptr(&out)?, n);
    Ok(out)
}

pub fn add_assign(be: &CudaBackend, acc: &mut Tensor, x: &Tensor) -> Result<()> {
    check::same_shape("add_assign", acc, x)?;
    let n = x.numel() as i64;
    launch!(be, Elementwise, "add_assign_f32", stride_cfg(x.numel()); be.ptr(acc)?, be.ptr(x)?, n);
    Ok(())
}

pub fn cat_seq(be: &CudaBackend, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (ba, sa, sb, ha, da) = check::cat_seq(a, b)?;
    let out = be.zeros(&[ba, sa + sb, ha, da])?;
    launch!(be, Elementwise, "cat_seq_f32", stride_cfg(out.numel());
        be.ptr(a)?, be.ptr(b)?, be.ptr(&out)?, ba as i64, sa as i64, sb as i64, (ha * da) as i64);
    Ok(out)
}

fn indices(idx: &[u32]) -> Vec<i32> {
    idx.iter().map(|&i| i as i32).collect()
}

pub fn gather_cols(be: &CudaBackend, x: &Tensor, idx: &[u32]) -> Result<Tensor> {
    let k = x.last_dim();
    check_idx("gather_cols", idx, k)?;
    let mut shape = x.shape().to_vec();
    if let Some(last) = shape.last_mut() {
        *last = idx.len();
    }
    let out = be.zeros(&shape)?;
    let dev_idx = be.upload_i32(&indices(idx))?;
    launch!(be, Elementwise, "gather_cols_f32", stride_cfg(out.numel());
        be.ptr(x)?, be.raw(&dev_idx), be.ptr(&out)?, x.rows() as i64, k as i64, idx.len() as i64);
    Ok(out)
}

pub fn scatter_cols_add(
    be: &CudaBackend,
    dx: &mut Tensor,
    dout: &Tensor,
    idx: &[u32],
) -> Result<()> {
    let k = dx.last_dim();
    check_idx("scatter_cols_add", idx, k)?;
    check::scatter_cols(dx, dout, idx)?;
    // The kernel adds without atomics: two equal indices would race.
    let mut seen = vec![false; k];
    if let Some(&dup) = idx
        .iter()
        .find(|&&i| std::mem::replace(&mut seen[i as usize], true))
    {
        return Err(Error::shape(
            "scatter_cols_add",
            format!("column index {dup} appears twice; the CUDA kernel needs distinct indices"),
        ));
    }
    let dev_idx = be.upload_i32(&indices(idx))?;
    launch!(be, Elementwise, "scatter_cols_add_f32", stride_cfg(dout.numel());
        be.ptr(dx)?, be.ptr(dout)?, be.raw(&dev_idx), dx.rows() as i64, k as i64, idx.len() as i64);
    Ok(())
}
