// The one tiled GEMM core that lora_matmul.cu and ia3.cu build on.
//   C[m, n] = Σ_k a(m, k) · b(n, k),  fp32 accumulation, one 64×64 output tile per block.
//   a(m, k) = A[m·lda + k], times a_scale[k] when a_scale != null (IA3's vector over the reduction
//            index), rounded to T once when staged in shared memory (as PEFT rounds x⊙l before the matmul).
//   b(n, k) = B[n·ldb + k] when !B_KN  (HF weight W [N, K]: y = x·Wᵀ)
//           = B[k·ldb + n] when  B_KN  (W [N_w, K_w] read as [reduction, out]: dX = dY·W)
// Tiles: BM = BN = 64, BK = 32, 128 threads (4 warps as 2×2, each warp 32×32).
//   T = f16/bf16: wmma 16×16×16 tensor-core fragments, fp32 accumulators.
//   T = float:    plain FMA, each thread 8 rows × 4 cols (the tightest reference for parity tests).
// Every global load is predicated (m < M, n < N, k < K; zero fill), so any M, N, K ≥ 1 works.
// The caller's `Ext` adds work to the same block without another pass over memory:
//   ext.load(k0)     stage extra tiles for k-tile k0 (before the barrier)
//   ext.compute()    use them (after the barrier; the LoRA x·Aᵀ accumulation lives here)
//   ext.finish()     after the K loop, before the epilogue barrier (e.g. write xa to smem)
//   ext.store(r, c, m, n, acc)   one output element; (r, c) in the tile, (m, n) global, in range
//   ext.block_end(Cs)            after all stores, with the fp32 tile in shared memory (column sums)
// In the store loop each thread keeps one tile column: c = threadIdx.x % 64 (128 % 64 == 0), so
// an Ext may cache per-column values in registers.
// Single-stage (no cp.async pipeline): simple to verify, not yet tuned; see bench/RESULTS.md.
#pragma once
#include <mma.h>
#include "common.cuh"

namespace gemm {

constexpr int BM = 64, BN = 64, BK = 32, THREADS = 128;
constexpr int LDS = BK + 8;  // 16-bit rows of 80 bytes: wmma needs ldm % 8 == 0 and 32-byte aligned tiles
constexpr int LDC = BN + 4;  // fp32 rows of 272 bytes: ldm % 4 == 0, 16-row offsets stay 32-byte aligned

template <typename T>
struct Tiles {
  union {
    struct {
      T a[BM][LDS];
      T b[BN][LDS];
    } in;
    float c[BM][LDC];
  };
};

// The A tile (rows m0.., k0..; each column k scaled by a_scale[k] when given), zero outside M × K.
template <typename T>
__device__ __forceinline__ void load_a_tile(Tiles<T>& s, const T* A, int lda, const float* a_scale, int M, int K,
                                            int m0, int k0) {
  for (int e = threadIdx.x; e < BM * BK; e += THREADS) {
    const int r = e / BK, kk = e % BK;
    const int m = m0 + r, k = k0 + kk;
    float v = 0.f;
    if (m < M && k < K) {
      v = to_f32(A[(size_t)m * lda + k]);
      if (a_scale) v *= a_scale[k];
    }
    s.in.a[r][kk] = from_f32<T>(v);
  }
}

template <typename T, bool B_KN>
__device__ __forceinline__ void load_tiles(Tiles<T>& s, const T* A, int lda, const float* a_scale, const T* B,
                                           int ldb, int M, int N, int K, int m0, int n0, int k0) {
  const int t = threadIdx.x;
  load_a_tile(s, A, lda, a_scale, M, K, m0, k0);
  if (!B_KN) {
    for (int e = t; e < BN * BK; e += THREADS) {
      const int c = e / BK, kk = e % BK;
      const int n = n0 + c, k = k0 + kk;
      s.in.b[c][kk] = (n < N && k < K) ? B[(size_t)n * ldb + k] : from_f32<T>(0.f);
    }
  } else {
    // Consecutive threads read consecutive n (coalesced) and write a transposed tile.
    for (int e = t; e < BN * BK; e += THREADS) {
      const int kk = e / BN, c = e % BN;
      const int n = n0 + c, k = k0 + kk;
      s.in.b[c][kk] = (n < N && k < K) ? B[(size_t)k * ldb + n] : from_f32<T>(0.f);
    }
  }
}

// Tensor-core path: warp w owns rows (w/2)·32.., cols (w%2)·32.. as 2×2 fragments.
template <typename T>
struct MmaAcc {
  nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> f[2][2];
  __device__ void zero() {
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) nvcuda::wmma::fill_fragment(f[i][j], 0.f);
  }
  __device__ void step(Tiles<T>& s) {
    using namespace nvcuda;
    const int w = threadIdx.x / 32, wm = (w / 2) * 32, wn = (w % 2) * 32;
    for (int kk = 0; kk < BK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> a[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> b[2];
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(a[i], &s.in.a[wm + i * 16][kk], LDS);
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(b[j], &s.in.b[wn + j * 16][kk], LDS);
      for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 2; ++j) wmma::mma_sync(f[i][j], a[i], b[j], f[i][j]);
    }
  }
  __device__ void to_smem(Tiles<T>& s) {
    const int w = threadIdx.x / 32, wm = (w / 2) * 32, wn = (w % 2) * 32;
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j)
        nvcuda::wmma::store_matrix_sync(&s.c[wm + i * 16][wn + j * 16], f[i][j], LDC, nvcuda::wmma::mem_row_major);
  }
};

