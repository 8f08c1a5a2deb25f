// Frozen weights in the quantized formats for the emulator programs (sim_quant.cpp: the tensor-core
// quantized linears; sim_qlinear.cpp: the FMA-core ones), with each weight's value decoded here from
// the format definitions (kernels/quant_formats.cuh's header, bitsandbytes' layouts), not from the
// kernels' decoders; and the check of the decoded tiles bit for bit.
#pragma once
#include "cases.h"

namespace cases {

inline float bf16_round(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// The kernels' 7 weight arguments (QW_PARAMS); SIM_QW(a) spells them in a launch's argument list.
struct QArgs {
  const unsigned char* q;
  const float* scale;
  const unsigned char* qscale;
  const float* map;
  const float* levels;
  float offset;
  int nested;
};
#define SIM_QW(a) (a).q, (a).scale, (a).qscale, (a).map, (a).levels, (a).offset, (a).nested

// One frozen weight [N, K] in a quantized format and its values w[n, k] in f32 as the format defines them.
struct QWeight {
  std::vector<unsigned char> q, qscale;
  std::vector<float> scale, map, levels;
  float offset = 0.f;
  int nested = 0;
  std::vector<double> decoded;
  QArgs args() const {
    auto or_null = [](const auto& v) { return v.empty() ? nullptr : v.data(); };
    return {q.data(), or_null(scale), or_null(qscale), or_null(map), or_null(levels), offset, nested};
  }
  // The values rounded to bf16, as the tensor-core kernels and the bf16 instances stage them.
  std::vector<double> bf16_rounded() const {
    std::vector<double> v(decoded.size());
    for (size_t i = 0; i < v.size(); ++i) v[i] = bf16_round((float)decoded[i]);
    return v;
  }
};

// NF4, blocks of 64 over the flattened weight, value 2j in the high nibble of byte j; with double
// quantization, absmax[b] = map[qscale[b]]·nested_absmax[b / nested] + offset (f32, two roundings),
// then w = levels[code]·absmax (one f32 rounding).
inline QWeight nf4(int N, int K, bool double_quant, Rng& rng, int nested = 256) {
  QWeight w;
  const size_t n = (size_t)N * K, blocks = (n + 63) / 64;
  w.q.resize((n + 1) / 2 + 4);  // + a word: the kernels' whole-word loads stay inside
  for (auto& b : w.q) b = (unsigned char)next_u32(rng);
  for (int i = 0; i < 16; ++i) w.levels.push_back(rng.next());
  std::vector<float> absmax(blocks);
  if (double_quant) {
    w.nested = nested;
    w.offset = 0.25f;
    w.qscale.resize(blocks);
    for (auto& b : w.qscale) b = (unsigned char)next_u32(rng);
    for (int i = 0; i < 256; ++i) w.map.push_back(rng.next());
    w.scale.resize((blocks + nested - 1) / nested);
    for (auto& v : w.scale) v = 0.5f + 0.25f * rng.next();
    for (size_t b = 0; b < blocks; ++b) {
      const volatile float prod = w.map[w.qscale[b]] * w.scale[b / nested];  // rounded to f32, then the add
      absmax[b] = prod + w.offset;
    }
  } else {
    w.scale.resize(blocks);
    for (auto& v : w.scale) v = 0.5f + 0.25f * rng.next();
    absmax = w.scale;
  }
  w.decoded.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char byte = w.q[i / 2];
    const int code = i % 2 ? byte & 15 : byte >> 4;
    const volatile float v = w.levels[code] * absmax[i / 64];
    w.decoded[i] = v;
  }
  return w;
}

// int8 with one absmax per row: w[n, k] = (q·scb[n])·fl32(1/127), two f32 roundings.
inline QWeight int8(int N, int K, Rng& rng) {
  QWeight w;
  w.q.resize((size_t)N * K + 8);
  for (auto& b : w.q) b = (unsigned char)next_u32(rng);
  w.scale.resize(N);
  for (auto& v : w.scale) v = 1.f + rng.next();
  w.decoded.resize((size_t)N * K);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      const volatile float scaled = (float)(signed char)w.q[(size_t)n * K + k] * w.scale[n];
      const volatile float v = scaled * 0.007874016f;
      w.decoded[(size_t)n * K + k] = v;
    }
  return w;
}

// bf16 bit patterns, little-endian, 2 bytes a weight: w = the pattern as the upper half of an f32.
inline QWeight bf16_bits(int N, int K, Rng& rng) {
  QWeight w;
  w.q.resize((size_t)N * K * 2);
  w.decoded.resize((size_t)N * K);
  for (size_t i = 0; i < w.decoded.size(); ++i) {
    // Any sign and mantissa, exponents 2^-15..2^1: wide for the tiles, tame for the sums.
    const uint32_t h = next_u32(rng), e = 112 + (h >> 8) % 17;
    const uint32_t bits = (h & 0x807F) | e << 7;
    w.q[2 * i] = (unsigned char)(bits & 0xFF);
    w.q[2 * i + 1] = (unsigned char)(bits >> 8);
    w.decoded[i] = sim::as_float(bits << 16);
  }
  return w;
}

// The decoded tiles themselves, bit for bit: x = I makes y = x·deq(W)ᵀ the decoded W transposed, and
// dY = I makes dX = dY·deq(W) the decoded W (a weight in the wrong place, or decoded or rounded
// otherwise, is a wrong output; every sum has one nonzero term, so no rounding hides it). `want` [N, K]:
// the values the kernel must stage; fwd(x, y) runs the forward with x [K, K], y [K, N]; dx(dy, d) the
// dX entry with dy [N, N], d [N, K]. Outputs start at NaN.
template <typename T, typename Y, class Fwd, class Dx>
void tiles_exact(Tally& tally, const std::string& name, const std::vector<double>& want, int N, int K, Fwd fwd, Dx dx) {
  auto identity = [](int n) {
    std::vector<T> e((size_t)n * n, from_f32<T>(0.f));
    for (int i = 0; i < n; ++i) e[(size_t)i * n + i] = from_f32<T>(1.f);
    return e;
  };
  const auto ik = identity(K), in = identity(N);
  std::vector<Y> y((size_t)K * N, from_f32<Y>(NAN)), d((size_t)N * K, from_f32<Y>(NAN));
  fwd((const T*)ik.data(), y.data());
  dx((const T*)in.data(), d.data());
  Check cy{0, 0, 0}, cd{0, 0, 0};
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      exact(cy, to_f32(y[(size_t)k * N + n]), want[(size_t)n * K + k], k, n);
      exact(cd, to_f32(d[(size_t)n * K + k]), want[(size_t)n * K + k], n, k);
    }
  tally.report(name + " tiles bit-exact, x = I " + shape(K, N, K), cy);
  tally.report(name + " tiles bit-exact, dY = I " + shape(N, N, K), cd);
}

}  // namespace cases
