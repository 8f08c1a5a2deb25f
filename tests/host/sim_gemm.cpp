// The GEMM cores' own kernels run on the CPU by the SIMT emulator (sim/simt.h): lora_matmul.cu's FMA /
// wmma entries (the f32 backend's linears, and bf16), its mma.sync entries (tc_*) and gemm_wgmma.cu's
// warpgroup entries in both pipelines (wg_*, wgp_*, sm_90a), plain and fused LoRA, forward and dX,
// f32 / bf16 / f16 / f32y outputs, against a double-precision reference (sim/linear_cases.h).
// Built and run by tests/kernel_sim.rs; prints one line per case and "ok: N cases" when every output is
// within tolerance. argv[1] (optional): the first scheduler seed (seeds interleave threads differently).
#include "sim/linear_cases.h"

#include "lora_matmul.cu"
#include "gemm_wgmma.cu"
#include "sim/cores.h"

namespace {

using namespace cases;
Tally tally;

const Core FMA{128, 64, [](int) { return 0; }};  // plan::gemm_grid, no dynamic shared memory

// The dense entries of one core and output type: plain and rank-16 forward, plain and rank-16 dX.
template <typename T, typename Y, class Fwd, class LoraFwd, class Dx, class LoraDx>
void linear(const LinearCase& c, const Core& core, Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx) {
  Rng rng{(uint64_t)(c.N * 29 + c.K)};
  std::vector<double> we;
  const auto w = random16<T>((size_t)c.N * c.K, rng, we);
  const int threads = core.threads, M = c.M, N = c.N, K = c.K, r = c.r;
  const size_t smem = core.smem(r > 0 ? 16 : 0);
  forward<T, Y>(tally, c, we, [&](const T* x, const T* bias, const float* xa, const float* B, float s, Y* y) {
    if (r == 0) run(fwd, core.grid(M, N), threads, smem, x, w.data(), bias, y, M, N, K);
    else run(lora_fwd, core.grid(M, N), threads, smem, x, w.data(), bias, xa, B, s, y, M, N, K, r);
  });
  backward_dx<T, Y>(tally, c, we,
                    [&](const T* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, Y* d) {
                      if (r == 0) run(dx, core.grid(M, K), threads, smem, dy, w.data(), d, M, N, K);
                      else run(lora_dx, core.grid(M, K), threads, smem, dy, w.data(), dyb, A, s, p, seed, d, M, N, K, r);
                    });
}

}  // namespace

// One core's four entries of a dtype (P: "" for the FMA core, tc, wg, wgp; SUF: _f32, _bf16, _f16,
// _f32y_bf16).
#define DENSE(P, SUF) P##linear_fwd##SUF, P##lora_linear_fwd_r16##SUF, P##linear_bwd_dx##SUF, P##lora_linear_bwd_dx_r16##SUF

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  for (auto& s : LINEAR_SHAPES) {
    const int M = s[0], N = s[1], K = s[2];
    linear<float, float>({"fma f32", M, N, K, 0}, FMA, DENSE(, _f32));
    linear<float, float>({"fma f32", M, N, K, 7, 0.1f}, FMA, DENSE(, _f32));
    linear<bf16, bf16>({"wmma bf16", M, N, K, 3}, FMA, DENSE(, _bf16));
    linear<bf16, bf16>({"tc bf16", M, N, K, 0}, TC, DENSE(tc_, _bf16));
    linear<f16, f16>({"tc f16", M, N, K, 3}, TC, DENSE(tc_, _f16));
    linear<bf16, bf16>({"wg bf16", M, N, K, 0}, WG, DENSE(wg_, _bf16));
    linear<f16, f16>({"wg f16", M, N, K, 3}, WG, DENSE(wg_, _f16));
    linear<bf16, float>({"wg bf16", M, N, K, 7, 0.1f}, WG, DENSE(wg_, _f32y_bf16));
    linear<bf16, bf16>({"wgp bf16", M, N, K, 0}, WGP, DENSE(wgp_, _bf16));
    linear<f16, f16>({"wgp f16", M, N, K, 3}, WGP, DENSE(wgp_, _f16));
    linear<bf16, float>({"wgp bf16", M, N, K, 7, 0.1f}, WGP, DENSE(wgp_, _f32y_bf16));
  }
  return tally.finish();
}
