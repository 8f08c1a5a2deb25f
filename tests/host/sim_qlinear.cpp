// The FMA-core linears' kernels run on the CPU by the SIMT emulator (sim/simt.h):
//   quant_dequant.cu: every f32 entry (the f32 backend's quantized linears: plain, LoRA r16 / r64, the
//     four IA3 ones) for NF4, NF4 with double-quantized absmax, int8 and bf16 patterns, and the bf16
//     plain instances (the bench's), against the weights decoded from the format definitions
//     (sim/quant_weights.h); the decoded tiles bit for bit (x = I, dY = I), the linears through
//     sim/linear_cases.h and sim/ia3_cases.h.
//   lora_matmul.cu's rank kernels, which every LoRA linear launches around its GEMM (sim_gemm.cpp runs
//     the GEMMs): xa = drop(x)·Aᵀ and dyb = dY·B in both forms (row per block, tiled), dA / dB as
//     atomic row splits and as partial sums added by lora_rank_reduce; f32, bf16, f16.
// Launch geometry as the host's (plan::gemm_grid, rank_project_launch, rank_splits;
// half/mod.rs rank_accumulate_launch). Built and run by tests/kernel_sim.rs; argv[1] (optional): the
// first scheduler seed.
#include "sim/ia3_cases.h"
#include "sim/linear_cases.h"
#include "sim/quant_weights.h"

#include "lora_matmul.cu"
#include "quant_dequant.cu"

