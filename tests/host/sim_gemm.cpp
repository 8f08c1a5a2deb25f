// The GEMM cores' own kernels run on the CPU by the SIMT emulator (sim/simt.h): lora_matmul.cu's FMA /
// wmma entries (the f32 backend's linears, and bf16), its mma.sync entries (tc_*) and gemm_wgmma.cu's
// warpgroup entries in both pipelines (wg_*, wgp_*, sm_90a) and gemm_tma.cu's TMA entries (wgt_*),
// plain and fused LoRA, forward and dX,
// f32 / bf16 / f16 / f32y outputs, against a double-precision reference (sim/linear_cases.h).
// Built and run by tests/kernel_sim.rs; prints one line per case and "ok: N cases" when every output is
// within tolerance. argv[1] (optional): the first scheduler seed (seeds interleave threads differently).
#include "sim/linear_cases.h"

#include "lora_matmul.cu"
#include "gemm_wgmma.cu"
#include "gemm_tma.cu"
#include "sim/cores.h"

namespace {

using namespace cases;
Tally tally;

constexpr int TMA_SHAPES[2][3] = {{136, 264, 584}, {40, 72, 48}};

const Core FMA{128, 64, [](int) { return 0; }};  // plan::gemm_grid, no dynamic shared memory

// The matrix operands as a core's entries take them: plain pointers, or (the TMA core) tensor maps over
// them, encoded as src/backend/cuda/tma.rs does (A [rows, inner] 128-row boxes; W [N, K] in 256-row
// boxes for the forward, 64 × 64 boxes for dX).
struct Pointers {
  template <typename T> std::pair<const T*, const T*> operator()(const T* a, const T* w, int, int, int, bool) const {
    return {a, w};
  }
};
struct TensorMaps {
  template <typename T>
  std::pair<wgt::TensorMap, wgt::TensorMap> operator()(const T* a, const T* w, int M, int N, int K, bool dx) const {
    std::pair<wgt::TensorMap, wgt::TensorMap> maps;
    const int a_inner = dx ? N : K;
    sim::encode_tma_2d(maps.first.opaque, a, 2, a_inner, M, 2ull * a_inner, 64, wgt::BM);
    sim::encode_tma_2d(maps.second.opaque, w, 2, K, N, 2ull * K, 64, dx ? 64 : wgt::BN);
    return maps;
  }
};

// The dense entries of one core and output type: plain and rank-16 forward, plain and rank-16 dX.
template <typename T, typename Y, class Fwd, class LoraFwd, class Dx, class LoraDx, class Operands = Pointers>
void linear(const LinearCase& c, const Core& core, Fwd fwd, LoraFwd lora_fwd, Dx dx, LoraDx lora_dx,
            Operands operands = Operands()) {
  Rng rng{(uint64_t)(c.N * 29 + c.K)};
  std::vector<double> we;
  const auto w = random16<T>((size_t)c.N * c.K, rng, we);
  const int threads = core.threads, M = c.M, N = c.N, K = c.K, r = c.r;
  const size_t smem = core.smem(r > 0 ? 16 : 0);
  forward<T, Y>(tally, c, we, [&](const T* x, const T* bias, const float* xa, const float* B, float s, Y* y) {
    const auto ops = operands(x, w.data(), M, N, K, false);
    if (r == 0) run(fwd, core.grid(M, N), threads, smem, ops.first, ops.second, bias, y, M, N, K);
    else run(lora_fwd, core.grid(M, N), threads, smem, ops.first, ops.second, bias, xa, B, s, y, M, N, K, r);
  });
  backward_dx<T, Y>(tally, c, we,
                    [&](const T* dy, const float* dyb, const float* A, float s, float p, unsigned long long seed, Y* d) {
                      const auto ops = operands(dy, w.data(), M, N, K, true);
                      if (r == 0) run(dx, core.grid(M, K), threads, smem, ops.first, ops.second, d, M, N, K);
                      else run(lora_dx, core.grid(M, K), threads, smem, ops.first, ops.second, dyb, A, s, p, seed, d,
                               M, N, K, r);
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
  // The TMA core needs rows of whole 16-byte chunks (K, N % 8 == 0): ragged M, N and K tails, more
  // k-tiles than ring stages both ways (fwd 10 over K 584, dX 5 over N 264), one partial k-tile.
  for (auto& s : TMA_SHAPES) {
    const int M = s[0], N = s[1], K = s[2];
    linear<bf16, bf16>({"wgt bf16", M, N, K, 0}, WGT, DENSE(wgt_, _bf16), TensorMaps());
    linear<f16, f16>({"wgt f16", M, N, K, 3}, WGT, DENSE(wgt_, _f16), TensorMaps());
    linear<bf16, float>({"wgt bf16", M, N, K, 7, 0.1f}, WGT, DENSE(wgt_, _f32y_bf16), TensorMaps());
  }
  // 17 tile rows: a whole group of 16 and a partial one in the TMA core's block-to-tile order.
  linear<bf16, bf16>({"wgt bf16", 2100, 264, 64, 0}, WGT, DENSE(wgt_, _bf16), TensorMaps());
  return tally.finish();
}
