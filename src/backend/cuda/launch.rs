//! What every op of the CUDA backend needs to launch a kernel: raw device pointers of tensors,
//! fresh output buffers, i32 size arguments checked against the kernels' limits, and `launch!`.
//! Buffers are passed as raw pointers (u64): all work runs on the one stream and every free is
//! stream-ordered, so a buffer dropped right after a launch is released only after the kernel.

use cudarc::driver::{DevicePtr, LaunchConfig};

use super::backend::CudaBackend;
use super::storage::DeviceBuf;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// The null pointer a kernel reads as "absent" (bias, z, dlogits).
pub const NULL: u64 = 0;

impl CudaBackend {
    /// Device address of a tensor's data.
    pub(super) fn ptr(&self, t: &Tensor) -> Result<u64> {
        let buf = t.device()?;
        Ok(buf.slice().device_ptr(self.stream()).0)
    }

    /// Device address of a raw buffer (uploaded indices, labels, tables).
    pub(super) fn raw<T>(&self, s: &cudarc::driver::CudaSlice<T>) -> u64 {
        s.device_ptr(self.stream()).0
    }

    pub(super) fn opt_ptr(&self, t: Option<&Tensor>) -> Result<u64> {
        t.map_or(Ok(NULL), |t| self.ptr(t))
    }

    /// A zero-filled device tensor.
    pub(super) fn zeros(&self, shape: &[usize]) -> Result<Tensor> {
        let n = shape.iter().product();
        let buf = self.stream().alloc_zeros::<f32>(n)?;
        Tensor::from_device(DeviceBuf(buf), shape)
    }

    /// A device tensor with undefined contents, for an output the next kernel writes whole: it
    /// saves `zeros`' memset (in a mixed 7B layer step the outputs and bf16 copies are ~1 GB).
    /// Only for kernels the emulator checks from NaN-filled outputs (tests/host/sim_*.cpp).
    pub(super) fn uninit(&self, shape: &[usize]) -> Result<Tensor> {
        let n = shape.iter().product();
        // SAFETY: the caller launches a kernel that writes all n values before any read.
        let buf = unsafe { self.stream().alloc::<f32>(n) }?;
        Tensor::from_device(DeviceBuf(buf), shape)
    }

    /// Uploads a small host array (indices, labels, uniforms, tables) for one launch.
    pub(super) fn upload_i32(&self, v: &[i32]) -> Result<cudarc::driver::CudaSlice<i32>> {
        Ok(self.stream().clone_htod(v)?)
    }

    pub(super) fn upload_f32(&self, v: &[f32]) -> Result<cudarc::driver::CudaSlice<f32>> {
        Ok(self.stream().clone_htod(v)?)
    }
}

/// A size as the kernels' `int` arguments, refusing what they cannot index.
pub fn int(op: &'static str, n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| {
        Error::shape(
            op,
            format!("size {n} is at or above 2^31, beyond the CUDA kernels' int indexing"),
        )
    })
}

pub fn cfg(grid: (u32, u32, u32), block: (u32, u32, u32)) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: block,
        shared_mem_bytes: 0,
    }
}

/// A launch with `smem` bytes of dynamic shared memory (`launch!` opts in above 48 KB).
pub fn cfg_smem(grid: (u32, u32, u32), block: (u32, u32, u32), smem: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: grid,
        block_dim: block,
        shared_mem_bytes: smem,
    }
}

/// Grid-stride launch over n elements: block 256, at most 65,535 blocks (the kernel loops).
pub fn stride_cfg(n: usize) -> LaunchConfig {
    cfg((n.div_ceil(256).clamp(1, 65_535) as u32, 1, 1), (256, 1, 1))
}

/// Launches entry point `name` of `module` with `args`, which must be the entry point's exact
/// parameter list (kernels/ quotes each signature) with every pointer to a live buffer of the size
/// it needs: every launcher (`launch!`, the 16-bit runner, the tensor-core attention) ends here.
pub(crate) fn launch_args(
    dev: &super::device::CudaDevice,
    module: super::kernels::KernelModule,
    name: &str,
    cfg: LaunchConfig,
    args: &[KArg],
) -> Result<()> {
    let f = dev.function_for_launch(module, name, cfg.shared_mem_bytes)?;
    let mut b = dev.stream().launch_builder(&f);
    for a in args {
        a.push(&mut b);
    }
    // SAFETY: the callers' contract above: the argument list matches the kernel's signature and
    // the pointers are live and large enough.
    unsafe { b.launch(cfg) }?;
    Ok(())
}

/// One kernel argument: the scalar types the entry points take (pointers travel as u64), and the
/// TMA core's tensor maps (passed by value).
#[derive(Clone)]
pub enum KArg {
    U64(u64),
    I64(i64),
    I32(i32),
    F32(f32),
    Map(Box<super::tma::TensorMap>),
}

impl From<u64> for KArg {
    fn from(v: u64) -> Self {
        KArg::U64(v)
    }
}
impl From<i64> for KArg {
    fn from(v: i64) -> Self {
        KArg::I64(v)
    }
}
impl From<i32> for KArg {
    fn from(v: i32) -> Self {
        KArg::I32(v)
    }
}
impl From<f32> for KArg {
    fn from(v: f32) -> Self {
        KArg::F32(v)
    }
}

impl KArg {
    pub fn push<'a>(&'a self, b: &mut cudarc::driver::LaunchArgs<'a>) {
        use cudarc::driver::PushKernelArg as _;
        match self {
            KArg::U64(v) => b.arg(v),
            KArg::I64(v) => b.arg(v),
            KArg::I32(v) => b.arg(v),
            KArg::F32(v) => b.arg(v),
            KArg::Map(m) => b.arg(&**m),
        };
    }
}

/// `launch!(backend, Module, "name", config; arg, arg, ...)`: looks the kernel up and launches it
/// on the backend's stream. Each arg converts into a `KArg`. `launch!(@module backend, expr, ...)`
/// takes the `KernelModule` as a value, for ops that choose it at run time.
macro_rules! launch {
    ($be:expr, $module:ident, $name:expr, $cfg:expr; $($arg:expr),* $(,)?) => {
        launch!(@module $be, $crate::backend::cuda::kernels::KernelModule::$module, $name, $cfg; $($arg),*)
    };
    (@module $be:expr, $module:expr, $name:expr, $cfg:expr; $($arg:expr),* $(,)?) => {{
        let args: Vec<$crate::backend::cuda::launch::KArg> = vec![$($arg.into()),*];
        $crate::backend::cuda::launch::launch_args($be.device(), $module, &$name, $cfg, &args)?;
    }};
}
pub(crate) use launch;
