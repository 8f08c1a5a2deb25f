// Tensor-core causal flash attention (FlashAttention-2 style) for f16/bf16 on sm_80+, forward and
// backward, with GQA and a KV offset. Same semantics, layouts and arguments as attention.cuh:
//   q, out, dO, dQ [B,T,H,D]; k, v, dK, dV [B,S,Hkv,D] in the stored dtype; lse, Δ [B,H,T] fp32,
//   lse = ln Σ_j exp(scale·s_ij); key j visible to query i iff j ≤ i + (S − T); S ≥ T ≥ 1;
//   query head h reads kv head h / (H/Hkv). Δ = rowsum(dO⊙O) comes from attention_bwd_delta.
// Entry points (attention_tc.cu): attention_tc_{fwd,bwd_dq,bwd_dkv,bwd_fused}_d{64,128,256}_{f16,bf16}
//   and attention_tc_dq_convert_{f16,bf16}.
// Launch (host mirror: plan::attention_tc_tiles; all 128 threads = 4 warps, dynamic smem):
//   fwd: grid (ceil(T/64), H, B), 64 queries per block, 16 per warp; key tiles of FWD_BK
//        (64; 32 for D 256), double-buffered with cp.async; Q fragments in registers for D ≤ 128.
//   dq:  grid (ceil(T/64), H, B), as fwd, key tiles of DQ_BK (64 / 32 / 16 for D 64 / 128 / 256).
//        Recomputes P = exp(S − lse), dS = P⊙(dP − Δ), dQ = scale·dS·K.
//   dkv: grid (ceil(S/DKV_BK), Hkv, B), DKV_BK keys per block (64; 32 for D 256, where two warps
//        share 16 keys and each accumulates one half of D), looping over the H/Hkv query heads of
//        the group and the query tiles (DKV_BQ: 64 / 32 / 16) that see the block's keys; the sums
//        stay in registers, so no atomics and the result is deterministic.
//   fused (the alternative to dq + dkv, plan::AttentionBwd): dkv's grid and loop; per query tile
//        the block also writes its dSᵀ to shared memory and adds dS·K (unscaled) into dq_acc
//        [B,T,H,D] f32, which the host zeroes first, with atomics; dq_convert then writes
//        dQ = scale·dq_acc in T. S and dP are formed once per tile pair instead of twice; at D 256
//        the two warps that share 16 keys split them by query columns and exchange P and dS
//        through shared memory (the split dkv kernel forms them in both warps).
//   smem bytes = smem_*() below: fwd 46080 / 87040 / 101376, dq 55296 / 69632 / 101376,
//        dkv 56320 / 70144 / 67840, fused 65536 / 75264 / 70912 (D 64 / 128 / 256): all ≤ 99 KB
//        (sm_86/89's per-block limit), above 48 KB the host opts the function in.
// Shared memory rows are padded by 8 elements (16 B): a row is D·2+16 bytes, so the 8 row
// addresses of one ldmatrix 8×8 matrix (same column chunk, 8 consecutive rows) land on 8 distinct
// 16-byte bank groups: conflict-free.
// Fragment layouts relied on (PTX ISA, mma.m16n8k16 with .f16/.bf16 inputs, f32 accumulate;
// g = lane/4, t = lane%4; each .b32 register holds two 16-bit elements, the lower column/row
// index in the low half):
//   A (16×16, row-major): a0 = A[g][2t,2t+1], a1 = A[g+8][2t,2t+1], a2 = A[g][2t+8,2t+9],
//                         a3 = A[g+8][2t+8,2t+9]
//   B (16×8, "col"):      b0 = B[2t,2t+1][g], b1 = B[2t+8,2t+9][g]   (B[k][n])
//   C (16×8 f32):         c0,c1 = C[g][2t,2t+1], c2,c3 = C[g+8][2t,2t+1]
//   ldmatrix.x4: lanes 8i..8i+7 give the row addresses of matrix i, result register i; a lane
//     gets M_i[lane/4][2(lane%4), +1], with .trans M_i[2(lane%4), +1][lane/4].
//   So: A from a row-major [row][k] tile: lane → row (lane&15), col k0 + (lane>>4)·8.
//       B = Xᵀ for X stored [n][k] (K in S = Q·Kᵀ): lane → row n0 + (lane&7) + (lane>>4)·8,
//         col k0 + ((lane>>3)&1)·8; registers (b0,b1) of n-tile n0 and (b0,b1) of n0+8.
//       B = X for X stored [k][n] (V in P·V), .trans: lane → row k0 + (lane&7) + ((lane>>3)&1)·8,
//         col n0 + (lane>>4)·8; registers (b0,b1) of n-tile n0 and (b0,b1) of n0+8.
//       C of n-tiles 2k, 2k+1 → A of k-slice k: a0 = pack(c0,c1 of 2k), a1 = pack(c2,c3 of 2k),
//         a2 = pack(c0,c1 of 2k+1), a3 = pack(c2,c3 of 2k+1)  (P and dS reuse, no smem trip).
// Softmax in base 2: x = s·scale·log2(e), m = max x, p = 2^(x − m), lse = m·ln 2 + ln l.
// Limits: pointers 16-byte aligned (cp.async 16 B; cudarc's allocations are); B·T·H·D < 2^63,
//   T, S < 2^31. In sm_75 images the entry points are stubs that trap (the host uses them only on
//   sm_80+).
// Verified: compiles for sm_80/86/89/90 with zero spills (ptxas); fwd/dq/dkv ran on H100/H200, the
// fused backward so far only in the CPU emulator (tests/host/sim_attention.cpp). See docs/cuda.md.
#pragma once
#include "common.cuh"

