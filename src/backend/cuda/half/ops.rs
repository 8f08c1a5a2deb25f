//! The 16-bit runner's pointwise and per-row families: norms, RoPE, activations, cross-entropy,
//! embedding, element-wise copies and sampling.

use cudarc::driver::CudaSlice;

use super::super::kernels::KernelModule;
use super::super::launch::{stride_cfg, KArg, NULL};
use super::*;
use crate::error::Result;

/// One method per kernel family; sizes are element counts, buffers are device pointers' owners.
/// Argument lists follow the `extern "C"` signatures in kernels/*.cu exactly.
#[allow(clippy::too_many_arguments)]
impl HalfRunner<'_> {
    // norm.cu: block 256, one row per block.
    pub fn rmsnorm_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        y: &HalfBuf,
        rstd: &CudaSlice<f32>,
        m: usize,
        c: usize,
        eps: f32,
    ) -> Result<()> {
        // (x, w, y, rstd, M, C, eps)
        let a = args![
            self.p(x),
            self.p(w),
            self.p(y),
            self.p(rstd),
            i(m)?,
            i(c)?,
            eps
        ];
        self.launch(KernelModule::Norm, "rmsnorm_fwd", rows_cfg(m, 256), &a)
    }

    pub fn rmsnorm_bwd(
        &self,
        dy: &HalfBuf,
        x: &HalfBuf,
        w: &HalfBuf,
        rstd: &CudaSlice<f32>,
        dx: &HalfBuf,
        m: usize,
        c: usize,
    ) -> Result<()> {
        // (dy, x, w, rstd, dx, M, C)
        let a = args![
            self.p(dy),
            self.p(x),
            self.p(w),
            self.p(rstd),
            self.p(dx),
            i(m)?,
            i(c)?
        ];
        self.launch(KernelModule::Norm, "rmsnorm_bwd", rows_cfg(m, 256), &a)
    }

    pub fn layernorm_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        b: &HalfBuf,
        y: &HalfBuf,
        mean: &CudaSlice<f32>,
        rstd: &CudaSlice<f32>,
        m: usize,
        c: usize,
        eps: f32,
    ) -> Result<()> {
        // (x, w, b, y, mean, rstd, M, C, eps)
        let a = args![
            self.p(x),
            self.p(w),
            self.p(b),
            self.p(y),
            self.p(mean),
            self.p(rstd),
            i(m)?,
            i(c)?,
            eps
        ];
        self.launch(KernelModule::Norm, "layernorm_fwd", rows_cfg(m, 256), &a)
    }

    pub fn layernorm_bwd(
        &self,
        dy: &HalfBuf,
        x: &HalfBuf,
        w: &HalfBuf,
        mean: &CudaSlice<f32>,
        rstd: &CudaSlice<f32>,
        dx: &HalfBuf,
        m: usize,
        c: usize,
    ) -> Result<()> {
        // (dy, x, w, mean, rstd, dx, M, C)
        let a = args![
            self.p(dy),
            self.p(x),
            self.p(w),
            self.p(mean),
            self.p(rstd),
            self.p(dx),
            i(m)?,
            i(c)?
        ];
        self.launch(KernelModule::Norm, "layernorm_bwd", rows_cfg(m, 256), &a)
    }

    /// dw (and db) += column sums; `mean` None for RMSNorm. fp32 accumulators.
    pub fn norm_bwd_dw(
        &self,
        dy: &HalfBuf,
        x: &HalfBuf,
        mean: Option<&CudaSlice<f32>>,
        rstd: &CudaSlice<f32>,
        dw: &CudaSlice<f32>,
        db: Option<&CudaSlice<f32>>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        // (dy, x, mean, rstd, dw, db, M, C)
        let a = args![
            self.p(dy),
            self.p(x),
            self.op(mean),
            self.p(rstd),
            self.p(dw),
            self.op(db),
            i(m)?,
            i(c)?
        ];
        self.launch(KernelModule::Norm, "norm_bwd_dw", colsum_cfg(c), &a)
    }

    /// rope.cu, x/y [B, T, H, D]; `interleaved_rot` Some(rot) for CodeGen's partial rotary.
    /// inv_freq [rot/2] fp32; positions pos_offset + t. Grid (B·T), block 128.
    pub fn rope(
        &self,
        x: &HalfBuf,
        y: &HalfBuf,
        inv_freq: &CudaSlice<f32>,
        bt: usize,
        t: usize,
        h: usize,
        d: usize,
        interleaved_rot: Option<usize>,
        pos_offset: usize,
        inverse: bool,
    ) -> Result<()> {
        let dir = if inverse { "bwd" } else { "fwd" };
        // (x, y, positions, pos_offset, inv_freq, T, H, D[, rot])
        let mut a = Vec::from(args![
            self.p(x),
            self.p(y),
            NULL,
            i(pos_offset)?,
            self.p(inv_freq),
            i(t)?,
            i(h)?,
            i(d)?
        ]);
        let base = match interleaved_rot {
            None => format!("rope_half_{dir}"),
            Some(rot) => {
                a.push(KArg::from(i(rot)?));
                format!("rope_interleaved_{dir}")
            }
        };
        self.launch(
            KernelModule::Rope,
            &base,
            cfg((i(bt)? as u32, 1, 1), (128, 1, 1)),
            &a,
        )
    }

    // activation.cu: grid-stride, block 256.
    pub fn swiglu_fwd(&self, g: &HalfBuf, u: &HalfBuf, h: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(g), self.p(u), self.p(h), n as i64];
        self.launch(KernelModule::Activation, "swiglu_fwd", stride_cfg(n), &a)
    }

    pub fn swiglu_bwd(
        &self,
        dh: &HalfBuf,
        g: &HalfBuf,
        u: &HalfBuf,
        dg: &HalfBuf,
        du: &HalfBuf,
        n: usize,
    ) -> Result<()> {
        let a = args![
            self.p(dh),
            self.p(g),
            self.p(u),
            self.p(dg),
            self.p(du),
            n as i64
        ];
        self.launch(KernelModule::Activation, "swiglu_bwd", stride_cfg(n), &a)
    }

    pub fn gelu_new_fwd(&self, x: &HalfBuf, y: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(x), self.p(y), n as i64];
        self.launch(KernelModule::Activation, "gelu_new_fwd", stride_cfg(n), &a)
    }

    pub fn gelu_new_bwd(&self, dy: &HalfBuf, x: &HalfBuf, dx: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(dy), self.p(x), self.p(dx), n as i64];
        self.launch(KernelModule::Activation, "gelu_new_bwd", stride_cfg(n), &a)
    }

    /// cross_entropy.cu: per-row loss and lse (fp32), dlogits (in T) when given. Block 512.
    pub fn cross_entropy(
        &self,
        logits: &HalfBuf,
        labels: &CudaSlice<i32>,
        loss: &CudaSlice<f32>,
        lse: &CudaSlice<f32>,
        dlogits: Option<&HalfBuf>,
        grad_scale: f32,
        m: usize,
        v: usize,
    ) -> Result<()> {
        // (logits, labels, loss, lse, dlogits, grad_scale, M, V)
        let a = args![
            self.p(logits),
            self.p(labels),
            self.p(loss),
            self.p(lse),
            self.op(dlogits),
            grad_scale,
            i(m)?,
            i(v)?
        ];
        self.launch(
            KernelModule::CrossEntropy,
            "cross_entropy_fwd_bwd",
            rows_cfg(m, 512),
            &a,
        )
    }

    // embedding.cu: grid (M), block 256.
    pub fn embedding_fwd(
        &self,
        ids: &CudaSlice<i32>,
        weight: &HalfBuf,
        out: &HalfBuf,
        m: usize,
        c: usize,
        v: usize,
        bad_id: Option<&CudaSlice<i32>>,
    ) -> Result<()> {
        // (ids, weight, out, M, C, V, bad_id)
        let a = args![
            self.p(ids),
            self.p(weight),
            self.p(out),
            i(m)?,
            i(c)?,
            i(v)?,
            self.op(bad_id)
        ];
        self.launch(
            KernelModule::Embedding,
            "embedding_fwd",
            rows_cfg(m, 256),
            &a,
        )
    }

    pub fn embedding_bwd(
        &self,
        ids: &CudaSlice<i32>,
        dout: &HalfBuf,
        dweight: &CudaSlice<f32>,
        m: usize,
        c: usize,
        v: usize,
    ) -> Result<()> {
        // (ids, dout, dweight fp32, M, C, V)
        let a = args![
            self.p(ids),
            self.p(dout),
            self.p(dweight),
            i(m)?,
            i(c)?,
            i(v)?
        ];
        self.launch(
            KernelModule::Embedding,
            "embedding_bwd",
            rows_cfg(m, 256),
            &a,
        )
    }

    // elementwise.cu: grid-stride, block 256.
    pub fn add(&self, a_: &HalfBuf, b: &HalfBuf, out: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(a_), self.p(b), self.p(out), n as i64];
        self.launch(KernelModule::Elementwise, "add", stride_cfg(n), &a)
    }

    /// y = dtype(x) (nearest even) from f32 x: `--precision bf16`'s input rounding (bf16 only).
    pub fn round_from_f32(&self, x: &CudaSlice<f32>, y: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(x), self.p(y), n as i64];
        self.launch(KernelModule::Elementwise, "round_f32_to", stride_cfg(n), &a)
    }

    /// y = f32(x) (exact): `--precision bf16`'s widening of attention outputs (bf16 only).
    pub fn widen_to_f32(&self, x: &HalfBuf, y: &CudaSlice<f32>, n: usize) -> Result<()> {
        let a = args![self.p(x), self.p(y), n as i64];
        let name = format!("widen_{}_to_f32", self.dt.suffix());
        self.launch_named(KernelModule::Elementwise, &name, stride_cfg(n), &a)
    }

    /// out[m, c] = x[m, c]·l[c] in f32 (IA3's scaling under `--precision bf16`; any dtype runner).
    pub fn scale_cols_f32(
        &self,
        x: &CudaSlice<f32>,
        l: &CudaSlice<f32>,
        out: &CudaSlice<f32>,
        m: usize,
        c: usize,
    ) -> Result<()> {
        let a = args![self.p(x), self.p(l), self.p(out), m as i64, c as i64];
        self.launch_named(
            KernelModule::Elementwise,
            "scale_cols_f32",
            stride_cfg(m * c),
            &a,
        )
    }

    pub fn add_assign(&self, acc: &HalfBuf, x: &HalfBuf, n: usize) -> Result<()> {
        let a = args![self.p(acc), self.p(x), n as i64];
        self.launch(KernelModule::Elementwise, "add_assign", stride_cfg(n), &a)
    }

    /// out [B, S1+S2, R] from a [B, S1, R] and b [B, S2, R].
    pub fn cat_seq(
        &self,
        a_: &HalfBuf,
        b: &HalfBuf,
        out: &HalfBuf,
        bsz: usize,
        s1: usize,
        s2: usize,
        r: usize,
    ) -> Result<()> {
        let a = args![
            self.p(a_),
            self.p(b),
            self.p(out),
            bsz as i64,
            s1 as i64,
            s2 as i64,
            r as i64
        ];
        self.launch(
            KernelModule::Elementwise,
            "cat_seq",
            stride_cfg(bsz * (s1 + s2) * r),
            &a,
        )
    }

    pub fn gather_cols(
        &self,
        x: &HalfBuf,
        idx: &CudaSlice<i32>,
        out: &HalfBuf,
        m: usize,
        k: usize,
        j: usize,
    ) -> Result<()> {
        let a = args![
            self.p(x),
            self.p(idx),
            self.p(out),
            m as i64,
            k as i64,
            j as i64
        ];
        self.launch(
            KernelModule::Elementwise,
            "gather_cols",
            stride_cfg(m * j),
            &a,
        )
    }

    /// dx[m, idx[j]] += dout[m, j]; idx must be distinct (no atomics).
    pub fn scatter_cols_add(
        &self,
        dx: &HalfBuf,
        dout: &HalfBuf,
        idx: &CudaSlice<i32>,
        m: usize,
        k: usize,
        j: usize,
    ) -> Result<()> {
        let a = args![
            self.p(dx),
            self.p(dout),
            self.p(idx),
            m as i64,
            k as i64,
            j as i64
        ];
        self.launch(
            KernelModule::Elementwise,
            "scatter_cols_add",
            stride_cfg(m * j),
            &a,
        )
    }

    /// sampling.cu: one id per row of logits [S, V]; block 512.
    pub fn sample(
        &self,
        logits: &HalfBuf,
        temperature: f32,
        top_p: f32,
        uniforms: &CudaSlice<f32>,
        out: &CudaSlice<i32>,
        s: usize,
        v: usize,
    ) -> Result<()> {
        // (logits, temperature, top_p, uniforms, out, V)
        let a = args![
            self.p(logits),
            temperature,
            top_p,
            self.p(uniforms),
            self.p(out),
            i(v)?
        ];
        self.launch(KernelModule::Sampling, "sampling_fwd", rows_cfg(s, 512), &a)
    }
}
