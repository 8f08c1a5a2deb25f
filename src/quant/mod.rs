//! Storage of frozen base weights: bf16 (lossless, for weights that are bf16 values), int8
//! (per-row absmax) and NF4 (blocks of 64, optional double quantization), bit-compatible with
//! bitsandbytes' formats. Only the linear layers inside the transformer blocks are stored this
//! way; embeddings, norms and lm_head stay f32 (bitsandbytes and transformers skip lm_head too).
//!
//! The reference forward/backward of a quantized linear dequantizes to f32 and runs the plain
//! linear op (`Backend::quant_linear_fwd` / `quant_linear_bwd`), so it is exact to the formats'
//! definitions. See docs/quantization.md.

pub mod bf16;
pub mod bnb;
pub mod decode;
pub mod device;
pub mod dynamic;
pub mod int8;
pub mod nf4;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::tensor::Tensor;
pub use bf16::Bf16Weight;
pub use int8::Int8Weight;
pub use nf4::Nf4Weight;

/// How frozen base linears are held during a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BaseDtype {
    /// 16 bits where lossless: a linear whose values are all bf16 values (a bf16 checkpoint) is
    /// held in bf16, any other (f32, f16 checkpoints) in f32 as loaded. Never rounds.
    #[default]
    Bf16,
    /// f32 whatever the checkpoint (twice bf16's memory; the CPU backend skips the widening).
    F32,
    /// 8-bit codes with one f32 absmax per output row.
    Int8,
    /// NormalFloat-4, blocks of 64 with an f32 absmax each (8-bit with --double-quant).
    Nf4,
}

impl BaseDtype {
    pub fn as_str(self) -> &'static str {
        match self {
            BaseDtype::Bf16 => "bf16",
            BaseDtype::F32 => "f32",
            BaseDtype::Int8 => "int8",
            BaseDtype::Nf4 => "nf4",
        }
    }
}

/// What the loader does with each block linear's weight.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuantRequest {
    pub dtype: BaseDtype,
    /// NF4 only: store the absmax values in 8 bits.
    pub double_quant: bool,
}

impl QuantRequest {
    pub fn new(dtype: BaseDtype, double_quant: bool) -> Self {
        QuantRequest {
            dtype,
            double_quant,
        }
    }
}

/// A frozen linear weight (out, in) in one of the storage formats.
#[derive(Clone, Debug, PartialEq)]
pub enum BaseWeight {
    F32(Tensor),
    Bf16(Bf16Weight),
    Int8(Int8Weight),
    Nf4(Nf4Weight),
    /// bf16 / int8 / NF4 in GPU memory (the CUDA backend's `upload_base`).
    #[cfg(feature = "cuda")]
    Cuda(crate::backend::cuda::quant_storage::QuantDeviceWeight),
}

impl From<Tensor> for BaseWeight {
    fn from(t: Tensor) -> Self {
        BaseWeight::F32(t)
    }
}

impl BaseWeight {
    /// Stores a host f32 weight (out, in) as `req` asks: Bf16 holds it in 16 bits only when that
    /// is lossless, F32 keeps it as it is.
    pub fn quantize(w: Tensor, req: QuantRequest) -> Result<Self> {
        let (rows, cols) = (w.rows(), w.last_dim());
        Ok(match req.dtype {
            BaseDtype::F32 => BaseWeight::F32(w),
            BaseDtype::Bf16 => match Bf16Weight::exact(w.host()?, rows, cols)? {
                Some(b) => BaseWeight::Bf16(b),
                None => BaseWeight::F32(w),
            },
            BaseDtype::Int8 => BaseWeight::Int8(Int8Weight::quantize(w.host()?, rows, cols)?),
            BaseDtype::Nf4 => BaseWeight::Nf4(Nf4Weight::quantize(
                w.host()?,
                rows,
                cols,
                req.double_quant,
            )?),
        })
    }

