// Fused LoRA linear (PEFT semantics: dropout on the input of A only; the LoRA branch in fp32).
//   fwd:  xa [M,r] = drop(x)·Aᵀ                                   (lora_linear_xa, fp32, saved)
//         y [M,N] = x·Wᵀ + bias + s·(xa·Bᵀ)                       (lora_linear_fwd, one store of y)
//   bwd:  dyb [M,r] = dY·B                                        (lora_linear_bwd_dyb, fp32)
//         dX [M,K] = dY·W + s·((dyb·A) ⊙ mask)                    (lora_linear_bwd_dx, = write)
//         dA [r,K] += s·dybᵀ·drop(x)                              (lora_linear_bwd_dA, fp32, +=)
//         dB [N,r] += s·dYᵀ·xa                                    (lora_linear_bwd_dB, fp32, +=)
//   W is frozen: no dW. Plain linear_fwd / linear_bwd_dx serve layers without an adapter.
// Shapes: x [M,K], W [N,K] (HF out×in), bias [N] or null, dY [M,N], all in T (bf16/f16/f32);
//   A [r,K], B [N,r], xa, dyb [M,r], dA, dB in fp32. Row-major, contiguous.
// Dropout: factor(m·K + k) from common.cuh's dropout_factor, bit-identical to
//   src/backend/dropout.rs, so backward and the CPU reference regenerate the same mask; p = 0: none.
// Fusion: the rank-r products (xa, dyb) are thin projections computed first by one row-per-block
//   kernel each (one pass over x or dY, r/N of the GEMM's FMAs); the GEMM's epilogue then adds
//   s·xa·Bᵀ (fwd) or s·(dyb·A)⊙mask (dX) before the single store, so y and dX are written once.
//   (The first version recomputed xa inside every column block on CUDA cores: measured 54× cuBLAS
//   against 18× for the plain GEMM on an H200, bench/RESULTS.md; the rank work now costs ~nothing.)
// Launch: GEMM kernels grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N for fwd, K for dX).
//   xa, dyb: grid (M, ceil(r/8)), block 128.  dA: grid (ceil(K/128), ceil(r/8), m_splits), block 128.
//   dB:  grid (ceil(N/128), ceil(r/8), m_splits), block 128.  m_splits ≥ 1: more splits, more atomics.
// Limits: r ≤ 16 (_r16 entry points) or r ≤ 64 (_r64); any M, N, K ≥ 1; sizes < 2^31.
// Verified on an H200 against the CPU backend (f32, tests/cuda_parity.rs); zero spills on sm_75..90.
#include "gemm_core.cuh"
#include "lora_ext.cuh"

namespace lora {

using gemm::BK;
using gemm::BM;
using gemm::BN;
using gemm::THREADS;

template <typename T, int RMAX>
__device__ void lora_fwd(const T* x, const T* W, const T* bias, const float* xa, const float* Bl, float scale,
                         T* y, int M, int N, int K, int r) {
  __shared__ float xa_s[BM][RMAX + 1];
  XaEpilogue<T, RMAX> ext;
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
  gemm::gemm_block<T, false>(x, K, nullptr, W, K, M, N, K, ext);
}

// dX [M,K] = dY [M,N] · W [N,K] + rank term. GEMM with output width K and reduction over N.
template <typename T, int RMAX>
__device__ void lora_bwd_dx(const T* dy, const T* W, const float* dyb, const float* A, float scale, float p,
                            unsigned long long seed, T* dx, int M, int N, int K, int r) {
  __shared__ float dyb_s[BM][RMAX + 1];
  DxExt<T, RMAX> ext;
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
  gemm::gemm_block<T, true>(dy, N, nullptr, W, K, M, K, N, ext);
}

// out[m, j] = Σ_p U'[m,p]·V[p·sp + j·sj], U' = U with dropout by index m·P + p when drop_p > 0:
//   xa:  U = x (P = K), V = A [r,K] (sp = 1, sj = K), with the input dropout;
//   dyb: U = dY (P = N), V = B [N,r] (sp = r, sj = 1).
// Block per row m, 8 rank columns per blockIdx.y; threads stride over P (coalesced reads of U).
template <typename T>
__device__ void rank_project(const T* U, const float* V, float* out, float drop_p, unsigned long long seed, int M,
                             int P, int r, int sp, int sj) {
  __shared__ float scratch[32];
  const int m = blockIdx.x, j0 = blockIdx.y * 8;
  if (m >= M) return;
  float acc[8];
  for (int jj = 0; jj < 8; ++jj) acc[jj] = 0.f;
  for (int p = threadIdx.x; p < P; p += blockDim.x) {
    float u = to_f32(U[(size_t)m * P + p]);
    if (drop_p > 0.f) u *= dropout_factor(seed, (unsigned long long)m * P + p, drop_p);
    for (int jj = 0; jj < 8; ++jj)
      if (j0 + jj < r) acc[jj] = fmaf(u, V[(size_t)p * sp + (size_t)(j0 + jj) * sj], acc[jj]);
  }
  for (int jj = 0; jj < 8; ++jj) {
    const float total = block_sum(acc[jj], scratch);
    if (threadIdx.x == 0 && j0 + jj < r) out[(size_t)m * r + j0 + jj] = total;
  }
}

// out[p·sp + j·sj] += scale · Σ_m U'[m,p]·V[m,j],  U' = U (optionally with dropout by index m·P + p).
// dA: U = x (P = K), V = dyb, sp = 1, sj = K.   dB: U = dY (P = N), V = xa, sp = r, sj = 1.
// Thread owns one p and 8 rank columns; blockIdx.z splits the rows; one atomicAdd per output.
template <typename T>
__device__ void rank_accumulate(const T* U, const float* V, float* out, float scale, float drop_p,
                                unsigned long long seed, int M, int P, int r, int sp, int sj) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x, j0 = blockIdx.y * 8;
  if (p >= P) return;
  const int rows_per_split = ceil_div(M, gridDim.z);
  const int m_begin = blockIdx.z * rows_per_split;
  const int m_end = min(M, m_begin + rows_per_split);
  float acc[8];
  for (int jj = 0; jj < 8; ++jj) acc[jj] = 0.f;
  for (int m = m_begin; m < m_end; ++m) {
    float u = to_f32(U[(size_t)m * P + p]);
    if (drop_p > 0.f) u *= dropout_factor(seed, (unsigned long long)m * P + p, drop_p);
    for (int jj = 0; jj < 8; ++jj)
      if (j0 + jj < r) acc[jj] = fmaf(u, V[(size_t)m * r + j0 + jj], acc[jj]);
  }
  if (m_begin >= m_end) return;
  for (int jj = 0; jj < 8; ++jj)
    if (j0 + jj < r) atomicAdd(out + (size_t)p * sp + (size_t)(j0 + jj) * sj, scale * acc[jj]);
}

