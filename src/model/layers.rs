//! The glue between model code and the backend: linear layers with their adapter looked up
//! by module name, and the run context (training or not, dropout seed).

use crate::backend::{AdapterOp, Backend, LinearSaved};
use crate::error::Result;
use crate::model::Linear;
use crate::peft::AdapterSet;
use crate::quant::BaseWeight;
use crate::tensor::Tensor;

pub struct Ctx<'a> {
    pub be: &'a dyn Backend,
    pub adapters: Option<&'a AdapterSet>,
    /// Some(seed) when training with adapter dropout; None at evaluation time.
    pub dropout_seed: Option<u64>,
}

impl<'a> Ctx<'a> {
    pub fn eval(be: &'a dyn Backend, adapters: Option<&'a AdapterSet>) -> Self {
        Ctx {
            be,
            adapters,
            dropout_seed: None,
        }
    }

    fn op(&self, l: &Linear) -> AdapterOp<'a> {
        match self.adapters {
            Some(a) => a.op(&l.name, self.dropout_seed),
            None => AdapterOp::None,
        }
    }

    pub fn lin(&self, l: &Linear, x: &Tensor) -> Result<(Tensor, LinearSaved)> {
        match &l.weight {
            BaseWeight::F32(w) => self.be.linear_fwd(x, w, l.bias.as_ref(), self.op(l)),
            q => self.be.quant_linear_fwd(x, q, l.bias.as_ref(), self.op(l)),
        }
    }

    pub fn lin_bwd(
        &self,
        l: &Linear,
        dy: &Tensor,
        x: &Tensor,
        saved: &LinearSaved,
        grads: &mut AdapterSet,
    ) -> Result<Tensor> {
        let grad = grads.grad(&l.name);
        match &l.weight {
            BaseWeight::F32(w) => self.be.linear_bwd(dy, x, w, self.op(l), saved, grad),
            q => self.be.quant_linear_bwd(dy, x, q, self.op(l), saved, grad),
        }
    }

    /// Splits (B·T, H·D) into (B, T, H, D) views for attention.
    pub fn heads(x: Tensor, batch: usize, seq: usize, heads: usize) -> Result<Tensor> {
        let d = x.last_dim() / heads;
        x.reshape(&[batch, seq, heads, d])
    }

    pub fn flat(x: Tensor) -> Result<Tensor> {
        let s = x.shape().to_vec();
        let last = s[2..].iter().product::<usize>();
        x.reshape(&[s[0] * s[1], last])
    }
}
