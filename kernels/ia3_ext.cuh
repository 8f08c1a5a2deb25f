// The IA3 epilogues of the GEMM core (moved verbatim from ia3.cu), shared by ia3.cu and
// quant_dequant.cu: OutScaleStore (output scaling, saves z) and InBwdStore (input scaling's dx and
// dl). Both follow gemm_core.cuh's Ext interface; see ia3.cu's header for the semantics.
#pragma once
#include "gemm_core.cuh"

namespace ia3 {

using gemm::BM;
using gemm::BN;
using gemm::LDC;

// Output scaling: y = acc·l[n] (+bias first), z saved.
template <typename T>
struct OutScaleStore {
  T* y;
  T* z;
  const T* bias;
  const float* l;
  int N;
  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {}
  __device__ void store(int, int, int m, int n, float acc) {
    const float zv = acc + (bias ? to_f32(bias[n]) : 0.f);
    if (z) z[(size_t)m * N + n] = from_f32<T>(zv);
    y[(size_t)m * N + n] = from_f32<T>(zv * l[n]);
  }
  __device__ void block_end(float (*)[LDC]) {}
};

// Feed-forward backward: dx = g⊙l[k] and dl[k] += Σ_rows x[m,k]·g[m,k] from the fp32 tile g.
template <typename T>
struct InBwdStore {
  T* dx;
  const T* x;
  const float* l;
  float* dl;
  int M, K;
  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {}
  __device__ void store(int, int, int m, int k, float g) { dx[(size_t)m * K + k] = from_f32<T>(g * l[k]); }
  __device__ void block_end(float (*g)[LDC]) {
    const int m0 = blockIdx.y * BM, k0 = blockIdx.x * BN;
    for (int c = threadIdx.x; c < BN; c += blockDim.x) {
      const int k = k0 + c;
      if (k >= K) continue;
      float sum = 0.f;
      for (int r = 0; r < BM && m0 + r < M; ++r) sum = fmaf(to_f32(x[(size_t)(m0 + r) * K + k]), g[r][c], sum);
      atomicAdd(dl + k, sum);
    }
  }
};

}  // namespace ia3
