// Inputs, launches and checks shared by the emulator's kernel programs (tests/host/sim_*.cpp).
#pragma once
#include <string>

#include "simt.h"

#include "common.cuh"  // the kernels' bf16 / f16 and their conversions

namespace cases {

inline uint64_t& next_seed() {  // the scheduler seed of the next launch (argv[1] of each program)
  static uint64_t s = 1;
  return s;
}

// Whether this run checks `part` of a program that has parts (all of them unless SIM_PART names one):
// a fault control aimed at a later kernel must not be stopped by an earlier one.
inline bool runs_part(const char* part) {
  const char* only = std::getenv("SIM_PART");
  return !only || std::string(only) == part;
}

// The programs' one argument: the scheduler seed of their first launch.
inline void parse_seed(int argc, char** argv) {
  if (argc > 1) next_seed() = std::stoull(argv[1]);
}

struct Rng {
  uint64_t s;
  float next() {  // uniform in [-1, 1)
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((s >> 40) & 0xFFFFFF) / (float)(1 << 23) - 1.f;
  }
};

inline uint32_t next_u32(Rng& r) {  // 32 random bits
  r.next();
  return (uint32_t)(r.s >> 32);
}

// n values of T, and the exact value of each as the reference reads it.
template <typename T> std::vector<T> random16(size_t n, Rng& r, std::vector<double>& exact, float scale = 1.f) {
  std::vector<T> v(n);
  exact.resize(n);
  for (size_t i = 0; i < n; ++i) {
    v[i] = from_f32<T>(scale * r.next());
    exact[i] = to_f32(v[i]);
  }
  return v;
}
inline std::vector<float> random32(size_t n, Rng& r, float scale) {
  std::vector<float> v(n);
  for (float& x : v) x = scale * r.next();
  return v;
}

// Each output against its reference: within `rel` of |ref| (the output's own rounding, on either side of
// a rounding boundary) plus `per_term` of the sum of the absolute terms (f32 accumulation order; 16-bit
// roundings of intermediates, e.g. attention's P). A wrong tile, fragment or stage puts whole terms in
// the wrong place: errors of the order of the terms.
struct Check {
  double rel, per_term = 0x1p-16, abs = 0;  // abs: the output type's subnormal spacing
  int wrong = 0, outputs = 0;
  double worst = 0;
  void at(double got, double want, double magnitude, int i, int j) {
    ++outputs;
    const double err = std::fabs(got - want), tol = rel * std::fabs(want) + per_term * magnitude + abs;
    worst = std::max(worst, err / std::max(tol, 1e-30));
    if (!(err <= tol)) {
      if (wrong < 4) std::printf("    out[%d][%d] = %.8g, want %.8g\n", i, j, got, want);
      ++wrong;
    }
  }
};

// Copies, zeros, untouched guards and flags, decoded weights: anything but the value itself is wrong
// (NaN wants NaN).
inline void exact(Check& c, double got, double want, int i, int j) {
  ++c.outputs;
  if (got == want || (std::isnan(got) && std::isnan(want))) return;
  if (c.wrong < 4) std::printf("    out[%d][%d] = %.8g, want exactly %.8g\n", i, j, got, want);
  ++c.wrong;
  c.worst = HUGE_VAL;
}

// The check of an output whose absolute allowance is computed per element and passed as `magnitude`,
// on top of rel·|want| (the output's own rounding).
inline Check allowance(double rel) { return Check{rel, 1.0}; }

// One bf16 / f16 / f32 unit in the last place, relative.
template <typename Y> constexpr double ulp() {
  return sizeof(Y) == 4 ? 0x1p-23 : std::is_same<Y, f16>::value ? 0x1p-10 : 0x1p-7;
}

// The check of outputs rounded to T.
template <typename T> Check check_for(double per_term = 0x1p-16) {
  return Check{ulp<T>(), per_term, std::is_same<T, f16>::value ? 0x1p-24 : 0.0};
}

template <typename T> const char* dt() {
  return sizeof(T) == 4 ? "f32" : std::is_same<T, f16>::value ? "f16" : "bf16";
}

struct Tally {
  int cases = 0, failures = 0;
  void report(const std::string& name, const Check& c) {
    ++cases;
    failures += c.wrong != 0;
    std::printf("%s: %d of %d outputs wrong (worst error %.3f of tolerance)\n", name.c_str(), c.wrong, c.outputs,
                c.worst);
  }
  int finish() const {
    std::printf("%s: %d cases, %d failed; %ld context switches\n", failures ? "FAILED" : "ok", cases, failures,
                sim::st().switches);
    return failures != 0;
  }
};

template <class K, class... Args>
void run(K kernel, uint3 grid, int threads, size_t smem, Args... args) {
  sim::launch({grid, make_uint3(threads, 1, 1), smem, next_seed()++}, [&] { kernel(args...); });
}

inline std::string shape(int a, int b, int c) {
  return std::to_string(a) + "x" + std::to_string(b) + "x" + std::to_string(c);
}

}  // namespace cases
