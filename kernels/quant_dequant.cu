// Linear layers over quantized frozen weights, with the LoRA and IA3 adapters fused as in
// lora_matmul.cu / ia3.cu. The weight tile is decoded while it is staged in shared memory: no
// decoded copy of W ever exists in global memory. The formats, the 7 weight arguments (QW_PARAMS)
// and the exact decoding are quant_formats.cuh's; the decode tables are staged in shared memory
// once per block.
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
// Verified on an H200 and an H100: tests/cuda_quant.rs checks every kernel against the CPU reference.
// The tensor-core twins for --precision bf16 are quant_tc.cu's.
#include "gemm_core.cuh"
#include "ia3_ext.cuh"
#include "lora_ext.cuh"
#include "quant_formats.cuh"

namespace quant {

using gemm::BK;
using gemm::BM;
using gemm::BN;
using gemm::THREADS;

// Stages the A tile (as gemm::load_tiles does, a_scale included) and the decoded weight tile.
//   !B_KN: b(n, k) = W[n, k]   (forward, reduction over in_features)
//    B_KN: b(n, k) = W[k, n]   (dX = dY·W, reduction over out_features)
template <typename T, bool B_KN, class Q>
__device__ __forceinline__ void load_tiles_q(gemm::Tiles<T>& s, const T* A, int lda, const float* a_scale,
                                             const Q& w, int M, int N, int K, int m0, int n0, int k0) {
  const int t = threadIdx.x;
  gemm::load_a_tile(s, A, lda, a_scale, M, K, m0, k0);
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
  auto ext = lora::XaEpilogue<T, RMAX>::make(xa_s, xa, Bl, bias, y, scale, M, N, r);
  fwd_gemm<T, Q>(x, nullptr, w, M, N, K, ext);
}

template <typename T, class Q, int RMAX>
__device__ void lora_bwd_dx(const T* dy, const Q& w, const float* dyb, const float* A, float scale, float p,
                            unsigned long long seed, T* dx, int M, int N, int K, int r) {
  __shared__ float dyb_s[BM][RMAX + 1];
  auto ext = lora::DxExt<T, RMAX>::make(dyb_s, dyb, A, dx, scale, p, seed, M, K, r);
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
