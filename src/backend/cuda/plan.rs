//! Launch shapes the kernels assume, in one place on the host side. A grid built with a tile
//! larger than the kernel's would silently skip rows, so every launch takes its tiles from here;
//! the values mirror the constexpr functions in kernels/attention.cuh, attention_tc.cuh and
//! gemm_core.cuh.

/// Output tile of the GEMM core (kernels/gemm_core.cuh): 64×64 per block of 128 threads.
pub const GEMM_TILE: usize = 64;
pub const GEMM_THREADS: u32 = 128;
/// Threads per block of every attention kernel (4 warps).
pub const ATTENTION_THREADS: u32 = 128;

/// Rows per block of the three attention kernels for one dtype size and head dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionTiles {
    /// Query rows per block of attention_fwd.
    pub fwd_q: usize,
    /// Query rows per block of attention_bwd_dq.
    pub dq_q: usize,
    /// Key rows per block of attention_bwd_dkv.
    pub dkv_k: usize,
}

/// As attention.cu: R = D·sizeof(T); fwd 8 if R ≥ 1024 else 16; dq 4/8/16 and dkv 4/8/16 for
/// R ≥ 1024 / ≥ 512 / smaller.
pub fn attention_tiles(dtype_bytes: usize, head_dim: usize) -> AttentionTiles {
    let r = dtype_bytes * head_dim;
    let three = if r >= 1024 {
        4
    } else if r >= 512 {
        8
    } else {
        16
    };
    AttentionTiles {
        fwd_q: if r >= 1024 { 8 } else { 16 },
        dq_q: three,
        dkv_k: three,
    }
}

/// Blocks of the tensor-core attention kernels (kernels/attention_tc.cuh) for one head dim:
/// rows per block and dynamic shared memory bytes (the host opts in above 48 KB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionTcTiles {
    /// Query rows per block of attention_tc_fwd and attention_tc_bwd_dq.
    pub q_rows: usize,
    /// Key rows per block of attention_tc_bwd_dkv.
    pub dkv_k: usize,
    pub fwd_smem: u32,
    pub dq_smem: u32,
    pub dkv_smem: u32,
    /// attention_tc_bwd_fused: dkv's buffers plus a 16-bit dSᵀ tile of dkv_k × (dkv_bq + 8), and
    /// a Pᵀ tile of that size at D 256 (where a warp pair shares its keys' S and dP).
    pub fused_smem: u32,
}

/// As attention_tc.cuh, with rows padded to D + 8 elements of 2 bytes: fwd key tile 64 (32 for
/// D 256) and 64 queries, 2 stages of K and V; dq the same with key tiles 64/32/16 and dO beside
/// Q; dkv 64 keys (32 for D 256) with query tiles 64/32/16, 2 stages of Q, dO, lse and Δ; the
/// fused backward dkv's plus its dSᵀ tile. None for head dims without tensor-core entry points.
pub fn attention_tc_tiles(head_dim: usize) -> Option<AttentionTcTiles> {
    let (fwd_bk, dq_bk, dkv_bk, dkv_bq, shared_tiles) = match head_dim {
        64 => (64, 64, 64, 64, 1),
        128 => (64, 32, 64, 32, 1),
        256 => (32, 16, 32, 16, 2),
        _ => return None,
    };
    const BQ: usize = 64;
    let row = (head_dim + 8) * 2;
    let bytes = |rows: usize, extra: usize| (rows * row + extra) as u32;
    Some(AttentionTcTiles {
        q_rows: BQ,
        dkv_k: dkv_bk,
        fwd_smem: bytes(BQ + 4 * fwd_bk, 0),
        dq_smem: bytes(2 * BQ + 4 * dq_bk, 0),
        dkv_smem: bytes(2 * dkv_bk + 4 * dkv_bq, 4 * dkv_bq * 4),
        fused_smem: bytes(
            2 * dkv_bk + 4 * dkv_bq,
            4 * dkv_bq * 4 + shared_tiles * dkv_bk * (dkv_bq + 8) * 2,
        ),
    })
}

/// Grid (x over output columns, y over rows) of a GEMM-core kernel with `rows`×`cols` output.
pub fn gemm_grid(rows: usize, cols: usize) -> (u32, u32, u32) {
    (
        cols.div_ceil(GEMM_TILE) as u32,
        rows.div_ceil(GEMM_TILE) as u32,
        1,
    )
}

/// The tensor-core core (kernels/gemm_tc.cuh, 16-bit on sm_80+): 128×128 per block of 256.
pub const TC_TILE: usize = 128;
pub const TC_THREADS: u32 = 256;
/// One stage of the tensor-core rings: a 128×64 A tile and a 128×64 B tile of 16-bit values.
const TC_STAGE_BYTES: u32 = 2 * 128 * 64 * 2;

/// gemm_tc.cuh's tc::ring_bytes: a ring of `stages` stages, or the fp32 rank operands
/// [128][rmax+4] ×2 that reuse it after the loop if larger (never, up to r 64).
fn ring_bytes(stages: u32, rmax: usize) -> u32 {
    let rank = match rmax {
        0 => 0,
        r => 2 * 128 * (r as u32 + 4) * 4,
    };
    (stages * TC_STAGE_BYTES).max(rank)
}

/// Dynamic shared memory of a tc_* entry with rank bound `rmax` (0: plain GEMM), as
/// tc::smem_bytes: the 3-stage ring.
pub fn tc_smem_bytes(rmax: usize) -> u32 {
    ring_bytes(3, rmax)
}

/// Dynamic shared memory of a wg_* entry (gemm_wgmma.cuh's wg::Overlap pipeline): tc_smem_bytes,
/// then wg::TABLE_BYTES for a quantized weight's decode tables (quant_wgmma.cu; unused by the
/// dense entries).
pub fn wg_smem_bytes(rmax: usize) -> u32 {
    tc_smem_bytes(rmax) + WG_TABLE_BYTES
}
/// Dynamic shared memory of a wgp_* entry (wg::InFlight: a 4-stage ring), then the decode tables.
pub fn wgp_smem_bytes(rmax: usize) -> u32 {
    ring_bytes(4, rmax) + WG_TABLE_BYTES
}

