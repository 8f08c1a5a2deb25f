// Pipelined tensor-core GEMM core for 16-bit inputs (f16, bf16) on sm_80+; the hot path of
// lora_matmul.cu's 16-bit entry points (the f32 instances and sm_75 keep gemm_core.cuh).
//   C[m, n] = Σ_k a(m, k) · b(n, k) in fp32, then optionally + Σ_j U[m, j]·V(n, j) (the LoRA rank term),
//   then y[m, n] = T(C + bias[n]) (stored as T, or as the float of that T value: the f32y entries).
//   a(m, k) = A[m·lda + k];  b(n, k) = B[n·ldb + k] (!B_KN, HF weight W [N, K]: y = x·Wᵀ)
//                                   = B[k·ldb + n] ( B_KN, W [N_w, K_w] read as [reduction, out]: dX = dY·W)
// Tiles: 128×128 output per block, BK = 64, 256 threads = 8 warps as 2 (m) × 4 (n), warp tile 64×32
//   = 4×4 mma.sync.m16n8k16 (fp32 accumulate, 64 accumulators per thread). Operands go global → shared
//   with cp.async (16 B, L2 only) through a 3-stage ring (96 KB dynamic shared memory; BK 64 × 3 stages
//   ran 5–13% faster than BK 32 × 4 stages at the 7B shapes on an H200), shared →
//   registers with ldmatrix (.trans for the B_KN tile). Shared tiles are XOR-swizzled so every
//   8-address phase of ldmatrix hits 8 distinct 16-byte bank groups:
//     [row][BK] tiles (A, and B when !B_KN): 16-byte chunk c of row r lives at c ^ (r & 7)
//     [k][128] tile (B when B_KN):          chunk c of row k lives at c ^ (k & 7)
// Fragment layouts (PTX ISA, mma.m16n8k16 .row.col; g = lane / 4, t = lane % 4):
//   A a0 (g, k 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..), a3 (g+8, 2t+8..);  B b0 (k 2t.., n g), b1 (k 2t+8.., n g)
//   C c0 c1 (g, n 2t, 2t+1), c2 c3 (g+8, n 2t, 2t+1). The rank term uses mma.m16n8k8 .tf32 with the same C
//   layout: A a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B b0 (k t, n g), b1 (k t+4, n g).
// Rank term (fused LoRA epilogue, r ≤ RMAX): U [M, r] fp32 (xa or dyb, already scaled by s here), V(n, j) =
//   V[n·vs_n + j·vs_j] fp32 (B for the forward, A for dX), staged in the freed pipeline memory and multiplied
//   with tf32 tensor cores into the accumulators as 3xTF32 (each operand split into two tf32 parts, ~fp32
//   products: one tf32 product's 2^-11 error failed the f16 parity test on an H200); with dropout p > 0 each product is scaled by dropout_factor(seed, m·ldy + n, p) first (dX).
// Loads are predicated: a 16-byte chunk goes through cp.async only when it is wholly in range and aligned
//   (ld % 8 == 0, 16-byte base), partial or misaligned chunks are copied element by element, the rest are
//   zero; so any M, N, K ≥ 1 is right, and the aligned 7B shapes take the fast path throughout.
// Launch: grid (ceil(N_out/128), ceil(M/128)), block 256, dynamic shared memory smem_bytes(RMAX).
#pragma once
#include "common.cuh"

#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define SECTUNE_TC 1
#else
#define SECTUNE_TC 0
#endif

