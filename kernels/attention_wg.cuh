// Causal flash attention on the sm_90a warpgroup tensor cores (H100 / H200): the forward, described here,
// and the fused backward (its own comment, further down). The forward is attention_tc.cuh's
// forward (same semantics, layouts, arguments, online softmax in base 2, saved lse) with its products
// issued as wgmma.mma_async, 128 queries per block and the softmax of one key tile overlapping the
// P·V product of the previous one.
//   Block: 256 threads = 2 warpgroups; warpgroup w owns queries q0 + 64w .. +63 (warp i of it 16 rows,
//   accumulators in mma.sync's C layout, so the softmax and stores are attention_tc.cuh's).
//   Grid: (ceil(T/128), H, B), block x taken in reverse, so the blocks with the most key tiles start
//   first. Key tiles of BK = 128 (64 at D 256) keys, K and V double-buffered with cp.async, each
//   refilled as soon as its stage is free (K a whole iteration before its scores).
//   Per key tile j and warpgroup, with P_j already in registers:
//     issue S_{j+1} = Q·K_{j+1}ᵀ (m64 n BK, A and B from shared memory), issue O += P_j·V_j (m64 n D,
//     A = P_j from registers, B = V N-major), wait for S_{j+1}, mask it and run the online softmax
//     into P_{j+1} while P_j·V_j runs, wait for it, rescale O. So the tensor cores are busy during
//     the exp2s, the way FlashAttention-3 overlaps them inside a warpgroup.
//   Registers per thread: O D/2, S BK/2, two P's BK/4 each: 160 at D 128, 176 at D 256.
// Shared layouts (the 128-byte swizzle of gemm_wgmma.cuh: 1024-byte-aligned panels of 64 columns,
//   chunk c of 128-byte row r at c ^ (r & 7)): Q [D/64][128 rows][64], then per stage K and V
//   [D/64][BK rows][64]. The same panels are K-major for Q and K (SBO 1024, +32 B per k16, +1 panel
//   per 4 k16) and N-major for V (LBO one panel, SBO 1024, +2 KiB per 16 keys).
// Shared memory: smem<D>() = 80 / 160 / 192 KiB (D 64 / 128 / 256); plan::attention_wg_tiles mirrors it.
// Limits: as attention_tc.cuh (16-byte-aligned pointers, T, S < 2^31). Built as sm_90a; other images
//   trap (the host launches these only on compute capability 9.0, SECTUNE_ATTENTION_FWD=wgmma).
#pragma once
#include "attention_tc.cuh"
#include "gemm_tma.cuh"

namespace attn_wg {

using attn_tc::LN2;
using attn_tc::LOG2E;

constexpr int BQ = 128, THREADS = 256, PANEL = 64, ROW_BYTES = PANEL * 2;
template <int D> __host__ __device__ constexpr int bk() { return D >= 256 ? 64 : 128; }
template <int D> __host__ __device__ constexpr int q_bytes() { return BQ * D * 2; }
template <int D> __host__ __device__ constexpr int kv_bytes() { return bk<D>() * D * 2; }  // one K or V tile
template <int D> __host__ __device__ constexpr int smem() { return q_bytes<D>() + 4 * kv_bytes<D>(); }
static_assert(smem<256>() <= 232448 && smem<128>() <= 232448, "sm_90's opt-in maximum");

#if defined(SECTUNE_SIM)
template <int N, typename T, bool TA = false, bool TB = false>
__device__ __forceinline__ void mma_ss(float* d, uint64_t da, uint64_t db, int acc) {
  sim::wgmma_issue(d, da, db, TB, std::is_same<T, bf16>::value, N, acc != 0, TA);
}
template <int N, typename T>
__device__ __forceinline__ void mma_rs(float* d, const uint32_t (&a)[4], uint64_t db) {
  sim::wgmma_issue_rs(d, a, db, true, std::is_same<T, bf16>::value, N);
}
template <int R, int C> __device__ __forceinline__ void fence_regs(uint32_t (&)[R][C]) {}
#else
#define ATTN_WG_REGS32                                   \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, " \
  "%12, %13, %14, %15, %16, %17, %18, %19, %20, %21, " \
  "%22, %23, %24, %25, %26, %27, %28, %29, %30, %31"
#define ATTN_WG_D32 SECTUNE_WG_D8(0), SECTUNE_WG_D8(8), SECTUNE_WG_D8(16), SECTUNE_WG_D8(24)
#define ATTN_WG_D64 ATTN_WG_D32, SECTUNE_WG_D8(32), SECTUNE_WG_D8(40), SECTUNE_WG_D8(48), SECTUNE_WG_D8(56)
// A and B from shared memory; imm-trans-a / -b (M- / N-major) for the backward's dQ = dS·K.
#define ATTN_WG_SS64(TY)                                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %34, 0;\n"                                                 \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {" ATTN_WG_REGS32 "}, %32, %33, " \
               "p, 1, 1, %35, %36;\n}\n"                                                                    \
               : ATTN_WG_D32                                                                                \
               : "l"(da), "l"(db), "r"(acc), "n"(int(TA)), "n"(int(TB)))
