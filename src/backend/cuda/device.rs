//! A CUDA device on cudarc (feature `cuda`, dynamic loading): checks that the binary has kernels
//! and that the driver library loads before touching the GPU, then loads each kernels/ module's
//! fatbin lazily (`Ptx::from_binary` + `load_module`) and caches it.
//! Memory: every buffer comes from the driver's stream-ordered pool (cuMemAllocAsync on the
//! device's own stream), with the pool's release threshold raised so freed blocks are reused
//! instead of going back to the driver at each synchronization: a training step's activations
//! are then recycled without cudaMalloc calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream, DriverError};
use cudarc::nvrtc::Ptx;

use super::kernels::{KernelModule, ARCHS, KERNELS_BUILT};
use super::plan::{
    AttentionBwd, AttentionFwd, GemmCore, Gpu, QuantDecode, ATTENTION_BWD_ENV, ATTENTION_FWD_ENV,
    GEMM_CORE_ENV, QUANT_DECODE_ENV, WGT_LAUNCH_REGS,
};

#[derive(Debug, thiserror::Error)]
pub enum CudaError {
    #[error("{}", super::NO_KERNELS_FIX)]
    NoKernels,
    #[error(
        "the CUDA driver library (libcuda.so.1) cannot be loaded: this machine has no NVIDIA driver or GPU; \
         use the CPU backend here, or run on a machine with an NVIDIA GPU and driver ≥ 580"
    )]
    NoDriver,
    #[error("CUDA driver call failed while {what}: {source:?}")]
    Driver { what: String, source: DriverError },
    #[error(
        "kernel `{name}` is not in module {module} for this GPU (bf16 kernels need sm_80 or newer)"
    )]
    MissingFunction { module: &'static str, name: String },
    #[error("{0}")]
    Setting(String),
}

fn driver(what: impl Into<String>) -> impl FnOnce(DriverError) -> CudaError {
    let what = what.into();
    move |source| CudaError::Driver { what, source }
}

/// One GPU: its context, one stream, and the kernel modules loaded so far.
pub struct CudaDevice {
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    modules: Mutex<HashMap<KernelModule, Arc<CudaModule>>>,
    functions: Mutex<HashMap<(KernelModule, String), CudaFunction>>,
    /// Dynamic shared memory each function has been allowed so far (above the 48 KB default).
    smem_opt_in: Mutex<HashMap<(KernelModule, String), u32>>,
    /// The compute capability, read once: every GEMM and attention launch asks for it.
    cc: OnceLock<(i32, i32)>,
}

