// Multi-tensor fp32 AdamW, one launch for all adapter tensors (torch.optim.AdamW semantics):
//   p *= 1 - lr·wd;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
//   p -= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps),   bc1 = 1-β1^t, bc2 = 1-β2^t
// (the same arrangement as torch's and src/backend/cpu/adamw.rs; bc1, bc2 computed by the host).
// Inputs: a device array of `AdamTensor` descriptors {param, grad, m, v, n}, all fp32 and contiguous.
// Launch: grid (blocks_x, n_tensors), block 256; blockIdx.y picks the tensor, blocks stride over it.
// Limits: n < 2^63 per tensor; 65535 tensors per launch (grid.y). Saves nothing.
// Memory-bound: 4 reads + 3 writes of 4 bytes per element (28 B/elem) for the bandwidth figure.
// Verified on an H200 against the CPU backend (tests/cuda_parity.rs); zero spills (tests/kernels_build.rs).
#include "common.cuh"

struct AdamTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  long long n;
};

__device__ __forceinline__ float adam_one(float& p, float& m, float& v, float g, float beta1, float beta2,
                                         float eps, float decay, float step_size, float bc2_sqrt) {
  m = beta1 * m + (1.f - beta1) * g;
  v = beta2 * v + (1.f - beta2) * g * g;
  p = p * decay - step_size * m / (sqrtf(v) / bc2_sqrt + eps);
  return p;
}

__device__ __forceinline__ void adam4(float4& p, float4& m, float4& v, const float4& g, float beta1, float beta2,
                                      float eps, float decay, float step_size, float bc2_sqrt) {
  adam_one(p.x, m.x, v.x, g.x, beta1, beta2, eps, decay, step_size, bc2_sqrt);
  adam_one(p.y, m.y, v.y, g.y, beta1, beta2, eps, decay, step_size, bc2_sqrt);
  adam_one(p.z, m.z, v.z, g.z, beta1, beta2, eps, decay, step_size, bc2_sqrt);
  adam_one(p.w, m.w, v.w, g.w, beta1, beta2, eps, decay, step_size, bc2_sqrt);
}

// 16-byte loads and stores where all four arrays are 16-byte aligned (every cudaMalloc'd tensor
// is): the first version's scalar loop reached 47.6% of an H200's bandwidth (bench/RESULTS.md).
extern "C" __global__ void adamw_step_f32(const AdamTensor* tensors, int n_tensors, float lr, float beta1,
                                          float beta2, float eps, float weight_decay, float bc1, float bc2) {
  if ((int)blockIdx.y >= n_tensors) return;
  const AdamTensor t = tensors[blockIdx.y];
  const float decay = 1.f - lr * weight_decay;
  const float step_size = lr / bc1;
  const float bc2_sqrt = sqrtf(bc2);
  const long long stride = (long long)gridDim.x * blockDim.x;
  const long long first = (long long)blockIdx.x * blockDim.x + threadIdx.x;
  const bool aligned =
      (((unsigned long long)t.param | (unsigned long long)t.grad | (unsigned long long)t.m | (unsigned long long)t.v) &
       15ull) == 0;
  long long done = 0;
  if (aligned) {
    const long long n4 = t.n / 4;
    float4* p4 = reinterpret_cast<float4*>(t.param);
    const float4* g4 = reinterpret_cast<const float4*>(t.grad);
    float4* m4 = reinterpret_cast<float4*>(t.m);
    float4* v4 = reinterpret_cast<float4*>(t.v);
    // Two float4 per thread per trip, all loads issued before any math (more bytes in flight), with
    // evict-first hints: every byte is touched once per step.
    for (long long i = first; i < n4; i += 2 * stride) {
      const long long j = i + stride;
      const bool two = j < n4;
      const float4 ga = __ldcs(g4 + i), gb = two ? __ldcs(g4 + j) : make_float4(0.f, 0.f, 0.f, 0.f);
      float4 pa = __ldcs(p4 + i), ma = __ldcs(m4 + i), va = __ldcs(v4 + i);
      float4 pb = pa, mb = ma, vb = va;
      if (two) {
        pb = __ldcs(p4 + j);
        mb = __ldcs(m4 + j);
        vb = __ldcs(v4 + j);
      }
      adam4(pa, ma, va, ga, beta1, beta2, eps, decay, step_size, bc2_sqrt);
      __stcs(p4 + i, pa);
      __stcs(m4 + i, ma);
      __stcs(v4 + i, va);
      if (two) {
        adam4(pb, mb, vb, gb, beta1, beta2, eps, decay, step_size, bc2_sqrt);
        __stcs(p4 + j, pb);
        __stcs(m4 + j, mb);
        __stcs(v4 + j, vb);
      }
    }
    done = n4 * 4;
  }
  for (long long i = done + first; i < t.n; i += stride)
    adam_one(t.param[i], t.m[i], t.v[i], t.grad[i], beta1, beta2, eps, decay, step_size, bc2_sqrt);
}
