// Tensor-core causal flash attention entry points, f16 and bf16, head dims 64, 128 (CodeLlama-7B)
// and 256 (CodeGen2-7B). What they compute, launch shapes, tiles and limits: attention_tc.cuh.
// mma.sync/ldmatrix/cp.async with bf16 need sm_80, so the sm_75 image has none of them.
#include "attention_tc.cuh"

#if SECTUNE_BF16
#define ATTN_TC_DTYPE(T, NAME)                                                                                   \
  ATTN_TC_ENTRY(T, NAME, 64)                                                                                     \
  ATTN_TC_ENTRY(T, NAME, 128)                                                                                    \
  ATTN_TC_ENTRY(T, NAME, 256)

ATTN_TC_DTYPE(f16, f16)
ATTN_TC_DTYPE(bf16, bf16)
#endif
