//! Test and bench support for the 16-bit kernel instances (`*_bf16`, `*_f16`): 16-bit device
//! buffers filled from f32 host data (rounded to nearest even), raw launches of every entry point
//! with the argument order of its kernels/*.cu signature, and the launch shapes of each family.
//! The training backend runs the f32 instances; nothing here is on a training path.
//! Buffers are raw `CudaSlice`s on the device's one stream; outputs are passed by shared
//! reference (the kernels write through the device pointer, as the backend's ops do).

use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig};

use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::{cfg, int, stride_cfg, KArg, NULL};
use super::plan::{
    gemm16_launch, gemm_grid, rank_project_launch, GEMM_THREADS, RANK_PROJECT_TILED,
};
use crate::error::Result;

/// A 16-bit storage type of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Half {
    Bf16,
    F16,
}

impl Half {
    pub const ALL: [Half; 2] = [Half::Bf16, Half::F16];

    /// The entry-point suffix in kernels/*.cu.
    pub fn suffix(self) -> &'static str {
        match self {
            Half::Bf16 => "bf16",
            Half::F16 => "f16",
        }
    }

    /// Unit roundoff of round-to-nearest: 2^-8 (8 significant bits) or 2^-11 (11 bits).
    pub fn unit_roundoff(self) -> f32 {
        match self {
            Half::Bf16 => 1.0 / 256.0,
            Half::F16 => 1.0 / 2048.0,
        }
    }

    /// Absolute spacing below the normal range: f16 subnormals are 2^-24 apart; bf16 shares
    /// f32's exponent range, so its floor is negligible.
    pub fn subnormal_step(self) -> f32 {
        match self {
            Half::Bf16 => 1e-38,
            Half::F16 => 1.0 / 16_777_216.0,
        }
    }

    pub fn to_bits(self, v: f32) -> u16 {
        match self {
            Half::Bf16 => half::bf16::from_f32(v).to_bits(),
            Half::F16 => half::f16::from_f32(v).to_bits(),
        }
    }

    pub fn from_bits(self, b: u16) -> f32 {
        match self {
            Half::Bf16 => half::bf16::from_bits(b).to_f32(),
            Half::F16 => half::f16::from_bits(b).to_f32(),
        }
    }

    /// `v` rounded to this type and back: the value a kernel reads.
    pub fn round(self, v: f32) -> f32 {
        self.from_bits(self.to_bits(v))
    }
}

/// A device buffer of 16-bit values (bf16 or f16 bits).
pub type HalfBuf = CudaSlice<u16>;

/// Launch shape of the gemm_core.cuh entries (ia3.cu's GEMMs; lora_matmul.cu's go through
/// `plan::gemm16_launch`, the tensor-core core on sm_80+): output `m`×`n`, reduction over `k`.
pub fn gemm_launch(_dt: Half, m: usize, n: usize, _k: usize) -> LaunchConfig {
    cfg(gemm_grid(m, n), (GEMM_THREADS, 1, 1))
}

/// Launch shape of LoRA's rank-r kernels, lora_matmul.cu header: `Project` (xa, dyb) grid
/// (rows, ⌈r/8⌉); `Accumulate` (dA, dB) grid (⌈cols/128⌉, ⌈r/8⌉, 1 row split); block 128.
pub fn rank_accumulate_launch(cols: usize, r: usize) -> LaunchConfig {
    cfg(
        (cols.div_ceil(128) as u32, r.div_ceil(8) as u32, 1),
        (128, 1, 1),
    )
}

/// A LoRA rank projection: xa = drop(x)·Aᵀ (P = K, V = A [r, K]) or dyb = dY·B (P = N,
/// V = B [N, r]).
#[derive(Clone, Copy, Debug)]
pub enum Projection {
    Xa,
    Dyb,
}

/// Per-row kernels (norms, CE, embedding, sampling): one block per row.
fn rows_cfg(rows: usize, threads: u32) -> LaunchConfig {
    cfg((rows.max(1) as u32, 1, 1), (threads, 1, 1))
}

/// Column-sum kernels (norm_bwd_dw, ia3_out_bwd_dl): block (32, 8), one row split.
fn colsum_cfg(cols: usize) -> LaunchConfig {
    cfg((cols.div_ceil(32) as u32, 1, 1), (32, 8, 1))
}

fn i(n: usize) -> Result<i32> {
    int("half", n)
}

/// `[KArg; N]` from values of the scalar types the entry points take.
macro_rules! args {
    ($($x:expr),* $(,)?) => { [$(KArg::from($x)),*] };
}

/// Runs the 16-bit instances of one dtype on a device.
pub struct HalfRunner<'a> {
    dev: &'a CudaDevice,
    pub dt: Half,
}

impl<'a> HalfRunner<'a> {
    pub fn new(dev: &'a CudaDevice, dt: Half) -> Self {
        Self { dev, dt }
    }

    pub fn device(&self) -> &CudaDevice {
        self.dev
    }

    pub fn stream(&self) -> &std::sync::Arc<cudarc::driver::CudaStream> {
        self.dev.stream()
    }