/// gemm_tma.cuh's output tile (rows × columns) and block (3 warpgroups).
pub const WGT_TILE: (usize, usize) = (128, 256);
pub const WGT_THREADS: u32 = 384;
/// Registers per thread a wgt_* entry must be built with: all the block may hold (65536 / 384,
/// rounded down to 8), which its setmaxnreg split hands on whole (producer down, consumers up).
/// With fewer (a -maxrregcount in the nvcc flags) the consumers' setmaxnreg.inc would wait forever.
pub const WGT_LAUNCH_REGS: u32 = (65536 / WGT_THREADS) & !7;
/// Dynamic shared memory of a wgt_* entry: 4 stages of a 128×64 A and a 256×64 B tile (bf16 /
/// f16), then 8 mbarriers, then a quantized weight's decode tables (quant_tma.cu; unused by the
/// dense entries); the rank operands (up to r 64) reuse the ring.
pub fn wgt_smem_bytes() -> u32 {
    4 * (128 + 256) * 64 * 2 + 2 * 4 * 8 + WG_TABLE_BYTES
}

/// Whether a row-major 16-bit matrix at `base` with `cols` columns suits a TMA tensor map: a
/// 16-byte-aligned base and rows of whole 16-byte chunks, at least one (cuTensorMapEncodeTiled's
/// rules).
pub fn tma_operand_fits(base: u64, cols: usize) -> bool {
    base.is_multiple_of(16) && cols.is_multiple_of(8) && cols > 0
}

/// Whether both operands of a GEMM suit the TMA core's tensor maps.
pub fn tma_fits(lead: u64, weight: u64, lead_cols: usize, weight_cols: usize) -> bool {
    tma_operand_fits(lead, lead_cols) && tma_operand_fits(weight, weight_cols)
}

/// A GPU as the kernel choices see it: its compute capability, and whether this binary carries the
/// sm_90a images the warpgroup (wgmma) kernels live in. A build whose SECTUNE_CUDA_ARCHS leaves out
/// sm_90 has only older images and PTX, where those kernels' bodies trap: on an H100 it gets the
/// mma.sync defaults, and asking for a wgmma kernel is refused with the rebuild that fixes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gpu {
    pub cc: (i32, i32),
    pub sm90a: bool,
}

impl Gpu {
    /// The GPU of compute capability `cc` under a binary built for `archs` (kernels::ARCHS).
    pub fn new(cc: (i32, i32), archs: &[&str]) -> Self {
        Gpu {
            cc,
            sm90a: cc == (9, 0) && archs.contains(&"sm_90"),
        }
    }

    /// Why `setting` = `value` (a wgmma kernel) cannot run here, and the fix.
    fn refuse_wgmma(self, setting: &str, value: &str) -> String {
        let (major, minor) = self.cc;
        if self.cc == (9, 0) {
            format!(
                "{setting}={value} needs the sm_90a kernels, and this binary was built without them \
                 (SECTUNE_CUDA_ARCHS left out sm_90): rebuild with sm_90 in SECTUNE_CUDA_ARCHS (or \
                 unset it), or unset {setting}"
            )
        } else {
            format!(
                "{setting}={value} needs compute capability 9.0 (H100, H200), and this GPU is \
                 {major}.{minor}: unset {setting} (or set it to auto)"
            )
        }
    }
}

/// A full build's view of a GPU (every default arch built), for the tests' choices; the backend
/// always asks `CudaDevice::gpu`, which reads the build's archs.
#[cfg(test)]
impl From<(i32, i32)> for Gpu {
    fn from(cc: (i32, i32)) -> Self {
        Gpu::new(cc, &["sm_90"])
    }
}

/// How the tensor-core attention backward forms dQ: `Split` (default) runs a dQ kernel per query
/// tile beside the dK/dV kernel per key tile, recomputing S and dP in each (7 GEMM-sized products
/// per tile pair, deterministic); `Fused` forms S and dP once per tile pair in the dK/dV kernel and
/// adds dS·K into an f32 dQ buffer with atomics (5 products, FlashAttention-2's shape; the f32
/// sums' order varies from run to run). Fused is the default on compute capability 9.0, where it
/// was timed (H200, twelfth session: the backward 12–17% faster at D 128/256, T 1k/4k); split
/// elsewhere, where nobody has timed the two yet, and wherever SECTUNE_ATTENTION_BWD=split asks
/// for bit-reproducible dQ.
///
/// `Wgmma` (opt-in, SECTUNE_ATTENTION_BWD=wgmma, compute capability 9.0 only): the fused backward
/// on the warpgroup tensor cores (attention_wg.cu), 128 keys per block with P and dS fed to dV / dK
/// from registers (64 keys at D 256, where the two warpgroups split D); not yet run on a GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionBwd {
    Split,
    Fused,
    Wgmma,
}

/// The environment variable that picks the attention backward: auto (default), split or fused.
pub const ATTENTION_BWD_ENV: &str = "SECTUNE_ATTENTION_BWD";

impl AttentionBwd {
    /// The backward `choice` (ATTENTION_BWD_ENV's value, if set) names on `gpu`.
    pub fn choose(gpu: impl Into<Gpu>, choice: Option<&str>) -> Result<Self, String> {
        let gpu = gpu.into();
        match choice.map(str::trim).unwrap_or("") {
            "" | "auto" if gpu.cc == (9, 0) => Ok(AttentionBwd::Fused),
            "" | "auto" | "split" => Ok(AttentionBwd::Split),
            "fused" => Ok(AttentionBwd::Fused),
            "wgmma" if gpu.sm90a => Ok(AttentionBwd::Wgmma),
            "wgmma" => Err(gpu.refuse_wgmma(ATTENTION_BWD_ENV, "wgmma")),
            other => Err(format!(
                "{ATTENTION_BWD_ENV}={other:?} names no attention backward: use auto, split, fused or wgmma"
            )),
        }
    }

