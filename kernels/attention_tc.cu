// Tensor-core causal flash attention entry points, f16 and bf16, head dims 64, 128 (CodeLlama-7B)
// and 256 (CodeGen2-7B). What they compute, launch shapes, tiles and limits: attention_tc.cuh.
// mma.sync with bf16, ldmatrix and cp.async need sm_80: in the sm_75 image every entry point is a
// stub that traps (the host launches them only on sm_80+, and the report lists every arch).
#include "attention_tc.cuh"

#if SECTUNE_BF16
#define ATTN_TC_DTYPE(T, NAME)                                                                                   \
  ATTN_TC_ENTRY(T, NAME, 64)                                                                                     \
  ATTN_TC_ENTRY(T, NAME, 128)                                                                                    \
  ATTN_TC_ENTRY(T, NAME, 256)
#else
#define ATTN_TC_DTYPE(T, NAME)                                                                                   \
  ATTN_TC_STUB(T, NAME, 64)                                                                                      \
  ATTN_TC_STUB(T, NAME, 128)                                                                                     \
  ATTN_TC_STUB(T, NAME, 256)
#endif

ATTN_TC_DTYPE(f16, f16)
ATTN_TC_DTYPE(bf16, bf16)
ATTN_TC_CONVERT(f16, f16)
ATTN_TC_CONVERT(bf16, bf16)
