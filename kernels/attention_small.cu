// Causal attention for the small f32 head dims of the tiny test and demo models: 16 (lanes ≥ 16
// idle) and 32. Not a hot path: ptxas on sm_80 spills 4 bytes in attention_bwd_dq_d32_f32, which
// the zero-spill rule for the hot modules (attention.cu) does not need to cover.
// Semantics, launch shapes and limits: attention.cuh (the tiles follow the same formulas).
#include "attention.cuh"

ATTN_D_ENTRY(float, f32, 16)
ATTN_D_ENTRY(float, f32, 32)
