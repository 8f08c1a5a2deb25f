//! Folding an adapter into the base weights, as PEFT's `merge_and_unload` does.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::peft::{AdapterSet, ModuleAdapter, PeftConfig};

/// LoRA: W += s·B·A. IA3 feed-forward: W[:, k] *= l[k]. IA3 output: W[n, :] *= l[n] and
/// b[n] *= l[n].
pub fn merge_into(model: &mut Model, adapter: &AdapterSet) -> Result<()> {
    let scale = match &adapter.config {
        PeftConfig::Lora(c) => c.scaling(),
        PeftConfig::Ia3(_) => 1.0,
    };
    let mut merged = 0;
    for lin in model.linears_mut() {
        let Some(m) = adapter.modules.get(&lin.name) else {
            continue;
        };
        merged += 1;
        let (n, k) = (lin.weight.rows(), lin.weight.cols());
        let w = lin.weight.f32_mut()?.host_mut()?;
        match m {
            ModuleAdapter::Lora { a, b } => {
                let r = a.rows();
                let mut delta = vec![0.0f32; n * k];
                crate::backend::cpu::gemm::gemm(
                    n,
                    k,
                    r,
                    scale,
                    b.host()?,
                    crate::backend::cpu::gemm::Layout::N,
                    a.host()?,
                    crate::backend::cpu::gemm::Layout::N,
                    0.0,
                    &mut delta,
                );
                for (w, d) in w.iter_mut().zip(delta) {
                    *w += d;
                }
            }
            ModuleAdapter::Ia3 {
                l,
                feedforward: true,
            } => {
                let ls = l.host()?;
                for row in w.chunks_mut(k) {
                    for (w, l) in row.iter_mut().zip(ls) {
                        *w *= l;
                    }
                }
            }
            ModuleAdapter::Ia3 {
                l,
                feedforward: false,
            } => {
                let ls = l.host()?.to_vec();
                for (row, l) in w.chunks_mut(k).zip(&ls) {
                    row.iter_mut().for_each(|w| *w *= l);
                }
                if let Some(bias) = lin.bias.as_mut() {
                    for (b, l) in bias.host_mut()?.iter_mut().zip(&ls) {
                        *b *= l;
                    }
                }
            }
        }
    }
    if merged != adapter.modules.len() {
        return Err(Error::Unsupported(format!(
            "the adapter wraps {} modules but only {merged} exist in this model",
            adapter.modules.len()
        )));
    }
    Ok(())
}