    /// Whether dQ is summed in an f32 buffer of its size with atomics (every path but split).
    pub fn sums_dq_in_f32(self) -> bool {
        self != AttentionBwd::Split
    }
}

/// Which kernel runs the tensor-core attention forward: `Tc` (default), attention_tc.cu's mma.sync
/// kernel on every GPU of compute capability 8.0+; `Wgmma` (opt-in, SECTUNE_ATTENTION_FWD=wgmma,
/// compute capability 9.0 only), attention_wg.cu: 128 queries per block on two warpgroups, the
/// products as wgmma with P from registers, and the next key tile's scores formed beside this tile's
/// P·V so the exponentials overlap the tensor cores. Opt-in until a GPU run has checked and timed
/// it (so far ptxas and the CPU emulator only); the forward was 176 TFLOP/s on the H200 (0.78 ms at
/// D 128, T 4096, H 32).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttentionFwd {
    Tc,
    Wgmma,
}

/// The environment variable that picks the attention forward: auto (default: tc) or wgmma.
pub const ATTENTION_FWD_ENV: &str = "SECTUNE_ATTENTION_FWD";

impl AttentionFwd {
    /// The forward `choice` (ATTENTION_FWD_ENV's value, if set) names on `gpu`; wgmma where it
    /// cannot run is refused with the fix.
    pub fn choose(gpu: impl Into<Gpu>, choice: Option<&str>) -> Result<Self, String> {
        let gpu = gpu.into();
        match choice.map(str::trim).unwrap_or("") {
            "" | "auto" | "tc" => Ok(AttentionFwd::Tc),
            "wgmma" if gpu.sm90a => Ok(AttentionFwd::Wgmma),
            "wgmma" => Err(gpu.refuse_wgmma(ATTENTION_FWD_ENV, "wgmma")),
            other => Err(format!(
                "{ATTENTION_FWD_ENV}={other:?} names no attention forward: use auto, tc or wgmma"
            )),
        }
    }
}

/// attention_wg.cu's block for one head dim: 128 queries on 256 threads, key tiles of 128 (64 at
/// D 256), and its dynamic shared memory (Q, then two stages of K and V, unpadded: the 128-byte
/// swizzle spreads the banks), as attn_wg::smem. None for head dims it is not built for.
pub fn attention_wg_smem(head_dim: usize) -> Option<u32> {
    let keys = match head_dim {
        64 | 128 => 128,
        256 => 64,
        _ => return None,
    };
    Some(((ATTENTION_WG_Q_ROWS + 4 * keys) * head_dim * 2) as u32)
}
/// attention_wg.cu's fused backward for one head dim: keys per block (128; 64 at D 256, where the
/// two warpgroups split D) and dynamic shared memory, as attn_wg::bkv / smem_bwd: K and V, two
/// stages of Q and dO (64 queries), the dSᵀ tile [keys][64] (and Pᵀ at D 256), two stages of lse
/// and Δ. None for head dims it is not built for.
pub fn attention_wg_bwd_tiles(head_dim: usize) -> Option<(usize, u32)> {
    let (keys, ds_tiles) = match head_dim {
        64 | 128 => (128, 1),
        256 => (64, 2),
        _ => return None,
    };
    let queries = 64;
    let bytes =
        (2 * keys + 4 * queries) * head_dim * 2 + ds_tiles * keys * queries * 2 + 4 * queries * 4;
    Some((keys, bytes as u32))
}
/// Query rows per block of attention_wg.cu, and its threads.
pub const ATTENTION_WG_Q_ROWS: usize = 128;
pub const ATTENTION_WG_THREADS: u32 = 256;

/// How `--precision bf16` runs a linear over an int8 / NF4 base. `Fused` (default): the tensor-core
/// GEMM decodes each B tile on its way into shared memory (quant_tc.cu, quant_wgmma.cu), so no
/// decoded copy exists in global memory, but every block row of the output decodes the whole
/// weight again (16 times at 2048 tokens). `Scratch` (opt-in, SECTUNE_QUANT_DECODE=scratch):
/// calls of at least SCRATCH_MIN_ROWS rows decode the weight once into a transient bf16 buffer
/// (quant_tc.cu's dequant_bf16_*; one linear's worth, 90 MB at 4096 × 11008) and run the dense
/// GEMM over it; from the twelfth session's H200 tables (NF4 fwd 0.92 ms fused against 0.39 ms
/// for the dense GEMM at 2048 × 11008 × 4096, and a decode pass that moves ~112 MB) it should
/// take about half the time, but no GPU has timed it yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantDecode {
    Fused,
    Scratch,
}

/// The environment variable that picks the quantized linears' decode: fused (default) or scratch.
pub const QUANT_DECODE_ENV: &str = "SECTUNE_QUANT_DECODE";

/// Below this many rows (tokens) a call decodes in the tiles even under `Scratch`: the fused
/// decode's cost grows with the rows' 128-row blocks, the pass's does not (equal near 175 rows
/// by the tables above).
pub const SCRATCH_MIN_ROWS: usize = 256;

impl QuantDecode {
    /// The decode `choice` (QUANT_DECODE_ENV's value, if set) names.
    pub fn choose(choice: Option<&str>) -> Result<Self, String> {
        match choice.map(str::trim).unwrap_or("") {
            "" | "fused" => Ok(QuantDecode::Fused),
            "scratch" => Ok(QuantDecode::Scratch),
            other => Err(format!(
                "{QUANT_DECODE_ENV}={other:?} names no quantized decode: use fused or scratch"
            )),
        }
    }

    /// Whether a call of `rows` rows decodes the whole weight first.
    pub fn whole_weight(self, rows: usize) -> bool {
        self == QuantDecode::Scratch && rows >= SCRATCH_MIN_ROWS
    }
}

