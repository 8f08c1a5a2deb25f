// The 16-bit linears and fused LoRA linears of lora_matmul.cu's tc_* entries on the sm_90a warpgroup
// core (gemm_wgmma.cuh), in its two pipelines: each wg_* entry (wg::Overlap) takes its tc_* namesake's
// arguments, grid and block, with plan::wg_smem_bytes of dynamic shared memory; each wgp_* entry
// (wg::InFlight: one k-tile of wgmmas in flight, one block per SM) the same with plan::wgp_smem_bytes.
// Both compute the same sums as the tc_* entries (fp32 accumulation in a different order). Built as
// sm_90a (build.rs); every other image holds stubs that trap, and the host launches these only on
// compute capability 9.0: wg_ by default, wgp_ when SECTUNE_GEMM_CORE=wgmma-inflight.
//   P_linear_fwd[_f32y]_T          y = x·Wᵀ + bias                  (P = wg | wgp)
//   P_linear_bwd_dx[_f32y]_T       dX = dY·W
//   P_lora_linear_fwd_rR[_f32y]_T  y = x·Wᵀ + bias + s·xa·Bᵀ       (R = 16 | 64: r ≤ R)
//   P_lora_linear_bwd_dx_rR[_f32y]_T  dX = dY·W + s·(dyb·A)⊙mask
// T = f16 | bf16; the `_f32y` entries (bf16 only) store the bf16-rounded outputs as f32.
#include "gemm_wgmma.cuh"

#if SECTUNE_WGMMA
#define WG_BODY(...) __VA_ARGS__
#else
#define WG_BODY(...) __trap();
#endif

#define WG_RANK_ENTRY(P, PIPE, MINB, T, NAME, R, Y, YS)                                                          \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MINB) P##_lora_linear_fwd_r##R##YS##_##NAME(         \
      const T* x, const T* W, const T* bias, const float* xa, const float* B, float scale, Y* y, int M, int N,   \
      int K, int r) {                                                                                            \
    WG_BODY(const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                               \
            wg::gemm<T, false, R, PIPE>(x, K, W, K, M, N, K, bias, y, N, rank);)                                 \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MINB) P##_lora_linear_bwd_dx_r##R##YS##_##NAME(      \
      const T* dy, const T* W, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      Y* dx, int M, int N, int K, int r) {                                                                       \
    WG_BODY(const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                                \
            wg::gemm<T, true, R, PIPE>(dy, N, W, K, M, K, N, nullptr, dx, K, rank);)                             \
  }

#define WG_ENTRY(P, PIPE, MINB, T, NAME, Y, YS)                                                                  \
  WG_RANK_ENTRY(P, PIPE, MINB, T, NAME, 16, Y, YS)                                                               \
  WG_RANK_ENTRY(P, PIPE, MINB, T, NAME, 64, Y, YS)                                                               \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MINB) P##_linear_fwd##YS##_##NAME(                   \
      const T* x, const T* W, const T* bias, Y* y, int M, int N, int K) {                                        \
    WG_BODY(wg::gemm<T, false, 0, PIPE>(x, K, W, K, M, N, K, bias, y, N, tc::Rank{});)                           \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, MINB) P##_linear_bwd_dx##YS##_##NAME(                \
      const T* dy, const T* W, Y* dx, int M, int N, int K) {                                                     \
    WG_BODY(wg::gemm<T, true, 0, PIPE>(dy, N, W, K, M, K, N, nullptr, dx, K, tc::Rank{});)                       \
  }

// Two blocks per SM for the overlapping pipeline, one for the 128 KiB ring of the in-flight one.
#define WG_PIPELINES(T, NAME, Y, YS)                                                                             \
  WG_ENTRY(wg, wg::Overlap, 2, T, NAME, Y, YS)                                                                   \
  WG_ENTRY(wgp, wg::InFlight, 1, T, NAME, Y, YS)

WG_PIPELINES(f16, f16, f16, )
WG_PIPELINES(bf16, bf16, bf16, )
WG_PIPELINES(bf16, bf16, float, _f32y)
