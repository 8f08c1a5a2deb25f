//! Token embedding lookup and its scatter-add backward: kernels/embedding.cu (f32).
//! Ids are validated on the host (they arrive from the host anyway), so the kernel's bad-id flag
//! is not needed.

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch, NULL};
use crate::backend::cpu::embedding::check_ids;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn ids_i32(ids: &[u32]) -> Vec<i32> {
    ids.iter().map(|&i| i as i32).collect()
}

pub fn fwd(be: &CudaBackend, weight: &Tensor, ids: &[u32]) -> Result<Tensor> {
    let (v, c) = (weight.rows(), weight.last_dim());
    check_ids("embedding_fwd", ids, v)?;
    let out = be.zeros(&[ids.len(), c])?;
    if ids.is_empty() {
        return Ok(out);
    }
    let dev_ids = be.upload_i32(&ids_i32(ids))?;
    let (m, ci, vi) = (
        int("embedding", ids.len())?,
        int("embedding", c)?,
        int("embedding", v)?,
    );
    launch!(be, Embedding, "embedding_fwd_f32", cfg((m as u32, 1, 1), (256, 1, 1));
        be.raw(&dev_ids), be.ptr(weight)?, be.ptr(&out)?, m, ci, vi, NULL);
    Ok(out)
}

pub fn bwd(be: &CudaBackend, dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()> {
    let (v, c) = (dweight.rows(), dweight.last_dim());
    check_ids("embedding_bwd", ids, v)?;
    if dout.numel() != ids.len() * c {
        return Err(Error::shape(
            "embedding_bwd",
            format!("dout {:?} vs {} ids × {c}", dout.shape(), ids.len()),
        ));
    }
    if ids.is_empty() {
        return Ok(());
    }
    let dev_ids = be.upload_i32(&ids_i32(ids))?;
    let (m, ci, vi) = (
        int("embedding", ids.len())?,
        int("embedding", c)?,
        int("embedding", v)?,
    );
    launch!(be, Embedding, "embedding_bwd_f32", cfg((m as u32, 1, 1), (256, 1, 1));
        be.raw(&dev_ids), be.ptr(dout)?, be.ptr(dweight)?, m, ci, vi);
    Ok(())
}
