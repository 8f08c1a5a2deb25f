// Rotary position embedding, out-of-place (y may alias x), forward and inverse (backward).
//   Llama rotate_half over all D:        pairs (i, i + D/2),  i < D/2
//   CodeGen interleaved over rotary_dim: pairs (2i, 2i + 1),  2i < rotary_dim; dims ≥ rotary_dim copied
//   angle = pos·inv_freq[i];  y_a = x_a·cos − x_b·sin;  y_b = x_b·cos + x_a·sin   (sin → −sin: inverse)
// inv_freq [rot/2] fp32 comes from the host (the same f32 table as src/backend/cpu/rope.rs, so
// angles match bit for bit); pos = positions[t] when positions != null, else pos_offset + t.
// Shapes: x, y [B, T, H, D]; positions [T] int32. Launch: grid (B·T), block 128; threads stride
// over the H·rot/2 pairs (and copy the pass-through dims). Limits: rot even, rot ≤ D; B·T < 2^31.
// sincosf (not __sincosf): angles reach 1e4 rad at long positions. Saves nothing.
// Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

template <typename T, bool INTERLEAVED>
__device__ void rope_apply(const T* x, T* y, const int* positions, int pos_offset, const float* inv_freq, int T_,
                           int H, int D, int rot, float sign) {
  const int bt = blockIdx.x;
  const int t = bt % T_;
  const float pos = (float)(positions ? positions[t] : pos_offset + t);
  const size_t base = (size_t)bt * H * D;
  const int half = rot / 2;
  for (int j = threadIdx.x; j < H * half; j += blockDim.x) {
    const int h = j / half, i = j % half;
    float s, c;
    sincosf(pos * inv_freq[i], &s, &c);
    s *= sign;
    const int a = INTERLEAVED ? 2 * i : i;
    const int b = INTERLEAVED ? 2 * i + 1 : i + half;
    const size_t o = base + (size_t)h * D;
    const float xa = to_f32(x[o + a]), xb = to_f32(x[o + b]);
    y[o + a] = from_f32<T>(xa * c - xb * s);
    y[o + b] = from_f32<T>(xb * c + xa * s);
  }
  if (rot < D && x != y) {
    const int pass = D - rot;
    for (int j = threadIdx.x; j < H * pass; j += blockDim.x) {
      const size_t o = base + (size_t)(j / pass) * D + rot + j % pass;
      y[o] = x[o];
    }
  }
}

#define ROPE_ENTRY(T, NAME)                                                                                    \
  extern "C" __global__ void rope_half_fwd_##NAME(const T* x, T* y, const int* positions, int pos_offset,       \
                                                  const float* inv_freq, int T_, int H, int D) {               \
    rope_apply<T, false>(x, y, positions, pos_offset, inv_freq, T_, H, D, D, 1.f);                             \
  }                                                                                                            \
  extern "C" __global__ void rope_half_bwd_##NAME(const T* dy, T* dx, const int* positions, int pos_offset,     \
                                                  const float* inv_freq, int T_, int H, int D) {               \
    rope_apply<T, false>(dy, dx, positions, pos_offset, inv_freq, T_, H, D, D, -1.f);                          \
  }                                                                                                            \
  extern "C" __global__ void rope_interleaved_fwd_##NAME(const T* x, T* y, const int* positions, int pos_offset, \
                                                         const float* inv_freq, int T_, int H, int D, int rot) {  \
    rope_apply<T, true>(x, y, positions, pos_offset, inv_freq, T_, H, D, rot, 1.f);                            \
  }                                                                                                            \
  extern "C" __global__ void rope_interleaved_bwd_##NAME(const T* dy, T* dx, const int* positions,              \
                                                         int pos_offset, const float* inv_freq, int T_, int H,  \
                                                         int D, int rot) {                                     \
    rope_apply<T, true>(dy, dx, positions, pos_offset, inv_freq, T_, H, D, rot, -1.f);                         \
  }

ROPE_ENTRY(float, f32)
ROPE_ENTRY(f16, f16)
#if SECTUNE_BF16
ROPE_ENTRY(bf16, bf16)
#endif
