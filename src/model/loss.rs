//! The causal-LM loss exactly as transformers' `ForCausalLMLoss`: logits at position t are
//! scored against labels[t+1], −100 is ignored, and the loss is the mean over scored tokens.

use crate::backend::IGNORE_INDEX;
use crate::error::{Error, Result};
use crate::model::{Ctx, Keep, Model};
use crate::peft::AdapterSet;
use crate::tensor::Tensor;

/// Shifted labels (B·T): row b, position t gets labels[b, t+1]; the last position gets −100.
pub fn shift_labels(labels: &[i64], batch: usize, seq: usize) -> Result<Vec<i32>> {
    if labels.len() != batch * seq {
        return Err(Error::shape(
            "shift_labels",
            format!("{} labels for batch {batch} × seq {seq}", labels.len()),
        ));
    }
    let mut out = vec![IGNORE_INDEX; batch * seq];
    for b in 0..batch {
        for t in 0..seq.saturating_sub(1) {
            out[b * seq + t] = labels[b * seq + t + 1] as i32;
        }
    }
    Ok(out)
}

pub struct LossOut {
    /// Mean loss over scored tokens (NaN when none is scored, as transformers returns).
    pub loss: f64,
    pub n_tokens: usize,
    pub logits: Tensor,
}

fn run(
    model: &Model,
    ctx: &Ctx,
    ids: &[u32],
    labels: &[i64],
    batch: usize,
    seq: usize,
    grads: Option<(&mut AdapterSet, Keep)>,
) -> Result<LossOut> {
    let shifted = shift_labels(labels, batch, seq)?;
    let keep = grads.as_ref().map(|g| g.1).unwrap_or(Keep::None);
    let (logits, tape) = model.forward(ctx, ids, batch, seq, keep)?;
    let ce = ctx.be.cross_entropy_fwd(&logits, &shifted)?;
    let loss = ce.loss_sum / ce.n_valid as f64;
    if let (Some((grads, _)), Some(tape)) = (grads, tape) {
        if ce.n_valid > 0 {
            let dlogits =
                ctx.be
                    .cross_entropy_bwd(&logits, &shifted, &ce.lse, 1.0 / ce.n_valid as f32)?;
            model.backward(ctx, tape, &dlogits, grads)?;
        }
    }
    Ok(LossOut {
        loss,
        n_tokens: ce.n_valid,
        logits,
    })
}

/// Loss only (no tape kept).
pub fn loss(
    model: &Model,
    ctx: &Ctx,
    ids: &[u32],
    labels: &[i64],
    batch: usize,
    seq: usize,
) -> Result<LossOut> {
    run(model, ctx, ids, labels, batch, seq, None)
}

/// Loss, with the gradient of every adapter tensor accumulated into `grads`.
pub fn loss_and_grads(
    model: &Model,
    ctx: &Ctx,
    ids: &[u32],
    labels: &[i64],
    batch: usize,
    seq: usize,
    grads: &mut AdapterSet,
) -> Result<LossOut> {
    loss_and_grads_with(model, ctx, ids, labels, batch, seq, grads, false)
}

/// As `loss_and_grads`, with per-block gradient checkpointing when `checkpoint` is set.
#[allow(clippy::too_many_arguments)]
pub fn loss_and_grads_with(
    model: &Model,
    ctx: &Ctx,
    ids: &[u32],
    labels: &[i64],
    batch: usize,
    seq: usize,
    grads: &mut AdapterSet,
    checkpoint: bool,
) -> Result<LossOut> {
    let keep = if checkpoint {
        Keep::Checkpoint
    } else {
        Keep::Full
    };
    run(model, ctx, ids, labels, batch, seq, Some((grads, keep)))
}
