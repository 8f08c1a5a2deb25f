// Warp-specialized warpgroup GEMM core for sm_90a (H100 / H200): the operands come in by TMA
// (cp.async.bulk.tensor, one thread issues a whole tile) into a 4-stage ring whose stages are handed
// over with mbarriers instead of block barriers, and the output tile is 128 × 256.
//   Block: 384 threads = 3 warpgroups. Warpgroups 0 and 1 are the consumers: each multiplies rows
//   64w..64w+63 of the A tile by all 256 columns of B with four m64n256k16 wgmmas per k-tile (128
//   accumulators per thread), keeps one k-tile of wgmmas in flight, and releases a stage when the
//   wgmmas reading it have retired. Warpgroup 2 is the producer: thread 256 waits for a free stage,
//   arms its `full` barrier with the stage's bytes and issues the TMA loads; the other 127 exit.
//   So loads never wait for a block barrier and the tensor cores never wait for a load that could
//   have been issued earlier; against gemm_wgmma.cuh's 128 × 128 tile, shared-memory reads per FMA
//   fall by 1/6 and the A tile is loaded once for 256 columns.
// Operands, as gemm_tc.cuh: C[m, n] = Σ_k a(m, k)·b(n, k), a(m, k) = A[m·lda + k]; b(n, k) =
//   B[n·ldb + k] (!B_KN, y = x·Wᵀ) or B[k·ldb + n] (B_KN, dX = dY·W); the host encodes one tensor map
//   per operand (src/backend/cuda/tma.rs): 16-bit elements, 128-byte swizzle, boxes of
//   A {64 k, 128 rows}, B {64 k, 256 rows} (!B_KN) or {64 n, 64 k} (B_KN, four per stage). TMA fills
//   what lies outside the matrix with zeros, so ragged M, N and K need no predicates; the maps need
//   16-byte-aligned bases and row strides (lda, ldb % 8 == 0: plan::tma_fits, else wg_ runs).
// Shared layouts are the ones gemm_wgmma.cuh's descriptors read (1024-byte-aligned tiles, chunk c of a
//   128-byte row r at c ^ (r & 7)): A [128][64] K-major; B [256][64] K-major, or four N-major
//   [64 k][64 n] quarters 8 KiB apart (LBO 8192, as wg's two halves). Stage = 16 + 32 KiB; the ring
//   (192 KiB) is followed by the 2 × 4 mbarriers.
// Epilogue: the rank term (gemm_tc.cuh's add_rank over the 128 × 256 tile, the two consumer
//   warpgroups meeting at named barrier 1) and store_tile, per warp a 16 × 256 slab.
// Launch: grid (ceil(N_out/256), ceil(M/128)), block 384, dynamic shared memory plan::wgt_smem_bytes
//   (the ring, the barriers, then 2 KiB for a quantized B's decode tables: quant_tma.cu);
//   tile_of maps blocks to tiles in groups of 16 tile rows (L2 reuse of W).
#pragma once
#include "gemm_wgmma.cuh"

#if SECTUNE_WGMMA
#define WGT_BODY(...) __VA_ARGS__
#else
#define WGT_BODY(...) __trap();
#endif

