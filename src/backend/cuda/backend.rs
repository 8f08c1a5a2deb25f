//! The CUDA backend: the whole `Backend` op set on the GPU in f32 (the kernels' f32 instances,
//! the tightest check against the CPU reference), so every model of the numeric core runs on it
//! unchanged. Tensors live in device memory (`Storage::Cuda`); `upload`/`download` move them.
//! Each op's file under ops/ names the kernels it launches.

use std::sync::Arc;

use cudarc::driver::CudaStream;

use super::device::{CudaDevice, CudaError};
use super::ops;
use super::plan::{AttentionBwd, GemmCore, QuantDecode};
use super::quant_storage::QuantDeviceWeight;
use super::storage::DeviceBuf;
use crate::backend::{
    AdamSlot, AdamWConfig, AdapterGrad, AdapterOp, Backend, CrossEntropyOut, LinearSaved,
    NormSaved, RopeStyle,
};
use crate::error::Result;
use crate::quant::BaseWeight;
use crate::tensor::Tensor;

pub struct CudaBackend {
    dev: CudaDevice,
    /// `--precision bf16`: bf16-held linears and attention on the tensor cores (ops/mixed.rs).
    bf16_compute: bool,
}

impl CudaBackend {
    /// Opens GPU `ordinal`; a typed error (no kernels, no driver), never a panic, without one.
    /// A SECTUNE_GEMM_CORE or SECTUNE_ATTENTION_FWD this GPU cannot run, or a
    /// SECTUNE_ATTENTION_BWD or SECTUNE_QUANT_DECODE that names nothing, is refused here, before
    /// any work.
    pub fn new(ordinal: usize) -> std::result::Result<Self, CudaError> {
        let dev = CudaDevice::new(ordinal)?;
        dev.gemm_core()?;
        dev.attention_fwd()?;
        dev.attention_bwd()?;
        dev.quant_decode()?;
        Ok(CudaBackend {
            dev,
            bf16_compute: false,
        })
    }

    /// This backend in bf16 mixed precision (`--precision bf16`); needs compute capability 8.0+
    /// for the bf16 tensor-core kernels.
    pub fn with_bf16_compute(mut self) -> Result<Self> {
        let (major, minor) = self.dev.compute_capability()?;
        if major < 8 {
            return Err(crate::error::Error::Unsupported(format!(
                "--precision bf16 needs a GPU of compute capability 8.0 or newer (this one is \
                 {major}.{minor}); use --precision f32"
            )));
        }
        self.bf16_compute = true;
        Ok(self)
    }

    pub fn bf16_compute(&self) -> bool {
        self.bf16_compute
    }

    pub fn device(&self) -> &CudaDevice {
        &self.dev
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        self.dev.stream()
    }

    /// Waits for all queued work (for timing and before reading results on the host).
    pub fn synchronize(&self) -> Result<()> {
        Ok(self.stream().synchronize()?)
    }
}