// S = Q·Kᵀ step: A, B K-major from shared memory.
#define ATTN_WG_SS128(TY)                                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %66, 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" SECTUNE_WG_REGS "}, %64, %65, " \
               "p, 1, 1, %67, %68;\n}\n"                                                                     \
               : ATTN_WG_D64                                                                                 \
               : "l"(da), "l"(db), "r"(acc), "n"(int(TA)), "n"(int(TB)))
#define ATTN_WG_SS32(TY)                                                                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %18, 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n32k16.f32." TY "." TY " {%0, %1, %2, %3, %4, %5, %6, %7, " \
               "%8, %9, %10, %11, %12, %13, %14, %15}, %16, %17, p, 1, 1, %19, %20;\n}\n"                 \
               : SECTUNE_WG_D8(0), SECTUNE_WG_D8(8)                                                          \
               : "l"(da), "l"(db), "r"(acc), "n"(int(TA)), "n"(int(TB)))
// O += P·V step: A = P from four registers, B = V N-major (imm-trans-b 1).
#define ATTN_WG_RS64(TY)                                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %37, 0;\n"                                                 \
               "wgmma.mma_async.sync.aligned.m64n64k16.f32." TY "." TY " {" ATTN_WG_REGS32 "}, "           \
               "{%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                               \
               : ATTN_WG_D32                                                                                \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1))
#define ATTN_WG_RS128(TY)                                                                                    \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %69, 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n128k16.f32." TY "." TY " {" SECTUNE_WG_REGS "}, "          \
               "{%64, %65, %66, %67}, %68, p, 1, 1, 1;\n}\n"                                                \
               : ATTN_WG_D64                                                                                 \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1))
#define ATTN_WG_RS256(TY)                                                                                     \
  asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, %133, 0;\n"                                                  \
               "wgmma.mma_async.sync.aligned.m64n256k16.f32." TY "." TY " {" SECTUNE_WGT_REGS "}, "          \
               "{%128, %129, %130, %131}, %132, p, 1, 1, 1;\n}\n"                                            \
               : SECTUNE_WGT_D64(0), SECTUNE_WGT_D64(64)                                                      \
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(db), "r"(1))

