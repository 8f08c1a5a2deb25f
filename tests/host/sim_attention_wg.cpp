// The warpgroup attention (attention_wg.cu: wgmma with P and dS from registers) runs on the CPU by the
// SIMT emulator (sim/simt.h): the forward and the fused backward at head dims 64, 128 and 256,
// bf16 and f16, causal with a KV offset and GQA, against a double-precision reference of the same rounded
// inputs (out, lse; dQ, dK, dV given the reference's lse and Δ), with sim_attention.cpp's allowances.
// Shapes with several key / query tiles per block run the pipelines and both stages' refills. Built and
// run by tests/kernel_sim.rs; argv[1] (optional): the first scheduler seed; SIM_PART=fwd|bwd|bwd-split
// runs one part (bwd-split: D 256's backward, whose warpgroups split D).
#include "sim/attention_ref.h"

#include "attention_wg.cu"

namespace {

using namespace cases;
Tally tally;

// The forward's out and lse against the reference. Outputs start at NaN: the host allocates them
// uninitialized, so every element must be written.
template <typename T, int D, class Kernel>
void forward_check(const std::string& label, const Shape& sh, Kernel kernel, const AttentionCase<T>& c, float scale) {
  std::vector<T> out(c.q.size(), from_f32<T>(NAN));
  std::vector<float> lse_out(c.lse.size(), NAN);
  run(kernel, make_uint3((sh.T + attn_wg::BQ - 1) / attn_wg::BQ, sh.H, sh.B), attn_wg::THREADS, attn_wg::smem<D>(),
      (const T*)c.q.data(), (const T*)c.k.data(), (const T*)c.v.data(), out.data(), lse_out.data(), sh.T, sh.S, sh.H,
      sh.Hkv, scale);
  // P enters P·V rounded to T: one rounding of T per term.
  Check co = check_for<T>(ulp<T>()), cl{0x1p-20, 0.0};
  for (size_t i = 0; i < out.size(); ++i) co.at(to_f32(out[i]), c.o[i], c.o_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < c.lse.size(); ++i) cl.at(lse_out[i], c.lse[i], 1.0, (int)i, 0);
  tally.report(label + " out", co);
  tally.report(label + " lse", cl);
}

// Forward and backward of one shape (`bwd` nullptr: the forward only).
template <typename T, int D, class Kernel, class Bwd = std::nullptr_t>
void attention(const char* name, const Shape& sh, Kernel kernel, Bwd bwd = nullptr) {
  const float scale = 1.f / std::sqrt((float)D);
  const AttentionCase<T> c = attention_case<T, D>(sh, scale);
  const std::string label = attention_label(name, D, sh);
  if (runs_part("fwd")) forward_check<T, D>(label, sh, kernel, c, scale);
  if constexpr (!std::is_same<Bwd, std::nullptr_t>::value) {
    if (runs_part(attn_wg::split_d<D>() ? "bwd-split" : "bwd")) {
      // Given the reference's lse and Δ; dq_acc starts at zero as the host's memset leaves it, and
      // dQ = T(scale·acc) as dq_convert writes it. Allowances as sim_attention's: dS enters dQ and
      // dK rounded to T from a difference.
      std::vector<float> lse32(c.lse.begin(), c.lse.end()), delta32(c.delta.begin(), c.delta.end()),
          acc(c.q.size(), 0.f);
      std::vector<T> dk_out(c.k.size(), from_f32<T>(NAN)), dv_out(c.k.size(), from_f32<T>(NAN));
      run(bwd, make_uint3((sh.S + attn_wg::bkv<D>() - 1) / attn_wg::bkv<D>(), sh.Hkv, sh.B), attn_wg::THREADS,
          attn_wg::smem_bwd<D>(), (const T*)c.q.data(), (const T*)c.k.data(), (const T*)c.v.data(),
          (const T*)c.dout.data(), (const float*)lse32.data(), (const float*)delta32.data(), dk_out.data(),
          dv_out.data(), acc.data(), sh.T, sh.S, sh.H, sh.Hkv, scale);
      Check cq = check_for<T>(4 * ulp<T>()), ck = check_for<T>(4 * ulp<T>()), cv = check_for<T>(ulp<T>());
      for (size_t i = 0; i < c.q.size(); ++i)
        cq.at(to_f32(from_f32<T>(scale * acc[i])), c.dq[i], c.dq_mag[i], (int)(i / D), (int)(i % D));
      for (size_t i = 0; i < c.k.size(); ++i) {
        ck.at(to_f32(dk_out[i]), c.dk[i], c.dk_mag[i], (int)(i / D), (int)(i % D));
        cv.at(to_f32(dv_out[i]), c.dv[i], c.dv_mag[i], (int)(i / D), (int)(i % D));
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
  attention<bf16, 256>("wgmma bf16", ragged, attention_wg_fwd_d256_bf16, attention_wg_bwd_d256_bf16);
  attention<f16, 256>("wgmma f16", one, attention_wg_fwd_d256_f16, attention_wg_bwd_d256_f16);
  return tally.finish();
}
