// Causal flash-style attention with GQA, forward and backward; no T×T buffer anywhere.
// The templates; attention.cu instantiates the head dims of real models (64, 128, 256) and
// attention_small.cu the f32 head dims 16 and 32 of the tiny test and demo models.
//   fwd:  S = scale·Q·Kᵀ (causal: key j ≤ query i + (S_kv − T), so with a KV cache of S_kv ≥ T keys
//         query i sits at position S_kv − T + i), P = softmax(S), O = P·V; saves lse = log Σ exp(S) [B,H,T]
//         online softmax over key tiles: m' = max(m, max_j s_j), l' = l·e^(m−m') + Σ e^(s_j−m'),
//         o' = o·e^(m−m') + Σ e^(s_j−m')·v_j;  O = o/l,  lse = m + log l
//   bwd:  Δ = rowsum(dO⊙O) (attention_bwd_delta); P recomputed as exp(S − lse);
//         dV_j = Σ_i P_ij·dO_i;  dP_ij = dO_i·v_j;  dS_ij = P_ij·(dP_ij − Δ_i);
//         dQ_i = scale·Σ_j dS_ij·k_j (attention_bwd_dq);  dK_j = scale·Σ_i dS_ij·q_i (attention_bwd_dkv,
//         which also sums dK/dV over the H/Hkv query heads of a GQA group, so no atomics)
// Shapes: q, out, dO, dQ [B,T,H,D]; k, v, dK, dV [B,S_kv,Hkv,D] in T; lse, Δ [B,H,T] fp32; S_kv ≥ T.
//   H % Hkv == 0; query head h reads kv head h / (H/Hkv). D: any size the tiles fit (lanes past D idle when
//   D % 32 != 0); entry points attention_{fwd,bwd_dq,bwd_dkv}_d{D}_{dtype}: D 64/128/256 in every
//   dtype (attention.cu), D 16/32 in f32 (attention_small.cu).
// Launch: fwd and dq: grid (ceil(T/BQ), H, B), block 128; dkv: grid (ceil(S_kv/BK), Hkv, B), block 128;
//   delta: grid (ceil(B·T·H/4)), block 128. BQ/BK come from attention_tiles (host mirrors them):
//   row bytes R = D·sizeof(T); fwd BQ = R ≥ 1024 ? 8 : 16; dq BQ = R ≥ 1024 ? 4 : R ≥ 512 ? 8 : 16;
//   dkv BK = R ≥ 1024 ? 4 : R ≥ 512 ? 8 : 16. Every kernel's static shared memory is ≤ 41 KB, under
//   the 48 KB every arch gives without opt-in (so hd 256 fits sm_86/89's 99 KB per block as well).
// Work split: a warp owns whole query (fwd, dq) or key (dkv) rows; for a tile of keys (queries),
//   lane j computes the score of key (query) j with a full dot product from shared memory (rows
//   padded so the lanes hit different banks), then each lane accumulates D/32 output dims with the
//   probabilities broadcast by shuffles. fp32 everywhere except the stored tensors.
// Limits: B·T·H·D < 2^63, T < 2^31. Not tensor-core based: correct first, then fast.
// Verified: zero spills (ptxas); tests/cuda_parity.rs on an H200 and an H100 (bench/RESULTS.md); the
//   f32 entries in the CPU emulator in CI (tests/host/sim_attention.cpp). Speed: 0.02–0.05× torch's
//   flash SDPA (the 16-bit path is attention_tc.cu's).
#pragma once
#include "common.cuh"

