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
// 16-bit on sm_80+: the tc_* entry points (same arguments as their namesakes) run the pipelined
//   tensor-core core of gemm_tc.cuh with the rank term as a 3xTF32 mma epilogue; grid (ceil(N_out/128),
//   ceil(M/128)), block 256, dynamic shared memory tc::smem_bytes(0 | 16 | 64). They are absent from sm_75 images.
//   The bf16 `_f32y` twins store y / dX as f32 holding the bf16-rounded values (--precision bf16).
// Launch: GEMM kernels grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N for fwd, K for dX).
//   xa, dyb: grid (M, ceil(r/8)), block 128; their _tiled forms: grid (ceil(M/16), ceil(r/8)), block 256.
//   dA: grid (ceil(K/128), ceil(r/8), m_splits), block 128.
//   dB:  grid (ceil(N/128), ceil(r/8), m_splits), block 128.  m_splits ≥ 1: more splits, more atomics.
//   dA_split / dB_split: same grids with blockIdx.z = split of `rows` rows each, writing partial sums
//   [splits, P, r] that lora_rank_reduce (grid ceil(P·r/256), block 256) adds in split order: as fast
//   as the atomic split, and bit-reproducible. Their _vec forms (P % 8 == 0, U 16-byte aligned):
//   the same partial sums from grid (ceil(P/256), ceil(r/8), splits), block 256.
// Limits: r ≤ 16 (_r16 entry points) or r ≤ 64 (_r64); any M, N, K ≥ 1; sizes < 2^31.
// Verified on an H200 against the CPU backend (f32, tests/cuda_parity.rs); zero spills on sm_75..90.
#include "gemm_core.cuh"
#include "gemm_tc.cuh"
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
  auto ext = XaEpilogue<T, RMAX>::make(xa_s, xa, Bl, bias, y, scale, M, N, r);
  gemm::gemm_block<T, false>(x, K, nullptr, W, K, M, N, K, ext);
}

