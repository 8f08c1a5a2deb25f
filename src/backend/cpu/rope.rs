//! Rotary position embedding: Llama's rotate_half and CodeGen's interleaved partial rotary.
//! Angles are computed in f32 exactly as transformers builds its cos/sin tables.

use rayon::prelude::*;

use crate::backend::{check, RopeStyle};
use crate::error::Result;
use crate::tensor::Tensor;

/// inv_freq[i] = 1 / theta^(2i/dim), in f32 like `base ** (arange(0, dim, 2).float() / dim)`.
pub fn inv_freq(theta: f32, dim: usize) -> Vec<f32> {
    (0..dim / 2)
        .map(|i| 1.0 / theta.powf((2 * i) as f32 / dim as f32))
        .collect()
}

/// Rotates every head vector of x (B, T, H, D); `sign` −1 applies the inverse rotation.
fn rotate(x: &Tensor, style: RopeStyle, pos_offset: usize, sign: f32) -> Result<Tensor> {
    let (_, t, h, d) = check::rank4("rope", "x", x)?;
    let (rot, theta) = check::rope(style, d)?;
    let freqs = inv_freq(theta, rot);
    let mut out = x.host()?.to_vec();
    out.par_chunks_mut(h * d)
        .enumerate()
        .for_each(|(bt, token)| {
            let pos = (pos_offset + bt % t) as f32;
            let (sin, cos): (Vec<f32>, Vec<f32>) =
                freqs.iter().map(|f| (pos * f).sin_cos()).unzip();
            for head in token.chunks_mut(d) {
                for i in 0..rot / 2 {
                    let (s, c) = (sign * sin[i], cos[i]);
                    let (a, b) = match style {
                        RopeStyle::RotateHalf { .. } => (i, i + rot / 2),
                        RopeStyle::Interleaved { .. } => (2 * i, 2 * i + 1),
                    };
                    let (xa, xb) = (head[a], head[b]);
                    head[a] = xa * c - xb * s;
                    head[b] = xb * c + xa * s;
                }
            }
        });
    Tensor::from_vec(out, x.shape())
}

pub fn rope_fwd(x: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
    rotate(x, style, pos_offset, 1.0)
}

pub fn rope_bwd(dy: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
    rotate(dy, style, pos_offset, -1.0)
}
