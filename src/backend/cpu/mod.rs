//! The f32 CPU reference backend: plain, readable loops plus a real GEMM and rayon.

mod activation;
mod adamw;
pub(crate) mod attention;
pub mod bf16_mixed;
pub(crate) mod cross_entropy;
pub(crate) mod elementwise;
pub(crate) mod embedding;
pub mod gemm;
pub(crate) mod linear;
mod norm;
pub mod rope;
pub mod sampling;

use super::{
    AdamSlot, AdamWConfig, AdapterGrad, AdapterOp, Backend, CrossEntropyOut, LinearSaved,
    NormSaved, RopeStyle,
};
use crate::error::Result;
use crate::tensor::Tensor;

#[derive(Clone, Copy, Debug, Default)]
pub struct CpuBackend;

impl Backend for CpuBackend {
    fn name(&self) -> String {
        format!("cpu (f32, {} threads)", rayon::current_num_threads())
    }
    fn upload(&self, t: Tensor) -> Result<Tensor> {
        Ok(t)
    }
    fn download(&self, t: &Tensor) -> Result<Tensor> {
        Ok(t.clone())
    }
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        elementwise::add(a, b)
    }
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        elementwise::add_assign(acc, x)
    }
    fn cat_seq(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        elementwise::cat_seq(a, b)
    }
    fn gather_cols(&self, x: &Tensor, idx: &[u32]) -> Result<Tensor> {
        elementwise::gather_cols(x, idx)
    }
    fn scatter_cols_add(&self, dx: &mut Tensor, dout: &Tensor, idx: &[u32]) -> Result<()> {
        elementwise::scatter_cols_add(dx, dout, idx)
    }
    fn embedding_fwd(&self, weight: &Tensor, ids: &[u32]) -> Result<Tensor> {
        embedding::embedding_fwd(weight, ids)
    }
    fn embedding_bwd(&self, dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()> {
        embedding::embedding_bwd(dout, ids, dweight)
    }
    fn rmsnorm_fwd(&self, x: &Tensor, w: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)> {
        norm::rmsnorm_fwd(x, w, eps)
    }
    fn rmsnorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
    ) -> Result<Tensor> {
        norm::rmsnorm_bwd(dy, x, w, saved, dw)
    }
    fn layernorm_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, NormSaved)> {
        norm::layernorm_fwd(x, w, b, eps)
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
        norm::layernorm_bwd(dy, x, w, saved, dw, db)
    }
    fn linear_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        linear::linear_fwd(x, w, bias, adapter)
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
        linear::linear_bwd(dy, x, w, adapter, saved, grad)
    }
    // The reference: the plain linear over the weight decoded to f32 a block at a time (exact to
    // the format's definition and bit-equal to decoding it whole).
    fn quant_linear_fwd(
        &self,
        x: &Tensor,
        w: &crate::quant::BaseWeight,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        linear::compact_linear_fwd(x, w, bias, adapter)
    }
    fn quant_linear_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &crate::quant::BaseWeight,
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
    ) -> Result<Tensor> {
        linear::compact_linear_bwd(dy, x, w, adapter, saved, grad)
    }
    fn rope_fwd(&self, x: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        rope::rope_fwd(x, style, pos_offset)
    }
    fn rope_bwd(&self, dy: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        rope::rope_bwd(dy, style, pos_offset)
    }
    fn attention_fwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor)> {
        attention::attention_fwd(q, k, v, scale)
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
        attention::attention_bwd(dout, q, k, v, out, lse, scale)
    }
    fn swiglu_fwd(&self, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        activation::swiglu_fwd(gate, up)
    }
    fn swiglu_bwd(&self, dh: &Tensor, gate: &Tensor, up: &Tensor) -> Result<(Tensor, Tensor)> {
        activation::swiglu_bwd(dh, gate, up)
    }
    fn gelu_new_fwd(&self, x: &Tensor) -> Result<Tensor> {
        activation::gelu_new_fwd(x)
    }
    fn gelu_new_bwd(&self, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
        activation::gelu_new_bwd(dy, x)
    }
    fn cross_entropy_fwd(&self, logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut> {
        cross_entropy::cross_entropy_fwd(logits, labels)
    }
    fn cross_entropy_bwd(
        &self,
        logits: &Tensor,
        labels: &[i32],
        lse: &Tensor,
        grad_scale: f32,
    ) -> Result<Tensor> {
        cross_entropy::cross_entropy_bwd(logits, labels, lse, grad_scale)
    }
    fn sample(
        &self,
        logits: &Tensor,
        temperature: f32,
        top_p: f32,
        uniforms: &[f32],
    ) -> Result<Vec<u32>> {
        sampling::sample(logits, temperature, top_p, uniforms)
    }
    fn adamw_step(&self, slots: &mut [AdamSlot<'_>], cfg: &AdamWConfig, step: u64) -> Result<()> {
        adamw::adamw_step(slots, cfg, step)
    }
}