// dX [M,K] = dY [M,N] · W [N,K] + rank term. GEMM with output width K and reduction over N.
template <typename T, int RMAX>
__device__ void lora_bwd_dx(const T* dy, const T* W, const float* dyb, const float* A, float scale, float p,
                            unsigned long long seed, T* dx, int M, int N, int K, int r) {
  __shared__ float dyb_s[BM][RMAX + 1];
  auto ext = DxExt<T, RMAX>::make(dyb_s, dyb, A, dx, scale, p, seed, M, K, r);
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

// rank_project with the same arguments and result, summed in another order: a block of 8 warps
// takes 16 rows (2 per warp) and 8 rank columns; V's slice for 256 values of p is staged once in
// shared memory as Vs[j][p] and read by all 16 rows, so V comes from L2 M/16 times instead of M
// times (at the 7B shapes that was 512 MB of L2 reads per call). Lanes stride over p (coalesced U
// reads); each row ends in warp sums, no block-wide reduction.
constexpr int kProjWarps = 8, kProjRowsPerWarp = 2, kProjChunk = 256;
constexpr int VEC_STAGE_DEPTH = 4;  // 8 would take the vec forms past 128 registers (one block per SM)

// Stages V's rank columns j0..j0+7 at positions p0..p0+255 (0 past P or r) into slot(c, jj).
// Coalesced: consecutive threads take consecutive p when V runs along p (A: sp = 1), consecutive j
// when it runs along j (B: sj = 1). Block kProjWarps·32: each thread moves 8 values, DEPTH loads
// issued before their stores (one round trip to L2 per DEPTH values, not per value).
template <int DEPTH, class Slot>
__device__ __forceinline__ void stage_rank_chunk(const float* V, int p0, int P, int r, int j0, int sp, int sj,
                                                 Slot slot) {
  constexpr int THREADS = kProjWarps * 32, PER_THREAD = 8 * kProjChunk / THREADS;
  static_assert(PER_THREAD % DEPTH == 0, "whole batches");
  const bool along_p = sp == 1;
  auto at = [&](int i, int& c, int& jj) {
    const int e = threadIdx.x + i * THREADS;
    jj = along_p ? e / kProjChunk : e % 8;
    c = along_p ? e % kProjChunk : e / 8;
  };
#pragma unroll 1  // unrolled, ptxas would hoist every load whatever DEPTH says
  for (int i0 = 0; i0 < PER_THREAD; i0 += DEPTH) {
    float val[DEPTH];
#pragma unroll
    for (int i = 0; i < DEPTH; ++i) {
      int c, jj;
      at(i0 + i, c, jj);
      const int p = p0 + c;
      val[i] = (p < P && j0 + jj < r) ? V[(size_t)p * sp + (size_t)(j0 + jj) * sj] : 0.f;
    }
#pragma unroll
    for (int i = 0; i < DEPTH; ++i) {
      int c, jj;
      at(i0 + i, c, jj);
      slot(c, jj) = val[i];
    }
  }
}

// out[m, j0 + jj] = the warp's sum of acc[i][jj] for its rows m = m0 + i < M.
__device__ __forceinline__ void store_rank_rows(float (&acc)[kProjRowsPerWarp][8], float* out, int m0, int M, int r,
                                                int j0) {
  const int lane = threadIdx.x % 32;
  for (int i = 0; i < kProjRowsPerWarp; ++i) {
    const int m = m0 + i;
    for (int jj = 0; jj < 8; ++jj) {
      const float total = warp_sum(acc[i][jj]);  // the whole warp takes part, rows past M included
      if (lane == 0 && m < M && j0 + jj < r) out[(size_t)m * r + j0 + jj] = total;
    }
  }
}

template <typename T>
__device__ void rank_project_tiled(const T* U, const float* V, float* out, float drop_p, unsigned long long seed,
                                   int M, int P, int r, int sp, int sj) {
  __shared__ float Vs[8][kProjChunk + 1];  // +1: the transposing stores below hit 8 banks, not 1
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, j0 = blockIdx.y * 8;
  const int m0 = blockIdx.x * (kProjWarps * kProjRowsPerWarp) + warp * kProjRowsPerWarp;
  float acc[kProjRowsPerWarp][8] = {};
  for (int p0 = 0; p0 < P; p0 += kProjChunk) {
    __syncthreads();  // every warp is done with the previous chunk
    stage_rank_chunk<8>(V, p0, P, r, j0, sp, sj, [&](int c, int jj) -> float& { return Vs[jj][c]; });
    __syncthreads();
    const int len = min(kProjChunk, P - p0);
    for (int i = 0; i < kProjRowsPerWarp; ++i) {
      const int m = m0 + i;
      if (m >= M) break;
      for (int c = lane; c < len; c += 32) {
        const unsigned long long idx = (unsigned long long)m * P + p0 + c;
        float u = to_f32(U[idx]);
        if (drop_p > 0.f) u *= dropout_factor(seed, idx, drop_p);
        for (int jj = 0; jj < 8; ++jj) acc[i][jj] = fmaf(u, Vs[jj][c], acc[i][jj]);
      }
    }
  }
  store_rank_rows(acc, out, m0, M, r, j0);
}

// rank_project_tiled's block (16 rows, 2 a warp; 8 rank columns), for P % 8 == 0: each lane takes 8
// consecutive p of a 256-wide chunk, so a warp reads a row's chunk in one 16-byte load a lane (two for
// f32) instead of eight 64-byte ones, and holds its 64 V values in registers for both rows (V read from
// shared memory once a chunk, not once a row and element). Vs keeps a lane's 8 × 8 values together with
// 4 floats of padding, so its 128-bit reads take 4 wavefronts. Same launch and arguments as the tiled
// form; sums in another order.
constexpr int kVecPad = 68;  // floats per lane in Vs: 64 values + 4 of padding
// u[0..8] = src[0..8] in f32; src 16-byte aligned.
__device__ __forceinline__ void load8(const float* src, float u[8]) {
  const float4 a = reinterpret_cast<const float4*>(src)[0], b = reinterpret_cast<const float4*>(src)[1];
  u[0] = a.x, u[1] = a.y, u[2] = a.z, u[3] = a.w, u[4] = b.x, u[5] = b.y, u[6] = b.z, u[7] = b.w;
}
template <typename H>
__device__ __forceinline__ void load8(const H* src, float u[8]) {
  const uint4 w = *reinterpret_cast<const uint4*>(src);
  H h[8];
  memcpy(h, &w, sizeof w);  // not a pointer cast: that breaks strict aliasing (GCC in the emulator)
#pragma unroll
  for (int i = 0; i < 8; ++i) u[i] = to_f32(h[i]);
}
template <typename T>
__device__ void rank_project_vec(const T* U, const float* V, float* out, float drop_p, unsigned long long seed,
                                 int M, int P, int r, int sp, int sj) {
  __shared__ __align__(16) float Vs[32 * kVecPad];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, j0 = blockIdx.y * 8;
  const int m0 = blockIdx.x * (kProjWarps * kProjRowsPerWarp) + warp * kProjRowsPerWarp;
  float acc[kProjRowsPerWarp][8] = {};
  for (int p0 = 0; p0 < P; p0 += kProjChunk) {
    __syncthreads();  // every warp is done with the previous chunk
    stage_rank_chunk<VEC_STAGE_DEPTH>(V, p0, P, r, j0, sp, sj,
                     [&](int c, int jj) -> float& { return Vs[(c / 8) * kVecPad + (c % 8) * 8 + jj]; });
    __syncthreads();
    const int p = p0 + lane * 8;
    if (p >= P) continue;  // P % 8 == 0: a lane's 8 positions are all in or all out
    float v[8][8];  // v[i][jj] = V at position p + i, rank column j0 + jj
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const float4 lo = *reinterpret_cast<const float4*>(&Vs[lane * kVecPad + i * 8]);
      const float4 hi = *reinterpret_cast<const float4*>(&Vs[lane * kVecPad + i * 8 + 4]);
      v[i][0] = lo.x, v[i][1] = lo.y, v[i][2] = lo.z, v[i][3] = lo.w;
      v[i][4] = hi.x, v[i][5] = hi.y, v[i][6] = hi.z, v[i][7] = hi.w;
    }
#pragma unroll
    for (int row = 0; row < kProjRowsPerWarp; ++row) {
      const int m = m0 + row;
      if (m >= M) break;
      const size_t idx = (size_t)m * P + p;
      float u[8];
      load8(U + idx, u);
      if (drop_p > 0.f)
#pragma unroll
        for (int i = 0; i < 8; ++i) u[i] *= dropout_factor(seed, (unsigned long long)idx + i, drop_p);
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) acc[row][jj] = fmaf(u[i], v[i][jj], acc[row][jj]);
    }
  }
  store_rank_rows(acc, out, m0, M, r, j0);
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

