//! Causal flash-style attention with GQA and a KV offset (S ≥ T): kernels/attention.cu, f32
//! instances for head dims 16, 32, 64, 128 and 256. Tiles come from plan::attention_tiles.
//! The tensor-core kernels (attention_tc.cu, f16/bf16 on sm_80+; also on the sm_90a warpgroups,
//! attention_wg.cu, opt-in) have raw-pointer launchers here (`tc_fwd`, `tc_bwd`) for
//! 16-bit callers: `--precision bf16` (ops/mixed.rs) and the tests.

use cudarc::driver::result::memset_d8_async;
use cudarc::driver::LaunchConfig;

use super::super::backend::CudaBackend;
use super::super::device::CudaDevice;
use super::super::kernels::KernelModule;
use super::super::launch::{cfg, cfg_smem, int, launch, KArg};
use super::super::plan::{
    attention_tc_tiles, attention_tiles, attention_wg_bwd_tiles, attention_wg_smem, AttentionBwd,
    AttentionFwd, AttentionTcTiles, ATTENTION_THREADS, ATTENTION_WG_Q_ROWS, ATTENTION_WG_THREADS,
};
use crate::backend::check;
use crate::backend::cpu::attention::Geometry;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

fn head_dim(d: usize) -> Result<usize> {
    match d {
        16 | 32 | 64 | 128 | 256 => Ok(d),
        _ => Err(Error::Unsupported(format!(
            "attention head dim {d}: the CUDA kernels are built for 16, 32, 64, 128 and 256; use the CPU backend for this model"
        ))),
    }
}

/// The tiny models' head dims live in their own module (attention_small.cu), off the hot path.
fn module(d: usize) -> KernelModule {
    if d < 64 {
        KernelModule::AttentionSmall
    } else {
        KernelModule::Attention
    }
}

fn grid(rows: usize, per_block: usize, heads: usize, batch: usize) -> cudarc::driver::LaunchConfig {
    cfg(
        (
            rows.div_ceil(per_block).max(1) as u32,
            heads as u32,
            batch as u32,
        ),
        (ATTENTION_THREADS, 1, 1),
    )
}

pub fn fwd(
    be: &CudaBackend,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f32,
) -> Result<(Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    let d = head_dim(g.d)?;
    let out = be.zeros(q.shape())?;
    let lse = be.zeros(&[g.b, g.h, g.t])?;
    if g.b * g.t == 0 {
        return Ok((out, lse));
    }
    if super::mixed::takes_attention(be, d) {
        return super::mixed::attention_fwd(be, q, k, v, &g, scale);
    }
    let tiles = attention_tiles(4, d);
    let (t, s, h, hkv) = (
        int("attention", g.t)?,
        int("attention", g.s)?,
        g.h as i32,
        g.hkv as i32,
    );
    launch!(@module be, module(d), format!("attention_fwd_d{d}_f32"), grid(g.t, tiles.fwd_q, g.h, g.b);
        be.ptr(q)?, be.ptr(k)?, be.ptr(v)?, be.ptr(&out)?, be.ptr(&lse)?, t, s, h, hkv, scale);
    Ok((out, lse))
}

