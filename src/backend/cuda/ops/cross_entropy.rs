//! Cross-entropy with ignore index −100: kernels/cross_entropy.cu's fused kernel (f32). The
//! forward runs it without dlogits (per-row losses summed in f64 on the host, as the CPU reference
//! does); the backward runs it again with dlogits (it recomputes lse in the same pass instead of
//! reading the saved one, which it checks only for shape).

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch, NULL};
use crate::backend::cpu::cross_entropy::check_labels;
use crate::backend::{check, CrossEntropyOut, IGNORE_INDEX};
use crate::error::Result;
use crate::tensor::Tensor;

const THREADS: u32 = 512;

pub fn fwd(be: &CudaBackend, logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut> {
    let v = check_labels(logits, labels)?;
    let rows = logits.rows();
    let lse = be.zeros(&[rows])?;
    let n_valid = labels.iter().filter(|&&l| l != IGNORE_INDEX).count();
    if rows == 0 {
        return Ok(CrossEntropyOut {
            loss_sum: 0.0,
            n_valid,
            lse,
        });
    }
    let loss = be.zeros(&[rows])?;
    let dev_labels = be.upload_i32(labels)?;
    let (m, vi) = (int("cross_entropy", rows)?, int("cross_entropy", v)?);
    launch!(be, CrossEntropy, "cross_entropy_fwd_bwd_f32", cfg((rows as u32, 1, 1), (THREADS, 1, 1));
        be.ptr(logits)?, be.raw(&dev_labels), be.ptr(&loss)?, be.ptr(&lse)?, NULL, 0.0f32, m, vi);
    let per_row = loss.device()?.to_vec()?;
    let loss_sum = per_row
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l != IGNORE_INDEX)
        .map(|(&x, _)| x as f64)
        .sum();
    Ok(CrossEntropyOut {
        loss_sum,
        n_valid,
        lse,
    })
}

pub fn bwd(
    be: &CudaBackend,
    logits: &Tensor,
    labels: &[i32],
    lse: &Tensor,
    grad_scale: f32,
) -> Result<Tensor> {
    let v = check_labels(logits, labels)?;
    let rows = logits.rows();
    check::len("cross_entropy_bwd", "lse", lse, rows)?;
    let dlogits = be.zeros(logits.shape())?;
    if rows == 0 {
        return Ok(dlogits);
    }
    let (loss, lse_again) = (be.zeros(&[rows])?, be.zeros(&[rows])?);
    let dev_labels = be.upload_i32(labels)?;
    let (m, vi) = (int("cross_entropy", rows)?, int("cross_entropy", v)?);
    launch!(be, CrossEntropy, "cross_entropy_fwd_bwd_f32", cfg((rows as u32, 1, 1), (THREADS, 1, 1));
        be.ptr(logits)?, be.raw(&dev_labels), be.ptr(&loss)?, be.ptr(&lse_again)?, be.ptr(&dlogits)?,
        grad_scale, m, vi);
    Ok(dlogits)
}
