// The 16-bit linears and fused LoRA linears of lora_matmul.cu's tc_* entries on the sm_90a warpgroup
// core (gemm_wgmma.cuh): each wg_* entry takes its tc_* namesake's arguments, grid, block and dynamic
// shared memory (tc::smem_bytes(0 | 16 | 64)), and computes the same sums (fp32 accumulation in a
// different order). Built as sm_90a (build.rs); every other image holds stubs that trap, and the host
// launches these only on compute capability 9.0 when SECTUNE_GEMM_CORE=wgmma.
//   wg_linear_fwd[_f32y]_T          y = x·Wᵀ + bias
//   wg_linear_bwd_dx[_f32y]_T       dX = dY·W
//   wg_lora_linear_fwd_rR[_f32y]_T  y = x·Wᵀ + bias + s·xa·Bᵀ       (R = 16 | 64: r ≤ R)
//   wg_lora_linear_bwd_dx_rR[_f32y]_T  dX = dY·W + s·(dyb·A)⊙mask
// T = f16 | bf16; the `_f32y` entries (bf16 only) store the bf16-rounded outputs as f32.
#include "gemm_wgmma.cuh"

#if SECTUNE_WGMMA
#define WG_BODY(...) __VA_ARGS__
#else
#define WG_BODY(...) __trap();
#endif

#define WG_RANK_ENTRY(T, NAME, R, Y, YS)                                                                         \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) wg_lora_linear_fwd_r##R##YS##_##NAME(             \
      const T* x, const T* W, const T* bias, const float* xa, const float* B, float scale, Y* y, int M, int N,   \
      int K, int r) {                                                                                            \
    WG_BODY(const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                               \
            wg::gemm<T, false, R>(x, K, W, K, M, N, K, bias, y, N, rank);)                                       \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) wg_lora_linear_bwd_dx_r##R##YS##_##NAME(          \
      const T* dy, const T* W, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      Y* dx, int M, int N, int K, int r) {                                                                       \
    WG_BODY(const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                                \
            wg::gemm<T, true, R>(dy, N, W, K, M, K, N, nullptr, dx, K, rank);)                                   \
  }

#define WG_ENTRY(T, NAME, Y, YS)                                                                                 \
  WG_RANK_ENTRY(T, NAME, 16, Y, YS)                                                                              \
  WG_RANK_ENTRY(T, NAME, 64, Y, YS)                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) wg_linear_fwd##YS##_##NAME(                       \
      const T* x, const T* W, const T* bias, Y* y, int M, int N, int K) {                                        \
    WG_BODY(wg::gemm<T, false, 0>(x, K, W, K, M, N, K, bias, y, N, tc::Rank{});)                                 \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) wg_linear_bwd_dx##YS##_##NAME(                    \
      const T* dy, const T* W, Y* dx, int M, int N, int K) {                                                     \
    WG_BODY(wg::gemm<T, true, 0>(dy, N, W, K, M, K, N, nullptr, dx, K, tc::Rank{});)                             \
  }

WG_ENTRY(f16, f16, f16, )
WG_ENTRY(bf16, bf16, bf16, )
WG_ENTRY(bf16, bf16, float, _f32y)
