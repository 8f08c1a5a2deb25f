//! What Llama and CodeGen share around their blocks: embedding, the blocks (each taped in full,
//! by its input under gradient checkpointing, or not at all), the final norm and lm_head, and the
//! same in reverse for the backward. Each architecture supplies its block and its norm.

use crate::backend::{Backend, LinearSaved, NormSaved};
use crate::error::Result;
use crate::model::{Ctx, Geom, Keep, KvCache, KvLayer, Linear, Saved};
use crate::peft::AdapterSet;
use crate::tensor::Tensor;

/// A decoder-only stack of blocks, as the two architectures implement it.
pub(crate) trait Decoder {
    type Layer;
    /// What one block's forward keeps for its backward.
    type LayerTape;

    fn embedding(&self) -> &Tensor;
    fn layers(&self) -> &[Self::Layer];
    fn lm_head(&self) -> &Linear;
    fn layer_fwd(
        &self,
        ctx: &Ctx,
        layer: &Self::Layer,
        x: Tensor,
        g: Geom,
        kv: Option<&mut KvLayer>,
    ) -> Result<(Tensor, Self::LayerTape)>;
    fn layer_bwd(
        &self,
        ctx: &Ctx,
        layer: &Self::Layer,
        t: Self::LayerTape,
        dx: Tensor,
        g: Geom,
        grads: &mut AdapterSet,
    ) -> Result<Tensor>;
    fn final_norm_fwd(&self, be: &dyn Backend, x: &Tensor) -> Result<(Tensor, NormSaved)>;
    fn final_norm_bwd(
        &self,
        be: &dyn Backend,
        dh: &Tensor,
        x: &Tensor,
        saved: &NormSaved,
    ) -> Result<Tensor>;
}

/// Activations a forward keeps for the backward.
pub struct StackTape<L> {
    layers: Vec<Saved<L>>,
    xf: Tensor,
    nf: NormSaved,
    hf: Tensor,
    sl: LinearSaved,
    g: Geom,
}

/// logits (B·T, V) for ids (B·T) at g's positions, appending to `cache` when given; the tape
/// when `keep` asks for one.
pub(crate) fn forward<D: Decoder>(
    model: &D,
    ctx: &Ctx,
    ids: &[u32],
    g: Geom,
    keep: Keep,
    mut cache: Option<&mut KvCache>,
) -> Result<(Tensor, Option<StackTape<D::LayerTape>>)> {
    let be = ctx.be;
    let mut x = be.embedding_fwd(model.embedding(), ids)?;
    let mut saved = Vec::new();
    for (i, layer) in model.layers().iter().enumerate() {
        let input = (keep == Keep::Checkpoint).then(|| x.clone());
        let kv = cache.as_deref_mut().map(|c| c.layer(i));
        let (y, t) = model.layer_fwd(ctx, layer, x, g, kv)?;
        match keep {
            Keep::None => {}
            Keep::Full => saved.push(Saved::Full(t)),
            Keep::Checkpoint => {
                saved.push(Saved::Input(input.unwrap_or_else(|| Tensor::zeros(&[0]))))
            }
        }
        x = y;
    }
    if let Some(c) = cache {
        c.advance(g.seq);
    }
    let (hf, nf) = model.final_norm_fwd(be, &x)?;
    let (logits, sl) = ctx.lin(model.lm_head(), &hf)?;
    let tape = (keep != Keep::None).then_some(StackTape {
        layers: saved,
        xf: x,
        nf,
        hf,
        sl,
        g,
    });
    Ok((logits, tape))
}

/// Back-propagates dlogits (B·T, V) through `tape`; adapter gradients accumulate into `grads`.
pub(crate) fn backward<D: Decoder>(
    model: &D,
    ctx: &Ctx,
    tape: StackTape<D::LayerTape>,
    dlogits: &Tensor,
    grads: &mut AdapterSet,
) -> Result<()> {
    let g = tape.g;
    let dhf = ctx.lin_bwd(model.lm_head(), dlogits, &tape.hf, &tape.sl, grads)?;
    let mut dx = model.final_norm_bwd(ctx.be, &dhf, &tape.xf, &tape.nf)?;
    for (layer, saved) in model.layers().iter().zip(tape.layers).rev() {
        let t = match saved {
            Saved::Full(t) => t,
            // Recompute the block from its input; the dropout masks regenerate identically.
            Saved::Input(x) => model.layer_fwd(ctx, layer, x, g, None)?.1,
        };
        dx = model.layer_bwd(ctx, layer, t, dx, g, grads)?;
    }
    Ok(())
}
