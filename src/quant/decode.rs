//! Decoding a host weight's values range by range, so the CPU reference can run a compact
//! linear a block of rows or columns at a time instead of widening the whole weight for every
//! call (that full copy cost more than the GEMM itself). Each format's `decode_into` serves both
//! this and its `dequantize`, so the two agree bit for bit.

use super::BaseWeight;
use crate::error::{Error, Result};

/// Values the CPU reference decodes per GEMM block (32 MiB of f32, two blocks of a 7B
/// 4096 × 4096 linear): the whole weight is never widened at once, and the GEMM repacks the
/// activations only a few times per call (smaller blocks made that repacking the cost).
pub const BLOCK_VALUES: usize = 1 << 23;

/// Decodes ranges of one weight's row-major flattened values.
pub struct RangeDecoder<'a> {
    w: &'a BaseWeight,
    /// nf4: every block's absmax, decoded once per call (double quantization included).
    nf4_absmax: Vec<f32>,
}

impl<'a> RangeDecoder<'a> {
    pub fn new(w: &'a BaseWeight) -> Result<Self> {
        let nf4_absmax = match w {
            BaseWeight::Nf4(q) => {
                q.validate()?;
                q.absmax_values()?
            }
            BaseWeight::F32(_) | BaseWeight::Bf16(_) | BaseWeight::Int8(_) => Vec::new(),
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(_) => {
                return Err(Error::Unsupported(
                    "a GPU-held weight reached the CPU backend: load the model on the CPU".into(),
                ))
            }
        };
        Ok(RangeDecoder { w, nf4_absmax })
    }

    /// out = values[start .. start + out.len()].
    pub fn decode(&self, start: usize, out: &mut [f32]) -> Result<()> {
        let end = start + out.len();
        if end > self.w.numel() {
            return Err(Error::shape(
                "RangeDecoder::decode",
                format!("values {start}..{end} of a weight with {}", self.w.numel()),
            ));
        }
        match self.w {
            BaseWeight::F32(t) => out.copy_from_slice(&t.host()?[start..end]),
            BaseWeight::Bf16(q) => q.decode_into(start, out),
            BaseWeight::Int8(q) => q.decode_into(start, out),
            BaseWeight::Nf4(q) => q.decode_into(&self.nf4_absmax, start, out),
            #[cfg(feature = "cuda")]
            BaseWeight::Cuda(_) => unreachable!("refused by RangeDecoder::new"),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::{BaseDtype, QuantRequest};
    use crate::tensor::Tensor;

    #[test]
    fn every_range_decodes_as_the_whole_weight() {
        let (rows, cols) = (7, 45);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| half::bf16::from_f32(((i * 37) % 101) as f32 / 50.0 - 1.0).to_f32())
            .collect();
        let w = Tensor::from_vec(w, &[rows, cols]).unwrap();
        for (dtype, dq) in [
            (BaseDtype::F32, false),
            (BaseDtype::Bf16, false),
            (BaseDtype::Int8, false),
            (BaseDtype::Nf4, false),
            (BaseDtype::Nf4, true),
        ] {
            let q = BaseWeight::quantize(w.clone(), QuantRequest::new(dtype, dq)).unwrap();
            let whole = q.dequantize().unwrap();
            let whole = whole.host().unwrap();
            let d = RangeDecoder::new(&q).unwrap();
            for (start, len) in [(0, rows * cols), (3, 70), (44, 1), (100, 215)] {
                let mut out = vec![0f32; len];
                d.decode(start, &mut out).unwrap();
                let want: Vec<u32> = whole[start..start + len]
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
                assert_eq!(got, want, "{} {dq} at {start}", q.kind());
            }
            let mut past = vec![0f32; 2];
            assert!(d.decode(rows * cols - 1, &mut past).is_err());
        }
    }
}
