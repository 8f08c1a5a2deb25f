// The CUDA-core op kernels' own source run on the CPU by the SIMT emulator (sim/simt.h), each against a
// double-precision reference over the exact values of the same inputs: cross_entropy.cu (loss, lse,
// dlogits; separate, in place, forward only), adamw.cu (aligned float4 and scalar paths, guards around
// every tensor), norm.cu (RMSNorm and LayerNorm forward, dx and the dw / db column sums), rope.cu
// (rotate-half and interleaved partial, both directions, positions array and in place), activation.cu
// (SwiGLU, gelu_new), embedding.cu (bad ids, repeated ids' atomics) and ia3.cu (both IA3 variants on the
// GEMM core). f32 instances (the training backend's) and bf16 (the 16-bit runner's), launched with the
// host's geometry (src/backend/cuda/ops/*.rs, half/ops.rs); sizes are ragged against the block size.
// Allowances are stated per output, as |got − want| ≤ rel·|want| + per_term·magnitude (cases::Check):
// some pass a computed absolute allowance as the magnitude with per_term 1.
// Built and run by tests/kernel_sim.rs; argv[1] (optional): the first scheduler seed.
#include "sim/ia3_cases.h"

#include "activation.cu"
#include "adamw.cu"
#include "cross_entropy.cu"
#include "embedding.cu"
#include "ia3.cu"
#include "norm.cu"
#include "rope.cu"

