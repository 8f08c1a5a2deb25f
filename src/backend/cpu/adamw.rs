//! Multi-tensor AdamW with torch.optim.AdamW semantics (decoupled decay, bias correction).

use crate::backend::{check, AdamSlot, AdamWConfig};
use crate::error::{Error, Result};

pub fn adamw_step(slots: &mut [AdamSlot<'_>], cfg: &AdamWConfig, step: u64) -> Result<()> {
    if step == 0 {
        return Err(Error::shape("adamw_step", "step counts from 1"));
    }
    let bc1 = 1.0 - cfg.beta1.powi(step as i32);
    let bc2 = 1.0 - cfg.beta2.powi(step as i32);
    for slot in slots.iter_mut() {
        check::same_shape("adamw_step", slot.param, slot.grad)?;
        check::same_shape("adamw_step", slot.param, slot.m)?;
        check::same_shape("adamw_step", slot.param, slot.v)?;
        let g = slot.grad.host()?;
        let (p, m, v) = (
            slot.param.host_mut()?,
            slot.m.host_mut()?,
            slot.v.host_mut()?,
        );
        for i in 0..p.len() {
            p[i] *= 1.0 - cfg.lr * cfg.weight_decay;
            m[i] = cfg.beta1 * m[i] + (1.0 - cfg.beta1) * g[i];
            v[i] = cfg.beta2 * v[i] + (1.0 - cfg.beta2) * g[i] * g[i];
            // torch: p -= (lr / bc1) · m / (sqrt(v) / sqrt(bc2) + eps)
            let denom = v[i].sqrt() / bc2.sqrt() + cfg.eps;
            p[i] -= cfg.lr / bc1 * m[i] / denom;
        }
    }
    Ok(())
}