    /// Rounds `v` to the dtype and copies it to the device.
    pub fn upload(&self, v: &[f32]) -> Result<HalfBuf> {
        let bits: Vec<u16> = v.iter().map(|&x| self.dt.to_bits(x)).collect();
        Ok(self.stream().clone_htod(&bits)?)
    }

    pub fn download(&self, b: &HalfBuf) -> Result<Vec<f32>> {
        let bits = self.stream().clone_dtoh(b)?;
        self.stream().synchronize()?;
        Ok(bits.into_iter().map(|x| self.dt.from_bits(x)).collect())
    }

    pub fn zeros(&self, n: usize) -> Result<HalfBuf> {
        Ok(self.stream().alloc_zeros::<u16>(n.max(1))?)
    }

    pub fn upload_f32(&self, v: &[f32]) -> Result<CudaSlice<f32>> {
        Ok(self.stream().clone_htod(v)?)
    }

    pub fn upload_i32(&self, v: &[i32]) -> Result<CudaSlice<i32>> {
        Ok(self.stream().clone_htod(v)?)
    }

    pub fn zeros_f32(&self, n: usize) -> Result<CudaSlice<f32>> {
        Ok(self.stream().alloc_zeros::<f32>(n.max(1))?)
    }

    pub fn zeros_i32(&self, n: usize) -> Result<CudaSlice<i32>> {
        Ok(self.stream().alloc_zeros::<i32>(n.max(1))?)
    }

    pub fn download_f32(&self, b: &CudaSlice<f32>) -> Result<Vec<f32>> {
        let v = self.stream().clone_dtoh(b)?;
        self.stream().synchronize()?;
        Ok(v)
    }

    pub fn download_i32(&self, b: &CudaSlice<i32>) -> Result<Vec<i32>> {
        let v = self.stream().clone_dtoh(b)?;
        self.stream().synchronize()?;
        Ok(v)
    }

    /// Device address of any buffer on this stream.
    pub fn p<T>(&self, s: &CudaSlice<T>) -> u64 {
        s.device_ptr(self.stream()).0
    }

    fn op<T>(&self, s: Option<&CudaSlice<T>>) -> u64 {
        s.map_or(NULL, |s| self.p(s))
    }

    /// Launches `<base>_<dtype>` of `module` with `args` in the kernel's parameter order.
    /// lora_matmul.cu's GEMM-family entry `base`: the tensor-core `tc_` entry on sm_80+
    /// (kernels/gemm_tc.cuh), the gemm_core.cuh one below; `launch` adds the dtype suffix.
    fn gemm16_name(&self, base: &str) -> Result<String> {
        let (major, _) = self.dev.compute_capability()?;
        Ok(format!("{}{base}", gemm16_launch(major, 1, 1, 0).0))
    }

    fn gemm16_cfg(&self, rows: usize, cols: usize, rmax: usize) -> Result<LaunchConfig> {
        let (major, _) = self.dev.compute_capability()?;
        Ok(gemm16_launch(major, rows, cols, rmax).1)
    }

    pub(crate) fn launch(
        &self,
        module: KernelModule,
        base: &str,
        cfg: LaunchConfig,
        args: &[KArg],
    ) -> Result<()> {
        let name = format!("{base}_{}", self.dt.suffix());
        let f = self
            .dev
            .function_for_launch(module, &name, cfg.shared_mem_bytes)?;
        let mut b = self.stream().launch_builder(&f);
        for a in args {
            a.push(&mut b);
        }
        // SAFETY: each caller below passes its entry point's exact parameter list (the kernel
        // signature is quoted at the call), with pointers to live buffers of the sizes it needs.
        unsafe { b.launch(cfg) }?;
        Ok(())
    }
}

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
        let a = args![
            self.p(x),
            self.p(w),
            self.op(bias),
            self.p(y),
            i(m)?,
            i(n)?,
            i(k)?
        ];
        self.launch(
            KernelModule::LoraMatmul,
            &self.gemm16_name("linear_fwd")?,
            self.gemm16_cfg(m, n, 0)?,
            &a,
        )
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
        let a = args![self.p(dy), self.p(w), self.p(dx), i(m)?, i(n)?, i(k)?];
        self.launch(
            KernelModule::LoraMatmul,
            &self.gemm16_name("linear_bwd_dx")?,
            self.gemm16_cfg(m, k, 0)?,
            &a,
        )
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
        let (infix, launch) = rank_project_launch(m, r, tiled);
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
            RANK_PROJECT_TILED,
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
        let a = args![
            self.p(x),
            self.p(w),
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
        let name = self.gemm16_name(&format!("lora_linear_fwd_r{}", Self::rank_bound(r)))?;
        self.launch(
            KernelModule::LoraMatmul,
            &name,
            self.gemm16_cfg(m, n, Self::rank_bound(r))?,
            &a,
        )
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
            RANK_PROJECT_TILED,
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
        let a = args![
            self.p(dy),
            self.p(w),
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
        let name = self.gemm16_name(&format!("lora_linear_bwd_dx_r{}", Self::rank_bound(r)))?;
        self.launch(
            KernelModule::LoraMatmul,
            &name,
            self.gemm16_cfg(m, k, Self::rank_bound(r))?,
            &a,
        )?;
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