namespace tc {

constexpr int BM = 128, BN = 128, BK = 64, STAGES = 3, THREADS = 256;
constexpr int WM = 64, WN = 32, MT = WM / 16, NT = WN / 8;
constexpr int TILE = BM * BK;  // elements of one operand tile (BN·BK is the same)
constexpr int PIPE_BYTES = STAGES * 2 * TILE * 2;
__host__ __device__ constexpr int rank_stride(int rmax) { return rmax + 4; }  // conflict-free tf32 fragment reads
// Dynamic shared memory of a ring of `ring` stages (an A and a B tile each), which the rank epilogue
// reuses for its fp32 operands [BM][rank_stride] × 2 (more only if those are larger: never, up to r 64).
__host__ __device__ constexpr int ring_bytes(int ring, int rmax) {
  return rmax == 0 || ring * 2 * TILE * 2 > 2 * BM * rank_stride(rmax) * 4 ? ring * 2 * TILE * 2
                                                                            : 2 * BM * rank_stride(rmax) * 4;
}
__host__ __device__ constexpr int smem_bytes(int rmax) { return ring_bytes(STAGES, rmax); }

struct Rank {
  const float* U;  // [M, r]
  const float* V;  // V(n, j) = V[n·vs_n + j·vs_j]
  int vs_n, vs_j, r;
  float scale, p;
  unsigned long long seed;
};

__device__ __forceinline__ uint32_t smem_u32(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

#if defined(SECTUNE_SIM)  // tests/host/sim: the same operations emulated on the CPU, per the PTX ISA
__device__ __forceinline__ void cp_async16(void* dst, const void* src) { sim::cp_async(smem_u32(dst), src, 16); }
__device__ __forceinline__ void cp_async_commit() { sim::cp_async_commit(); }
template <int N> __device__ __forceinline__ void cp_async_wait() { sim::cp_async_wait(N); }
__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void* p) { sim::ldmatrix_x4(r, smem_u32(p), false); }
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void* p) { sim::ldmatrix_x4(r, smem_u32(p), true); }
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], bf16) {
  sim::mma_m16n8k16(c, a, b, true);
}
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], f16) {
  sim::mma_m16n8k16(c, a, b, false);
}
__device__ __forceinline__ uint32_t tf32(float x) { return sim::cvt_rna_tf32(x); }
__device__ __forceinline__ void mma1688_tf32(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  sim::mma_m16n8k8_tf32(c, a, b);
}
#else
__device__ __forceinline__ void cp_async16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_u32(dst)), "l"(src) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldsm_x4(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p))
               : "memory");
}
__device__ __forceinline__ void ldsm_x4_trans(uint32_t r[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p))
               : "memory");
}

