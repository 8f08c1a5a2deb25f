// The int8 / NF4 linears' own kernels (quant_tc.cu on the mma.sync core, quant_wgmma.cu on both pipelines of the sm_90a
// warpgroup core) run on the CPU by the SIMT emulator (sim/simt.h), plain and fused LoRA, forward and dX,
// against a double-precision reference over the weights decoded here from the format definitions
// (kernels/quant_formats.cuh's header, bitsandbytes' layouts) and rounded to bf16 as the kernels round
// them; and the decoded tiles bit for bit (x = I, dY = I). Built and run by tests/kernel_sim.rs;
// argv[1] (optional): the first scheduler seed.
#include "sim/linear_cases.h"

#include "quant_tc.cu"
#include "quant_wgmma.cu"
#include "sim/cores.h"

namespace {

using namespace cases;
Tally tally;

uint32_t next_u32(Rng& r) {
  r.next();
  return (uint32_t)(r.s >> 32);
}
float bf16_round(float v) { return __bfloat162float(__float2bfloat16_rn(v)); }

// One frozen weight [N, K] in a quantized format: the kernels' 7 arguments and its exact values.
struct QWeight {
  std::vector<unsigned char> q, qscale;
  std::vector<float> scale, map, levels;
  float offset = 0.f;
  int nested = 0;
  std::vector<double> exact;
};

// NF4, blocks of 64 over the flattened weight, value 2j in the high nibble of byte j; with double
// quantization, absmax[b] = map[qscale[b]]·nested_absmax[b / 256] + offset (f32, two roundings).
QWeight nf4(int N, int K, bool double_quant, Rng& rng) {
  QWeight w;
  const size_t n = (size_t)N * K, blocks = (n + 63) / 64;
  w.q.resize((n + 1) / 2 + 4);  // + a word: the kernels' whole-word loads stay inside
  for (auto& b : w.q) b = (unsigned char)next_u32(rng);
  for (int i = 0; i < 16; ++i) w.levels.push_back(rng.next());
  std::vector<float> absmax(blocks);
  if (double_quant) {
    w.nested = 256;
    w.offset = 0.25f;
    w.qscale.resize(blocks);
    for (auto& b : w.qscale) b = (unsigned char)next_u32(rng);
    for (int i = 0; i < 256; ++i) w.map.push_back(rng.next());
    w.scale.resize((blocks + 255) / 256);
    for (auto& v : w.scale) v = 0.5f + 0.25f * rng.next();
    for (size_t b = 0; b < blocks; ++b) {
      const volatile float prod = w.map[w.qscale[b]] * w.scale[b / 256];  // rounded to f32, then the add
      absmax[b] = prod + w.offset;
    }
  } else {
    w.scale.resize(blocks);
    for (auto& v : w.scale) v = 0.5f + 0.25f * rng.next();
    absmax = w.scale;
  }
  w.exact.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const unsigned char byte = w.q[i / 2];
    const int code = i % 2 ? byte & 15 : byte >> 4;
    w.exact[i] = bf16_round(w.levels[code] * absmax[i / 64]);
  }
  return w;
}

// int8 with one absmax per row: w[n, k] = (q·scb[n])·fl32(1/127).
QWeight int8(int N, int K, Rng& rng) {
  QWeight w;
  w.q.resize((size_t)N * K + 8);
  for (auto& b : w.q) b = (unsigned char)next_u32(rng);
  w.scale.resize(N);
  for (auto& v : w.scale) v = 1.f + rng.next();
  w.exact.resize((size_t)N * K);
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      const volatile float scaled = (float)(signed char)w.q[(size_t)n * K + k] * w.scale[n];
      w.exact[(size_t)n * K + k] = bf16_round(scaled * 0.007874016f);
    }
  return w;
}

const float* or_null(const std::vector<float>& v) { return v.empty() ? nullptr : v.data(); }
const unsigned char* or_null(const std::vector<unsigned char>& v) { return v.empty() ? nullptr : v.data(); }

