//! SwiGLU (Llama MLP) and gelu_new (CodeGen MLP, tanh approximation).

use crate::backend::check;
use crate::error::Result;
use crate::tensor::Tensor;

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

// gate, up, h: same shape
pub fn swiglu_fwd(gate: &Tensor, up: &Tensor) -> Result<Tensor> {
    check::same_shape("swiglu_fwd", gate, up)?;
    let h = gate
        .host()?
        .iter()
        .zip(up.host()?)
        .map(|(&g, &u)| g * sigmoid(g) * u)
        .collect();
    Tensor::from_vec(h, gate.shape())
}

pub fn swiglu_bwd(dh: &Tensor, gate: &Tensor, up: &Tensor) -> Result<(Tensor, Tensor)> {
    check::same_shape("swiglu_bwd", gate, up)?;
    check::same_shape("swiglu_bwd", dh, gate)?;
    let n = gate.numel();
    let (mut dg, mut du) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for ((&d, &g), &u) in dh.host()?.iter().zip(gate.host()?).zip(up.host()?) {
        let s = sigmoid(g);
        du.push(d * g * s);
        // d silu(g)/dg = s·(1 + g·(1 − s))
        dg.push(d * u * s * (1.0 + g * (1.0 - s)));
    }
    Ok((
        Tensor::from_vec(dg, gate.shape())?,
        Tensor::from_vec(du, gate.shape())?,
    ))
}

const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

pub fn gelu_new_fwd(x: &Tensor) -> Result<Tensor> {
    let y = x
        .host()?
        .iter()
        .map(|&v| 0.5 * v * (1.0 + (SQRT_2_OVER_PI * (v + GELU_C * v * v * v)).tanh()))
        .collect();
    Tensor::from_vec(y, x.shape())
}

pub fn gelu_new_bwd(dy: &Tensor, x: &Tensor) -> Result<Tensor> {
    check::same_shape("gelu_new_bwd", dy, x)?;
    let dx = dy
        .host()?
        .iter()
        .zip(x.host()?)
        .map(|(&d, &v)| {
            let t = (SQRT_2_OVER_PI * (v + GELU_C * v * v * v)).tanh();
            let dt = (1.0 - t * t) * SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_C * v * v);
            d * (0.5 * (1.0 + t) + 0.5 * v * dt)
        })
        .collect();
    Tensor::from_vec(dx, x.shape())
}