namespace attn {

template <typename T> __host__ __device__ constexpr int pad() { return sizeof(T) == 4 ? 1 : 2; }  // odd word stride per row
template <typename T, int D> __host__ __device__ constexpr int row_bytes() { return D * (int)sizeof(T); }
template <typename T, int D> __host__ __device__ constexpr int fwd_bq() { return row_bytes<T, D>() >= 1024 ? 8 : 16; }
template <typename T, int D> __host__ __device__ constexpr int fwd_bkv() { return row_bytes<T, D>() >= 1024 ? 16 : 32; }
template <typename T, int D> __host__ __device__ constexpr int dq_bq() {
  return row_bytes<T, D>() >= 1024 ? 4 : row_bytes<T, D>() >= 512 ? 8 : 16;
}
template <typename T, int D> __host__ __device__ constexpr int dkv_bk() {
  return row_bytes<T, D>() >= 1024 ? 4 : row_bytes<T, D>() >= 512 ? 8 : 16;
}
template <typename T, int D> __host__ __device__ constexpr int dkv_bq() { return row_bytes<T, D>() >= 1024 ? 16 : 32; }

__device__ __forceinline__ size_t qidx(int b, int t, int h, int T_, int H, int D) {
  return (((size_t)b * T_ + t) * H + h) * D;
}

// Copies rows [t0, t0+ROWS) of head h (row stride in elements `ld`) into smem; rows ≥ T are zeros.
template <typename T, int D, int ROWS, int LD>
__device__ __forceinline__ void load_rows(T (*dst)[LD], const T* src, int b, int t0, int h, int T_, int H) {
  for (int e = threadIdx.x; e < ROWS * D; e += blockDim.x) {
    const int r = e / D, d = e % D, t = t0 + r;
    dst[r][d] = t < T_ ? src[qidx(b, t, h, T_, H, D) + d] : from_f32<T>(0.f);
  }
}

template <typename T, int D>
__device__ void fwd(const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, int Hkv,
                    float scale) {
  constexpr int BQ = fwd_bq<T, D>(), BKV = fwd_bkv<T, D>(), P = pad<T>(), ROWS = BQ / 4, DL = (D + 31) / 32;
  __shared__ T qs[BQ][D];
  __shared__ T ks[BKV][D + P];
  __shared__ T vs[BKV][D];
  const int b = blockIdx.z, h = blockIdx.y, hk = h / (H / Hkv), q0 = blockIdx.x * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  load_rows<T, D, BQ, D>(qs, q, b, q0, h, T_, H);
  float o[ROWS][DL], m[ROWS], l[ROWS];
  #pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.f;
    #pragma unroll
    for (int d = 0; d < DL; ++d) o[i][d] = 0.f;
  }
  const int off = S - T_;  // query i attends to keys 0..i+off
  const int kv_end = min(S, q0 + BQ + off);
  for (int kv0 = 0; kv0 < kv_end; kv0 += BKV) {
    __syncthreads();  // previous tile fully consumed
    load_rows<T, D, BKV, D + P>(ks, k, b, kv0, hk, S, Hkv);
    load_rows<T, D, BKV, D>(vs, v, b, kv0, hk, S, Hkv);
    __syncthreads();
    #pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      const int r = warp + 4 * i, tq = q0 + r;
      if (tq >= T_ || kv0 > tq + off) continue;  // warp-uniform
      const int key = kv0 + lane;
      float s = -INFINITY;
      if (lane < BKV && key <= tq + off) {
        float dot = 0.f;
        for (int d = 0; d < D; ++d) dot = fmaf(to_f32(qs[r][d]), to_f32(ks[lane][d]), dot);
        s = dot * scale;
      }
      const float m_new = fmaxf(m[i], warp_max(s));
      const float p = expf(s - m_new);
      const float corr = expf(m[i] - m_new);
      l[i] = l[i] * corr + warp_sum(p);
      m[i] = m_new;
      #pragma unroll
      for (int d = 0; d < DL; ++d) o[i][d] *= corr;
      const int nkeys = min(BKV, tq + off - kv0 + 1);
      for (int j = 0; j < nkeys; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        #pragma unroll
        for (int d = 0; d < DL; ++d)
          if (D % 32 == 0 || lane + 32 * d < D) o[i][d] = fmaf(pj, to_f32(vs[j][lane + 32 * d]), o[i][d]);
      }
    }
  }
  #pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int tq = q0 + warp + 4 * i;
    if (tq >= T_) continue;
    const float inv = 1.f / l[i];
    T* dst = out + qidx(b, tq, h, T_, H, D);
    #pragma unroll
    for (int d = 0; d < DL; ++d)
      if (D % 32 == 0 || lane + 32 * d < D) dst[lane + 32 * d] = from_f32<T>(o[i][d] * inv);
    if (lane == 0) lse[((size_t)b * H + h) * T_ + tq] = m[i] + logf(l[i]);
  }
}