namespace attn_tc {

constexpr int THREADS = 128, WARPS = 4, PAD = 8;

template <int D> __host__ __device__ constexpr int fwd_bk() { return D >= 256 ? 32 : 64; }
template <int D> __host__ __device__ constexpr int dq_bk() { return D >= 256 ? 16 : D >= 128 ? 32 : 64; }
// dkv: output columns each warp accumulates (D, or D/2 for D 256), keys per block, queries per tile.
template <int D> __host__ __device__ constexpr int dkv_dw() { return D >= 256 ? D / 2 : D; }
template <int D> __host__ __device__ constexpr int dkv_bk() { return 16 * WARPS / (D / dkv_dw<D>()); }
template <int D> __host__ __device__ constexpr int dkv_bq() { return D >= 256 ? 16 : D >= 128 ? 32 : 64; }
constexpr int BQ = 64;  // fwd and dq queries per block

template <int D> __host__ __device__ constexpr int smem_fwd() { return (BQ + 4 * fwd_bk<D>()) * (D + PAD) * 2; }
template <int D> __host__ __device__ constexpr int smem_dq() { return (2 * BQ + 4 * dq_bk<D>()) * (D + PAD) * 2; }
template <int D> __host__ __device__ constexpr int smem_dkv() {
  return (2 * dkv_bk<D>() + 4 * dkv_bq<D>()) * (D + PAD) * 2 + 4 * dkv_bq<D>() * 4;
}
// fused: dkv's buffers plus the block's dSᵀ tile [dkv_bk][dkv_bq + PAD] in 16 bits, and a Pᵀ tile
// of that size where two warps share 16 keys (D 256).
template <int D> __host__ __device__ constexpr int smem_fused() {
  return smem_dkv<D>() + (D / dkv_dw<D>()) * dkv_bk<D>() * (dkv_bq<D>() + PAD) * 2;
}
static_assert(smem_fwd<256>() <= 101376 && smem_dq<256>() <= 101376 && smem_fused<256>() <= 101376, "99 KB");
static_assert(smem_fwd<128>() <= 101376 && smem_dq<128>() <= 101376 && smem_fused<128>() <= 101376, "99 KB");
static_assert(smem_fused<64>() <= 101376, "99 KB");

constexpr float LOG2E = 1.4426950408889634f, LN2 = 0.6931471805599453f;

SECTUNE_DYNAMIC_SMEM(16, tc_smem);

__device__ __forceinline__ uint32_t saddr(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }

#if defined(SECTUNE_SIM)  // tests/host/sim: the same operations emulated on the CPU, per the PTX ISA
__device__ __forceinline__ void cp16(uint32_t dst, const void* src, bool valid) { sim::cp_async(dst, src, valid ? 16 : 0); }
__device__ __forceinline__ void cp_commit() { sim::cp_async_commit(); }
template <int N> __device__ __forceinline__ void cp_wait() { sim::cp_async_wait(N); }
__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], uint32_t addr) { sim::ldmatrix_x4(r, addr, false); }
__device__ __forceinline__ void ldsm4t(uint32_t (&r)[4], uint32_t addr) { sim::ldmatrix_x4(r, addr, true); }
template <typename T> __device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  const uint32_t b[2] = {b0, b1};
  sim::mma_m16n8k16(c, a, b, std::is_same<T, bf16>::value);
}
#else
// 16 bytes global → shared; src_size 0 zero-fills (rows past the end; src stays a valid address).
__device__ __forceinline__ void cp16(uint32_t dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N> __device__ __forceinline__ void cp_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

// volatile: the same smem address holds different tiles over the loop, so no CSE across barriers.
__device__ __forceinline__ void ldsm4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldsm4t(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// c += A·B for one m16n8k16 tile.
template <typename T> __device__ __forceinline__ void mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <> __device__ __forceinline__ void mma<f16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <> __device__ __forceinline__ void mma<bf16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
#endif

// Two floats → one .b32 of two 16-bit values, `lo` in the low half.
template <typename T> __device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <> __device__ __forceinline__ uint32_t pack2<f16>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <> __device__ __forceinline__ uint32_t pack2<bf16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

// A fragment of k-slice kk from the C accumulators of n-tiles 2kk and 2kk+1.
template <typename T>
__device__ __forceinline__ void c_to_a(uint32_t (&a)[4], const float (&c0)[4], const float (&c1)[4]) {
  a[0] = pack2<T>(c0[0], c0[1]);
  a[1] = pack2<T>(c0[2], c0[3]);
  a[2] = pack2<T>(c1[0], c1[1]);
  a[3] = pack2<T>(c1[2], c1[3]);
}

// Rows [r0, r0+ROWS) of head h of a [B, N, Hh, D] tensor → smem at `dst` (row stride D+PAD
// elements) with cp.async; rows ≥ N are zero-filled.
template <typename T, int D, int ROWS>
__device__ __forceinline__ void load_tile(uint32_t dst, const T* src, int b, int r0, int h, int N, int Hh) {
  constexpr int CH = D / 8;
  #pragma unroll
  for (int c = threadIdx.x; c < ROWS * CH; c += THREADS) {
    const int r = c / CH, ch = c % CH, row = r0 + r;
    const bool ok = row < N;
    const T* g = ok ? src + (((size_t)b * N + row) * Hh + h) * D + ch * 8 : src;
    cp16(dst + (uint32_t)((r * (D + PAD) + ch * 8) * 2), g, ok);
  }
}

// Lane offsets (in elements) of the three ldmatrix patterns, for a row stride LD.
struct Lanes {
  int a, b, bt;
  __device__ __forceinline__ Lanes(int lane, int ld) {
    a = (lane & 15) * ld + (lane >> 4) * 8;                               // A, row-major
    b = ((lane & 7) + (lane >> 4) * 8) * ld + ((lane >> 3) & 1) * 8;      // B = Xᵀ, X [n][k]
    bt = ((lane & 7) + ((lane >> 3) & 1) * 8) * ld + (lane >> 4) * 8;     // B = X, X [k][n], .trans
  }
};

__device__ __forceinline__ float quad_max(float v) {
  v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 1));
  return fmaxf(v, __shfl_xor_sync(0xffffffffu, v, 2));
}
__device__ __forceinline__ float quad_sum(float v) {
  v += __shfl_xor_sync(0xffffffffu, v, 1);
  return v + __shfl_xor_sync(0xffffffffu, v, 2);
}

