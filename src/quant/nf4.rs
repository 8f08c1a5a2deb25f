//! 4-bit NormalFloat (NF4) frozen weights, as QLoRA defines them and bitsandbytes stores them.
//!
//! The flattened weight is cut into blocks of 64; each block keeps absmax = max|w| and each
//! value the index of the NF4 level nearest to w/absmax (ties to the lower level). Two codes
//! per byte, the first value in the high nibble. Dequantization is levels[q] · absmax in f32.
//! With double quantization the absmax values are themselves stored in 8 bits: their mean is
//! subtracted and the rest quantized with the signed dynamic map in blocks of 256 (`dynamic`).

use crate::error::{Error, Result};
use crate::quant::dynamic;

/// The 16 NormalFloat-4 levels of the QLoRA paper (appendix E), as float32.
pub const NF4_LEVELS: [f32; 16] = [
    -1.0,
    -0.696_192_8,
    -0.525_073_05,
    -0.394_917_5,
    -0.284_441_38,
    -0.184_773_43,
    -0.091_050_036,
    0.0,
    0.079_580_3,
    0.160_930_2,
    0.246_112_3,
    0.337_915_24,
    0.440_709_83,
    0.562_617,
    0.722_956_84,
    1.0,
];
/// Index of 0.0, the code of padding and of all-zero blocks.
pub const ZERO_CODE: u8 = 7;
pub const BLOCK: usize = 64;
pub const NESTED_BLOCK: usize = 256;

