//! AdamW over an adapter: the moment buffers and one step through the backend's fused op.

use crate::backend::{AdamSlot, AdamWConfig, Backend};
use crate::error::Result;
use crate::peft::AdapterSet;
use crate::tensor::Tensor;

pub struct AdamW {
    pub m: AdapterSet,
    pub v: AdapterSet,
}

impl AdamW {
    pub fn new(adapter: &AdapterSet) -> Self {
        AdamW {
            m: adapter.zeros_like(),
            v: adapter.zeros_like(),
        }
    }

    /// One step (`step` counts from 1) with learning rate `lr` overriding `cfg.lr`.
    pub fn step(
        &mut self,
        be: &dyn Backend,
        adapter: &mut AdapterSet,
        grads: &AdapterSet,
        cfg: &AdamWConfig,
        lr: f32,
        step: u64,
    ) -> Result<()> {
        let gs: Vec<&Tensor> = grads.named_tensors().into_iter().map(|(_, t)| t).collect();
        let mut slots: Vec<AdamSlot> = adapter
            .named_tensors_mut()
            .into_iter()
            .zip(self.m.named_tensors_mut())
            .zip(self.v.named_tensors_mut())
            .zip(gs)
            .map(|(((p, m), v), g)| AdamSlot {
                param: p.1,
                grad: g,
                m: m.1,
                v: v.1,
            })
            .collect();
        be.adamw_step(&mut slots, &AdamWConfig { lr, ..*cfg }, step)
    }
}