__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], bf16) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void mma16816(float c[4], const uint32_t a[4], const uint32_t b[2], f16) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ uint32_t tf32(float x) {
  uint32_t r;
  asm("cvt.rna.tf32.f32 %0, %1;\n" : "=r"(r) : "f"(x));
  return r;
}
__device__ __forceinline__ void mma1688_tf32(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
// x = hi + lo with both in tf32: 3 tf32 products (hi·hi + hi·lo + lo·hi) keep ~fp32 accuracy.
__device__ __forceinline__ void split_tf32(float x, uint32_t& hi, uint32_t& lo) {
  hi = tf32(x);
  lo = tf32(x - __uint_as_float(hi));
}

// Element offsets inside one stage's tiles (see the swizzle in the header): a [row][BK] row is one
// 128-byte line of 8 chunks. Host-callable too: tests/wgmma_layout.rs checks them against the wgmma
// descriptors on the CPU.
static_assert(BK == 64, "rowk_off's swizzle takes one 128-byte line per row");
__host__ __device__ __forceinline__ int rowk_off(int row, int chunk) { return row * BK + ((chunk ^ (row & 7)) << 3); }
__host__ __device__ __forceinline__ int kn_off(int k, int chunk) { return k * BN + ((chunk ^ (k & 7)) << 3); }
// The [k][128] tile as wgmma's N-major operand wants it (gemm_wgmma.cuh): two 64-column halves of
// [BK][64], each row one 128-byte swizzle line, chunk c of row k at (c & 7) ^ (k & 7) in half c >> 3.
__host__ __device__ __forceinline__ int kn_off_halves(int k, int chunk) {
  return (chunk >> 3) * (BK * 64) + k * 64 + (((chunk & 7) ^ (k & 7)) << 3);
}

__device__ __forceinline__ bool vec_ok(const void* p, int ld) {
  return (ld & 7) == 0 && ((uintptr_t)p & 15) == 0;
}

// One 8-element chunk src[0..8) → dst, `valid` of them in range (0..8); cp.async when whole and aligned.
template <typename T>
__device__ __forceinline__ void load_chunk(T* dst, const T* src, int valid, bool vec) {
  if (valid == 8 && vec) {
    cp_async16(dst, src);
  } else if (valid <= 0) {
    *reinterpret_cast<uint4*>(dst) = make_uint4(0u, 0u, 0u, 0u);
  } else {
    for (int j = 0; j < 8; ++j) dst[j] = j < valid ? src[j] : from_f32<T>(0.f);
  }
}

// Thread tid's i-th chunk of a [row][BK] tile (A, and B when !B_KN; BM = BN rows): tile row `row`,
// chunk c (elements 8c..8c+7 of the k-tile), stored at element offset dst of the stage.
static_assert(BM == BN, "A and B share the [row][BK] chunk placement");
struct RowkChunk {
  static constexpr int CPR = BK / 8, PER_THREAD = BM * CPR / THREADS;
  static_assert(CPR == 8, "a row is one 128-byte line of 8 chunks");
  int row, c, dst;
  // nthreads: the threads that share the tile (a constant wherever it is inlined).
  __host__ __device__ __forceinline__ RowkChunk(int tid, int i, int nthreads = THREADS) {
    const int e = tid + i * nthreads;  // shifts, not / and %: e's sign is unknown where tid is a lane offset
    row = e >> 3;
    c = e & (CPR - 1);
    dst = rowk_off(row, c);
  }
};

// Issues the cp.async loads of A's k-tile k0 (rows m0..) into one stage.
template <typename T>
__device__ __forceinline__ void load_a(T* sa, const T* A, int lda, bool va, int M, int K, int m0, int k0) {
#pragma unroll
  for (int i = 0; i < RowkChunk::PER_THREAD; ++i) {  // 128 rows × CPR chunks
    const RowkChunk ch(threadIdx.x, i);
    const int m = m0 + ch.row, k = k0 + ch.c * 8;
    const int valid = m < M ? min(8, K - k) : 0;
    load_chunk(sa + ch.dst, A + (size_t)min(m, M - 1) * lda + min(k, K - 1), valid, va);
  }
}

// Where the i-th of a thread's B chunks of k-tile k0 goes (HALVES: a B_KN tile in kn_off_halves'
// layout), and which 8 consecutive elements of the row-major source (B, or a quantized W) fill it:
// row `src_row`, columns src_col.. (valid of them). TILE_N and NTHREADS default to this core's tile and
// block; quant_tma.cu's producer warpgroup maps a 256-wide tile with 128 threads.
//   !B_KN: tile rows are output columns n, chunks run along k:  source (n, k)
//    B_KN: tile rows are reduction rows k, chunks run along n:  source (k, n)
template <bool B_KN, bool HALVES = false, int TILE_N = BN, int NTHREADS = THREADS>
struct BChunk {
  static_assert(B_KN ? HALVES || TILE_N == BN : true, "kn_off is the 128-wide layout; wider tiles come in halves");
  int dst, src_row, src_col, valid;
  __host__ __device__ __forceinline__ BChunk(int tid, int i, int N, int K, int n0, int k0) {
    if (!B_KN) {
      const RowkChunk ch(tid, i, NTHREADS);
      src_row = n0 + ch.row;
      src_col = k0 + ch.c * 8;
      valid = src_row < N ? min(8, K - src_col) : 0;
      dst = ch.dst;
    } else {
      constexpr int CPR_SHIFT = TILE_N == 256 ? 5 : 4;
      static_assert(TILE_N == 8 << CPR_SHIFT, "a B_KN tile is 128 or 256 wide");
      const int e = tid + i * NTHREADS, kr = e >> CPR_SHIFT, c = e & ((1 << CPR_SHIFT) - 1);
      src_row = k0 + kr;
      src_col = n0 + c * 8;
      valid = src_row < K ? min(8, N - src_col) : 0;
      dst = HALVES ? kn_off_halves(kr, c) : kn_off(kr, c);
    }
  }
};
constexpr int B_CHUNKS = BN * (BK / 8) / THREADS;  // per thread per k-tile (= BK·16/THREADS for B_KN)
static_assert(B_CHUNKS == BK * (BN / 8) / THREADS, "both B layouts give each thread the same chunk count");

// The B operand of a dense 16-bit matrix (ld ldb, rows as BChunk's source): cp.async straight into
// the stage. `fetch` issues a k-tile's loads, `land` finishes them (nothing to do here).
template <typename T, bool B_KN, bool HALVES = false>
struct DenseB {
  static constexpr bool KN_HALVES = HALVES;
  const T* B;
  int ldb;
  bool vb;
  int N, K, n0;
  __device__ __forceinline__ void fetch(T* sb, int k0) {
    const int rows = B_KN ? K : N, cols = B_KN ? N : K;
#pragma unroll
    for (int i = 0; i < B_CHUNKS; ++i) {
      const BChunk<B_KN, HALVES> ch(threadIdx.x, i, N, K, n0, k0);
      load_chunk(sb + ch.dst, B + (size_t)min(ch.src_row, rows - 1) * ldb + min(ch.src_col, cols - 1), ch.valid, vb);
    }
  }
  __device__ __forceinline__ void land(T*, int) {}
};

// One k-tile of this warp's 64×32 output from the stage's shared tiles.
template <typename T, bool B_KN>
__device__ __forceinline__ void mma_stage(float (&acc)[MT][NT][4], const T* sa, const T* sb, int wm, int wn) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int kk = 0; kk < BK; kk += 16) {
    uint32_t af[MT][4], bfr[NT][2];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) ldsm_x4(af[mt], sa + rowk_off(wm + mt * 16 + (lane & 15), (kk >> 3) + (lane >> 4)));