namespace wgt {

constexpr int BM = 128, BN = 256, BK = tc::BK, STAGES = 4, CONSUMERS = 2, THREADS = 128 * (CONSUMERS + 1);
constexpr int A_BYTES = BM * BK * 2, B_BYTES = BN * BK * 2, STAGE_BYTES = A_BYTES + B_BYTES;
constexpr int RING_BYTES = STAGES * STAGE_BYTES, BARRIER_BYTES = 2 * STAGES * 8;
constexpr int SLAB_NT = BN / 8;  // m16n8 fragments per warp
typedef float Acc[1][SLAB_NT][4];
constexpr int PRODUCER = 128 * CONSUMERS;  // the thread that issues every load
// Registers per thread at launch: __launch_bounds__(THREADS, 1) caps them at 65536 / THREADS
// rounded down to 8 (168).
constexpr int LAUNCH_REGS = (65536 / THREADS) & ~7;

// The rank epilogue's U [128][RS] and V [256][RS] fp32 reuse the ring.
static_assert((BM + BN) * tc::rank_stride(64) * 4 <= RING_BYTES, "rank operands fit in the freed ring");

// A CUtensorMap as the driver encodes it (cuTensorMapEncodeTiled): 128 opaque bytes, 128-byte aligned
// as in CUDA 13's cuda.h, passed by value
// as a __grid_constant__ kernel parameter so its address is in the parameter space TMA reads.
struct alignas(128) TensorMap {
  unsigned long long opaque[16];
};

#if defined(SECTUNE_SIM)  // tests/host/sim: the same operations emulated on the CPU, per the PTX ISA
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, bf16) {
  sim::wgmma_issue(d, da, db, TRANS_B, true, BN);
}
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, f16) {
  sim::wgmma_issue(d, da, db, TRANS_B, false, BN);
}
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) { sim::mbar_init(bar, count); }
__device__ __forceinline__ void fence_barrier_init() {}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) { sim::mbar_arrive(bar, 0); }
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, int bytes) { sim::mbar_arrive(bar, bytes); }
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, int bytes) { sim::mbar_expect_tx(bar, bytes); }
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) { return sim::mbar_try_wait(bar, parity); }
__device__ __forceinline__ void tma_load(uint32_t dst, const TensorMap& map, int c0, int c1, uint32_t bar) {
  sim::tma_load_2d(dst, map.opaque, c0, c1, bar);
}
__device__ __forceinline__ void consumers_sync() { sim::bar_sync(1, 128 * CONSUMERS); }
__device__ __forceinline__ void prefetch_map(const TensorMap&) {}
template <int N> __device__ __forceinline__ void set_max_regs_inc() { sim::setmaxnreg(N, LAUNCH_REGS, true); }
template <int N> __device__ __forceinline__ void set_max_regs_dec() { sim::setmaxnreg(N, LAUNCH_REGS, false); }
#else
#define SECTUNE_WGT_D8(i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])
#define SECTUNE_WGT_D64(i)                                                                                     \
  SECTUNE_WGT_D8(i), SECTUNE_WGT_D8(i + 8), SECTUNE_WGT_D8(i + 16), SECTUNE_WGT_D8(i + 24),                    \
      SECTUNE_WGT_D8(i + 32), SECTUNE_WGT_D8(i + 40), SECTUNE_WGT_D8(i + 48), SECTUNE_WGT_D8(i + 56)
// 128 accumulators %0..%127, then the descriptors %128 %129, scale-d %130 and trans-b %131.
#define SECTUNE_WGT_REGS \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63, " \
  "%64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79, " \
  "%80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95, " \
  "%96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109, %110, %111, " \
  "%112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122, %123, %124, %125, %126, %127"
#define SECTUNE_WGT_MMA(TY)                                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %130, 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n256k16.f32." TY "." TY " {" SECTUNE_WGT_REGS "}, %128, %129, " \
               "p, 1, 1, 0, %131;\n}\n"                                                                        \
               : SECTUNE_WGT_D64(0), SECTUNE_WGT_D64(64)                                                       \
               : "l"(da), "l"(db), "r"(1), "n"(int(TRANS_B)))

// D[64×256] += A·B for this warpgroup; TRANS_B: B is N-major (B_KN).
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, bf16) {
  SECTUNE_WGT_MMA("bf16");
}
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, f16) {
  SECTUNE_WGT_MMA("f16");
}
__device__ __forceinline__ void mbar_init(uint32_t bar, int count) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(count) : "memory");
}
// Makes the initialized barriers visible to the async proxy (TMA's complete_tx) before first use.
__device__ __forceinline__ void fence_barrier_init() {
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
}
__device__ __forceinline__ void mbar_arrive(uint32_t bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(bar) : "memory");
}
__device__ __forceinline__ void mbar_arrive_expect_tx(uint32_t bar, int bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Arms `bytes` more of the current phase's transactions without arriving.
__device__ __forceinline__ void mbar_expect_tx(uint32_t bar, int bytes) {
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(bar), "r"(bytes) : "memory");
}
// Whether the phase of parity `parity` has completed (the hardware may suspend the thread a while).
__device__ __forceinline__ bool mbar_try_wait(uint32_t bar, uint32_t parity) {
  uint32_t done;
  asm volatile(
      "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
      : "=r"(done)
      : "r"(bar), "r"(parity)
      : "memory");
  return done != 0;
}
// Box (c0, c1) (elements along the inner dimension, rows) of `map` → shared dst; completes bytes on bar.
__device__ __forceinline__ void tma_load(uint32_t dst, const TensorMap& map, int c0, int c1, uint32_t bar) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], "
      "[%4];\n" ::"r"(dst),
      "l"(reinterpret_cast<uint64_t>(&map)), "r"(c0), "r"(c1), "r"(bar)
      : "memory");
}
// Fetches a tensor map into the descriptor cache ahead of its first TMA load.
__device__ __forceinline__ void prefetch_map(const TensorMap& map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(&map)) : "memory");
}
// The consumer warpgroups' own barrier (the producer has exited by then).
__device__ __forceinline__ void consumers_sync() {
  asm volatile("bar.sync 1, %0;\n" ::"n"(128 * CONSUMERS) : "memory");
}
// The producer gives registers back so the consumers' 128 accumulators fit without spills.
template <int N> __device__ __forceinline__ void set_max_regs_inc() {
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(N));
}
template <int N> __device__ __forceinline__ void set_max_regs_dec() {
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(N));
}
#endif

