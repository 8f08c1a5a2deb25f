// The int8 / NF4 linears' own kernels (quant_tc.cu on the mma.sync core, quant_wgmma.cu on both pipelines of the sm_90a
// warpgroup core, quant_tma.cu's NF4 linears on the TMA core) run on the CPU by the SIMT emulator (sim/simt.h), plain and fused LoRA, forward and dX,
// against a double-precision reference over the weights decoded from the format definitions
// (sim/quant_weights.h: kernels/quant_formats.cuh's header, bitsandbytes' layouts) and rounded to bf16
// as the kernels round them; and the decoded tiles bit for bit (x = I, dY = I). Built and run by tests/kernel_sim.rs;
// argv[1] (optional): the first scheduler seed.
#include <array>

#include "sim/linear_cases.h"
#include "sim/quant_weights.h"

#include "quant_tc.cu"
#include "quant_wgmma.cu"
#include "quant_tma.cu"
#include "sim/cores.h"

namespace {

using namespace cases;
Tally tally;

// The entries of one core and format: the tiles bit for bit, then plain or rank-r forward and dX.
template <class Fwd, class LoraFwd, class Dx, class LoraDx>
void linear(const LinearCase& c, const QWeight& qw, const Core& core, Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx) {
  const int threads = core.threads, M = c.M, N = c.N, K = c.K, r = c.r;
  const size_t smem = core.smem(r > 0 ? 16 : 0);
  const QArgs w = qw.args();
  const std::vector<double> exact = qw.bf16_rounded();  // the kernels round the decoded weight to bf16
  tiles_exact<bf16, float>(
      tally, c.name, exact, N, K,
      [&](const bf16* x, float* y) {
        run(fwd, core.grid(K, N), threads, core.smem(0), x, SIM_QW(w), (const bf16*)nullptr, y, K, N, K);
      },
      [&](const bf16* dy, float* d) { run(dx, core.grid(N, K), threads, core.smem(0), dy, SIM_QW(w), d, N, N, K); });
  forward<bf16, float>(tally, c, exact,
                       [&](const bf16* x, const bf16* bias, const float* xa, const float* B, float s, float* y) {
                         if (r == 0)
                           run(fwd, core.grid(M, N), threads, smem, x, SIM_QW(w), bias, y, M, N, K);
                         else
                           run(lora_fwd, core.grid(M, N), threads, smem, x, SIM_QW(w), bias, xa, B, s, y, M, N, K, r);
                       });
  backward_dx<bf16, float>(
      tally, c, exact, [&](const bf16* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, float* d) {
        if (r == 0)
          run(dx, core.grid(M, K), threads, smem, dy, SIM_QW(w), d, M, N, K);
        else
          run(lora_dx, core.grid(M, K), threads, smem, dy, SIM_QW(w), dyb, A, s, p, seed, d, M, N, K, r);
      });
}

// quant_tma.cu's NF4 linears on the TMA core: x or dY by tensor map (its rows whole 16-byte chunks),
// W decoded by the producer warpgroup; the forward only where K % 8 == 0 (x's map), dX wherever
// N % 8 == 0 (dY's map; a ragged K decodes element by element).
template <class Fwd, class LoraFwd, class Dx, class LoraDx>
void linear_tma(const LinearCase& c, const QWeight& qw, Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx) {
  const int M = c.M, N = c.N, K = c.K, r = c.r;
  const QArgs w = qw.args();
  const size_t smem = WGT.smem(0);
  const std::vector<double> exact = qw.bf16_rounded();
  if (K % 8 == 0)
    forward<bf16, float>(tally, c, exact,
                         [&](const bf16* x, const bf16* bias, const float* xa, const float* B, float s, float* y) {
                           wgt::TensorMap ta;
                           sim::encode_tma_2d(ta.opaque, x, 2, K, M, 2ull * K, 64, wgt::BM);
                           if (r == 0)
                             run(fwd, WGT.grid(M, N), WGT.threads, smem, ta, SIM_QW(w), bias, y, M, N, K);
                           else
                             run(lora_fwd, WGT.grid(M, N), WGT.threads, smem, ta, SIM_QW(w), bias, xa, B, s, y, M,
                                 N, K, r);
                         });
  backward_dx<bf16, float>(
      tally, c, exact, [&](const bf16* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, float* d) {
        wgt::TensorMap ta;
        sim::encode_tma_2d(ta.opaque, dy, 2, N, M, 2ull * N, 64, wgt::BM);
        if (r == 0)
          run(dx, WGT.grid(M, K), WGT.threads, smem, ta, SIM_QW(w), d, M, N, K);
        else
          run(lora_dx, WGT.grid(M, K), WGT.threads, smem, ta, SIM_QW(w), dyb, A, s, p, seed, d, M, N, K, r);
      });
}

// quant_tc.cu's dequant_bf16_* (the scratch path): the whole weight, bit for bit the bf16 rounding of
// its decoded values, on launch::stride_cfg's grid and on a 2-block grid whose threads loop; the
// elements past the weight stay untouched.
template <class E>
void dequant(const std::string& name, const QWeight& qw, int N, int K, E entry) {
  const QArgs w = qw.args();
  const std::vector<double> want = qw.bf16_rounded();
  const long long chunks = (long long)N * ((K + 7) / 8);
  for (const unsigned blocks : {(unsigned)std::clamp((chunks + 255) / 256, 1ll, 65535ll), 2u}) {
    std::vector<bf16> out((size_t)N * K + 8, from_f32<bf16>(NAN));
    run(entry, make_uint3(blocks, 1, 1), 256, 0, SIM_QW(w), out.data(), N, K);
    Check c{0, 0};
    for (size_t i = 0; i < out.size(); ++i)
      exact(c, to_f32(out[i]), i < want.size() ? want[i] : NAN, (int)(i / K), (int)(i % K));
    tally.report("dequant_bf16 " + name + " " + std::to_string(N) + "x" + std::to_string(K) + " grid " +
                     std::to_string(blocks),
                 c);
  }
}

}  // namespace