#pragma unroll
    for (int np = 0; np < NT / 2; ++np) {
      uint32_t r[4];
      if (!B_KN) {
        ldsm_x4(r, sb + rowk_off(wn + np * 16 + (lane & 7) + ((lane >> 4) << 3), (kk >> 3) + ((lane >> 3) & 1)));
      } else {
        ldsm_x4_trans(r, sb + kn_off(kk + (lane & 7) + (((lane >> 3) & 1) << 3), ((wn + np * 16) >> 3) + (lane >> 4)));
      }
      bfr[2 * np][0] = r[0];
      bfr[2 * np][1] = r[1];
      bfr[2 * np + 1][0] = r[2];
      bfr[2 * np + 1][1] = r[3];
    }
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) mma16816(acc[mt][nt], af[mt], bfr[nt], T());
  }
}

// Where accumulator acc[mt][nt][i] of lane `lane` sits, relative to the warp's first row and column
// (mma.sync's C layout, which wgmma's m64nNk16 D layout repeats per warp).
__host__ __device__ __forceinline__ int frag_row(int lane, int mt, int i) { return mt * 16 + (lane >> 2) + (i >> 1) * 8; }
__host__ __device__ __forceinline__ int frag_col(int lane, int nt, int i) { return nt * 8 + 2 * (lane & 3) + (i & 1); }

// The barrier of the threads that share a rank epilogue: the whole block here; gemm_tma.cuh's two
// consumer warpgroups use a named barrier instead.
struct BlockSync {
  __device__ __forceinline__ void operator()() const { __syncthreads(); }
};

// Adds the rank term to the accumulators (RMAX > 0, rank.r > 0); smem is the freed pipeline memory.
// The thread's accumulators are MT_ × NT_ m16n8 fragments from row wm, column wn of the block tile
// (mma_stage's 4 × 4 per warp, or one warpgroup slab's 1 × 16 per warp in gemm_wgmma.cuh); the
// rank products run over groups of 4 fragments to bound the extra registers. Threads 0..THREADS_-1
// stage U and V for a BM × BN_ tile and meet at `sync`.
template <int RMAX, int MT_ = MT, int NT_ = NT, int BN_ = BN, int THREADS_ = THREADS, class Sync = BlockSync>
__device__ __forceinline__ void add_rank(float (&acc)[MT_][NT_][4], const Rank& rk, float* smem, int M, int N,
                                         int ldy, int m0, int n0, int wm, int wn, Sync sync = Sync()) {
  static_assert(NT_ % 4 == 0, "fragments are taken 4 at a time");
  constexpr int RS = rank_stride(RMAX);
  float(*us)[RS] = reinterpret_cast<float(*)[RS]>(smem);
  float(*vs)[RS] = reinterpret_cast<float(*)[RS]>(smem + BM * RS);
  const int rpad = (rk.r + 7) & ~7;
  for (int e = threadIdx.x; e < BM * rpad; e += THREADS_) {
    const int row = e / rpad, j = e % rpad, m = m0 + row;
    us[row][j] = (m < M && j < rk.r) ? rk.scale * rk.U[(size_t)m * rk.r + j] : 0.f;
  }
  for (int e = threadIdx.x; e < BN_ * rpad; e += THREADS_) {
    // Consecutive threads take consecutive n for V = A [r, K] (vs_n = 1), consecutive j for V = B [N, r].
    const int col = rk.vs_n == 1 ? e % BN_ : e / rpad, j = rk.vs_n == 1 ? e / BN_ : e % rpad, n = n0 + col;
    vs[col][j] = (n < N && j < rk.r) ? rk.V[(size_t)n * rk.vs_n + (size_t)j * rk.vs_j] : 0.f;
  }
  sync();
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT_; ++mt)
#pragma unroll
  for (int nb = 0; nb < NT_; nb += 4) {
    float la[4][4] = {};
    for (int j0 = 0; j0 < rpad; j0 += 8) {
      const int row = wm + mt * 16 + g;
      uint32_t a_hi[4], a_lo[4];
      split_tf32(us[row][j0 + t], a_hi[0], a_lo[0]);
      split_tf32(us[row + 8][j0 + t], a_hi[1], a_lo[1]);
      split_tf32(us[row][j0 + t + 4], a_hi[2], a_lo[2]);
      split_tf32(us[row + 8][j0 + t + 4], a_hi[3], a_lo[3]);
#pragma unroll
      for (int nt = 0; nt < 4; ++nt) {
        const int col = wn + (nb + nt) * 8 + g;
        uint32_t b_hi[2], b_lo[2];
        split_tf32(vs[col][j0 + t], b_hi[0], b_lo[0]);
        split_tf32(vs[col][j0 + t + 4], b_hi[1], b_lo[1]);
        mma1688_tf32(la[nt], a_lo, b_hi);  // 3xTF32: the small cross terms first, ~fp32 products
        mma1688_tf32(la[nt], a_hi, b_lo);
        mma1688_tf32(la[nt], a_hi, b_hi);
      }
    }
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        float v = la[nt][i];
        if (rk.p > 0.f) {
          const int m = m0 + wm + frag_row(lane, mt, i), n = n0 + wn + frag_col(lane, nb + nt, i);
          v *= dropout_factor(rk.seed, (unsigned long long)m * ldy + n, rk.p);
        }
        acc[mt][nb + nt][i] += v;
      }
  }
}