namespace {

using namespace cases;
Tally tally;

const Core FMA{gemm::THREADS, gemm::BM, [](int) { return 0; }};  // plan::gemm_grid, no dynamic shared memory

// ---- quant_dequant.cu -------------------------------------------------------------------------------------

// One format's f32 entries (all take the weight as QW_PARAMS, so one signature per kind).
struct Format {
  decltype(&qlinear_fwd_nf4_f32) fwd;
  decltype(&qlinear_bwd_dx_nf4_f32) dx;
  decltype(&qlora_fwd_r16_nf4_f32) lora_fwd16, lora_fwd64;
  decltype(&qlora_bwd_dx_r16_nf4_f32) lora_dx16, lora_dx64;
  decltype(&qia3_in_fwd_nf4_f32) in_fwd;
  decltype(&qia3_in_bwd_nf4_f32) in_bwd;
  decltype(&qia3_out_fwd_nf4_f32) out_fwd;
  decltype(&qia3_out_bwd_dx_nf4_f32) out_dx;
};
#define FORMAT(F)                                                                                              \
  Format {                                                                                                     \
    qlinear_fwd_##F##_f32, qlinear_bwd_dx_##F##_f32, qlora_fwd_r16_##F##_f32, qlora_fwd_r64_##F##_f32,         \
        qlora_bwd_dx_r16_##F##_f32, qlora_bwd_dx_r64_##F##_f32, qia3_in_fwd_##F##_f32, qia3_in_bwd_##F##_f32, \
        qia3_out_fwd_##F##_f32, qia3_out_bwd_dx_##F##_f32                                                      \
  }

// The plain entries of one format and dtype: the decoded tiles bit for bit, then y and dX.
template <typename T, class Fwd, class Dx>
void plain(const std::string& name, const QWeight& qw, const std::vector<double>& want, int M, int N, int K, Fwd fwd,
           Dx dx) {
  const QArgs w = qw.args();
  tiles_exact<T, T>(
      tally, name, want, N, K,
      [&](const T* x, T* y) { run(fwd, FMA.grid(K, N), FMA.threads, 0, x, SIM_QW(w), (const T*)nullptr, y, K, N, K); },
      [&](const T* dy, T* d) { run(dx, FMA.grid(N, K), FMA.threads, 0, dy, SIM_QW(w), d, N, N, K); });
  const LinearCase c{name.c_str(), M, N, K, 0};
  forward<T, T>(tally, c, want, [&](const T* x, const T* bias, const float*, const float*, float, T* y) {
    run(fwd, FMA.grid(M, N), FMA.threads, 0, x, SIM_QW(w), bias, y, M, N, K);
  });
  backward_dx<T, T>(tally, c, want, [&](const T* dy, const float*, const float*, float, float, unsigned long long, T* d) {
    run(dx, FMA.grid(M, K), FMA.threads, 0, dy, SIM_QW(w), d, M, N, K);
  });
}

// Every f32 entry of a format on one weight: plain (tiles, y, dX), LoRA rank r (the r16 or r64 instance,
// dropout p in dX) and the four IA3 GEMMs.
void quant_f32(const std::string& name, const Format& f, const QWeight& qw, int M, int N, int K, int r, float p,
               bool bias) {
  const QArgs w = qw.args();
  plain<float>(name + " f32", qw, qw.decoded, M, N, K, f.fwd, f.dx);
  const auto lora_fwd = r <= 16 ? f.lora_fwd16 : f.lora_fwd64;
  const auto lora_dx = r <= 16 ? f.lora_dx16 : f.lora_dx64;
  const std::string lname = name + " f32 r" + (r <= 16 ? "16" : "64") + " entry";
  const LinearCase c{lname.c_str(), M, N, K, r, p};
  forward<float, float>(tally, c, qw.decoded,
                        [&](const float* x, const float* b, const float* xa, const float* B, float s, float* y) {
                          run(lora_fwd, FMA.grid(M, N), FMA.threads, 0, x, SIM_QW(w), b, xa, B, s, y, M, N, K, r);
                        });
  backward_dx<float, float>(
      tally, c, qw.decoded,
      [&](const float* dy, const float* dyb, const float* A, float s, float pp, unsigned long long seed, float* d) {
        run(lora_dx, FMA.grid(M, K), FMA.threads, 0, dy, SIM_QW(w), dyb, A, s, pp, seed, d, M, N, K, r);
      });
  const std::string tag = " " + name + " f32 " + shape(M, N, K) + (bias ? " bias" : "");
  ia3_gemms<float>(
      tally, "qia3", tag, M, N, K, bias, qw.decoded,
      [&](const float* x, const float* b, const float* l, float* y) {
        run(f.in_fwd, FMA.grid(M, N), FMA.threads, 0, x, SIM_QW(w), b, l, y, M, N, K);
      },
      [&](const float* dy, const float* x, const float* l, float* dx, float* dl) {
        run(f.in_bwd, FMA.grid(M, K), FMA.threads, 0, dy, x, SIM_QW(w), l, dx, dl, M, N, K);
      },
      [&](const float* x, const float* b, const float* l, float* y, float* z) {
        run(f.out_fwd, FMA.grid(M, N), FMA.threads, 0, x, SIM_QW(w), b, l, y, z, M, N, K);
      },
      [&](const float* dy, const float* l, float* dx) {
        run(f.out_dx, FMA.grid(M, K), FMA.threads, 0, dy, SIM_QW(w), l, dx, M, N, K);
      });
}

// ---- lora_matmul.cu's rank kernels -------------------------------------------------------------------------

template <class Xa, class Dyb, class XaT, class DybT, class XaV, class DybV, class DA, class DB, class DAS, class DBS,
          class DAV, class DBV>
struct Rank {
  Xa xa;
  Dyb dyb;
  XaT xa_tiled;
  DybT dyb_tiled;
  XaV xa_vec;
  DybV dyb_vec;
  DA da;
  DB db;
  DAS da_split;
  DBS db_split;
  DAV da_split_vec;
  DBV db_split_vec;
};
template <class... E> Rank<E...> rank_entries(E... e) { return {e...}; }
#define RANK(NAME)                                                                                              \
  rank_entries(lora_linear_xa_##NAME, lora_linear_bwd_dyb_##NAME, lora_linear_xa_tiled_##NAME,                 \
               lora_linear_bwd_dyb_tiled_##NAME, lora_linear_xa_vec_##NAME, lora_linear_bwd_dyb_vec_##NAME,     \
               lora_linear_bwd_dA_##NAME, lora_linear_bwd_dB_##NAME, lora_linear_bwd_dA_split_##NAME,           \
               lora_linear_bwd_dB_split_##NAME, lora_linear_bwd_dA_split_vec_##NAME,                             \
               lora_linear_bwd_dB_split_vec_##NAME)

// f32 sums in another order than the reference's (per-thread fmaf runs, then a block or warp tree, or
// row splits and atomics): per_term 2^-16 of Σ|terms| as sim/linear_cases.h; a term in the wrong place
// or with the wrong mask factor is an error of the order of the terms.
Check sums() { return Check{0x1p-23, 0x1p-16}; }

// xa [M, r] = drop(x)·Aᵀ (A [r, P]) and dyb [M, r] = dY·B (B [P, r]), one row per block (grid (M,
// ceil(r/8)), block 128) or tiled / vec (grid (ceil(M/16), ceil(r/8)), block 256): plan::rank_project_launch.
enum class Form { Rows, Tiled, Vec };
template <typename T, class E>
void rank_projections(const E& e, int M, int P, int r, float p, Form form) {
  const bool rows_form = form == Form::Rows;
  Rng rng{(uint64_t)(M * 53 + P * 3 + r)};
  std::vector<double> ue;
  const auto u = random16<T>((size_t)M * P, rng, ue);
  const auto A = random32((size_t)r * P, rng, 0.5f), B = random32((size_t)P * r, rng, 0.5f);
  const unsigned long long seed = 0xD2091;
  std::vector<float> xa((size_t)M * r, NAN), dyb = xa;
  const uint3 grid = rows_form ? make_uint3(M, (r + 7) / 8, 1) : make_uint3((M + 15) / 16, (r + 7) / 8, 1);
  const int threads = rows_form ? 128 : 256;
  if (rows_form) {
    run(e.xa, grid, threads, 0, u.data(), A.data(), xa.data(), p, seed, M, P, r);
    run(e.dyb, grid, threads, 0, u.data(), B.data(), dyb.data(), M, P, r);
  } else if (form == Form::Tiled) {
    run(e.xa_tiled, grid, threads, 0, u.data(), A.data(), xa.data(), p, seed, M, P, r);
    run(e.dyb_tiled, grid, threads, 0, u.data(), B.data(), dyb.data(), M, P, r);
  } else {
    if (P % 8) sim::fail("rank_projections: the vec form needs P % 8 == 0");
    run(e.xa_vec, grid, threads, 0, u.data(), A.data(), xa.data(), p, seed, M, P, r);
    run(e.dyb_vec, grid, threads, 0, u.data(), B.data(), dyb.data(), M, P, r);
  }
  Check cx = sums(), cd = sums();
  for (int m = 0; m < M; ++m)
    for (int j = 0; j < r; ++j) {
      double sx = 0, mx = 0, sd = 0, md = 0;
      for (int q = 0; q < P; ++q) {
        const double d = p > 0.f ? dropout_factor(seed, (unsigned long long)m * P + q, p) : 1.0;
        const double tx = ue[(size_t)m * P + q] * d * A[(size_t)j * P + q], td = ue[(size_t)m * P + q] * B[(size_t)q * r + j];
        sx += tx, mx += std::fabs(tx), sd += td, md += std::fabs(td);
      }
      cx.at(xa[(size_t)m * r + j], sx, mx, m, j);
      cd.at(dyb[(size_t)m * r + j], sd, md, m, j);
    }
  const std::string label = std::string(dt<T>()) + (rows_form ? "" : form == Form::Tiled ? " tiled" : " vec") + " M" +
                            std::to_string(M) + " P" +
                            std::to_string(P) + " r" + std::to_string(r);
  tally.report("lora_linear_xa " + label + (p > 0.f ? " dropout" : ""), cx);
  tally.report("lora_linear_bwd_dyb " + label, cd);
}

// plan::rank_splits: ≥ 256 rows per split, at most 64 splits and 8 Mi partial floats.
std::pair<int, int> rank_splits(int m, int p, int r) {
  const int cap = (int)std::clamp<long long>((8ll << 20) / std::max(p * r, 1), 1, 64);
  const int want = std::clamp((m + 255) / 256, 1, cap);
  const int rows = std::max((m + want - 1) / want, 1);
  return {std::max((m + rows - 1) / rows, 1), rows};
}

// dA [r, K] += s·dybᵀ·drop(x), dB [N, r] += s·dYᵀ·xa: grid (ceil(P/128), ceil(r/8), z), block 128.
// split: the _split entries over z = splits of `rows` rows into partial [z, P, r] (NaN-filled), then
// lora_rank_reduce (grid ceil(P·r/256), block 256) adds them into the accumulators, as ops/linear.rs;
// SplitVec: the _split_vec entries (grid (ceil(P/256), ceil(r/8), splits), block 256; K, N % 8 == 0) into
// the same partial sums; Atomic: the atomic entries with z row splits (half/mod.rs: z = 1). dA, dB
// start nonzero (they accumulate).
enum class Sums { Atomic, Split, SplitVec };
template <typename T, class E>
void rank_sums(const E& e, int M, int N, int K, int r, float p, Sums form, int z) {
  Rng rng{(uint64_t)(M * 7 + N * 11 + K * 13 + r + z)};
  std::vector<double> xe, de;
  const auto x = random16<T>((size_t)M * K, rng, xe), dy = random16<T>((size_t)M * N, rng, de);
  const auto dyb = random32((size_t)M * r, rng, 1.f), xa = random32((size_t)M * r, rng, 1.f);
  const auto dA0 = random32((size_t)r * K, rng, 1.f), dB0 = random32((size_t)N * r, rng, 1.f);
  auto dA = dA0, dB = dB0;
  const float scale = 1.75f;
  const unsigned long long seed = 0x5A17;
  const unsigned rb = (r + 7) / 8;
  std::string how;
  if (form != Sums::Atomic) {
    const bool vec = form == Sums::SplitVec;
    const auto [splits, rows] = rank_splits(M, std::max(K, N), r);
    const int cols = vec ? 256 : 128, threads = vec ? 256 : 128;
    std::vector<float> partial((size_t)splits * std::max(K, N) * r, NAN);
    const uint3 grid_a = make_uint3((K + cols - 1) / cols, rb, splits), grid_b = make_uint3((N + cols - 1) / cols, rb, splits);
    if (vec)
      run(e.da_split_vec, grid_a, threads, 0, x.data(), dyb.data(), partial.data(), p, seed, M, K, r, rows);
    else
      run(e.da_split, grid_a, threads, 0, x.data(), dyb.data(), partial.data(), p, seed, M, K, r, rows);
    run(lora_rank_reduce, make_uint3((K * r + 255) / 256, 1, 1), 256, 0, (const float*)partial.data(), dA.data(), scale,
        splits, K, r, 1, K);
    std::fill(partial.begin(), partial.end(), NAN);
    if (vec)
      run(e.db_split_vec, grid_b, threads, 0, dy.data(), xa.data(), partial.data(), M, N, r, rows);
    else
      run(e.db_split, grid_b, threads, 0, dy.data(), xa.data(), partial.data(), M, N, r, rows);
    run(lora_rank_reduce, make_uint3((N * r + 255) / 256, 1, 1), 256, 0, (const float*)partial.data(), dB.data(), scale,
        splits, N, r, r, 1);
    how = std::string(vec ? " split vec " : " split ") + std::to_string(splits) + "x" + std::to_string(rows) + " + reduce";
  } else {
    run(e.da, make_uint3((K + 127) / 128, rb, z), 128, 0, x.data(), dyb.data(), dA.data(), scale, p, seed, M, K, r);
    run(e.db, make_uint3((N + 127) / 128, rb, z), 128, 0, dy.data(), xa.data(), dB.data(), scale, M, N, r);
    how = " atomic z" + std::to_string(z);
  }
  Check ca = sums(), cb = sums();
  for (int j = 0; j < r; ++j)
    for (int k = 0; k < K; ++k) {
      double s = 0, mag = 0;
      for (int m = 0; m < M; ++m) {
        const double d = p > 0.f ? dropout_factor(seed, (unsigned long long)m * K + k, p) : 1.0;
        const double t = (double)dyb[(size_t)m * r + j] * xe[(size_t)m * K + k] * d;
        s += t, mag += std::fabs(t);
      }
      const size_t i = (size_t)j * K + k;
      ca.at(dA[i], dA0[i] + scale * s, std::fabs(dA0[i]) + scale * mag, j, k);
    }
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < r; ++j) {
      double s = 0, mag = 0;
      for (int m = 0; m < M; ++m) {
        const double t = de[(size_t)m * N + n] * xa[(size_t)m * r + j];
        s += t, mag += std::fabs(t);
      }
      const size_t i = (size_t)n * r + j;
      cb.at(dB[i], dB0[i] + scale * s, std::fabs(dB0[i]) + scale * mag, n, j);
    }
  const std::string label = std::string(" ") + dt<T>() + " M" + std::to_string(M) + " r" + std::to_string(r) + how;
  tally.report("lora_linear_bwd_dA" + label + " K" + std::to_string(K) + (p > 0.f ? " dropout" : ""), ca);
  tally.report("lora_linear_bwd_dB" + label + " N" + std::to_string(N), cb);
}

// The quantized FMA-core linears, the rank projections and the row-per-thread rank sums.
void linears_and_rank_kernels() {
  // Whole 64-tiles and k-tiles; ragged everything (K % 32 != 0, NF4 blocks straddle rows); N·K over
  // 256 NF4 blocks, so the double-quantized absmax has two nested blocks. LoRA: the r16 entry at r 16
  // and r 5 (dropout in dX), the r64 entry at r 20.
  struct Shape {
    int M, N, K, r;
    float p;
  };
  const Shape shapes[] = {{128, 128, 64, 16, 0.f}, {70, 45, 37, 5, 0.1f}, {40, 150, 130, 20, 0.1f}};
  for (const Shape& s : shapes) {
    Rng rng{(uint64_t)(s.N * 31 + s.K)};
    const QWeight w_nf4 = nf4(s.N, s.K, false, rng), w_dq = nf4(s.N, s.K, true, rng), w_int8 = int8(s.N, s.K, rng),
                  w_bf16 = bf16_bits(s.N, s.K, rng);
    const bool bias = s.K % 2;
    quant_f32("nf4", FORMAT(nf4), w_nf4, s.M, s.N, s.K, s.r, s.p, bias);
    quant_f32("nf4+dq", FORMAT(nf4), w_dq, s.M, s.N, s.K, s.r, s.p, !bias);
    quant_f32("int8", FORMAT(int8), w_int8, s.M, s.N, s.K, s.r, s.p, bias);
    quant_f32("bf16", FORMAT(bf16), w_bf16, s.M, s.N, s.K, s.r, s.p, !bias);
    // The bf16 instances (wmma core) stage the decoded weight rounded to bf16.
    plain<bf16>("nf4+dq bf16", w_dq, w_dq.bf16_rounded(), s.M, s.N, s.K, qlinear_fwd_nf4_bf16, qlinear_bwd_dx_nf4_bf16);
    plain<bf16>("int8 bf16", w_int8, w_int8.bf16_rounded(), s.M, s.N, s.K, qlinear_fwd_int8_bf16,
                qlinear_bwd_dx_int8_bf16);
  }

  // Rank projections: P = 300 (2 chunks of the tiled form, 3 values a thread in the row form), r = 11 (a
  // partial second block of 8 ranks), M = 19 (a partial 16-row tile).
  const auto r32 = RANK(f32);
  const auto r16 = RANK(bf16);
  const auto rh = RANK(f16);
  rank_projections<float>(r32, 19, 300, 11, 0.1f, Form::Rows);
  rank_projections<float>(r32, 19, 300, 11, 0.1f, Form::Tiled);
  rank_projections<bf16>(r16, 19, 300, 11, 0.f, Form::Rows);
  rank_projections<bf16>(r16, 19, 300, 11, 0.1f, Form::Tiled);
  rank_projections<f16>(rh, 9, 300, 11, 0.1f, Form::Rows);
  rank_projections<f16>(rh, 19, 300, 11, 0.f, Form::Tiled);
  // The vec form (P % 8 == 0): P = 520 is two whole 256-chunks and one of 8 positions (lane 0 alone).
  rank_projections<float>(r32, 19, 520, 11, 0.1f, Form::Vec);
  rank_projections<bf16>(r16, 19, 520, 11, 0.1f, Form::Vec);
  rank_projections<f16>(rh, 35, 520, 8, 0.f, Form::Vec);
  // Rank sums: M = 600 is rank_splits' 3 splits of 200 rows; K 70 and N 150 (a partial 128 block).
  rank_sums<float>(r32, 600, 150, 70, 11, 0.1f, Sums::Split, 0);
  rank_sums<bf16>(r16, 600, 150, 70, 11, 0.1f, Sums::Split, 0);
  rank_sums<float>(r32, 600, 150, 70, 11, 0.1f, Sums::Atomic, 3);
  rank_sums<bf16>(r16, 600, 150, 70, 11, 0.1f, Sums::Atomic, 1);
  rank_sums<f16>(rh, 600, 150, 70, 11, 0.f, Sums::Atomic, 1);
}

// The vec sums (K, N % 8 == 0): K 520 and N 264 end in a 256-block of 8 positions (lane 0 alone),
// 3 splits of 200 rows are 25 rows a warp; r 11 and r 3 (partial blocks of 8 rank columns).
void vec_rank_sums() {
  const auto r32 = RANK(f32);
  const auto r16 = RANK(bf16);
  const auto rh = RANK(f16);
  rank_sums<float>(r32, 600, 264, 520, 11, 0.1f, Sums::SplitVec, 0);
  rank_sums<bf16>(r16, 600, 264, 520, 11, 0.1f, Sums::SplitVec, 0);
  rank_sums<f16>(rh, 300, 264, 520, 3, 0.f, Sums::SplitVec, 0);
}

}  // namespace

// SIM_PART=main | sums-vec runs one part (a fault control aimed at the vec sums' barriers).
int main(int argc, char** argv) {
  parse_seed(argc, argv);
  if (runs_part("main")) linears_and_rank_kernels();
  if (runs_part("sums-vec")) vec_rank_sums();
  return tally.finish();
}
