// Tensor-core linears over int8 / NF4 frozen weights, for `--precision bf16` (sm_80+): the pipelined
// bf16 core of gemm_tc.cuh with its B operand decoded from the quantized weight on the way into
// shared memory (quant_b.cuh: fetched a tile ahead into registers, decoded exactly as the CPU
// reference decodes, rounded to bf16, as bitsandbytes dequantizes to the compute dtype before its
// matmul), so no decoded copy of W ever exists in global memory. quant_wgmma.cu runs the same decode
// on the sm_90a warpgroup core.
// Entries (F = nf4 | int8; arguments as quant_dequant.cu's namesakes, outputs f32 holding bf16 values
// as lora_matmul.cu's `_f32y` entries):
//   tc_qlinear_fwd_F_f32y_bf16        y = x·deq(W)ᵀ + bias
//   tc_qlinear_bwd_dx_F_f32y_bf16     dX = dY·deq(W)
//   tc_qlora_fwd_rR_F_f32y_bf16       y = x·deq(W)ᵀ + bias + s·xa·Bᵀ
//   tc_qlora_bwd_dx_rR_F_f32y_bf16    dX = dY·deq(W) + s·(dyb·A)⊙mask
// IA3 under --precision bf16 scales around the plain entries (src/backend/cuda/ops/mixed.rs).
// Launch: as lora_matmul.cu's tc_ entries: grid (ceil(N_out/128), ceil(M/128)), block 256, dynamic
//   shared memory tc::smem_bytes(0 | 16 | 64) (the decode tables are static, 1 KiB).
// Limits: any M, N, K ≥ 1, sizes < 2^31, nf4 block size 64. In sm_75 images the entries are stubs
//   that trap.
#include "quant_b.cuh"
#include "quant_entries.cuh"

namespace quant_tc {

// One block of y [M, N_out] = A · deq(W) (B_KN: dX, W read [reduction, out]); W has `cols` = its in_features.
template <bool B_KN, int RMAX, class Q>
__device__ void gemm(const bf16* A, int lda, Q w, int M, int N, int K, const bf16* bias, float* y, int ldy,
                     const tc::Rank& rank) {
#if SECTUNE_TC
  __shared__ float table[Q::TABLE];
  w.stage(table);
  __syncthreads();  // the tables are read from the first k-tile on
  QuantB<B_KN, Q> src{w, N, K, (int)blockIdx.x * tc::BN, (w.cols & 7) == 0};
  tc::gemm_from<bf16, B_KN, RMAX>(A, lda, src, M, N, K, bias, y, ldy, rank);
#else
  __trap();  // sm_75 images: stubs (the host launches these only on sm_80+; the report lists every arch)
#endif
}

}  // namespace quant_tc

QUANT_GEMM_ENTRIES(tc, quant_tc, 2, nf4, quant::Nf4W)
QUANT_GEMM_ENTRIES(tc, quant_tc, 2, int8, quant::Int8W)
