//! Multi-tensor AdamW, one launch for every slot: kernels/adamw.cu. The host builds the array of
//! {param, grad, m, v, n} descriptors and the bias corrections, as the CPU reference computes them.

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, launch};
use crate::backend::{check, AdamSlot, AdamWConfig};
use crate::error::{Error, Result};

pub fn step(
    be: &CudaBackend,
    slots: &mut [AdamSlot<'_>],
    cfg_adam: &AdamWConfig,
    step: u64,
) -> Result<()> {
    if step == 0 {
        return Err(Error::shape("adamw_step", "step counts from 1"));
    }
    if slots.is_empty() {
        return Ok(());
    }
    if slots.len() > 65_535 {
        return Err(Error::shape(
            "adamw_step",
            "more than 65,535 tensors in one step",
        ));
    }
    let mut desc: Vec<u64> = Vec::with_capacity(slots.len() * 5);
    let mut largest = 0usize;
    for slot in slots.iter() {
        check::same_shape("adamw_step", slot.param, slot.grad)?;
        check::same_shape("adamw_step", slot.param, slot.m)?;
        check::same_shape("adamw_step", slot.param, slot.v)?;
        let n = slot.param.numel();
        largest = largest.max(n);
        desc.extend([
            be.ptr(slot.param)?,
            be.ptr(slot.grad)?,
            be.ptr(slot.m)?,
            be.ptr(slot.v)?,
            n as u64,
        ]);
    }
    let dev_desc = be.stream().clone_htod(&desc)?;
    let bc1 = 1.0 - cfg_adam.beta1.powi(step as i32);
    let bc2 = 1.0 - cfg_adam.beta2.powi(step as i32);
    let blocks_x = largest.div_ceil(256 * 4).clamp(1, 1024) as u32;
    let c = *cfg_adam;
    launch!(be, Adamw, "adamw_step_f32", cfg((blocks_x, slots.len() as u32, 1), (256, 1, 1));
        be.raw(&dev_desc), slots.len() as i32, c.lr, c.beta1, c.beta2, c.eps, c.weight_decay, bc1, bc2);
    Ok(())
}