// Deterministic split of rank_accumulate: split z = blockIdx.z sums rows [z·rows, (z+1)·rows) into
// partial[(z·P + p)·r + j] (plain stores); rank_reduce then adds scale·Σ_z partial in z order to out.
template <typename T>
__device__ void rank_partial(const T* U, const float* V, float* partial, float drop_p, unsigned long long seed,
                             int M, int P, int r, int rows) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x, j0 = blockIdx.y * 8, z = blockIdx.z;
  if (p >= P) return;
  const int m_begin = z * rows, m_end = min(M, m_begin + rows);
  float acc[8];
  for (int jj = 0; jj < 8; ++jj) acc[jj] = 0.f;
  for (int m = m_begin; m < m_end; ++m) {
    float u = to_f32(U[(size_t)m * P + p]);
    if (drop_p > 0.f) u *= dropout_factor(seed, (unsigned long long)m * P + p, drop_p);
    for (int jj = 0; jj < 8; ++jj)
      if (j0 + jj < r) acc[jj] = fmaf(u, V[(size_t)m * r + j0 + jj], acc[jj]);
  }
  for (int jj = 0; jj < 8; ++jj)
    if (j0 + jj < r) partial[((size_t)z * P + p) * r + j0 + jj] = acc[jj];
}

// rank_partial's partial sums, for P % 8 == 0 and U 16-byte aligned, in another order: a lane owns
// 8 consecutive p (one 16-byte load a row, two for f32) and 8 rank columns, the block's 8 warps take
// every 8th row of the split, and the warps' sums meet in shared memory, added in warp order. A warp
// reads 512 B–1 KiB of a row per load where rank_partial's lanes load one value a row each (64–128 B
// a warp, too few bytes in flight: dA + dB took 0.3–1.0 ms at the 7B shapes on an H200).
// Launch: grid (ceil(P/256), ceil(r/8), splits), block 256.
constexpr int kSumWarps = 8, kSumCols = 32 * 8;  // warps a block, p a block
template <typename T>
__device__ void rank_partial_vec(const T* U, const float* V, float* partial, float drop_p, unsigned long long seed,
                                 int M, int P, int r, int rows) {
  __shared__ float sums[kSumWarps][kSumCols];  // one rank column's per-warp sums: [warp][i·32 + lane]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, j0 = blockIdx.y * 8, z = blockIdx.z;
  const int p = blockIdx.x * kSumCols + lane * 8;
  const int m_end = min(M, z * rows + rows);
  float acc[8][8] = {};  // acc[i][jj]: position p + i, rank column j0 + jj
  if (p < P) {  // P % 8 == 0: a lane's 8 positions are all in or all out
#pragma unroll 2
    for (int m = z * rows + warp; m < m_end; m += kSumWarps) {
      const size_t idx = (size_t)m * P + p;
      float u[8], v[8];
      load8(U + idx, u);
      if (drop_p > 0.f)
#pragma unroll
        for (int i = 0; i < 8; ++i) u[i] *= dropout_factor(seed, (unsigned long long)idx + i, drop_p);
#pragma unroll
      for (int jj = 0; jj < 8; ++jj) v[jj] = j0 + jj < r ? V[(size_t)m * r + j0 + jj] : 0.f;
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int jj = 0; jj < 8; ++jj) acc[i][jj] = fmaf(u[i], v[jj], acc[i][jj]);
    }
  }
  // Thread t adds the warps' sums of position (t % 32)·8 + t / 32 (conflict-free both ways).
  const int i_out = threadIdx.x / 32, l_out = threadIdx.x % 32, p_out = blockIdx.x * kSumCols + l_out * 8 + i_out;
