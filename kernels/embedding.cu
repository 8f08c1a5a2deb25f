// Embedding lookup and its gradient.
//   fwd: out[m, c] = weight[ids[m], c]                 ids [M] int32, weight [V, C], out [M, C]
//   bwd: dweight[ids[m], c] += dout[m, c]  (fp32, atomics; adapter/weight grads accumulate)
// Launch: grid (M), block 256; threads stride over C. Limits: M, C, V < 2^31.
// An id outside [0, V) is not read: fwd writes zeros for that row and sets *bad_id = 1 (when
// bad_id is non-null) so the host reports the bad token; bwd skips the row.
// Saves nothing for backward (the ids are the input). Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

template <typename T>
__device__ void embedding_fwd(const int* ids, const T* weight, T* out, int M, int C, int V, int* bad_id) {
  const int m = blockIdx.x;
  if (m >= M) return;
  const int id = ids[m];
  const bool ok = id >= 0 && id < V;
  if (!ok && threadIdx.x == 0 && bad_id) *bad_id = 1;
  const T* src = weight + (size_t)(ok ? id : 0) * C;
  T* dst = out + (size_t)m * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) dst[c] = ok ? src[c] : from_f32<T>(0.f);
}

template <typename T>
__device__ void embedding_bwd(const int* ids, const T* dout, float* dweight, int M, int C, int V) {
  const int m = blockIdx.x;
  if (m >= M) return;
  const int id = ids[m];
  if (id < 0 || id >= V) return;
  const T* src = dout + (size_t)m * C;
  float* dst = dweight + (size_t)id * C;
  for (int c = threadIdx.x; c < C; c += blockDim.x) atomicAdd(dst + c, to_f32(src[c]));
}

#define EMBEDDING_ENTRY(T, NAME)                                                                      \
  extern "C" __global__ void embedding_fwd_##NAME(const int* ids, const T* weight, T* out, int M, int C, \
                                                  int V, int* bad_id) {                              \
    embedding_fwd<T>(ids, weight, out, M, C, V, bad_id);                                              \
  }                                                                                                   \
  extern "C" __global__ void embedding_bwd_##NAME(const int* ids, const T* dout, float* dweight, int M, \
                                                  int C, int V) {                                    \
    embedding_bwd<T>(ids, dout, dweight, M, C, V);                                                    \
  }

EMBEDDING_ENTRY(float, f32)
EMBEDDING_ENTRY(f16, f16)
#if SECTUNE_BF16
EMBEDDING_ENTRY(bf16, bf16)
#endif
