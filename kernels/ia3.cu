// IA3 linear layers (PEFT semantics), on the same GEMM core as lora_matmul.cu (gemm_core.cuh).
//   feed-forward (input scaling), l [K]:  y = (x⊙l)·Wᵀ + bias      l applied while staging x tiles
//     bwd: g = dY·W;  dx = g⊙l;  dl[k] += Σ_m x[m,k]·g[m,k]       one GEMM; dl from the fp32 tile
//   output scaling, l [N]:  z = x·Wᵀ + bias;  y = z⊙l              l applied in the epilogue
//     fwd saves z (unscaled, in T) when z_out != null: the backward needs it for dl
//     bwd: dx = (dY⊙l)·W   (l applied while staging dY tiles: it scales the reduction index)
//          dl[n] += Σ_m dY[m,n]·z[m,n]                             (ia3_out_bwd_dl, column sums)
// Shapes: x, dx [M,K]; W [N,K]; bias [N] or null; y, z, dY [M,N] in T; l, dl fp32 (dl accumulates).
// Launch: GEMM kernels grid (ceil(N_out/64), ceil(M/64)), block 128 (N_out = N fwd, K bwd).
//   ia3_out_bwd_dl: grid (ceil(N/32), row_blocks), block (32, 8).
// Rounding: feed-forward rounds x⊙l to T once before the matmul (as PEFT does); output scaling
//   multiplies the fp32 accumulator by l and rounds once (PEFT rounds z first: ≤ 1 ulp apart).
// Limits: any M, N, K ≥ 1; sizes < 2^31. Verified: compiles (ptxas); not run on a GPU.
#include "gemm_core.cuh"
#include "ia3_ext.cuh"

namespace ia3 {

using gemm::BM;
using gemm::BN;
using gemm::LDC;

template <typename T>
__device__ void in_fwd(const T* x, const T* W, const T* bias, const float* l, T* y, int M, int N, int K) {
  gemm::PlainStore<T> ext{y, bias, N};
  gemm::gemm_block<T, false>(x, K, l, W, K, M, N, K, ext);
}

template <typename T>
__device__ void in_bwd(const T* dy, const T* x, const T* W, const float* l, T* dx, float* dl, int M, int N, int K) {
  InBwdStore<T> ext{dx, x, l, dl, M, K};
  gemm::gemm_block<T, true>(dy, N, nullptr, W, K, M, K, N, ext);
}

template <typename T>
__device__ void out_fwd(const T* x, const T* W, const T* bias, const float* l, T* y, T* z, int M, int N, int K) {
  OutScaleStore<T> ext{y, z, bias, l, N};
  gemm::gemm_block<T, false>(x, K, nullptr, W, K, M, N, K, ext);
}

template <typename T>
__device__ void out_bwd_dx(const T* dy, const T* W, const float* l, T* dx, int M, int N, int K) {
  gemm::PlainStore<T> ext{dx, nullptr, K};
  gemm::gemm_block<T, true>(dy, N, l, W, K, M, K, N, ext);
}

// dl[n] += Σ_m dY[m,n]·z[m,n]. Block (32, 8): threadIdx.x picks the column, rows split over y.
template <typename T>
__device__ void out_bwd_dl(const T* dy, const T* z, float* dl, int M, int N) {
  __shared__ float part[8][33];
  const int n = blockIdx.x * 32 + threadIdx.x;
  float acc = 0.f;
  if (n < N)
    for (int m = blockIdx.y * 8 + threadIdx.y; m < M; m += gridDim.y * 8)
      acc = fmaf(to_f32(dy[(size_t)m * N + n]), to_f32(z[(size_t)m * N + n]), acc);
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && n < N) {
    float total = 0.f;
    for (int i = 0; i < 8; ++i) total += part[i][threadIdx.x];
    atomicAdd(dl + n, total);
  }
}

}  // namespace ia3

#define IA3_ENTRY(T, NAME)                                                                                      \
  extern "C" __global__ void __launch_bounds__(128) ia3_in_fwd_##NAME(const T* x, const T* W, const T* bias,    \
                                                                      const float* l, T* y, int M, int N, int K) { \
    ia3::in_fwd<T>(x, W, bias, l, y, M, N, K);                                                                  \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) ia3_in_bwd_##NAME(const T* dy, const T* x, const T* W,      \
                                                                      const float* l, T* dx, float* dl, int M,  \
                                                                      int N, int K) {                           \
    ia3::in_bwd<T>(dy, x, W, l, dx, dl, M, N, K);                                                               \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) ia3_out_fwd_##NAME(const T* x, const T* W, const T* bias,   \
                                                                       const float* l, T* y, T* z, int M, int N, \
                                                                       int K) {                                 \
    ia3::out_fwd<T>(x, W, bias, l, y, z, M, N, K);                                                              \
  }                                                                                                             \
  extern "C" __global__ void __launch_bounds__(128) ia3_out_bwd_dx_##NAME(const T* dy, const T* W,              \
                                                                          const float* l, T* dx, int M, int N,  \
                                                                          int K) {                              \
    ia3::out_bwd_dx<T>(dy, W, l, dx, M, N, K);                                                                  \
  }                                                                                                             \
  extern "C" __global__ void ia3_out_bwd_dl_##NAME(const T* dy, const T* z, float* dl, int M, int N) {          \
    ia3::out_bwd_dl<T>(dy, z, dl, M, N);                                                                        \
  }

IA3_ENTRY(float, f32)
IA3_ENTRY(f16, f16)
#if SECTUNE_BF16
IA3_ENTRY(bf16, bf16)
#endif