template <typename T> struct Pair;
template <> struct Pair<bf16> { typedef __nv_bfloat162 type; };
template <> struct Pair<f16> { typedef __half2 type; };

// y holds T, or (Y = float, the f32y entries) float carrying T's value: the output is rounded to T
// either way, and --precision bf16 reads it as f32 without a widening pass.
__device__ __forceinline__ void put_pair(float* p, float v0, float v1, bool pair) {
  if (pair) {
    *reinterpret_cast<float2*>(p) = make_float2(v0, v1);
  } else {
    p[0] = v0;
  }
}
template <typename T>
__device__ __forceinline__ void put_pair(T* p, float v0, float v1, bool pair) {
  if (pair) {
    typename Pair<T>::type pr;
    pr.x = from_f32<T>(v0);
    pr.y = from_f32<T>(v1);
    *reinterpret_cast<typename Pair<T>::type*>(p) = pr;
  } else {
    p[0] = from_f32<T>(v0);
  }
}

template <typename T, typename Y>
__device__ __forceinline__ void store_pair(Y* y, int ldy, int m, int n, int N, float v0, float v1, const T* bias,
                                           bool vec) {
  if (bias) {
    v0 += to_f32(bias[n]);
    if (n + 1 < N) v1 += to_f32(bias[n + 1]);
  }
  v0 = to_f32(from_f32<T>(v0));  // T's rounding, also for a float y
  v1 = to_f32(from_f32<T>(v1));
  Y* p = y + (size_t)m * ldy + n;
  if (vec || n + 1 >= N) {
    put_pair(p, v0, v1, n + 1 < N);
  } else {
    put_pair(p, v0, 0.f, false);
    put_pair(p + 1, v1, 0.f, false);
  }
}

// Stores the thread's MT_ × NT_ accumulator fragments (add_rank's layout) from output row m_base, column n_base.
template <typename T, typename Y, int MT_, int NT_>
__device__ __forceinline__ void store_tile(const float (&acc)[MT_][NT_][4], Y* y, int ldy, int M, int N, int m_base,
                                           int n_base, const T* bias) {
  const int lane = threadIdx.x & 31;
  const bool vy = (ldy & 1) == 0 && ((uintptr_t)y & (2 * sizeof(Y) - 1)) == 0;
#pragma unroll
  for (int mt = 0; mt < MT_; ++mt)
#pragma unroll
    for (int nt = 0; nt < NT_; ++nt) {
      const int n = n_base + frag_col(lane, nt, 0);
      if (n >= N) continue;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int m = m_base + frag_row(lane, mt, 2 * h);
        if (m < M) store_pair(y, ldy, m, n, N, acc[mt][nt][2 * h], acc[mt][nt][2 * h + 1], bias, vy);
      }
    }
}

