//! Launch shapes the kernels assume, in one place on the host side. A grid built with a tile
//! larger than the kernel's would silently skip rows, so every launch takes its tiles from here;
//! the values mirror the constexpr functions in kernels/attention.cu and gemm_core.cuh.

/// Output tile of the GEMM core (kernels/gemm_core.cuh): 64×64 per block of 128 threads.
pub const GEMM_TILE: usize = 64;
pub const GEMM_THREADS: u32 = 128;
/// Threads per block of every attention kernel (4 warps).
pub const ATTENTION_THREADS: u32 = 128;

/// Rows per block of the three attention kernels for one dtype size and head dim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionTiles {
    /// Query rows per block of attention_fwd.
    pub fwd_q: usize,
    /// Query rows per block of attention_bwd_dq.
    pub dq_q: usize,
    /// Key rows per block of attention_bwd_dkv.
    pub dkv_k: usize,
}

/// As attention.cu: R = D·sizeof(T); fwd 8 if R ≥ 1024 else 16; dq 4/8/16 and dkv 4/8/16 for
/// R ≥ 1024 / ≥ 512 / smaller.
pub fn attention_tiles(dtype_bytes: usize, head_dim: usize) -> AttentionTiles {
    let r = dtype_bytes * head_dim;
    let three = if r >= 1024 {
        4
    } else if r >= 512 {
        8
    } else {
        16
    };
    AttentionTiles {
        fwd_q: if r >= 1024 { 8 } else { 16 },
        dq_q: three,
        dkv_k: three,
    }
}

/// Grid (x over output columns, y over rows) of a GEMM-core kernel with `rows`×`cols` output.
pub fn gemm_grid(rows: usize, cols: usize) -> (u32, u32, u32) {
    (
        cols.div_ceil(GEMM_TILE) as u32,
        rows.div_ceil(GEMM_TILE) as u32,
        1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attention_tiles_match_the_kernel_header() {
        // bf16: D 64 → R 128, D 128 → 256, D 256 → 512.
        assert_eq!(
            attention_tiles(2, 64),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 16,
                dkv_k: 16
            }
        );
        assert_eq!(
            attention_tiles(2, 128),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 16,
                dkv_k: 16
            }
        );
        assert_eq!(
            attention_tiles(2, 256),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 8,
                dkv_k: 8
            }
        );
        // f32: D 128 → R 512, D 256 → 1024.
        assert_eq!(
            attention_tiles(4, 128),
            AttentionTiles {
                fwd_q: 16,
                dq_q: 8,
                dkv_k: 8
            }
        );
        assert_eq!(
            attention_tiles(4, 256),
            AttentionTiles {
                fwd_q: 8,
                dq_q: 4,
                dkv_k: 4
            }
        );
    }

    #[test]
    fn gemm_grid_covers_odd_sizes() {
        assert_eq!(gemm_grid(65, 64), (1, 2, 1));
        assert_eq!(gemm_grid(1, 4097), (65, 1, 1));
    }
}
