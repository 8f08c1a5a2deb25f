//! Test and bench support for the 16-bit kernel instances (`*_bf16`, `*_f16`): 16-bit device
//! buffers filled from f32 host data (rounded to nearest even), raw launches of every entry point
//! with the argument order of its kernels/*.cu signature, and the launch shapes of each family.
//! The training backend runs the f32 instances; nothing here is on a training path.
//! Buffers are raw `CudaSlice`s on the device's one stream; outputs are passed by shared
//! reference (the kernels write through the device pointer, as the backend's ops do).

use cudarc::driver::{CudaSlice, DevicePtr, LaunchConfig};

use super::device::CudaDevice;
use super::kernels::KernelModule;
use super::launch::{cfg, int, KArg, NULL};
use super::plan::{
    gemm16_core_launch, gemm_grid, rank_project_launch, rank_project_tiled, Projection,
    GEMM_THREADS,
};
use super::tma::{gemm_operands, Elem16, GemmShape};
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
/// `launch_gemm16`, the tensor-core cores on sm_80+): output `m`×`n`, reduction over `k`.
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
    /// Launches the GEMM-family entry `base` (linear, LoRA fwd / dX) of `shape` on this GPU's core
    /// (`CudaDevice::gemm_core`): lora_matmul.cu's gemm_core.cuh or `tc_` instances, or
    /// gemm_wgmma.cu's `wg_` / `wgp_`, or gemm_tma.cu's `wgt_` (which take tensor maps over
    /// `lead` and `weight`); then `rest` of the entry's arguments. The dtype suffix is added here.
    fn launch_gemm16(
        &self,
        base: &str,
        shape: GemmShape,
        rmax: usize,
        (lead, weight): (u64, u64),
        rest: &[KArg],
    ) -> Result<()> {
        let elem = match self.dt {
            Half::Bf16 => Elem16::Bf16,
            Half::F16 => Elem16::F16,
        };
        let (core, operands) = gemm_operands(self.dev.gemm_core()?, elem, shape, lead, weight)?;
        let cfg = gemm16_core_launch(core, shape.rows, shape.cols, rmax);
        let args: Vec<KArg> = operands.into_iter().chain(rest.iter().cloned()).collect();
        self.launch(
            core.module(),
            &format!("{}{base}", core.prefix()),
            cfg,
            &args,
        )
    }

    pub(crate) fn launch(
        &self,
        module: KernelModule,
        base: &str,
        cfg: LaunchConfig,
        args: &[KArg],
    ) -> Result<()> {
        self.launch_named(module, &format!("{base}_{}", self.dt.suffix()), cfg, args)
    }

    /// Launches the entry point `name` as it is (no dtype suffix added).
    pub(crate) fn launch_named(
        &self,
        module: KernelModule,
        name: &str,
        cfg: LaunchConfig,
        args: &[KArg],
    ) -> Result<()> {
        // Each caller passes its entry point's exact parameter list (the kernel signature is
        // quoted at the call), with pointers to live buffers of the sizes it needs.
        super::launch::launch_args(self.dev, module, name, cfg, args)
    }
}

mod linear;
mod ops;