#pragma unroll
  for (int jj = 0; jj < 8; ++jj) {
    if (j0 + jj >= r) break;  // the same for the whole block
#pragma unroll
    for (int i = 0; i < 8; ++i) sums[warp][i * 32 + lane] = acc[i][jj];
    __syncthreads();
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < kSumWarps; ++w) s += sums[w][i_out * 32 + l_out];
    if (p_out < P) partial[((size_t)z * P + p_out) * r + j0 + jj] = s;
    __syncthreads();  // the next column's sums overwrite these
  }
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

// The block-per-16-rows rank projections of one form (tiled, vec): same launch and arguments.
#define RANK_PROJECT_ENTRIES(T, NAME, FORM)                                                                       \
  extern "C" __global__ void __launch_bounds__(256) lora_linear_xa_##FORM##_##NAME(                              \
      const T* x, const float* A, float* xa, float p, unsigned long long seed, int M, int K, int r) {            \
    lora::rank_project_##FORM<T>(x, A, xa, p, seed, M, K, r, 1, K);                                              \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(256) lora_linear_bwd_dyb_##FORM##_##NAME(                         \
      const T* dy, const float* B, float* dyb, int M, int N, int r) {                                            \
    lora::rank_project_##FORM<T>(dy, B, dyb, 0.f, 0ull, M, N, r, r, 1);                                          \
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
  RANK_PROJECT_ENTRIES(T, NAME, tiled)                                                                           \
  RANK_PROJECT_ENTRIES(T, NAME, vec)                                                                             \
  extern "C" __global__ void lora_linear_bwd_dA_##NAME(const T* x, const float* dyb, float* dA, float scale,      \
                                                       float p, unsigned long long seed, int M, int K, int r) {  \
    lora::rank_accumulate<T>(x, dyb, dA, scale, p, seed, M, K, r, 1, K);                                         \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dB_##NAME(const T* dy, const float* xa, float* dB, float scale,     \
                                                       int M, int N, int r) {                                    \
    lora::rank_accumulate<T>(dy, xa, dB, scale, 0.f, 0ull, M, N, r, r, 1);                                       \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dA_split_##NAME(const T* x, const float* dyb, float* partial,       \
                                                             float p, unsigned long long seed, int M, int K,     \
                                                             int r, int rows) {                                  \
    lora::rank_partial<T>(x, dyb, partial, p, seed, M, K, r, rows);                                              \
  }                                                                                                              \
  extern "C" __global__ void lora_linear_bwd_dB_split_##NAME(const T* dy, const float* xa, float* partial, int M, \
                                                             int N, int r, int rows) {                           \
    lora::rank_partial<T>(dy, xa, partial, 0.f, 0ull, M, N, r, rows);                                            \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(256) lora_linear_bwd_dA_split_vec_##NAME(                         \
      const T* x, const float* dyb, float* partial, float p, unsigned long long seed, int M, int K, int r,       \
      int rows) {                                                                                                \
    lora::rank_partial_vec<T>(x, dyb, partial, p, seed, M, K, r, rows);                                          \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(256) lora_linear_bwd_dB_split_vec_##NAME(                         \
      const T* dy, const float* xa, float* partial, int M, int N, int r, int rows) {                             \
    lora::rank_partial_vec<T>(dy, xa, partial, 0.f, 0ull, M, N, r, rows);                                        \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) linear_fwd_##NAME(const T* x, const T* W, const T* bias,     \
                                                                      T* y, int M, int N, int K) {              \
    lora::linear_fwd<T>(x, W, bias, y, M, N, K);                                                                 \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) linear_bwd_dx_##NAME(const T* dy, const T* W, T* dx, int M,  \
                                                                         int N, int K) {                        \
    lora::linear_bwd_dx<T>(dy, W, dx, M, N, K);                                                                  \
  }

