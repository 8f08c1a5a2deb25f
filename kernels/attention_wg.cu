// Causal flash attention on the sm_90a warpgroup tensor cores (attention_wg.cuh), head dims 64, 128, 256:
//   attention_wg_fwd_d{D}_{f16,bf16} take attention_tc_fwd's arguments and compute the same out and lse;
//     grid (ceil(T/128), H, B), block 256, attn_wg::smem<D>() (plan::attention_wg_smem);
//   attention_wg_bwd_d{D}_{f16,bf16} take attention_tc_bwd_fused's and compute the same dK, dV and dQ
//     sums; grid (ceil(S/bkv), Hkv, B), block 256, attn_wg::smem_bwd<D>() (plan::attention_wg_bwd_tiles).
// fp32 sums in another order. Built as sm_90a (build.rs); every other image holds stubs that trap, and the
// host launches these only on compute capability 9.0 when SECTUNE_ATTENTION_FWD / _BWD=wgmma.
#include "attention_wg.cuh"

#if SECTUNE_WGMMA
#define ATTN_WG_BODY(...) __VA_ARGS__
#else
#define ATTN_WG_BODY(...) __trap();
#endif

#define ATTN_WG_ENTRY(T, NAME, D)                                                                             \
  extern "C" __global__ void __launch_bounds__(attn_wg::THREADS, 1)                                          \
      attention_wg_fwd_d##D##_##NAME(const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, \
                                     int Hkv, float scale) {                                                 \
    ATTN_WG_BODY(attn_wg::fwd<T, D>(q, k, v, out, lse, T_, S, H, Hkv, scale);)                               \
  }

#define ATTN_WG_BWD_ENTRY(T, NAME, D)                                                                         \
  extern "C" __global__ void __launch_bounds__(attn_wg::THREADS, 1) attention_wg_bwd_d##D##_##NAME(             \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dk, T* dv,     \
      float* dq_acc, int T_, int S, int H, int Hkv, float scale) {                                             \
    ATTN_WG_BODY(attn_wg::bwd<T, D>(q, k, v, dout, lse, delta, dk, dv, dq_acc, T_, S, H, Hkv, scale);)          \
  }

// Forward and backward of one head dim.
#define ATTN_WG_HEAD(T, NAME, D) ATTN_WG_ENTRY(T, NAME, D) ATTN_WG_BWD_ENTRY(T, NAME, D)
#define ATTN_WG_DTYPE(T, NAME) ATTN_WG_HEAD(T, NAME, 64) ATTN_WG_HEAD(T, NAME, 128) ATTN_WG_HEAD(T, NAME, 256)

ATTN_WG_DTYPE(f16, f16)
ATTN_WG_DTYPE(bf16, bf16)
