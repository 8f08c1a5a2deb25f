// What wgmma.mma_async reads, transcribed from the PTX ISA (sm_90a), for the CPU programs that check
// the kernels' warpgroup core without a GPU (tests/host/wgmma_layout.cu, the SIMT emulator in simt.h):
//   - matrix descriptor bits: start >> 4 in [0,14), LBO >> 4 in [16,30), SBO >> 4 in [32,46), base
//     offset in [49,52), swizzle mode in [62,64) (1 = 128-byte);
//   - canonical layouts with the 128-byte swizzle, T = 8 16-bit elements per 16 bytes:
//       K-major  ((8,m),(T,2k)):((8T,SBO),(1,T))        element (row, k)
//       MN-major ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO))   element (mn, k)
//     then Swizzle<3,4,3> on the byte address (bits 4..6 ^= bits 7..9), the pattern anchored at
//     1024-byte boundaries (base offset 0);
//   - m64nNk16 f32 accumulators: warp w of the warpgroup holds rows 16w..16w+15; register q of lane l
//     is row 16w + l/4 + 8·((q/2) % 2), column 8·(q/4) + 2·(l % 4) + q % 2.
#pragma once
#include <cstdint>

namespace isa {

struct Desc {
  uint32_t start, lbo, sbo, base_offset, swizzle;
};
inline Desc decode(uint64_t d) {
  return {(uint32_t)(d & 0x3FFF) << 4, (uint32_t)((d >> 16) & 0x3FFF) << 4, (uint32_t)((d >> 32) & 0x3FFF) << 4,
          (uint32_t)((d >> 49) & 7), (uint32_t)(d >> 62)};
}
inline uint32_t swizzle128(uint32_t a) { return a ^ (((a >> 7) & 7) << 4); }
// Byte address of element (row, k) of a K-major operand, (mn, k) of an MN-major one.
inline uint32_t k_major(const Desc& d, int row, int k) {
  return swizzle128(d.start + (row % 8) * 128 + (row / 8) * d.sbo + (k % 8) * 2 + (k / 8) * 16);
}
inline uint32_t mn_major(const Desc& d, int mn, int k) {
  return swizzle128(d.start + (mn % 8) * 2 + ((mn / 8) % 8) * 16 + (mn / 64) * d.lbo + (k % 8) * 128 +
                    (k / 8) * d.sbo);
}
// Row and column (in the warpgroup's 64 × N tile) of accumulator register q of lane l in warp w.
inline int acc_row(int w, int l, int q) { return 16 * w + l / 4 + 8 * ((q / 2) % 2); }
inline int acc_col(int l, int q) { return 8 * (q / 4) + 2 * (l % 4) + q % 2; }

}  // namespace isa
