// Causal flash-style attention entry points for the head dims of real checkpoints: 64, 128
// (CodeLlama-7B) and 256 (CodeGen2-7B), in f32 (the backend) and bf16 (sm_80+, the bench's CUDA-core
// columns; 16-bit attention is attention_tc.cu's). What they compute, the launch shapes and the
// limits are in attention.cuh.
#include "attention.cuh"

// Δ = rowsum(dO⊙O), also the first pass of attention_tc.cu's backward (so f16 keeps this one).
#define ATTN_DELTA_ENTRY(T, NAME)                                                                                \
  extern "C" __global__ void attention_bwd_delta_##NAME(const T* out, const T* dout, float* delta, int B, int T_, \
                                                        int H, int D) {                                          \
    attn::bwd_delta<T>(out, dout, delta, B, T_, H, D);                                                           \
  }

#define ATTN_ENTRY(T, NAME)  \
  ATTN_D_ENTRY(T, NAME, 64)  \
  ATTN_D_ENTRY(T, NAME, 128) \
  ATTN_D_ENTRY(T, NAME, 256) \
  ATTN_DELTA_ENTRY(T, NAME)

ATTN_ENTRY(float, f32)
ATTN_DELTA_ENTRY(f16, f16)
#if SECTUNE_BF16
ATTN_ENTRY(bf16, bf16)
#endif
