// Multi-tensor fp32 AdamW, one launch for all adapter tensors (torch.optim.AdamW semantics):
//   p *= 1 - lr·wd;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;
//   p -= (lr/bc1) · m / (sqrt(v)/sqrt(bc2) + eps),   bc1 = 1-β1^t, bc2 = 1-β2^t
// (the same arrangement as torch's and src/backend/cpu/adamw.rs; bc1, bc2 computed by the host).
// Inputs: a device array of `AdamTensor` descriptors {param, grad, m, v, n}, all fp32 and contiguous.
// Launch: grid (blocks_x, n_tensors), block 256; blockIdx.y picks the tensor, blocks stride over it.
// Limits: n < 2^63 per tensor; 65535 tensors per launch (grid.y). Saves nothing.
// Memory-bound: 4 reads + 3 writes of 4 bytes per element (28 B/elem) for the bandwidth figure.
// Verified: compiles (ptxas, zero spills checked by tests/kernels_build.rs); not run on a GPU.
#include "common.cuh"

struct AdamTensor {
  float* param;
  const float* grad;
  float* m;
  float* v;
  long long n;
};

extern "C" __global__ void adamw_step_f32(const AdamTensor* tensors, int n_tensors, float lr, float beta1,
                                          float beta2, float eps, float weight_decay, float bc1, float bc2) {
  if ((int)blockIdx.y >= n_tensors) return;
  const AdamTensor t = tensors[blockIdx.y];
  const float decay = 1.f - lr * weight_decay;
  const float step_size = lr / bc1;
  const float bc2_sqrt = sqrtf(bc2);
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < t.n; i += stride) {
    const float g = t.grad[i];
    const float m = beta1 * t.m[i] + (1.f - beta1) * g;
    const float v = beta2 * t.v[i] + (1.f - beta2) * g * g;
    t.m[i] = m;
    t.v[i] = v;
    const float p = t.param[i] * decay;
    t.param[i] = p - step_size * m / (sqrtf(v) / bc2_sqrt + eps);
  }
}
