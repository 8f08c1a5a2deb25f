//! Host access to the tensor-core attention kernels (kernels/attention_tc.cu) for tests and
//! tools: runs forward and backward once on host data (f32 values, rounded to the 16-bit dtype
//! on upload) and returns every result as f32. The launchers live in ops::attention.

use cudarc::driver::{CudaSlice, DevicePtr};
use half::{bf16, f16};

use super::device::CudaDevice;
use super::ops::attention::{tc_bwd, tc_fwd_on, TcBuffers, TcBwd, TcGrads};
pub use super::ops::attention::{tc_supported_on as supported, AttnShape, HalfDtype};
pub use super::plan::{AttentionBwd, AttentionFwd};
use crate::error::{Error, Result};

/// `x` rounded to nearest-even in `dtype` (the value the kernels see after upload).
pub fn round_to(dtype: HalfDtype, x: f32) -> f32 {
    match dtype {
        HalfDtype::F16 => f16::from_f32(x).to_f32(),
        HalfDtype::Bf16 => bf16::from_f32(x).to_f32(),
    }
}

fn to_bits(dtype: HalfDtype, xs: &[f32]) -> Vec<u16> {
    match dtype {
        HalfDtype::F16 => xs.iter().map(|&x| f16::from_f32(x).to_bits()).collect(),
        HalfDtype::Bf16 => xs.iter().map(|&x| bf16::from_f32(x).to_bits()).collect(),
    }
}

fn from_bits(dtype: HalfDtype, bits: &[u16]) -> Vec<f32> {
    match dtype {
        HalfDtype::F16 => bits.iter().map(|&b| f16::from_bits(b).to_f32()).collect(),
        HalfDtype::Bf16 => bits.iter().map(|&b| bf16::from_bits(b).to_f32()).collect(),
    }
}

/// Everything one forward + backward produces: out, dq [B,T,H,D]; lse [B,H,T]; dk, dv [B,S,Hkv,D].
pub struct TcOutputs {
    pub out: Vec<f32>,
    pub lse: Vec<f32>,
    pub dq: Vec<f32>,
    pub dk: Vec<f32>,
    pub dv: Vec<f32>,
}

/// Host inputs of one call: q and dout [B,T,H,D], k and v [B,S,Hkv,D].
pub struct TcInputs<'a> {
    pub q: &'a [f32],
    pub k: &'a [f32],
    pub v: &'a [f32],
    pub dout: &'a [f32],
}

/// Runs the forward (`fwd`: attention_tc.cu's, or attention_wg.cu's on 9.0), then the backward
/// (`bwd`: split or fused) on the forward's own out and lse.
pub fn run_fwd_bwd(
    dev: &CudaDevice,
    dtype: HalfDtype,
    g: AttnShape,
    x: &TcInputs<'_>,
    scale: f32,
    (fwd, bwd): (AttentionFwd, AttentionBwd),
) -> Result<TcOutputs> {
    let (nq, nkv, nstat) = (
        g.b * g.t * g.h * g.d,
        g.b * g.s * g.hkv * g.d,
        g.b * g.h * g.t,
    );
    for (name, got, want) in [
        ("q", x.q.len(), nq),
        ("k", x.k.len(), nkv),
        ("v", x.v.len(), nkv),
        ("dout", x.dout.len(), nq),
    ] {
        if got != want {
            return Err(Error::shape(
                "attention_tc",
                format!("{name} has {got} values, {g:?} needs {want}"),
            ));
        }
    }
    let stream = dev.stream();
    let up = |v: &[f32]| stream.clone_htod(&to_bits(dtype, v));
    let (q, k, v, dout) = (up(x.q)?, up(x.k)?, up(x.v)?, up(x.dout)?);
    let out = stream.alloc_zeros::<u16>(nq)?;
    let (dq, dk, dv) = (
        stream.alloc_zeros::<u16>(nq)?,
        stream.alloc_zeros::<u16>(nkv)?,
        stream.alloc_zeros::<u16>(nkv)?,
    );
    let lse = stream.alloc_zeros::<f32>(nstat)?;
    let delta = stream.alloc_zeros::<f32>(nstat)?;
    let p16 = |s: &CudaSlice<u16>| s.device_ptr(stream).0;
    let bufs = TcBuffers {
        q: p16(&q),
        k: p16(&k),
        v: p16(&v),
        out: p16(&out),
        lse: lse.device_ptr(stream).0,
    };
    tc_fwd_on(dev, fwd, dtype, &g, &bufs, scale)?;
    let grads = TcGrads {
        dout: p16(&dout),
        delta: delta.device_ptr(stream).0,
        dq: p16(&dq),
        dk: p16(&dk),
        dv: p16(&dv),
    };
    let dq_acc = if bwd.sums_dq_in_f32() {
        Some(stream.alloc_zeros::<f32>(nq)?)
    } else {
        None
    };
    let path = TcBwd::new(bwd, dq_acc.as_ref().map(|acc| acc.device_ptr(stream).0))?;
    tc_bwd(dev, dtype, &g, &bufs, &grads, scale, path)?;
    let down =
        |s: &CudaSlice<u16>| -> Result<Vec<f32>> { Ok(from_bits(dtype, &stream.clone_dtoh(s)?)) };
    let result = TcOutputs {
        out: down(&out)?,
        lse: stream.clone_dtoh(&lse)?,
        dq: down(&dq)?,
        dk: down(&dk)?,
        dv: down(&dv)?,
    };
    stream.synchronize()?;
    Ok(result)
}
