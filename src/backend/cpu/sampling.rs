//! Temperature + top-p (nucleus) sampling per row, the CPU reference of sampling.cu. The
//! uniforms come from the caller so every backend draws the same token from the same seed.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Token chosen from one row of logits. temperature 0 means greedy (first maximum).
/// Top-p keeps the most probable tokens whose cumulative mass before them is < top_p (at
/// least one), as transformers' TopPLogitsWarper does, plus any token tied with the last one
/// kept; renormalizes, and inverts the CDF at u over the kept tokens in id order.
pub fn sample_row(logits: &[f32], temperature: f32, top_p: f32, u: f32) -> u32 {
    let argmax = || {
        logits
            .iter()
            .enumerate()
            .fold((0usize, f32::NEG_INFINITY), |b, (i, &v)| {
                if v > b.1 {
                    (i, v)
                } else {
                    b
                }
            })
            .0 as u32
    };
    if temperature <= 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f64)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (i as u32, (((l - max) / temperature) as f64).exp()))
        .collect();
    let total: f64 = probs.iter().map(|p| p.1).sum();
    // Stable order: by probability, then by id, so ties never depend on the sort algorithm.
    probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept = 0;
    let mut mass = 0.0;
    for p in &probs {
        if kept > 0 && mass >= top_p as f64 {
            break;
        }
        mass += p.1 / total;
        kept += 1;
    }
    // Tokens as probable as the last kept one stay with it, as sampling.cu keeps every token
    // at or above its threshold: the nucleus never depends on how ties are ordered.
    while kept < probs.len() && probs[kept].1 == probs[kept - 1].1 {
        kept += 1;
    }
    // Invert the CDF in token-id order (the same distribution as any order), as sampling.cu
    // does without a sort, so both backends pick the same token for the same uniform.
    let nucleus = &mut probs[..kept];
    nucleus.sort_by_key(|p| p.0);
    let z: f64 = nucleus.iter().map(|p| p.1).sum();
    let target = u as f64 * z;
    let mut acc = 0.0;
    for p in nucleus.iter() {
        acc += p.1;
        if target < acc {
            return p.0;
        }
    }
    nucleus[kept - 1].0
}

// logits: (S, V), uniforms: (S) in [0, 1); returns one token per row
pub fn sample(logits: &Tensor, temperature: f32, top_p: f32, uniforms: &[f32]) -> Result<Vec<u32>> {
    let v = logits.last_dim();
    if uniforms.len() != logits.rows() || !(0.0..=1.0).contains(&top_p) {
        return Err(Error::shape(
            "sample",
            format!(
                "{} uniforms for {} rows, top_p {top_p}",
                uniforms.len(),
                logits.rows()
            ),
        ));
    }
    Ok(logits
        .host()?
        .chunks(v)
        .zip(uniforms)
        .map(|(row, &u)| sample_row(row, temperature, top_p, u))
        .collect())
}
