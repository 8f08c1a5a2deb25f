// The B operand of the tensor-core cores decoded from an int8 / NF4 frozen weight (quant_tc.cu on
// gemm_tc.cuh, quant_wgmma.cu on gemm_wgmma.cuh): a thread fetches its chunks of the next-but-one
// k-tile (8 consecutive weights of a row: one 4-byte word of NF4 codes or 8 int8 codes, and their
// absmax) into registers early and decodes them into the stage later, each weight exactly as the CPU
// reference decodes it (quant_formats.cuh), then rounded to bf16. Partial or unaligned chunks
// (cols % 8 != 0) decode element by element.
#pragma once
#include "gemm_tc.cuh"
#include "quant_formats.cuh"

namespace quant_tc {

// gemm_tc.cuh's B source for a quantized W [rows, cols] (the fetch/land interface of tc::DenseB;
// HALVES: B_KN tiles in tc::kn_off_halves' layout, for gemm_wgmma.cuh).
template <bool B_KN, class Q, bool HALVES = false>
struct QuantB {
  static constexpr bool KN_HALVES = HALVES;
  Q w;
  int N, K, n0;
  bool vec;  // cols % 8 == 0: every whole chunk is one aligned word and one absmax block
  typename Q::Raw raw[tc::B_CHUNKS];

  // LAND_FETCH (the wgmma core, where only the async wgmmas lie between fetch and land): only the
  // first k-tile's words are fetched here; land() fetches each later tile's as it decodes the tile
  // before (a whole iteration ahead, in the same registers). The mma.sync core keeps fetch-at-start
  // (its own mma_stage hides the loads; land-fetch spilled 8–28 B on sm_90 there).
  static constexpr bool LAND_FETCH = HALVES;
  __device__ __forceinline__ void fetch(bf16*, int k0) {
    if (LAND_FETCH && k0 != 0) return;
#pragma unroll
    for (int i = 0; i < tc::B_CHUNKS; ++i) {
      const tc::BChunk<B_KN, HALVES> ch(threadIdx.x, i, N, K, n0, k0);
      if (vec && ch.valid == 8) raw[i] = w.fetch8(ch.src_row, ch.src_col);
    }
  }
  __device__ __forceinline__ void land(bf16* sb, int k0) {
#pragma unroll
    for (int i = 0; i < tc::B_CHUNKS; ++i) {
      const tc::BChunk<B_KN, HALVES> ch(threadIdx.x, i, N, K, n0, k0);
      float v[8];
      if (vec && ch.valid == 8) {
        w.decode8(raw[i], v);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = j < ch.valid ? w.at(ch.src_row, ch.src_col + j) : 0.f;
      }
      if (LAND_FETCH && vec && k0 + tc::BK < K) {  // the next k-tile's words, into the registers just freed
        const tc::BChunk<B_KN, HALVES> after(threadIdx.x, i, N, K, n0, k0 + tc::BK);
        if (after.valid == 8) raw[i] = w.fetch8(after.src_row, after.src_col);
      }
      __align__(16) bf16 h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) h[j] = __float2bfloat16_rn(v[j]);
      *reinterpret_cast<uint4*>(sb + ch.dst) = *reinterpret_cast<const uint4*>(h);
    }
  }
};

}  // namespace quant_tc
