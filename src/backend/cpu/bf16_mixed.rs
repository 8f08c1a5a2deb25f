//! The CPU model of the CUDA backend's `--precision bf16` (src/backend/cuda/ops/mixed.rs): the f32
//! reference ops with the same bf16 roundings at the same places, for tests that size and check
//! the mixed path's error (tests/bf16_mixed.rs, tests/cuda_mixed.rs). Not a user backend.
//! - linear, LoRA or none: y = bf16(bf16(x)·bf16(W)ᵀ + bf16(bias) + s·drop(x)·Aᵀ·Bᵀ) and
//!   dX = bf16(bf16(dY)·bf16(W) + s·(dY·B)·A ⊙ mask), the LoRA terms and dA, dB from the f32
//!   activations (a bf16-held base is bf16 already; an f32 weight, and an int8 or NF4 weight
//!   after its exact decoding, is rounded);
//! - IA3 input: y = bf16(bf16(x⊙l)·Wᵀ), g = bf16(bf16(dY)·W), dX = g⊙l, dl += Σ x⊙g;
//!   IA3 output: z = bf16(bf16(x)·Wᵀ), y = z⊙l, dX = bf16(bf16(dY⊙l)·W), dl += Σ dY⊙z
//!   (products with l and the sums in f32);
//! - attention at head dims 64, 128, 256: out = bf16(attn(bf16 q, k, v)), lse in f32;
//!   dQ, dK, dV = bf16(attn_bwd(bf16 dout, q, k, v; out, lse));
//! - everything else (norms, loss, AdamW): the f32 reference.
//!
//! The sums run in the CPU's order, the GPU's in its own: results agree to fp32 summation noise
//! plus the rare bf16 rounding that lands on the other side of a tie.

use super::CpuBackend;
use crate::backend::{
    AdamSlot, AdamWConfig, AdapterGrad, AdapterOp, Backend, CrossEntropyOut, LinearSaved,
    NormSaved, RopeStyle,
};
use crate::error::Result;
use crate::quant::BaseWeight;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, Default)]
pub struct Bf16MixedEmulation;

const F32: CpuBackend = CpuBackend;

/// `t` rounded to bf16 (nearest even) and back.
fn round(t: &Tensor) -> Result<Tensor> {
    let v = t
        .host()?
        .iter()
        .map(|&x| half::bf16::from_f32(x).to_f32())
        .collect();
    Tensor::from_vec(v, t.shape())
}

fn sum_rounded(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    round(&F32.add(a, b)?)
}

/// x ⊙ l along the last dim, in f32 (IA3's scaling around the bf16 GEMM).
fn scale_cols(x: &Tensor, l: &Tensor) -> Result<Tensor> {
    Tensor::from_vec(super::linear::scale_cols(x.host()?, l.host()?), x.shape())
}

/// dl[c] += Σ_r u[r, c]·v[r, c], in f32.
fn column_dot(u: &Tensor, v: &Tensor, dl: &mut Tensor) -> Result<()> {
    let dl = dl.host_mut()?;
    let cols = dl.len().max(1);
    for (ru, rv) in u.host()?.chunks(cols).zip(v.host()?.chunks(cols)) {
        for ((d, a), b) in dl.iter_mut().zip(ru).zip(rv) {
            *d += a * b;
        }
    }
    Ok(())
}

/// The tensor-core attention's head dims (plan::attention_tc_tiles).
fn mixed_attention(q: &Tensor) -> bool {
    matches!(q.shape().last(), Some(64 | 128 | 256))
}

impl Bf16MixedEmulation {
    /// The mixed linear forward; `base` runs x·Wᵀ + bias on the rounded input and bias.
    fn linear_fwd_with(
        x: &Tensor,
        (n, k): (usize, usize),
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
        base: impl FnOnce(&Tensor, Option<&Tensor>) -> Result<Tensor>,
    ) -> Result<(Tensor, LinearSaved)> {
        let bias = bias.map(round).transpose()?;
        let input = match adapter {
            AdapterOp::Ia3Input { l } => round(&scale_cols(x, l)?)?,
            _ => round(x)?,
        };
        let y = base(&input, bias.as_ref())?;
        match adapter {
            AdapterOp::Lora { .. } => {
                // A zero weight leaves exactly the LoRA term and its saved xa.
                let (lora, saved) = F32.linear_fwd(x, &Tensor::zeros(&[n, k]), None, adapter)?;
                Ok((sum_rounded(&y, &lora)?, saved))
            }
            AdapterOp::Ia3Output { l } => {
                let z = round(&y)?;
                let scaled = scale_cols(&z, l)?;
                let saved = LinearSaved {
                    base_out: Some(z),
                    ..LinearSaved::default()
                };
                Ok((scaled, saved))
            }
            _ => Ok((round(&y)?, LinearSaved::default())),
        }
    }

