// The frozen-weight formats of src/quant/ as the kernels read them (bit-compatible with
// bitsandbytes), shared by quant_dequant.cu (FMA core, tiles decoded in shared memory) and
// quant_tc.cu (tensor cores):
//   nf4:  W flattened, blocks of 64; w[i] = levels[code(i)] · absmax[i/64]; two codes a byte, value 2j
//         in the high nibble of byte j. Double-quantized absmax (qscale != null):
//         absmax[b] = map[qscale[b]] · scale[b/nested] + offset  (two roundings, as the CPU decodes).
//   int8: w[n, k] = (q[n, k] · scale[n]) · fl32(1/127)  (row absmax, bitsandbytes' SCB).
//   bf16: w[n, k] = the bf16 pattern widened to f32 (exact; a bf16 checkpoint held in 16 bits).
// Every entry point takes the weight as the same 7 arguments (QW_PARAMS):
//   wq (nf4 packed bytes / int8 codes / bf16 patterns as 2 bytes each), wscale (nf4 absmax or
//   nested absmax / int8 row absmax / null for bf16),
//   wqscale (nf4 double-quant codes or null), wmap (256-level dynamic map or null),
//   wlevels (the 16 nf4 levels; null for int8), woffset, wnested (double-quant block).
// A decoder's `stage` copies the levels and the map to shared memory (a divergent table lookup)
// and must run before the block's first barrier. Decoding uses __fmul_rn/__fadd_rn (no FMA
// contraction), so every kernel sees exactly the weights the CPU reference decodes.
#pragma once
#include "common.cuh"

namespace quant {

constexpr int NF4_BLOCK = 64;
constexpr float INV_127 = 0.007874016f;  // bitsandbytes' 7.874015718698502e-3 in f32

#define QW_PARAMS                                                                                          \
  const unsigned char *wq, const float *wscale, const unsigned char *wqscale, const float *wmap,           \
      const float *wlevels, float woffset, int wnested
#define QW_ARGS wq, wscale, wqscale, wmap, wlevels, woffset, wnested

// W [rows, cols] in NF4; at(n, k) = w[n·cols + k].
struct Nf4W {
  static constexpr int TABLE = 16 + 256;  // levels, then the double-quant map
  const unsigned char* packed;
  const float* absmax;           // plain absmax, or the nested absmax when qabsmax != null
  const unsigned char* qabsmax;  // double quantization: 8-bit codes of absmax − offset
  const float* map;
  const float* levels;
  float offset;
  int nested_block;
  int cols;
  const float* table;  // shared copy of levels (and map)

