// RMSNorm (Llama) and LayerNorm (CodeGen) over the last dim, statistics in fp32.
//   rmsnorm:   y = x·r·w,              r = 1/sqrt(mean(x²) + eps)             saves rstd [M]
//     bwd: g = dy·w;  dx = r·g − x·r³·mean(g·x);   dw[c] += Σ_m dy·x·r  (separate kernel, optional)
//   layernorm: y = (x−μ)·r·w + b,      r = 1/sqrt(mean((x−μ)²) + eps)          saves mean, rstd [M]
//     bwd: x̂ = (x−μ)·r, g = dy·w;  dx = r·(g − mean(g) − x̂·mean(g·x̂));  dw += Σ dy·x̂, db += Σ dy
// Shapes: x, y, dy, dx [M, C]; w, b [C] in the activation dtype T; dw, db fp32 (accumulate, +=).
// Launch: fwd/bwd dx: grid (M), block 256 (any multiple of 32 ≤ 1024), threads stride over C.
//   dw/db: grid (ceil(C/32), row_blocks), block (32, 8); each block reduces its rows, then atomicAdd.
// Limits: M, C < 2^31. Two-pass variance (mean first), not E[x²]−E[x]², for stability.
// Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

template <typename T>
__device__ void rmsnorm_fwd(const T* x, const T* w, T* y, float* rstd, int M, int C, float eps) {
  __shared__ float scratch[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  const T* xr = x + (size_t)m * C;
  float ss = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float v = to_f32(xr[c]);
    ss += v * v;
  }
  const float r = rsqrtf(block_sum(ss, scratch) / C + eps);
  if (threadIdx.x == 0) rstd[m] = r;
  T* yr = y + (size_t)m * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = from_f32<T>(to_f32(xr[c]) * r * to_f32(w[c]));
}

template <typename T>
__device__ void rmsnorm_bwd(const T* dy, const T* x, const T* w, const float* rstd, T* dx, int M, int C) {
  __shared__ float scratch[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  const T* xr = x + (size_t)m * C;
  const T* dyr = dy + (size_t)m * C;
  const float r = rstd[m];
  float gx = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) gx += to_f32(dyr[c]) * to_f32(w[c]) * to_f32(xr[c]);
  const float mean_gx = block_sum(gx, scratch) / C;
  T* dxr = dx + (size_t)m * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float g = to_f32(dyr[c]) * to_f32(w[c]);
    dxr[c] = from_f32<T>(r * g - to_f32(xr[c]) * r * r * r * mean_gx);
  }
}

template <typename T>
__device__ void layernorm_fwd(const T* x, const T* w, const T* b, T* y, float* mean_out, float* rstd, int M,
                              int C, float eps) {
  __shared__ float scratch[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  const T* xr = x + (size_t)m * C;
  float s = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) s += to_f32(xr[c]);
  const float mu = block_sum(s, scratch) / C;
  float sq = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float d = to_f32(xr[c]) - mu;
    sq += d * d;
  }
  const float r = rsqrtf(block_sum(sq, scratch) / C + eps);
  if (threadIdx.x == 0) {
    mean_out[m] = mu;
    rstd[m] = r;
  }
  T* yr = y + (size_t)m * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x)
    yr[c] = from_f32<T>((to_f32(xr[c]) - mu) * r * to_f32(w[c]) + to_f32(b[c]));
}

template <typename T>
__device__ void layernorm_bwd(const T* dy, const T* x, const T* w, const float* mean, const float* rstd, T* dx,
                              int M, int C) {
  __shared__ float scratch[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  const T* xr = x + (size_t)m * C;
  const T* dyr = dy + (size_t)m * C;
  const float mu = mean[m], r = rstd[m];
  float sg = 0.f, sgx = 0.f;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float g = to_f32(dyr[c]) * to_f32(w[c]);
    sg += g;
    sgx += g * (to_f32(xr[c]) - mu) * r;
  }
  const float mean_g = block_sum(sg, scratch) / C;
  const float mean_gx = block_sum(sgx, scratch) / C;
  T* dxr = dx + (size_t)m * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) {
    const float g = to_f32(dyr[c]) * to_f32(w[c]);
    const float xhat = (to_f32(xr[c]) - mu) * r;
    dxr[c] = from_f32<T>(r * (g - mean_g - xhat * mean_gx));
  }
}

// dw[c] += Σ_m dy[m,c]·x̂[m,c] and (when db != null) db[c] += Σ_m dy[m,c], with x̂ = (x − μ)·r
// (μ = 0 when mean == null: RMSNorm). Block (32, 8): threadIdx.x picks the column.
template <typename T>
__device__ void norm_bwd_dw(const T* dy, const T* x, const float* mean, const float* rstd, float* dw, float* db,
                            int M, int C) {
  __shared__ float sw[8][33];
  __shared__ float sb[8][33];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float aw = 0.f, ab = 0.f;
  if (c < C) {
    for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += gridDim.y * 8) {
      const float d = to_f32(dy[(size_t)m * C + c]);
      const float mu = mean ? mean[m] : 0.f;
      aw += d * (to_f32(x[(size_t)m * C + c]) - mu) * rstd[m];
      ab += d;
    }
  }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float tw = 0.f, tb = 0.f;
    for (int i = 0; i < 8; ++i) {
      tw += sw[i][threadIdx.x];
      tb += sb[i][threadIdx.x];
    }
    atomicAdd(dw + c, tw);
    if (db) atomicAdd(db + c, tb);
  }
}

#define NORM_ENTRY(T, NAME)                                                                                  \
  extern "C" __global__ void rmsnorm_fwd_##NAME(const T* x, const T* w, T* y, float* rstd, int M, int C,      \
                                                float eps) {                                                 \
    rmsnorm_fwd<T>(x, w, y, rstd, M, C, eps);                                                                \
  }                                                                                                          \
  extern "C" __global__ void rmsnorm_bwd_##NAME(const T* dy, const T* x, const T* w, const float* rstd, T* dx, \
                                                int M, int C) {                                              \
    rmsnorm_bwd<T>(dy, x, w, rstd, dx, M, C);                                                                \
  }                                                                                                          \
  extern "C" __global__ void layernorm_fwd_##NAME(const T* x, const T* w, const T* b, T* y, float* mean,      \
                                                  float* rstd, int M, int C, float eps) {                    \
    layernorm_fwd<T>(x, w, b, y, mean, rstd, M, C, eps);                                                     \
  }                                                                                                          \
  extern "C" __global__ void layernorm_bwd_##NAME(const T* dy, const T* x, const T* w, const float* mean,     \
                                                  const float* rstd, T* dx, int M, int C) {                  \
    layernorm_bwd<T>(dy, x, w, mean, rstd, dx, M, C);                                                        \
  }                                                                                                          \
  extern "C" __global__ void norm_bwd_dw_##NAME(const T* dy, const T* x, const float* mean, const float* rstd, \
                                                float* dw, float* db, int M, int C) {                        \
    norm_bwd_dw<T>(dy, x, mean, rstd, dw, db, M, C);                                                         \
  }

NORM_ENTRY(float, f32)
NORM_ENTRY(f16, f16)
#if SECTUNE_BF16
NORM_ENTRY(bf16, bf16)
#endif