// fp32 path: thread t owns rows (t/16)·8 + i, cols (t%16)·4 + j.
struct FmaAcc {
  float acc[8][4];
  __device__ void zero() {
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 4; ++j) acc[i][j] = 0.f;
  }
  __device__ void step(Tiles<float>& s) {
    const int r0 = (threadIdx.x / 16) * 8, c0 = (threadIdx.x % 16) * 4;
#pragma unroll 4
    for (int kk = 0; kk < BK; ++kk) {
      float a[8], b[4];
      for (int i = 0; i < 8; ++i) a[i] = s.in.a[r0 + i][kk];
      for (int j = 0; j < 4; ++j) b[j] = s.in.b[c0 + j][kk];
      for (int i = 0; i < 8; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
  }
  __device__ void to_smem(Tiles<float>& s) {
    const int r0 = (threadIdx.x / 16) * 8, c0 = (threadIdx.x % 16) * 4;
    for (int i = 0; i < 8; ++i)
      for (int j = 0; j < 4; ++j) s.c[r0 + i][c0 + j] = acc[i][j];
  }
};

template <typename T> struct AccFor { typedef MmaAcc<T> type; };
template <> struct AccFor<float> { typedef FmaAcc type; };

// Block (blockIdx.x, blockIdx.y) computes output rows blockIdx.y·64.., columns blockIdx.x·64..
// Must be called by all 128 threads of the block (it contains barriers).
template <typename T, bool B_KN, class Ext>
__device__ void gemm_block(const T* A, int lda, const float* a_scale, const T* B, int ldb, int M, int N, int K,
                           Ext& ext) {
  __shared__ __align__(128) Tiles<T> s;
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  typename AccFor<T>::type acc;
  acc.zero();
  for (int k0 = 0; k0 < K; k0 += BK) {
    load_tiles<T, B_KN>(s, A, lda, a_scale, B, ldb, M, N, K, m0, n0, k0);
    ext.load(k0);
    __syncthreads();
    acc.step(s);
    ext.compute();
    __syncthreads();
  }
  acc.to_smem(s);  // the input tiles are dead: the last loop barrier has passed
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

// An Ext that only writes y = acc + bias (bias may be null), as T.
template <typename T>
struct PlainStore {
  T* y;
  const T* bias;
  int ldy;
  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {}
  __device__ void store(int, int, int m, int n, float acc) {
    y[(size_t)m * ldy + n] = from_f32<T>(acc + (bias ? to_f32(bias[n]) : 0.f));
  }
  __device__ void block_end(float (*)[LDC]) {}
};

}  // namespace gemm