#[allow(clippy::too_many_arguments)]
pub fn bwd(
    be: &CudaBackend,
    dout: &Tensor,
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    out: &Tensor,
    lse: &Tensor,
    scale: f32,
) -> Result<(Tensor, Tensor, Tensor)> {
    let g = Geometry::new(q, k, v)?;
    let d = head_dim(g.d)?;
    check::same_shape("attention_bwd", dout, q)?;
    check::same_shape("attention_bwd", out, q)?;
    check::len("attention_bwd", "lse", lse, g.b * g.h * g.t)?;
    let (dq, dk, dv) = (
        be.zeros(q.shape())?,
        be.zeros(k.shape())?,
        be.zeros(v.shape())?,
    );
    if g.b * g.t == 0 {
        return Ok((dq, dk, dv));
    }
    if super::mixed::takes_attention(be, d) {
        return super::mixed::attention_bwd(be, dout, q, k, v, out, lse, &g, scale);
    }
    let tiles = attention_tiles(4, d);
    let (t, s, h, hkv) = (
        int("attention", g.t)?,
        int("attention", g.s)?,
        g.h as i32,
        g.hkv as i32,
    );
    let delta = be.zeros(&[g.b, g.h, g.t])?;
    let rows = g.b * g.t * g.h;
    launch!(be, Attention, "attention_bwd_delta_f32", cfg((rows.div_ceil(4) as u32, 1, 1), (128, 1, 1));
        be.ptr(out)?, be.ptr(dout)?, be.ptr(&delta)?, g.b as i32, t, h, d as i32);
    let (qp, kp, vp, dop, lp, dp) = (
        be.ptr(q)?,
        be.ptr(k)?,
        be.ptr(v)?,
        be.ptr(dout)?,
        be.ptr(lse)?,
        be.ptr(&delta)?,
    );
    launch!(@module be, module(d), format!("attention_bwd_dq_d{d}_f32"), grid(g.t, tiles.dq_q, g.h, g.b);
        qp, kp, vp, dop, lp, dp, be.ptr(&dq)?, t, s, h, hkv, scale);
    launch!(@module be, module(d), format!("attention_bwd_dkv_d{d}_f32"), grid(g.s, tiles.dkv_k, g.hkv, g.b);
        qp, kp, vp, dop, lp, dp, be.ptr(&dk)?, be.ptr(&dv)?, t, s, h, hkv, scale);
    Ok((dq, dk, dv))
}

/// Stored dtype of the tensor-core attention kernels (kernels/attention_tc.cu).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HalfDtype {
    F16,
    Bf16,
}

impl HalfDtype {
    fn suffix(self) -> &'static str {
        match self {
            HalfDtype::F16 => "f16",
            HalfDtype::Bf16 => "bf16",
        }
    }
}

/// Sizes of one attention call: q [B,T,H,D], k/v [B,S,Hkv,D].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttnShape {
    pub b: usize,
    pub t: usize,
    pub s: usize,
    pub h: usize,
    pub hkv: usize,
    pub d: usize,
}

/// Device addresses of the 16-bit tensors and fp32 statistics of a tc attention call.
pub(crate) struct TcBuffers {
    pub q: u64,
    pub k: u64,
    pub v: u64,
    pub out: u64,
    pub lse: u64,
}

/// How tc_bwd forms dQ (plan::AttentionBwd): split (dQ and dK/dV kernels), or fused (dK/dV with
/// dQ summed into `dq_acc`, an f32 scratch of dQ's shape [B,T,H,D] that tc_bwd zeroes, then
/// converted to dQ) on mma.sync or on the warpgroup cores.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TcBwd {
    Split,
    Fused { dq_acc: u64 },
    Wgmma { dq_acc: u64 },
}

impl TcBwd {
    /// The path `bwd` names, with the f32 dQ buffer it needs (`None` only for split).
    pub(crate) fn new(bwd: AttentionBwd, dq_acc: Option<u64>) -> Result<Self> {
        match (bwd, dq_acc) {
            (AttentionBwd::Split, _) => Ok(TcBwd::Split),
            (AttentionBwd::Fused, Some(dq_acc)) => Ok(TcBwd::Fused { dq_acc }),
            (AttentionBwd::Wgmma, Some(dq_acc)) => Ok(TcBwd::Wgmma { dq_acc }),
            (_, None) => Err(Error::Unsupported(
                "the fused attention backward needs its f32 dQ buffer".into(),
            )),
        }
    }
}

/// Gradient side: dO in, Δ scratch [B,H,T] fp32, dQ/dK/dV out (fully overwritten).
pub(crate) struct TcGrads {
    pub dout: u64,
    pub delta: u64,
    pub dq: u64,
    pub dk: u64,
    pub dv: u64,
}

/// The tensor-core kernels need mma.sync with bf16 and cp.async: compute capability ≥ 8.0.
pub fn tc_supported_on(dev: &CudaDevice) -> Result<bool> {
    Ok(dev.compute_capability()?.0 >= 8)
}

