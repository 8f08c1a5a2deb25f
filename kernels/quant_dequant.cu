// Linear layers over quantized frozen weights, dequantized while the weight tile is staged in
// shared memory (never a full bf16 copy of W in global memory). Formats as src/quant/ (bit-compatible
// with bitsandbytes):
//   nf4:  W flattened, blocks of 64; w[i] = NF4[code(i)] · absmax[i/64]; two codes a byte, value 2j in
//         the high nibble of byte j. Double-quantized absmax: absmax[b] = map[qabsmax[b]] ·
//         nested[b/nested_block] + offset (qabsmax == null: absmax is plain f32).
//   int8: w[n, k] = (q[n, k] · scb[n]) · fl32(1/127)  (row absmax scb).
//   fwd:    y [M,N] = x [M,K] · deq(W)ᵀ + bias          W [N,K] (HF out×in)
//   bwd_dx: dX [M,K] = dY [M,N] · deq(W)                  (the base is frozen: no dW)
// T = bf16 (tensor cores, sm_80+) or float (FMA; the tightest reference for parity). The weight tile
// is decoded to f32 and rounded to T once, so a bf16 run equals the bf16 path on a weight that was
// first dequantized to bf16 (bitsandbytes' own compute path).
// Launch: grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N for fwd, K for bwd_dx).
// Limits: any M, N, K ≥ 1, sizes < 2^31, nf4 block size 64 (bitsandbytes' default; the loader refuses
//   others for this path).
// Not yet fused with the LoRA/IA3 extensions of lora_matmul.cu / ia3.cu: qgemm_block takes the same Ext
//   interface as gemm::gemm_block, so XaExt plugs in once it moves to a header. The adapter terms run as
//   separate kernels meanwhile.
// Verified: compiles with zero spills. NOT verified: any numeric result on a GPU (no GPU was lent to
//   the session that wrote it); check nibble order and the B_KN index first against the CPU reference.
#include "gemm_core.cuh"

