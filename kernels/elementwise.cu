// Data movement of the model glue: residual adds, the KV-cache concat, CodeGen's qkv column gather.
//   add:              out[i] = a[i] + b[i]
//   add_assign:       acc[i] += x[i]
//   cat_seq:          out [B, S1+S2, R] = a [B, S1, R] then b [B, S2, R] along the sequence (R = H·D)
//   gather_cols:      out[m, j] = x[m, idx[j]]                    x [M, K], out [M, J]
//   scatter_cols_add: dx[m, idx[j]] += dout[m, j]                 idx distinct (host checks), no atomics
//   scale_cols_f32:   out[m, n] = x[m, n]·l[n]                   x, out [M, N] (IA3 under --precision bf16)
//   round_f32_to_bf16 / widen_bf16_to_f32: y[i] = bf16(x[i]) (nearest even) / f32(x[i]) (exact), the
//   casts of `--precision bf16` around the tensor-core linears and attention
// Launch: grid-stride, block 256, any grid. Limits: element counts < 2^63; idx values < K.
// Pure copies and one add per element: bit-identical to src/backend/cpu/elementwise.rs.
#include "common.cuh"

#define GRID_STRIDE(i, n) \
  for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// GRID_STRIDE for bodies that divide the index: body(i) gets an unsigned i when n < 2^31 (the host's
// grids stay under 2^24 threads, so i + stride cannot wrap), else a long long. A 64-bit / or % is a
// subroutine call per element; a 32-bit one is a few inline instructions.
template <class Body>
__device__ __forceinline__ void grid_stride_divided(long long n, Body body) {
  const unsigned first = blockIdx.x * blockDim.x + threadIdx.x, stride = gridDim.x * blockDim.x;
  if (n < (1ll << 31)) {
    for (unsigned i = first; i < (unsigned)n; i += stride) body(i);
  } else {
    for (long long i = first; i < n; i += stride) body(i);
  }
}

template <typename T>
__device__ void add(const T* a, const T* b, T* out, long long n) {
  GRID_STRIDE(i, n) out[i] = from_f32<T>(to_f32(a[i]) + to_f32(b[i]));
}

template <typename T>
__device__ void add_assign(T* acc, const T* x, long long n) {
  GRID_STRIDE(i, n) acc[i] = from_f32<T>(to_f32(acc[i]) + to_f32(x[i]));
}

template <typename T>
__device__ void cat_seq(const T* a, const T* b, T* out, long long B, long long S1, long long S2, long long R) {
  const long long per_batch = (S1 + S2) * R;
  grid_stride_divided(B * per_batch, [&](auto i) {
    using I = decltype(i);
    const I bi = i / (I)per_batch, rem = i % (I)per_batch, s = rem / (I)R, r = rem % (I)R;
    out[i] = s < S1 ? a[(bi * S1 + s) * R + r] : b[(bi * S2 + (s - S1)) * R + r];
  });
}

template <typename T>
__device__ void gather_cols(const T* x, const int* idx, T* out, long long M, long long K, long long J) {
  grid_stride_divided(M * J, [&](auto i) {
    using I = decltype(i);
    const I m = i / (I)J, j = i % (I)J;
    out[i] = x[m * K + idx[j]];
  });
}

template <typename T>
__device__ void scatter_cols_add(T* dx, const T* dout, const int* idx, long long M, long long K, long long J) {
  grid_stride_divided(M * J, [&](auto i) {
    using I = decltype(i);
    const I m = i / (I)J, j = i % (I)J;
    T* d = dx + m * K + idx[j];
    *d = from_f32<T>(to_f32(*d) + to_f32(dout[i]));
  });
}

#define ELEMENTWISE_ENTRY(T, NAME)                                                                            \
  extern "C" __global__ void add_##NAME(const T* a, const T* b, T* out, long long n) { add<T>(a, b, out, n); } \
  extern "C" __global__ void add_assign_##NAME(T* acc, const T* x, long long n) { add_assign<T>(acc, x, n); } \
  extern "C" __global__ void cat_seq_##NAME(const T* a, const T* b, T* out, long long B, long long S1,        \
                                            long long S2, long long R) {                                     \
    cat_seq<T>(a, b, out, B, S1, S2, R);                                                                      \
  }                                                                                                           \
  extern "C" __global__ void gather_cols_##NAME(const T* x, const int* idx, T* out, long long M, long long K, \
                                                long long J) {                                               \
    gather_cols<T>(x, idx, out, M, K, J);                                                                     \
  }                                                                                                           \
  extern "C" __global__ void scatter_cols_add_##NAME(T* dx, const T* dout, const int* idx, long long M,      \
                                                     long long K, long long J) {                             \
    scatter_cols_add<T>(dx, dout, idx, M, K, J);                                                              \
  }

ELEMENTWISE_ENTRY(float, f32)
ELEMENTWISE_ENTRY(f16, f16)
#if SECTUNE_BF16
ELEMENTWISE_ENTRY(bf16, bf16)
#endif

template <typename T>
__device__ void round_from_f32(const float* x, T* y, long long n) {
  GRID_STRIDE(i, n) y[i] = from_f32<T>(x[i]);
}

template <typename T>
__device__ void widen_to_f32(const T* x, float* y, long long n) {
  GRID_STRIDE(i, n) y[i] = to_f32(x[i]);
}

extern "C" __global__ void scale_cols_f32(const float* x, const float* l, float* out, long long M, long long N) {
  grid_stride_divided(M * N, [&](auto i) { out[i] = x[i] * l[i % (decltype(i))N]; });
}

#if SECTUNE_BF16
extern "C" __global__ void round_f32_to_bf16(const float* x, bf16* y, long long n) { round_from_f32<bf16>(x, y, n); }
extern "C" __global__ void widen_bf16_to_f32(const bf16* x, float* y, long long n) { widen_to_f32<bf16>(x, y, n); }
#endif