template <typename T>
__device__ void linear_fwd(const T* x, const T* W, const T* bias, T* y, int M, int N, int K) {
  gemm::PlainStore<T> ext{y, bias, N};
  gemm::gemm_block<T, false>(x, K, nullptr, W, K, M, N, K, ext);
}

template <typename T>
__device__ void linear_bwd_dx(const T* dy, const T* W, T* dx, int M, int N, int K) {
  gemm::PlainStore<T> ext{dx, nullptr, K};
  gemm::gemm_block<T, true>(dy, N, nullptr, W, K, M, K, N, ext);
}

}  // namespace lora

#define LORA_RANK_ENTRY(T, NAME, R)                                                                              \
  extern "C" __global__ void __launch_bounds__(128) lora_linear_fwd_r##R##_##NAME(                               \
      const T* x, const T* W, const T* bias, const float* xa, const float* B, float scale, T* y, int M, int N,   \
      int K, int r) {                                                                                            \
    lora::lora_fwd<T, R>(x, W, bias, xa, B, scale, y, M, N, K, r);                                               \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) lora_linear_bwd_dx_r##R##_##NAME(                            \
      const T* dy, const T* W, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      T* dx, int M, int N, int K, int r) {                                                                       \
    lora::lora_bwd_dx<T, R>(dy, W, dyb, A, scale, p, seed, dx, M, N, K, r);                                      \
  }

#define LORA_ENTRY(T, NAME)                                                                                      \
  LORA_RANK_ENTRY(T, NAME, 16)                                                                                   \
  LORA_RANK_ENTRY(T, NAME, 64)                                                                                   \
  extern "C" __global__ void lora_linear_xa_##NAME(const T* x, const float* A, float* xa, float p,               \
                                                   unsigned long long seed, int M, int K, int r) {               \
    lora::rank_project<T>(x, A, xa, p, seed, M, K, r, 1, K);                                                     \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dyb_##NAME(const T* dy, const float* B, float* dyb, int M, int N,   \
                                                        int r) {                                                 \
    lora::rank_project<T>(dy, B, dyb, 0.f, 0ull, M, N, r, r, 1);                                                 \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dA_##NAME(const T* x, const float* dyb, float* dA, float scale,      \
                                                       float p, unsigned long long seed, int M, int K, int r) {  \
    lora::rank_accumulate<T>(x, dyb, dA, scale, p, seed, M, K, r, 1, K);                                         \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dB_##NAME(const T* dy, const float* xa, float* dB, float scale,     \
                                                       int M, int N, int r) {                                    \
    lora::rank_accumulate<T>(dy, xa, dB, scale, 0.f, 0ull, M, N, r, r, 1);                                       \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) linear_fwd_##NAME(const T* x, const T* W, const T* bias,     \
                                                                      T* y, int M, int N, int K) {              \
    lora::linear_fwd<T>(x, W, bias, y, M, N, K);                                                                 \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) linear_bwd_dx_##NAME(const T* dy, const T* W, T* dx, int M,  \
                                                                         int N, int K) {                        \
    lora::linear_bwd_dx<T>(dy, W, dx, M, N, K);                                                                  \
  }

LORA_ENTRY(float, f32)
LORA_ENTRY(f16, f16)
#if SECTUNE_BF16
LORA_ENTRY(bf16, bf16)
#endif