// Online softmax of the scores s of key tile kv0 for rows row0 and row0 + 8 (a warp's m16 fragments):
// scale to base 2, mask where need_mask (causal, keys ≥ S), update the running max m and the
// per-thread partial sums l, leave P = 2^(x − m) in s and return the factors the older O rows must be
// multiplied by. Shared by this forward and attention_wg.cuh's.
template <int NT>
__device__ __forceinline__ float2 online_softmax(float (&s)[NT][4], float& m0, float& m1, float& l0, float& l1,
                                                 int kv0, bool need_mask, int row0, int off, int S, float sl2) {
  const int t4 = threadIdx.x & 3;
  float mx0 = -INFINITY, mx1 = -INFINITY;
  #pragma unroll
  for (int j = 0; j < NT; ++j)
    #pragma unroll
    for (int e = 0; e < 4; ++e) {
      float x = s[j][e] * sl2;
      if (need_mask) {
        const int key = kv0 + j * 8 + 2 * t4 + (e & 1), row = e < 2 ? row0 : row0 + 8;
        if (key > row + off || key >= S) x = -INFINITY;
      }
      s[j][e] = x;
      if (e < 2) mx0 = fmaxf(mx0, x);
      else mx1 = fmaxf(mx1, x);
    }
  const float mn0 = fmaxf(m0, quad_max(mx0)), mn1 = fmaxf(m1, quad_max(mx1));
  const float mu0 = mn0 == -INFINITY ? 0.f : mn0, mu1 = mn1 == -INFINITY ? 0.f : mn1;
  const float2 c = make_float2(exp2f(m0 - mu0), exp2f(m1 - mu1));
  m0 = mn0;
  m1 = mn1;
  float ps0 = 0.f, ps1 = 0.f;
  #pragma unroll
  for (int j = 0; j < NT; ++j) {
    s[j][0] = exp2f(s[j][0] - mu0);
    s[j][1] = exp2f(s[j][1] - mu0);
    s[j][2] = exp2f(s[j][2] - mu1);
    s[j][3] = exp2f(s[j][3] - mu1);
    ps0 += s[j][0] + s[j][1];
    ps1 += s[j][2] + s[j][3];
  }
  l0 = l0 * c.x + ps0;  // per-thread partial sums; the quad adds them up at the end
  l1 = l1 * c.y + ps1;
  return c;
}

// The top of a loop over key tiles double-buffered in ks / vs ([2][BK][LD]): waits for tile it (the
// only cp.async group in flight), one barrier (tile it is visible to every thread, and every warp is
// done with tile it − 1, whose stage takes tile it + 1), then issues tile it + 1, which loads while
// tile it is multiplied. One barrier per tile.
template <typename T, int D, int BK, int LD>
__device__ __forceinline__ void next_kv_tile(T* ks, T* vs, const T* k, const T* v, int it, int ntiles, int b, int hk,
                                             int S, int Hkv) {
  cp_wait<0>();
  __syncthreads();
  if (it + 1 < ntiles) {
    const int st = (it + 1) & 1;
    load_tile<T, D, BK>(saddr(ks + st * BK * LD), k, b, (it + 1) * BK, hk, S, Hkv);
    load_tile<T, D, BK>(saddr(vs + st * BK * LD), v, b, (it + 1) * BK, hk, S, Hkv);
  }
  cp_commit();
}

