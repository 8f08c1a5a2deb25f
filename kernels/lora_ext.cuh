// The LoRA rank-term epilogues of the GEMM core (moved verbatim from lora_matmul.cu), shared by
// lora_matmul.cu and quant_dequant.cu: XaEpilogue adds s·xa·Bᵀ to y, DxExt adds s·(dyb·A)⊙mask to dX.
// Both follow gemm_core.cuh's Ext interface; see lora_matmul.cu's header for shapes and launch.
#pragma once
#include "gemm_core.cuh"

namespace lora {

using gemm::BM;
using gemm::BN;
using gemm::THREADS;

// Forward epilogue: adds s·xa·Bᵀ in the store; xa [M,r] was computed by lora_linear_xa.
template <typename T, int RMAX>
struct XaEpilogue {
  float (*xa_s)[RMAX + 1];
  const float* xa;
  const float* Bl;
  const T* bias;
  T* y;
  float scale;
  int M, N, r, m0;
  float bcol[RMAX];  // B[n, 0..r) of this thread's column

  // For the block's tile rows blockIdx.y·BM..; xa_s is the caller's __shared__ [BM][RMAX + 1].
  __device__ __forceinline__ static XaEpilogue make(float (*xa_s)[RMAX + 1], const float* xa, const float* Bl,
                                                    const T* bias, T* y, float scale, int M, int N, int r) {
    XaEpilogue e;
    e.xa_s = xa_s;
    e.xa = xa;
    e.Bl = Bl;
    e.bias = bias;
    e.y = y;
    e.scale = scale;
    e.M = M;
    e.N = N;
    e.r = r;
    e.m0 = blockIdx.y * BM;
    return e;
  }

  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {
    for (int e = threadIdx.x; e < BM * RMAX; e += THREADS) {
      const int row = e / RMAX, j = e % RMAX;
      const int m = m0 + row;
      xa_s[row][j] = (m < M && j < r) ? xa[(size_t)m * r + j] : 0.f;
    }
    const int n = blockIdx.x * BN + threadIdx.x % BN;
    for (int j = 0; j < RMAX; ++j) bcol[j] = (n < N && j < r) ? Bl[(size_t)n * r + j] : 0.f;
  }
  __device__ void store(int row, int, int m, int n, float c) {
    float lora = 0.f;
    for (int j = 0; j < RMAX; ++j) lora = fmaf(xa_s[row][j], bcol[j], lora);
    const float b = bias ? to_f32(bias[n]) : 0.f;
    y[(size_t)m * N + n] = from_f32<T>(c + b + scale * lora);
  }
  __device__ void block_end(float (*)[gemm::LDC]) {}
};

// dX extension: adds s·(dyb·A)⊙mask in the store; here the output column n is x's k index.
template <typename T, int RMAX>
struct DxExt {
  float (*dyb_s)[RMAX + 1];
  const float* dyb;
  const float* A;
  T* dx;
  float scale, p;
  unsigned long long seed;
  int M, Kx, r, m0;
  float acol[RMAX];  // A[0..r), k] of this thread's column

  // As XaEpilogue::make; dyb_s is the caller's __shared__ [BM][RMAX + 1], Kx dX's width.
  __device__ __forceinline__ static DxExt make(float (*dyb_s)[RMAX + 1], const float* dyb, const float* A, T* dx,
                                               float scale, float p, unsigned long long seed, int M, int Kx, int r) {
    DxExt e;
    e.dyb_s = dyb_s;
    e.dyb = dyb;
    e.A = A;
    e.dx = dx;
    e.scale = scale;
    e.p = p;
    e.seed = seed;
    e.M = M;
    e.Kx = Kx;
    e.r = r;
    e.m0 = blockIdx.y * BM;
    return e;
  }

  __device__ void load(int) {}
  __device__ void compute() {}
  __device__ void finish() {
    for (int e = threadIdx.x; e < BM * RMAX; e += THREADS) {
      const int row = e / RMAX, j = e % RMAX;
      const int m = m0 + row;
      dyb_s[row][j] = (m < M && j < r) ? dyb[(size_t)m * r + j] : 0.f;
    }
    const int k = blockIdx.x * BN + threadIdx.x % BN;
    for (int j = 0; j < RMAX; ++j) acol[j] = (k < Kx && j < r) ? A[(size_t)j * Kx + k] : 0.f;
  }
  __device__ void store(int row, int, int m, int k, float c) {
    float lora = 0.f;
    for (int j = 0; j < RMAX; ++j) lora = fmaf(dyb_s[row][j], acol[j], lora);
    if (p > 0.f) lora *= dropout_factor(seed, (unsigned long long)m * Kx + k, p);
    dx[(size_t)m * Kx + k] = from_f32<T>(c + scale * lora);
  }
  __device__ void block_end(float (*)[gemm::LDC]) {}
};

}  // namespace lora