    /// The mixed linear backward; `base` runs dY·W on a rounded dY.
    #[allow(clippy::too_many_arguments)]
    fn linear_bwd_with(
        dy: &Tensor,
        x: &Tensor,
        (n, k): (usize, usize),
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
        base: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        match (adapter, grad) {
            (AdapterOp::Lora { .. }, grad) => {
                let dx = base(&round(dy)?)?;
                let zero = Tensor::zeros(&[n, k]);
                let lora = F32.linear_bwd(dy, x, &zero, adapter, saved, grad)?;
                sum_rounded(&dx, &lora)
            }
            (AdapterOp::Ia3Input { l }, AdapterGrad::Ia3 { dl }) => {
                let g = round(&base(&round(dy)?)?)?;
                column_dot(x, &g, dl)?;
                scale_cols(&g, l)
            }
            (AdapterOp::Ia3Output { l }, AdapterGrad::Ia3 { dl }) => {
                let z = saved.base_out.as_ref().ok_or_else(|| {
                    crate::error::Error::Unsupported("IA3 backward without the saved output".into())
                })?;
                column_dot(dy, z, dl)?;
                round(&base(&round(&scale_cols(dy, l)?)?)?)
            }
            _ => round(&base(&round(dy)?)?),
        }
    }
}

impl Backend for Bf16MixedEmulation {
    fn name(&self) -> String {
        format!(
            "cpu (bf16-mixed emulation, {} threads)",
            rayon::current_num_threads()
        )
    }
    fn upload(&self, t: Tensor) -> Result<Tensor> {
        F32.upload(t)
    }
    fn download(&self, t: &Tensor) -> Result<Tensor> {
        F32.download(t)
    }
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        F32.add(a, b)
    }
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        F32.add_assign(acc, x)
    }
    fn cat_seq(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        F32.cat_seq(a, b)
    }
    fn gather_cols(&self, x: &Tensor, idx: &[u32]) -> Result<Tensor> {
        F32.gather_cols(x, idx)
    }
    fn scatter_cols_add(&self, dx: &mut Tensor, dout: &Tensor, idx: &[u32]) -> Result<()> {
        F32.scatter_cols_add(dx, dout, idx)
    }
    fn embedding_fwd(&self, weight: &Tensor, ids: &[u32]) -> Result<Tensor> {
        F32.embedding_fwd(weight, ids)
    }
    fn embedding_bwd(&self, dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()> {
        F32.embedding_bwd(dout, ids, dweight)
    }
    fn rmsnorm_fwd(&self, x: &Tensor, w: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)> {
        F32.rmsnorm_fwd(x, w, eps)
    }
    fn rmsnorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
    ) -> Result<Tensor> {
        F32.rmsnorm_bwd(dy, x, w, saved, dw)
    }
    fn layernorm_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, NormSaved)> {
        F32.layernorm_fwd(x, w, b, eps)
    }
    fn layernorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
        db: Option<&mut Tensor>,
    ) -> Result<Tensor> {
        F32.layernorm_bwd(dy, x, w, saved, dw, db)
    }
    fn linear_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        if x.numel() == 0 || w.numel() == 0 {
            return F32.linear_fwd(x, w, bias, adapter);
        }
        let w16 = round(w)?;
        Self::linear_fwd_with(x, (w.rows(), w.last_dim()), bias, adapter, |x16, b16| {
            Ok(F32.linear_fwd(x16, &w16, b16, AdapterOp::None)?.0)
        })
    }
    fn linear_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
    ) -> Result<Tensor> {
        if x.numel() == 0 || w.numel() == 0 {
            return F32.linear_bwd(dy, x, w, adapter, saved, grad);
        }
        let w16 = round(w)?;
        let dims = (w.rows(), w.last_dim());
        Self::linear_bwd_with(dy, x, dims, adapter, saved, grad, |dy16| {
            let none = LinearSaved::default();
            F32.linear_bwd(dy16, x, &w16, AdapterOp::None, &none, AdapterGrad::None)
        })
    }
    fn quant_linear_fwd(
        &self,
        x: &Tensor,
        w: &BaseWeight,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        match w {
            BaseWeight::F32(t) => self.linear_fwd(x, t, bias, adapter),
            // bf16 / int8 / NF4: decoded exactly, then rounded to bf16 like any f32 weight (a
            // no-op for bf16 values).
            BaseWeight::Bf16(_) | BaseWeight::Int8(_) | BaseWeight::Nf4(_) if x.numel() > 0 => {
                self.linear_fwd(x, &w.dequantize()?, bias, adapter)
            }
            _ => F32.quant_linear_fwd(x, w, bias, adapter),
        }
    }
    fn quant_linear_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &BaseWeight,
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
    ) -> Result<Tensor> {
        match w {
            BaseWeight::F32(t) => self.linear_bwd(dy, x, t, adapter, saved, grad),
            BaseWeight::Bf16(_) | BaseWeight::Int8(_) | BaseWeight::Nf4(_) if x.numel() > 0 => {
                self.linear_bwd(dy, x, &w.dequantize()?, adapter, saved, grad)
            }
            _ => F32.quant_linear_bwd(dy, x, w, adapter, saved, grad),
        }
    }
    fn rope_fwd(&self, x: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        F32.rope_fwd(x, style, pos_offset)
    }
    fn rope_bwd(&self, dy: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        F32.rope_bwd(dy, style, pos_offset)
    }
    fn attention_fwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor)> {
        if !mixed_attention(q) || q.numel() == 0 {
            return F32.attention_fwd(q, k, v, scale);
        }
        let (out, lse) = F32.attention_fwd(&round(q)?, &round(k)?, &round(v)?, scale)?;
        Ok((round(&out)?, lse))
    }
    fn attention_bwd(
        &self,
        dout: &Tensor,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        lse: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        if !mixed_attention(q) || q.numel() == 0 {
            return F32.attention_bwd(dout, q, k, v, out, lse, scale);
        }
        let (q16, k16, v16) = (round(q)?, round(k)?, round(v)?);
        let (dq, dk, dv) =
            F32.attention_bwd(&round(dout)?, &q16, &k16, &v16, &round(out)?, lse, scale)?;
        Ok((round(&dq)?, round(&dk)?, round(&dv)?))
    }
    fn swiglu_fwd(&self, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        F32.swiglu_fwd(gate, up)
    }
    fn swiglu_bwd(&self, dh: &Tensor, gate: &Tensor, up: &Tensor) -> Result<(Tensor, Tensor)> {
        F32.swiglu_bwd(dh, gate, up)
    }
    fn gelu_new_fwd(&self, x: &Tensor) -> Result<Tensor> {
        F32.gelu_new_fwd(x)
    }
    fn gelu_new_bwd(&self, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
        F32.gelu_new_bwd(dy, x)
    }
    fn cross_entropy_fwd(&self, logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut> {
        F32.cross_entropy_fwd(logits, labels)
    }
    fn cross_entropy_bwd(
        &self,
        logits: &Tensor,
        labels: &[i32],
        lse: &Tensor,
        grad_scale: f32,
    ) -> Result<Tensor> {
        F32.cross_entropy_bwd(logits, labels, lse, grad_scale)
    }
    fn sample(
        &self,
        logits: &Tensor,
        temperature: f32,
        top_p: f32,
        uniforms: &[f32],
    ) -> Result<Vec<u32>> {
        F32.sample(logits, temperature, top_p, uniforms)
    }
    fn adamw_step(&self, slots: &mut [AdamSlot<'_>], cfg: &AdamWConfig, step: u64) -> Result<()> {
        F32.adamw_step(slots, cfg, step)
    }
}