/// gemm_wgmma.cuh's wg::TABLE_BYTES.
const WG_TABLE_BYTES: u32 = 2048;

/// The GEMM cores of the 16-bit linears: gemm_core.cuh (FMA, every arch), gemm_tc.cuh (mma.sync
/// tensor cores, sm_80+, lora_matmul.cu's "tc_" entries) and gemm_wgmma.cuh (warpgroup tensor
/// cores, sm_90a) in its two pipelines: gemm_wgmma.cu's "wg_" entries (the tc core's launch, two
/// blocks per SM) and "wgp_" entries (one k-tile of wgmmas in flight, a 4-stage ring, one block per
/// SM). `Hopper`, the default on 9.0, runs every dense GEMM and the NF4 forwards on the wg_
/// pipeline and the other quantized linears on mma.sync, each the faster of the two there (H200,
/// twelfth session: dense GEMM 1.63–1.67× cuBLAS against 2.26–2.39×; NF4 fwd 0.30 against 0.37 ms,
/// but NF4 dX 0.51 against 0.39 ms and int8 0.34 against 0.29 ms at 2048 × 4096 × 4096).
/// SECTUNE_GEMM_CORE=wgmma | wgmma-inflight run everything on one wgmma pipeline.
/// `WgmmaTma` (opt-in, `wgmma-tma`, not yet run on a GPU) runs the dense 16-bit GEMMs on
/// gemm_tma.cu's "wgt_" entries (TMA loads, warp-specialized, 128×256 tiles) and the NF4 linears
/// (forward and dX) on quant_tma.cu's (the producer warpgroup decodes) where the operands suit TMA
/// (`tma_fits`; else the wg_ entries), int8 as `Hopper` does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GemmCore {
    Fma,
    TensorCore,
    Wgmma,
    WgmmaInFlight,
    Hopper,
    WgmmaTma,
}

/// The environment variable that overrides the GEMM core: auto (default), tc, wgmma,
/// wgmma-inflight, wgmma-tma or fma.
pub const GEMM_CORE_ENV: &str = "SECTUNE_GEMM_CORE";

impl GemmCore {
    /// The default core of `gpu`.
    pub fn for_gpu(gpu: Gpu) -> Self {
        match gpu.cc.0 {
            _ if gpu.sm90a => GemmCore::Hopper,
            8.. => GemmCore::TensorCore,
            _ => GemmCore::Fma,
        }
    }

    /// Whether `gpu` can run this core (mma.sync from 8.0; wgmma is sm_90a, which loads on 9.0
    /// only, and only where the binary carries it).
    pub fn runs_on(self, gpu: Gpu) -> bool {
        match self {
            GemmCore::Fma => true,
            GemmCore::TensorCore => gpu.cc.0 >= 8,
            GemmCore::Wgmma | GemmCore::WgmmaInFlight | GemmCore::Hopper | GemmCore::WgmmaTma => {
                gpu.sm90a
            }
        }
    }

    /// The core for `gpu`, as `choice` (GEMM_CORE_ENV's value, if set) asks; a core this GPU
    /// cannot run is refused with the fix.
    pub fn choose(gpu: impl Into<Gpu>, choice: Option<&str>) -> Result<Self, String> {
        let gpu = gpu.into();
        let (major, minor) = gpu.cc;
        match choice.map(str::trim).unwrap_or("") {
            "" | "auto" => Ok(Self::for_gpu(gpu)),
            "fma" => Ok(GemmCore::Fma),
            "tc" if GemmCore::TensorCore.runs_on(gpu) => Ok(GemmCore::TensorCore),
            "tc" => Err(format!(
                "{GEMM_CORE_ENV}=tc needs compute capability 8.0 or newer, and this GPU is compute \
                 capability {major}.{minor}: unset {GEMM_CORE_ENV} (or set it to auto)"
            )),
            "wgmma" if GemmCore::Wgmma.runs_on(gpu) => Ok(GemmCore::Wgmma),
            "wgmma-inflight" if GemmCore::WgmmaInFlight.runs_on(gpu) => Ok(GemmCore::WgmmaInFlight),
            "wgmma-tma" if GemmCore::WgmmaTma.runs_on(gpu) => Ok(GemmCore::WgmmaTma),
            core @ ("wgmma" | "wgmma-inflight" | "wgmma-tma") => {
                Err(gpu.refuse_wgmma(GEMM_CORE_ENV, core))
            }
            other => Err(format!(
                "{GEMM_CORE_ENV}={other:?} names no GEMM core: use auto, tc, wgmma, wgmma-inflight, \
                 wgmma-tma or fma"
            )),
        }
    }

    /// The entry-name prefix of this core's instances.
    pub fn prefix(self) -> &'static str {
        match self {
            GemmCore::TensorCore => "tc_",
            GemmCore::Wgmma | GemmCore::Hopper => "wg_",
            GemmCore::WgmmaInFlight => "wgp_",
            GemmCore::WgmmaTma => "wgt_",
            GemmCore::Fma => "",
        }
    }

    /// The tensor-core core that serves the mixed-precision (`_f32y`) linears, which have no
    /// FMA instances: a wgmma pipeline when chosen, else the mma.sync core.
    pub fn tensor(self) -> Self {
        match self {
            GemmCore::Fma => GemmCore::TensorCore,
            core => core,
        }
    }

    /// The core that runs a quantized linear (`nf4`: an NF4 base, else int8; `forward`: y, not dX)
    /// when this one runs the dense GEMMs.
    pub fn for_quantized(self, nf4: bool, forward: bool) -> Self {
        match self {
            GemmCore::WgmmaTma if nf4 => GemmCore::WgmmaTma,
            GemmCore::Hopper if nf4 && forward => GemmCore::Wgmma,
            GemmCore::Hopper | GemmCore::WgmmaTma => GemmCore::TensorCore,
            core => core,
        }
    }

    /// The core that runs a call the TMA core cannot take (operands that do not suit its maps):
    /// the wg_ pipeline for `WgmmaTma`, every other core itself.
    pub fn without_tma(self) -> Self {
        match self {
            GemmCore::WgmmaTma => GemmCore::Wgmma,
            core => core,
        }
    }

    /// The kernels/ file that holds this core's int8 / NF4 linears (`--precision bf16`).
    pub fn quant_module(self) -> super::kernels::KernelModule {
        use super::kernels::KernelModule;
        match self {
            GemmCore::Wgmma | GemmCore::WgmmaInFlight | GemmCore::Hopper => {
                KernelModule::QuantWgmma
            }
            GemmCore::WgmmaTma => KernelModule::QuantTma,
            _ => KernelModule::QuantTc,
        }
    }

    /// The kernels/ file that holds this core's GEMM-family entries.
    pub fn module(self) -> super::kernels::KernelModule {
        use super::kernels::KernelModule;
        match self {
            GemmCore::Wgmma | GemmCore::WgmmaInFlight | GemmCore::Hopper => KernelModule::GemmWgmma,
            GemmCore::WgmmaTma => KernelModule::GemmTma,
            _ => KernelModule::LoraMatmul,
        }
    }
}

