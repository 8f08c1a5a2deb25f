// Token sampling per row of logits: temperature, top-p (nucleus), then one draw from a given uniform.
//   temperature == 0: greedy, out[s] = argmax_v logits[s,v] (lowest index among equal maxima)
//   else: p_v = softmax(logits[s,:] / temperature);  kept = {v : p_v ≥ τ} with τ the largest value
//         whose kept mass Σ_{p_v ≥ τ} p_v is still ≥ top_p (the smallest top set reaching top_p, as
//         HF's TopPLogitsWarper keeps; equal probabilities at the edge are kept together);
//         out[s] = the first v in index order where the running kept mass exceeds u[s]·mass(kept).
// τ is found by 32 bisection steps on [0, max p] (each a pass over the row recomputing p_v, so no
// V-sized buffer); top_p ≥ 1 keeps every token.
// Shapes: logits [S, V] in T; uniforms [S] fp32 in [0, 1); out [S] int32.
// Launch: grid (S), block 512 (any power of two from 32 to 1024). Limits: V < 2^31.
// Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

constexpr int kMaxThreads = 1024;

template <typename T>
__device__ void sample_row(const T* logits, float temperature, float top_p, const float* uniforms, int* out, int V) {
  __shared__ float scratch[32];
  __shared__ float red_val[kMaxThreads];
  __shared__ int red_idx[kMaxThreads];
  __shared__ float chunk_sum[kMaxThreads];
  __shared__ int owner_s;
  __shared__ float owner_prefix_s, target_s;
  const int s = blockIdx.x, t = threadIdx.x, nt = blockDim.x;
  const T* row = logits + (size_t)s * V;

  if (temperature == 0.f) {
    float best = -INFINITY;
    int best_i = V;  // larger than any real index
    for (int v = t; v < V; v += nt) {
      const float x = to_f32(row[v]);
      if (x > best || (x == best && v < best_i)) {
        best = x;
        best_i = v;
      }
    }
    red_val[t] = best;
    red_idx[t] = best_i;
    __syncthreads();
    for (int stride = nt / 2; stride > 0; stride /= 2) {
      if (t < stride) {
        const float ov = red_val[t + stride];
        const int oi = red_idx[t + stride];
        if (ov > red_val[t] || (ov == red_val[t] && oi < red_idx[t])) {
          red_val[t] = ov;
          red_idx[t] = oi;
        }
      }
      __syncthreads();
    }
    if (t == 0) out[s] = red_idx[0] < V ? red_idx[0] : 0;  // all NaN: token 0
    return;
  }

  const float inv_temp = 1.f / temperature;
  float mx = -INFINITY;
  for (int v = t; v < V; v += nt) mx = fmaxf(mx, to_f32(row[v]) * inv_temp);
  mx = block_max(mx, scratch);
  float sum = 0.f;
  for (int v = t; v < V; v += nt) sum += expf(to_f32(row[v]) * inv_temp - mx);
  const float inv_sum = 1.f / block_sum(sum, scratch);
  // Every pass computes p_v with this same expression, so the passes agree exactly.
  auto prob = [&](int v) { return expf(to_f32(row[v]) * inv_temp - mx) * inv_sum; };
  auto kept_mass = [&](float tau) {
    float m = 0.f;
    for (int v = t; v < V; v += nt) {
      const float p = prob(v);
      if (p >= tau) m += p;
    }
    return block_sum(m, scratch);
  };

  float tau = 0.f;
  if (top_p < 1.f) {
    const float p_max = inv_sum;  // the max logit has p = exp(0)/sum
    if (kept_mass(p_max) >= top_p) {
      tau = p_max;
    } else {
      float lo = 0.f, hi = p_max;  // mass(lo) ≥ top_p > mass(hi)
      for (int it = 0; it < 32; ++it) {
        const float mid = 0.5f * (lo + hi);
        if (kept_mass(mid) >= top_p) lo = mid;
        else hi = mid;
      }
      tau = lo;
    }
  }

  // Thread t owns the contiguous chunk [t·C, (t+1)·C): an index-order scan without a V-sized buffer.
  const int C = ceil_div(V, nt);
  const int begin = min(V, t * C), end = min(V, begin + C);
  float mine = 0.f;
  for (int v = begin; v < end; ++v) {
    const float p = prob(v);
    if (p >= tau) mine += p;
  }
  chunk_sum[t] = mine;
  __syncthreads();
  if (t == 0) {
    float total = 0.f;
    for (int i = 0; i < nt; ++i) total += chunk_sum[i];
    const float target = uniforms[s] * total;
    float prefix = 0.f;
    int owner = -1;
    float owner_prefix = 0.f;
    for (int i = 0; i < nt; ++i) {
      if (chunk_sum[i] > 0.f) {
        owner = i;  // the last non-empty chunk catches a target at the very top (rounding)
        owner_prefix = prefix;
        if (prefix + chunk_sum[i] > target) break;
      }
      prefix += chunk_sum[i];
    }
    owner_s = owner;
    owner_prefix_s = owner_prefix;
    target_s = target;
  }
  __syncthreads();
  if (t == owner_s) {
    const float target = target_s;
    float running = owner_prefix_s;
    int pick = -1;
    for (int v = begin; v < end; ++v) {
      const float p = prob(v);
      if (p < tau) continue;
      pick = v;  // the last kept token if rounding leaves target unreached
      running += p;
      if (running > target) break;
    }
    out[s] = pick;
  }
  if (t == 0 && owner_s < 0) out[s] = 0;  // no kept token (all NaN logits)
}

#define SAMPLING_ENTRY(T, NAME)                                                                                 \
  extern "C" __global__ void __launch_bounds__(kMaxThreads) sampling_fwd_##NAME(                                \
      const T* logits, float temperature, float top_p, const float* uniforms, int* out, int V) {                \
    sample_row<T>(logits, temperature, top_p, uniforms, out, V);                                                \
  }

SAMPLING_ENTRY(float, f32)
SAMPLING_ENTRY(f16, f16)
#if SECTUNE_BF16
SAMPLING_ENTRY(bf16, bf16)
#endif
