// Causal attention with a KV offset (key j seen by query i iff j ≤ i + S − T) and GQA, in double
// precision over the same rounded inputs the kernels get: the reference of the emulator's attention
// programs (sim_attention.cpp, sim_attention_wg.cpp). Besides each output, the sum of its terms'
// magnitudes, for the per-term error allowance of cases::Check.
#pragma once
#include "cases.h"

namespace cases {

struct Shape {
  int B, T, S, H, Hkv;
};

// Inputs q, dO [B,T,H,D] and k, v [B,S,Hkv,D] drawn from a seed of (D, T, S), their exact values,
// and the reference out, lse [B,H,T], Δ = rowsum(dO⊙O), dQ, dK, dV.
template <typename T> struct AttentionCase {
  std::vector<T> q, k, v, dout;
  std::vector<double> qe, ke, ve, de;
  std::vector<double> o, o_mag, lse, delta, dq, dq_mag, dk, dk_mag, dv, dv_mag;
};

template <typename T, int D> AttentionCase<T> attention_case(const Shape& sh, float scale) {
  const int B = sh.B, Tq = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, group = H / Hkv;
  AttentionCase<T> c;
  Rng rng{(uint64_t)(D * 1000 + Tq * 7 + S)};
  c.q = random16<T>((size_t)B * Tq * H * D, rng, c.qe);
  c.k = random16<T>((size_t)B * S * Hkv * D, rng, c.ke);
  c.v = random16<T>((size_t)B * S * Hkv * D, rng, c.ve);
  c.dout = random16<T>((size_t)B * Tq * H * D, rng, c.de);
  const auto &qe = c.qe, &ke = c.ke, &ve = c.ve, &de = c.de;
  auto qi = [&](int b, int t, int h, int d) { return (((size_t)b * Tq + t) * H + h) * D + d; };
  auto ki = [&](int b, int s, int h, int d) { return (((size_t)b * S + s) * Hkv + h) * D + d; };
  for (auto* v : {&c.o, &c.o_mag, &c.dq, &c.dq_mag}) v->assign(c.q.size(), 0.0);
  for (auto* v : {&c.dk, &c.dk_mag, &c.dv, &c.dv_mag}) v->assign(c.k.size(), 0.0);
  c.lse.assign((size_t)B * H * Tq, 0.0);
  c.delta.assign(c.lse.size(), 0.0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Tq; ++i) {
        const int hk = h / group, visible = i + (S - Tq) + 1;
        std::vector<double> s(visible), p(visible);
        double m = -1e300, l = 0;
        for (int j = 0; j < visible; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += qe[qi(b, i, h, d)] * ke[ki(b, j, hk, d)];
          s[j] = scale * dot;
          m = std::max(m, s[j]);
        }
        for (int j = 0; j < visible; ++j) l += std::exp(s[j] - m);
        const size_t row = ((size_t)b * H + h) * Tq + i;
        c.lse[row] = m + std::log(l);
        for (int j = 0; j < visible; ++j) p[j] = std::exp(s[j] - c.lse[row]);
        double dl = 0;
        for (int d = 0; d < D; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < visible; ++j) acc += p[j] * ve[ki(b, j, hk, d)], mag += std::fabs(p[j] * ve[ki(b, j, hk, d)]);
          c.o[qi(b, i, h, d)] = acc;
          c.o_mag[qi(b, i, h, d)] = mag;
          dl += de[qi(b, i, h, d)] * acc;
        }
        c.delta[row] = dl;
        for (int j = 0; j < visible; ++j) {
          double acc = 0;
          for (int d = 0; d < D; ++d) acc += de[qi(b, i, h, d)] * ve[ki(b, j, hk, d)];
          // dS's size for the error allowance is that of the terms of dP − Δ, which cancel (to 0 when
          // a query sees one key).
          const double ds = p[j] * (acc - dl), ds_mag = p[j] * (std::fabs(acc) + std::fabs(dl));
          for (int d = 0; d < D; ++d) {
            c.dq[qi(b, i, h, d)] += scale * ds * ke[ki(b, j, hk, d)];
            c.dq_mag[qi(b, i, h, d)] += std::fabs(scale * ds_mag * ke[ki(b, j, hk, d)]);
            c.dk[ki(b, j, hk, d)] += scale * ds * qe[qi(b, i, h, d)];
            c.dk_mag[ki(b, j, hk, d)] += std::fabs(scale * ds_mag * qe[qi(b, i, h, d)]);
            c.dv[ki(b, j, hk, d)] += p[j] * de[qi(b, i, h, d)];
            c.dv_mag[ki(b, j, hk, d)] += std::fabs(p[j] * de[qi(b, i, h, d)]);
          }
        }
      }
  return c;
}

inline std::string attention_label(const char* name, int D, const Shape& sh) {
  return std::string(name) + " d" + std::to_string(D) + " B" + std::to_string(sh.B) + " T" + std::to_string(sh.T) +
         " S" + std::to_string(sh.S) + " H" + std::to_string(sh.H) + "/" + std::to_string(sh.Hkv);
}

}  // namespace cases
