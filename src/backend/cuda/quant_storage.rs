//! Frozen base weights held in GPU memory in a compact format (bf16, int8, nf4): the patterns or
//! packed codes, the absmax state and the code tables exactly as `crate::quant` holds them on the
//! host, uploaded once when the model moves to the CUDA backend. The kernels of
//! kernels/quant_dequant.cu decode tiles in shared memory, so no decoded copy of a weight exists
//! in global memory. Shared behind an `Arc` (the weights are
//! frozen): cloning a model's weight costs nothing.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};

use crate::error::{Error, Result};
use crate::quant::nf4::{Absmax, DoubleQuant, Nf4Weight};
use crate::quant::{BaseWeight, Bf16Weight, Int8Weight};

/// Storage format on the device; `kernel_suffix` names the kernels' instances.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantFormat {
    /// bf16 bit patterns (exact; a bf16 checkpoint).
    Bf16,
    Int8,
    Nf4,
    /// NF4 with double-quantized absmax.
    Nf4Dq,
}

impl QuantFormat {
    pub fn kernel_suffix(self) -> &'static str {
        match self {
            QuantFormat::Bf16 => "bf16",
            QuantFormat::Int8 => "int8",
            QuantFormat::Nf4 | QuantFormat::Nf4Dq => "nf4",
        }
    }

    /// As `BaseWeight::kind`.
    pub fn kind(self) -> &'static str {
        match self {
            QuantFormat::Bf16 => "bf16",
            QuantFormat::Int8 => "int8",
            QuantFormat::Nf4 => "nf4",
            QuantFormat::Nf4Dq => "nf4+dq",
        }
    }
}

pub(crate) struct QuantBufs {
    /// nf4 packed nibbles, int8 codes or bf16 patterns (little-endian), as bytes.
    pub q: CudaSlice<u8>,
    /// nf4 absmax (plain) or nested absmax (double quant); int8 row absmax; none for bf16.
    pub scale: Option<CudaSlice<f32>>,
    /// Double quant: the 8-bit codes of absmax − offset.
    pub qscale: Option<CudaSlice<u8>>,
    /// Double quant: the 256-level dynamic map.
    pub map: Option<CudaSlice<f32>>,
    /// nf4: the 16 levels.
    pub levels: Option<CudaSlice<f32>>,
}

/// A compact (out, in) linear weight on the GPU.
#[derive(Clone)]
pub struct QuantDeviceWeight {
    pub rows: usize,
    pub cols: usize,
    pub format: QuantFormat,
    /// Double quant: offset added after the map, and the nested block size.
    pub offset: f32,
    pub nested_block: usize,
    /// Bytes held on the device (the host weight's `storage_bytes`).
    pub bytes: u64,
    pub(crate) bufs: Arc<QuantBufs>,
}

impl std::fmt::Debug for QuantDeviceWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QuantDeviceWeight({} ({}, {}), {} bytes)",
            self.format.kind(),
            self.rows,
            self.cols,
            self.bytes
        )
    }
}

/// Equal when the host copies are equal (downloads both; meant for tests). A failed download is
/// unequal.
impl PartialEq for QuantDeviceWeight {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.bufs, &other.bufs)
            || matches!((self.to_host(), other.to_host()), (Ok(a), Ok(b)) if a == b)
    }
}

fn bytes_of_i8(q: &[i8]) -> Vec<u8> {
    q.iter().map(|&v| v as u8).collect()
}

