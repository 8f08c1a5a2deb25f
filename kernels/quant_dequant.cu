// Linear layers over quantized frozen weights, with the LoRA and IA3 adapters fused as in
// lora_matmul.cu / ia3.cu. The weight tile is decoded while it is staged in shared memory: no
// decoded copy of W ever exists in global memory. Formats as src/quant/ (bit-compatible with
// bitsandbytes):
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
// The levels and the map are staged in shared memory once per block (a divergent table lookup).
// Decoding uses __fmul_rn/__fadd_rn (no FMA contraction), so the f32 instances see exactly the
// weights the CPU reference decodes, and the parity is that of the plain f32 GEMM.
// Kernels (F = nf4 | int8 | bf16; shapes, saved tensors and launch as lora_matmul.cu and ia3.cu):
//   qlinear_fwd_F_T      y = x·deq(W)ᵀ + bias
//   qlinear_bwd_dx_F_T   dX = dY·deq(W)                                  (the base is frozen: no dW)
//   qlora_fwd_rR_F_T     y = x·deq(W)ᵀ + bias + s·xa·Bᵀ                  (xa from lora_linear_xa)
//   qlora_bwd_dx_rR_F_T  dX = dY·deq(W) + s·(dyb·A)⊙mask                 (dyb from lora_linear_bwd_dyb)
//   qia3_in_fwd_F_T / qia3_in_bwd_F_T / qia3_out_fwd_F_T / qia3_out_bwd_dx_F_T   (ia3.cu's four)
//   The rank projections and rank/column sums (xa, dyb, dA, dB, IA3 dl) do not touch W: the backend
//   launches lora_matmul.cu's and ia3.cu's kernels for them.
// T = float (FMA; all kernels, the parity reference) and bf16 (sm_80+; the plain linears, for the bench).
// Launch: grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N for fwd, K for dX).
// Limits: any M, N, K ≥ 1, sizes < 2^31, nf4 block size 64 (the backend refuses others).
// Verified: compiles with zero spills (ptxas). NOT verified on a GPU when written (no GPU lent to
//   that session): tests/cuda_quant.rs checks every kernel against the CPU reference.
#include "gemm_core.cuh"
#include "ia3_ext.cuh"
#include "lora_ext.cuh"

