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

#define QTC_RANK_ENTRY(F, Q, R)                                                                                  \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_qlora_fwd_r##R##_##F##_f32y_bf16(              \
      const bf16* x, QW_PARAMS, const bf16* bias, const float* xa, const float* B, float scale, float* y, int M, \
      int N, int K, int r) {                                                                                     \
    const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                                       \
    quant_tc::gemm<false, R>(x, K, Q(QW_ARGS, K), M, N, K, bias, y, N, rank);                                    \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_qlora_bwd_dx_r##R##_##F##_f32y_bf16(           \
      const bf16* dy, QW_PARAMS, const float* dyb, const float* A, float scale, float p, unsigned long long seed, \
      float* dx, int M, int N, int K, int r) {                                                                   \
    const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                                        \
    quant_tc::gemm<true, R>(dy, N, Q(QW_ARGS, K), M, K, N, nullptr, dx, K, rank);                                \
  }

#define QTC_ENTRY(F, Q)                                                                                          \
  QTC_RANK_ENTRY(F, Q, 16)                                                                                       \
  QTC_RANK_ENTRY(F, Q, 64)                                                                                       \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_qlinear_fwd_##F##_f32y_bf16(                   \
      const bf16* x, QW_PARAMS, const bf16* bias, float* y, int M, int N, int K) {                               \
    quant_tc::gemm<false, 0>(x, K, Q(QW_ARGS, K), M, N, K, bias, y, N, tc::Rank{});                              \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_qlinear_bwd_dx_##F##_f32y_bf16(                \
      const bf16* dy, QW_PARAMS, float* dx, int M, int N, int K) {                                               \
    quant_tc::gemm<true, 0>(dy, N, Q(QW_ARGS, K), M, K, N, nullptr, dx, K, tc::Rank{});                          \
  }

QTC_ENTRY(nf4, quant::Nf4W)
QTC_ENTRY(int8, quant::Int8W)