template <typename T, int D>
__device__ void fwd(const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, int Hkv,
                    float scale) {
  constexpr int BK = fwd_bk<D>(), LD = D + PAD, NT = BK / 8, DT = D / 8, KS = D / 16;
  constexpr bool Q_REGS = D <= 128;
  T* qs = reinterpret_cast<T*>(tc_smem);  // [BQ][LD]
  T* ks = qs + BQ * LD;                   // [2][BK][LD]
  T* vs = ks + 2 * BK * LD;               // [2][BK][LD]
  const int b = blockIdx.z, h = blockIdx.y, hk = h / (H / Hkv), q0 = blockIdx.x * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t4 = lane & 3;
  const int off = S - T_;
  const int ntiles = ceil_div(min(S, q0 + BQ + off), BK);  // ≥ 1: q0 + BQ + off ≥ 1 and S ≥ 1
  const int wq0 = q0 + warp * 16, row0 = wq0 + g, row1 = row0 + 8;
  const Lanes ln(lane, LD);
  const uint32_t qs_a = saddr(qs) + (uint32_t)((warp * 16 * LD + ln.a) * 2);

  load_tile<T, D, BQ>(saddr(qs), q, b, q0, h, T_, H);
  load_tile<T, D, BK>(saddr(ks), k, b, 0, hk, S, Hkv);
  load_tile<T, D, BK>(saddr(vs), v, b, 0, hk, S, Hkv);
  cp_commit();

  float o[DT][4];
  #pragma unroll
  for (int i = 0; i < DT; ++i) o[i][0] = o[i][1] = o[i][2] = o[i][3] = 0.f;
  float m0 = -INFINITY, m1 = -INFINITY, l0 = 0.f, l1 = 0.f;  // rows g and g+8, base-2 units
  uint32_t qf[Q_REGS ? KS : 1][4];
  const float sl2 = scale * LOG2E;

  for (int it = 0; it < ntiles; ++it) {
    const int st = it & 1, kv0 = it * BK;
    next_kv_tile<T, D, BK, LD>(ks, vs, k, v, it, ntiles, b, hk, S, Hkv);
    if (Q_REGS && it == 0) {
      #pragma unroll
      for (int kk = 0; kk < (Q_REGS ? KS : 1); ++kk) ldsm4(qf[kk], qs_a + kk * 32);
    }
    if (wq0 < T_ && kv0 <= wq0 + 15 + off) {  // warp-uniform: a real row of the warp sees the tile
      const uint32_t k_b = saddr(ks + st * BK * LD) + (uint32_t)(ln.b * 2);
      const uint32_t v_bt = saddr(vs + st * BK * LD) + (uint32_t)(ln.bt * 2);
      float s[NT][4];
      #pragma unroll
      for (int j = 0; j < NT; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
      #pragma unroll
      for (int kk = 0; kk < KS; ++kk) {
        uint32_t a[4];
        if constexpr (Q_REGS) {
          a[0] = qf[kk][0], a[1] = qf[kk][1], a[2] = qf[kk][2], a[3] = qf[kk][3];
        } else {
          ldsm4(a, qs_a + kk * 32);
        }
        #pragma unroll
        for (int j = 0; j < NT; j += 2) {
          uint32_t bb[4];
          ldsm4(bb, k_b + (uint32_t)((j * 8 * LD + kk * 16) * 2));
          mma<T>(s[j], a, bb[0], bb[1]);
          mma<T>(s[j + 1], a, bb[2], bb[3]);
        }
      }
      // Scale to base 2, mask (causal, keys ≥ S), online softmax over the two rows.
      const float2 c = online_softmax(s, m0, m1, l0, l1, kv0, kv0 + BK > min(wq0 + off + 1, S), row0, off, S, sl2);
      const float c0 = c.x, c1 = c.y;
      #pragma unroll
      for (int i = 0; i < DT; ++i) {
        o[i][0] *= c0;
        o[i][1] *= c0;
        o[i][2] *= c1;
        o[i][3] *= c1;
      }
      // O += P·V with P (16-bit) straight from the score registers.
      #pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) {
        uint32_t pa[4];
        c_to_a<T>(pa, s[2 * kk], s[2 * kk + 1]);
        #pragma unroll
        for (int i = 0; i < DT; i += 2) {
          uint32_t bb[4];
          ldsm4t(bb, v_bt + (uint32_t)((kk * 16 * LD + i * 8) * 2));
          mma<T>(o[i], pa, bb[0], bb[1]);
          mma<T>(o[i + 1], pa, bb[2], bb[3]);
        }
      }
    }
  }
  l0 = quad_sum(l0);
  l1 = quad_sum(l1);
  const float inv0 = l0 > 0.f ? 1.f / l0 : 0.f, inv1 = l1 > 0.f ? 1.f / l1 : 0.f;
  #pragma unroll
  for (int i = 0; i < DT; ++i) {
    const int col = i * 8 + 2 * t4;
    if (row0 < T_)
      *reinterpret_cast<uint32_t*>(out + (((size_t)b * T_ + row0) * H + h) * D + col) =
          pack2<T>(o[i][0] * inv0, o[i][1] * inv0);
    if (row1 < T_)
      *reinterpret_cast<uint32_t*>(out + (((size_t)b * T_ + row1) * H + h) * D + col) =
          pack2<T>(o[i][2] * inv1, o[i][3] * inv1);
  }
  if (t4 == 0) {
    if (row0 < T_) lse[((size_t)b * H + h) * T_ + row0] = m0 * LN2 + logf(l0);
    if (row1 < T_) lse[((size_t)b * H + h) * T_ + row1] = m1 * LN2 + logf(l1);
  }
}

// s += A_s·B_sᵀ and dp += A_dp·B_dpᵀ over KS k-slices of 16: A is a 16-row tile read with ldmatrix
// x4 from a_s / a_dp (32 bytes a k-slice), B the NT n-tiles of 8 rows (LD elements apart) at b_s /
// b_dp. The S and dP products of both backward kernels: dQ's Q·Kᵀ and dO·Vᵀ, dK/dV's K·Qᵀ and V·dOᵀ.
template <typename T, int NT, int KS, int LD>
__device__ __forceinline__ void s_dp_products(float (&s)[NT][4], float (&dp)[NT][4], uint32_t a_s, uint32_t a_dp,
                                              uint32_t b_s, uint32_t b_dp) {
  #pragma unroll
  for (int kk = 0; kk < KS; ++kk) {
    uint32_t as[4], adp[4];
    ldsm4(as, a_s + kk * 32);
    ldsm4(adp, a_dp + kk * 32);
    #pragma unroll
    for (int j = 0; j < NT; j += 2) {
      const uint32_t o = (uint32_t)((j * 8 * LD + kk * 16) * 2);
      uint32_t bb[4];
      ldsm4(bb, b_s + o);
      mma<T>(s[j], as, bb[0], bb[1]);
      mma<T>(s[j + 1], as, bb[2], bb[3]);
      ldsm4(bb, b_dp + o);
      mma<T>(dp[j], adp, bb[0], bb[1]);
      mma<T>(dp[j + 1], adp, bb[2], bb[3]);
    }
  }
}

