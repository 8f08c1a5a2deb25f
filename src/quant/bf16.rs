//! 16-bit storage of a frozen base linear whose values are bf16 already (every weight of a bf16
//! checkpoint, such as CodeLlama-7B's): the upper half of each f32, so widening back is exact and
//! a run computes the same numbers as with the weight held in f32, at half the memory.
//! `--base-dtype bf16` (the default) stores a linear this way only when every value survives;
//! f32 and f16 checkpoints keep f32 (`exact` returns None), so nothing is ever rounded.

use crate::error::{Error, Result};

/// (rows, cols) bf16 bit patterns, row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct Bf16Weight {
    pub rows: usize,
    pub cols: usize,
    pub bits: Vec<u16>,
}

/// The bf16 pattern of `v` when `v` is a bf16 value (its low 16 bits are zero).
fn exact_bits(v: f32) -> Option<u16> {
    let b = v.to_bits();
    (b & 0xffff == 0).then_some((b >> 16) as u16)
}

impl Bf16Weight {
    /// w (rows, cols) row-major, when every value is a bf16 value; None otherwise.
    pub fn exact(w: &[f32], rows: usize, cols: usize) -> Result<Option<Self>> {
        check_len("Bf16Weight::exact", w.len(), rows, cols)?;
        let bits: Option<Vec<u16>> = w.iter().map(|&v| exact_bits(v)).collect();
        Ok(bits.map(|bits| Bf16Weight { rows, cols, bits }))
    }

    /// w rounded to the nearest bf16 (ties to even), as torch's `.to(torch.bfloat16)`: for tests
    /// and benches that need bf16-valued weights from f32 ones.
    pub fn round(w: &[f32], rows: usize, cols: usize) -> Result<Self> {
        check_len("Bf16Weight::round", w.len(), rows, cols)?;
        Ok(Bf16Weight {
            rows,
            cols,
            bits: w
                .iter()
                .map(|&v| half::bf16::from_f32(v).to_bits())
                .collect(),
        })
    }

    /// Bit patterns read back from a device copy.
    pub fn from_parts(rows: usize, cols: usize, bits: Vec<u16>) -> Result<Self> {
        check_len("Bf16Weight::from_parts", bits.len(), rows, cols)?;
        Ok(Bf16Weight { rows, cols, bits })
    }

    /// The f32 values (exact).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.bits.len()];
        self.decode_into(0, &mut out);
        out
    }

    /// out = the values start .. start + out.len() (in range), widened.
    pub fn decode_into(&self, start: usize, out: &mut [f32]) {
        for (o, &b) in out.iter_mut().zip(&self.bits[start..]) {
            *o = f32::from_bits((b as u32) << 16);
        }
    }

    pub fn storage_bytes(&self) -> u64 {
        2 * self.bits.len() as u64
    }
}

fn check_len(what: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    if Some(len) != rows.checked_mul(cols) {
        return Err(Error::shape(
            what,
            format!("{len} values for a ({rows}, {cols}) weight"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_values_are_kept_bit_for_bit() {
        let w: Vec<f32> = [1.0f32, -0.5, 3.140625, 0.0, -0.0, f32::INFINITY, 1e-40]
            .iter()
            .map(|&v| half::bf16::from_f32(v).to_f32())
            .collect();
        let q = Bf16Weight::exact(&w, 1, 7)
            .unwrap()
            .expect("all bf16 values");
        let back = q.dequantize();
        for (a, b) in w.iter().zip(&back) {
            assert_eq!(a.to_bits(), b.to_bits());
        }
        assert_eq!(q.storage_bytes(), 14);
    }

    #[test]
    fn a_value_with_low_bits_keeps_the_weight_in_f32() {
        // 1 + 2^-10 needs 10 mantissa bits; bf16 has 7.
        let w = [1.0f32, 1.0 + 1.0 / 1024.0];
        assert!(Bf16Weight::exact(&w, 2, 1).unwrap().is_none());
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to the even pattern (1.0).
        let tie = 1.0f32 + 1.0 / 256.0;
        let above = 1.0f32 + 1.0 / 256.0 + 1.0 / 65536.0;
        let q = Bf16Weight::round(&[tie, above], 1, 2).unwrap();
        assert_eq!(q.dequantize(), vec![1.0, 1.0 + 1.0 / 128.0]);
    }

    #[test]
    fn wrong_lengths_are_refused() {
        assert!(Bf16Weight::exact(&[1.0; 5], 2, 3).is_err());
        assert!(Bf16Weight::from_parts(2, 3, vec![0; 5]).is_err());
        assert!(Bf16Weight::from_parts(usize::MAX, 3, vec![]).is_err());
    }
}