namespace {

using namespace cases;
Tally tally;

// A launch with a 2-D block (the column-sum kernels' (32, 8)).
template <class K, class... Args>
void run2(K kernel, uint3 grid, uint3 block, Args... args) {
  sim::launch({grid, block, 0, next_seed()++}, [&] { kernel(args...); });
}

// ---- cross_entropy.cu ---------------------------------------------------------------------------------

enum class Ce { Separate, ForwardOnly, InPlace };

// Grid (M), block 512 (ops/cross_entropy.rs, half/ops.rs). Row 1 sits 100 above the rest, so its exps
// overflow f32 without the running max; a label outside [0, V) other than −100 gives loss NaN and a zero
// gradient, −100 loss 0 and a zero gradient. grad_scale = 1/n_valid (the mean).
template <typename T, class K>
void cross_entropy(K kernel, int M, int V, const std::vector<int>& labels, Ce mode) {
  Rng rng{(uint64_t)(M * 7919 + V * 3 + (int)mode)};
  std::vector<double> xe;
  std::vector<T> logits = random16<T>((size_t)M * V, rng, xe, 8.f);
  for (int v = 0; v < V; ++v) {
    logits[V + v] = from_f32<T>(to_f32(logits[V + v]) + 100.f);
    xe[V + v] = to_f32(logits[V + v]);
  }
  int n_valid = 0;
  for (int l : labels) n_valid += l != kIgnoreIndex;
  const float grad_scale = 1.f / (float)n_valid;

  std::vector<float> loss(M, 12345.f), lse(M, 12345.f);
  std::vector<T> dl((size_t)M * V, from_f32<T>(-777.f)), buf = logits;
  const T* in = mode == Ce::InPlace ? buf.data() : logits.data();
  T* d = mode == Ce::Separate ? dl.data() : mode == Ce::InPlace ? buf.data() : nullptr;
  run(kernel, make_uint3(M, 1, 1), 512, 0, in, labels.data(), loss.data(), lse.data(), d, grad_scale, M, V);
  const T* dout = mode == Ce::InPlace ? buf.data() : dl.data();

  // lse: the f32 sum of V exps (each within 2 ulp) over ≤ 3 terms per thread and a 512-way tree is
  // within ~2^-19.5 relative, an absolute error of log; logf and the final add a few ulp of |lse|.
  Check cl = allowance(0), closs = allowance(0x1p-23), cd = allowance(ulp<T>());
  for (int m = 0; m < M; ++m) {
    const double* x = &xe[(size_t)m * V];
    double mx = -HUGE_VAL, s = 0;
    for (int v = 0; v < V; ++v) mx = std::max(mx, x[v]);
    for (int v = 0; v < V; ++v) s += std::exp(x[v] - mx);
    const double want_lse = mx + std::log(s), lse_allow = 0x1p-18 + 0x1p-22 * std::fabs(want_lse);
    cl.at(lse[m], want_lse, lse_allow, m, 0);
    const int label = labels[m];
    const bool valid = label >= 0 && label < V;
    if (label == kIgnoreIndex) exact(closs, loss[m], 0.0, m, 0);
    else if (!valid) exact(closs, loss[m], NAN, m, 0);
    else closs.at(loss[m], want_lse - x[label], lse_allow, m, 0);
    if (mode == Ce::ForwardOnly) continue;
    for (int v = 0; v < V; ++v) {
      const double got = to_f32(dout[(size_t)m * V + v]);
      if (!valid) {
        exact(cd, got, 0.0, m, v);
        continue;
      }
      // p = exp(x − lse): relative error lse's allowance, expf's 2 ulp and the rounding of x − lse.
      const double p = std::exp(x[v] - want_lse);
      const double allow = grad_scale * p * (lse_allow + 0x1p-22 + 0x1p-24 * std::fabs(x[v] - want_lse));
      cd.at(got, (p - (v == label)) * grad_scale, allow, m, v);
    }
  }
  const char* how = mode == Ce::Separate ? "" : mode == Ce::InPlace ? " in place" : " forward only";
  const std::string label = std::string("cross_entropy ") + dt<T>() + " M" + std::to_string(M) + " V" +
                            std::to_string(V) + how;
  tally.report(label + " lse", cl);
  tally.report(label + " loss", closs);
  if (mode != Ce::ForwardOnly) tally.report(label + " dlogits", cd);
}

// ---- adamw.cu -------------------------------------------------------------------------------------------

struct AdamCase {
  int n, offset;  // offset 1: every array 4 bytes past a 16-byte boundary, the scalar path
};

// One launch over several tensors, grid (blocks_x, tensors), block 256; GUARD untouched floats follow
// each tensor (and `offset` precede it).
void adamw(const std::vector<AdamCase>& ts, int blocks_x) {
  constexpr int GUARD = 5;
  constexpr float SENTINEL = 3.5f;
  const float lr = 0.01f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  const float bc1 = 1.f - b1 * b1 * b1, bc2 = 1.f - b2 * b2 * b2;  // step 3, as the host's powi
  Rng rng{(uint64_t)(ts.size() * 31 + blocks_x)};
  const size_t n_t = ts.size();
  std::vector<std::vector<float>> p(n_t), g(n_t), m(n_t), v(n_t);
  std::vector<AdamTensor> desc;
  for (size_t t = 0; t < n_t; ++t) {
    const size_t len = ts[t].offset + ts[t].n + GUARD;
    p[t].assign(len, SENTINEL), g[t].assign(len, SENTINEL), m[t].assign(len, SENTINEL), v[t].assign(len, SENTINEL);
    for (int i = ts[t].offset; i < ts[t].offset + ts[t].n; ++i) {
      p[t][i] = rng.next(), g[t][i] = rng.next(), m[t][i] = 0.1f * rng.next();
      v[t][i] = 0.01f * std::fabs(rng.next());
    }
    const int o = ts[t].offset;
    desc.push_back({p[t].data() + o, g[t].data() + o, m[t].data() + o, v[t].data() + o, ts[t].n});
    const bool aligned = ((uintptr_t)desc.back().param | (uintptr_t)desc.back().grad | (uintptr_t)desc.back().m |
                          (uintptr_t)desc.back().v) % 16 == 0;
    if (aligned != (o % 4 == 0)) sim::fail("adamw case: the host allocation is not 16-byte aligned");
  }
  const auto p0 = p, m0 = m, v0 = v;
  run(adamw_step_f32, make_uint3(blocks_x, (unsigned)n_t, 1), 256, 0, (const AdamTensor*)desc.data(), (int)n_t, lr,
      b1, b2, eps, wd, bc1, bc2);

  // m, v: two products and a sum in f32 (1 − β is exact in f32). p: its decay's rounding, the update's
  // few roundings (sqrtf, two divisions, + eps), and m's allowance carried through the division.
  Check cp = allowance(0x1p-23), cm{0x1p-23, 0x1p-22}, cv{0x1p-23, 0x1p-22};
  std::string label = "adamw f32 grid " + std::to_string(blocks_x) + "x" + std::to_string(n_t) + " n";
  for (size_t t = 0; t < n_t; ++t) {
    const int o = ts[t].offset, n = ts[t].n;
    label += (t ? "," : "") + std::to_string(n) + (o ? "+" + std::to_string(o) : "");
    for (int i = 0; i < (int)p[t].size(); ++i) {
      if (i < o || i >= o + n) {  // guards
        exact(cp, p[t][i], SENTINEL, (int)t, i), exact(cm, m[t][i], SENTINEL, (int)t, i);
        exact(cv, v[t][i], SENTINEL, (int)t, i);
        continue;
      }
      const double gi = g[t][i];
      const double mm = (double)b1 * m0[t][i] + (1.0 - b1) * gi;
      const double mag_m = std::fabs((double)b1 * m0[t][i]) + std::fabs((1.0 - b1) * gi);
      const double vv = (double)b2 * v0[t][i] + (1.0 - b2) * gi * gi;  // both terms ≥ 0: its own magnitude
      const double decay = 1.0 - (double)lr * wd, step = (double)lr / bc1;
      const double den = std::sqrt(vv) / std::sqrt((double)bc2) + eps, upd = step * mm / den;
      const double pp = p0[t][i] * decay - upd;
      cm.at(m[t][i], mm, mag_m, (int)t, i);
      cv.at(v[t][i], vv, vv, (int)t, i);
      cp.at(p[t][i], pp, 0x1p-22 * std::fabs(p0[t][i] * decay) + 0x1p-20 * (std::fabs(upd) + step * mag_m / den),
            (int)t, i);
    }
  }
  tally.report(label + " p", cp);
  tally.report(label + " m", cm);
  tally.report(label + " v", cv);
}

// ---- norm.cu --------------------------------------------------------------------------------------------

// f32 sums over ≤ C/256 + 13 roundings (each thread's terms, then the block's tree): within 2^-20
// relative of their absolute terms; per_term 2^-19 leaves room for the products before them and for
// rsqrtf (2 ulp on the GPU). Outputs in T add their own rounding (rel).
constexpr double NORM_TERM = 0x1p-19;

// The weight-gradient kernel's launch: grid (ceil(C/32), row_blocks), block (32, 8).
uint3 colsum_grid(int C, int row_blocks) { return make_uint3((C + 31) / 32, row_blocks, 1); }

template <typename T, class Fwd, class Bwd, class Dw>
void rmsnorm(int M, int C, int row_blocks, Fwd fwd, Bwd bwd, Dw dw_kernel) {
  Rng rng{(uint64_t)(M * 101 + C)};
  std::vector<double> xe, we, de;
  auto x = random16<T>((size_t)M * C, rng, xe, 2.f), dy = random16<T>((size_t)M * C, rng, de);
  auto w = random16<T>(C, rng, we, 0.5f);
  for (int c = 0; c < C; ++c) w[c] = from_f32<T>(1.f + to_f32(w[c])), we[c] = to_f32(w[c]);
  const float eps = 1e-5f;
  std::vector<T> y((size_t)M * C, from_f32<T>(-777.f)), dx = y;
  std::vector<float> rstd(M, -1.f), dw = random32(C, rng, 1.f);
  const auto dw0 = dw;
  run(fwd, make_uint3(M, 1, 1), 256, 0, (const T*)x.data(), (const T*)w.data(), y.data(), rstd.data(), M, C, eps);

  std::vector<float> r32(M);  // the backward's saved rstd: the reference's, rounded to f32
  Check cy = check_for<T>(NORM_TERM), cr{NORM_TERM, 0}, cdx = check_for<T>(NORM_TERM), cw{0x1p-23, NORM_TERM};
  for (int m = 0; m < M; ++m) {
    double ss = 0;
    for (int c = 0; c < C; ++c) ss += xe[(size_t)m * C + c] * xe[(size_t)m * C + c];
    const double r = 1 / std::sqrt(ss / C + eps);
    r32[m] = (float)r;
    cr.at(rstd[m], r, 0, m, 0);
    for (int c = 0; c < C; ++c) {
      const double want = xe[(size_t)m * C + c] * r * we[c];
      cy.at(to_f32(y[(size_t)m * C + c]), want, std::fabs(want), m, c);
    }
  }
  run(bwd, make_uint3(M, 1, 1), 256, 0, (const T*)dy.data(), (const T*)x.data(), (const T*)w.data(),
      (const float*)r32.data(), dx.data(), M, C);
  for (int m = 0; m < M; ++m) {
    const double r = r32[m];
    double gx = 0, gx_mag = 0;
    for (int c = 0; c < C; ++c) {
      const double t = de[(size_t)m * C + c] * we[c] * xe[(size_t)m * C + c];
      gx += t, gx_mag += std::fabs(t);
    }
    for (int c = 0; c < C; ++c) {
      const size_t i = (size_t)m * C + c;
      const double g = de[i] * we[c];
      // dx = r·g − x·r³·mean(g·x): a difference, so the allowance is on both terms' sizes.
      cdx.at(to_f32(dx[i]), r * g - xe[i] * r * r * r * gx / C,
             std::fabs(r * g) + std::fabs(xe[i]) * r * r * r * gx_mag / C, m, c);
    }
  }
  run2(dw_kernel, colsum_grid(C, row_blocks), make_uint3(32, 8, 1), (const T*)dy.data(), (const T*)x.data(),
       (const float*)nullptr, (const float*)r32.data(), dw.data(), (float*)nullptr, M, C);
  for (int c = 0; c < C; ++c) {
    double s = dw0[c], mag = std::fabs(dw0[c]);
    for (int m = 0; m < M; ++m) {
      const double t = de[(size_t)m * C + c] * xe[(size_t)m * C + c] * r32[m];
      s += t, mag += std::fabs(t);
    }
    cw.at(dw[c], s, mag, 0, c);
  }
  const std::string label = std::string("rmsnorm ") + dt<T>() + " " + std::to_string(M) + "x" + std::to_string(C);
  tally.report(label + " y", cy);
  tally.report(label + " rstd", cr);
  tally.report(label + " dx", cdx);
  tally.report(label + " dw (" + std::to_string(row_blocks) + " row blocks)", cw);
}

template <typename T, class Fwd, class Bwd, class Dw>
void layernorm(int M, int C, int row_blocks, Fwd fwd, Bwd bwd, Dw dw_kernel) {
  Rng rng{(uint64_t)(M * 103 + C)};
  std::vector<double> xe, we, be, de;
  auto x = random16<T>((size_t)M * C, rng, xe, 2.f), dy = random16<T>((size_t)M * C, rng, de);
  // Rows centred on 3: the mean is not small against the spread (the two-pass variance matters).
  for (size_t i = 0; i < x.size(); ++i) x[i] = from_f32<T>(3.f + to_f32(x[i])), xe[i] = to_f32(x[i]);
  auto w = random16<T>(C, rng, we, 0.5f), b = random16<T>(C, rng, be);
  for (int c = 0; c < C; ++c) w[c] = from_f32<T>(1.f + to_f32(w[c])), we[c] = to_f32(w[c]);
  const float eps = 1e-5f;
  std::vector<T> y((size_t)M * C, from_f32<T>(-777.f)), dx = y;
  std::vector<float> mean(M, -1.f), rstd(M, -1.f), dw = random32(C, rng, 1.f), db = random32(C, rng, 1.f);
  const auto dw0 = dw, db0 = db;
  run(fwd, make_uint3(M, 1, 1), 256, 0, (const T*)x.data(), (const T*)w.data(), (const T*)b.data(), y.data(),
      mean.data(), rstd.data(), M, C, eps);

  std::vector<float> mu32(M), r32(M);
  Check cy = check_for<T>(NORM_TERM), cmu{0x1p-23, NORM_TERM}, cr{NORM_TERM, 0}, cdx = check_for<T>(NORM_TERM),
        cw{0x1p-23, NORM_TERM}, cb{0x1p-23, NORM_TERM};
  for (int m = 0; m < M; ++m) {
    const double* xr = &xe[(size_t)m * C];
    double s = 0, s_mag = 0, sq = 0;
    for (int c = 0; c < C; ++c) s += xr[c], s_mag += std::fabs(xr[c]);
    const double mu = s / C;
    for (int c = 0; c < C; ++c) sq += (xr[c] - mu) * (xr[c] - mu);
    const double r = 1 / std::sqrt(sq / C + eps);
    mu32[m] = (float)mu, r32[m] = (float)r;
    cmu.at(mean[m], mu, s_mag / C, m, 0);
    cr.at(rstd[m], r, 0, m, 0);
    for (int c = 0; c < C; ++c) {
      // The mean's allowance enters every x − μ.
      const double xh = (xr[c] - mu) * r * we[c];
      const double mag = std::fabs(xh) + std::fabs(be[c]) + r * std::fabs(we[c]) * s_mag / C;
      cy.at(to_f32(y[(size_t)m * C + c]), xh + be[c], mag, m, c);
    }
  }
  run(bwd, make_uint3(M, 1, 1), 256, 0, (const T*)dy.data(), (const T*)x.data(), (const T*)w.data(),
      (const float*)mu32.data(), (const float*)r32.data(), dx.data(), M, C);
  for (int m = 0; m < M; ++m) {
    const double mu = mu32[m], r = r32[m];
    double sg = 0, sg_mag = 0, sgx = 0, sgx_mag = 0;
    for (int c = 0; c < C; ++c) {
      const size_t i = (size_t)m * C + c;
      const double g = de[i] * we[c], xh = (xe[i] - mu) * r;
      // x − μ is rounded from x, so x̂'s error scales with |x|·r, not |x̂|.
      const double xh_mag = (std::fabs(xe[i] - mu) + std::fabs(xe[i])) * r;
      sg += g, sg_mag += std::fabs(g), sgx += g * xh, sgx_mag += std::fabs(g) * xh_mag;
    }
    for (int c = 0; c < C; ++c) {
      const size_t i = (size_t)m * C + c;
      const double g = de[i] * we[c], xh = (xe[i] - mu) * r, xh_mag = (std::fabs(xe[i] - mu) + std::fabs(xe[i])) * r;
      cdx.at(to_f32(dx[i]), r * (g - sg / C - xh * sgx / C), r * (std::fabs(g) + sg_mag / C + xh_mag * sgx_mag / C), m,
             c);
    }
  }
  run2(dw_kernel, colsum_grid(C, row_blocks), make_uint3(32, 8, 1), (const T*)dy.data(), (const T*)x.data(),
       (const float*)mu32.data(), (const float*)r32.data(), dw.data(), db.data(), M, C);
  for (int c = 0; c < C; ++c) {
    double sw = dw0[c], sw_mag = std::fabs(dw0[c]), sb = db0[c], sb_mag = std::fabs(db0[c]);
    for (int m = 0; m < M; ++m) {
      const size_t i = (size_t)m * C + c;
      sw += de[i] * (xe[i] - mu32[m]) * r32[m];
      sw_mag += std::fabs(de[i]) * (std::fabs(xe[i] - mu32[m]) + std::fabs(xe[i])) * r32[m];
      sb += de[i], sb_mag += std::fabs(de[i]);
    }
    cw.at(dw[c], sw, sw_mag, 0, c);
    cb.at(db[c], sb, sb_mag, 0, c);
  }
  const std::string label = std::string("layernorm ") + dt<T>() + " " + std::to_string(M) + "x" + std::to_string(C);
  tally.report(label + " y", cy);
  tally.report(label + " mean", cmu);
  tally.report(label + " rstd", cr);
  tally.report(label + " dx", cdx);
  const std::string rb = " (" + std::to_string(row_blocks) + " row blocks)";
  tally.report(label + " dw" + rb, cw);
  tally.report(label + " db" + rb, cb);
}

// ---- rope.cu --------------------------------------------------------------------------------------------

// Grid (B·T), block 128 (ops/rope.rs). rot = D for rotate-half (its entries take no rot). inv_freq is
// an f32 table as the host's; the angle is the f32 product pos·inv_freq, as the kernel and the CPU
// backend form it, then sin / cos in double. Pass-through dims (rot < D) must be copied bit for bit.
template <typename T, bool INTERLEAVED, class K>
void rope(K kernel, int B, int Tn, int H, int D, int rot, int pos_offset, const std::vector<int>& positions,
          bool inverse, bool in_place) {
  Rng rng{(uint64_t)(B * 1009 + Tn * 31 + H * 7 + D + rot + inverse)};
  std::vector<double> xe;
  auto x = random16<T>((size_t)B * Tn * H * D, rng, xe);
  std::vector<float> inv(rot / 2);
  for (int i = 0; i < rot / 2; ++i) inv[i] = 1.f / powf(10000.f, (float)(2 * i) / (float)rot);
  std::vector<T> y(x.size(), from_f32<T>(-777.f));
  if (in_place) y = x;
  const T* in = in_place ? y.data() : x.data();
  const int* pos = positions.empty() ? nullptr : positions.data();
  if constexpr (INTERLEAVED)
    run(kernel, make_uint3(B * Tn, 1, 1), 128, 0, in, y.data(), pos, pos_offset, (const float*)inv.data(), Tn, H, D,
        rot);
  else
    run(kernel, make_uint3(B * Tn, 1, 1), 128, 0, in, y.data(), pos, pos_offset, (const float*)inv.data(), Tn, H, D);

  // Two products and a sum in f32 after sincosf (2 ulp on the GPU): per_term 2^-21 of the two terms' sizes.
  Check c = check_for<T>(0x1p-21);
  const double sign = inverse ? -1 : 1;
  for (int b = 0; b < B; ++b)
    for (int t = 0; t < Tn; ++t) {
      const float p = (float)(pos ? pos[t] : pos_offset + t);
      for (int h = 0; h < H; ++h) {
        const size_t o = (((size_t)b * Tn + t) * H + h) * D;
        const int row = (b * Tn + t) * H + h;
        for (int i = 0; i < rot / 2; ++i) {
          const double ang = p * inv[i], sn = sign * std::sin(ang), cs = std::cos(ang);
          const int a = INTERLEAVED ? 2 * i : i, bb = INTERLEAVED ? 2 * i + 1 : i + rot / 2;
          const double xa = xe[o + a], xb = xe[o + bb];
          c.at(to_f32(y[o + a]), xa * cs - xb * sn, std::fabs(xa * cs) + std::fabs(xb * sn), row, a);
          c.at(to_f32(y[o + bb]), xb * cs + xa * sn, std::fabs(xb * cs) + std::fabs(xa * sn), row, bb);
        }
        for (int d = rot; d < D; ++d) exact(c, to_f32(y[o + d]), xe[o + d], row, d);
      }
    }
  const std::string label = std::string("rope ") + (INTERLEAVED ? "interleaved " : "half ") + dt<T>() +
                            (inverse ? " bwd" : " fwd") + " B" + std::to_string(B) + " T" + std::to_string(Tn) + " H" +
                            std::to_string(H) + " D" + std::to_string(D) + " rot" + std::to_string(rot) +
                            (pos ? " positions" : " offset " + std::to_string(pos_offset)) +
                            (in_place ? " in place" : "");
  tally.report(label, c);
}

// ---- activation.cu --------------------------------------------------------------------------------------

uint3 stride_grid(long long n) { return make_uint3((unsigned)std::clamp((n + 255) / 256, 1ll, 65535ll), 1, 1); }

double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

// Grid-stride, block 256, grid ceil(n/256) as launch::stride_cfg; `grid` overrides it (the host's clamp
// at 65,535 blocks makes threads loop). Allowances: a few f32 roundings and expf / tanhf's 2 ulp, on
// the sizes of the terms where a difference cancels (1 + g·(1 − σ), 1 + tanh for x ≪ 0, 1 − t²).
template <typename T, class SwF, class SwB, class GeF, class GeB>
void activations(long long n, unsigned grid, SwF swf, SwB swb, GeF gef, GeB geb) {
  Rng rng{(uint64_t)(n * 13 + grid)};
  std::vector<double> ge, ue, de, xe;
  auto g = random16<T>(n, rng, ge, 6.f), u = random16<T>(n, rng, ue, 2.f), dh = random16<T>(n, rng, de),
       x = random16<T>(n, rng, xe, 5.f);
  const uint3 gr = grid ? make_uint3(grid, 1, 1) : stride_grid(n);
  const T fill = from_f32<T>(-777.f);
  std::vector<T> h(n, fill), dg(n, fill), du(n, fill), y(n, fill), dx(n, fill);
  run(swf, gr, 256, 0, (const T*)g.data(), (const T*)u.data(), h.data(), n);
  run(swb, gr, 256, 0, (const T*)dh.data(), (const T*)g.data(), (const T*)u.data(), dg.data(), du.data(), n);
  run(gef, gr, 256, 0, (const T*)x.data(), y.data(), n);
  run(geb, gr, 256, 0, (const T*)dh.data(), (const T*)x.data(), dx.data(), n);
  const double term = 0x1p-20, C = kGeluC, A = kGeluA;  // the kernel's f32 constants
  Check ch = check_for<T>(term), cg = check_for<T>(term), cu = check_for<T>(term), cy = check_for<T>(term),
        cx = check_for<T>(term);
  for (long long i = 0; i < n; ++i) {
    const double gv = ge[i], uv = ue[i], d = de[i], s = sigmoid(gv), xv = xe[i];
    ch.at(to_f32(h[i]), gv * s * uv, std::fabs(gv * s * uv), 0, (int)i);
    const double k = 1 + gv * (1 - s);
    cg.at(to_f32(dg[i]), d * uv * s * k, std::fabs(d * uv * s) * (1 + std::fabs(gv * (1 - s))), 0, (int)i);
    cu.at(to_f32(du[i]), d * gv * s, std::fabs(d * gv * s), 0, (int)i);
    const double t = std::tanh(C * (xv + A * xv * xv * xv));
    cy.at(to_f32(y[i]), 0.5 * xv * (1 + t), 0.5 * std::fabs(xv) * (1 + std::fabs(t)), 0, (int)i);
    const double poly = C * (1 + 3 * A * xv * xv);
    const double grad = 0.5 * (1 + t) + 0.5 * xv * (1 - t * t) * poly;
    cx.at(to_f32(dx[i]), d * grad, std::fabs(d) * (0.5 * (1 + std::fabs(t)) + 0.5 * std::fabs(xv) * (1 + t * t) * poly),
          0, (int)i);
  }
  const std::string label = std::string(" ") + dt<T>() + " n" + std::to_string(n) + " grid " + std::to_string(gr.x);
  tally.report("swiglu_fwd" + label + " h", ch);
  tally.report("swiglu_bwd" + label + " dg", cg);
  tally.report("swiglu_bwd" + label + " du", cu);
  tally.report("gelu_new_fwd" + label + " y", cy);
  tally.report("gelu_new_bwd" + label + " dx", cx);
}

// ---- embedding.cu ---------------------------------------------------------------------------------------

// Grid (M), block 256 (ops/embedding.rs). The forward copies rows bit for bit (bad ids: zeros and the
// flag); the backward adds each row into fp32 dweight (repeated ids: several atomics on one element,
// in any order, so the sum's rounding order is free: per_term 2^-22 for ≤ 4 terms).
template <typename T, class Fwd, class Bwd>
void embedding(Fwd fwd, Bwd bwd, int V, int C, const std::vector<int>& ids, bool flag) {
  const int M = (int)ids.size();
  Rng rng{(uint64_t)(V * 37 + C + M + flag)};
  std::vector<double> we, de;
  auto w = random16<T>((size_t)V * C, rng, we), dout = random16<T>((size_t)M * C, rng, de);
  std::vector<T> out((size_t)M * C, from_f32<T>(-777.f));
  std::vector<float> dw = random32((size_t)V * C, rng, 1.f);
  const auto dw0 = dw;
  int bad = 0;
  run(fwd, make_uint3(M, 1, 1), 256, 0, ids.data(), (const T*)w.data(), out.data(), M, C, V, flag ? &bad : nullptr);
  run(bwd, make_uint3(M, 1, 1), 256, 0, ids.data(), (const T*)dout.data(), dw.data(), M, C, V);
  Check cf{0, 0}, cb{0x1p-23, 0x1p-22};
  bool any_bad = false;
  for (int m = 0; m < M; ++m) {
    const bool ok = ids[m] >= 0 && ids[m] < V;
    any_bad |= !ok;
    for (int c = 0; c < C; ++c) exact(cf, to_f32(out[(size_t)m * C + c]), ok ? we[(size_t)ids[m] * C + c] : 0.0, m, c);
  }
  if (flag) exact(cf, bad, any_bad ? 1 : 0, -1, -1);
  for (int v = 0; v < V; ++v) {
    bool used = false;
    for (int id : ids) used |= id == v;
    for (int c = 0; c < C; ++c) {
      const size_t i = (size_t)v * C + c;
      if (!used) {
        exact(cb, dw[i], dw0[i], v, c);
        continue;
      }
      double s = dw0[i], mag = std::fabs(dw0[i]);
      for (int m = 0; m < M; ++m)
        if (ids[m] == v) s += de[(size_t)m * C + c], mag += std::fabs(de[(size_t)m * C + c]);
      cb.at(dw[i], s, mag, v, c);
    }
  }
  const std::string label = std::string("embedding ") + dt<T>() + " M" + std::to_string(M) + " V" + std::to_string(V) +
                            " C" + std::to_string(C) + (any_bad ? " bad ids" : "");
  tally.report(label + " fwd" + (flag ? " +flag" : ""), cf);
  tally.report(label + " bwd", cb);
}

// ---- ia3.cu ---------------------------------------------------------------------------------------------

// The GEMM entries (sim/ia3_cases.h): grid (ceil(cols/64), ceil(rows/64)), block 128, no dynamic shared
// memory (plan::gemm_grid); ia3_out_bwd_dl: grid (ceil(N/32), 1), block (32, 8).
template <typename T, class InF, class InB, class OutF, class OutDx, class OutDl>
void ia3_linears(int M, int N, int K, bool with_bias, InF in_fwd, InB in_bwd, OutF out_fwd, OutDx out_dx,
                 OutDl out_dl) {
  Rng rng{(uint64_t)(N * 29 + K)};
  std::vector<double> we, de, ze;
  const auto w = random16<T>((size_t)N * K, rng, we);
  auto grid = [](int rows, int cols) { return make_uint3((cols + 63) / 64, (rows + 63) / 64, 1); };
  const T* wp = w.data();
  const std::string label = std::string(" ") + dt<T>() + " " + shape(M, N, K) + (with_bias ? " bias" : "");
  ia3_gemms<T>(
      tally, "ia3", label, M, N, K, with_bias, we,
      [&](const T* x, const T* b, const float* l, T* y) { run(in_fwd, grid(M, N), gemm::THREADS, 0, x, wp, b, l, y, M, N, K); },
      [&](const T* dy, const T* x, const float* l, T* dx, float* dl) {
        run(in_bwd, grid(M, K), gemm::THREADS, 0, dy, x, wp, l, dx, dl, M, N, K);
      },
      [&](const T* x, const T* b, const float* l, T* y, T* z) {
        run(out_fwd, grid(M, N), gemm::THREADS, 0, x, wp, b, l, y, z, M, N, K);
      },
      [&](const T* dy, const float* l, T* dx) { run(out_dx, grid(M, K), gemm::THREADS, 0, dy, wp, l, dx, M, N, K); });

  // dl[n] += Σ_m dY·z: fmaf per thread over ⌈M/8⌉ rows, 8 partials, one atomic.
  auto dy = random16<T>((size_t)M * N, rng, de), z = random16<T>((size_t)M * N, rng, ze);
  const auto dl0 = random32(N, rng, 1.f);
  auto dl = dl0;
  run2(out_dl, make_uint3((N + 31) / 32, 1, 1), make_uint3(32, 8, 1), (const T*)dy.data(), (const T*)z.data(),
       dl.data(), M, N);
  Check c{0x1p-23, 0x1p-18};
  for (int n = 0; n < N; ++n) {
    double s = dl0[n], mag = std::fabs(dl0[n]);
    for (int m = 0; m < M; ++m) {
      const double t = de[(size_t)m * N + n] * ze[(size_t)m * N + n];
      s += t, mag += std::fabs(t);
    }
    c.at(dl[n], s, mag, 0, n);
  }
  tally.report("ia3_out_bwd_dl" + label + " dl", c);
}

}  // namespace

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // Cross entropy: V = 1037 over 512 threads (2 or 3 per thread), V = 300 (idle threads); valid labels at
  // both ends of the row, −100, and labels outside [0, V).
  cross_entropy<float>(cross_entropy_fwd_bwd_f32, 6, 1037, {5, 1036, kIgnoreIndex, 0, 1037, 517}, Ce::Separate);
  cross_entropy<float>(cross_entropy_fwd_bwd_f32, 4, 300, {299, kIgnoreIndex, 7, 150}, Ce::ForwardOnly);
  cross_entropy<float>(cross_entropy_fwd_bwd_f32, 4, 1037, {2, -5, kIgnoreIndex, 1036}, Ce::InPlace);
  cross_entropy<bf16>(cross_entropy_fwd_bwd_bf16, 4, 1037, {0, 1036, kIgnoreIndex, 600}, Ce::Separate);

  // AdamW: the host's grid (ceil(largest / 1024) blocks) over aligned tensors with a ragged tail, a small
  // one and a misaligned one (scalar loop); then grid.x = 1, as the host's clamp at 1024 blocks does
  // for tensors over 2^20 elements, where the loop's second float4 per trip is live.
  adamw({{4099, 0}, {37, 0}, {1001, 1}}, 5);
  adamw({{4099, 0}}, 1);

  // Norms: C = 1000 and 200 over 256 threads; the host's one row block for f32, two for bf16 (the
  // kernel's split rows: atomics from several blocks).
  rmsnorm<float>(19, 1000, 1, rmsnorm_fwd_f32, rmsnorm_bwd_f32, norm_bwd_dw_f32);
  layernorm<float>(19, 1000, 1, layernorm_fwd_f32, layernorm_bwd_f32, norm_bwd_dw_f32);
  rmsnorm<bf16>(6, 200, 2, rmsnorm_fwd_bf16, rmsnorm_bwd_bf16, norm_bwd_dw_bf16);
  layernorm<bf16>(6, 200, 2, layernorm_fwd_bf16, layernorm_bwd_bf16, norm_bwd_dw_bf16);

  // RoPE: H·rot/2 = 160 pairs over 128 threads (rotate-half); CodeGen's partial rotary (rot 24 of 40)
  // with a positions array reaching 1000 rad, and in place (no pass-through copy).
  const std::vector<int> none, positions{0, 5, 3, 1000, 2, 77, 9, 400, 1};
  rope<float, false>(rope_half_fwd_f32, 2, 7, 5, 64, 64, 37, none, false, false);
  rope<float, false>(rope_half_bwd_f32, 2, 7, 5, 64, 64, 37, none, true, false);
  rope<float, true>(rope_interleaved_fwd_f32, 1, 9, 3, 40, 24, 0, positions, false, false);
  rope<float, true>(rope_interleaved_bwd_f32, 1, 9, 3, 40, 24, 11, none, true, true);
  rope<bf16, false>(rope_half_fwd_bf16, 2, 7, 5, 64, 64, 37, none, false, false);
  rope<bf16, false>(rope_half_bwd_bf16, 2, 7, 5, 64, 64, 37, none, true, true);
  rope<bf16, true>(rope_interleaved_fwd_bf16, 1, 9, 3, 40, 24, 0, positions, false, false);
  rope<bf16, true>(rope_interleaved_bwd_bf16, 1, 9, 3, 40, 24, 11, none, true, false);

  // Activations: n = 1000 (a ragged last block); grid 1 makes every thread loop.
  activations<float>(1000, 0, swiglu_fwd_f32, swiglu_bwd_f32, gelu_new_fwd_f32, gelu_new_bwd_f32);
  activations<float>(1000, 1, swiglu_fwd_f32, swiglu_bwd_f32, gelu_new_fwd_f32, gelu_new_bwd_f32);
  activations<bf16>(1000, 0, swiglu_fwd_bf16, swiglu_bwd_bf16, gelu_new_fwd_bf16, gelu_new_bwd_bf16);

  // Embedding: C = 300 over 256 threads; repeated ids; ids V and −1 (zeros, the flag, skipped in bwd).
  const std::vector<int> good{3, 49, 0, 3, 17, 3, 49}, with_bad{3, 49, 0, 3, 50, 17, -1, 3, 49};
  embedding<float>(embedding_fwd_f32, embedding_bwd_f32, 50, 300, good, false);
  embedding<float>(embedding_fwd_f32, embedding_bwd_f32, 50, 300, with_bad, true);
  embedding<bf16>(embedding_fwd_bf16, embedding_bwd_bf16, 50, 300, with_bad, true);

  // IA3: ragged 64-tiles in every dimension (M 70, N 80, K 37: the reductions have partial k-tiles).
  ia3_linears<float>(70, 80, 37, true, ia3_in_fwd_f32, ia3_in_bwd_f32, ia3_out_fwd_f32, ia3_out_bwd_dx_f32,
                     ia3_out_bwd_dl_f32);
  ia3_linears<bf16>(70, 80, 37, false, ia3_in_fwd_bf16, ia3_in_bwd_bf16, ia3_out_fwd_bf16, ia3_out_bwd_dx_bf16,
                    ia3_out_bwd_dl_bf16);
  return tally.finish();
}
