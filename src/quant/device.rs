//! What a GPU backend needs to know about a quantized weight before uploading it: the kernels
//! (kernels/quant_dequant.cu) decode NF4 in fixed blocks of 64 with a 256-level double-quant map
//! and index with 32-bit ints, so weights outside that are refused here, on the host, with the
//! fix named, instead of being decoded wrongly on the device.

use crate::error::{Error, Result};
use crate::quant::nf4::{Absmax, Nf4Weight, BLOCK};

/// The scalar kernel arguments of an NF4 weight.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Nf4Layout {
    pub double_quant: bool,
    /// Added after the map (double quant); 0 otherwise.
    pub offset: f32,
    /// Absmax codes per nested absmax (double quant); 1 otherwise.
    pub nested_block: usize,
}

fn refuse(what: String) -> Error {
    Error::Unsupported(format!(
        "{what}; the CUDA kernels decode nf4 in blocks of {BLOCK} with a 256-level double-quant map: \
         quantize the base with sectune (--base-dtype nf4 on an unquantized checkpoint) or run on the CPU backend"
    ))
}

/// Checks an NF4 weight against the kernels' assumptions and returns their scalar arguments.
pub fn nf4_layout(w: &Nf4Weight) -> Result<Nf4Layout> {
    w.validate()?;
    if w.block != BLOCK {
        return Err(refuse(format!(
            "this nf4 weight uses blocks of {}",
            w.block
        )));
    }
    // The kernels divide absmax block indices in 32 bits.
    let blocks = (w.rows as u128 * w.cols as u128).div_ceil(BLOCK as u128);
    if i32::try_from(w.rows).is_err() || i32::try_from(w.cols).is_err() || blocks > u32::MAX as u128
    {
        return Err(refuse(format!(
            "a ({}, {}) weight is beyond 32-bit indexing",
            w.rows, w.cols
        )));
    }
    match &w.absmax {
        Absmax::Plain(_) => Ok(Nf4Layout {
            double_quant: false,
            offset: 0.0,
            nested_block: 1,
        }),
        Absmax::Double(d) => {
            if d.map.len() != 256 || d.block == 0 || i32::try_from(d.block).is_err() {
                return Err(refuse(format!(
                    "its double quantization has a {}-level map in blocks of {}",
                    d.map.len(),
                    d.block
                )));
            }
            Ok(Nf4Layout {
                double_quant: true,
                offset: d.offset,
                nested_block: d.block,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weight(double_quant: bool) -> Nf4Weight {
        let w: Vec<f32> = (0..6 * 70)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        Nf4Weight::quantize(&w, 6, 70, double_quant).unwrap()
    }

    #[test]
    fn plain_and_double_quant_layouts() {
        let plain = nf4_layout(&weight(false)).unwrap();
        assert_eq!(
            plain,
            Nf4Layout {
                double_quant: false,
                offset: 0.0,
                nested_block: 1
            }
        );
        let w = weight(true);
        let Absmax::Double(d) = &w.absmax else {
            panic!("double quant expected")
        };
        let dq = nf4_layout(&w).unwrap();
        assert!(dq.double_quant);
        assert_eq!(dq.nested_block, 256);
        assert_eq!(dq.offset.to_bits(), d.offset.to_bits());
    }

    #[test]
    fn other_block_sizes_are_refused_with_the_fix() {
        let mut w = weight(false);
        // Same values regrouped as blocks of 128 (a checkpoint could say so).
        w.block = 128;
        if let Absmax::Plain(a) = &mut w.absmax {
            a.truncate(a.len().div_ceil(2));
        }
        let e = nf4_layout(&w).unwrap_err().to_string();
        assert!(
            e.contains("blocks of 128") && e.contains("--base-dtype nf4"),
            "{e}"
        );
    }

    #[test]
    fn a_short_double_quant_map_is_refused() {
        let mut w = weight(true);
        if let Absmax::Double(d) = &mut w.absmax {
            d.map.truncate(16);
        }
        // validate() already names the map; either way it does not reach the device.
        assert!(nf4_layout(&w).is_err());
    }

    #[test]
    fn inconsistent_parts_are_refused() {
        let mut w = weight(false);
        w.packed.pop();
        assert!(nf4_layout(&w).is_err());
    }
}