// delta[b,h,t] = Σ_d dO·O, one warp per (b, t, h) row.
template <typename T>
__device__ void bwd_delta(const T* o, const T* dout, float* delta, int B, int T_, int H, int D) {
  const long long row = (long long)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const long long rows = (long long)B * T_ * H;
  if (row >= rows) return;
  int h, t, b;
  const auto split = [&](auto r) {  // r's type picks the divides' width
    using I = decltype(r);
    h = (int)(r % (I)H), t = (int)((r / (I)H) % (I)T_), b = (int)(r / ((I)H * (I)T_));
  };
  // 32-bit divides are inline; 64-bit ones are subroutine calls.
  if (rows < (1ll << 31)) split((unsigned)row); else split(row);
  const size_t base = (size_t)row * D;
  float acc = 0.f;
  for (int d = lane; d < D; d += 32) acc = fmaf(to_f32(o[base + d]), to_f32(dout[base + d]), acc);
  acc = warp_sum(acc);
  if (lane == 0) delta[((size_t)b * H + h) * T_ + t] = acc;
}

template <typename T, int D>
__device__ void bwd_dq(const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta,
                       T* dq, int T_, int S, int H, int Hkv, float scale) {
  constexpr int BQ = dq_bq<T, D>(), BKV = fwd_bkv<T, D>(), P = pad<T>(), ROWS = BQ / 4, DL = (D + 31) / 32;
  __shared__ T qs[BQ][D];
  __shared__ T dos[BQ][D];
  __shared__ T ks[BKV][D + P];
  __shared__ T vs[BKV][D + P];
  const int b = blockIdx.z, h = blockIdx.y, hk = h / (H / Hkv), q0 = blockIdx.x * BQ;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  load_rows<T, D, BQ, D>(qs, q, b, q0, h, T_, H);
  load_rows<T, D, BQ, D>(dos, dout, b, q0, h, T_, H);
  float acc[ROWS][DL], row_lse[ROWS], row_delta[ROWS];
  #pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int tq = min(q0 + warp + 4 * i, T_ - 1);
    row_lse[i] = lse[((size_t)b * H + h) * T_ + tq];
    row_delta[i] = delta[((size_t)b * H + h) * T_ + tq];
    #pragma unroll
    for (int d = 0; d < DL; ++d) acc[i][d] = 0.f;
  }
  const int off = S - T_;
  const int kv_end = min(S, q0 + BQ + off);
  for (int kv0 = 0; kv0 < kv_end; kv0 += BKV) {
    __syncthreads();
    load_rows<T, D, BKV, D + P>(ks, k, b, kv0, hk, S, Hkv);
    load_rows<T, D, BKV, D + P>(vs, v, b, kv0, hk, S, Hkv);
    __syncthreads();
    #pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      const int r = warp + 4 * i, tq = q0 + r;
      if (tq >= T_ || kv0 > tq + off) continue;
      float ds = 0.f;
      if (lane < BKV && kv0 + lane <= tq + off) {
        float s = 0.f, dp = 0.f;
        for (int d = 0; d < D; ++d) {
          s = fmaf(to_f32(qs[r][d]), to_f32(ks[lane][d]), s);
          dp = fmaf(to_f32(dos[r][d]), to_f32(vs[lane][d]), dp);
        }
        const float p = expf(s * scale - row_lse[i]);
        ds = p * (dp - row_delta[i]);
      }
      const int nkeys = min(BKV, tq + off - kv0 + 1);
      for (int j = 0; j < nkeys; ++j) {
        const float dsj = __shfl_sync(0xffffffffu, ds, j);
        #pragma unroll
        for (int d = 0; d < DL; ++d)
          if (D % 32 == 0 || lane + 32 * d < D) acc[i][d] = fmaf(dsj, to_f32(ks[j][lane + 32 * d]), acc[i][d]);
      }
    }
  }
  #pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int tq = q0 + warp + 4 * i;
    if (tq >= T_) continue;
    T* dst = dq + qidx(b, tq, h, T_, H, D);
    #pragma unroll
    for (int d = 0; d < DL; ++d)
      if (D % 32 == 0 || lane + 32 * d < D) dst[lane + 32 * d] = from_f32<T>(acc[i][d] * scale);
  }
}

