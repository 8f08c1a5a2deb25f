// The linear layers' cases for the emulator (sim_gemm.cpp, sim_quant.cpp): one launch of a forward
// (y = x·Wᵀ + bias + s·xa·Bᵀ) or dX (dY·W + s·(dyb·A)⊙mask) entry against a double-precision reference
// over the exact values of the same inputs. The weight is whatever the caller launches with; `w` holds
// its exact values [N, K] as the kernel must see them (a quantized W: decoded, rounded to bf16).
#pragma once
#include "cases.h"

namespace cases {

// Whole tiles over every ring stage (K = 4 k-tiles), then ragged edges: M, N not multiples of 128 with
// K % 8 == 0 (whole-chunk loads), and K % 8 != 0 (element-wise loads) under one k-tile.
constexpr int LINEAR_SHAPES[3][3] = {{128, 128, 256}, {136, 200, 72}, {70, 45, 37}};

struct LinearCase {
  const char* name;
  int M, N, K, r;  // r = 0: the plain entry
  float p = 0.f;   // dropout (dX only)
};

inline std::string describe(const LinearCase& c, const char* dir, bool f32y) {
  return std::string(c.name) + " " + dir + (f32y ? " f32y " : " ") + shape(c.M, c.N, c.K) + " r" + std::to_string(c.r) +
         (c.p > 0.f && dir[0] == 'd' ? " dropout" : "");
}

// launch(x, bias, xa, B, scale, y) runs the entry for c (grid and shared memory are the caller's).
template <typename T, typename Y, class Launch>
void forward(Tally& tally, const LinearCase& c, const std::vector<double>& w, Launch launch) {
  const int M = c.M, N = c.N, K = c.K, r = c.r;
  Rng rng{(uint64_t)(M * 131 + N * 7 + K + r)};
  std::vector<double> xe, be;
  auto x = random16<T>((size_t)M * K, rng, xe);
  auto bias = random16<T>(N, rng, be);
  auto xa = random32((size_t)M * std::max(r, 1), rng, 1.f), B = random32((size_t)N * std::max(r, 1), rng, 0.5f);
  const float scale = 2.f;
  std::vector<Y> y((size_t)M * N, from_f32<Y>(NAN));  // unwritten outputs fail
  launch(x.data(), bias.data(), xa.data(), B.data(), scale, y.data());
  Check check = check_for<T>();  // outputs are rounded to T (the f32y entries store that value as f32)
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = be[n], mag = std::fabs(be[n]);
      for (int k = 0; k < K; ++k) {
        const double t = xe[(size_t)m * K + k] * w[(size_t)n * K + k];
        s += t, mag += std::fabs(t);
      }
      for (int j = 0; j < r; ++j) {
        const double t = scale * (double)xa[(size_t)m * r + j] * B[(size_t)n * r + j];
        s += t, mag += std::fabs(t);
      }
      check.at(to_f32(y[(size_t)m * N + n]), s, mag, m, n);
    }
  tally.report(describe(c, "fwd", sizeof(Y) > sizeof(T)), check);
}

// launch(dy, dyb, A, scale, p, seed, dx) runs the entry for c.
template <typename T, typename Y, class Launch>
void backward_dx(Tally& tally, const LinearCase& c, const std::vector<double>& w, Launch launch) {
  const int M = c.M, N = c.N, K = c.K, r = c.r;
  Rng rng{(uint64_t)(M * 17 + N * 3 + K * 5 + r)};
  std::vector<double> de;
  auto dy = random16<T>((size_t)M * N, rng, de);
  auto dyb = random32((size_t)M * std::max(r, 1), rng, 1.f), A = random32((size_t)std::max(r, 1) * K, rng, 0.5f);
  const float scale = 1.5f;
  const unsigned long long seed = 0x5EC7u;
  std::vector<Y> dx((size_t)M * K, from_f32<Y>(NAN));
  launch(dy.data(), dyb.data(), A.data(), scale, c.p, seed, dx.data());
  Check check = check_for<T>();
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) {
      double s = 0, mag = 0, rank = 0;
      for (int n = 0; n < N; ++n) {
        const double t = de[(size_t)m * N + n] * w[(size_t)n * K + k];
        s += t, mag += std::fabs(t);
      }
      for (int j = 0; j < r; ++j) rank += (double)dyb[(size_t)m * r + j] * A[(size_t)j * K + k];
      if (r > 0) {
        // The mask is the kernels' dropout_factor (checked bit-exact against src/backend/dropout.rs on
        // the GPU); what this checks is that each output gets its own element's factor.
        const double t = scale * rank * (c.p > 0.f ? dropout_factor(seed, (unsigned long long)m * K + k, c.p) : 1.f);
        s += t, mag += std::fabs(t);
      }
      check.at(to_f32(dx[(size_t)m * K + k]), s, mag, m, k);
    }
  tally.report(describe(c, "dX", sizeof(Y) > sizeof(T)), check);
}

// How one GEMM core's entries launch: threads per block, output tile per block (the grid over an
// [rows, cols] output), dynamic shared memory for rank ≤ rmax.
struct Core {
  int threads, tile;
  int (*smem)(int rmax);
  int tile_cols = 0;  // when the output tile is not square (gemm_tma.cuh: 128 × 256)
  uint3 grid(int rows, int cols) const {
    const int tc = tile_cols ? tile_cols : tile;
    return make_uint3((cols + tc - 1) / tc, (rows + tile - 1) / tile, 1);
  }
};

}  // namespace cases