fn tc_check(dev: &CudaDevice, g: &AttnShape) -> Result<(AttentionTcTiles, [i32; 4])> {
    let tiles = attention_tc_tiles(g.d).ok_or_else(|| {
        Error::Unsupported(format!(
            "tensor-core attention head dim {}: built for 64, 128 and 256",
            g.d
        ))
    })?;
    if !tc_supported_on(dev)? {
        return Err(Error::Unsupported(
            "tensor-core attention needs a GPU of compute capability 8.0 or newer".into(),
        ));
    }
    if g.t == 0 || g.s < g.t || g.hkv == 0 || !g.h.is_multiple_of(g.hkv) || g.b == 0 {
        return Err(Error::shape(
            "attention_tc",
            format!("{g:?}: need T ≥ 1, S ≥ T, B ≥ 1 and H a multiple of Hkv ≥ 1"),
        ));
    }
    let dims = [
        int("attention_tc", g.t)?,
        int("attention_tc", g.s)?,
        int("attention_tc", g.h)?,
        int("attention_tc", g.hkv)?,
    ];
    Ok((tiles, dims))
}

fn launch_tc(
    dev: &CudaDevice,
    module: KernelModule,
    name: &str,
    cfg: LaunchConfig,
    args: Vec<KArg>,
) -> Result<()> {
    // Each caller's argument list matches the entry point's signature in attention_tc.cuh /
    // attention.cu, and every address points to a live buffer of its shape.
    super::super::launch::launch_args(dev, module, name, cfg, &args)
}

/// An attention_wg.cu launch (256 threads, `smem` bytes): `rows` (queries or keys) in blocks of
/// `per_block`, times `heads` and `batch`.
fn wg_launch(
    name: String,
    (rows, per_block, heads, batch): (usize, usize, usize, usize),
    smem: u32,
) -> (KernelModule, String, LaunchConfig) {
    let grid = (rows.div_ceil(per_block) as u32, heads as u32, batch as u32);
    let cfg = cfg_smem(grid, (ATTENTION_WG_THREADS, 1, 1), smem);
    (KernelModule::AttentionWg, name, cfg)
}

/// Forward: out [B,T,H,D] and lse [B,H,T] from q, k, v (attention_tc_fwd_d{D}_{dtype}, or
/// attention_wg_fwd_d{D}_{dtype} under SECTUNE_ATTENTION_FWD=wgmma: same arguments).
pub(crate) fn tc_fwd(
    dev: &CudaDevice,
    dtype: HalfDtype,
    g: &AttnShape,
    buf: &TcBuffers,
    scale: f32,
) -> Result<()> {
    tc_fwd_on(dev, dev.attention_fwd()?, dtype, g, buf, scale)
}

/// `tc_fwd` on the forward kernel `path` names (the bench times both; Wgmma needs 9.0).
pub(crate) fn tc_fwd_on(
    dev: &CudaDevice,
    path: AttentionFwd,
    dtype: HalfDtype,
    g: &AttnShape,
    buf: &TcBuffers,
    scale: f32,
) -> Result<()> {
    let (tiles, [t, s, h, hkv]) = tc_check(dev, g)?;
    let sfx = dtype.suffix();
    let wg_smem = match path {
        AttentionFwd::Wgmma => attention_wg_smem(g.d),
        AttentionFwd::Tc => None,
    };
    let (module, name, cfg) = match wg_smem {
        Some(smem) => wg_launch(
            format!("attention_wg_fwd_d{}_{sfx}", g.d),
            (g.t, ATTENTION_WG_Q_ROWS, g.h, g.b),
            smem,
        ),
        None => (
            KernelModule::AttentionTc,
            format!("attention_tc_fwd_d{}_{sfx}", g.d),
            cfg_smem(
                (g.t.div_ceil(tiles.q_rows) as u32, g.h as u32, g.b as u32),
                (ATTENTION_THREADS, 1, 1),
                tiles.fwd_smem,
            ),
        ),
    };
    launch_tc(
        dev,
        module,
        &name,
        cfg,
        vec![
            buf.q.into(),
            buf.k.into(),
            buf.v.into(),
            buf.out.into(),
            buf.lse.into(),
            t.into(),
            s.into(),
            h.into(),
            hkv.into(),
            scale.into(),
        ],
    )
}

