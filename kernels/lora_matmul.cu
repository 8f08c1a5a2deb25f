// Fused LoRA linear (PEFT semantics: dropout on the input of A only; the LoRA branch in fp32).
//   fwd:  y [M,N] = x·Wᵀ + bias + s·(xa·Bᵀ),   xa [M,r] = drop(x)·Aᵀ (fp32, saved for backward)
//   bwd:  dyb [M,r] = dY·B                                        (lora_linear_bwd_dyb, fp32)
//         dX [M,K] = dY·W + s·((dyb·A) ⊙ mask)                    (lora_linear_bwd_dx, = write)
//         dA [r,K] += s·dybᵀ·drop(x)                              (lora_linear_bwd_dA, fp32, +=)
//         dB [N,r] += s·dYᵀ·xa                                    (lora_linear_bwd_dB, fp32, +=)
//   W is frozen: no dW. Plain linear_fwd / linear_bwd_dx serve layers without an adapter.
// Shapes: x [M,K], W [N,K] (HF out×in), bias [N] or null, dY [M,N], all in T (bf16/f16/f32);
//   A [r,K], B [N,r], xa, dyb [M,r], dA, dB in fp32. Row-major, contiguous.
// Dropout: factor(m·K + k) from common.cuh's dropout_factor, bit-identical to
//   src/backend/dropout.rs, so backward and the CPU reference regenerate the same mask; p = 0: none.
// Fusion: each 64×64 output block computes its 64×r slice of xa from the x tile of every k-step
//   (a second fp32 copy of the tile with the dropout applied, in shared memory) while the tensor
//   cores do x·Wᵀ; the epilogue adds s·xa·Bᵀ before the single store of y. Blocks with
//   blockIdx.x == 0 write xa. Recomputing xa per column block costs r/64 of the GEMM's FMAs,
//   on CUDA cores. dX fuses the rank term into its epilogue the same way (dyb from a small kernel).
// Launch: GEMM kernels grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N for fwd, K for dX).
//   dyb: grid (M, ceil(r/8)), block 128.  dA: grid (ceil(K/128), ceil(r/8), m_splits), block 128.
//   dB:  grid (ceil(N/128), ceil(r/8), m_splits), block 128.  m_splits ≥ 1: more splits, more atomics.
// Limits: r ≤ 16 (_r16 entry points) or r ≤ 64 (_r64); any M, N, K ≥ 1; sizes < 2^31.
// Verified: compiles for sm_75..sm_90 with zero spills (tests/kernels_build.rs). NOT verified: any
//   numeric result on a GPU (no GPU was lent to the session that wrote it); wmma fragment layout
//   and the B_KN transposed staging are the first things to check against the CPU backend.
#include "gemm_core.cuh"

namespace lora {

using gemm::BK;
using gemm::BM;
using gemm::BN;
using gemm::THREADS;

// Forward extension: accumulates xa = drop(x)·Aᵀ for this block's rows, adds s·xa·Bᵀ in the store.
template <typename T, int RMAX>
struct XaExt {
  static constexpr int PER_THREAD = BM * RMAX / THREADS;
  union Smem {
    struct {
      float xd[BM][BK + 1];    // drop(x) tile, fp32
      float al[RMAX][BK + 1];  // A tile [j][k]
    } k;
    float xa[BM][RMAX + 1];    // finished xa tile, read by the store loop
  };
  Smem* s;
  const T* x;
  const float* A;
  const float* Bl;
  const T* bias;
  T* y;
  float* xa_out;
  float scale, p;
  unsigned long long seed;
  int M, N, K, r, m0;
  float acc[PER_THREAD];
  float bcol[RMAX];  // B[n, 0..r) of this thread's column, loaded in finish()

  __device__ void load(int k0) {
    for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
      const int row = e / BK, kk = e % BK;
      const int m = m0 + row, k = k0 + kk;
      float v = 0.f;
      if (m < M && k < K) {
        v = to_f32(x[(size_t)m * K + k]);
        if (p > 0.f) v *= dropout_factor(seed, (unsigned long long)m * K + k, p);
      }
      s->k.xd[row][kk] = v;
    }
    for (int e = threadIdx.x; e < RMAX * BK; e += THREADS) {
      const int j = e / BK, kk = e % BK;
      const int k = k0 + kk;
      s->k.al[j][kk] = (j < r && k < K) ? A[(size_t)j * K + k] : 0.f;
    }
  }
  // Thread t owns xa entries e = t + i·128: row e / RMAX, rank column e % RMAX (fixed per thread).
  __device__ void compute() {
    const int j = threadIdx.x % RMAX;
    for (int i = 0; i < PER_THREAD; ++i) {
      const int row = (threadIdx.x + i * THREADS) / RMAX;
      float a = acc[i];
#pragma unroll 8
      for (int kk = 0; kk < BK; ++kk) a = fmaf(s->k.xd[row][kk], s->k.al[j][kk], a);
      acc[i] = a;
    }
  }
  __device__ void finish() {
    __syncthreads();  // other threads may still read xd/al of the last k-tile (aliased by xa)
    const int j = threadIdx.x % RMAX;
    for (int i = 0; i < PER_THREAD; ++i) {
      const int row = (threadIdx.x + i * THREADS) / RMAX;
      s->xa[row][j] = acc[i];
      const int m = m0 + row;
      if (xa_out && blockIdx.x == 0 && m < M && j < r) xa_out[(size_t)m * r + j] = acc[i];
    }
    const int n = blockIdx.x * BN + threadIdx.x % BN;
    for (int jj = 0; jj < RMAX; ++jj) bcol[jj] = (n < N && jj < r) ? Bl[(size_t)n * r + jj] : 0.f;
  }
  __device__ void store(int row, int, int m, int n, float c) {
    float lora = 0.f;
    for (int jj = 0; jj < RMAX; ++jj) lora = fmaf(s->xa[row][jj], bcol[jj], lora);
    const float b = bias ? to_f32(bias[n]) : 0.f;
    y[(size_t)m * N + n] = from_f32<T>(c + b + scale * lora);
  }
  __device__ void block_end(float (*)[gemm::LDC]) {}
};

