//! The tensor maps of gemm_tma.cu's `wgt_` entries: each takes its two matrix operands (x or dY,
//! and the weight W) as CUtensorMaps, encoded here with cuTensorMapEncodeTiled and passed by value
//! (`__grid_constant__`), in place of the two pointers the other cores take.

use cudarc::driver::sys;
use cudarc::driver::DeviceRepr;

use super::device::CudaError;
use super::launch::KArg;
use super::plan::{tma_fits, tma_operand_fits, GemmCore, WGT_TILE};

/// A CUtensorMap's 128 bytes, aligned as CUDA 13's cuda.h declares it (128 bytes; the encoder needs at
/// least 64) and as the kernels' wgt::TensorMap.
#[repr(C, align(128))]
#[derive(Clone, Copy)]
pub struct TensorMap(pub [u64; 16]);

// SAFETY: plain bytes the driver copies into the kernel's parameter space, laid out and aligned
// as the kernel's `const __grid_constant__ wgt::TensorMap` parameter.
unsafe impl DeviceRepr for TensorMap {}
const _: () =
    assert!(std::mem::size_of::<TensorMap>() == 128 && std::mem::align_of::<TensorMap>() == 128);

/// The 16-bit element type of a GEMM's operands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Elem16 {
    Bf16,
    F16,
}

/// What a GEMM-family launch multiplies, for an output of `rows` × `cols` summed over `reduction`:
/// the lead operand (x, or dY with `dx`) is [rows, reduction], the weight W is [cols, reduction]
/// (forward: y = x·Wᵀ) or [reduction, cols] (dX = dY·W), both row-major and dense.
#[derive(Clone, Copy, Debug)]
pub struct GemmShape {
    pub rows: usize,
    pub cols: usize,
    pub reduction: usize,
    pub dx: bool,
}

impl GemmShape {
    /// y [m, n] = x [m, k]·Wᵀ, W [n, k].
    pub fn fwd(m: usize, n: usize, k: usize) -> Self {
        GemmShape {
            rows: m,
            cols: n,
            reduction: k,
            dx: false,
        }
    }
    /// dX [m, k] = dY [m, n]·W, W [n, k].
    pub fn dx(m: usize, n: usize, k: usize) -> Self {
        GemmShape {
            rows: m,
            cols: k,
            reduction: n,
            dx: true,
        }
    }
    /// Whether a dimension is zero: cuTensorMapEncodeTiled refuses those, so the pointer entries
    /// take such a call.
    pub fn is_empty(&self) -> bool {
        self.rows == 0 || self.cols == 0 || self.reduction == 0
    }
}

/// A 2-D map over a row-major [rows, cols] matrix at `base`, in boxes of 64 columns (128 bytes:
/// the 128-byte swizzle's line) × `box_rows` rows, zero outside the matrix.
fn encode(
    elem: Elem16,
    base: u64,
    rows: usize,
    cols: usize,
    box_rows: u32,
) -> Result<TensorMap, CudaError> {
    let mut map = TensorMap([0; 16]);
    let dims = [cols as u64, rows as u64];
    let strides = [cols as u64 * 2];
    let boxes = [64u32, box_rows];
    let element_strides = [1u32, 1];
    let data_type = match elem {
        Elem16::Bf16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_BFLOAT16,
        Elem16::F16 => sys::CUtensorMapDataType::CU_TENSOR_MAP_DATA_TYPE_FLOAT16,
    };
    // SAFETY: `map` is a writable CUtensorMap-sized, 128-byte-aligned buffer; the arrays hold the
    // rank (2) entries the call reads (rank − 1 for the strides).
    let status = unsafe {
        sys::cuTensorMapEncodeTiled(
            (&mut map as *mut TensorMap).cast::<sys::CUtensorMap>(),
            data_type,
            2,
            base as *mut std::ffi::c_void,
            dims.as_ptr(),
            strides.as_ptr(),
            boxes.as_ptr(),
            element_strides.as_ptr(),
            sys::CUtensorMapInterleave::CU_TENSOR_MAP_INTERLEAVE_NONE,
            sys::CUtensorMapSwizzle::CU_TENSOR_MAP_SWIZZLE_128B,
            sys::CUtensorMapL2promotion::CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
            sys::CUtensorMapFloatOOBfill::CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE,
        )
    };
    status.result().map_err(|source| CudaError::Driver {
        what: format!("encoding a tensor map over a {rows}×{cols} matrix for the TMA GEMM"),
        source,
    })?;
    Ok(map)
}

