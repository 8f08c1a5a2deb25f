// Elementwise activations of the two MLPs, forward and backward (fp32 math, one rounding on store).
//   SwiGLU (Llama):  h = silu(g)·u,  silu(g) = g·σ(g)
//     bwd: dg = dh·u·σ(g)·(1 + g·(1-σ(g))),  du = dh·silu(g)
//   gelu_new (CodeGen): y = 0.5·x·(1 + tanh(c·(x + 0.044715·x³))),  c = sqrt(2/π)
//     bwd: dx = dy·(0.5·(1+t) + 0.5·x·(1-t²)·c·(1 + 3·0.044715·x²)),  t = tanh(...)
// Shapes: every tensor has n elements (contiguous). Launch: grid-stride, block 256, any grid.
// Limits: n < 2^63. Saves nothing: the backward takes the forward's inputs (g, u / x).
// Verified: compiles (ptxas); not run on a GPU.
#include "common.cuh"

__device__ __forceinline__ float sigmoidf(float x) { return 1.f / (1.f + expf(-x)); }

template <typename T>
__device__ void swiglu_fwd(const T* g, const T* u, T* h, long long n) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float gv = to_f32(g[i]);
    h[i] = from_f32<T>(gv * sigmoidf(gv) * to_f32(u[i]));
  }
}

template <typename T>
__device__ void swiglu_bwd(const T* dh, const T* g, const T* u, T* dg, T* du, long long n) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float gv = to_f32(g[i]), uv = to_f32(u[i]), d = to_f32(dh[i]);
    const float s = sigmoidf(gv);
    dg[i] = from_f32<T>(d * uv * s * (1.f + gv * (1.f - s)));
    du[i] = from_f32<T>(d * gv * s);
  }
}

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi)
constexpr float kGeluA = 0.044715f;

template <typename T>
__device__ void gelu_new_fwd(const T* x, T* y, long long n) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = to_f32(x[i]);
    y[i] = from_f32<T>(0.5f * v * (1.f + tanhf(kGeluC * (v + kGeluA * v * v * v))));
  }
}

template <typename T>
__device__ void gelu_new_bwd(const T* dy, const T* x, T* dx, long long n) {
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = to_f32(x[i]);
    const float t = tanhf(kGeluC * (v + kGeluA * v * v * v));
    const float grad = 0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * kGeluC * (1.f + 3.f * kGeluA * v * v);
    dx[i] = from_f32<T>(to_f32(dy[i]) * grad);
  }
}

#define ACTIVATION_ENTRY(T, NAME)                                                                        \
  extern "C" __global__ void swiglu_fwd_##NAME(const T* g, const T* u, T* h, long long n) {              \
    swiglu_fwd<T>(g, u, h, n);                                                                           \
  }                                                                                                      \
  extern "C" __global__ void swiglu_bwd_##NAME(const T* dh, const T* g, const T* u, T* dg, T* du,        \
                                               long long n) {                                            \
    swiglu_bwd<T>(dh, g, u, dg, du, n);                                                                  \
  }                                                                                                      \
  extern "C" __global__ void gelu_new_fwd_##NAME(const T* x, T* y, long long n) { gelu_new_fwd<T>(x, y, n); } \
  extern "C" __global__ void gelu_new_bwd_##NAME(const T* dy, const T* x, T* dx, long long n) {          \
    gelu_new_bwd<T>(dy, x, dx, n);                                                                       \
  }

ACTIVATION_ENTRY(float, f32)
ACTIVATION_ENTRY(f16, f16)
#if SECTUNE_BF16
ACTIVATION_ENTRY(bf16, bf16)
#endif