namespace quant {

using gemm::BK;
using gemm::BM;
using gemm::BN;
using gemm::THREADS;

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
    for (int i = threadIdx.x; i < 16; i += THREADS) s[i] = levels[i];
    if (qabsmax)
      for (int i = threadIdx.x; i < 256; i += THREADS) s[16 + i] = map[i];
    table = s;
  }
  __device__ __forceinline__ float block_absmax(size_t b) const {
    if (!qabsmax) return absmax[b];
    return __fadd_rn(__fmul_rn(table[16 + qabsmax[b]], absmax[b / nested_block]), offset);
  }
  __device__ __forceinline__ float at(int n, int k) const {
    const size_t i = (size_t)n * cols + k;
    const unsigned char byte = packed[i >> 1];
    const int code = (i & 1) ? (byte & 0x0f) : (byte >> 4);
    return __fmul_rn(table[code], block_absmax(i / NF4_BLOCK));
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

// Stages the A tile (as gemm::load_tiles does, a_scale included) and the decoded weight tile.
//   !B_KN: b(n, k) = W[n, k]   (forward, reduction over in_features)
//    B_KN: b(n, k) = W[k, n]   (dX = dY·W, reduction over out_features)
template <typename T, bool B_KN, class Q>
__device__ __forceinline__ void load_tiles_q(gemm::Tiles<T>& s, const T* A, int lda, const float* a_scale,
                                             const Q& w, int M, int N, int K, int m0, int n0, int k0) {
  const int t = threadIdx.x;
  for (int e = t; e < BM * BK; e += THREADS) {
    const int r = e / BK, kk = e % BK;
    const int m = m0 + r, k = k0 + kk;
    float v = 0.f;
    if (m < M && k < K) {
      v = to_f32(A[(size_t)m * lda + k]);
      if (a_scale) v *= a_scale[k];
    }
    s.in.a[r][kk] = from_f32<T>(v);
  }
  if (!B_KN) {
    // Consecutive threads walk k: consecutive nibbles of one row, one absmax per 64 of them.
    for (int e = t; e < BN * BK; e += THREADS) {
      const int c = e / BK, kk = e % BK;
      const int n = n0 + c, k = k0 + kk;
      s.in.b[c][kk] = from_f32<T>((n < N && k < K) ? w.at(n, k) : 0.f);
    }
  } else {
    // Consecutive threads walk n, the contiguous index of W's rows here.
    for (int e = t; e < BN * BK; e += THREADS) {
      const int kk = e / BN, c = e % BN;
      const int n = n0 + c, k = k0 + kk;
      s.in.b[c][kk] = from_f32<T>((n < N && k < K) ? w.at(k, n) : 0.f);
    }
  }
}

// gemm::gemm_block with the weight decoded in the tile load; same Ext interface and a_scale.
// Must be called by all 128 threads of the block (it contains barriers).
template <typename T, bool B_KN, class Q, class Ext>
__device__ void qgemm_block(const T* A, int lda, const float* a_scale, Q w, int M, int N, int K, Ext& ext) {
  __shared__ __align__(128) gemm::Tiles<T> s;
  __shared__ float table[Q::TABLE];
  w.stage(table);
  __syncthreads();
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  typename gemm::AccFor<T>::type acc;
  acc.zero();
  for (int k0 = 0; k0 < K; k0 += BK) {
    load_tiles_q<T, B_KN, Q>(s, A, lda, a_scale, w, M, N, K, m0, n0, k0);
    ext.load(k0);
    __syncthreads();
    acc.step(s);
    ext.compute();
    __syncthreads();
  }
  acc.to_smem(s);
  ext.finish();
  __syncthreads();
  for (int e = threadIdx.x; e < BM * BN; e += THREADS) {
    const int r = e / BN, c = e % BN;
    const int m = m0 + r, n = n0 + c;
    if (m < M && n < N) ext.store(r, c, m, n, s.c[r][c]);
  }
  __syncthreads();
  ext.block_end(s.c);
}

// The forward GEMMs reduce over K (W read [N, K]); the dX GEMMs produce K columns reducing over N.
template <typename T, class Q, class Ext>
__device__ void fwd_gemm(const T* x, const float* x_scale, const Q& w, int M, int N, int K, Ext& ext) {
  qgemm_block<T, false, Q>(x, K, x_scale, w, M, N, K, ext);
}
template <typename T, class Q, class Ext>
__device__ void dx_gemm(const T* dy, const float* dy_scale, const Q& w, int M, int N, int K, Ext& ext) {
  qgemm_block<T, true, Q>(dy, N, dy_scale, w, M, K, N, ext);
}

template <typename T, class Q, int RMAX>
__device__ void lora_fwd(const T* x, const Q& w, const T* bias, const float* xa, const float* Bl, float scale, T* y,
                         int M, int N, int K, int r) {
  __shared__ float xa_s[BM][RMAX + 1];
  lora::XaEpilogue<T, RMAX> ext;
  ext.xa_s = xa_s;
  ext.xa = xa;
  ext.Bl = Bl;
  ext.bias = bias;
  ext.y = y;
  ext.scale = scale;
  ext.M = M;
  ext.N = N;
  ext.r = r;
  ext.m0 = blockIdx.y * BM;
  fwd_gemm<T, Q>(x, nullptr, w, M, N, K, ext);
}

template <typename T, class Q, int RMAX>
__device__ void lora_bwd_dx(const T* dy, const Q& w, const float* dyb, const float* A, float scale, float p,
                            unsigned long long seed, T* dx, int M, int N, int K, int r) {
  __shared__ float dyb_s[BM][RMAX + 1];
  lora::DxExt<T, RMAX> ext;
  ext.dyb_s = dyb_s;
  ext.dyb = dyb;
  ext.A = A;
  ext.dx = dx;
  ext.scale = scale;
  ext.p = p;
  ext.seed = seed;
  ext.M = M;
  ext.Kx = K;
  ext.r = r;
  ext.m0 = blockIdx.y * BM;
  dx_gemm<T, Q>(dy, nullptr, w, M, N, K, ext);
}

}  // namespace quant