// The decoded tiles themselves, bit for bit: x = I makes y = x·deq(W)ᵀ the decoded W transposed, and
// dY = I makes dX = dY·deq(W) the decoded W (a weight in the wrong place, or decoded or rounded
// otherwise, is a wrong output; every sum has one nonzero term, so no rounding hides it).
template <class Fwd, class Dx>
void tiles_exact(const char* name, const QWeight& w, const Core& core, int N, int K, Fwd fwd, Dx dx) {
  const size_t smem = core.smem(0);
  const unsigned char *q = w.q.data(), *qs = or_null(w.qscale);
  const float *sc = w.scale.data(), *map = or_null(w.map), *lv = or_null(w.levels);
  auto identity = [](int n) {
    std::vector<bf16> e((size_t)n * n, __float2bfloat16_rn(0.f));
    for (int i = 0; i < n; ++i) e[(size_t)i * n + i] = __float2bfloat16_rn(1.f);
    return e;
  };
  const auto ik = identity(K), in = identity(N);
  std::vector<float> y((size_t)K * N), d((size_t)N * K);
  run(fwd, core.grid(K, N), core.threads, smem, (const bf16*)ik.data(), q, sc, qs, map, lv, w.offset, w.nested,
      (const bf16*)nullptr, y.data(), K, N, K);
  run(dx, core.grid(N, K), core.threads, smem, (const bf16*)in.data(), q, sc, qs, map, lv, w.offset, w.nested, d.data(), N,
      N, K);
  Check cy{0, 0, 0}, cd{0, 0, 0};
  for (int n = 0; n < N; ++n)
    for (int k = 0; k < K; ++k) {
      cy.at(y[(size_t)k * N + n], w.exact[(size_t)n * K + k], 0, k, n);
      cd.at(d[(size_t)n * K + k], w.exact[(size_t)n * K + k], 0, n, k);
    }
  tally.report(std::string(name) + " tiles bit-exact, x = I " + shape(K, N, K), cy);
  tally.report(std::string(name) + " tiles bit-exact, dY = I " + shape(N, N, K), cd);
}

// The entries of one core and format: the tiles bit for bit, then plain or rank-r forward and dX.
template <class Fwd, class LoraFwd, class Dx, class LoraDx>
void linear(const LinearCase& c, const QWeight& w, const Core& core, Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx) {
  const int threads = core.threads, M = c.M, N = c.N, K = c.K, r = c.r;
  const size_t smem = core.smem(r > 0 ? 16 : 0);
  const unsigned char *q = w.q.data(), *qs = or_null(w.qscale);
  const float *sc = w.scale.data(), *map = or_null(w.map), *lv = or_null(w.levels);
  tiles_exact(c.name, w, core, N, K, fwd, dx);
  forward<bf16, float>(tally, c, w.exact,
                       [&](const bf16* x, const bf16* bias, const float* xa, const float* B, float s, float* y) {
                         if (r == 0)
                           run(fwd, core.grid(M, N), threads, smem, x, q, sc, qs, map, lv, w.offset, w.nested, bias, y, M, N, K);
                         else
                           run(lora_fwd, core.grid(M, N), threads, smem, x, q, sc, qs, map, lv, w.offset, w.nested, bias, xa,
                               B, s, y, M, N, K, r);
                       });
  backward_dx<bf16, float>(
      tally, c, w.exact, [&](const bf16* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, float* d) {
        if (r == 0)
          run(dx, core.grid(M, K), threads, smem, dy, q, sc, qs, map, lv, w.offset, w.nested, d, M, N, K);
        else
          run(lora_dx, core.grid(M, K), threads, smem, dy, q, sc, qs, map, lv, w.offset, w.nested, dyb, A, s, p, seed, d, M,
              N, K, r);
      });
}

}  // namespace

// One core's four entries of a format.
#define QUANT(P, F) \
  P##_qlinear_fwd_##F##_f32y_bf16, P##_qlora_fwd_r16_##F##_f32y_bf16, P##_qlinear_bwd_dx_##F##_f32y_bf16, \
      P##_qlora_bwd_dx_r16_##F##_f32y_bf16

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  for (auto& s : LINEAR_SHAPES) {  // K % 8 != 0: element-wise decode, NF4 blocks straddle rows
    const int M = s[0], N = s[1], K = s[2];
    Rng rng{(uint64_t)(N * 31 + K)};
    const QWeight w_nf4 = nf4(N, K, false, rng), w_nf4_dq = nf4(N, K, true, rng), w_int8 = int8(N, K, rng);
    linear({"tc nf4", M, N, K, 0}, w_nf4, TC, QUANT(tc, nf4));
    linear({"tc nf4+dq", M, N, K, 5, 0.1f}, w_nf4_dq, TC, QUANT(tc, nf4));
    linear({"tc int8", M, N, K, 3}, w_int8, TC, QUANT(tc, int8));
    linear({"wg nf4", M, N, K, 0}, w_nf4, WG, QUANT(wg, nf4));
    linear({"wg nf4+dq", M, N, K, 5, 0.1f}, w_nf4_dq, WG, QUANT(wg, nf4));
    linear({"wg int8", M, N, K, 3}, w_int8, WG, QUANT(wg, int8));
    linear({"wgp nf4", M, N, K, 0}, w_nf4, WGP, QUANT(wgp, nf4));
    linear({"wgp nf4+dq", M, N, K, 5, 0.1f}, w_nf4_dq, WGP, QUANT(wgp, nf4));
    linear({"wgp int8", M, N, K, 3}, w_int8, WGP, QUANT(wgp, int8));
  }
  return tally.finish();
}