  __device__ Nf4W(QW_PARAMS, int cols_)
      : packed(wq),
        absmax(wscale),
        qabsmax(wqscale),
        map(wmap),
        levels(wlevels),
        offset(woffset),
        nested_block(wnested),
        cols(cols_),
        table(nullptr) {}
  // Before the first barrier of the block.
  __device__ void stage(float* s) {
    for (int i = threadIdx.x; i < 16; i += blockDim.x) s[i] = levels[i];
    if (qabsmax)
      for (int i = threadIdx.x; i < 256; i += blockDim.x) s[16 + i] = map[i];
    table = s;
  }
  // Absmax block b's nested absmax. b < 2^32 (src/quant/device.rs refuses larger weights), so
  // the divide is 32-bit: inline, where a 64-bit one is a subroutine call in the main loop.
  __device__ __forceinline__ unsigned nested(size_t b) const { return (unsigned)b / (unsigned)nested_block; }
  __device__ __forceinline__ float block_absmax(size_t b) const {
    if (!qabsmax) return absmax[b];
    return __fadd_rn(__fmul_rn(table[16 + qabsmax[b]], absmax[nested(b)]), offset);
  }
  __device__ __forceinline__ float at(int n, int k) const {
    const size_t i = (size_t)n * cols + k;
    const unsigned char byte = packed[i >> 1];
    const int code = (i & 1) ? (byte & 0x0f) : (byte >> 4);
    return __fmul_rn(table[code], block_absmax(i / NF4_BLOCK));
  }
  // at(n, k..k+8) in two steps, for (n·cols + k) % 8 == 0 (one aligned 4-byte word of codes, one
  // absmax block): fetch8 only loads (issued early), decode8 computes what at() would.
  struct Raw {
    unsigned codes;
    float absmax;  // the block's absmax, or the nested absmax with double quantization
    unsigned qabsmax;
  };
  __device__ __forceinline__ Raw fetch8(int n, int k) const {
    const size_t i = (size_t)n * cols + k, b = i / NF4_BLOCK;
    Raw r;
    r.codes = *reinterpret_cast<const unsigned*>(packed + (i >> 1));
    r.qabsmax = qabsmax ? qabsmax[b] : 0u;
    r.absmax = qabsmax ? absmax[nested(b)] : absmax[b];
    return r;
  }
  // The table offsets (4·code) of all four high and all four low nibbles come from two shifts and
  // masks, then one byte extract (prmt) per weight: 12 integer ops per 8 weights where extracting
  // each nibble took 16 (the decode is the cost of the quantized linears: docs/cuda.md).
  __device__ __forceinline__ void decode8(const Raw& r, float v[8]) const {
    const float a = qabsmax ? __fadd_rn(__fmul_rn(table[16 + r.qabsmax], r.absmax), offset) : r.absmax;
    const unsigned hi = (r.codes >> 2) & 0x3c3c3c3cu, lo = (r.codes << 2) & 0x3c3c3c3cu;
    const char* const levels = reinterpret_cast<const char*>(table);
#pragma unroll
    for (int j = 0; j < 8; ++j) {  // weight j: byte j/2 (little-endian), its high nibble first
      const unsigned at = __byte_perm((j & 1) ? lo : hi, 0u, 0x4440u + (j >> 1));
      v[j] = __fmul_rn(*reinterpret_cast<const float*>(levels + at), a);
    }
  }
};

// W [rows, cols] in int8 with one absmax per row.
struct Int8W {
  static constexpr int TABLE = 1;
  const signed char* q;
  const float* scb;
  int cols;
  __device__ Int8W(QW_PARAMS, int cols_) : q((const signed char*)wq), scb(wscale), cols(cols_) {}
  __device__ void stage(float*) {}
  __device__ __forceinline__ float at(int n, int k) const {
    return __fmul_rn(__fmul_rn((float)q[(size_t)n * cols + k], scb[n]), INV_127);
  }
  // at(n, k..k+8) in two steps, for (n·cols + k) % 8 == 0 (one aligned 8-byte load).
  struct Raw {
    uint2 q;
    float scale;
  };
  __device__ __forceinline__ Raw fetch8(int n, int k) const {
    return Raw{*reinterpret_cast<const uint2*>(q + (size_t)n * cols + k), scb[n]};
  }
  // float(q) without I2F (16 a clock per SM on sm_80–90, an eighth of FADD's rate): the byte
  // q ^ 0x80 = q + 128 goes into the low mantissa bits of 2^23 (one prmt), and subtracting
  // 2^23 + 128 leaves q exactly.
  __device__ __forceinline__ void decode8(const Raw& r, float v[8]) const {
    const unsigned lo = r.q.x ^ 0x80808080u, hi = r.q.y ^ 0x80808080u;
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      const unsigned bits = __byte_perm(j < 4 ? lo : hi, 0x4b000000u, 0x7440u + (j & 3));  // 0x4b0000qq
      const float code = __fadd_rn(__uint_as_float(bits), -8388736.f);
      v[j] = __fmul_rn(__fmul_rn(code, r.scale), INV_127);
    }
  }
};

// W [rows, cols] as bf16 bit patterns: the upper half of each f32, so widening is exact.
struct Bf16W {
  static constexpr int TABLE = 1;
  const unsigned short* bits;
  int cols;
  __device__ Bf16W(QW_PARAMS, int cols_) : bits((const unsigned short*)wq), cols(cols_) {}
  __device__ void stage(float*) {}
  __device__ __forceinline__ float at(int n, int k) const {
    return __uint_as_float((unsigned)bits[(size_t)n * cols + k] << 16);
  }
};

}  // namespace quant