namespace quant {

using gemm::BK;
using gemm::BM;
using gemm::BN;
using gemm::LDS;
using gemm::THREADS;

__constant__ float NF4[16] = {-1.0f,
                              -0.6961928009986877f,
                              -0.5250730514526367f,
                              -0.39491748809814453f,
                              -0.28444138169288635f,
                              -0.18477343022823334f,
                              -0.09105003625154495f,
                              0.0f,
                              0.07958029955625534f,
                              0.16093020141124725f,
                              0.24611230194568634f,
                              0.33791524171829224f,
                              0.44070982933044434f,
                              0.5626170039176941f,
                              0.7229568362236023f,
                              1.0f};

constexpr int NF4_BLOCK = 64;
constexpr float INV_127 = 0.007874016f;  // bitsandbytes' 7.874015718698502e-3 in f32

// W [rows, cols] in NF4; at(n, k) = w[n·cols + k].
struct Nf4W {
  const unsigned char* packed;
  const float* absmax;          // plain absmax, or the nested absmax when qabsmax != null
  const unsigned char* qabsmax;  // double quantization: 8-bit codes of absmax − offset
  const float* map;              // 256 levels of the dynamic map (double quantization)
  float offset;
  int nested_block;
  int cols;
  __device__ __forceinline__ float block_absmax(size_t b) const {
    if (!qabsmax) return absmax[b];
    return map[qabsmax[b]] * absmax[b / nested_block] + offset;
  }
  __device__ __forceinline__ float at(int n, int k) const {
    const size_t i = (size_t)n * cols + k;
    const unsigned char byte = packed[i >> 1];
    const int code = (i & 1) ? (byte & 0x0f) : (byte >> 4);
    return NF4[code] * block_absmax(i / NF4_BLOCK);
  }
};

// W [rows, cols] in int8 with one absmax per row.
struct Int8W {
  const signed char* q;
  const float* scb;
  int cols;
  __device__ __forceinline__ float at(int n, int k) const {
    return ((float)q[(size_t)n * cols + k] * scb[n]) * INV_127;
  }
};

// Stages the A tile (as gemm::load_tiles does) and the decoded weight tile.
//   !B_KN: b(n, k) = W[n, k]   (forward, reduction over in_features)
//    B_KN: b(n, k) = W[k, n]   (dX = dY·W, reduction over out_features)
template <typename T, bool B_KN, class Q>
__device__ __forceinline__ void load_tiles_q(gemm::Tiles<T>& s, const T* A, int lda, const Q& w, int M, int N,
                                             int K, int m0, int n0, int k0) {
  const int t = threadIdx.x;
  for (int e = t; e < BM * BK; e += THREADS) {
    const int r = e / BK, kk = e % BK;
    const int m = m0 + r, k = k0 + kk;
    s.in.a[r][kk] = (m < M && k < K) ? A[(size_t)m * lda + k] : from_f32<T>(0.f);
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

// gemm::gemm_block with the weight decoded in the tile load; same Ext interface.
template <typename T, bool B_KN, class Q, class Ext>
__device__ void qgemm_block(const T* A, int lda, const Q& w, int M, int N, int K, Ext& ext) {
  __shared__ __align__(128) gemm::Tiles<T> s;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  typename gemm::AccFor<T>::type acc;
  acc.zero();
  for (int k0 = 0; k0 < K; k0 += BK) {
    load_tiles_q<T, B_KN, Q>(s, A, lda, w, M, N, K, m0, n0, k0);
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

// y [M,N] = x [M,K]·deq(W)ᵀ + bias.
template <typename T, class Q>
__device__ void qlinear_fwd(const T* x, const Q& w, const T* bias, T* y, int M, int N, int K) {
  gemm::PlainStore<T> ext{y, bias, N};
  qgemm_block<T, false, Q>(x, K, w, M, N, K, ext);
}

// dX [M,K] = dY [M,N]·deq(W), W [N,K].
template <typename T, class Q>
__device__ void qlinear_bwd_dx(const T* dy, const Q& w, T* dx, int M, int N, int K) {
  gemm::PlainStore<T> ext{dx, nullptr, K};
  qgemm_block<T, true, Q>(dy, N, w, M, K, N, ext);
}

}  // namespace quant

#define QUANT_ENTRY(T, NAME)                                                                                      \
  extern "C" __global__ void __launch_bounds__(128) qlinear_fwd_nf4_##NAME(                                       \
      const T* x, const unsigned char* packed, const float* absmax, const unsigned char* qabsmax, const float* map, \
      float offset, int nested_block, const T* bias, T* y, int M, int N, int K) {                                 \
    quant::Nf4W w{packed, absmax, qabsmax, map, offset, nested_block, K};                                         \
    quant::qlinear_fwd<T>(x, w, bias, y, M, N, K);                                                                \
  }                                                                                                               \
  extern "C" __global__ void __launch_bounds__(128) qlinear_bwd_dx_nf4_##NAME(                                    \
      const T* dy, const unsigned char* packed, const float* absmax, const unsigned char* qabsmax,                \
      const float* map, float offset, int nested_block, T* dx, int M, int N, int K) {                             \
    quant::Nf4W w{packed, absmax, qabsmax, map, offset, nested_block, K};                                         \
    quant::qlinear_bwd_dx<T>(dy, w, dx, M, N, K);                                                                 \
  }                                                                                                               \
  extern "C" __global__ void __launch_bounds__(128) qlinear_fwd_int8_##NAME(                                      \
      const T* x, const signed char* q, const float* scb, const T* bias, T* y, int M, int N, int K) {             \
    quant::Int8W w{q, scb, K};                                                                                    \
    quant::qlinear_fwd<T>(x, w, bias, y, M, N, K);                                                                \
  }                                                                                                               \
  extern "C" __global__ void __launch_bounds__(128) qlinear_bwd_dx_int8_##NAME(                                   \
      const T* dy, const signed char* q, const float* scb, T* dx, int M, int N, int K) {                          \
    quant::Int8W w{q, scb, K};                                                                                    \
    quant::qlinear_bwd_dx<T>(dy, w, dx, M, N, K);                                                                 \
  }

QUANT_ENTRY(float, f32)
#if SECTUNE_BF16
QUANT_ENTRY(bf16, bf16)
#endif
