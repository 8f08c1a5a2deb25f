//! Cross-entropy over the vocabulary with ignore index −100, as transformers' causal-LM loss.

use rayon::prelude::*;

use crate::backend::{CrossEntropyOut, IGNORE_INDEX};
use crate::error::{Error, Result};
use crate::tensor::Tensor;

pub(crate) fn check_labels(logits: &Tensor, labels: &[i32]) -> Result<usize> {
    let v = logits.last_dim();
    if labels.len() != logits.rows() {
        return Err(Error::shape(
            "cross_entropy",
            format!(
                "{} labels for {} rows of logits",
                labels.len(),
                logits.rows()
            ),
        ));
    }
    if let Some(l) = labels
        .iter()
        .find(|&&l| l != IGNORE_INDEX && (l < 0 || l as usize >= v))
    {
        return Err(Error::shape(
            "cross_entropy",
            format!("label {l} outside the vocabulary of {v}"),
        ));
    }
    Ok(v)
}

// logits: (M, V), labels: (M); lse: (M)
pub fn cross_entropy_fwd(logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut> {
    let v = check_labels(logits, labels)?;
    let ls = logits.host()?;
    let lse: Vec<f32> = ls
        .par_chunks(v)
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln()
        })
        .collect();
    let mut loss_sum = 0.0f64;
    let mut n_valid = 0;
    for (r, &l) in labels.iter().enumerate() {
        if l != IGNORE_INDEX {
            loss_sum += (lse[r] - ls[r * v + l as usize]) as f64;
            n_valid += 1;
        }
    }
    let rows = logits.rows();
    Ok(CrossEntropyOut {
        loss_sum,
        n_valid,
        lse: Tensor::from_vec(lse, &[rows])?,
    })
}

// returns dlogits: (M, V)
pub fn cross_entropy_bwd(
    logits: &Tensor,
    labels: &[i32],
    lse: &Tensor,
    grad_scale: f32,
) -> Result<Tensor> {
    let v = check_labels(logits, labels)?;
    crate::backend::check::len("cross_entropy_bwd", "lse", lse, logits.rows())?;
    let (ls, lses) = (logits.host()?, lse.host()?);
    let mut d = vec![0.0f32; ls.len()];
    d.par_chunks_mut(v)
        .zip(ls.par_chunks(v))
        .zip(labels.par_iter().zip(lses.par_iter()))
        .for_each(|((d, row), (&l, &lse))| {
            if l == IGNORE_INDEX {
                return;
            }
            for (d, x) in d.iter_mut().zip(row) {
                *d = (x - lse).exp() * grad_scale;
            }
            d[l as usize] -= grad_scale;
        });
    Tensor::from_vec(d, logits.shape())
}
