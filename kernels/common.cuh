// Shared device helpers for every kernels/*.cu: dtype conversion, warp/block reductions, the dropout
// hash. Header only, no kernels.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

// bf16 entry points exist only where the hardware has bf16 (sm_80+); sm_75 images lack them.
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
#define SECTUNE_BF16 1
#else
#define SECTUNE_BF16 0
#endif

// The launch's dynamic shared memory, as NAME (tests/host/sim defines its own).
#ifndef SECTUNE_DYNAMIC_SMEM
#define SECTUNE_DYNAMIC_SMEM(ALIGN, NAME) extern __shared__ __align__(ALIGN) unsigned char NAME[]
#endif

typedef __nv_bfloat16 bf16;
typedef __half f16;

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(f16 v) { return __half2float(v); }
__device__ __forceinline__ float to_f32(bf16 v) { return __bfloat162float(v); }

template <typename T> __device__ __forceinline__ T from_f32(float v);
template <> __device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <> __device__ __forceinline__ f16 from_f32<f16>(float v) { return __float2half_rn(v); }
template <> __device__ __forceinline__ bf16 from_f32<bf16>(float v) { return __float2bfloat16_rn(v); }

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum over the whole block; every thread gets the result. blockDim.x must be a multiple of 32 and
// <= 1024. `scratch` holds 32 floats. Starts with a barrier and ends reading `scratch`: a second call
// is safe (its first barrier waits for those reads), but a write to `scratch` right after is a race.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : 0.f;
  return warp_sum(v);
}
__device__ __forceinline__ float block_max(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nwarps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < nwarps ? scratch[lane] : -INFINITY;
  return warp_max(v);
}

// Dropout factor of flat element `index`, bit-identical to src/backend/dropout.rs: splitmix64
// finalizer of seed ^ index*golden; 24 high bits as u in [0,1); dropped when u < p, else 1/(1-p).
__device__ __forceinline__ uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
__device__ __forceinline__ float dropout_factor(uint64_t seed, uint64_t index, float p) {
  const uint64_t bits = mix64(seed ^ (index * 0x9e3779b97f4a7c15ull));
  const float u = (float)(bits >> 40) * (1.0f / 16777216.0f);
  return u < p ? 0.f : 1.f / (1.f - p);
}

__device__ __forceinline__ int ceil_div(int a, int b) { return (a + b - 1) / b; }