template <typename T, int D>
__device__ void bwd_dkv(const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta,
                        T* dk, T* dv, int T_, int S, int H, int Hkv, float scale) {
  constexpr int BK = dkv_bk<T, D>(), BQ = dkv_bq<T, D>(), P = pad<T>(), ROWS = BK / 4, DL = (D + 31) / 32;
  __shared__ T ks[BK][D];
  __shared__ T vs[BK][D];
  __shared__ T qs[BQ][D + P];
  __shared__ T dos[BQ][D + P];
  __shared__ float lse_s[BQ], delta_s[BQ];
  const int b = blockIdx.z, hk = blockIdx.y, group = H / Hkv, k0 = blockIdx.x * BK;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int off = S - T_;  // key tk is seen by queries tq ≥ tk − off
  load_rows<T, D, BK, D>(ks, k, b, k0, hk, S, Hkv);
  load_rows<T, D, BK, D>(vs, v, b, k0, hk, S, Hkv);
  float gk[ROWS][DL], gv[ROWS][DL];
  #pragma unroll
  for (int i = 0; i < ROWS; ++i)
    #pragma unroll
    for (int d = 0; d < DL; ++d) gk[i][d] = gv[i][d] = 0.f;
  for (int h = hk * group; h < (hk + 1) * group; ++h) {
    for (int qt0 = (max(0, k0 - off) / BQ) * BQ; qt0 < T_; qt0 += BQ) {
      __syncthreads();
      load_rows<T, D, BQ, D + P>(qs, q, b, qt0, h, T_, H);
      load_rows<T, D, BQ, D + P>(dos, dout, b, qt0, h, T_, H);
      for (int e = threadIdx.x; e < BQ; e += blockDim.x) {
        const int t = min(qt0 + e, T_ - 1);
        lse_s[e] = lse[((size_t)b * H + h) * T_ + t];
        delta_s[e] = delta[((size_t)b * H + h) * T_ + t];
      }
      __syncthreads();
      #pragma unroll
      for (int i = 0; i < ROWS; ++i) {
        const int r = warp + 4 * i, tk = k0 + r;
        if (tk >= S || qt0 + BQ - 1 + off < tk) continue;  // no query of this tile sees key tk
        const int tq = qt0 + lane;
        float p = 0.f, ds = 0.f;
        if (lane < BQ && tq < T_ && tq + off >= tk) {
          float s = 0.f, dp = 0.f;
          for (int d = 0; d < D; ++d) {
            s = fmaf(to_f32(qs[lane][d]), to_f32(ks[r][d]), s);
            dp = fmaf(to_f32(dos[lane][d]), to_f32(vs[r][d]), dp);
          }
          p = expf(s * scale - lse_s[lane]);
          ds = p * (dp - delta_s[lane]);
        }
        for (int j = 0; j < BQ; ++j) {
          const float pj = __shfl_sync(0xffffffffu, p, j);
          const float dsj = __shfl_sync(0xffffffffu, ds, j);
          #pragma unroll
          for (int d = 0; d < DL; ++d) {
            if (!(D % 32 == 0 || lane + 32 * d < D)) continue;
            gv[i][d] = fmaf(pj, to_f32(dos[j][lane + 32 * d]), gv[i][d]);
            gk[i][d] = fmaf(dsj, to_f32(qs[j][lane + 32 * d]), gk[i][d]);
          }
        }
      }
    }
  }
  #pragma unroll
  for (int i = 0; i < ROWS; ++i) {
    const int tk = k0 + warp + 4 * i;
    if (tk >= S) continue;
    const size_t base = qidx(b, tk, hk, S, Hkv, D);
    #pragma unroll
    for (int d = 0; d < DL; ++d) {
      if (!(D % 32 == 0 || lane + 32 * d < D)) continue;
      dk[base + lane + 32 * d] = from_f32<T>(gk[i][d] * scale);
      dv[base + lane + 32 * d] = from_f32<T>(gv[i][d]);
    }
  }
}

}  // namespace attn


#define ATTN_D_ENTRY(T, NAME, D)                                                                                 \
  extern "C" __global__ void __launch_bounds__(128) attention_fwd_d##D##_##NAME(                                 \
      const T* q, const T* k, const T* v, T* out, float* lse, int T_, int S, int H, int Hkv, float scale) {      \
    attn::fwd<T, D>(q, k, v, out, lse, T_, S, H, Hkv, scale);                                                    \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) attention_bwd_dq_d##D##_##NAME(                              \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dq, int T_,    \
      int S, int H, int Hkv, float scale) {                                                                      \
    attn::bwd_dq<T, D>(q, k, v, dout, lse, delta, dq, T_, S, H, Hkv, scale);                                     \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(128) attention_bwd_dkv_d##D##_##NAME(                             \
      const T* q, const T* k, const T* v, const T* dout, const float* lse, const float* delta, T* dk, T* dv,     \
      int T_, int S, int H, int Hkv, float scale) {                                                              \
    attn::bwd_dkv<T, D>(q, k, v, dout, lse, delta, dk, dv, T_, S, H, Hkv, scale);                                \
  }