/// Absmax values stored as 8-bit codes of (absmax − offset) with the dynamic map.
#[derive(Clone, Debug, PartialEq)]
pub struct DoubleQuant {
    pub codes: Vec<u8>,
    /// One per block of `block` codes.
    pub absmax: Vec<f32>,
    pub offset: f32,
    /// 256 levels (bitsandbytes' `nested_quant_map`).
    pub map: Vec<f32>,
    pub block: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Absmax {
    Plain(Vec<f32>),
    Double(DoubleQuant),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Nf4Weight {
    pub rows: usize,
    pub cols: usize,
    pub block: usize,
    /// ceil(rows·cols / 2) bytes.
    pub packed: Vec<u8>,
    pub absmax: Absmax,
    /// The 16 levels (bitsandbytes' `quant_map`; NF4_LEVELS unless a checkpoint says otherwise).
    pub levels: [f32; 16],
}

impl Nf4Weight {
    /// w (rows, cols) row-major, blocks of 64 over the flattened values.
    pub fn quantize(w: &[f32], rows: usize, cols: usize, double_quant: bool) -> Result<Self> {
        if rows.checked_mul(cols) != Some(w.len()) {
            return Err(Error::shape(
                "Nf4Weight::quantize",
                format!("{} values do not form a ({rows}, {cols}) matrix", w.len()),
            ));
        }
        let (codes, absmax) = dynamic::quantize_blockwise(w, &NF4_LEVELS, BLOCK);
        let absmax = if double_quant {
            Absmax::Double(double_quantize(&absmax))
        } else {
            Absmax::Plain(absmax)
        };
        Ok(Nf4Weight {
            rows,
            cols,
            block: BLOCK,
            packed: pack(&codes),
            absmax,
            levels: NF4_LEVELS,
        })
    }

    /// The 4-bit code of value i.
    pub fn code(&self, i: usize) -> u8 {
        let byte = self.packed.get(i / 2).copied().unwrap_or(ZERO_CODE << 4);
        if i.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0x0f
        }
    }

    pub fn numel(&self) -> usize {
        self.rows * self.cols
    }

    /// Checks that the parts fit together (for weights read from a checkpoint).
    pub fn validate(&self) -> Result<()> {
        let n = self.numel();
        let blocks = n.div_ceil(self.block.max(1));
        let stored = match &self.absmax {
            Absmax::Plain(a) => a.len(),
            Absmax::Double(d) => {
                if d.absmax.len() != d.codes.len().div_ceil(d.block.max(1)) || d.map.len() != 256 {
                    return Err(Error::shape(
                        "Nf4Weight",
                        format!(
                            "double-quantized absmax: {} codes, {} nested absmax in blocks of {}, a {}-level map (256 expected)",
                            d.codes.len(), d.absmax.len(), d.block, d.map.len()
                        ),
                    ));
                }
                d.codes.len()
            }
        };
        if self.block == 0 || self.packed.len() != n.div_ceil(2) || stored != blocks {
            return Err(Error::shape(
                "Nf4Weight",
                format!(
                    "({}, {}) in blocks of {} needs {} packed bytes and {blocks} absmax values; found {} and {stored}",
                    self.rows, self.cols, self.block, n.div_ceil(2), self.packed.len()
                ),
            ));
        }
        Ok(())
    }

    /// The per-block absmax in f32 (decoded when double-quantized, offset added last, as
    /// bitsandbytes does).
    pub fn absmax_values(&self) -> Result<Vec<f32>> {
        match &self.absmax {
            Absmax::Plain(a) => Ok(a.clone()),
            Absmax::Double(d) => {
                let mut a = dynamic::dequantize_blockwise(&d.codes, &d.absmax, &d.map, d.block)?;
                a.iter_mut().for_each(|v| *v += d.offset);
                Ok(a)
            }
        }
    }

    /// The f32 weight (rows, cols).
    pub fn dequantize(&self) -> Result<Vec<f32>> {
        self.validate()?;
        let absmax = self.absmax_values()?;
        let mut out = vec![0f32; self.numel()];
        self.decode_into(&absmax, 0, &mut out);
        Ok(out)
    }

    /// out = the decoded values start .. start + out.len() of the flattened weight (in range),
    /// given `absmax_values()` of a validated weight.
    pub fn decode_into(&self, absmax: &[f32], start: usize, out: &mut [f32]) {
        for (i, o) in (start..start + out.len()).zip(out.iter_mut()) {
            *o = self.levels[self.code(i) as usize] * absmax[i / self.block];
        }
    }

    /// Bytes held: half a byte per weight plus the absmax state.
    pub fn storage_bytes(&self) -> u64 {
        let stats = match &self.absmax {
            Absmax::Plain(a) => 4 * a.len(),
            Absmax::Double(d) => d.codes.len() + 4 * d.absmax.len() + 4 * d.map.len() + 4,
        };
        (self.packed.len() + stats + 4 * self.levels.len()) as u64
    }
}

/// Two codes per byte, the first in the high nibble; an odd count pads with the zero code.
pub fn pack(codes: &[u8]) -> Vec<u8> {
    codes
        .chunks(2)
        .map(|p| (p[0] << 4) | p.get(1).copied().unwrap_or(ZERO_CODE))
        .collect()
}

/// offset = mean(absmax); (absmax − offset) in 8 bits, blocks of 256, the dynamic map.
pub fn double_quantize(absmax: &[f32]) -> DoubleQuant {
    let sum: f64 = absmax.iter().map(|&v| v as f64).sum();
    let offset = (sum / absmax.len().max(1) as f64) as f32;
    let centered: Vec<f32> = absmax.iter().map(|v| v - offset).collect();
    let map = dynamic::dynamic_map();
    let (codes, nested) = dynamic::quantize_blockwise(&centered, &map, NESTED_BLOCK);
    DoubleQuant {
        codes,
        absmax: nested,
        offset,
        map,
        block: NESTED_BLOCK,
    }
}

/// Half the largest gap between adjacent levels: the worst relative rounding error of a block.
pub fn half_max_gap(levels: &[f32]) -> f32 {
    levels.windows(2).fold(0f32, |g, w| g.max(w[1] - w[0])) / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Vec<f32> {
        // Deterministic, roughly normal-looking values with a different scale per block.
        (0..n)
            .map(|i| {
                let u = ((i * 2654435761usize) % 10007) as f32 / 10007.0 - 0.5;
                u * u * u * 8.0 * (1.0 + (i / BLOCK) as f32 * 0.3)
            })
            .collect()
    }

    #[test]
    fn round_trip_error_is_within_half_the_largest_gap_per_block() {
        let (rows, cols) = (6, 80); // 480 values: 7.5 blocks, blocks span rows
        let w = sample(rows * cols);
        let q = Nf4Weight::quantize(&w, rows, cols, false).unwrap();
        let d = q.dequantize().unwrap();
        let am = q.absmax_values().unwrap();
        let half = half_max_gap(&NF4_LEVELS);
        // The widest gap is between −1 and −0.6962.
        assert!((half - 0.151_903_6).abs() < 1e-6, "{half}");
        for (i, (a, b)) in w.iter().zip(&d).enumerate() {
            let bound = am[i / BLOCK] * half * (1.0 + 1e-6);
            assert!((a - b).abs() <= bound, "{i}: |{a} − {b}| > {bound}");
        }
        // Each block's extreme value comes back exactly (level ±1).
        for (b, chunk) in w.chunks(BLOCK).enumerate() {
            let k = chunk.iter().position(|v| v.abs() == am[b]).unwrap();
            assert_eq!(d[b * BLOCK + k], chunk[k]);
        }
    }

    #[test]
    fn double_quant_error_adds_the_absmax_error() {
        let (rows, cols) = (66, 512); // 528 blocks: nested blocks of 256, 256 and 16
        let w = sample(rows * cols);
        let plain = Nf4Weight::quantize(&w, rows, cols, false).unwrap();
        let dq = Nf4Weight::quantize(&w, rows, cols, true).unwrap();
        let (exact, approx) = (plain.absmax_values().unwrap(), dq.absmax_values().unwrap());
        let Absmax::Double(state) = &dq.absmax else {
            panic!("not double-quantized")
        };
        let gap = half_max_gap(&state.map);
        for (b, (e, a)) in exact.iter().zip(&approx).enumerate() {
            let bound = state.absmax[b / NESTED_BLOCK] * gap * (1.0 + 1e-5) + 1e-7;
            assert!((e - a).abs() <= bound, "block {b}: absmax {e} vs {a}");
        }
        let d = dq.dequantize().unwrap();
        for (i, (x, y)) in w.iter().zip(&d).enumerate() {
            let b = i / BLOCK;
            let bound = exact[b] * half_max_gap(&NF4_LEVELS) + (exact[b] - approx[b]).abs();
            assert!((x - y).abs() <= bound * (1.0 + 1e-5), "{i}");
        }
        // 1 byte instead of 4 per block, plus the 1 KiB map once per weight.
        assert!(dq.storage_bytes() < plain.storage_bytes());
    }

    #[test]
    fn packing_puts_the_first_value_in_the_high_nibble() {
        assert_eq!(pack(&[1, 2, 15]), vec![0x12, 0xf7]);
        let w = [-1.0, 1.0, 0.0];
        let q = Nf4Weight::quantize(&w, 1, 3, false).unwrap();
        assert_eq!(q.packed, vec![0x0f, 0x77]);
        assert_eq!(q.dequantize().unwrap(), vec![-1.0, 1.0, 0.0]);
    }

    #[test]
    fn zero_block_and_midpoint_ties() {
        let q = Nf4Weight::quantize(&[0.0; 64], 1, 64, false).unwrap();
        assert!(q.packed.iter().all(|&b| b == 0x77));
        assert_eq!(q.dequantize().unwrap(), vec![0.0; 64]);
        // A value on the f32 midpoint of two levels takes the lower one.
        let mid = (NF4_LEVELS[9] + NF4_LEVELS[10]) / 2.0;
        assert_eq!(dynamic::nearest(&NF4_LEVELS, mid), 9);
        assert_eq!(
            dynamic::nearest(&NF4_LEVELS, f32::from_bits(mid.to_bits() + 1)),
            10
        );
    }

    #[test]
    fn inconsistent_parts_are_errors() {
        let mut q = Nf4Weight::quantize(&[0.5; 128], 2, 64, false).unwrap();
        q.packed.pop();
        assert!(q.dequantize().is_err());
    }
}
