// Warpgroup tensor-core GEMM core for sm_90a (H100 / H200): gemm_tc.cuh's block (128×128 output,
// BK 64, 3-stage cp.async ring, 256 threads, the same rank epilogue and stores, the same grid), with
// the multiplies issued as wgmma.mma_async instead of mma.sync, and 2 KiB more dynamic shared memory
// for a quantized B's decode tables. The default dense core on compute capability 9.0 since its first
// GPU run (H200, 2026-11-27: parity and memcheck clean, 1.63–1.67× cuBLAS against mma.sync's
// 2.26–2.39×; src/backend/cuda/plan.rs); tests/kernel_sim.rs also runs it in a CPU emulator.
//   Warpgroup w (threads 128w..) multiplies rows 64w..64w+63 of the A tile by all 128 columns of B:
//   per k-tile, four m64n128k16 wgmmas read both operands straight from shared memory (no ldmatrix);
//   while they run, the threads decode the next stage of a quantized B (quant_wgmma.cu), then the
//   warpgroup waits for them before the next barrier (two blocks per SM overlap each other's barriers
//   and loads: wg::Overlap, the wg_ entries), or leaves them running across it (wg::InFlight, the
//   wgp_ entries: a 4-stage ring loaded two k-tiles ahead, one block per SM).
// Shared layouts (the 128-byte swizzle of wgmma, a 16-byte chunk's index XOR bits 7..9 of its address,
//   so tiles start on 1024-byte boundaries):
//   A, and B when !B_KN: [128 rows][64 k] K-major, chunk c of row r at c ^ (r & 7): gemm_tc.cuh's
//     rowk_off, already this layout. Descriptor: SBO 1024 B (8 rows), LBO unused (16), start + 32 B
//     per k16 step inside the 128-byte line.
//   B when B_KN (dX = dY·W, W read [reduction k, out n]): N-major, two [64 k][64 n] halves
//     (kn_off_halves), imm-trans-b = 1. Descriptor: LBO 8192 B (from one 64-column half to the next),
//     SBO 1024 B (8 k rows), start + 2048 B per k16 step.
// Accumulators: each warp holds a 16×128 slab (rows 64w + 16·(warp % 4) ..) as 16 m16n8 fragments in
//   mma.sync's C layout, so add_rank / store_tile of gemm_tc.cuh run on them unchanged (MT 1, NT 16).
// Shared memory written by cp.async or st.shared is handed to the async proxy with fence.proxy.async
//   before the barrier that precedes the wgmmas reading it.
#pragma once
#include "gemm_tc.cuh"

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define SECTUNE_WGMMA 1
#else
#define SECTUNE_WGMMA 0
#endif

namespace wg {

constexpr int SLAB_NT = tc::BN / 8;  // m16n8 fragments per warp
typedef float Acc[1][SLAB_NT][4];

// Matrix descriptor: shared-memory start address, leading / stride byte offsets (all >> 4), 128-byte
// swizzle. This and the helpers below are host-callable: tests/wgmma_layout.rs decodes the
// descriptors they make per the PTX ISA and checks them against the tile writers on the CPU.
__host__ __device__ __forceinline__ uint64_t desc(uint32_t addr, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((addr & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4) << 16 | (uint64_t)(sbo >> 4) << 32 | 1ull << 62;
}

constexpr int ELEM = 2;  // bytes of a 16-bit operand element
// Warpgroup wgi's A operand for the k16 step at kk: rows 64·wgi.. of the [128][BK] K-major tile at sa
// (8 KiB per warpgroup, so it stays 1024-aligned), 8-row groups 1024 B apart, +32 B per k16 step.
__host__ __device__ __forceinline__ uint64_t a_desc(uint32_t sa, int wgi, int kk) {
  return desc(sa + (wgi * 64 * tc::BK + kk) * ELEM, 16, 1024);
}
// The B operand for the k16 step at kk: K-major [128 n][BK] like A, or (B_KN) N-major as two
// [BK][64] halves, LBO = one half apart, SBO = 8 k rows, +16 rows per k16 step.
template <bool B_KN>
__host__ __device__ __forceinline__ uint64_t b_desc(uint32_t sb, int kk) {
  return B_KN ? desc(sb + kk * 64 * ELEM, tc::BK * 64 * ELEM, 1024) : desc(sb + kk * ELEM, 16, 1024);
}
// First output row (in the block tile) of warp `warp`'s 16×128 accumulator slab.
__host__ __device__ __forceinline__ int slab_row(int warp) { return 64 * (warp >> 2) + 16 * (warp & 3); }

#if defined(SECTUNE_SIM)  // tests/host/sim: the same operations emulated on the CPU, per the PTX ISA
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, bf16) {
  sim::wgmma_issue(d, da, db, TRANS_B, true);
}
template <bool TRANS_B> __device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, f16) {
  sim::wgmma_issue(d, da, db, TRANS_B, false);
}
template <int NT> __device__ __forceinline__ void fence_acc(float (&)[1][NT][4]) {}
__device__ __forceinline__ void wgmma_fence() {}
__device__ __forceinline__ void wgmma_commit() { sim::wgmma_commit(); }
template <int N> __device__ __forceinline__ void wgmma_wait() { sim::wgmma_wait(N); }
__device__ __forceinline__ void fence_to_async_proxy() {}
#else
#define SECTUNE_WG_REGS \
  "%0, %1, %2, %3, %4, %5, %6, %7, " \
  "%8, %9, %10, %11, %12, %13, %14, %15, " \
  "%16, %17, %18, %19, %20, %21, %22, %23, " \
  "%24, %25, %26, %27, %28, %29, %30, %31, " \
  "%32, %33, %34, %35, %36, %37, %38, %39, " \
  "%40, %41, %42, %43, %44, %45, %46, %47, " \
  "%48, %49, %50, %51, %52, %53, %54, %55, " \
  "%56, %57, %58, %59, %60, %61, %62, %63"