__device__ __forceinline__ void mbar_wait(uint32_t bar, uint32_t parity) {
  while (!mbar_try_wait(bar, parity)) {
  }
}

// The rank epilogue's barrier: both consumer warpgroups.
struct ConsumerSync {
  __device__ __forceinline__ void operator()() const { consumers_sync(); }
};

// Waits until the consumers released stage kt % STAGES from its last use (k-tile kt − STAGES).
__device__ __forceinline__ void wait_free(uint32_t empty, int kt) {
  if (kt >= STAGES) mbar_wait(empty + 8 * (kt % STAGES), (kt / STAGES - 1) & 1);
}

// The producer warpgroup's work, as a policy of `gemm`: FULL_ARRIVALS producer threads arrive on a
// stage's `full` barrier, REGS registers is what they keep (setmaxnreg), TABLE_BYTES of shared memory
// after the barriers hold what `stage` puts there before the first barrier (a decoder's tables).
// The dense B operand by TMA: thread PRODUCER loads both tiles of each stage.
template <bool B_KN>
struct TmaB {
  static constexpr int FULL_ARRIVALS = 1, REGS = 40;
  const TensorMap& tb;
  __device__ __forceinline__ void stage(float*) {
    if (threadIdx.x == PRODUCER) prefetch_map(tb);
  }
  __device__ __forceinline__ void run(const TensorMap& ta, uint32_t ring, uint32_t full, uint32_t empty, int KT,
                                      int m0, int n0) {
    if (threadIdx.x != PRODUCER) return;
    for (int kt = 0; kt < KT; ++kt) {
      wait_free(empty, kt);
      const int s = kt % STAGES;
      const uint32_t sa = ring + s * STAGE_BYTES, sb = sa + A_BYTES, bar = full + 8 * s;
      mbar_arrive_expect_tx(bar, STAGE_BYTES);
      tma_load(sa, ta, kt * BK, m0, bar);
      if (!B_KN) {
        tma_load(sb, tb, kt * BK, n0, bar);
      } else {
#pragma unroll
        for (int q = 0; q < BN / 64; ++q) tma_load(sb + q * (BK * 64 * 2), tb, n0 + 64 * q, kt * BK, bar);
      }
    }
  }
};

// setmaxnreg only moves registers within the block's LAUNCH_REGS · THREADS: what the producer
// warpgroup gives back is all the consumers can take (asking for more would leave their
// setmaxnreg.inc waiting forever; the emulator keeps the same account).
__host__ __device__ constexpr int consumer_regs(int producer_regs) {
  return ((LAUNCH_REGS * THREADS - 128 * producer_regs) / (128 * CONSUMERS)) & ~7;
}
static_assert(consumer_regs(40) == 232, "the dense producer's 128 registers go to the consumers");
static_assert(consumer_regs(112) == 192, "the NF4 decoder keeps 112, the consumers get 192");
constexpr int TABLE_BYTES = wg::TABLE_BYTES;