impl QuantDeviceWeight {
    /// Uploads a host bf16 or quantized weight; F32 weights are not this type's business.
    pub fn upload(stream: &Arc<CudaStream>, w: &BaseWeight) -> Result<Self> {
        let bytes = w.storage_bytes();
        match w {
            BaseWeight::Bf16(b) => {
                let bufs = QuantBufs {
                    q: stream.clone_htod(bytemuck::cast_slice::<u16, u8>(&b.bits))?,
                    scale: None,
                    qscale: None,
                    map: None,
                    levels: None,
                };
                Ok(QuantDeviceWeight {
                    rows: b.rows,
                    cols: b.cols,
                    format: QuantFormat::Bf16,
                    offset: 0.0,
                    nested_block: 1,
                    bytes,
                    bufs: Arc::new(bufs),
                })
            }
            BaseWeight::Int8(q) => {
                let bufs = QuantBufs {
                    q: stream.clone_htod(&bytes_of_i8(&q.q))?,
                    scale: Some(stream.clone_htod(&q.absmax)?),
                    qscale: None,
                    map: None,
                    levels: None,
                };
                Ok(QuantDeviceWeight {
                    rows: q.rows,
                    cols: q.cols,
                    format: QuantFormat::Int8,
                    offset: 0.0,
                    nested_block: 1,
                    bytes,
                    bufs: Arc::new(bufs),
                })
            }
            BaseWeight::Nf4(q) => {
                let plan = crate::quant::device::nf4_layout(q)?;
                let (scale, qscale, map) = match &q.absmax {
                    Absmax::Plain(a) => (stream.clone_htod(a)?, None, None),
                    Absmax::Double(d) => (
                        stream.clone_htod(&d.absmax)?,
                        Some(stream.clone_htod(&d.codes)?),
                        Some(stream.clone_htod(&d.map)?),
                    ),
                };
                let bufs = QuantBufs {
                    q: stream.clone_htod(&q.packed)?,
                    scale: Some(scale),
                    qscale,
                    map,
                    levels: Some(stream.clone_htod(&q.levels[..])?),
                };
                Ok(QuantDeviceWeight {
                    rows: q.rows,
                    cols: q.cols,
                    format: if plan.double_quant {
                        QuantFormat::Nf4Dq
                    } else {
                        QuantFormat::Nf4
                    },
                    offset: plan.offset,
                    nested_block: plan.nested_block,
                    bytes,
                    bufs: Arc::new(bufs),
                })
            }
            other => Err(Error::Unsupported(format!(
                "QuantDeviceWeight::upload takes a bf16, int8 or nf4 weight, not {}",
                other.kind()
            ))),
        }
    }

    /// The host weight this was uploaded from (bit for bit).
    pub fn to_host(&self) -> Result<BaseWeight> {
        let stream = self.bufs.q.stream().clone();
        let q = stream.clone_dtoh(&self.bufs.q)?;
        let opt_u8 =
            |s: &Option<CudaSlice<u8>>| s.as_ref().map(|s| stream.clone_dtoh(s)).transpose();
        let opt_f32 =
            |s: &Option<CudaSlice<f32>>| s.as_ref().map(|s| stream.clone_dtoh(s)).transpose();
        let (scale, qscale, map, levels) = (
            opt_f32(&self.bufs.scale)?,
            opt_u8(&self.bufs.qscale)?,
            opt_f32(&self.bufs.map)?,
            opt_f32(&self.bufs.levels)?,
        );
        stream.synchronize()?;
        let lost =
            |what: &str| Error::Device(format!("a {} weight lost its {what}", self.format.kind()));
        match self.format {
            QuantFormat::Bf16 => {
                let bits = q
                    .chunks_exact(2)
                    .map(|b| u16::from_le_bytes([b[0], b[1]]))
                    .collect();
                Ok(BaseWeight::Bf16(Bf16Weight::from_parts(
                    self.rows, self.cols, bits,
                )?))
            }
            QuantFormat::Int8 => Ok(BaseWeight::Int8(Int8Weight::from_parts(
                self.rows,
                self.cols,
                q.iter().map(|&b| b as i8).collect(),
                scale.ok_or_else(|| lost("absmax"))?,
            )?)),
            QuantFormat::Nf4 | QuantFormat::Nf4Dq => {
                let scale = scale.ok_or_else(|| lost("absmax"))?;
                let absmax = match (qscale, map) {
                    (Some(codes), Some(map)) => Absmax::Double(DoubleQuant {
                        codes,
                        absmax: scale,
                        offset: self.offset,
                        map,
                        block: self.nested_block,
                    }),
                    _ => Absmax::Plain(scale),
                };
                let levels: [f32; 16] = levels
                    .unwrap_or_default()
                    .try_into()
                    .map_err(|_| lost("16 levels"))?;
                let w = Nf4Weight {
                    rows: self.rows,
                    cols: self.cols,
                    block: crate::quant::nf4::BLOCK,
                    packed: q,
                    absmax,
                    levels,
                };
                w.validate()?;
                Ok(BaseWeight::Nf4(w))
            }
        }
    }
}
