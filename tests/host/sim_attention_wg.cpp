// The warpgroup attention forward (attention_wg.cu: wgmma with P from registers, the next tile's scores
// beside this tile's P·V) runs on the CPU by the SIMT emulator (sim/simt.h), head dims 64, 128, 256, bf16
// and f16, causal with a KV offset and GQA, against a double-precision reference of the same rounded
// inputs: out and lse, with attention_tc's allowances (sim_attention.cpp). Shapes with several key tiles
// per block run the pipeline and both stages' refills. Built and run by tests/kernel_sim.rs; argv[1]
// (optional): the first scheduler seed.
#include "sim/cases.h"

#include "attention_wg.cu"

namespace {

using namespace cases;
Tally tally;

struct Shape {
  int B, T, S, H, Hkv;
};

template <typename T, int D, class Kernel>
void forward(const char* name, const Shape& sh, Kernel kernel) {
  const int B = sh.B, Tq = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, group = H / Hkv;
  const float scale = 1.f / std::sqrt((float)D);
  Rng rng{(uint64_t)(D * 1000 + Tq * 7 + S)};
  std::vector<double> qe, ke, ve;
  auto q = random16<T>((size_t)B * Tq * H * D, rng, qe);
  auto k = random16<T>((size_t)B * S * Hkv * D, rng, ke);
  auto v = random16<T>((size_t)B * S * Hkv * D, rng, ve);
  auto qi = [&](int b, int t, int h, int d) { return (((size_t)b * Tq + t) * H + h) * D + d; };
  auto ki = [&](int b, int s, int h, int d) { return (((size_t)b * S + s) * Hkv + h) * D + d; };

  std::vector<double> o(q.size()), o_mag(q.size()), lse((size_t)B * H * Tq);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < Tq; ++i) {
        const int hk = h / group, visible = i + (S - Tq) + 1;
        std::vector<double> s(visible);
        double m = -1e300, l = 0;
        for (int j = 0; j < visible; ++j) {
          double dot = 0;
          for (int d = 0; d < D; ++d) dot += qe[qi(b, i, h, d)] * ke[ki(b, j, hk, d)];
          s[j] = scale * dot;
          m = std::max(m, s[j]);
        }
        for (int j = 0; j < visible; ++j) l += std::exp(s[j] - m);
        const size_t row = ((size_t)b * H + h) * Tq + i;
        lse[row] = m + std::log(l);
        for (int d = 0; d < D; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < visible; ++j) {
            const double pv = std::exp(s[j] - lse[row]) * ve[ki(b, j, hk, d)];
            acc += pv, mag += std::fabs(pv);
          }
          o[qi(b, i, h, d)] = acc;
          o_mag[qi(b, i, h, d)] = mag;
        }
      }

  // Outputs start at NaN: the host allocates them uninitialized, so every element must be written.
  std::vector<T> out(q.size(), from_f32<T>(NAN));
  std::vector<float> lse_out(lse.size(), NAN);
  run(kernel, make_uint3((Tq + attn_wg::BQ - 1) / attn_wg::BQ, H, B), attn_wg::THREADS, attn_wg::smem<D>(),
      (const T*)q.data(), (const T*)k.data(), (const T*)v.data(), out.data(), lse_out.data(), Tq, S, H, Hkv, scale);
  // P enters P·V rounded to T: one rounding of T per term.
  Check co = check_for<T>(ulp<T>()), cl{0x1p-20, 0.0};
  for (size_t i = 0; i < out.size(); ++i) co.at(to_f32(out[i]), o[i], o_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < lse.size(); ++i) cl.at(lse_out[i], lse[i], 1.0, (int)i, 0);
  const std::string label = std::string(name) + " d" + std::to_string(D) + " B" + std::to_string(B) + " T" +
                            std::to_string(Tq) + " S" + std::to_string(S) + " H" + std::to_string(H) + "/" +
                            std::to_string(Hkv);
  tally.report(label + " out", co);
  tally.report(label + " lse", cl);
}

}  // namespace

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // One key tile (T 64, S 64; T 70, S 90), ragged query blocks with GQA and two batch entries (T 130),
  // four key tiles in the second block (S − T = 256: the pipeline and both stages' refills), and a
  // single query row over 300 keys (decoding).
  const Shape one{1, 64, 64, 2, 2}, gqa{2, 70, 90, 4, 2}, ragged{2, 130, 170, 4, 2}, four{1, 200, 456, 2, 1},
      decode{1, 1, 300, 2, 2};
  forward<bf16, 64>("wgmma bf16", one, attention_wg_fwd_d64_bf16);
  forward<f16, 64>("wgmma f16", ragged, attention_wg_fwd_d64_f16);
  forward<bf16, 128>("wgmma bf16", four, attention_wg_fwd_d128_bf16);
  forward<f16, 128>("wgmma f16", gqa, attention_wg_fwd_d128_f16);
  forward<bf16, 128>("wgmma bf16", decode, attention_wg_fwd_d128_bf16);
  forward<bf16, 256>("wgmma bf16", ragged, attention_wg_fwd_d256_bf16);
  forward<f16, 256>("wgmma f16", one, attention_wg_fwd_d256_f16);
  return tally.finish();
}
