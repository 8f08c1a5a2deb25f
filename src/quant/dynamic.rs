//! bitsandbytes' signed 8-bit "dynamic" code (`create_dynamic_map`, Dettmers 2015) and the
//! blockwise 8-bit quantization that NF4 double quantization applies to the absmax values.
//!
//! The map: for i in 0..7, the midpoints of `linspace(0.1, 1, 2^i + 1)` (float32) times
//! ±10^(i−6), plus 0 and 1, sorted: 256 levels in [−1, 1], dense near 0.

use crate::error::{Error, Result};

/// torch.linspace(start, end, n) in float32 on the CPU: the lower half counts up from start,
/// the upper half down from end. torch's vectorized kernel (used from 9 points up here) forms
/// start + step·i with a fused multiply-add; the scalar kernel does not.
fn linspace_f32(start: f32, end: f32, n: usize) -> Vec<f32> {
    let step = (end - start) / (n - 1) as f32;
    let half = n / 2;
    let fused = n >= 9;
    (0..n)
        .map(|i| {
            let (base, k, s) = if i < half {
                (start, i as f32, step)
            } else {
                (end, (n - 1 - i) as f32, -step)
            };
            if fused {
                s.mul_add(k, base)
            } else {
                base + s * k
            }
        })
        .collect()
}

/// The 256 levels, ascending.
pub fn dynamic_map() -> Vec<f32> {
    // bitsandbytes multiplies the float32 tensor of means by the Python float 10 ** (i − 6):
    // torch rounds the scalar to f32 and multiplies in f32.
    const POW10: [f32; 7] = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];
    let mut data: Vec<f32> = Vec::with_capacity(256);
    for (i, p) in POW10.iter().enumerate() {
        let b = linspace_f32(0.1, 1.0, (1 << i) + 1);
        let means: Vec<f32> = b.windows(2).map(|w| (w[0] + w[1]) / 2.0).collect();
        data.extend(means.iter().map(|&m| m * p));
        data.extend(means.iter().map(|&m| m * -p));
    }
    data.push(0.0);
    data.push(1.0);
    data.sort_by(f32::total_cmp);
    data
}

/// Index of the nearest level of an ascending `code`; a value exactly on the midpoint of two
/// levels takes the lower one (bitsandbytes' `torch.bucketize` over f32 midpoints).
pub fn nearest(code: &[f32], x: f32) -> u8 {
    let below = code
        .windows(2)
        .take_while(|w| (w[0] + w[1]) / 2.0 < x)
        .count();
    below as u8
}

/// Blockwise absmax quantization of `x` with `code`: per block of `block` values (the last may
/// be shorter) absmax = max|x| and q = nearest(code, clamp(x·(1/absmax), −1, 1)).
pub fn quantize_blockwise(x: &[f32], code: &[f32], block: usize) -> (Vec<u8>, Vec<f32>) {
    let mut q = Vec::with_capacity(x.len());
    let mut absmax = Vec::with_capacity(x.len().div_ceil(block.max(1)));
    for chunk in x.chunks(block.max(1)) {
        let am = chunk.iter().fold(0f32, |m, v| m.max(v.abs()));
        // bitsandbytes clamps the divisor to 1e-38 so an all-zero block maps to the zero level.
        let inv = 1.0 / am.max(1e-38);
        q.extend(
            chunk
                .iter()
                .map(|v| nearest(code, (v * inv).clamp(-1.0, 1.0))),
        );
        absmax.push(am);
    }
    (q, absmax)
}

/// code[q] · absmax[block], in f32.
pub fn dequantize_blockwise(
    q: &[u8],
    absmax: &[f32],
    code: &[f32],
    block: usize,
) -> Result<Vec<f32>> {
    if absmax.len() != q.len().div_ceil(block.max(1)) {
        return Err(Error::shape(
            "dequantize_blockwise",
            format!(
                "{} absmax values for {} codes in blocks of {block}",
                absmax.len(),
                q.len()
            ),
        ));
    }
    let level = |c: u8| code.get(c as usize).copied();
    q.chunks(block.max(1))
        .zip(absmax)
        .flat_map(|(chunk, am)| chunk.iter().map(move |&c| level(c).map(|l| l * am)))
        .collect::<Option<Vec<f32>>>()
        .ok_or_else(|| {
            Error::shape(
                "dequantize_blockwise",
                format!("a code is past the end of the {}-level map", code.len()),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_is_sorted_signed_and_spans_minus_one_to_one() {
        let m = dynamic_map();
        assert_eq!(m.len(), 256);
        assert!(m.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!((m[0], m[255]), (-0.992_968_74, 1.0));
        assert!(m.contains(&0.0));
        // The smallest nonzero magnitude is 10⁻⁶ · (0.1 + 1) / 2.
        let tiny = m
            .iter()
            .filter(|v| **v > 0.0)
            .fold(f32::MAX, |a, &b| a.min(b));
        assert!((tiny - 0.55e-6).abs() < 1e-12, "{tiny}");
    }

    #[test]
    fn blockwise_round_trip_is_within_half_the_largest_gap() {
        let code = dynamic_map();
        let gap = code.windows(2).fold(0f32, |g, w| g.max(w[1] - w[0]));
        let x: Vec<f32> = (0..600)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let (q, am) = quantize_blockwise(&x, &code, 256);
        let d = dequantize_blockwise(&q, &am, &code, 256).unwrap();
        for (i, (a, b)) in x.iter().zip(&d).enumerate() {
            let bound = am[i / 256] * gap / 2.0 * (1.0 + 1e-6);
            assert!((a - b).abs() <= bound, "{i}: {a} vs {b}");
        }
    }
}