template <typename T, int RMAX>
__device__ void lora_fwd(const T* x, const T* W, const T* bias, const float* A, const float* Bl, float scale,
                         float p, unsigned long long seed, T* y, float* xa_out, int M, int N, int K, int r) {
  __shared__ __align__(16) typename XaExt<T, RMAX>::Smem smem;
  XaExt<T, RMAX> ext;
  ext.s = &smem;
  ext.x = x;
  ext.A = A;
  ext.Bl = Bl;
  ext.bias = bias;
  ext.y = y;
  ext.xa_out = xa_out;
  ext.scale = scale;
  ext.p = p;
  ext.seed = seed;
  ext.M = M;
  ext.N = N;
  ext.K = K;
  ext.r = r;
  ext.m0 = blockIdx.y * BM;
  for (int i = 0; i < XaExt<T, RMAX>::PER_THREAD; ++i) ext.acc[i] = 0.f;
  gemm::gemm_block<T, false>(x, K, nullptr, W, K, M, N, K, ext);
}

// dX extension: adds s·(dyb·A)⊙mask in the store; here the output column n is x's k index.
template <typename T, int RMAX>
struct DxExt {
  float (*dyb_s)[RMAX + 1];
  const float* dyb;
  const float* A;
  T* dx;
  float scale, p;
  unsigned long long seed;
  int M, Kx, r, m0;
  float acol[RMAX];  // A[0..r), k] of this thread's column

  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {
    for (int e = threadIdx.x; e < BM * RMAX; e += THREADS) {
      const int row = e / RMAX, j = e % RMAX;
      const int m = m0 + row;
      dyb_s[row][j] = (m < M && j < r) ? dyb[(size_t)m * r + j] : 0.f;
    }
    const int k = blockIdx.x * BN + threadIdx.x % BN;
    for (int j = 0; j < RMAX; ++j) acol[j] = (k < Kx && j < r) ? A[(size_t)j * Kx + k] : 0.f;
  }
  __device__ void store(int row, int, int m, int k, float c) {
    float lora = 0.f;
    for (int j = 0; j < RMAX; ++j) lora = fmaf(dyb_s[row][j], acol[j], lora);
    if (p > 0.f) lora *= dropout_factor(seed, (unsigned long long)m * Kx + k, p);
    dx[(size_t)m * Kx + k] = from_f32<T>(c + scale * lora);
  }
  __device__ void block_end(float (*)[gemm::LDC]) {}
};

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

// dyb[m, j] = Σ_n dY[m,n]·B[n,j]: block per row m, 8 rank columns per blockIdx.y.
template <typename T>
__device__ void lora_bwd_dyb(const T* dy, const float* Bl, float* dyb, int M, int N, int r) {
  __shared__ float scratch[32];
  const int m = blockIdx.x, j0 = blockIdx.y * 8;
  if (m >= M) return;
  float acc[8];
  for (int jj = 0; jj < 8; ++jj) acc[jj] = 0.f;
  for (int n = threadIdx.x; n < N; n += blockDim.x) {
    const float d = to_f32(dy[(size_t)m * N + n]);
    for (int jj = 0; jj < 8; ++jj)
      if (j0 + jj < r) acc[jj] = fmaf(d, Bl[(size_t)n * r + j0 + jj], acc[jj]);
  }
  for (int jj = 0; jj < 8; ++jj) {
    const float total = block_sum(acc[jj], scratch);
    if (threadIdx.x == 0 && j0 + jj < r) dyb[(size_t)m * r + j0 + jj] = total;
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
      const T* x, const T* W, const T* bias, const float* A, const float* B, float scale, float p,                \
      unsigned long long seed, T* y, float* xa, int M, int N, int K, int r) {                                    \
    lora::lora_fwd<T, R>(x, W, bias, A, B, scale, p, seed, y, xa, M, N, K, r);                                   \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) lora_linear_bwd_dx_r##R##_##NAME(                            \
      const T* dy, const T* W, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      T* dx, int M, int N, int K, int r) {                                                                       \
    lora::lora_bwd_dx<T, R>(dy, W, dyb, A, scale, p, seed, dx, M, N, K, r);                                      \
  }

#define LORA_ENTRY(T, NAME)                                                                                      \
  LORA_RANK_ENTRY(T, NAME, 16)                                                                                   \
  LORA_RANK_ENTRY(T, NAME, 64)                                                                                   \
  extern "C" __global__ void lora_linear_bwd_dyb_##NAME(const T* dy, const float* B, float* dyb, int M, int N,   \
                                                        int r) {                                                 \
    lora::lora_bwd_dyb<T>(dy, B, dyb, M, N, r);                                                                  \
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