// The cp.async ring both cores run: k-tile kt's A tile, then its B tile, in stage kt % RING, loaded
// AHEAD k-tiles before it is multiplied (RING − 1 here; gemm_wgmma.cuh's pipelined core keeps one
// stage for the wgmmas still in flight).
template <typename T, class BSrc, int RING = STAGES, int AHEAD = RING - 1>
struct Ring {
  static_assert(AHEAD >= 1 && AHEAD < RING, "a ring stage is loaded while another is multiplied");
  T* smem;
  const T* A;
  int lda;
  bool va;
  int M, K, m0, KT;
  BSrc& bsrc;

  __device__ __forceinline__ T* a_tile(int kt) const { return smem + (kt % RING) * 2 * TILE; }
  // The first AHEAD k-tiles, B landed at once (nothing to overlap yet).
  __device__ __forceinline__ void fill() {
#pragma unroll
    for (int s = 0; s < AHEAD; ++s) {
      if (s < KT) {
        T* sa = a_tile(s);
        load_a(sa, A, lda, va, M, K, m0, s * BK);
        bsrc.fetch(sa + TILE, s * BK);
        bsrc.land(sa + TILE, s * BK);
      }
      cp_async_commit();
    }
  }
  // After k-tile kt's barrier: starts k-tile kt+AHEAD's copies and B fetch.
  __device__ __forceinline__ void start(int kt) {
    const int next = kt + AHEAD;
    if (next < KT) {
      T* sn = a_tile(next);
      load_a(sn, A, lda, va, M, K, m0, next * BK);
      bsrc.fetch(sn + TILE, next * BK);
    }
    cp_async_commit();
  }
  // Writes that k-tile's B (for a quantized B: decodes it) while k-tile kt is multiplied.
  __device__ __forceinline__ void land(int kt) {
    const int next = kt + AHEAD;
    if (next < KT) bsrc.land(a_tile(next) + TILE, next * BK);
  }
};

// The whole block: main loop, optional rank term, store. Needs smem_bytes(RMAX) of dynamic shared
// memory. The B operand comes from `bsrc` (DenseB, or a decoder of quantized weights with the same
// fetch/land interface: fetch issues k-tile k0's global loads before the stage in flight is
// multiplied, land writes the stage after it, two barriers before the stage is read).
// Y (deduced from y): T, or float for the f32y entries (see store_pair).
template <typename T, bool B_KN, int RMAX, class BSrc, typename Y>
__device__ void gemm_from(const T* A, int lda, BSrc& bsrc, int M, int N, int K, const T* bias, Y* y, int ldy,
                          const Rank& rank) {
  static_assert(!B_KN || !BSrc::KN_HALVES, "mma_stage reads a B_KN tile as kn_off writes it");
  SECTUNE_DYNAMIC_SMEM(128, smem_raw);
  T* smem = reinterpret_cast<T*>(smem_raw);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int warp = threadIdx.x >> 5, wm = (warp >> 2) * WM, wn = (warp & 3) * WN;
  float acc[MT][NT][4] = {};
  Ring<T, BSrc> ring{smem, A, lda, vec_ok(A, lda), M, K, m0, (K + BK - 1) / BK, bsrc};
  ring.fill();
  for (int kt = 0; kt < ring.KT; ++kt) {
    cp_async_wait<STAGES - 2>();  // k-tile kt has landed (for this thread's copies)
    __syncthreads();              // ... for every thread's, and stage kt-1 is no longer read
    ring.start(kt);
    T* sa = ring.a_tile(kt);
    mma_stage<T, B_KN>(acc, sa, sa + TILE, wm, wn);
    ring.land(kt);
  }
  if (RMAX > 0 && rank.r > 0) {
    cp_async_wait<0>();
    __syncthreads();  // the pipeline memory is free for the rank operands
    add_rank<RMAX>(acc, rank, reinterpret_cast<float*>(smem_raw), M, N, ldy, m0, n0, wm, wn);
  }
  store_tile(acc, y, ldy, M, N, m0 + wm, n0 + wn, bias);
}

// The dense GEMM: B [N, K] (ld ldb) or, with B_KN, [K, N].
template <typename T, bool B_KN, int RMAX, typename Y>
__device__ void gemm(const T* A, int lda, const T* B, int ldb, int M, int N, int K, const T* bias, Y* y, int ldy,
                     const Rank& rank) {
  DenseB<T, B_KN> src{B, ldb, vec_ok(B, ldb), N, K, (int)blockIdx.x * BN};
  gemm_from<T, B_KN, RMAX>(A, lda, src, M, N, K, bias, y, ldy, rank);
}

}  // namespace tc