#define QUANT_PLAIN_ENTRY(T, NAME, F, Q)                                                                        \
  extern "C" __global__ void __launch_bounds__(128)                                                              \
      qlinear_fwd_##F##_##NAME(const T* x, QW_PARAMS, const T* bias, T* y, int M, int N, int K) {               \
    gemm::PlainStore<T> ext{y, bias, N};                                                                        \
    quant::fwd_gemm<T>(x, nullptr, Q(QW_ARGS, K), M, N, K, ext);                                                \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128)                                                              \
      qlinear_bwd_dx_##F##_##NAME(const T* dy, QW_PARAMS, T* dx, int M, int N, int K) {                         \
    gemm::PlainStore<T> ext{dx, nullptr, K};                                                                    \
    quant::dx_gemm<T>(dy, nullptr, Q(QW_ARGS, K), M, N, K, ext);                                                \
  }

#define QUANT_LORA_ENTRY(T, NAME, F, Q, R)                                                                      \
  extern "C" __global__ void __launch_bounds__(128) qlora_fwd_r##R##_##F##_##NAME(                               \
      const T* x, QW_PARAMS, const T* bias, const float* xa, const float* B, float scale, T* y, int M, int N,    \
      int K, int r) {                                                                                           \
    quant::lora_fwd<T, Q, R>(x, Q(QW_ARGS, K), bias, xa, B, scale, y, M, N, K, r);                              \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) qlora_bwd_dx_r##R##_##F##_##NAME(                            \
      const T* dy, QW_PARAMS, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      T* dx, int M, int N, int K, int r) {                                                                      \
    quant::lora_bwd_dx<T, Q, R>(dy, Q(QW_ARGS, K), dyb, A, scale, p, seed, dx, M, N, K, r);                     \
  }

#define QUANT_IA3_ENTRY(T, NAME, F, Q)                                                                          \
  extern "C" __global__ void __launch_bounds__(128)                                                              \
      qia3_in_fwd_##F##_##NAME(const T* x, QW_PARAMS, const T* bias, const float* l, T* y, int M, int N, int K) { \
    gemm::PlainStore<T> ext{y, bias, N};                                                                        \
    quant::fwd_gemm<T>(x, l, Q(QW_ARGS, K), M, N, K, ext);                                                      \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) qia3_in_bwd_##F##_##NAME(                                    \
      const T* dy, const T* x, QW_PARAMS, const float* l, T* dx, float* dl, int M, int N, int K) {               \
    ia3::InBwdStore<T> ext{dx, x, l, dl, M, K};                                                                 \
    quant::dx_gemm<T>(dy, nullptr, Q(QW_ARGS, K), M, N, K, ext);                                                \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) qia3_out_fwd_##F##_##NAME(                                   \
      const T* x, QW_PARAMS, const T* bias, const float* l, T* y, T* z, int M, int N, int K) {                   \
    ia3::OutScaleStore<T> ext{y, z, bias, l, N};                                                                \
    quant::fwd_gemm<T>(x, nullptr, Q(QW_ARGS, K), M, N, K, ext);                                                \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128)                                                              \
      qia3_out_bwd_dx_##F##_##NAME(const T* dy, QW_PARAMS, const float* l, T* dx, int M, int N, int K) {        \
    gemm::PlainStore<T> ext{dx, nullptr, K};                                                                    \
    quant::dx_gemm<T>(dy, l, Q(QW_ARGS, K), M, N, K, ext);                                                      \
  }

// f32: every kernel (the backend's path and the parity reference).
#define QUANT_ALL(F, Q)                        \
  QUANT_PLAIN_ENTRY(float, f32, F, Q)          \
  QUANT_LORA_ENTRY(float, f32, F, Q, 16)       \
  QUANT_LORA_ENTRY(float, f32, F, Q, 64)       \
  QUANT_IA3_ENTRY(float, f32, F, Q)

QUANT_ALL(nf4, quant::Nf4W)
QUANT_ALL(int8, quant::Int8W)
QUANT_ALL(bf16, quant::Bf16W)

// bf16: what `sectune bench` times (the plain linears).
#if SECTUNE_BF16
QUANT_PLAIN_ENTRY(bf16, bf16, nf4, quant::Nf4W)
QUANT_PLAIN_ENTRY(bf16, bf16, int8, quant::Int8W)
#endif
