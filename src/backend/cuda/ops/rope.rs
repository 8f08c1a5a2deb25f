//! Rotary embeddings (Llama rotate-half, CodeGen interleaved partial): kernels/rope.cu (f32).
//! inv_freq is the CPU reference's own f32 table, uploaded per call (rot/2 floats), so the
//! angles agree bit for bit; positions are pos_offset + t (no position array).

use super::super::backend::CudaBackend;
use super::super::launch::{cfg, int, launch, NULL};
use crate::backend::cpu::rope::inv_freq;
use crate::backend::{check, RopeStyle};
use crate::error::Result;
use crate::tensor::Tensor;

pub fn apply(
    be: &CudaBackend,
    x: &Tensor,
    style: RopeStyle,
    pos_offset: usize,
    inverse: bool,
) -> Result<Tensor> {
    let (b, t, h, d) = check::rank4("rope", "x", x)?;
    let (rot, theta) = check::rope(style, d)?;
    let y = be.zeros(x.shape())?;
    if b * t == 0 {
        return Ok(y);
    }
    let freqs = be.upload_f32(&inv_freq(theta, rot))?;
    let grid = cfg((int("rope", b * t)? as u32, 1, 1), (128, 1, 1));
    let dir = if inverse { "bwd" } else { "fwd" };
    let (xp, yp, fp) = (be.ptr(x)?, be.ptr(&y)?, be.raw(&freqs));
    let (ti, hi, di, off) = (t as i32, h as i32, d as i32, int("rope", pos_offset)?);
    match style {
        RopeStyle::RotateHalf { .. } => {
            launch!(be, Rope, format!("rope_half_{dir}_f32"), grid; xp, yp, NULL, off, fp, ti, hi, di);
        }
        RopeStyle::Interleaved { .. } => {
            launch!(be, Rope, format!("rope_interleaved_{dir}_f32"), grid;
                xp, yp, NULL, off, fp, ti, hi, di, rot as i32);
        }
    }
    Ok(y)
}