/// The value an environment setting had when first read. The GEMM core, decode and attention
/// settings are consulted on every launch, so each is read once per process, not per call.
fn setting(cell: &'static OnceLock<Option<String>>, name: &str) -> Option<&'static str> {
    cell.get_or_init(|| std::env::var(name).ok()).as_deref()
}
static GEMM_CORE_SETTING: OnceLock<Option<String>> = OnceLock::new();
static QUANT_DECODE_SETTING: OnceLock<Option<String>> = OnceLock::new();
static ATTENTION_BWD_SETTING: OnceLock<Option<String>> = OnceLock::new();
static ATTENTION_FWD_SETTING: OnceLock<Option<String>> = OnceLock::new();

/// Dynamic shared memory every block may use without an opt-in.
const DEFAULT_DYNAMIC_SMEM: u32 = 48 * 1024;

impl CudaDevice {
    /// Opens GPU `ordinal`. Fails with a typed error, never a panic, when the binary has no
    /// kernels or the machine has no driver.
    pub fn new(ordinal: usize) -> Result<Self, CudaError> {
        if !KERNELS_BUILT {
            return Err(CudaError::NoKernels);
        }
        // SAFETY: only tries to dlopen the driver library; no driver function is called yet.
        if !unsafe { cudarc::driver::sys::is_culib_present() } {
            return Err(CudaError::NoDriver);
        }
        let ctx = CudaContext::new(ordinal).map_err(driver(format!("opening GPU {ordinal}")))?;
        // One compute stream: cross-stream event tracking would only add work to every launch.
        // SAFETY: every buffer of this device is used on `stream` alone.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(driver("creating the compute stream"))?;
        if ctx.has_async_alloc() {
            keep_pool_memory(&ctx).map_err(driver("configuring the memory pool"))?;
        }
        Ok(Self {
            ctx,
            stream,
            modules: Mutex::new(HashMap::new()),
            functions: Mutex::new(HashMap::new()),
            smem_opt_in: Mutex::new(HashMap::new()),
            cc: OnceLock::new(),
        })
    }

    /// (free, total) bytes of GPU memory.
    pub fn memory(&self) -> Result<(usize, usize), CudaError> {
        self.ctx
            .mem_get_info()
            .map_err(driver("reading GPU memory"))
    }

    pub fn name(&self) -> String {
        self.ctx.name().unwrap_or_else(|_| "unknown GPU".into())
    }

    /// Most bytes the default memory pool (every tensor and scratch buffer of the backend) has
    /// held since the context started or the last `reset_pool_peak`; the CUDA context, the
    /// loaded modules and cuBLAS's workspace are outside it.
    pub fn pool_peak(&self) -> Result<u64, CudaError> {
        pool_attribute(&self.ctx, None).map_err(driver("reading the memory pool's peak"))
    }

    pub fn reset_pool_peak(&self) -> Result<(), CudaError> {
        pool_attribute(&self.ctx, Some(0))
            .map(|_| ())
            .map_err(driver("resetting the memory pool's peak"))
    }

    pub fn stream(&self) -> &Arc<CudaStream> {
        &self.stream
    }

    pub fn context(&self) -> &Arc<CudaContext> {
        &self.ctx
    }

    /// (major, minor) compute capability, e.g. (9, 0) for an H100/H200.
    pub fn compute_capability(&self) -> Result<(i32, i32), CudaError> {
        use cudarc::driver::sys::CUdevice_attribute as A;
        if let Some(&cc) = self.cc.get() {
            return Ok(cc);
        }
        let get = |a| {
            self.ctx
                .attribute(a)
                .map_err(driver("reading the compute capability"))
        };
        let cc = (
            get(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)?,
            get(A::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)?,
        );
        Ok(*self.cc.get_or_init(|| cc))
    }

    /// This GPU as the kernel choices see it (plan::Gpu): its compute capability and whether this
    /// binary has the sm_90a kernels for it.
    pub fn gpu(&self) -> Result<Gpu, CudaError> {
        Ok(Gpu::new(self.compute_capability()?, ARCHS))
    }

    /// The GEMM core of the 16-bit linears on this GPU: the arch's default, or the one
    /// SECTUNE_GEMM_CORE names (refused with the fix when this GPU cannot run it).
    pub fn gemm_core(&self) -> Result<GemmCore, CudaError> {
        let choice = setting(&GEMM_CORE_SETTING, GEMM_CORE_ENV);
        GemmCore::choose(self.gpu()?, choice).map_err(CudaError::Setting)
    }

    /// How `--precision bf16` decodes an int8 / NF4 base: fused unless SECTUNE_QUANT_DECODE says
    /// scratch.
    pub fn quant_decode(&self) -> Result<QuantDecode, CudaError> {
        let choice = setting(&QUANT_DECODE_SETTING, QUANT_DECODE_ENV);
        QuantDecode::choose(choice).map_err(CudaError::Setting)
    }

    /// The tensor-core attention backward: the arch's default, or the one SECTUNE_ATTENTION_BWD
    /// names.
    pub fn attention_bwd(&self) -> Result<AttentionBwd, CudaError> {
        let choice = setting(&ATTENTION_BWD_SETTING, ATTENTION_BWD_ENV);
        AttentionBwd::choose(self.gpu()?, choice).map_err(CudaError::Setting)
    }

    /// The tensor-core attention forward: mma.sync unless SECTUNE_ATTENTION_FWD=wgmma (9.0 only).
    pub fn attention_fwd(&self) -> Result<AttentionFwd, CudaError> {
        let choice = setting(&ATTENTION_FWD_SETTING, ATTENTION_FWD_ENV);
        AttentionFwd::choose(self.gpu()?, choice).map_err(CudaError::Setting)
    }

    /// Like `function`, for a launch with `dynamic_smem` bytes of dynamic shared memory: above
    /// 48 KB the function must be allowed that much first (once per size).
    pub fn function_for_launch(
        &self,
        module: KernelModule,
        name: &str,
        dynamic_smem: u32,
    ) -> Result<CudaFunction, CudaError> {
        let f = self.function(module, name)?;
        if dynamic_smem > DEFAULT_DYNAMIC_SMEM {
            let key = (module, name.to_string());
            let mut granted = self.smem_opt_in.lock().unwrap_or_else(|p| p.into_inner());
            if granted.get(&key).is_none_or(|&g| g < dynamic_smem) {
                use cudarc::driver::sys::CUfunction_attribute as A;
                self.ctx
                    .bind_to_thread()
                    .map_err(driver("binding the context"))?;
                f.set_attribute(
                    A::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                    dynamic_smem as i32,
                )
                .map_err(driver(format!(
                    "allowing {name} {dynamic_smem} bytes of shared memory (this GPU may have less per block)"
                )))?;
                granted.insert(key, dynamic_smem);
            }
        }
        Ok(f)
    }

    /// The entry point `name` of `module`, loading the module's fatbin on first use.
    pub fn function(&self, module: KernelModule, name: &str) -> Result<CudaFunction, CudaError> {
        let key = (module, name.to_string());
        if let Some(f) = self
            .functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(f.clone());
        }
        let loaded = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            match modules.get(&module) {
                Some(m) => m.clone(),
                None => {
                    let bytes = module.fatbin().ok_or(CudaError::NoKernels)?;
                    let m = self
                        .ctx
                        .load_module(Ptx::from_binary(bytes.to_vec()))
                        .map_err(driver(format!("loading module {}", module.name())))?;
                    modules.insert(module, m.clone());
                    m
                }
            }
        };
        let f = loaded
            .load_function(name)
            .map_err(|_| CudaError::MissingFunction {
                module: module.name(),
                name: name.to_string(),
            })?;
        if name.starts_with("wgt_") {
            check_wgt_registers(&f, name)?;
        }
        self.functions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, f.clone());
        Ok(f)
    }
}