// dQ = scale·Σ_j dS_ij·k_j for 64 queries per block, key tiles of dq_bk.
template <typename T, int D>
__device__ void bwd_dq(const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta,
                       T* dq, int T_, int S, int H, int Hkv, float scale) {
  constexpr int BK = dq_bk<D>(), LD = D + PAD, NT = BK / 8, DT = D / 8, KS = D / 16;
  T* qs = reinterpret_cast<T*>(tc_smem);  // [BQ][LD]
  T* dos = qs + BQ * LD;                  // [BQ][LD]
  T* ks = dos + BQ * LD;                  // [2][BK][LD]
  T* vs = ks + 2 * BK * LD;               // [2][BK][LD]
  const int b = blockIdx.z, h = blockIdx.y, hk = h / (H / Hkv), q0 = blockIdx.x * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t4 = lane & 3;
  const int off = S - T_;
  const int ntiles = ceil_div(min(S, q0 + BQ + off), BK);
  const int wq0 = q0 + warp * 16, row0 = wq0 + g, row1 = row0 + 8;
  const Lanes ln(lane, LD);
  const uint32_t qs_a = saddr(qs) + (uint32_t)((warp * 16 * LD + ln.a) * 2);
  const uint32_t dos_a = saddr(dos) + (uint32_t)((warp * 16 * LD + ln.a) * 2);

  load_tile<T, D, BQ>(saddr(qs), q, b, q0, h, T_, H);
  load_tile<T, D, BQ>(saddr(dos), dout, b, q0, h, T_, H);
  load_tile<T, D, BK>(saddr(ks), k, b, 0, hk, S, Hkv);
  load_tile<T, D, BK>(saddr(vs), v, b, 0, hk, S, Hkv);
  cp_commit();

  const size_t stat = ((size_t)b * H + h) * T_;
  const float lse0 = row0 < T_ ? lse[stat + row0] * LOG2E : 0.f, lse1 = row1 < T_ ? lse[stat + row1] * LOG2E : 0.f;
  const float dl0 = row0 < T_ ? delta[stat + row0] : 0.f, dl1 = row1 < T_ ? delta[stat + row1] : 0.f;
  const float sl2 = scale * LOG2E;
  float acc[DT][4];
  #pragma unroll
  for (int i = 0; i < DT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;

  for (int it = 0; it < ntiles; ++it) {
    const int st = it & 1, kv0 = it * BK;
    next_kv_tile<T, D, BK, LD>(ks, vs, k, v, it, ntiles, b, hk, S, Hkv);
    if (wq0 < T_ && kv0 <= wq0 + 15 + off) {
      const uint32_t k_b = saddr(ks + st * BK * LD) + (uint32_t)(ln.b * 2);
      const uint32_t v_b = saddr(vs + st * BK * LD) + (uint32_t)(ln.b * 2);
      const uint32_t k_bt = saddr(ks + st * BK * LD) + (uint32_t)(ln.bt * 2);
      float s[NT][4], dp[NT][4];
      #pragma unroll
      for (int j = 0; j < NT; ++j)
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.f;
      s_dp_products<T, NT, KS, LD>(s, dp, qs_a, dos_a, k_b, v_b);
      const bool need_mask = kv0 + BK > min(wq0 + off + 1, S);
      #pragma unroll
      for (int j = 0; j < NT; ++j)
        #pragma unroll
        for (int e = 0; e < 4; ++e) {
          const bool hi = e >= 2;
          float p = exp2f(fmaf(s[j][e], sl2, -(hi ? lse1 : lse0)));
          if (need_mask) {
            const int key = kv0 + j * 8 + 2 * t4 + (e & 1), row = hi ? row1 : row0;
            if (key > row + off || key >= S) p = 0.f;
          }
          s[j][e] = p * (dp[j][e] - (hi ? dl1 : dl0));  // dS
        }
      // dQ += dS·K (K as B = K[key][d], .trans).
      #pragma unroll
      for (int kk = 0; kk < BK / 16; ++kk) {
        uint32_t da[4];
        c_to_a<T>(da, s[2 * kk], s[2 * kk + 1]);
        #pragma unroll
        for (int i = 0; i < DT; i += 2) {
          uint32_t bb[4];
          ldsm4t(bb, k_bt + (uint32_t)((kk * 16 * LD + i * 8) * 2));
          mma<T>(acc[i], da, bb[0], bb[1]);
          mma<T>(acc[i + 1], da, bb[2], bb[3]);
        }
      }
    }
  }
  #pragma unroll
  for (int i = 0; i < DT; ++i) {
    const int col = i * 8 + 2 * t4;
    if (row0 < T_)
      *reinterpret_cast<uint32_t*>(dq + (((size_t)b * T_ + row0) * H + h) * D + col) =
          pack2<T>(acc[i][0] * scale, acc[i][1] * scale);
    if (row1 < T_)
      *reinterpret_cast<uint32_t*>(dq + (((size_t)b * T_ + row1) * H + h) * D + col) =
          pack2<T>(acc[i][2] * scale, acc[i][3] * scale);
  }
}

// Two adjacent f32 sums into global memory (8-byte aligned): one vector atomic on sm_90.
__device__ __forceinline__ void atomic_add2(float* p, float a, float b) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(a, b));
#else
  atomicAdd(p, a);
  atomicAdd(p + 1, b);
#endif
}