/// A map over the lead operand (x or dY, [rows, reduction]) as the TMA entries read it, when it
/// suits TMA (16-byte-aligned base, reduction % 8 == 0): quant_tma.cu's NF4 linears take it with
/// the quantized weight's arguments.
pub fn lead_map(elem: Elem16, shape: GemmShape, lead: u64) -> Result<Option<TensorMap>, CudaError> {
    if shape.is_empty() || !tma_operand_fits(lead, shape.reduction) {
        return Ok(None);
    }
    encode(elem, lead, shape.rows, shape.reduction, WGT_TILE.0 as u32).map(Some)
}

/// The core that runs an NF4 linear under `core`, and its lead argument: on the TMA core a map over
/// x or dY where it suits TMA, else the pointer on the core the Hopper default picks for that pass;
/// on every other core the pointer.
pub fn quant_lead(
    core: GemmCore,
    shape: GemmShape,
    lead: u64,
) -> Result<(GemmCore, KArg), CudaError> {
    if core != GemmCore::WgmmaTma {
        return Ok((core, lead.into()));
    }
    Ok(match lead_map(Elem16::Bf16, shape, lead)? {
        Some(map) => (core, KArg::Map(Box::new(map))),
        None => (GemmCore::Hopper.for_quantized(true, !shape.dx), lead.into()),
    })
}

/// The core that runs a dense GEMM under `core`, and its first two arguments: for `WgmmaTma`,
/// tensor maps over `lead` and `weight` when they suit TMA (else the wg_ entries take over), for
/// every other core the two pointers.
pub fn gemm_operands(
    core: GemmCore,
    elem: Elem16,
    shape: GemmShape,
    lead: u64,
    weight: u64,
) -> Result<(GemmCore, [KArg; 2]), CudaError> {
    let GemmShape {
        rows,
        cols,
        reduction,
        dx,
    } = shape;
    let (w_rows, w_cols) = if dx {
        (reduction, cols)
    } else {
        (cols, reduction)
    };
    if core != GemmCore::WgmmaTma || shape.is_empty() || !tma_fits(lead, weight, reduction, w_cols)
    {
        return Ok((core.without_tma(), [lead.into(), weight.into()]));
    }
    // dX's B tile is four N-major 64 × 64 boxes; the forward's one 256-row K-major box.
    let w_box = if dx { 64 } else { WGT_TILE.1 as u32 };
    let a = encode(elem, lead, rows, reduction, WGT_TILE.0 as u32)?;
    let w = encode(elem, weight, w_rows, w_cols, w_box)?;
    Ok((core, [KArg::Map(Box::new(a)), KArg::Map(Box::new(w))]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointers(args: &[KArg; 2]) -> Option<(u64, u64)> {
        match args {
            [KArg::U64(a), KArg::U64(b)] => Some((*a, *b)),
            _ => None,
        }
    }

    #[test]
    fn operands_stay_pointers_off_the_tma_core_and_where_rows_do_not_suit_tma() {
        let shape = GemmShape::fwd(130, 264, 584);
        for core in [GemmCore::TensorCore, GemmCore::Wgmma, GemmCore::Hopper] {
            let (c, args) = gemm_operands(core, Elem16::Bf16, shape, 0x1000, 0x2000).unwrap();
            assert_eq!((c, pointers(&args)), (core, Some((0x1000, 0x2000))));
        }
        // K % 8 != 0 (forward), N % 8 != 0 (dX: dY's rows), a weight not 16-byte aligned: wg_.
        for (shape, w) in [
            (GemmShape::fwd(130, 264, 583), 0x2000),
            (GemmShape::dx(130, 261, 584), 0x2000),
            (GemmShape::fwd(130, 264, 584), 0x2008),
            // An empty operand: cuTensorMapEncodeTiled refuses zero dimensions.
            (GemmShape::fwd(130, 264, 0), 0x2000),
            (GemmShape::dx(130, 0, 584), 0x2000),
            (GemmShape::fwd(0, 264, 584), 0x2000),
        ] {
            let (c, args) =
                gemm_operands(GemmCore::WgmmaTma, Elem16::F16, shape, 0x1000, w).unwrap();
            assert_eq!((c, pointers(&args)), (GemmCore::Wgmma, Some((0x1000, w))));
        }
    }

    #[test]
    fn the_two_directions_read_the_weight_as_the_kernels_do() {
        let f = GemmShape::fwd(7, 11, 13);
        assert_eq!((f.rows, f.cols, f.reduction, f.dx), (7, 11, 13, false));
        let d = GemmShape::dx(7, 11, 13);
        assert_eq!((d.rows, d.cols, d.reduction, d.dx), (7, 13, 11, true));
    }
}