// out[p·sp + j·sj] += scale · Σ_{z < splits} partial[(z·P + p)·r + j], z in order (any dtype's split sums).
extern "C" __global__ void lora_rank_reduce(const float* partial, float* out, float scale, int splits, int P, int r,
                                            int sp, int sj) {
  const int e = blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= P * r) return;
  const int p = e / r, j = e % r;
  float sum = 0.f;
  for (int z = 0; z < splits; ++z) sum += partial[(size_t)z * P * r + e];
  out[(size_t)p * sp + (size_t)j * sj] += scale * sum;
}

LORA_ENTRY(float, f32)
LORA_ENTRY(f16, f16)
#if SECTUNE_BF16
LORA_ENTRY(bf16, bf16)
#endif

// Tensor-core entry points (sm_80+), see the header. Y is the output's type: T, or float for the
// `_f32y` entries (`--precision bf16`: outputs rounded to T, stored as f32; YS names them).
#define TC_RANK_ENTRY(T, NAME, R, Y, YS)                                                                         \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_lora_linear_fwd_r##R##YS##_##NAME(             \
      const T* x, const T* W, const T* bias, const float* xa, const float* B, float scale, Y* y, int M, int N,   \
      int K, int r) {                                                                                            \
    const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                                       \
    tc::gemm<T, false, R>(x, K, W, K, M, N, K, bias, y, N, rank);                                                \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_lora_linear_bwd_dx_r##R##YS##_##NAME(          \
      const T* dy, const T* W, const float* dyb, const float* A, float scale, float p, unsigned long long seed,   \
      Y* dx, int M, int N, int K, int r) {                                                                       \
    const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                                        \
    tc::gemm<T, true, R>(dy, N, W, K, M, K, N, nullptr, dx, K, rank);                                            \
  }

#define TC_ENTRY(T, NAME, Y, YS)                                                                                 \
  TC_RANK_ENTRY(T, NAME, 16, Y, YS)                                                                              \
  TC_RANK_ENTRY(T, NAME, 64, Y, YS)                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_linear_fwd##YS##_##NAME(                       \
      const T* x, const T* W, const T* bias, Y* y, int M, int N, int K) {                                        \
    tc::gemm<T, false, 0>(x, K, W, K, M, N, K, bias, y, N, tc::Rank{});                                          \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(tc::THREADS, 2) tc_linear_bwd_dx##YS##_##NAME(                    \
      const T* dy, const T* W, Y* dx, int M, int N, int K) {                                                     \
    tc::gemm<T, true, 0>(dy, N, W, K, M, K, N, nullptr, dx, K, tc::Rank{});                                      \
  }

#if SECTUNE_TC
TC_ENTRY(f16, f16, f16, )
TC_ENTRY(bf16, bf16, bf16, )
TC_ENTRY(bf16, bf16, float, _f32y)
#endif
