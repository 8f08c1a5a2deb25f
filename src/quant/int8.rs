//! 8-bit frozen weights, per-output-row absmax: the scheme of bitsandbytes' `Linear8bitLt`
//! weights (`int8_vectorwise_quant` / `int8_vectorwise_dequant`), without the optional
//! outlier decomposition.
//!
//! q = round_half_even(w · (127 / absmax_row)), deq = (q · absmax_row) · fl32(1/127).
//! bitsandbytes multiplies by the f32 reciprocal of 127 instead of dividing; we do the same, so
//! dequantized values are bit-identical to its.

use crate::error::{Error, Result};

/// bitsandbytes' `7.874015718698502e-3` (1/127) rounded to f32.
pub const INV_127: f32 = 0.007_874_016;

/// (rows, cols) int8 codes, row-major, and each row's absmax (bitsandbytes calls it `SCB`).
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Weight {
    pub rows: usize,
    pub cols: usize,
    pub q: Vec<i8>,
    pub absmax: Vec<f32>,
}

impl Int8Weight {
    /// w (rows, cols) row-major. An all-zero row gets absmax 0 and codes 0.
    pub fn quantize(w: &[f32], rows: usize, cols: usize) -> Result<Self> {
        check_len("Int8Weight::quantize", w.len(), rows, cols)?;
        let mut q = vec![0i8; w.len()];
        let mut absmax = vec![0f32; rows];
        for ((row, qrow), am) in w
            .chunks(cols.max(1))
            .zip(q.chunks_mut(cols.max(1)))
            .zip(absmax.iter_mut())
        {
            *am = row.iter().fold(0f32, |m, v| m.max(v.abs()));
            if *am == 0.0 || !am.is_finite() {
                continue;
            }
            let factor = 127.0f32 / *am;
            for (c, v) in qrow.iter_mut().zip(row) {
                *c = (v * factor).round_ties_even().clamp(-127.0, 127.0) as i8;
            }
        }
        Ok(Int8Weight {
            rows,
            cols,
            q,
            absmax,
        })
    }

    /// Codes and row absmax read from a checkpoint.
    pub fn from_parts(rows: usize, cols: usize, q: Vec<i8>, absmax: Vec<f32>) -> Result<Self> {
        check_len("Int8Weight::from_parts", q.len(), rows, cols)?;
        if absmax.len() != rows {
            return Err(Error::shape(
                "Int8Weight::from_parts",
                format!("{} row scales for {rows} rows", absmax.len()),
            ));
        }
        Ok(Int8Weight {
            rows,
            cols,
            q,
            absmax,
        })
    }

    /// The f32 weight (rows, cols).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.q.len()];
        self.decode_into(0, &mut out);
        out
    }

    /// out = the decoded values start .. start + out.len() of the flattened weight (in range).
    pub fn decode_into(&self, start: usize, out: &mut [f32]) {
        let cols = self.cols.max(1);
        for (i, o) in (start..start + out.len()).zip(out.iter_mut()) {
            *o = (self.q[i] as f32 * self.absmax[i / cols]) * INV_127;
        }
    }

    /// Bytes held: one per weight plus an f32 scale per row.
    pub fn storage_bytes(&self) -> u64 {
        self.q.len() as u64 + 4 * self.absmax.len() as u64
    }
}

fn check_len(op: &'static str, len: usize, rows: usize, cols: usize) -> Result<()> {
    if rows.checked_mul(cols) != Some(len) {
        return Err(Error::shape(
            op,
            format!("{len} values do not form a ({rows}, {cols}) matrix"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |w − deq(q(w))| ≤ scale/2 per row (scale = absmax/127), plus the f32 rounding of the
    /// two multiplications (a few ulps of absmax).
    #[test]
    fn round_trip_error_is_within_half_a_step_per_row() {
        let (rows, cols) = (9, 33);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i / cols) as f32))
            .collect();
        let q = Int8Weight::quantize(&w, rows, cols).unwrap();
        let d = q.dequantize();
        for r in 0..rows {
            let am = q.absmax[r];
            let bound = am / 127.0 / 2.0 + 4.0 * am * f32::EPSILON;
            for c in 0..cols {
                let e = (w[r * cols + c] - d[r * cols + c]).abs();
                assert!(e <= bound, "row {r} col {c}: error {e} > {bound}");
            }
            // The row maximum maps to ±127 and comes back within one rounding.
            assert!(q.q[r * cols..(r + 1) * cols]
                .iter()
                .any(|&c| c == 127 || c == -127));
        }
    }

    #[test]
    fn zero_row_and_ties() {
        // Row absmax 127 makes the factor exactly 1, so 0.5 and 2.5 are exact ties.
        let w = [0.0, 0.0, 0.0, 127.0, 0.5, -2.5];
        let q = Int8Weight::quantize(&w, 2, 3).unwrap();
        assert_eq!(q.absmax, vec![0.0, 127.0]);
        // Half to even, as torch.round: 0.5 → 0, −2.5 → −2.
        assert_eq!(q.q, vec![0, 0, 0, 127, 0, -2]);
        assert_eq!(q.dequantize()[..3], [0.0, 0.0, 0.0]);
    }

    #[test]
    fn bad_shapes_are_errors() {
        assert!(Int8Weight::quantize(&[1.0; 5], 2, 3).is_err());
        assert!(Int8Weight::from_parts(2, 2, vec![0; 4], vec![1.0]).is_err());
    }
}