// One core's four entries of a format.
#define QUANT(P, F) \
  P##_qlinear_fwd_##F##_f32y_bf16, P##_qlora_fwd_r16_##F##_f32y_bf16, P##_qlinear_bwd_dx_##F##_f32y_bf16, \
      P##_qlora_bwd_dx_r16_##F##_f32y_bf16

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // SIM_PART=tma runs only the TMA core's cases (a fault control aimed at its producer).
  for (auto& s : LINEAR_SHAPES) {  // K % 8 != 0: element-wise decode, NF4 blocks straddle rows
    if (!runs_part("mma")) break;
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
    dequant("nf4", w_nf4, N, K, dequant_bf16_nf4);
    dequant("nf4+dq", w_nf4_dq, N, K, dequant_bf16_nf4);
    dequant("int8", w_int8, N, K, dequant_bf16_int8);
  }
  // Rows of whole 16-byte chunks, as the TMA core's maps need: ragged M, N and K tails, 10 k-tiles
  // over the 4 ring stages (the raw codes fetched a k-tile ahead), one partial k-tile; the last
  // shape is dX only (K % 8 != 0: W's chunks decode element by element, NF4 blocks straddle rows).
  for (const auto& s : {std::array<int, 3>{136, 264, 584}, std::array<int, 3>{40, 72, 48},
                        std::array<int, 3>{72, 328, 83}}) {
    if (!runs_part("tma")) break;
    const int M = s[0], N = s[1], K = s[2];
    Rng rng{(uint64_t)(N * 37 + K)};
    const QWeight w_nf4 = nf4(N, K, false, rng), w_nf4_dq = nf4(N, K, true, rng);
    linear_tma({"wgt nf4", M, N, K, 0}, w_nf4, QUANT(wgt, nf4));
    linear_tma({"wgt nf4+dq", M, N, K, 5, 0.1f}, w_nf4_dq, QUANT(wgt, nf4));
  }
  return tally.finish();
}