template <int N, typename T, bool TA = false, bool TB = false>
__device__ __forceinline__ void mma_ss(float* d, uint64_t da, uint64_t db, int acc) {
  static_assert(N == 32 || N == 64 || N == 128, "N 32, 64 or 128");
  constexpr bool B16 = std::is_same<T, bf16>::value;
  if constexpr (N == 32 && B16) ATTN_WG_SS32("bf16");
  else if constexpr (N == 32) ATTN_WG_SS32("f16");
  else if constexpr (N == 64 && B16) ATTN_WG_SS64("bf16");
  else if constexpr (N == 64) ATTN_WG_SS64("f16");
  else if constexpr (B16) ATTN_WG_SS128("bf16");
  else ATTN_WG_SS128("f16");
}
template <int N, typename T>
__device__ __forceinline__ void mma_rs(float* d, const uint32_t (&a)[4], uint64_t db) {
  static_assert(N == 64 || N == 128 || N == 256, "head dims 64, 128, 256");
  constexpr bool B16 = std::is_same<T, bf16>::value;
  if constexpr (N == 64 && B16) ATTN_WG_RS64("bf16");
  else if constexpr (N == 64) ATTN_WG_RS64("f16");
  else if constexpr (N == 128 && B16) ATTN_WG_RS128("bf16");
  else if constexpr (N == 128) ATTN_WG_RS128("f16");
  else if constexpr (B16) ATTN_WG_RS256("bf16");
  else ATTN_WG_RS256("f16");
}
// Keeps P's registers live and unmoved until the wgmmas reading them have retired.
template <int R, int C> __device__ __forceinline__ void fence_regs(uint32_t (&r)[R][C]) {
#pragma unroll
  for (int i = 0; i < R; ++i)
#pragma unroll
    for (int j = 0; j < C; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
}
#endif

// A warp's m16n8 fragments as gemm_wgmma.cuh's one-slab accumulators (for its fences and waits).
template <int NT> __device__ __forceinline__ float (&slab(float (&a)[NT][4]))[1][NT][4] {
  return reinterpret_cast<float(&)[1][NT][4]>(a);
}

// Rows [r0, r0 + ROWS) of head h of a [B, N, Hh, D] tensor → the swizzled panels at `dst` (see the
// header) with cp.async; rows ≥ N are zero-filled.
template <typename T, int D, int ROWS>
__device__ __forceinline__ void load_panels(uint32_t dst, const T* src, int b, int r0, int h, int N, int Hh) {
  constexpr int CH = D / 8;
#pragma unroll 4
  for (int c = threadIdx.x; c < ROWS * CH; c += THREADS) {
    const int r = c / CH, ch = c % CH, row = r0 + r;
    const bool ok = row < N;
    const T* g = ok ? src + (((size_t)b * N + row) * Hh + h) * D + ch * 8 : src;
    attn_tc::cp16(dst + (uint32_t)((ch / 8) * ROWS * ROW_BYTES + r * ROW_BYTES + (((ch & 7) ^ (r & 7)) << 4)), g,
                  ok);
  }
}

// Issues S = Q·Kᵀ for this warpgroup's 64 queries and the BK keys of the tile at k_tile.
template <typename T, int D>
__device__ __forceinline__ void issue_scores(float (&s)[bk<D>() / 8][4], uint32_t q_tile, uint32_t k_tile) {
  constexpr int BK = bk<D>();
  const uint32_t qa = q_tile + (threadIdx.x >> 7) * 64 * ROW_BYTES;
  wg::fence_acc(slab(s));
  wg::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) {
    const uint32_t in_panel = (kk % 4) * 32;  // +32 B per k16 inside a 128-byte row
    mma_ss<BK, T>(&s[0][0], wg::desc(qa + (kk / 4) * BQ * ROW_BYTES + in_panel, 16, 1024),
                  wg::desc(k_tile + (kk / 4) * BK * ROW_BYTES + in_panel, 16, 1024), kk);  // kk 0: S = Q·Kᵀ
  }
  wg::wgmma_commit();
  wg::fence_acc(slab(s));
}

// Issues O += P·V over the tile's BK keys (P: one A fragment per 16 keys).
template <typename T, int D>
__device__ __forceinline__ void issue_pv(float (&o)[D / 8][4], uint32_t (&p)[bk<D>() / 16][4], uint32_t v_tile) {
  constexpr int BK = bk<D>();
  wg::fence_acc(slab(o));
  fence_regs(p);
  wg::wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < BK / 16; ++kk)
    mma_rs<D, T>(&o[0][0], p[kk], wg::desc(v_tile + kk * 16 * ROW_BYTES, BK * ROW_BYTES, 1024));
  wg::wgmma_commit();
  wg::fence_acc(slab(o));
}

// P (the exponentials left in s) as 16-bit A fragments, one per 16 keys.
template <typename T, int NT> __device__ __forceinline__ void to_a(uint32_t (&p)[NT / 2][4], const float (&s)[NT][4]) {
#pragma unroll
  for (int kk = 0; kk < NT / 2; ++kk) attn_tc::c_to_a<T>(p[kk], s[2 * kk], s[2 * kk + 1]);
}