    /// out_features.
    pub fn rows(&self) -> usize {
        match self {
            BaseWeight::F32(t) => t.rows(),
            BaseWeight::Bf16(q) => q.rows,
            BaseWeight::Int8(q) => q.rows,
            BaseWeight::Nf4(q) => q.rows,
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q) => q.rows,
        }
    }

    /// in_features.
    pub fn cols(&self) -> usize {
        match self {
            BaseWeight::F32(t) => t.last_dim(),
            BaseWeight::Bf16(q) => q.cols,
            BaseWeight::Int8(q) => q.cols,
            BaseWeight::Nf4(q) => q.cols,
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q) => q.cols,
        }
    }

    pub fn numel(&self) -> usize {
        self.rows() * self.cols()
    }

    /// "f32", "bf16", "int8", "nf4" or "nf4+dq" (double-quantized absmax).
    pub fn kind(&self) -> &'static str {
        match self {
            BaseWeight::F32(_) => "f32",
            BaseWeight::Bf16(_) => "bf16",
            BaseWeight::Int8(_) => "int8",
            BaseWeight::Nf4(q) => match q.absmax {
                nf4::Absmax::Plain(_) => "nf4",
                nf4::Absmax::Double(_) => "nf4+dq",
            },
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q) => q.format.kind(),
        }
    }

    pub fn as_f32(&self) -> Option<&Tensor> {
        match self {
            BaseWeight::F32(t) => Some(t),
            _ => None,
        }
    }

    /// Whether the stored values differ from the loaded ones (int8, nf4): such weights cannot
    /// be merged into or saved. f32 and bf16 storage are exact.
    pub fn is_lossy(&self) -> bool {
        !matches!(self.kind(), "f32" | "bf16")
    }

    /// The f32 weight, for operations that rewrite it (merging an adapter). A host bf16 weight
    /// is widened to f32 in place first (exact; the rewrite would not stay a bf16 value).
    pub fn f32_mut(&mut self) -> Result<&mut Tensor> {
        if let BaseWeight::Bf16(_) = self {
            *self = BaseWeight::F32(self.dequantize()?);
        }
        let kind = self.kind();
        match self {
            BaseWeight::F32(t) => Ok(t),
            _ => Err(Error::Unsupported(format!(
                "this base linear is stored as {kind}; merging or rewriting base weights needs them unquantized: load the model with --base-dtype bf16"
            ))),
        }
    }

    /// The weight as a host f32 tensor (out, in): a copy for F32, the decoded values otherwise.
    pub fn dequantize(&self) -> Result<Tensor> {
        let shape = [self.rows(), self.cols()];
        match self {
            BaseWeight::F32(t) => Ok(t.clone()),
            BaseWeight::Bf16(q) => Tensor::from_vec(q.dequantize(), &shape),
            BaseWeight::Int8(q) => Tensor::from_vec(q.dequantize(), &shape),
            BaseWeight::Nf4(q) => Tensor::from_vec(q.dequantize()?, &shape),
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q) => q.to_host()?.dequantize(),
        }
    }

    /// Bytes this weight holds (f32 at 4 bytes a value).
    pub fn storage_bytes(&self) -> u64 {
        match self {
            BaseWeight::F32(t) => 4 * t.numel() as u64,
            BaseWeight::Bf16(q) => q.storage_bytes(),
            BaseWeight::Int8(q) => q.storage_bytes(),
            BaseWeight::Nf4(q) => q.storage_bytes(),
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q) => q.bytes,
        }
    }

    /// Values of the bf16 copy `--precision bf16` rounds for each call on this weight: an f32-held
    /// weight (the lm_head, an f32 checkpoint's linears); 16-bit and quantized ones are read as
    /// they are.
    pub fn rounded_copy_values(&self) -> usize {
        match self {
            BaseWeight::F32(t) => t.numel(),
            _ => 0,
        }
    }

    /// Values of an int8 / NF4 weight, host or device (what a whole-weight decode copies); else 0.
    pub fn quantized_values(&self) -> usize {
        match self {
            BaseWeight::Int8(_) | BaseWeight::Nf4(_) => self.numel(),
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(q)
                if q.format != crate::backend::cuda::quant_storage::QuantFormat::Bf16 =>
            {
                self.numel()
            }
            _ => 0,
        }
    }

    /// Values of the f32 copy a backend decodes for each call on this weight: the CPU reference
    /// decodes host weights a block at a time (`decode::BLOCK_VALUES`); f32 weights and device
    /// weights (decoded tile by tile inside the kernels) need none.
    pub fn decoded_copy_values(&self) -> usize {
        match self {
            BaseWeight::Bf16(_) | BaseWeight::Int8(_) | BaseWeight::Nf4(_) => {
                self.numel().min(decode::BLOCK_VALUES)
            }
            _ => 0,
        }
    }
}

