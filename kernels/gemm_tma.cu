// The 16-bit linears and fused LoRA linears of gemm_wgmma.cu on the warp-specialized TMA core
// (gemm_tma.cuh: 128 × 256 tiles, 384 threads, plan::wgt_smem_bytes of dynamic shared memory, grid
// (ceil(N_out/256), ceil(M/128))). Each wgt_* entry takes its wg_* namesake's arguments with the two
// matrix pointers replaced by tensor maps over them (src/backend/cuda/tma.rs encodes them), and
// computes the same sums (fp32 accumulation in another order). Built as sm_90a (build.rs); every
// other image holds stubs that trap, and the host launches these only on compute capability 9.0,
// when SECTUNE_GEMM_CORE=wgmma-tma and the operands suit TMA (plan::tma_fits).
//   wgt_linear_fwd[_f32y]_T          y = x·Wᵀ + bias                 (ta: x [M, K], tb: W [N, K])
//   wgt_linear_bwd_dx[_f32y]_T       dX = dY·W                       (ta: dY [M, N], tb: W [N, K])
//   wgt_lora_linear_fwd_rR[_f32y]_T  y = x·Wᵀ + bias + s·xa·Bᵀ      (R = 16 | 64: r ≤ R)
//   wgt_lora_linear_bwd_dx_rR[_f32y]_T  dX = dY·W + s·(dyb·A)⊙mask
// T = f16 | bf16; the `_f32y` entries (bf16 only) store the bf16-rounded outputs as f32.
#include "gemm_tma.cuh"

namespace wgt {
// The dense entries: both operands by TMA.
template <typename T, bool B_KN, int RMAX, typename Y>
__device__ void dense(const TensorMap& ta, const TensorMap& tb, int M, int N, int K, const T* bias, Y* y, int ldy,
                      const tc::Rank& rank) {
  TmaB<B_KN> b{tb};
  gemm<T, B_KN, RMAX>(ta, b, M, N, K, bias, y, ldy, rank);
}
}  // namespace wgt

#define WGT_MAPS const __grid_constant__ wgt::TensorMap ta, const __grid_constant__ wgt::TensorMap tb

#define WGT_RANK_ENTRY(T, NAME, R, Y, YS)                                                                       \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_lora_linear_fwd_r##R##YS##_##NAME(          \
      WGT_MAPS, const T* bias, const float* xa, const float* B, float scale, Y* y, int M, int N, int K, int r) { \
    WGT_BODY(const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                            \
             wgt::dense<T, false, R>(ta, tb, M, N, K, bias, y, N, rank);)                                       \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_lora_linear_bwd_dx_r##R##YS##_##NAME(       \
      WGT_MAPS, const float* dyb, const float* A, float scale, float p, unsigned long long seed, Y* dx, int M,  \
      int N, int K, int r) {                                                                                   \
    WGT_BODY(const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                             \
             wgt::dense<T, true, R>(ta, tb, M, K, N, (const T*)nullptr, dx, K, rank);)                          \
  }

#define WGT_ENTRY(T, NAME, Y, YS)                                                                               \
  WGT_RANK_ENTRY(T, NAME, 16, Y, YS)                                                                            \
  WGT_RANK_ENTRY(T, NAME, 64, Y, YS)                                                                            \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_linear_fwd##YS##_##NAME(                    \
      WGT_MAPS, const T* bias, Y* y, int M, int N, int K) {                                                     \
    WGT_BODY(wgt::dense<T, false, 0>(ta, tb, M, N, K, bias, y, N, tc::Rank{});)                                  \
  }                                                                                                            \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_linear_bwd_dx##YS##_##NAME(                 \
      WGT_MAPS, Y* dx, int M, int N, int K) {                                                                   \
    WGT_BODY(wgt::dense<T, true, 0>(ta, tb, M, K, N, (const T*)nullptr, dx, K, tc::Rank{});)                     \
  }

WGT_ENTRY(f16, f16, f16, )
WGT_ENTRY(bf16, bf16, bf16, )
WGT_ENTRY(bf16, bf16, float, _f32y)