// The fused backward's dQ part for one query tile: dq_acc[qt0 .. qt0+BQT) += dS·K over the block's
// dkv_bk keys, from dSᵀ [BK][BQT+PAD] and K [BK][D+PAD] in shared memory. The 4 warps split the
// BQT × D tile into 16-row × QC-column pieces; rows ≥ T and rows that see none of the keys skip.
template <typename T, int D>
__device__ __forceinline__ void fused_dq(const T* dss, const T* ks, float* dq_acc, int b, int h, int qt0, int k0,
                                         int T_, int H, int off) {
  constexpr int BK = dkv_bk<D>(), BQT = dkv_bq<D>(), LD = D + PAD, LDS = BQT + PAD;
  constexpr int RG = BQT / 16, WPR = WARPS / RG, QC = D / WPR, QNT = QC / 8;
  static_assert(WARPS % RG == 0 && QNT % 2 == 0, "dQ split");
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t4 = lane & 3;
  const int r0 = qt0 + (warp / WPR) * 16, c0 = (warp % WPR) * QC;
  if (r0 >= T_ || r0 + 15 + off < k0) return;  // warp-uniform
  // A = dS [query][key] from dSᵀ stored [key][query]: .trans with the B-pattern lane rows.
  const uint32_t ds_a = saddr(dss) + (uint32_t)((((lane & 7) + (lane >> 4) * 8) * LDS + (warp / WPR) * 16 +
                                                 ((lane >> 3) & 1) * 8) * 2);
  const uint32_t k_bt = saddr(ks) + (uint32_t)((Lanes(lane, LD).bt + c0) * 2);
  float acc[QNT][4];
  #pragma unroll
  for (int i = 0; i < QNT; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
  #pragma unroll
  for (int kk = 0; kk < BK / 16; ++kk) {
    uint32_t a[4];
    ldsm4t(a, ds_a + (uint32_t)(kk * 16 * LDS * 2));
    #pragma unroll
    for (int i = 0; i < QNT; i += 2) {
      uint32_t bb[4];
      ldsm4t(bb, k_bt + (uint32_t)((kk * 16 * LD + i * 8) * 2));
      mma<T>(acc[i], a, bb[0], bb[1]);
      mma<T>(acc[i + 1], a, bb[2], bb[3]);
    }
  }
  const int row0 = r0 + g, row1 = row0 + 8;
  #pragma unroll
  for (int i = 0; i < QNT; ++i) {
    const int col = c0 + i * 8 + 2 * t4;
    if (row0 < T_) atomic_add2(dq_acc + (((size_t)b * T_ + row0) * H + h) * D + col, acc[i][0], acc[i][1]);
    if (row1 < T_) atomic_add2(dq_acc + (((size_t)b * T_ + row1) * H + h) * D + col, acc[i][2], acc[i][3]);
  }
}

// A thread's share of a block's dK (times `scale`) and dV, from m16n8 accumulator fragments: DTW
// tiles of 8 columns from col0, rows krow0 and krow1 = krow0 + 8 of key-value head hk (rows ≥ S
// are not stored). Both tensor-core backwards (this file's and attention_wg.cuh's) end with it.
template <typename T, int D, int DTW>
__device__ __forceinline__ void store_kv_grads(T* dk, T* dv, const float (&gk)[DTW][4], const float (&gv)[DTW][4],
                                               int col0, int t4, int krow0, int b, int S, int Hkv,
                                               int hk, float scale) {
  const int krow1 = krow0 + 8;
  #pragma unroll
  for (int i = 0; i < DTW; ++i) {
    const int col = col0 + i * 8 + 2 * t4;
    if (krow0 < S) {
      const size_t at = (((size_t)b * S + krow0) * Hkv + hk) * D + col;
      *reinterpret_cast<uint32_t*>(dk + at) = pack2<T>(gk[i][0] * scale, gk[i][1] * scale);
      *reinterpret_cast<uint32_t*>(dv + at) = pack2<T>(gv[i][0], gv[i][1]);
    }
    if (krow1 < S) {
      const size_t at = (((size_t)b * S + krow1) * Hkv + hk) * D + col;
      *reinterpret_cast<uint32_t*>(dk + at) = pack2<T>(gk[i][2] * scale, gk[i][3] * scale);
      *reinterpret_cast<uint32_t*>(dv + at) = pack2<T>(gv[i][2], gv[i][3]);
    }
  }
}

// dK = scale·Σ dSᵀ·q, dV = Σ Pᵀ·dO for dkv_bk keys per block, over every query head of the GQA
// group and every query tile that sees the block's keys. FUSE_DQ (the fused backward): the block
// also puts its dSᵀ tile in shared memory and adds Σ_keys dS·K, unscaled, into dq_acc [B,T,H,D]
// f32 with atomics, so S and dP are formed once for all three gradients (5 GEMM-sized products
// per tile instead of the split kernels' 7).
template <typename T, int D, bool FUSE_DQ = false>
__device__ void bwd_dkv(const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta,
                        T* dk, T* dv, float* dq_acc, int T_, int S, int H, int Hkv, float scale) {
  constexpr int DW = dkv_dw<D>(), NDW = D / DW, BK = dkv_bk<D>(), BQT = dkv_bq<D>();
  constexpr int LD = D + PAD, NT = BQT / 8, DTW = DW / 8, KS = D / 16;
  T* ks = reinterpret_cast<T*>(tc_smem);  // [BK][LD]
  T* vs = ks + BK * LD;                   // [BK][LD]
  T* qs = vs + BK * LD;                   // [2][BQT][LD]
  T* dos = qs + 2 * BQT * LD;             // [2][BQT][LD]
  float* lse_s = reinterpret_cast<float*>(dos + 2 * BQT * LD);  // [2][BQT], base-2 units
  float* dl_s = lse_s + 2 * BQT;                                // [2][BQT]
  // Fused: dSᵀ [BK][LDS]; with SHARE (fused at D 256, where a warp pair shares 16 keys) each warp
  // forms S and dP for its half of the queries only, and Pᵀ [BK][LDS] joins dSᵀ in shared memory.
  constexpr bool SHARE = FUSE_DQ && NDW > 1;
  constexpr int LDS = BQT + PAD, NTS = SHARE ? NT / NDW : NT;
  static_assert(!SHARE || (NTS == 1 && KS % 2 == 0), "SHARE: one n-tile per warp, k-slices in pairs");
  T* dss = reinterpret_cast<T*>(dl_s + 2 * BQT);
  T* pss = dss + BK * LDS;
  const int b = blockIdx.z, hk = blockIdx.y, group = H / Hkv, k0 = blockIdx.x * BK;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, t4 = lane & 3;
  const int kw = warp / NDW, col0 = (warp % NDW) * DW, jq = SHARE ? (warp % NDW) * NTS : 0;
  const int off = S - T_;  // key tk is seen by queries tq ≥ tk − off
  const int wk0 = k0 + kw * 16, krow0 = wk0 + g, krow1 = krow0 + 8;
  const int qstart = (max(0, k0 - off) / BQT) * BQT;  // < T since k0 < S
  const int n_qt = ceil_div(T_ - qstart, BQT), total = group * n_qt;
  const Lanes ln(lane, LD);
  const uint32_t k_a = saddr(ks) + (uint32_t)((kw * 16 * LD + ln.a) * 2);
  const uint32_t v_a = saddr(vs) + (uint32_t)((kw * 16 * LD + ln.a) * 2);
  const float sl2 = scale * LOG2E;

  static_assert(BQT <= THREADS, "one lse / Δ value per thread");
  float nl = 0.f, nd = 0.f;  // thread e < BQT: lse and Δ of query e of the tile in flight
  auto issue = [&](int it) {
    const int st = it & 1, h = hk * group + it / n_qt, qt0 = qstart + (it % n_qt) * BQT;
    load_tile<T, D, BQT>(saddr(qs + st * BQT * LD), q, b, qt0, h, T_, H);
    load_tile<T, D, BQT>(saddr(dos + st * BQT * LD), dout, b, qt0, h, T_, H);
    const int tq = qt0 + threadIdx.x;
    const size_t i = ((size_t)b * H + h) * T_ + tq;
    const bool ok = threadIdx.x < BQT && tq < T_;
    nl = ok ? lse[i] : 0.f;  // loads only: stored by put_stats after the tile's compute
    nd = ok ? delta[i] : 0.f;
  };
  auto put_stats = [&](int it) {
    if (threadIdx.x < BQT) {
      lse_s[(it & 1) * BQT + threadIdx.x] = nl * LOG2E;
      dl_s[(it & 1) * BQT + threadIdx.x] = nd;
    }
  };
  load_tile<T, D, BK>(saddr(ks), k, b, k0, hk, S, Hkv);
  load_tile<T, D, BK>(saddr(vs), v, b, k0, hk, S, Hkv);
  issue(0);
  put_stats(0);
  cp_commit();

  float gk[DTW][4], gv[DTW][4];
  #pragma unroll
  for (int i = 0; i < DTW; ++i)
    #pragma unroll
    for (int e = 0; e < 4; ++e) gk[i][e] = gv[i][e] = 0.f;

  for (int it = 0; it < total; ++it) {
    const int st = it & 1, qt0 = qstart + (it % n_qt) * BQT;
    cp_wait<0>();  // tile it, the only group in flight
    // Tile it is visible to every thread, and every warp is done with tile it − 1: its stage (Q, dO,
    // lse, Δ), which takes tile it + 1 now, loading while tile it is computed, and its dSᵀ / Pᵀ.
    __syncthreads();
    if (it + 1 < total) issue(it + 1);
    cp_commit();
    const T* qst = qs + st * BQT * LD;
    const T* dost = dos + st * BQT * LD;
    // dV += Pᵀ·dO and dK += dSᵀ·Q over this warp's columns, k-slice kk of the tile's queries (dO, Q
    // as B = X[query][d], .trans).
    auto accumulate = [&](const uint32_t (&pa)[4], const uint32_t (&da)[4], int kk) {
      #pragma unroll
      for (int i = 0; i < DTW; i += 2) {
        const uint32_t o = (uint32_t)((kk * 16 * LD + col0 + i * 8 + ln.bt) * 2);
        uint32_t bb[4];
        ldsm4t(bb, saddr(dost) + o);
        mma<T>(gv[i], pa, bb[0], bb[1]);
        mma<T>(gv[i + 1], pa, bb[2], bb[3]);
        ldsm4t(bb, saddr(qst) + o);
        mma<T>(gk[i], da, bb[0], bb[1]);
        mma<T>(gk[i + 1], da, bb[2], bb[3]);
      }
    };
    const bool active = wk0 < S && qt0 + BQT - 1 + off >= wk0;  // warp-uniform: the tile sees a key of the warp
    if (active) {
      const float* lst = lse_s + st * BQT;
      const float* dst = dl_s + st * BQT;
      float s[NTS][4], dp[NTS][4];
      #pragma unroll
      for (int j = 0; j < NTS; ++j)
        #pragma unroll
        for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.f;
      // Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ: 16 keys × this warp's NTS·8 queries.
      if constexpr (SHARE) {  // one n-tile: each x4 load holds its B fragments of two k-slices
        const uint32_t qb = saddr(qst) + (uint32_t)(((jq * 8 + (lane & 7)) * LD + (lane >> 3) * 8) * 2);
        const uint32_t db = saddr(dost) + (uint32_t)(((jq * 8 + (lane & 7)) * LD + (lane >> 3) * 8) * 2);
        #pragma unroll
        for (int kk = 0; kk < KS; kk += 2) {
          uint32_t a0[4], a1[4], bb[4];
          ldsm4(a0, k_a + kk * 32);
          ldsm4(a1, k_a + (kk + 1) * 32);
          ldsm4(bb, qb + kk * 32);
          mma<T>(s[0], a0, bb[0], bb[1]);
          mma<T>(s[0], a1, bb[2], bb[3]);
          ldsm4(a0, v_a + kk * 32);
          ldsm4(a1, v_a + (kk + 1) * 32);
          ldsm4(bb, db + kk * 32);
          mma<T>(dp[0], a0, bb[0], bb[1]);
          mma<T>(dp[0], a1, bb[2], bb[3]);
        }
      } else {  // NTS == NT
        const uint32_t lb = (uint32_t)(ln.b * 2);
        s_dp_products<T, NTS, KS, LD>(s, dp, k_a, v_a, saddr(qst) + lb, saddr(dost) + lb);
      }
      const bool need_mask = qt0 + BQT > T_ || wk0 + 15 > qt0 + off;
      #pragma unroll
      for (int j = 0; j < NTS; ++j)
        #pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int c = (jq + j) * 8 + 2 * t4 + (e & 1);  // query column within the tile
          float p = exp2f(fmaf(s[j][e], sl2, -lst[c]));
          if (need_mask) {
            const int tq = qt0 + c, tk = e < 2 ? krow0 : krow1;
            if (tq >= T_ || tk > tq + off) p = 0.f;
          }
          s[j][e] = p;
          dp[j][e] = p * (dp[j][e] - dst[c]);  // dSᵀ
        }
      if constexpr (!SHARE) {  // P and dS straight from the registers as A fragments
        #pragma unroll
        for (int kk = 0; kk < BQT / 16; ++kk) {
          uint32_t pa[4], da[4];
          c_to_a<T>(pa, s[2 * kk], s[2 * kk + 1]);
          c_to_a<T>(da, dp[2 * kk], dp[2 * kk + 1]);
          accumulate(pa, da, kk);
        }
      }
      if constexpr (FUSE_DQ) {  // dSᵀ (and Pᵀ when shared) of the warp's keys, rounded as dK/dV use them
        if (SHARE || warp % NDW == 0) {
          #pragma unroll
          for (int j = 0; j < NTS; ++j) {
            const int at = (kw * 16 + g) * LDS + (jq + j) * 8 + 2 * t4;
            *reinterpret_cast<uint32_t*>(dss + at) = pack2<T>(dp[j][0], dp[j][1]);
            *reinterpret_cast<uint32_t*>(dss + at + 8 * LDS) = pack2<T>(dp[j][2], dp[j][3]);
            if constexpr (SHARE) {
              *reinterpret_cast<uint32_t*>(pss + at) = pack2<T>(s[j][0], s[j][1]);
              *reinterpret_cast<uint32_t*>(pss + at + 8 * LDS) = pack2<T>(s[j][2], s[j][3]);
            }
          }
        }
      }
    } else if constexpr (FUSE_DQ) {  // no key of the warp is seen: its dSᵀ rows are 0
      if (SHARE || warp % NDW == 0) {
        #pragma unroll
        for (int j = 0; j < NTS; ++j) {
          const int at = (kw * 16 + g) * LDS + (jq + j) * 8 + 2 * t4;
          *reinterpret_cast<uint32_t*>(dss + at) = 0u;
          *reinterpret_cast<uint32_t*>(dss + at + 8 * LDS) = 0u;
        }
      }
    }
    // Stage st ^ 1's readers (tile it − 1) passed this iteration's barrier.
    if (it + 1 < total) put_stats(it + 1);
    if constexpr (FUSE_DQ) __syncthreads();  // dSᵀ (and Pᵀ) are complete
    if constexpr (SHARE) {  // Pᵀ and dSᵀ [key][query] as row-major A fragments
      if (active) {
        #pragma unroll
        for (int kk = 0; kk < BQT / 16; ++kk) {
          uint32_t pa[4], da[4];
          const int at = (kw * 16 + (lane & 15)) * LDS + kk * 16 + (lane >> 4) * 8;
          ldsm4(pa, saddr(pss + at));
          ldsm4(da, saddr(dss + at));
          accumulate(pa, da, kk);
        }
      }
    }
    if constexpr (FUSE_DQ) fused_dq<T, D>(dss, ks, dq_acc, b, hk * group + it / n_qt, qt0, k0, T_, H, off);
    // No barrier here: the next refill and the next dSᵀ writes follow the next iteration's barrier.
  }
  store_kv_grads<T, D>(dk, dv, gk, gv, col0, t4, krow0, b, S, Hkv, hk, scale);
}