template <typename T, int D>
__device__ void fwd(const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, int Hkv,
                    float scale) {
  constexpr int BK = bk<D>(), NT = BK / 8, DT = D / 8;
  const uint32_t q_tile = attn_tc::saddr(wg::dyn_smem()), kv = q_tile + q_bytes<D>();
  if (q_tile & 1023) __trap();  // the descriptors' 128-byte swizzle needs 1024-byte-aligned panels
  auto k_at = [&](int stage) { return kv + (uint32_t)(2 * stage * kv_bytes<D>()); };
  auto v_at = [&](int stage) { return kv + (uint32_t)((2 * stage + 1) * kv_bytes<D>()); };
  const int b = blockIdx.z, h = blockIdx.y, hk = h / (H / Hkv), q0 = (gridDim.x - 1 - blockIdx.x) * BQ;
  const int wgi = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3, off = S - T_;
  const int row0 = q0 + wgi * 64 + warp * 16 + g, row1 = row0 + 8;
  // Key tiles the block's real rows see (S ≥ T, so min(T, ·) + off ≤ S). Both warpgroups run all of
  // them: a wgmma under a condition that depends on the thread makes ptxas serialize every wgmma of
  // the kernel, and warpgroup 0 skips at most one tile (wholly masked: P = 0, factors 1).
  const int ntiles = ceil_div(min(T_, q0 + BQ) + off, BK);

  // K and V travel in separate cp.async groups, each issued as soon as its stage is free: K_{j+2}
  // once iteration j's wgmmas are issued (K_j's scores retired in iteration j − 1), V_{j+2} at its
  // end (after P_j·V_j). So each load has about an iteration of wgmmas to hide behind; the loop's
  // top waits for all but the newest group (V_{j+2}). Groups are committed even when empty, to keep
  // that count.
  load_panels<T, D, BQ>(q_tile, q, b, q0, h, T_, H);
  load_panels<T, D, BK>(k_at(0), k, b, 0, hk, S, Hkv);
  load_panels<T, D, BK>(v_at(0), v, b, 0, hk, S, Hkv);
  attn_tc::cp_commit();
  if (ntiles > 1) load_panels<T, D, BK>(k_at(1), k, b, BK, hk, S, Hkv);
  attn_tc::cp_commit();
  if (ntiles > 1) load_panels<T, D, BK>(v_at(1), v, b, BK, hk, S, Hkv);
  attn_tc::cp_commit();
  attn_tc::cp_wait<2>();  // Q, K_0, V_0
  wg::fence_to_async_proxy();
  __syncthreads();

  float o[DT][4], s[NT][4];
  uint32_t p[NT / 2][4];
#pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // rows g and g+8, base-2 units
  const float sl2 = scale * LOG2E;
  // Masks decided per block (q0: its first row), not per warp: a branch that differs between the
  // warps of a warpgroup around the wgmmas' accumulators makes ptxas serialize them.
  auto need_mask = [&](int kv0) { return kv0 + BK > min(q0 + off + 1, S); };
  issue_scores<T, D>(s, q_tile, k_at(0));
  wg::wait<0>(slab(s));
  attn_tc::online_softmax(s, m0, m1, l0, l1, 0, need_mask(0), row0, off, S, sl2);
  to_a<T>(p, s);
  // Tiles 0 .. ntiles − 2; the last tile's P·V follows the loop (no wgmma under a branch).
  for (int j = 0; j + 1 < ntiles; ++j) {
    const int st = j & 1;
    attn_tc::cp_wait<1>();  // K_{j+1} and V_j have landed for every thread; V_{j+1} may not have
    wg::fence_to_async_proxy();
    __syncthreads();
    issue_scores<T, D>(s, q_tile, k_at(st ^ 1));
    issue_pv<T, D>(o, p, v_at(st));
    // K_j's stage has no reader left.
    if (j + 2 < ntiles) load_panels<T, D, BK>(k_at(st), k, b, (j + 2) * BK, hk, S, Hkv);
    attn_tc::cp_commit();
    wg::wait<1>(slab(s));  // S_{j+1} is in; P_j·V_j may still run
    const float2 c = attn_tc::online_softmax(s, m0, m1, l0, l1, (j + 1) * BK, need_mask((j + 1) * BK), row0, off, S, sl2);
    wg::wait<0>(slab(o));
    fence_regs(p);
    to_a<T>(p, s);  // after the wait: defining A's registers while any wgmma runs serializes them all
#pragma unroll
    for (int i = 0; i < DT; ++i) {
      o[i][0] *= c.x;
      o[i][1] *= c.x;
      o[i][2] *= c.y;
      o[i][3] *= c.y;
    }
    __syncthreads();  // both warpgroups are done with V_j: refill its stage
    if (j + 2 < ntiles) load_panels<T, D, BK>(v_at(st), v, b, (j + 2) * BK, hk, S, Hkv);
    attn_tc::cp_commit();
  }
  attn_tc::cp_wait<0>();  // V of the last tile
  wg::fence_to_async_proxy();
  __syncthreads();
  issue_pv<T, D>(o, p, v_at((ntiles - 1) & 1));
  wg::wait<0>(slab(o));
  fence_regs(p);
  l0 = attn_tc::quad_sum(l0);
  l1 = attn_tc::quad_sum(l1);
  const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
#pragma unroll
  for (int i = 0; i < DT; ++i) {
    const int col = i * 8 + 2 * t4;
    if (row0 < T_)
      *reinterpret_cast<uint32_t*>(out + (((size_t)b * T_ + row0) * H + h) * D + col) =
          attn_tc::pack2<T>(o[i][0] * inv0, o[i][1] * inv0);
    if (row1 < T_)
      *reinterpret_cast<uint32_t*>(out + (((size_t)b * T_ + row1) * H + h) * D + col) =
          attn_tc::pack2<T>(o[i][2] * inv1, o[i][3] * inv1);
  }
  if (t4 == 0) {
    if (row0 < T_) lse[((size_t)b * H + h) * T_ + row0] = m0 * LN2 + logf(l0);
    if (row1 < T_) lse[((size_t)b * H + h) * T_ + row1] = m1 * LN2 + logf(l1);
  }
}


