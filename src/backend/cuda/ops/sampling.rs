//! Temperature + top-p sampling, one token per row: kernels/sampling.cu (f32). Only the chosen
//! ids come back to the host, not the logits.

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

const THREADS: u32 = 512;

pub fn sample(
    be: &CudaBackend,
    logits: &Tensor,
    temperature: f32,
    top_p: f32,
    uniforms: &[f32],
) -> Result<Vec<u32>> {
    let (rows, v) = (logits.rows(), logits.last_dim());
    if uniforms.len() != rows || !(0.0..=1.0).contains(&top_p) {
        return Err(Error::shape(
            "sample",
            format!("{} uniforms for {rows} rows, top_p {top_p}", uniforms.len()),
        ));
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    let dev_u = be.upload_f32(uniforms)?;
    let out = be.stream().alloc_zeros::<i32>(rows)?;
    launch!(be, Sampling, "sampling_fwd_f32", cfg((int("sample", rows)? as u32, 1, 1), (THREADS, 1, 1));
        be.ptr(logits)?, temperature, top_p, be.raw(&dev_u), be.raw(&out), int("sample", v)?);
    let ids = be.stream().clone_dtoh(&out)?;
    be.synchronize()?;
    Ok(ids.into_iter().map(|i| i as u32).collect())
}