#[cfg(feature = "cuda")]
/// The launch config of `core`'s GEMM-family entries for an output of `rows` × `cols`.
pub fn gemm16_core_launch(
    core: GemmCore,
    rows: usize,
    cols: usize,
    rmax: usize,
) -> cudarc::driver::LaunchConfig {
    use super::launch::cfg_smem;
    match core {
        GemmCore::TensorCore | GemmCore::Wgmma | GemmCore::WgmmaInFlight | GemmCore::Hopper => {
            let grid = (
                cols.div_ceil(TC_TILE) as u32,
                rows.div_ceil(TC_TILE) as u32,
                1,
            );
            let smem = match core {
                GemmCore::Wgmma | GemmCore::Hopper => wg_smem_bytes(rmax),
                GemmCore::WgmmaInFlight => wgp_smem_bytes(rmax),
                _ => tc_smem_bytes(rmax),
            };
            cfg_smem(grid, (TC_THREADS, 1, 1), smem)
        }
        GemmCore::WgmmaTma => {
            let grid = (
                cols.div_ceil(WGT_TILE.1) as u32,
                rows.div_ceil(WGT_TILE.0) as u32,
                1,
            );
            cfg_smem(grid, (WGT_THREADS, 1, 1), wgt_smem_bytes())
        }
        GemmCore::Fma => cfg_smem(gemm_grid(rows, cols), (GEMM_THREADS, 1, 1), 0),
    }
}

/// A LoRA rank projection: xa = drop(x)·Aᵀ (P = K, V = A [r, K]) or dyb = dY·B (P = N,
/// V = B [N, r]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Projection {
    Xa,
    Dyb,
}

/// Blocks of the tiled xa projection (16 rows × 8 ranks each) from which it beats one row per
/// block: on an H100 (2026-11-26, bench/RESULTS.md) tiled xa ran 0.77–0.91× the row kernel's speed
/// at M 4096, r 8 (256 blocks for 132 SMs) and 1.35–1.62× from 512 blocks on; tiled dyb won at
/// every shape (1.36–6.4×).
const XA_TILED_MIN_BLOCKS: usize = 512;

/// Whether the backends launch the tiled rank projection (16 rows per block, V staged in shared
/// memory) for `rows` rows and rank `r`, or one row per block. SECTUNE_RANK_PROJECT=tiled|rows
/// forces one form (the GPU check runs the parity suites with each); =vec forces the tiled block
/// with 16-byte loads where it applies (`rank_project_launch`).
pub fn rank_project_tiled(which: Projection, rows: usize, r: usize) -> bool {
    let forced = match rank_project_env() {
        Some("tiled" | "vec") => Some(true),
        Some("rows") => Some(false),
        _ => None,
    };
    forced.unwrap_or(match which {
        Projection::Dyb => true,
        Projection::Xa => rows.div_ceil(16) * r.div_ceil(8) >= XA_TILED_MIN_BLOCKS,
    })
}

/// SECTUNE_RANK_PROJECT, read once.
fn rank_project_env() -> Option<&'static str> {
    static FORCED: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FORCED
        .get_or_init(|| std::env::var("SECTUNE_RANK_PROJECT").ok())
        .as_deref()
}

/// Whether a tiled projection (or a rank sum) over `p` values a row of U at device address
/// `u_addr` takes the vec entries (lora_matmul.cu's rank_project_vec / rank_partial_vec: a lane's 8
/// consecutive values in one 16-byte load): opt-in (SECTUNE_RANK_PROJECT=vec) until a GPU has
/// timed them against the tiled and split forms (`sectune bench`'s rank tables), and only where
/// their loads are aligned (p % 8 == 0, U 16-byte aligned).
pub fn rank_project_vec(p: usize, u_addr: u64) -> bool {
    rank_project_env() == Some("vec") && p.is_multiple_of(8) && u_addr.is_multiple_of(16)
}

#[cfg(feature = "cuda")]
/// The rank-projection launch for `rows` rows and rank `r` over `p` values a row of U at
/// `u_addr`: the entry-name infix ("_vec", "_tiled" or "") that goes before the dtype suffix
/// (`lora_linear_xa{infix}_f32`) and the grid (the same for the two tiled forms).
pub fn rank_project_launch(
    rows: usize,
    r: usize,
    (p, u_addr): (usize, u64),
    tiled: bool,
) -> (&'static str, cudarc::driver::LaunchConfig) {
    use super::launch::cfg;
    let rank_blocks = r.div_ceil(8) as u32;
    match tiled {
        true => (
            if rank_project_vec(p, u_addr) {
                "_vec"
            } else {
                "_tiled"
            },
            cfg((rows.div_ceil(16) as u32, rank_blocks, 1), (256, 1, 1)),
        ),
        false => ("", cfg((rows as u32, rank_blocks, 1), (128, 1, 1))),
    }
}

