//! The 16-bit runner's GEMM families: plain, IA3 and LoRA linears and the LoRA rank kernels.

use cudarc::driver::CudaSlice;

use super::super::kernels::KernelModule;
use super::super::launch::KArg;
use super::*;
use crate::error::Result;

/// One method per kernel family; sizes are element counts, buffers are device pointers' owners.
/// Argument lists follow the `extern "C"` signatures in kernels/*.cu exactly.
#[allow(clippy::too_many_arguments)]
impl HalfRunner<'_> {
    // ia3.cu: GEMMs through gemm_launch; dl column sums through colsum_cfg.
    pub fn ia3_in_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        bias: Option<&HalfBuf>,
        l: &CudaSlice<f32>,
        y: &HalfBuf,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // (x, W, bias, l, y, M, N, K)
        let a = args![
            self.p(x),
            self.p(w),
            self.op(bias),
            self.p(l),
            self.p(y),
            i(m)?,
            i(n)?,
            i(k)?
        ];
        self.launch(
            KernelModule::Ia3,
            "ia3_in_fwd",
            gemm_launch(self.dt, m, n, k),
            &a,
        )
    }

    pub fn ia3_in_bwd(
        &self,
        dy: &HalfBuf,
        x: &HalfBuf,
        w: &HalfBuf,
        l: &CudaSlice<f32>,
        dx: &HalfBuf,
        dl: &CudaSlice<f32>,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // (dy, x, W, l, dx, dl, M, N, K); output [M, K], reduction over N
        let a = args![
            self.p(dy),
            self.p(x),
            self.p(w),
            self.p(l),
            self.p(dx),
            self.p(dl),
            i(m)?,
            i(n)?,
            i(k)?
        ];
        self.launch(
            KernelModule::Ia3,
            "ia3_in_bwd",
            gemm_launch(self.dt, m, k, n),
            &a,
        )
    }

    pub fn ia3_out_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        bias: Option<&HalfBuf>,
        l: &CudaSlice<f32>,
        y: &HalfBuf,
        z: &HalfBuf,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // (x, W, bias, l, y, z, M, N, K)
        let a = args![
            self.p(x),
            self.p(w),
            self.op(bias),
            self.p(l),
            self.p(y),
            self.p(z),
            i(m)?,
            i(n)?,
            i(k)?
        ];
        self.launch(
            KernelModule::Ia3,
            "ia3_out_fwd",
            gemm_launch(self.dt, m, n, k),
            &a,
        )
    }

    pub fn ia3_out_bwd(
        &self,
        dy: &HalfBuf,
        w: &HalfBuf,
        l: &CudaSlice<f32>,
        z: &HalfBuf,
        dx: &HalfBuf,
        dl: &CudaSlice<f32>,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // ia3_out_bwd_dx(dy, W, l, dx, M, N, K), then ia3_out_bwd_dl(dy, z, dl, M, N)
        let a = args![
            self.p(dy),
            self.p(w),
            self.p(l),
            self.p(dx),
            i(m)?,
            i(n)?,
            i(k)?
        ];
        self.launch(
            KernelModule::Ia3,
            "ia3_out_bwd_dx",
            gemm_launch(self.dt, m, k, n),
            &a,
        )?;
        let a = args![self.p(dy), self.p(z), self.p(dl), i(m)?, i(n)?];
        self.launch(KernelModule::Ia3, "ia3_out_bwd_dl", colsum_cfg(n), &a)
    }

    // lora_matmul.cu: every GEMM launch through gemm_launch, every rank launch through rank_project / rank_accumulate_launch.
    pub fn linear_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        bias: Option<&HalfBuf>,
        y: &HalfBuf,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // (x, W, bias, y, M, N, K)
        let rest = args![self.op(bias), self.p(y), i(m)?, i(n)?, i(k)?];
        let shape = GemmShape::fwd(m, n, k);
        self.launch_gemm16("linear_fwd", shape, 0, (self.p(x), self.p(w)), &rest)
    }

    pub fn linear_bwd_dx(
        &self,
        dy: &HalfBuf,
        w: &HalfBuf,
        dx: &HalfBuf,
        m: usize,
        n: usize,
        k: usize,
    ) -> Result<()> {
        // (dy, W, dx, M, N, K); output [M, K], reduction over N
        let rest = args![self.p(dx), i(m)?, i(n)?, i(k)?];
        let shape = GemmShape::dx(m, n, k);
        self.launch_gemm16("linear_bwd_dx", shape, 0, (self.p(dy), self.p(w)), &rest)
    }

    /// The `_r16` or `_r64` instance that serves rank r.
    fn rank_bound(r: usize) -> usize {
        if r <= 16 {
            16
        } else {
            64
        }
    }

    /// LoRA forward: xa = drop(x)·Aᵀ (fp32) then y = x·Wᵀ + bias + s·xa·Bᵀ. A [r,K], B [N,r] fp32.
    /// `out` [M, r] fp32 = the projection of `u` [M, P] by `v` (xa: A [r, P] with input dropout
    /// p and seed; dyb: B [P, r], p unused); `tiled` picks the 16-rows-per-block form.
    #[allow(clippy::too_many_arguments)]
    pub fn rank_project(
        &self,
        which: Projection,
        tiled: bool,
        u: &HalfBuf,
        v: &CudaSlice<f32>,
        out: &CudaSlice<f32>,
        p: f32,
        seed: u64,
        m: usize,
        p_dim: usize,
        r: usize,
    ) -> Result<()> {
        let (infix, launch) = rank_project_launch(m, r, (p_dim, self.p(u)), tiled);
        let (mi, pi, ri) = (i(m)?, i(p_dim)?, i(r)?);
        match which {
            // lora_linear_xa{infix}(x, A, xa, p, seed, M, K, r)
            Projection::Xa => {
                let a = args![self.p(u), self.p(v), self.p(out), p, seed, mi, pi, ri];
                let name = format!("lora_linear_xa{infix}");
                self.launch(KernelModule::LoraMatmul, &name, launch, &a)
            }
            // lora_linear_bwd_dyb{infix}(dy, B, dyb, M, N, r)
            Projection::Dyb => {
                let a = args![self.p(u), self.p(v), self.p(out), mi, pi, ri];
                let name = format!("lora_linear_bwd_dyb{infix}");
                self.launch(KernelModule::LoraMatmul, &name, launch, &a)
            }
        }
    }

    pub fn lora_fwd(
        &self,
        x: &HalfBuf,
        w: &HalfBuf,
        bias: Option<&HalfBuf>,
        a_: &CudaSlice<f32>,
        b_: &CudaSlice<f32>,
        xa: &CudaSlice<f32>,
        scale: f32,
        p: f32,
        seed: u64,
        y: &HalfBuf,
        m: usize,
        n: usize,
        k: usize,
        r: usize,
    ) -> Result<()> {
        self.rank_project(
            Projection::Xa,
            rank_project_tiled(Projection::Xa, m, r),
            x,
            a_,
            xa,
            p,
            seed,
            m,
            k,
            r,
        )?;
        // lora_linear_fwd_r{R}(x, W, bias, xa, B, scale, y, M, N, K, r)
        let rest = args![
            self.op(bias),
            self.p(xa),
            self.p(b_),
            scale,
            self.p(y),
            i(m)?,
            i(n)?,
            i(k)?,
            i(r)?
        ];
        let rmax = Self::rank_bound(r);
        let shape = GemmShape::fwd(m, n, k);
        let name = format!("lora_linear_fwd_r{rmax}");
        self.launch_gemm16(&name, shape, rmax, (self.p(x), self.p(w)), &rest)
    }

    /// LoRA backward: dyb = dY·B, dX = dY·W + s·(dyb·A)⊙mask, dA += s·dybᵀ·drop(x),
    /// dB += s·dYᵀ·xa (dA, dB fp32, accumulated). `dyb` is [M, r] fp32 scratch.
    pub fn lora_bwd(
        &self,
        dy: &HalfBuf,
        x: &HalfBuf,
        w: &HalfBuf,
        a_: &CudaSlice<f32>,
        b_: &CudaSlice<f32>,
        xa: &CudaSlice<f32>,
        dyb: &CudaSlice<f32>,
        scale: f32,
        p: f32,
        seed: u64,
        dx: &HalfBuf,
        da: &CudaSlice<f32>,
        db: &CudaSlice<f32>,
        m: usize,
        n: usize,
        k: usize,
        r: usize,
    ) -> Result<()> {
        let (mi, ni, ki, ri) = (i(m)?, i(n)?, i(k)?, i(r)?);
        self.rank_project(
            Projection::Dyb,
            rank_project_tiled(Projection::Dyb, m, r),
            dy,
            b_,
            dyb,
            0.0,
            0,
            m,
            n,
            r,
        )?;
        // lora_linear_bwd_dx_r{R}(dy, W, dyb, A, scale, p, seed, dx, M, N, K, r)
        let rest = args![
            self.p(dyb),
            self.p(a_),
            scale,
            p,
            seed,
            self.p(dx),
            mi,
            ni,
            ki,
            ri
        ];
        let rmax = Self::rank_bound(r);
        let shape = GemmShape::dx(m, n, k);
        let name = format!("lora_linear_bwd_dx_r{rmax}");
        self.launch_gemm16(&name, shape, rmax, (self.p(dy), self.p(w)), &rest)?;
        // lora_linear_bwd_dA(x, dyb, dA, scale, p, seed, M, K, r)
        let a = args![
            self.p(x),
            self.p(dyb),
            self.p(da),
            scale,
            p,
            seed,
            mi,
            ki,
            ri
        ];
        self.launch(
            KernelModule::LoraMatmul,
            "lora_linear_bwd_dA",
            rank_accumulate_launch(k, r),
            &a,
        )?;
        // lora_linear_bwd_dB(dy, xa, dB, scale, M, N, r)
        let a = args![self.p(dy), self.p(xa), self.p(db), scale, mi, ni, ri];
        self.launch(
            KernelModule::LoraMatmul,
            "lora_linear_bwd_dB",
            rank_accumulate_launch(n, r),
            &a,
        )
    }
}