/// Refuses a TMA-core entry built with other than WGT_LAUNCH_REGS registers per thread: its
/// register split would hang the GPU, not fail.
fn check_wgt_registers(f: &CudaFunction, name: &str) -> Result<(), CudaError> {
    use cudarc::driver::sys::CUfunction_attribute as A;
    let regs = f
        .get_attribute(A::CU_FUNC_ATTRIBUTE_NUM_REGS)
        .map_err(driver(format!("reading {name}'s register count")))?;
    if regs as u32 != WGT_LAUNCH_REGS {
        return Err(CudaError::Setting(format!(
            "kernel {name} was built with {regs} registers per thread, and its setmaxnreg split needs \
             {WGT_LAUNCH_REGS} (a -maxrregcount in SECTUNE_NVCC_FLAGS?): rebuild without it, or unset \
             {GEMM_CORE_ENV}=wgmma-tma"
        )));
    }
    Ok(())
}

/// Raises the default pool's release threshold to "never": freed memory stays in the pool.
/// Reads (None) or sets (Some) the default pool's CU_MEMPOOL_ATTR_USED_MEM_HIGH.
fn pool_attribute(ctx: &CudaContext, set: Option<u64>) -> Result<u64, DriverError> {
    use cudarc::driver::sys;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut value: u64 = set.unwrap_or(0);
    let attr = sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_USED_MEM_HIGH;
    // SAFETY: plain driver calls on this context's device with valid pointers to a u64, the
    // attribute's type.
    unsafe {
        ctx.bind_to_thread()?;
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result()?;
        match set {
            Some(_) => sys::cuMemPoolSetAttribute(pool, attr, (&mut value as *mut u64).cast()),
            None => sys::cuMemPoolGetAttribute(pool, attr, (&mut value as *mut u64).cast()),
        }
        .result()?;
    }
    Ok(value)
}

fn keep_pool_memory(ctx: &CudaContext) -> Result<(), DriverError> {
    use cudarc::driver::sys;
    let mut pool: sys::CUmemoryPool = std::ptr::null_mut();
    let mut threshold: u64 = u64::MAX;
    // SAFETY: plain driver calls on this context's device with valid out-pointers.
    unsafe {
        ctx.bind_to_thread()?;
        sys::cuDeviceGetDefaultMemPool(&mut pool, ctx.cu_device()).result()?;
        sys::cuMemPoolSetAttribute(
            pool,
            sys::CUmemPool_attribute::CU_MEMPOOL_ATTR_RELEASE_THRESHOLD,
            (&mut threshold as *mut u64).cast(),
        )
        .result()?;
    }
    Ok(())
}

impl From<CudaError> for crate::error::Error {
    fn from(e: CudaError) -> Self {
        crate::error::Error::Device(e.to_string())
    }
}

impl From<DriverError> for crate::error::Error {
    fn from(e: DriverError) -> Self {
        crate::error::Error::Device(format!("CUDA driver call failed: {e:?}"))
    }
}