#[cfg(feature = "cuda")]
/// The rank-sum launch (dA or dB partial sums) over `p` positions a row of U at `u_addr`, rank `r`,
/// `splits` row splits: the entry-name infix ("_vec" or "") before the dtype suffix
/// (`lora_linear_bwd_dA_split{infix}_f32`) and the grid. The vec form (a lane's 8 consecutive
/// positions in one 16-byte load, 256 a block) follows the vec projections' opt-in and alignment
/// (`rank_project_vec`); both write the same partial sums for lora_rank_reduce.
pub fn rank_sum_launch(
    (p, u_addr): (usize, u64),
    r: usize,
    splits: usize,
) -> (&'static str, cudarc::driver::LaunchConfig) {
    rank_sum_form(p, r, splits, rank_project_vec(p, u_addr))
}

#[cfg(feature = "cuda")]
/// `rank_sum_launch` for a given form (`vec`: the _vec entries), for the bench that times both.
pub fn rank_sum_form(
    p: usize,
    r: usize,
    splits: usize,
    vec: bool,
) -> (&'static str, cudarc::driver::LaunchConfig) {
    use super::launch::cfg;
    let (infix, cols) = if vec { ("_vec", 256) } else { ("", 128) };
    let grid = (p.div_ceil(cols) as u32, r.div_ceil(8) as u32, splits as u32);
    (infix, cfg(grid, (cols as u32, 1, 1)))
}

