// Causal flash attention forward on the sm_90a warpgroup tensor cores: attention_wg_fwd_d{64,128,256}_{f16,bf16}
// take attention_tc_fwd's arguments and compute the same out and lse (fp32 sums in another order).
// Launch: grid (ceil(T/128), H, B), block 256, dynamic shared memory attn_wg::smem<D>()
// (plan::attention_wg_tiles). Built as sm_90a (build.rs); every other image holds stubs that trap, and
// the host launches these only on compute capability 9.0 when SECTUNE_ATTENTION_FWD=wgmma.
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

ATTN_WG_ENTRY(f16, f16, 64)
ATTN_WG_ENTRY(f16, f16, 128)
ATTN_WG_ENTRY(f16, f16, 256)
ATTN_WG_ENTRY(bf16, bf16, 64)
ATTN_WG_ENTRY(bf16, bf16, 128)
ATTN_WG_ENTRY(bf16, bf16, 256)
ATTN_WG_BWD_ENTRY(f16, f16, 64)
ATTN_WG_BWD_ENTRY(f16, f16, 128)
ATTN_WG_BWD_ENTRY(f16, f16, 256)
ATTN_WG_BWD_ENTRY(bf16, bf16, 64)
ATTN_WG_BWD_ENTRY(bf16, bf16, 128)
ATTN_WG_BWD_ENTRY(bf16, bf16, 256)