/// Planned bytes of an (rows, cols) linear weight stored as `req` asks, with `bf16_bytes` per
/// value for `BaseDtype::Bf16` (2 when the checkpoint holds bf16 values, 4 when it stays f32).
pub fn planned_bytes(rows: usize, cols: usize, req: QuantRequest, bf16_bytes: u64) -> u64 {
    let n = (rows * cols) as u64;
    match req.dtype {
        BaseDtype::Bf16 => n * bf16_bytes,
        BaseDtype::F32 => n * 4,
        BaseDtype::Int8 => n + 4 * rows as u64,
        BaseDtype::Nf4 => {
            let blocks = n.div_ceil(nf4::BLOCK as u64);
            let stats = if req.double_quant {
                blocks + 4 * blocks.div_ceil(nf4::NESTED_BLOCK as u64) + 4 * 256 + 4
            } else {
                4 * blocks
            };
            n.div_ceil(2) + stats + 4 * 16
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(dtype: BaseDtype) -> QuantRequest {
        QuantRequest::new(dtype, false)
    }

    #[test]
    fn only_int8_and_nf4_weights_have_quantized_values_to_copy() {
        let w =
            Tensor::from_vec((0..24 * 16).map(|i| (i % 5) as f32).collect(), &[24, 16]).unwrap();
        for (dtype, copies) in [
            (BaseDtype::F32, 0),
            (BaseDtype::Bf16, 0),
            (BaseDtype::Int8, 384),
            (BaseDtype::Nf4, 384),
        ] {
            let q = BaseWeight::quantize(w.clone(), req(dtype)).unwrap();
            assert_eq!(q.quantized_values(), copies, "{dtype:?}");
        }
    }

    #[test]
    fn planned_bytes_match_what_quantizing_holds() {
        // Small integers are bf16 values (bf16 stores 2 bytes each); 1 + 2^-20 is not.
        let bf16_valued = Tensor::from_vec(
            (0..96 * 80).map(|i| (i % 13) as f32 - 6.0).collect(),
            &[96, 80],
        )
        .unwrap();
        let f32_valued = Tensor::from_vec(
            (0..96 * 80)
                .map(|i| (i % 13) as f32 - 6.0 + 1.0 / (1 << 20) as f32)
                .collect(),
            &[96, 80],
        )
        .unwrap();
        for (w, bf16_bytes) in [(&bf16_valued, 2), (&f32_valued, 4)] {
            for (dtype, dq) in [
                (BaseDtype::Bf16, false),
                (BaseDtype::F32, false),
                (BaseDtype::Int8, false),
                (BaseDtype::Nf4, false),
                (BaseDtype::Nf4, true),
            ] {
                let req = QuantRequest::new(dtype, dq);
                let q = BaseWeight::quantize(w.clone(), req).unwrap();
                assert_eq!(
                    planned_bytes(96, 80, req, bf16_bytes),
                    q.storage_bytes(),
                    "{dtype:?} {dq} {bf16_bytes}"
                );
                assert_eq!((q.rows(), q.cols()), (96, 80));
            }
        }
        // nf4 is about an eighth of f32, int8 about a quarter.
        let nf4 = planned_bytes(4096, 4096, QuantRequest::new(BaseDtype::Nf4, true), 4);
        assert!(nf4 * 7 < 4096 * 4096 * 4 / 8 * 8 && nf4 > 4096 * 4096 / 2);
    }

    #[test]
    fn only_host_quantized_weights_need_a_decoded_copy() {
        let w = Tensor::full(&[3, 64], 0.5);
        for (dtype, want) in [
            (BaseDtype::F32, 0),
            (BaseDtype::Bf16, 192),
            (BaseDtype::Int8, 192),
            (BaseDtype::Nf4, 192),
        ] {
            let q = BaseWeight::quantize(w.clone(), req(dtype)).unwrap();
            assert_eq!(q.decoded_copy_values(), want, "{dtype:?}");
        }
    }

    #[test]
    fn quantized_weights_refuse_in_place_rewrites() {
        let w = Tensor::full(&[2, 64], 0.25);
        let mut q = BaseWeight::quantize(w, QuantRequest::new(BaseDtype::Int8, false)).unwrap();
        let e = q.f32_mut().unwrap_err().to_string();
        assert!(e.contains("--base-dtype bf16"), "{e}");
        assert!(q.is_lossy());
    }

    #[test]
    fn bf16_storage_is_chosen_only_when_lossless_and_widens_for_rewrites() {
        let exact = Tensor::from_vec(vec![0.5, -2.0, 0.375, 8.0], &[2, 2]).unwrap();
        let inexact = Tensor::from_vec(vec![0.5, -2.0, 0.1, 8.0], &[2, 2]).unwrap();
        let mut q = BaseWeight::quantize(exact.clone(), req(BaseDtype::Bf16)).unwrap();
        assert_eq!(
            (q.kind(), q.storage_bytes(), q.is_lossy()),
            ("bf16", 8, false)
        );
        assert_eq!(q.dequantize().unwrap(), exact);
        let kept = BaseWeight::quantize(inexact.clone(), req(BaseDtype::Bf16)).unwrap();
        assert_eq!(kept, BaseWeight::F32(inexact));
        let forced = BaseWeight::quantize(exact.clone(), req(BaseDtype::F32)).unwrap();
        assert_eq!(forced.kind(), "f32");
        // Merging rewrites the weight: it is widened to f32 first, values unchanged.
        let widened = q.f32_mut().unwrap().clone();
        assert_eq!(widened, exact);
        assert_eq!(q, BaseWeight::F32(exact));
    }
}