impl Backend for CudaBackend {
    fn name(&self) -> String {
        let precision = if self.bf16_compute {
            "bf16 mixed"
        } else {
            "f32"
        };
        let core = match self.dev.gemm_core() {
            Ok(GemmCore::Wgmma) => ", wgmma GEMMs",
            Ok(GemmCore::WgmmaInFlight) => ", wgmma in-flight GEMMs",
            Ok(GemmCore::Hopper) => ", wgmma + mma.sync GEMMs",
            Ok(GemmCore::WgmmaTma) => ", wgmma TMA GEMMs",
            _ => "",
        };
        format!("cuda ({precision}{core}, {})", self.dev.name())
    }
    fn available_memory(&self) -> Option<u64> {
        self.dev.memory().ok().map(|(free, _)| free as u64)
    }
    fn peak_memory(&self) -> Option<u64> {
        self.dev.pool_peak().ok()
    }
    fn reset_peak_memory(&self) {
        let _ = self.dev.reset_pool_peak();
    }
    fn upload(&self, t: Tensor) -> Result<Tensor> {
        if !t.is_host() {
            return Ok(t);
        }
        let shape = t.shape().to_vec();
        let buf = self.stream().clone_htod(t.host()?)?;
        Tensor::from_device(DeviceBuf(buf), &shape)
    }
    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        CudaBackend::zeros(self, shape) // the inherent device allocation (launch.rs)
    }
    fn computes_in_bf16(&self) -> bool {
        self.bf16_compute
    }
    fn copies_quantized_weights(&self) -> bool {
        self.bf16_compute && matches!(self.dev.quant_decode(), Ok(QuantDecode::Scratch))
    }
    fn sums_attention_dq_in_f32(&self) -> bool {
        self.bf16_compute
            && self
                .dev
                .attention_bwd()
                .is_ok_and(AttentionBwd::sums_dq_in_f32)
    }
    fn download(&self, t: &Tensor) -> Result<Tensor> {
        if t.is_host() {
            return Ok(t.clone());
        }
        Tensor::from_vec(t.device()?.to_vec()?, t.shape())
    }
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::add(self, a, b)
    }
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()> {
        ops::elementwise::add_assign(self, acc, x)
    }
    fn cat_seq(&self, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        ops::elementwise::cat_seq(self, a, b)
    }
    fn gather_cols(&self, x: &Tensor, idx: &[u32]) -> Result<Tensor> {
        ops::elementwise::gather_cols(self, x, idx)
    }
    fn scatter_cols_add(&self, dx: &mut Tensor, dout: &Tensor, idx: &[u32]) -> Result<()> {
        ops::elementwise::scatter_cols_add(self, dx, dout, idx)
    }
    fn embedding_fwd(&self, weight: &Tensor, ids: &[u32]) -> Result<Tensor> {
        ops::embedding::fwd(self, weight, ids)
    }
    fn embedding_bwd(&self, dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()> {
        ops::embedding::bwd(self, dout, ids, dweight)
    }
    fn rmsnorm_fwd(&self, x: &Tensor, w: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)> {
        ops::norm::fwd(self, x, w, None, eps)
    }
    fn rmsnorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
    ) -> Result<Tensor> {
        ops::norm::bwd(self, dy, x, w, saved, dw, None)
    }
    fn layernorm_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, NormSaved)> {
        ops::norm::fwd(self, x, w, Some(b), eps)
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
        ops::norm::bwd(self, dy, x, w, saved, dw, db)
    }
    fn linear_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        ops::linear::fwd(self, x, w, bias, adapter)
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
        ops::linear::bwd(self, dy, x, w, adapter, saved, grad)
    }
    fn upload_base(&self, w: BaseWeight) -> Result<BaseWeight> {
        match w {
            BaseWeight::F32(t) => Ok(BaseWeight::F32(self.upload(t)?)),
            BaseWeight::Bf16(_) | BaseWeight::Int8(_) | BaseWeight::Nf4(_) => Ok(BaseWeight::Cuda(
                QuantDeviceWeight::upload(self.stream(), &w)?,
            )),
            on_device @ BaseWeight::Cuda(_) => Ok(on_device),
        }
    }
    fn quant_linear_fwd(
        &self,
        x: &Tensor,
        w: &BaseWeight,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        ops::quant::fwd(self, x, w, bias, adapter)
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
        ops::quant::bwd(self, dy, x, w, adapter, saved, grad)
    }
    fn rope_fwd(&self, x: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        ops::rope::apply(self, x, style, pos_offset, false)
    }
    fn rope_bwd(&self, dy: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor> {
        ops::rope::apply(self, dy, style, pos_offset, true)
    }
    fn attention_fwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor)> {
        ops::attention::fwd(self, q, k, v, scale)
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
        ops::attention::bwd(self, dout, q, k, v, out, lse, scale)
    }
    fn swiglu_fwd(&self, gate: &Tensor, up: &Tensor) -> Result<Tensor> {
        ops::activation::swiglu_fwd(self, gate, up)
    }
    fn swiglu_bwd(&self, dh: &Tensor, gate: &Tensor, up: &Tensor) -> Result<(Tensor, Tensor)> {
        ops::activation::swiglu_bwd(self, dh, gate, up)
    }
    fn gelu_new_fwd(&self, x: &Tensor) -> Result<Tensor> {
        ops::activation::gelu_new_fwd(self, x)
    }
    fn gelu_new_bwd(&self, dy: &Tensor, x: &Tensor) -> Result<Tensor> {
        ops::activation::gelu_new_bwd(self, dy, x)
    }
    fn cross_entropy_fwd(&self, logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut> {
        ops::cross_entropy::fwd(self, logits, labels)
    }
    fn cross_entropy_bwd(
        &self,
        logits: &Tensor,
        labels: &[i32],
        lse: &Tensor,
        grad_scale: f32,
    ) -> Result<Tensor> {
        ops::cross_entropy::bwd(self, logits, labels, lse, grad_scale)
    }
    fn sample(
        &self,
        logits: &Tensor,
        temperature: f32,
        top_p: f32,
        uniforms: &[f32],
    ) -> Result<Vec<u32>> {
        ops::sampling::sample(self, logits, temperature, top_p, uniforms)
    }
    fn adamw_step(&self, slots: &mut [AdamSlot<'_>], cfg: &AdamWConfig, step: u64) -> Result<()> {
        ops::adamw::step(self, slots, cfg, step)
    }
}