// ---- backward: attention_tc's fused backward on wgmma ---------------------------------------------------
// Loops over the GQA group's heads and the 64-query tiles that see the block's keys, Q, dO, lse and Δ
// double-buffered; dQ is added into dq_acc with atomics and dq_convert finishes it, as attention_tc's.
// D 64 / 128: 128 keys per block, 64 per warpgroup. Per tile and warpgroup: Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ
//   (m64 n64, both from shared memory), P and dS = P⊙(dP − Δ) in registers, dV += Pᵀ·dO and
//   dK += dSᵀ·Q with Pᵀ and dSᵀ as register A (Q and dO N-major), dSᵀ also to shared memory
//   [key][query]; after a barrier dQ += dS·K from it (A M-major, K N-major: D 128, warpgroup w the 64
//   columns of panel w over all 128 keys; D 64, all 64 columns over its own keys).
// D 256 (SPLIT): dK and dV of 64 keys × 256 do not fit one warpgroup, so both warpgroups share 64 keys
//   and split D: warpgroup w forms Sᵀ and dPᵀ for queries 32w .. +31 (m64 n32), writes its Pᵀ and dSᵀ
//   columns to shared memory, and after a barrier accumulates dV, dK and dQ for columns 128w .. +127
//   with A = Pᵀ, dSᵀ (K-major) and dS (M-major) from there.
template <int D> __host__ __device__ constexpr bool split_d() { return D >= 256; }
template <int D> __host__ __device__ constexpr int bkv() { return split_d<D>() ? 64 : 128; }
constexpr int BQT = 64;
template <int D> __host__ __device__ constexpr int kv_tile_bytes() { return bkv<D>() * D * 2; }
template <int D> __host__ __device__ constexpr int q_tile_bytes() { return BQT * D * 2; }
template <int D> __host__ __device__ constexpr int ds_bytes() { return bkv<D>() * BQT * 2; }  // one [key][query] tile
// K, V, Q [2], dO [2], dSᵀ (and Pᵀ when SPLIT), then lse and Δ [2][BQT] f32: 81 / 145 / 209 KiB.
template <int D> __host__ __device__ constexpr int smem_bwd() {
  return 2 * kv_tile_bytes<D>() + 4 * q_tile_bytes<D>() + (split_d<D>() ? 2 : 1) * ds_bytes<D>() + 4 * BQT * 4;
}
static_assert(smem_bwd<256>() <= 232448, "sm_90's opt-in maximum");