#define SECTUNE_WG_D8(i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), \
      "+f"(d[i + 7])
// trans-b is an immediate of the instruction, hence the "n" operand.
#define SECTUNE_WG_MMA(TY)                                                                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                   \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" SECTUNE_WG_REGS "}, %64, %65, p, " \
               "1, 1, 0, %67;\n}\n"                                                                            \
               : SECTUNE_WG_D8(0), SECTUNE_WG_D8(8), SECTUNE_WG_D8(16), SECTUNE_WG_D8(24), SECTUNE_WG_D8(32),  \
                 SECTUNE_WG_D8(40), SECTUNE_WG_D8(48), SECTUNE_WG_D8(56)                                       \
               : "l"(da), "l"(db), "r"(1), "n"(int(TRANS_B)))

// D[64×128] += A·B for this warpgroup; TRANS_B: B is N-major (B_KN).
template <bool TRANS_B>
__device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, bf16) {
  SECTUNE_WG_MMA("bf16");
}
template <bool TRANS_B>
__device__ __forceinline__ void mma(float* d, uint64_t da, uint64_t db, f16) {
  SECTUNE_WG_MMA("f16");
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmmas (a
// warp's slab of NT m16n8 fragments: 16 for m64n128, 32 for gemm_tma.cuh's m64n256).
template <int NT> __device__ __forceinline__ void fence_acc(float (&acc)[1][NT][4]) {
#pragma unroll
  for (int i = 0; i < NT; ++i)
#pragma unroll
    for (int j = 0; j < 4; ++j) asm volatile("" : "+f"(acc[0][i][j])::"memory");
}
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
template <int N> __device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(N) : "memory");
}
// This thread's shared-memory writes (cp.async, st.shared) become visible to the wgmmas' async proxy.
__device__ __forceinline__ void fence_to_async_proxy() { asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory"); }
#endif

// Issues one k-tile of the warpgroup's 64×128 output from the stage's shared tiles; the wgmmas run
// asynchronously until `wait`, so the caller decodes the next stage (QuantB::land) meanwhile.
template <typename T, bool B_KN>
__device__ __forceinline__ void issue(Acc& acc, const T* sa, const T* sb) {
  static_assert(sizeof(T) == ELEM, "16-bit operands");
  const uint32_t a_addr = tc::smem_u32(sa), b_addr = tc::smem_u32(sb);
  const int wgi = threadIdx.x >> 7;
  fence_acc(acc);
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < tc::BK; kk += 16) mma<B_KN>(&acc[0][0][0], a_desc(a_addr, wgi, kk), b_desc<B_KN>(b_addr, kk), T());
  wgmma_commit();
  fence_acc(acc);
}

// Waits until at most N of this warpgroup's committed k-tiles of wgmmas are still running: the
// stages of the others may be overwritten (N = 0: the accumulators are final).
template <int N, int NT> __device__ __forceinline__ void wait(float (&acc)[1][NT][4]) {
  wgmma_wait<N>();
  fence_acc(acc);
}