// dq = T(scale·acc) for the fused backward's f32 sums; n % 4 == 0 (D is), 16-byte aligned.
template <typename T> __device__ void dq_convert(const float* acc, T* dq, long long n, float scale) {
  const long long stride = (long long)gridDim.x * blockDim.x * 4;
  for (long long i = ((long long)blockIdx.x * blockDim.x + threadIdx.x) * 4; i < n; i += stride) {
    const float4 a = *reinterpret_cast<const float4*>(acc + i);
    uint2 o;
    o.x = pack2<T>(a.x * scale, a.y * scale);
    o.y = pack2<T>(a.z * scale, a.w * scale);
    *reinterpret_cast<uint2*>(dq + i) = o;
  }
}

}  // namespace attn_tc

// Per dtype, beside the head-dim entries: the fused backward's dQ conversion (plain loads and
// packs, so every arch builds it).
#define ATTN_TC_CONVERT(T, NAME)                                                                                 \
  extern "C" __global__ void attention_tc_dq_convert_##NAME(const float* acc, T* dq, long long n, float scale) { \
    attn_tc::dq_convert<T>(acc, dq, n, scale);                                                                   \
  }

#define ATTN_TC_ENTRY(T, NAME, D)                                                                                \
  extern "C" __global__ void __launch_bounds__(128, 1) attention_tc_fwd_d##D##_##NAME(                              \
      const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, int Hkv, float scale) {      \
    attn_tc::fwd<T, D>(q, k, v, out, lse, T_, S, H, Hkv, scale);                                                 \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128, 1) attention_tc_bwd_dq_d##D##_##NAME(                           \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dq, int T_,    \
      int S, int H, int Hkv, float scale) {                                                                      \
    attn_tc::bwd_dq<T, D>(q, k, v, dout, lse, delta, dq, T_, S, H, Hkv, scale);                                  \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128, 1) attention_tc_bwd_dkv_d##D##_##NAME(                          \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dk, T* dv,     \
      int T_, int S, int H, int Hkv, float scale) {                                                              \
    attn_tc::bwd_dkv<T, D>(q, k, v, dout, lse, delta, dk, dv, nullptr, T_, S, H, Hkv, scale);                    \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128, 1) attention_tc_bwd_fused_d##D##_##NAME(                        \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dk, T* dv,     \
      float* dq_acc, int T_, int S, int H, int Hkv, float scale) {                                               \
    attn_tc::bwd_dkv<T, D, true>(q, k, v, dout, lse, delta, dk, dv, dq_acc, T_, S, H, Hkv, scale);               \
  }

#define ATTN_TC_STUB(T, NAME, D)                                                                                 \
  extern "C" __global__ void attention_tc_fwd_d##D##_##NAME(const T*, const T*, const T*, T*, float*, int, int,  \
                                                            int, int, float) {                                   \
    __trap();                                                                                                    \
  }                                                                                                              \
  extern "C" __global__ void attention_tc_bwd_dq_d##D##_##NAME(const T*, const T*, const T*, const T*,           \
                                                               const float*, const float*, T*, int, int, int,    \
                                                               int, float) {                                     \
    __trap();                                                                                                    \
  }                                                                                                              \
  extern "C" __global__ void attention_tc_bwd_dkv_d##D##_##NAME(const T*, const T*, const T*, const T*,          \
                                                                const float*, const float*, T*, T*, int, int,    \
                                                                int, int, float) {                               \
    __trap();                                                                                                    \
  }                                                                                                              \
  extern "C" __global__ void attention_tc_bwd_fused_d##D##_##NAME(const T*, const T*, const T*, const T*,        \
                                                                  const float*, const float*, T*, T*, float*,    \
                                                                  int, int, int, int, float) {                   \
    __trap();                                                                                                    \
  }