/// Row splits of the rank sums dA / dB (kernels/lora_matmul.cu *_split + lora_rank_reduce):
/// ≥ 256 rows per split, at most 64 splits and 8 Mi partial floats. Returns (splits, rows each).
pub fn rank_splits(m: usize, p: usize, r: usize) -> (usize, usize) {
    let cap = ((8usize << 20) / (p * r).max(1)).clamp(1, 64);
    let rows = m.div_ceil(m.div_ceil(256).clamp(1, cap)).max(1);
    (m.div_ceil(rows).max(1), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_tiles_match_the_kernel_header() {
        // bf16: D 64 → R 128, D 128 → 256, D 256 → 512.
        assert_eq!(
            attention_tiles(2, 64),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 16,
                dkv_k: 16
            }
        );
        assert_eq!(
            attention_tiles(2, 128),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 16,
                dkv_k: 16
            }
        );
        assert_eq!(
            attention_tiles(2, 256),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 8,
                dkv_k: 8
            }
        );
        // f32: D 128 → R 512, D 256 → 1024.
        assert_eq!(
            attention_tiles(4, 128),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 8,
                dkv_k: 8
            }
        );
        assert_eq!(
            attention_tiles(4, 256),
            AttentionTiles {
                fwd_q: 8,
                dq_q: 4,
                dkv_k: 4
            }
        );
    }

    #[test]
    fn tc_smem_matches_the_kernel_header() {
        // 3 stages × (A + B) × 128×64 × 2 bytes; r64 needs only 2 × 128 × 68 × 4 = 69,632.
        assert_eq!(tc_smem_bytes(0), 98_304);
        assert_eq!(tc_smem_bytes(16), 98_304);
        assert_eq!(tc_smem_bytes(64), 98_304);
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn gemm16_launch_follows_the_core() {
        let c = gemm16_core_launch(GemmCore::TensorCore, 4097, 129, 16);
        assert_eq!((c.grid_dim, c.block_dim.0), ((2, 33, 1), 256));
        let w = gemm16_core_launch(GemmCore::Wgmma, 4097, 129, 16);
        assert_eq!((w.grid_dim, w.block_dim), (c.grid_dim, c.block_dim));
        assert_eq!(w.shared_mem_bytes, c.shared_mem_bytes + 2048);
        // gemm_wgmma.cuh's wg::ring_bytes(4, 16) + wg::TABLE_BYTES.
        let p = gemm16_core_launch(GemmCore::WgmmaInFlight, 4097, 129, 16);
        assert_eq!((p.grid_dim, p.block_dim), (c.grid_dim, c.block_dim));
        assert_eq!(p.shared_mem_bytes, 4 * 32768 + 2048);
        let h = gemm16_core_launch(GemmCore::for_gpu((9, 0).into()), 4097, 129, 16);
        assert_eq!(
            (h.grid_dim, h.block_dim, h.shared_mem_bytes),
            (w.grid_dim, w.block_dim, w.shared_mem_bytes)
        );
        let c = gemm16_core_launch(GemmCore::for_gpu((7, 5).into()), 65, 64, 0);
        assert_eq!((c.grid_dim, c.shared_mem_bytes), ((1, 2, 1), 0));
        // gemm_tma.cuh: 128 × 256 tiles, 3 warpgroups; the rank operands reuse the ring.
        let t = gemm16_core_launch(GemmCore::WgmmaTma, 4097, 257, 64);
        assert_eq!((t.grid_dim, t.block_dim.0), ((2, 33, 1), 384));
        assert_eq!(t.shared_mem_bytes, wgt_smem_bytes());
    }

    #[test]
    fn an_h100_under_a_build_without_sm_90_gets_mma_sync_and_the_rebuild_fix() {
        let gpu = Gpu::new((9, 0), &["sm_80", "sm_86"]);
        assert!(!gpu.sm90a && Gpu::new((9, 0), &["sm_80", "sm_90"]).sm90a);
        assert!(!Gpu::new((8, 9), &["sm_89", "sm_90"]).sm90a);
        assert_eq!(GemmCore::choose(gpu, None), Ok(GemmCore::TensorCore));
        assert_eq!(AttentionBwd::choose(gpu, None), Ok(AttentionBwd::Fused));
        assert_eq!(AttentionFwd::choose(gpu, None), Ok(AttentionFwd::Tc));
        let errors = [
            GemmCore::choose(gpu, Some("wgmma-tma")).unwrap_err(),
            AttentionFwd::choose(gpu, Some("wgmma")).unwrap_err(),
            AttentionBwd::choose(gpu, Some("wgmma")).unwrap_err(),
        ];
        for e in errors {
            assert!(
                e.contains("built without")
                    && e.contains("sm_90 in SECTUNE_CUDA_ARCHS")
                    && !e.contains("  "),
                "{e}"
            );
        }
        let e = AttentionFwd::choose((8, 6), Some("wgmma")).unwrap_err();
        assert!(e.contains("this GPU is 8.6") && !e.contains("  "), "{e}");
    }

    #[test]
    fn gemm_core_choice_defaults_by_arch_and_refuses_what_the_gpu_lacks() {
        assert_eq!(GemmCore::choose((9, 0), None), Ok(GemmCore::Hopper));
        assert_eq!(
            GemmCore::choose((9, 0), Some("tc")),
            Ok(GemmCore::TensorCore)
        );
        assert_eq!(
            GemmCore::choose((8, 6), Some("auto")),
            Ok(GemmCore::TensorCore)
        );
        assert_eq!(GemmCore::choose((7, 5), Some("")), Ok(GemmCore::Fma));
        assert_eq!(
            GemmCore::choose((9, 0), Some(" wgmma ")),
            Ok(GemmCore::Wgmma)
        );
        assert_eq!(
            GemmCore::choose((9, 0), Some("wgmma-inflight")),
            Ok(GemmCore::WgmmaInFlight)
        );
        assert!(GemmCore::choose((8, 0), Some("wgmma-inflight")).is_err());
        assert_eq!(GemmCore::choose((9, 0), Some("fma")), Ok(GemmCore::Fma));
        let e = GemmCore::choose((8, 9), Some("wgmma")).unwrap_err();
        assert!(
            e.contains("9.0") && e.contains("8.9") && e.contains("unset SECTUNE_GEMM_CORE"),
            "{e}"
        );
        assert!(GemmCore::choose((7, 5), Some("tc")).is_err());
        let e = GemmCore::choose((9, 0), Some("cublas")).unwrap_err();
        assert!(
            e.contains("\"cublas\"") && e.contains("wgmma-inflight, wgmma-tma or fma"),
            "{e}"
        );
        assert_eq!(GemmCore::Fma.tensor(), GemmCore::TensorCore);
        assert_eq!(GemmCore::Wgmma.tensor().prefix(), "wg_");
        assert_eq!(GemmCore::WgmmaInFlight.tensor().prefix(), "wgp_");
        assert_eq!(GemmCore::Hopper.prefix(), "wg_");
    }

    #[test]
    fn the_tma_core_is_opt_in_on_9_0_and_needs_aligned_rows() {
        assert_eq!(
            GemmCore::choose((9, 0), Some("wgmma-tma")),
            Ok(GemmCore::WgmmaTma)
        );
        let e = GemmCore::choose((8, 0), Some("wgmma-tma")).unwrap_err();
        assert!(e.contains("9.0") && e.contains("8.0"), "{e}");
        assert_eq!(GemmCore::WgmmaTma.prefix(), "wgt_");
        assert_eq!(GemmCore::WgmmaTma.tensor(), GemmCore::WgmmaTma);
        // NF4 linears decode on the TMA core's producer warpgroup both ways; int8 routes as under
        // the Hopper default.
        for fwd in [true, false] {
            assert_eq!(
                GemmCore::WgmmaTma.for_quantized(true, fwd),
                GemmCore::WgmmaTma
            );
        }
        for (nf4, fwd) in [(false, true), (false, false)] {
            assert_eq!(
                GemmCore::WgmmaTma.for_quantized(nf4, fwd),
                GemmCore::Hopper.for_quantized(nf4, fwd)
            );
        }
        // cuTensorMapEncodeTiled: 16-byte bases, row strides of whole 16-byte chunks.
        assert!(tma_fits(0x1000, 0x2000, 4096, 11008));
        assert!(!tma_fits(0x1008, 0x2000, 4096, 4096));
        assert!(!tma_fits(0x1000, 0x2000, 4100, 4096));
        assert!(!tma_fits(0x1000, 0x2000, 4096, 37));
        assert!(tma_operand_fits(0x1000, 4096) && !tma_operand_fits(0x1000, 4100));
        // Calls the maps cannot take run on the wg_ pipeline.
        assert_eq!(GemmCore::WgmmaTma.without_tma(), GemmCore::Wgmma);
        assert_eq!(GemmCore::Hopper.without_tma(), GemmCore::Hopper);
        // 4 stages × (128 + 256) rows × 64 bf16, 8 mbarriers, 2 KiB of tables (gemm_tma.cuh).
        assert_eq!(wgt_smem_bytes(), 198_720);
        assert!(wgt_smem_bytes() <= 227 * 1024);
    }

    #[test]
    fn the_hopper_default_runs_each_quantized_linear_on_its_faster_core() {
        assert_eq!(GemmCore::Hopper.for_quantized(true, true), GemmCore::Wgmma);
        assert_eq!(
            GemmCore::Hopper.for_quantized(true, false),
            GemmCore::TensorCore
        );
        assert_eq!(
            GemmCore::Hopper.for_quantized(false, true),
            GemmCore::TensorCore
        );
        // An explicit core runs everything, so its quantized twins stay testable.
        assert_eq!(GemmCore::Wgmma.for_quantized(false, false), GemmCore::Wgmma);
        assert_eq!(
            GemmCore::TensorCore.for_quantized(true, true),
            GemmCore::TensorCore
        );
    }

    #[test]
    fn quant_decode_is_fused_unless_scratch_is_asked_for_and_the_call_is_tall() {
        assert_eq!(QuantDecode::choose(None), Ok(QuantDecode::Fused));
        assert_eq!(
            QuantDecode::choose(Some(" scratch ")),
            Ok(QuantDecode::Scratch)
        );
        let e = QuantDecode::choose(Some("whole")).unwrap_err();
        assert!(
            e.contains(QUANT_DECODE_ENV) && e.contains("fused or scratch"),
            "{e}"
        );
        assert!(!QuantDecode::Fused.whole_weight(4096));
        assert!(QuantDecode::Scratch.whole_weight(SCRATCH_MIN_ROWS));
        assert!(!QuantDecode::Scratch.whole_weight(SCRATCH_MIN_ROWS - 1));
    }

    #[test]
    fn attention_fwd_choice_is_tc_unless_wgmma_is_asked_for_on_9_0() {
        assert_eq!(AttentionFwd::choose((9, 0), None), Ok(AttentionFwd::Tc));
        assert_eq!(
            AttentionFwd::choose((8, 6), Some("auto")),
            Ok(AttentionFwd::Tc)
        );
        assert_eq!(
            AttentionFwd::choose((9, 0), Some(" wgmma ")),
            Ok(AttentionFwd::Wgmma)
        );
        let err = AttentionFwd::choose((8, 9), Some("wgmma")).unwrap_err();
        assert!(err.contains("9.0") && err.contains("unset"), "{err}");
        let err = AttentionFwd::choose((9, 0), Some("flash3")).unwrap_err();
        assert!(err.contains("\"flash3\"") && err.contains("wgmma"), "{err}");
    }

    #[test]
    fn attention_wg_bwd_is_opt_in_on_9_0_and_sized_as_the_kernel() {
        assert_eq!(
            AttentionBwd::choose((9, 0), Some("wgmma")),
            Ok(AttentionBwd::Wgmma)
        );
        let err = AttentionBwd::choose((8, 0), Some("wgmma")).unwrap_err();
        assert!(err.contains("9.0") && err.contains("unset"), "{err}");
        assert!(AttentionBwd::Wgmma.sums_dq_in_f32() && AttentionBwd::Fused.sums_dq_in_f32());
        assert!(!AttentionBwd::Split.sums_dq_in_f32());
        // attn_wg::smem_bwd<D>(): K, V [keys][D], Q, dO [2][64][D], dSᵀ (and Pᵀ) [keys][64], lse, Δ
        // [2][64]; 128 keys, 64 at D 256.
        assert_eq!(attention_wg_bwd_tiles(64), Some((128, 82_944)));
        assert_eq!(attention_wg_bwd_tiles(128), Some((128, 148_480)));
        assert_eq!(attention_wg_bwd_tiles(256), Some((64, 214_016)));
        assert_eq!(attention_wg_bwd_tiles(96), None);
    }

    #[test]
    fn attention_wg_smem_matches_the_kernel_header() {
        // attn_wg::smem<D>(): 128 query rows + 2 stages × (K + V) of 128 keys (64 at D 256).
        assert_eq!(attention_wg_smem(64), Some(81_920));
        assert_eq!(attention_wg_smem(128), Some(163_840));
        assert_eq!(attention_wg_smem(256), Some(196_608));
        assert_eq!(attention_wg_smem(96), None);
    }

    #[test]
    fn attention_bwd_choice_defaults_by_arch_and_refuses_unknown_names() {
        assert_eq!(AttentionBwd::choose((8, 0), None), Ok(AttentionBwd::Split));
        assert_eq!(
            AttentionBwd::choose((8, 0), Some(" fused ")),
            Ok(AttentionBwd::Fused)
        );
        assert_eq!(
            AttentionBwd::choose((8, 0), Some("split")),
            Ok(AttentionBwd::Split)
        );
        let err = AttentionBwd::choose((8, 0), Some("atomic")).unwrap_err();
        assert!(
            err.contains(ATTENTION_BWD_ENV) && err.contains("split, fused or wgmma"),
            "{err}"
        );
        assert_eq!(AttentionBwd::choose((9, 0), None), Ok(AttentionBwd::Fused));
        assert_eq!(
            AttentionBwd::choose((9, 0), Some("split")),
            Ok(AttentionBwd::Split)
        );
        assert_eq!(
            AttentionBwd::choose((8, 6), Some("auto")),
            Ok(AttentionBwd::Split)
        );
    }

    #[test]
    fn attention_tc_tiles_match_the_kernel_header() {
        // The smem figures of the attention_tc.cuh header comment, all ≤ 99 KB (sm_86/89).
        let t = |d| attention_tc_tiles(d).unwrap();
        let smem = |d| (t(d).fwd_smem, t(d).dq_smem, t(d).dkv_smem);
        assert_eq!(smem(64), (46080, 55296, 56320));
        assert_eq!(smem(128), (87040, 69632, 70144));
        assert_eq!(smem(256), (101376, 101376, 67840));
        let fused: Vec<u32> = [64, 128, 256].iter().map(|&d| t(d).fused_smem).collect();
        assert_eq!(fused, [65536, 75264, 70912]);
        assert_eq!((t(64).dkv_k, t(128).dkv_k, t(256).dkv_k), (64, 64, 32));
        assert!([64, 128, 256].iter().all(|&d| t(d).q_rows == 64));
        assert_eq!(attention_tc_tiles(32), None);
    }

    #[test]
    fn gemm_grid_covers_odd_sizes() {
        assert_eq!(gemm_grid(65, 64), (1, 2, 1));
        assert_eq!(gemm_grid(1, 4097), (65, 1, 1));
    }

    #[test]
    fn rank_splits_cover_every_row_within_the_caps() {
        for &(m, p, r) in &[
            (1, 7, 1),
            (255, 64, 4),
            (4096, 4096, 8),
            (16384, 11008, 64),
            (70_000, 4096, 16),
        ] {
            let (splits, rows) = rank_splits(m, p, r);
            assert!(
                splits * rows >= m && (splits - 1) * rows < m,
                "{m} {p} {r}: {splits}×{rows}"
            );
            assert!(splits <= 64 && (splits == 1 || splits * p * r <= 8 << 20));
        }
        assert_eq!(rank_splits(4096, 4096, 8), (16, 256));
    }
}
