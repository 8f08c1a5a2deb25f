// The warpgroup attention (attention_wg.cu: wgmma with P and dS from registers) runs on the CPU by the
// SIMT emulator (sim/simt.h): the forward at head dims 64, 128, 256 and the fused backward at 64 and 128,
// bf16 and f16, causal with a KV offset and GQA, against a double-precision reference of the same rounded
// inputs (out, lse; dQ, dK, dV given the reference's lse and Δ), with sim_attention.cpp's allowances.
// Shapes with several key / query tiles per block run the pipelines and both stages' refills. Built and
// run by tests/kernel_sim.rs; argv[1] (optional): the first scheduler seed; SIM_PART=fwd|bwd runs one part.
#include "sim/cases.h"

#include "attention_wg.cu"

namespace {

using namespace cases;
Tally tally;

struct Shape {
  int B, T, S, H, Hkv;
};

// The forward's out and lse against the reference. Outputs start at NaN: the host allocates them
// uninitialized, so every element must be written.
template <typename T, int D, class Kernel>
void forward_check(const std::string& label, const Shape& sh, Kernel kernel, const std::vector<T>& q,
                   const std::vector<T>& k, const std::vector<T>& v, const std::vector<double>& o,
                   const std::vector<double>& o_mag, const std::vector<double>& lse, float scale) {
  const int B = sh.B, Tq = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv;
  std::vector<T> out(q.size(), from_f32<T>(NAN));
  std::vector<float> lse_out(lse.size(), NAN);
  run(kernel, make_uint3((Tq + attn_wg::BQ - 1) / attn_wg::BQ, H, B), attn_wg::THREADS, attn_wg::smem<D>(),
      (const T*)q.data(), (const T*)k.data(), (const T*)v.data(), out.data(), lse_out.data(), Tq, S, H, Hkv, scale);
  // P enters P·V rounded to T: one rounding of T per term.
  Check co = check_for<T>(ulp<T>()), cl{0x1p-20, 0.0};
  for (size_t i = 0; i < out.size(); ++i) co.at(to_f32(out[i]), o[i], o_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < lse.size(); ++i) cl.at(lse_out[i], lse[i], 1.0, (int)i, 0);
  tally.report(label + " out", co);
  tally.report(label + " lse", cl);
}

// Forward and (D 64, 128) backward of one shape; `bwd` is nullptr where there is no warpgroup
// backward (D 256).
template <typename T, int D, class Kernel, class Bwd = std::nullptr_t>
void attention(const char* name, const Shape& sh, Kernel kernel, Bwd bwd = nullptr) {
  const int B = sh.B, Tq = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, group = H / Hkv;
  const float scale = 1.f / std::sqrt((float)D);
  Rng rng{(uint64_t)(D * 1000 + Tq * 7 + S)};
  std::vector<double> qe, ke, ve, de;
  auto q = random16<T>((size_t)B * Tq * H * D, rng, qe);
  auto k = random16<T>((size_t)B * S * Hkv * D, rng, ke);
  auto v = random16<T>((size_t)B * S * Hkv * D, rng, ve);
  auto dout = random16<T>((size_t)B * Tq * H * D, rng, de);
  auto qi = [&](int b, int t, int h, int d) { return (((size_t)b * Tq + t) * H + h) * D + d; };
  auto ki = [&](int b, int s, int h, int d) { return (((size_t)b * S + s) * Hkv + h) * D + d; };

  std::vector<double> o(q.size()), o_mag(q.size()), lse((size_t)B * H * Tq), delta(lse.size()), dq_ref(q.size()),
      dq_mag(q.size()), dk_ref(k.size()), dk_mag(k.size()), dv_ref(k.size()), dv_mag(k.size());
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
        double dl = 0;
        for (int d = 0; d < D; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < visible; ++j) {
            const double pv = std::exp(s[j] - lse[row]) * ve[ki(b, j, hk, d)];
            acc += pv, mag += std::fabs(pv);
          }
          o[qi(b, i, h, d)] = acc;
          o_mag[qi(b, i, h, d)] = mag;
          dl += de[qi(b, i, h, d)] * acc;
        }
        delta[row] = dl;
        for (int j = 0; j < visible; ++j) {  // the gradients, as sim_attention.cpp's reference
          const double p = std::exp(s[j] - lse[row]);
          double dp = 0;
          for (int d = 0; d < D; ++d) dp += de[qi(b, i, h, d)] * ve[ki(b, j, hk, d)];
          const double ds = p * (dp - dl), ds_mag = p * (std::fabs(dp) + std::fabs(dl));
          for (int d = 0; d < D; ++d) {
            dq_ref[qi(b, i, h, d)] += scale * ds * ke[ki(b, j, hk, d)];
            dq_mag[qi(b, i, h, d)] += std::fabs(scale * ds_mag * ke[ki(b, j, hk, d)]);
            dk_ref[ki(b, j, hk, d)] += scale * ds * qe[qi(b, i, h, d)];
            dk_mag[ki(b, j, hk, d)] += std::fabs(scale * ds_mag * qe[qi(b, i, h, d)]);
            dv_ref[ki(b, j, hk, d)] += p * de[qi(b, i, h, d)];
            dv_mag[ki(b, j, hk, d)] += std::fabs(p * de[qi(b, i, h, d)]);
          }
        }
      }

  const std::string label = std::string(name) + " d" + std::to_string(D) + " B" + std::to_string(B) + " T" +
                            std::to_string(Tq) + " S" + std::to_string(S) + " H" + std::to_string(H) + "/" +
                            std::to_string(Hkv);
  if (runs_part("fwd")) forward_check<T, D>(label, sh, kernel, q, k, v, o, o_mag, lse, scale);
  if constexpr (!std::is_same<Bwd, std::nullptr_t>::value) {
    if (runs_part("bwd")) {
      // Given the reference's lse and Δ; dq_acc starts at zero as the host's memset leaves it, and
      // dQ = T(scale·acc) as dq_convert writes it. Allowances as sim_attention's: dS enters dQ and
      // dK rounded to T from a difference.
      std::vector<float> lse32(lse.begin(), lse.end()), delta32(delta.begin(), delta.end()), acc(q.size(), 0.f);
      std::vector<T> dk_out(k.size(), from_f32<T>(NAN)), dv_out(k.size(), from_f32<T>(NAN));
      run(bwd, make_uint3((S + attn_wg::BKV - 1) / attn_wg::BKV, Hkv, B), attn_wg::THREADS, attn_wg::smem_bwd<D>(),
          (const T*)q.data(), (const T*)k.data(), (const T*)v.data(), (const T*)dout.data(),
          (const float*)lse32.data(), (const float*)delta32.data(), dk_out.data(), dv_out.data(), acc.data(), Tq, S,
          H, Hkv, scale);
      Check cq = check_for<T>(4 * ulp<T>()), ck = check_for<T>(4 * ulp<T>()), cv = check_for<T>(ulp<T>());
      for (size_t i = 0; i < q.size(); ++i)
        cq.at(to_f32(from_f32<T>(scale * acc[i])), dq_ref[i], dq_mag[i], (int)(i / D), (int)(i % D));
      for (size_t i = 0; i < k.size(); ++i) {
        ck.at(to_f32(dk_out[i]), dk_ref[i], dk_mag[i], (int)(i / D), (int)(i % D));
        cv.at(to_f32(dv_out[i]), dv_ref[i], dv_mag[i], (int)(i / D), (int)(i % D));
      }
      tally.report(label + " bwd dQ", cq);
      tally.report(label + " bwd dK", ck);
      tally.report(label + " bwd dV", cv);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // One key tile (T 64, S 64; T 70, S 90), ragged query blocks with GQA and two batch entries (T 130),
  // four key tiles in the second block (S − T = 256: the pipeline and both stages' refills), and a
  // single query row over 300 keys (decoding).
  const Shape one{1, 64, 64, 2, 2}, gqa{2, 70, 90, 4, 2}, ragged{2, 130, 170, 4, 2}, four{1, 200, 456, 2, 1},
      decode{1, 1, 300, 2, 2};
  attention<bf16, 64>("wgmma bf16", one, attention_wg_fwd_d64_bf16, attention_wg_bwd_d64_bf16);
  attention<f16, 64>("wgmma f16", ragged, attention_wg_fwd_d64_f16, attention_wg_bwd_d64_f16);
  attention<bf16, 128>("wgmma bf16", four, attention_wg_fwd_d128_bf16, attention_wg_bwd_d128_bf16);
  attention<f16, 128>("wgmma f16", gqa, attention_wg_fwd_d128_f16, attention_wg_bwd_d128_f16);
  attention<bf16, 128>("wgmma bf16", decode, attention_wg_fwd_d128_bf16, attention_wg_bwd_d128_bf16);
  attention<bf16, 256>("wgmma bf16", ragged, attention_wg_fwd_d256_bf16);
  attention<f16, 256>("wgmma f16", one, attention_wg_fwd_d256_f16);
  return tally.finish();
}
