// Fused cross-entropy over the vocabulary: per-row loss and, in the same kernel, dlogits.
//   lse = log Σ_v exp(logits[m,v]);  loss[m] = lse − logits[m, label[m]]
//   dlogits[m,v] = (exp(logits[m,v] − lse) − [v == label[m]]) · grad_scale   (grad_scale = 1/n_valid
//   for the mean, 1/num_items for HF's sum mode; the host chooses)
// Rows with label == -100 get loss 0 and a zero gradient. A label outside [0, V) that is not -100 is
// never read: its row gets loss NaN (the host validates labels first, like the CPU backend).
// Shapes: logits, dlogits [M, V] in T (bf16/f16/f32); labels [M] int32; loss, lse [M] fp32.
// dlogits may alias logits (each element is read before it is written, by the same thread), and
// may be null (forward only). No fp32 copy of the logits: pass 1 reads the row once with an online
// max/sum, pass 2 reads it again and writes the gradient.
// Launch: grid (M), block 512 (any multiple of 32 ≤ 1024). Limits: M, V < 2^31.
// Saves lse [M] for a separate backward, if one is wanted. Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

constexpr int kIgnoreIndex = -100;

// xs[u] = row[v0 + u·stride] (0 from V on), all U loads issued before any value is used: one 2- or
// 4-byte load in flight per thread is far too few bytes for HBM.
template <int U, typename T>
__device__ __forceinline__ void load_ahead(float (&xs)[U], const T* row, int v0, int stride, int V) {
#pragma unroll
  for (int u = 0; u < U; ++u) {
    const int v = v0 + u * stride;
    xs[u] = v < V ? to_f32(row[v]) : 0.f;
  }
}

template <typename T>
__device__ void cross_entropy_fwd_bwd(const T* logits, const int* labels, float* loss, float* lse_out, T* dlogits,
                                      float grad_scale, int M, int V) {
  __shared__ float scratch[32];
  const int m = blockIdx.x;
  if (m >= M) return;
  const T* row = logits + (size_t)m * V;
  float mx = -INFINITY, sum = 0.f;
  constexpr int U = 4;  // loads in flight per thread
  for (int v0 = threadIdx.x; v0 < V; v0 += U * blockDim.x) {
    float xs[U];
    load_ahead(xs, row, v0, blockDim.x, V);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      if (v0 + u * (int)blockDim.x >= V) break;
      const float x = xs[u];
      if (x > mx) {
        sum = sum * expf(mx - x) + 1.f;
        mx = x;
      } else {
        sum += expf(x - mx);
      }
    }
  }
  const int label = labels[m];
  const bool ignored = label == kIgnoreIndex;
  const bool valid = label >= 0 && label < V;
  // Read before the last barrier: with dlogits aliasing logits, pass 2 overwrites row[label].
  const float label_logit = valid ? to_f32(row[label]) : 0.f;
  const float row_max = block_max(mx, scratch);
  const float mine = mx == -INFINITY ? 0.f : sum * expf(mx - row_max);
  const float lse = row_max + logf(block_sum(mine, scratch));
  if (threadIdx.x == 0) {
    lse_out[m] = lse;
    loss[m] = ignored ? 0.f : (valid ? lse - label_logit : NAN);
  }
  if (!dlogits) return;
  T* drow = dlogits + (size_t)m * V;
  for (int v0 = threadIdx.x; v0 < V; v0 += U * blockDim.x) {
    float xs[U];
    load_ahead(xs, row, v0, blockDim.x, V);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int v = v0 + u * blockDim.x;
      if (v >= V) break;
      float d = 0.f;
      if (valid) d = (expf(xs[u] - lse) - (v == label ? 1.f : 0.f)) * grad_scale;
      drow[v] = from_f32<T>(d);
    }
  }
}

#define CE_ENTRY(T, NAME)                                                                                    \
  extern "C" __global__ void cross_entropy_fwd_bwd_##NAME(const T* logits, const int* labels, float* loss,    \
                                                          float* lse, T* dlogits, float grad_scale, int M,   \
                                                          int V) {                                           \
    cross_entropy_fwd_bwd<T>(logits, labels, loss, lse, dlogits, grad_scale, M, V);                          \
  }

CE_ENTRY(float, f32)
CE_ENTRY(f16, f16)
#if SECTUNE_BF16
CE_ENTRY(bf16, bf16)
#endif