// How the k-loop overlaps loads, barriers and the tensor cores:
//   Overlap  (the wg_ entries): 3 stages; each k-tile's wgmmas are waited for before the next barrier,
//            and two blocks per SM fill each other's gaps;
//   InFlight (the wgp_ entries): 4 stages, loaded 2 k-tiles ahead; one k-tile of wgmmas stays in
//            flight across the barrier, so the tensor cores have work while the block syncs and
//            loads (128 KiB of ring: one block per SM).
template <int RING_, int IN_FLIGHT_>
struct Pipe {
  static constexpr int RING = RING_, IN_FLIGHT = IN_FLIGHT_, AHEAD = RING_ - 1 - IN_FLIGHT_;
};
using Overlap = Pipe<tc::STAGES, 0>;
using InFlight = Pipe<4, 1>;

// The block's dynamic shared memory: tc::ring_bytes(P::RING, RMAX), then TABLE_BYTES for a quantized
// B's decode tables (plan::wg_smem_bytes / wgp_smem_bytes on the host).
constexpr int TABLE_BYTES = 2048;
__device__ __forceinline__ unsigned char* dyn_smem() {
  SECTUNE_DYNAMIC_SMEM(1024, wg_smem);
  return wg_smem;
}

// The whole block, as tc::gemm_from (same arguments and grid; dynamic shared memory per
// plan::wg_smem_bytes); bsrc fills B tiles in the layout `issue` reads (HALVES = true).
template <typename T, bool B_KN, int RMAX, class P, class BSrc, typename Y>
__device__ void gemm_from(const T* A, int lda, BSrc& bsrc, int M, int N, int K, const T* bias, Y* y, int ldy,
                          const tc::Rank& rank) {
  using namespace tc;
  static_assert(!B_KN || BSrc::KN_HALVES, "b_desc reads a B_KN tile as kn_off_halves writes it");
  unsigned char* const raw = dyn_smem();
  if (smem_u32(raw) & 1023) __trap();  // the descriptors' swizzle needs 1024-byte-aligned tiles
  T* smem = reinterpret_cast<T*>(raw);
  const int m0 = blockIdx.y * BM, n0 = blockIdx.x * BN;
  const int wm = slab_row(threadIdx.x >> 5);
  Acc acc = {};
  Ring<T, BSrc, P::RING, P::AHEAD> ring{smem, A, lda, vec_ok(A, lda), M, K, m0, (K + BK - 1) / BK, bsrc};
  ring.fill();
  for (int kt = 0; kt < ring.KT; ++kt) {
    cp_async_wait<P::AHEAD - 1>();  // k-tile kt has landed (for this thread's copies)
    fence_to_async_proxy();
    // ... for every thread's; and every warpgroup has retired the wgmmas of the stage refilled next
    // (k-tile kt − 1 − IN_FLIGHT, by its wait at the end of the last iteration).
    __syncthreads();
    ring.start(kt);
    T* sa = ring.a_tile(kt);
    issue<T, B_KN>(acc, sa, sa + TILE);
    ring.land(kt);  // overlaps the wgmmas (another stage)
    wait<P::IN_FLIGHT>(acc);
  }
  if (P::IN_FLIGHT > 0) wait<0>(acc);
  if (RMAX > 0 && rank.r > 0) {
    cp_async_wait<0>();
    __syncthreads();  // the pipeline memory is free for the rank operands
    add_rank<RMAX, 1, SLAB_NT>(acc, rank, reinterpret_cast<float*>(raw), M, N, ldy, m0, n0, wm, 0);
  }
  store_tile(acc, y, ldy, M, N, m0 + wm, n0, bias);
}

// The dense GEMM: B [N, K] (ld ldb) or, with B_KN, [K, N].
template <typename T, bool B_KN, int RMAX, class P, typename Y>
__device__ void gemm(const T* A, int lda, const T* B, int ldb, int M, int N, int K, const T* bias, Y* y, int ldy,
                     const tc::Rank& rank) {
  tc::DenseB<T, B_KN, true> src{B, ldb, tc::vec_ok(B, ldb), N, K, (int)blockIdx.x * tc::BN};
  wg::gemm_from<T, B_KN, RMAX, P>(A, lda, src, M, N, K, bias, y, ldy, rank);
}

}  // namespace wg
