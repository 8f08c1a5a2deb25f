//! Launch shapes the kernels assume, in one place on the host side. A grid built with a tile
//! larger than the kernel's would silently skip rows, so every launch takes its tiles from here;
//! the values mirror the constexpr functions in kernels/attention.cuh, attention_tc.cuh and
//! gemm_core.cuh.

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

/// Blocks of the tensor-core attention kernels (kernels/attention_tc.cuh) for one head dim:
/// rows per block and dynamic shared memory bytes (the host opts in above 48 KB).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionTcTiles {
    /// Query rows per block of attention_tc_fwd and attention_tc_bwd_dq.
    pub q_rows: usize,
    /// Key rows per block of attention_tc_bwd_dkv.
    pub dkv_k: usize,
    pub fwd_smem: u32,
    pub dq_smem: u32,
    pub dkv_smem: u32,
}

/// As attention_tc.cuh, with rows padded to D + 8 elements of 2 bytes: fwd key tile 64 (32 for
/// D 256) and 64 queries, 2 stages of K and V; dq the same with key tiles 64/32/16 and dO beside
/// Q; dkv 64 keys (32 for D 256) with query tiles 64/32/16, 2 stages of Q, dO, lse and Δ.
/// None for head dims without tensor-core entry points.
pub fn attention_tc_tiles(head_dim: usize) -> Option<AttentionTcTiles> {
    let (fwd_bk, dq_bk, dkv_bk, dkv_bq) = match head_dim {
        64 => (64, 64, 64, 64),
        128 => (64, 32, 64, 32),
        256 => (32, 16, 32, 16),
        _ => return None,
    };
    const BQ: usize = 64;
    let row = (head_dim + 8) * 2;
    let bytes = |rows: usize, extra: usize| (rows * row + extra) as u32;
    Some(AttentionTcTiles {
        q_rows: BQ,
        dkv_k: dkv_bk,
        fwd_smem: bytes(BQ + 4 * fwd_bk, 0),
        dq_smem: bytes(2 * BQ + 4 * dq_bk, 0),
        dkv_smem: bytes(2 * dkv_bk + 4 * dkv_bq, 4 * dkv_bq * 4),
    })
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
    fn attention_tc_tiles_match_the_kernel_header() {
        // The smem figures of the attention_tc.cuh header comment, all ≤ 99 KB (sm_86/89).
        let t = |d| attention_tc_tiles(d).unwrap();
        let smem = |d| (t(d).fwd_smem, t(d).dq_smem, t(d).dkv_smem);
        assert_eq!(smem(64), (46080, 55296, 56320));
        assert_eq!(smem(128), (87040, 69632, 70144));
        assert_eq!(smem(256), (101376, 101376, 67840));
        assert_eq!((t(64).dkv_k, t(128).dkv_k, t(256).dkv_k), (64, 64, 32));
        assert!([64, 128, 256].iter().all(|&d| t(d).q_rows == 64));
        assert_eq!(attention_tc_tiles(32), None);
    }

    #[test]
    fn gemm_grid_covers_odd_sizes() {
        assert_eq!(gemm_grid(65, 64), (1, 2, 1));
        assert_eq!(gemm_grid(1, 4097), (65, 1, 1));
    }
}
