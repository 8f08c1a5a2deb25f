// The 16-bit GEMM cores' own kernels run on the CPU by the SIMT emulator (sim/simt.h): lora_matmul.cu's
// mma.sync entries (tc_*) and gemm_wgmma.cu's warpgroup entries (wg_*, sm_90a), plain and fused LoRA,
// forward and dX, bf16 / f16 / f32y outputs, against a double-precision reference (sim/linear_cases.h).
// Built and run by tests/kernel_sim.rs; prints one line per case and "ok: N cases" when every output is
// within tolerance. argv[1] (optional): the first scheduler seed (seeds interleave threads differently).
#include "sim/linear_cases.h"

#include "lora_matmul.cu"
#include "gemm_wgmma.cu"

namespace {

using namespace cases;
Tally tally;

// Dynamic shared memory of each core's entries (plan::tc_smem_bytes / wg_smem_bytes / wgp_smem_bytes).
int tc_smem(int rmax) { return tc::smem_bytes(rmax); }
int wg_smem(int rmax) { return wg::ring_bytes(wg::Overlap::RING, rmax) + wg::TABLE_BYTES; }
int wgp_smem(int rmax) { return wg::ring_bytes(wg::InFlight::RING, rmax) + wg::TABLE_BYTES; }

// The dense entries of one core and output type: plain and rank-16 forward, plain and rank-16 dX.
template <typename T, typename Y, class Fwd, class LoraFwd, class Dx, class LoraDx>
void linear(const LinearCase& c, int (*smem_bytes)(int), Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx) {
  Rng rng{(uint64_t)(c.N * 29 + c.K)};
  std::vector<double> we;
  const auto w = random16<T>((size_t)c.N * c.K, rng, we);
  const int threads = tc::THREADS, M = c.M, N = c.N, K = c.K, r = c.r;
  const size_t smem = smem_bytes(r > 0 ? 16 : 0);
  forward<T, Y>(tally, c, we, [&](const T* x, const T* bias, const float* xa, const float* B, float s, Y* y) {
    if (r == 0) run(fwd, tc_grid(M, N), threads, smem, x, w.data(), bias, y, M, N, K);
    else run(lora_fwd, tc_grid(M, N), threads, smem, x, w.data(), bias, xa, B, s, y, M, N, K, r);
  });
  backward_dx<T, Y>(tally, c, we,
                    [&](const T* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, Y* d) {
                      if (r == 0) run(dx, tc_grid(M, K), threads, smem, dy, w.data(), d, M, N, K);
                      else run(lora_dx, tc_grid(M, K), threads, smem, dy, w.data(), dyb, A, s, p, seed, d, M, N, K, r);
                    });
}

}  // namespace

// One core's four entries of a dtype (SUF: _bf16, _f16, _f32y_bf16).
#define DENSE(P, SUF) P##_linear_fwd##SUF, P##_lora_linear_fwd_r16##SUF, P##_linear_bwd_dx##SUF, P##_lora_linear_bwd_dx_r16##SUF

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  for (auto& s : LINEAR_SHAPES) {
    const int M = s[0], N = s[1], K = s[2];
    linear<bf16, bf16>({"tc bf16", M, N, K, 0}, tc_smem, DENSE(tc, _bf16));
    linear<f16, f16>({"tc f16", M, N, K, 3}, tc_smem, DENSE(tc, _f16));
    linear<bf16, bf16>({"wg bf16", M, N, K, 0}, wg_smem, DENSE(wg, _bf16));
    linear<f16, f16>({"wg f16", M, N, K, 3}, wg_smem, DENSE(wg, _f16));
    linear<bf16, float>({"wg bf16", M, N, K, 7, 0.1f}, wg_smem, DENSE(wg, _f32y_bf16));
    linear<bf16, bf16>({"wgp bf16", M, N, K, 0}, wgp_smem, DENSE(wgp, _bf16));
    linear<f16, f16>({"wgp f16", M, N, K, 3}, wgp_smem, DENSE(wgp, _f16));
    linear<bf16, float>({"wgp bf16", M, N, K, 7, 0.1f}, wgp_smem, DENSE(wgp, _f32y_bf16));
  }
  return tally.finish();
}