/// Backward: Δ = rowsum(dO⊙O) with attention.cu's delta kernel, then either (split) dQ (one
/// block per 64 queries) and dK/dV (one block per key tile, summing over the GQA group: no
/// atomics), or (fused) one kernel per key tile for dK/dV that also adds dS·K into `dq_acc` with
/// atomics, and a conversion of those sums to dQ.
pub(crate) fn tc_bwd(
    dev: &CudaDevice,
    dtype: HalfDtype,
    g: &AttnShape,
    buf: &TcBuffers,
    grads: &TcGrads,
    scale: f32,
    path: TcBwd,
) -> Result<()> {
    let (tiles, [t, s, h, hkv]) = tc_check(dev, g)?;
    let rows = g.b * g.t * g.h;
    let sfx = dtype.suffix();
    launch_tc(
        dev,
        KernelModule::Attention,
        &format!("attention_bwd_delta_{sfx}"),
        cfg((rows.div_ceil(4) as u32, 1, 1), (128, 1, 1)),
        vec![
            buf.out.into(),
            grads.dout.into(),
            grads.delta.into(),
            int("attention_tc", g.b)?.into(),
            t.into(),
            h.into(),
            (g.d as i32).into(),
        ],
    )?;
    let args = |outs: &[u64]| -> Vec<KArg> {
        let mut a: Vec<KArg> = vec![
            buf.q.into(),
            buf.k.into(),
            buf.v.into(),
            grads.dout.into(),
            buf.lse.into(),
            grads.delta.into(),
        ];
        a.extend(outs.iter().map(|&p| KArg::from(p)));
        a.extend([t.into(), s.into(), h.into(), hkv.into(), scale.into()]);
        a
    };
    let block = (ATTENTION_THREADS, 1, 1);
    let dkv_grid = (g.s.div_ceil(tiles.dkv_k) as u32, g.hkv as u32, g.b as u32);
    let fused = match path {
        TcBwd::Split => None,
        TcBwd::Fused { dq_acc } => Some((dq_acc, None)),
        TcBwd::Wgmma { dq_acc } => Some((dq_acc, attention_wg_bwd_tiles(g.d))),
    };
    if let Some((dq_acc, wg_tiles)) = fused {
        let n = g.b * g.t * g.h * g.d;
        // SAFETY: the caller's contract: dq_acc is a live f32 buffer of dQ's n elements.
        unsafe { memset_d8_async(dq_acc, 0, n * 4, dev.stream().cu_stream()) }?;
        let (module, name, launch) = match wg_tiles {
            Some((keys, smem)) => wg_launch(
                format!("attention_wg_bwd_d{}_{sfx}", g.d),
                (g.s, keys, g.hkv, g.b),
                smem,
            ),
            None => (
                KernelModule::AttentionTc,
                format!("attention_tc_bwd_fused_d{}_{sfx}", g.d),
                cfg_smem(dkv_grid, block, tiles.fused_smem),
            ),
        };
        launch_tc(
            dev,
            module,
            &name,
            launch,
            args(&[grads.dk, grads.dv, dq_acc]),
        )?;
        let blocks = n.div_ceil(4 * 256).min(65_535) as u32;
        return launch_tc(
            dev,
            KernelModule::AttentionTc,
            &format!("attention_tc_dq_convert_{sfx}"),
            cfg((blocks, 1, 1), (256, 1, 1)),
            vec![
                dq_acc.into(),
                grads.dq.into(),
                (n as i64).into(),
                scale.into(),
            ],
        );
    }
    launch_tc(
        dev,
        KernelModule::AttentionTc,
        &format!("attention_tc_bwd_dq_d{}_{sfx}", g.d),
        cfg_smem(
            (g.t.div_ceil(tiles.q_rows) as u32, g.h as u32, g.b as u32),
            block,
            tiles.dq_smem,
        ),
        args(&[grads.dq]),
    )?;
    launch_tc(
        dev,
        KernelModule::AttentionTc,
        &format!("attention_tc_bwd_dkv_d{}_{sfx}", g.d),
        cfg_smem(dkv_grid, block, tiles.dkv_smem),
        args(&[grads.dk, grads.dv]),
    )
}
