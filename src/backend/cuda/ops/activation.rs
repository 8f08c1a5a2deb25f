//! SwiGLU and gelu_new forward/backward: kernels/activation.cu (f32).

use super::super::backend::CudaBackend;
use super::super::launch::{launch, stride_cfg};
use crate::backend::check;
use crate::error::Result;
use crate::tensor::Tensor;

pub fn swiglu_fwd(be: &CudaBackend, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    check::same_shape("swiglu_fwd", gate, up)?;
    let h = be.zeros(gate.shape())?;
    launch!(be, Activation, "swiglu_fwd_f32", stride_cfg(gate.numel());
        be.ptr(gate)?, be.ptr(up)?, be.ptr(&h)?, gate.numel() as i64);
    Ok(h)
}

pub fn swiglu_bwd(
    be: &CudaBackend,
    dh: &Tensor,
    gate: &Tensor,
    up: &Tensor,
) -> Result<(Tensor, Tensor)> {
    check::same_shape("swiglu_bwd", gate, up)?;
    check::same_shape("swiglu_bwd", gate, dh)?;
    let (dg, du) = (be.zeros(gate.shape())?, be.zeros(gate.shape())?);
    launch!(be, Activation, "swiglu_bwd_f32", stride_cfg(gate.numel());
        be.ptr(dh)?, be.ptr(gate)?, be.ptr(up)?, be.ptr(&dg)?, be.ptr(&du)?, gate.numel() as i64);
    Ok((dg, du))
}

pub fn gelu_new_fwd(be: &CudaBackend, x: &Tensor) -> Result<Tensor> {
    let y = be.zeros(x.shape())?;
    launch!(be, Activation, "gelu_new_fwd_f32", stride_cfg(x.numel());
        be.ptr(x)?, be.ptr(&y)?, x.numel() as i64);
    Ok(y)
}

pub fn gelu_new_bwd(be: &CudaBackend, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
    check::same_shape("gelu_new_bwd", dy, x)?;
    let dx = be.zeros(x.shape())?;
    launch!(be, Activation, "gelu_new_bwd_f32", stride_cfg(x.numel());
        be.ptr(dy)?, be.ptr(x)?, be.ptr(&dx)?, x.numel() as i64);
    Ok(dx)
}
