// The extern "C" entries of a quantized-weight GEMM core (quant_tc.cu, quant_wgmma.cu), one set per
// format: PREFIX_qlinear_fwd/bwd_dx_F_f32y_bf16 and PREFIX_qlora_fwd/bwd_dx_rR_F_f32y_bf16 (R = 16, 64),
// each calling NS::gemm<B_KN, RMAX>(A, lda, w, M, N, K, bias, y, ldy, rank); MIN_BLOCKS is the
// __launch_bounds__ occupancy the core's register budget allows.
#pragma once
#include "quant_formats.cuh"

#define QUANT_RANK_ENTRIES(PREFIX, NS, MIN_BLOCKS, F, Q, R)                                                      \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MIN_BLOCKS)                                          \
      PREFIX##_qlora_fwd_r##R##_##F##_f32y_bf16(const bf16* x, QW_PARAMS, const bf16* bias, const float* xa,     \
                                                 const float* B, float scale, float* y, int M, int N, int K,     \
                                                 int r) {                                                        \
    const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                                       \
    NS::gemm<false, R>(x, K, Q(QW_ARGS, K), M, N, K, bias, y, N, rank);                                          \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MIN_BLOCKS)                                          \
      PREFIX##_qlora_bwd_dx_r##R##_##F##_f32y_bf16(const bf16* dy, QW_PARAMS, const float* dyb, const float* A,  \
                                                    float scale, float p, unsigned long long seed, float* dx,    \
                                                    int M, int N, int K, int r) {                                \
    const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                                        \
    NS::gemm<true, R>(dy, N, Q(QW_ARGS, K), M, K, N, nullptr, dx, K, rank);                                      \
  }

#define QUANT_GEMM_ENTRIES(PREFIX, NS, MIN_BLOCKS, F, Q)                                                         \
  QUANT_RANK_ENTRIES(PREFIX, NS, MIN_BLOCKS, F, Q, 16)                                                           \
  QUANT_RANK_ENTRIES(PREFIX, NS, MIN_BLOCKS, F, Q, 64)                                                           \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MIN_BLOCKS)                                          \
      PREFIX##_qlinear_fwd_##F##_f32y_bf16(const bf16* x, QW_PARAMS, const bf16* bias, float* y, int M, int N,   \
                                           int K) {                                                              \
    NS::gemm<false, 0>(x, K, Q(QW_ARGS, K), M, N, K, bias, y, N, tc::Rank{});                                    \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MIN_BLOCKS)                                          \
      PREFIX##_qlinear_bwd_dx_##F##_f32y_bf16(const bf16* dy, QW_PARAMS, float* dx, int M, int N, int K) {       \
    NS::gemm<true, 0>(dy, N, Q(QW_ARGS, K), M, K, N, nullptr, dx, K, tc::Rank{});                                \
  }
