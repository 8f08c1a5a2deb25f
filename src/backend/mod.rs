//! The op set every model is written against. The CPU backend (`cpu/`) is the f32 reference;
//! a device backend implements the same methods with the same shapes and semantics.
//!
//! Layouts are row-major and contiguous. Gradient contract (as in llm.c): adapter and weight
//! gradients passed as `&mut` are accumulated (`+=`); activation gradients are returned fresh.

pub mod cpu;
pub mod cuda;
pub mod dropout;
pub mod select;

use crate::error::Result;
use crate::tensor::Tensor;

/// The adapter applied inside a linear layer `y = x·Wᵀ + bias`.
#[derive(Clone, Copy, Debug)]
pub enum AdapterOp<'a> {
    None,
    /// y += scale·(drop(x)·Aᵀ)·Bᵀ with A [r,K], B [N,r].
    Lora {
        a: &'a Tensor,
        b: &'a Tensor,
        scale: f32,
        dropout: Option<dropout::Dropout>,
    },
    /// Feed-forward IA3: y = (x⊙l)·Wᵀ + bias with l [K].
    Ia3Input {
        l: &'a Tensor,
    },
    /// IA3 on the output: y = (x·Wᵀ + bias)⊙l with l [N].
    Ia3Output {
        l: &'a Tensor,
    },
}

/// Gradient buffers of the adapter of one linear layer (accumulated).
pub enum AdapterGrad<'a> {
    None,
    Lora {
        da: &'a mut Tensor,
        db: &'a mut Tensor,
    },
    Ia3 {
        dl: &'a mut Tensor,
    },
}

/// What `linear_fwd` keeps for `linear_bwd`.
#[derive(Clone, Debug, Default)]
pub struct LinearSaved {
    /// LoRA: drop(x)·Aᵀ, [M,r].
    pub xa: Option<Tensor>,
    /// IA3 on the output: the unscaled output x·Wᵀ + bias, [M,N].
    pub base_out: Option<Tensor>,
}

/// Per-row statistics a norm keeps for its backward.
#[derive(Clone, Debug)]
pub struct NormSaved {
    /// LayerNorm only: row means [M].
    pub mean: Option<Tensor>,
    /// 1/sqrt(var + eps) (LayerNorm) or 1/sqrt(mean(x²) + eps) (RMSNorm), [M].
    pub rstd: Tensor,
}

/// Rotary position embedding as the two model families define it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RopeStyle {
    /// Llama: rotate_half over the whole head, frequencies theta^(-2i/D).
    RotateHalf { theta: f32 },
    /// CodeGen / GPT-J: rotate every two (interleaved pairs) over the first `rotary_dim` dims.
    Interleaved { rotary_dim: usize, theta: f32 },
}

/// Cross-entropy forward result over rows with a label != -100.
#[derive(Clone, Debug)]
pub struct CrossEntropyOut {
    /// Sum of -log softmax(logits)[label] over valid rows (f64 so long sums stay exact).
    pub loss_sum: f64,
    pub n_valid: usize,
    /// log-sum-exp of each row [M], reused by the backward.
    pub lse: Tensor,
}

/// AdamW hyper-parameters with torch.optim.AdamW semantics (decoupled weight decay).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWConfig {
    pub lr: f32,
    pub beta1: f32,
    pub beta2: f32,
    pub eps: f32,
    pub weight_decay: f32,
}

