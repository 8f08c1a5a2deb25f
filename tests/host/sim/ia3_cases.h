// The IA3 linears' four GEMM entries for the emulator (ia3.cu on a dense weight in sim_ops.cpp,
// quant_dequant.cu's qia3_* on a decoded one in sim_qlinear.cpp) against a double-precision reference
// over the exact values of the same inputs. `w` holds the weight's exact values [N, K] as the kernel
// must see them; the launches (grid, block, the weight's own arguments) are the caller's.
#pragma once
#include "cases.h"

namespace cases {

// x rounded to T (an f32 product the kernel stages in T).
template <typename T> double round_to(float x) { return to_f32(from_f32<T>(x)); }

// in_fwd(x, bias, l, y), in_bwd(dy, x, l, dx, dl), out_fwd(x, bias, l, y, z), out_dx(dy, l, dx) run the
// entries; reported as "<prefix>_in_fwd<tag> y" and so on. Sums get the allowance of linear_cases.h
// (per_term 2^-16 of Σ|terms|, the core's f32 accumulation order), outputs in T their rounding. l near 1,
// as an IA3 vector; dl starts nonzero (it accumulates); outputs start at a sentinel.
template <typename T, class InF, class InB, class OutF, class OutDx>
void ia3_gemms(Tally& tally, const std::string& prefix, const std::string& tag, int M, int N, int K, bool with_bias,
               const std::vector<double>& we, InF in_fwd, InB in_bwd, OutF out_fwd, OutDx out_dx) {
  Rng rng{(uint64_t)(M * 41 + N * 5 + K)};
  std::vector<double> xe, be, de;
  auto x = random16<T>((size_t)M * K, rng, xe), bias = random16<T>(N, rng, be);
  auto dy = random16<T>((size_t)M * N, rng, de);
  if (!with_bias) std::fill(be.begin(), be.end(), 0.0);
  const T* bp = with_bias ? bias.data() : nullptr;
  auto near_one = [&](int n) {
    auto l = random32(n, rng, 0.5f);
    for (float& v : l) v += 1.f;
    return l;
  };
  const auto lk = near_one(K), ln = near_one(N);
  const auto dlk0 = random32(K, rng, 1.f);
  auto dlk = dlk0;
  const T fill = from_f32<T>(-777.f);
  std::vector<T> y_in((size_t)M * N, fill), y_out = y_in, z = y_in, dx_in((size_t)M * K, fill), dx_out = dx_in;
  in_fwd((const T*)x.data(), bp, (const float*)lk.data(), y_in.data());
  in_bwd((const T*)dy.data(), (const T*)x.data(), (const float*)lk.data(), dx_in.data(), dlk.data());
  out_fwd((const T*)x.data(), bp, (const float*)ln.data(), y_out.data(), z.data());
  out_dx((const T*)dy.data(), (const float*)ln.data(), dx_out.data());

  Check c_in_y = check_for<T>(), c_in_dx = check_for<T>(), c_in_dl{0x1p-23, 0x1p-16}, c_out_y = check_for<T>(),
        c_out_z = check_for<T>(), c_out_dx = check_for<T>();
  // Feed-forward: x⊙l rounded to T once (the f32 product, then T), as staged.
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double s = be[n], mag = std::fabs(be[n]), zs = be[n];
      for (int k = 0; k < K; ++k) {
        const double xs = round_to<T>((float)xe[(size_t)m * K + k] * lk[k]);
        const double t = xs * we[(size_t)n * K + k], tz = xe[(size_t)m * K + k] * we[(size_t)n * K + k];
        s += t, mag += std::fabs(t), zs += tz;
      }
      c_in_y.at(to_f32(y_in[(size_t)m * N + n]), s, mag, m, n);
      double zmag = std::fabs(be[n]);
      for (int k = 0; k < K; ++k) zmag += std::fabs(xe[(size_t)m * K + k] * we[(size_t)n * K + k]);
      c_out_z.at(to_f32(z[(size_t)m * N + n]), zs, zmag, m, n);
      c_out_y.at(to_f32(y_out[(size_t)m * N + n]), zs * ln[n], zmag * ln[n], m, n);
    }
  // g = dY·W, dx = g⊙l; dl[k] += Σ_m x·g (g in f32, so x·g's allowance is x times g's).
  std::vector<double> gk((size_t)M * K), gk_mag((size_t)M * K);
  for (int m = 0; m < M; ++m)
    for (int k = 0; k < K; ++k) {
      double s = 0, mag = 0, so = 0, so_mag = 0;
      for (int n = 0; n < N; ++n) {
        const double t = de[(size_t)m * N + n] * we[(size_t)n * K + k];
        const double ds = round_to<T>((float)de[(size_t)m * N + n] * ln[n]), to = ds * we[(size_t)n * K + k];
        s += t, mag += std::fabs(t), so += to, so_mag += std::fabs(to);
      }
      gk[(size_t)m * K + k] = s, gk_mag[(size_t)m * K + k] = mag;
      c_in_dx.at(to_f32(dx_in[(size_t)m * K + k]), s * lk[k], mag * lk[k], m, k);
      c_out_dx.at(to_f32(dx_out[(size_t)m * K + k]), so, so_mag, m, k);
    }
  for (int k = 0; k < K; ++k) {
    double s = dlk0[k], mag = std::fabs(dlk0[k]);
    for (int m = 0; m < M; ++m) {
      s += xe[(size_t)m * K + k] * gk[(size_t)m * K + k];
      mag += std::fabs(xe[(size_t)m * K + k]) * gk_mag[(size_t)m * K + k];
    }
    c_in_dl.at(dlk[k], s, mag, 0, k);
  }
  tally.report(prefix + "_in_fwd" + tag + " y", c_in_y);
  tally.report(prefix + "_in_bwd" + tag + " dx", c_in_dx);
  tally.report(prefix + "_in_bwd" + tag + " dl", c_in_dl);
  tally.report(prefix + "_out_fwd" + tag + " y", c_out_y);
  tally.report(prefix + "_out_fwd" + tag + " z", c_out_z);
  tally.report(prefix + "_out_bwd_dx" + tag + " dx", c_out_dx);
}

}  // namespace cases