// One k-tile of the warpgroup's 64×256 output from a stage (addresses in shared space).
template <typename T, bool B_KN>
__device__ __forceinline__ void issue(Acc& acc, uint32_t sa, uint32_t sb, int wgi) {
  wg::fence_acc(acc);
  wg::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < BK; kk += 16) mma<B_KN>(&acc[0][0][0], wg::a_desc(sa, wgi, kk), wg::b_desc<B_KN>(sb, kk), T());
  wg::wgmma_commit();
  wg::fence_acc(acc);
}

// Which output tile block b of the grid (ceil(N/BN), ceil(M/BM)) computes: blocks run in groups of
// GROUP_M tile rows, column by column inside a group, so a wave of 132 blocks reads 16 row tiles of
// A and 8 column tiles of W (33 MB at K 4096) rather than 3 rows and all of a 11008-row W (90 MB,
// more than L2 holds, re-read from DRAM for every 3 rows).
constexpr int GROUP_M = 16;
__device__ __forceinline__ void tile_of(int& m_tile, int& n_tile) {
  const int tiles_m = gridDim.y, tiles_n = gridDim.x, b = blockIdx.y * tiles_n + blockIdx.x;
  const int per_group = GROUP_M * tiles_n, first_m = b / per_group * GROUP_M;
  const int rows = min(tiles_m - first_m, GROUP_M), in_group = b % per_group;
  m_tile = first_m + in_group % rows;
  n_tile = in_group / rows;
}

// The whole block; y [M, N] (ld ldy) gets T(C + rank term + bias). M, N, K as gemm_tc.cuh's gemm;
// `producer` fills the stages' B tiles (TmaB, or quant_tma.cu's decoder) and, through it, A.
template <typename T, bool B_KN, int RMAX, class P, typename Y>
__device__ void gemm(const TensorMap& ta, P& producer, int M, int N, int K, const T* bias, Y* y, int ldy,
                     const tc::Rank& rank) {
  unsigned char* const raw = wg::dyn_smem();
  const uint32_t ring = tc::smem_u32(raw);
  if (ring & 1023) __trap();  // the 128-byte swizzle of TMA and wgmma needs 1024-byte-aligned tiles
  const uint32_t full = ring + RING_BYTES, empty = full + 8 * STAGES;
  int m_tile, n_tile;
  tile_of(m_tile, n_tile);
  const int m0 = m_tile * BM, n0 = n_tile * BN, KT = (K + BK - 1) / BK;
  const int wgi = threadIdx.x >> 7;
  if (threadIdx.x == PRODUCER) prefetch_map(ta);
  if (threadIdx.x == 0) {
    for (int s = 0; s < STAGES; ++s) {
      mbar_init(full + 8 * s, P::FULL_ARRIVALS);
      mbar_init(empty + 8 * s, CONSUMERS);
    }
    fence_barrier_init();
  }
  producer.stage(reinterpret_cast<float*>(raw + RING_BYTES + BARRIER_BYTES));
  __syncthreads();  // the last block-wide barrier: the producer's idle threads exit after it
  if (wgi == CONSUMERS) {
    set_max_regs_dec<P::REGS>();
    producer.run(ta, ring, full, empty, KT, m0, n0);
    return;
  }
  set_max_regs_inc<consumer_regs(P::REGS)>();
  Acc acc = {};
  for (int kt = 0; kt < KT; ++kt) {
    const int s = kt % STAGES;
    mbar_wait(full + 8 * s, (kt / STAGES) & 1);
    const uint32_t sa = ring + s * STAGE_BYTES;
    issue<T, B_KN>(acc, sa, sa + A_BYTES, wgi);
    wg::wait<1>(acc);  // k-tile kt − 1's wgmmas have retired: its stage may be refilled
    if (kt > 0 && (threadIdx.x & 127) == 0) mbar_arrive(empty + 8 * ((kt - 1) % STAGES));
  }
  wg::wait<0>(acc);
  const int wm = wg::slab_row(threadIdx.x >> 5);
  if (RMAX > 0 && rank.r > 0) {
    consumers_sync();  // both warpgroups are done with the ring: it holds the rank operands now
    tc::add_rank<RMAX, 1, SLAB_NT, BN, 128 * CONSUMERS>(acc, rank, reinterpret_cast<float*>(raw), M, N, ldy, m0,
                                                        n0, wm, 0, ConsumerSync());
  }
  tc::store_tile(acc, y, ldy, M, N, m0 + wm, n0, bias);
}

}  // namespace wgt