template <typename T, int D>
__device__ void bwd(const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dk,
                    T* dv, float* dq_acc, int T_, int S, int H, int Hkv, float scale) {
  constexpr bool SPLIT = split_d<D>();
  constexpr int BKV = bkv<D>(), KVB = kv_tile_bytes<D>(), QB = q_tile_bytes<D>();
  constexpr int DW = SPLIT ? D / 2 : D, DTW = DW / 8;  // dK / dV columns per warpgroup
  constexpr int NQ = SPLIT ? BQT / 2 : BQT, NTS = NQ / 8;  // S / dP query columns per warpgroup
  unsigned char* const base = wg::dyn_smem();
  const uint32_t ks = attn_tc::saddr(base), vs = ks + KVB, qs = vs + KVB, dos = qs + 2 * QB, dss = dos + 2 * QB;
  if (ks & 1023) __trap();  // as in fwd
  const uint32_t pss = dss + ds_bytes<D>();  // Pᵀ (SPLIT)
  unsigned char* const ds_tile = base + (dss - ks);
  unsigned char* const p_tile = base + (pss - ks);
  float* const lse_s = reinterpret_cast<float*>(base + (pss - ks) + (SPLIT ? ds_bytes<D>() : 0));  // [2][BQT], base 2
  float* const dl_s = lse_s + 2 * BQT;                                                              // [2][BQT]
  const int b = blockIdx.z, hk = blockIdx.y, group = H / Hkv, k0 = blockIdx.x * BKV;
  const int wgi = threadIdx.x >> 7, warp = (threadIdx.x >> 5) & 3, lane = threadIdx.x & 31;
  const int g = lane >> 2, t4 = lane & 3, off = S - T_;  // key tk is seen by queries tq ≥ tk − off
  const int key_base = SPLIT ? 0 : wgi * 64;              // the warpgroup's first key row in the block
  const int kr0 = key_base + warp * 16 + g, krow0 = k0 + kr0, krow1 = krow0 + 8;
  const int q_base = SPLIT ? wgi * NQ : 0;  // the warpgroup's first query column of S / dP
  const int col_base = SPLIT ? wgi * DW : 0;  // its first dK / dV column
  const int qstart = (max(0, k0 - off) / BQT) * BQT;  // < T since k0 < S
  const int n_qt = ceil_div(T_ - qstart, BQT), total = group * n_qt;
  const float sl2 = scale * LOG2E;

  auto issue = [&](int it) {
    const int st = it & 1, h = hk * group + it / n_qt, qt0 = qstart + (it % n_qt) * BQT;
    load_panels<T, D, BQT>(qs + st * QB, q, b, qt0, h, T_, H);
    load_panels<T, D, BQT>(dos + st * QB, dout, b, qt0, h, T_, H);
    for (int e = threadIdx.x; e < BQT; e += THREADS) {
      const int tq = qt0 + e;
      const size_t i = ((size_t)b * H + h) * T_ + tq;
      lse_s[st * BQT + e] = tq < T_ ? lse[i] * LOG2E : 0.f;
      dl_s[st * BQT + e] = tq < T_ ? delta[i] : 0.f;
    }
  };
  load_panels<T, D, BKV>(ks, k, b, k0, hk, S, Hkv);
  load_panels<T, D, BKV>(vs, v, b, k0, hk, S, Hkv);
  issue(0);
  attn_tc::cp_commit();

  float gk[DTW][4], gv[DTW][4];  // dK (unscaled), dV: the warpgroup's keys × its DW columns
#pragma unroll
  for (int i = 0; i < DTW; ++i)
#pragma unroll
    for (int e = 0; e < 4; ++e) gk[i][e] = gv[i][e] = 0.f;

  for (int it = 0; it < total; ++it) {
    const int st = it & 1, h = hk * group + it / n_qt, qt0 = qstart + (it % n_qt) * BQT;
    attn_tc::cp_wait<0>();
    wg::fence_to_async_proxy();
    __syncthreads();  // tile it is in; every warpgroup is done with it − 1's stage, Pᵀ and dSᵀ
    const uint32_t qst = qs + st * QB, dost = dos + st * QB;

    // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ: the warpgroup's 64 keys × its NQ queries.
    float s[NTS][4], dp[NTS][4];
    wg::fence_acc(slab(s));
    wg::fence_acc(slab(dp));
    wg::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      const uint32_t a_off = (kk / 4) * BKV * ROW_BYTES + key_base * ROW_BYTES + (kk % 4) * 32;
      const uint32_t b_off = (kk / 4) * BQT * ROW_BYTES + q_base * ROW_BYTES + (kk % 4) * 32;
      mma_ss<NQ, T>(&s[0][0], wg::desc(ks + a_off, 16, 1024), wg::desc(qst + b_off, 16, 1024), kk);
      mma_ss<NQ, T>(&dp[0][0], wg::desc(vs + a_off, 16, 1024), wg::desc(dost + b_off, 16, 1024), kk);
    }
    wg::wgmma_commit();
    // Tile it + 1 (stage st ^ 1, free since the barrier above) while S and dP run.
    if (it + 1 < total) issue(it + 1);
    attn_tc::cp_commit();
    wg::wait<0>(slab(s));
    wg::fence_acc(slab(dp));

    // P = 2^(S·scale·log2 e − lse) (0 where masked) and dSᵀ = P⊙(dP − Δ), per query column.
    const float* lst = lse_s + st * BQT;
    const float* dst = dl_s + st * BQT;
    const bool need_mask = qt0 + BQT > T_ || k0 + BKV - 1 > qt0 + off;  // per block: no divergent wgmma
#pragma unroll
    for (int j = 0; j < NTS; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int c = q_base + j * 8 + 2 * t4 + (e & 1);
        float p = exp2f(fmaf(s[j][e], sl2, -lst[c]));
        if (need_mask) {
          const int tq = qt0 + c, tk = e < 2 ? krow0 : krow1;
          if (tq >= T_ || tk > tq + off) p = 0.f;
        }
        s[j][e] = p;
        dp[j][e] = p * (dp[j][e] - dst[c]);
      }
    // dSᵀ (and Pᵀ) [key][query] in shared memory, rounded as dK / dV use them: one 128-byte row per
    // key, query chunk c at c ^ (key & 7).
#pragma unroll
    for (int j = 0; j < NTS; ++j) {
      const int at = kr0 * ROW_BYTES + (((q_base / 8 + j) ^ (kr0 & 7)) << 4) + 4 * t4;
      *reinterpret_cast<uint32_t*>(ds_tile + at) = attn_tc::pack2<T>(dp[j][0], dp[j][1]);
      *reinterpret_cast<uint32_t*>(ds_tile + at + 8 * ROW_BYTES) = attn_tc::pack2<T>(dp[j][2], dp[j][3]);
      if constexpr (SPLIT) {
        *reinterpret_cast<uint32_t*>(p_tile + at) = attn_tc::pack2<T>(s[j][0], s[j][1]);
        *reinterpret_cast<uint32_t*>(p_tile + at + 8 * ROW_BYTES) = attn_tc::pack2<T>(s[j][2], s[j][3]);
      }
    }
    wg::fence_to_async_proxy();  // the stores above, for the wgmmas after the barrier

    // dV += Pᵀ·dO and dK += dSᵀ·Q over the warpgroup's columns (B N-major: LBO one 64-column panel,
    // +2 KiB per 16 queries).
    const uint32_t b_cols = (col_base / 64) * BQT * ROW_BYTES;
    uint32_t pa[NTS / 2][4], da[NTS / 2][4];
    if constexpr (!SPLIT) {  // Pᵀ and dSᵀ straight from the registers
      to_a<T>(pa, s);
      to_a<T>(da, dp);
      wg::fence_acc(slab(gv));
      wg::fence_acc(slab(gk));
      fence_regs(pa);
      fence_regs(da);
      wg::wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BQT / 16; ++kk) {
        mma_rs<D, T>(&gv[0][0], pa[kk], wg::desc(dost + kk * 16 * ROW_BYTES, BQT * ROW_BYTES, 1024));
        mma_rs<D, T>(&gk[0][0], da[kk], wg::desc(qst + kk * 16 * ROW_BYTES, BQT * ROW_BYTES, 1024));
      }
      wg::wgmma_commit();
      wg::fence_acc(slab(gv));
      wg::fence_acc(slab(gk));
    }
    __syncthreads();  // both warpgroups' dSᵀ (and Pᵀ) are in shared memory
    if constexpr (SPLIT) {  // A = Pᵀ, dSᵀ K-major from shared memory, all 64 queries
      wg::fence_acc(slab(gv));
      wg::fence_acc(slab(gk));
      wg::wgmma_fence();
#pragma unroll
      for (int kk = 0; kk < BQT / 16; ++kk) {
        const uint64_t b_do = wg::desc(dost + b_cols + kk * 16 * ROW_BYTES, BQT * ROW_BYTES, 1024);
        const uint64_t b_q = wg::desc(qst + b_cols + kk * 16 * ROW_BYTES, BQT * ROW_BYTES, 1024);
        mma_ss<DW, T, false, true>(&gv[0][0], wg::desc(pss + kk * 32, 16, 1024), b_do, 1);
        mma_ss<DW, T, false, true>(&gk[0][0], wg::desc(dss + kk * 32, 16, 1024), b_q, 1);
      }
      wg::wgmma_commit();
      wg::fence_acc(slab(gv));
      wg::fence_acc(slab(gk));
    }

    // dQ for the tile's 64 queries: A = dS, M-major from dSᵀ; B = K, N-major. D 128: warpgroup w the
    // columns of panel w over all 128 keys; D 64: all 64 columns over its own keys; D 256: columns
    // 128w .. +127 over the 64 keys.
    constexpr int DQ_N = SPLIT ? DW : 64, DQ_KEYS = D == 64 ? 64 : BKV;
    const int key0 = D == 64 ? wgi * 64 : 0, dq_col0 = D == 64 ? 0 : wgi * DQ_N;
    float dq[DQ_N / 8][4];
    wg::fence_acc(slab(dq));
    wg::wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < DQ_KEYS / 16; ++kk) {
      const uint32_t row = (key0 + kk * 16) * ROW_BYTES;
      mma_ss<DQ_N, T, true, true>(&dq[0][0], wg::desc(dss + row, BKV * ROW_BYTES, 1024),
                                  wg::desc(ks + (dq_col0 / 64) * BKV * ROW_BYTES + row, BKV * ROW_BYTES, 1024), kk);
    }
    wg::wgmma_commit();
    wg::wait<0>(slab(dq));  // and dV / dK's
    wg::fence_acc(slab(gv));
    wg::fence_acc(slab(gk));
    if constexpr (!SPLIT) {
      fence_regs(pa);
      fence_regs(da);
    }
    const int q0 = qt0 + warp * 16 + g;
#pragma unroll
    for (int j = 0; j < DQ_N / 8; ++j) {
      const int col = dq_col0 + j * 8 + 2 * t4;
      if (q0 < T_) attn_tc::atomic_add2(dq_acc + (((size_t)b * T_ + q0) * H + h) * D + col, dq[j][0], dq[j][1]);
      if (q0 + 8 < T_)
        attn_tc::atomic_add2(dq_acc + (((size_t)b * T_ + q0 + 8) * H + h) * D + col, dq[j][2], dq[j][3]);
    }
  }
  attn_tc::store_kv_grads<T, D>(dk, dv, gk, gv, col_base, t4, krow0, b, S, Hkv, hk, scale);
}

}  // namespace attn_wg