impl Default for AdamWConfig {
    /// The study's optimizer settings (Table 2): lr 3e-4, torch defaults otherwise, no decay.
    fn default() -> Self {
        AdamWConfig {
            lr: 3e-4,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

/// One parameter tensor and its optimizer state, for the multi-tensor AdamW step.
pub struct AdamSlot<'a> {
    pub param: &'a mut Tensor,
    pub grad: &'a Tensor,
    pub m: &'a mut Tensor,
    pub v: &'a mut Tensor,
}

pub const IGNORE_INDEX: i32 = -100;

pub trait Backend: Send + Sync {
    fn name(&self) -> String;

    /// Whether linears and attention run in bf16 (`--precision bf16`, CUDA sm_80+): the memory
    /// plan then counts the transient bf16 copies (train::memory::bf16_copies).
    fn computes_in_bf16(&self) -> bool {
        false
    }

    /// Whether the bf16 linears decode an int8 / NF4 weight whole into a transient bf16 copy (the
    /// CUDA SECTUNE_QUANT_DECODE=scratch): the memory plan counts the largest with the copies.
    fn copies_quantized_weights(&self) -> bool {
        false
    }

    /// Whether the bf16 attention backward sums dQ in an f32 buffer of dQ's size (the CUDA
    /// fused backward): the memory plan counts it with the bf16 copies.
    fn sums_attention_dq_in_f32(&self) -> bool {
        false
    }

    /// Bytes this backend can still allocate (the host's available memory; on a GPU, its free
    /// device memory), for the memory plan's check before training; None when unknown.
    fn available_memory(&self) -> Option<u64> {
        crate::util::host_memory::available()
    }

    /// Most device memory the backend's tensors have held since it started or the last
    /// `reset_peak_memory`; None on the host (see the process's resident memory instead).
    fn peak_memory(&self) -> Option<u64> {
        None
    }

    fn reset_peak_memory(&self) {}

    /// Move a host tensor onto this backend (identity on the CPU).
    fn upload(&self, t: Tensor) -> Result<Tensor>;
    /// A zero-filled tensor made where the backend keeps its tensors (no host buffer to copy:
    /// a 2048 × 12288 f32 upload cost CodeGen2's backward 28 ms on an H100).
    fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        self.upload(Tensor::zeros(shape))
    }
    /// Copy a tensor back to host memory.
    fn download(&self, t: &Tensor) -> Result<Tensor>;

    /// out = a + b (same shapes).
    fn add(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// acc += x (same shapes).
    fn add_assign(&self, acc: &mut Tensor, x: &Tensor) -> Result<()>;
    /// Concatenates (B, S1, H, D) and (B, S2, H, D) along S (the KV cache).
    fn cat_seq(&self, a: &Tensor, b: &Tensor) -> Result<Tensor>;
    /// out[m, j] = x[m, idx[j]]; x (M, K) -> out (M, idx.len()).
    fn gather_cols(&self, x: &Tensor, idx: &[u32]) -> Result<Tensor>;
    /// dx[m, idx[j]] += dout[m, j]; the backward of `gather_cols`.
    fn scatter_cols_add(&self, dx: &mut Tensor, dout: &Tensor, idx: &[u32]) -> Result<()>;

    /// out (M, C) = weight (V, C) rows at ids (M).
    fn embedding_fwd(&self, weight: &Tensor, ids: &[u32]) -> Result<Tensor>;
    fn embedding_bwd(&self, dout: &Tensor, ids: &[u32], dweight: &mut Tensor) -> Result<()>;

    /// y = x·rstd·w; x (M, C), w (C).
    fn rmsnorm_fwd(&self, x: &Tensor, w: &Tensor, eps: f32) -> Result<(Tensor, NormSaved)>;
    fn rmsnorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
    ) -> Result<Tensor>;
    /// y = (x − mean)·rstd·w + b; x (M, C), w and b (C).
    fn layernorm_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        eps: f32,
    ) -> Result<(Tensor, NormSaved)>;
    fn layernorm_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        saved: &NormSaved,
        dw: Option<&mut Tensor>,
        db: Option<&mut Tensor>,
    ) -> Result<Tensor>;

    /// y (M, N) = x (M, K)·W (N, K)ᵀ + bias (N) with the adapter fused in.
    fn linear_fwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)>;
    /// dx (M, K) from dy (M, N); adapter gradients accumulate into `grad`. W never gets one.
    fn linear_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &Tensor,
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
    ) -> Result<Tensor>;

    /// Moves a frozen linear weight onto this backend: f32 through `upload`, quantized weights
    /// into the backend's packed storage when it has one (the CPU keeps them as they are).
    fn upload_base(&self, w: crate::quant::BaseWeight) -> Result<crate::quant::BaseWeight> {
        match w {
            crate::quant::BaseWeight::F32(t) => Ok(crate::quant::BaseWeight::F32(self.upload(t)?)),
            q => Ok(q),
        }
    }
    /// `linear_fwd` with a quantized frozen weight (int8 / NF4, crate::quant), (N, K) once
    /// decoded. The CPU reference dequantizes to f32 and runs `linear_fwd`.
    fn quant_linear_fwd(
        &self,
        x: &Tensor,
        w: &crate::quant::BaseWeight,
        bias: Option<&Tensor>,
        adapter: AdapterOp<'_>,
    ) -> Result<(Tensor, LinearSaved)> {
        let _ = (x, bias, adapter);
        Err(quant_unsupported(&self.name(), w))
    }
    /// `linear_bwd` with a quantized frozen weight: dx and adapter gradients; W gets none.
    fn quant_linear_bwd(
        &self,
        dy: &Tensor,
        x: &Tensor,
        w: &crate::quant::BaseWeight,
        adapter: AdapterOp<'_>,
        saved: &LinearSaved,
        grad: AdapterGrad<'_>,
    ) -> Result<Tensor> {
        let _ = (dy, x, adapter, saved, grad);
        Err(quant_unsupported(&self.name(), w))
    }

    /// Rotate x (B, T, H, D) for positions pos_offset..pos_offset+T.
    fn rope_fwd(&self, x: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor>;
    /// The inverse rotation (the rotation is orthogonal, so its transpose).
    fn rope_bwd(&self, dy: &Tensor, style: RopeStyle, pos_offset: usize) -> Result<Tensor>;

    /// Causal attention: q (B, T, H, D); k, v (B, S, Hkv, D) with S ≥ T, query i sitting at
    /// position S−T+i; H % Hkv == 0 (GQA). Returns out (B, T, H, D) and lse (B, H, T).
    fn attention_fwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor)>;
    /// Recomputes the probabilities from lse; returns (dq, dk, dv).
    #[allow(clippy::too_many_arguments)]
    fn attention_bwd(
        &self,
        dout: &Tensor,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        lse: &Tensor,
        scale: f32,
    ) -> Result<(Tensor, Tensor, Tensor)>;

    /// h = silu(gate)·up.
    fn swiglu_fwd(&self, gate: &Tensor, up: &Tensor) -> Result<Tensor>;
    /// (dgate, dup).
    fn swiglu_bwd(&self, dh: &Tensor, gate: &Tensor, up: &Tensor) -> Result<(Tensor, Tensor)>;
    /// gelu_new: 0.5x(1 + tanh(√(2/π)(x + 0.044715x³))).
    fn gelu_new_fwd(&self, x: &Tensor) -> Result<Tensor>;
    fn gelu_new_bwd(&self, dy: &Tensor, x: &Tensor) -> Result<Tensor>;

    /// logits (M, V), labels (M) with IGNORE_INDEX rows skipped.
    fn cross_entropy_fwd(&self, logits: &Tensor, labels: &[i32]) -> Result<CrossEntropyOut>;
    /// dlogits = (softmax − onehot)·grad_scale on valid rows, 0 on ignored rows.
    fn cross_entropy_bwd(
        &self,
        logits: &Tensor,
        labels: &[i32],
        lse: &Tensor,
        grad_scale: f32,
    ) -> Result<Tensor>;

    /// One token per row of logits (S, V): temperature then top-p, inverting the CDF at the
    /// row's uniform; greedy when temperature is 0.
    fn sample(
        &self,
        logits: &Tensor,
        temperature: f32,
        top_p: f32,
        uniforms: &[f32],
    ) -> Result<Vec<u32>>;

    /// One AdamW step (step counts from 1) over all slots.
    fn adamw_step(&self, slots: &mut [AdamSlot<'_>], cfg: &AdamWConfig, step: u64) -> Result<()>;
}

fn quant_unsupported(backend: &str, w: &crate::quant::BaseWeight) -> crate::error::Error {
    crate::error::Error::Unsupported(format!(
        "the {backend} backend has no {} linear yet; run with --base-dtype bf16, or on the CPU backend",
        w.kind()
    ))
}

/// Runs `f` on a tensor's data in host memory: directly for a host tensor, through one download
/// for a device tensor, so CPU paths copy nothing.
pub fn with_host<R>(be: &dyn Backend, t: &Tensor, f: impl FnOnce(&[f32]) -> R) -> Result<R> {
    if t.is_host() {
        return Ok(f(t.host()?));
    }
    Ok(f(be.download(t)?.host()?))
}

/// Changes a tensor's data on the host: in place for a host tensor, by a download and an upload
/// for a device tensor.
pub fn update_on_host(be: &dyn Backend, t: &mut Tensor, f: impl FnOnce(&mut [f32])) -> Result<()> {
    if t.is_host() {
        f(t.host_mut()?);
        return Ok(());
    }
    let mut h = be.download(t)?;
    f(h.host_mut()?);
    *t = be.upload(h)?;
    Ok(())
}

/// Shape checks shared by the backends, so the CPU and device paths reject the same inputs.
pub mod check {
    use crate::error::{Error, Result};
    use crate::tensor::Tensor;

    pub fn same_shape(op: &'static str, a: &Tensor, b: &Tensor) -> Result<()> {
        if a.shape() != b.shape() {
            return Err(Error::shape(
                op,
                format!("shapes differ: {:?} vs {:?}", a.shape(), b.shape()),
            ));
        }
        Ok(())
    }

    pub fn len(op: &'static str, what: &str, t: &Tensor, want: usize) -> Result<()> {
        if t.numel() != want {
            return Err(Error::shape(
                op,
                format!(
                    "{what} has shape {:?} ({} values), expected {want} values",
                    t.shape(),
                    t.numel()
                ),
            ));
        }
        Ok(())
    }

    /// (B, T, H, D) of a rank-4 tensor.
    pub fn rank4(op: &'static str, what: &str, t: &Tensor) -> Result<(usize, usize, usize, usize)> {
        match *t.shape() {
            [b, s, h, d] => Ok((b, s, h, d)),
            _ => Err(Error::shape(
                op,
                format!("{what} must be (B, T, H, D), got {:?}", t.shape()),
            )),
        }
    }

    /// (B, S1, S2, H, D) of the KV-cache concat of a (B, S1, H, D) and b (B, S2, H, D).
    pub fn cat_seq(a: &Tensor, b: &Tensor) -> Result<(usize, usize, usize, usize, usize)> {
        let (ba, sa, ha, da) = rank4("cat_seq", "a", a)?;
        let (bb, sb, hb, db) = rank4("cat_seq", "b", b)?;
        if (ba, ha, da) != (bb, hb, db) {
            return Err(Error::shape(
                "cat_seq",
                format!(
                    "{:?} and {:?} differ outside the sequence axis",
                    a.shape(),
                    b.shape()
                ),
            ));
        }
        Ok((ba, sa, sb, ha, da))
    }

    /// dout must be (rows of dx, idx.len()) for scatter_cols_add.
    pub fn scatter_cols(dx: &Tensor, dout: &Tensor, idx: &[u32]) -> Result<()> {
        if dout.last_dim() != idx.len() || dout.rows() != dx.rows() {
            return Err(Error::shape(
                "scatter_cols_add",
                format!(
                    "dout {:?} does not match dx {:?} with {} indices",
                    dout.shape(),
                    dx.shape(),
                    idx.len()
                ),
            ));
        }
        Ok(())
    }

    /// (rotary dim, theta) of a RoPE style on head dim d; the rotary dim must be even and ≤ d.
    pub fn rope(style: crate::backend::RopeStyle, d: usize) -> Result<(usize, f32)> {
        let (rot, theta) = match style {
            crate::backend::RopeStyle::RotateHalf { theta } => (d, theta),
            crate::backend::RopeStyle::Interleaved { rotary_dim, theta } => (rotary_dim, theta),
        };
        if rot > d || rot % 2 != 0 {
            return Err(Error::shape(
                "rope",
                format!("rotary dim {rot} must be even and ≤ head dim {d}"),
            ));
        }
        Ok((rot, theta))
    }
}
