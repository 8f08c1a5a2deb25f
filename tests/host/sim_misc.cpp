// The small kernels' own source run on the CPU by the SIMT emulator (sim/simt.h):
//   attention_small.cu: causal attention at the tiny models' head dims 16 (lanes ≥ 16 idle) and 32, f32,
//     forward, Δ (attention.cuh's bwd_delta, the body of attention.cu's entry, at these head dims), dQ and
//     dK / dV, with a KV offset and GQA, against a double-precision reference;
//   sampling.cu: greedy (ties, NaN) and temperature + top-p with given uniforms, each draw placed
//     mid-interval of a token's share so the token wanted is exact (f32, f16, bf16);
//   elementwise.cu: add, add_assign, cat_seq, gather_cols, scatter_cols_add (f32, f16, bf16), scale_cols_f32,
//     round_f32_to_bf16, widen_bf16_to_f32, bit for bit, on the host's grid and a 3-block grid that loops.
// Launch geometry as the host's (ops/attention.rs with plan::attention_tiles, ops/sampling.rs and
// half/ops.rs: block 512 per row, launch::stride_cfg). Outputs start at a sentinel. Built and run by
// tests/kernel_sim.rs; argv[1] (optional): the first scheduler seed.
#include "sim/cases.h"

#include "attention_small.cu"
#include "elementwise.cu"
#include "sampling.cu"

namespace {

using namespace cases;
Tally tally;

// ---- attention_small.cu -----------------------------------------------------------------------------------

struct AttnShape {
  int B, T, S, H, Hkv;
};

// Grids as ops/attention.rs: fwd / dq (ceil(T/rows), H, B), dkv (ceil(S/rows), Hkv, B), Δ (ceil(B·T·H/4)),
// block 128, rows from attention.cuh's tile functions (plan::attention_tiles mirrors them).
// Allowances as sim_attention.cpp's f32 ones: per_term 2^-16 of the terms' sizes (f32 sums in tile
// order), 4× that for dQ / dK, whose dS = P⊙(dP − Δ) is a difference.
template <int D, class Fwd, class Dq, class Dkv>
void attention(const AttnShape& sh, Fwd fwd, Dq dq, Dkv dkv) {
  const int B = sh.B, T = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv, group = H / Hkv;
  const float scale = 1.f / std::sqrt((float)D);
  Rng rng{(uint64_t)(D * 977 + T * 5 + S)};
  const size_t nq = (size_t)B * T * H * D, nk = (size_t)B * S * Hkv * D, nr = (size_t)B * H * T;
  const auto q = random32(nq, rng, 1.f), k = random32(nk, rng, 1.f), v = random32(nk, rng, 1.f),
             dout = random32(nq, rng, 1.f);
  auto qi = [&](int b, int t, int h) { return (((size_t)b * T + t) * H + h) * D; };
  auto ki = [&](int b, int s, int h) { return (((size_t)b * S + s) * Hkv + h) * D; };
  auto ri = [&](int b, int h, int t) { return ((size_t)b * H + h) * T + t; };

  std::vector<double> o(nq), o_mag(nq), lse(nr), lse_mag(nr), delta(nr), gq(nq, 0), gq_mag(nq, 0), gk(nk, 0),
      gk_mag(nk, 0), gv(nk, 0), gv_mag(nk, 0);
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        const int hk = h / group, n = i + S - T + 1;  // keys 0..i + (S − T)
        std::vector<double> s(n), p(n);
        double mx = -HUGE_VAL, l = 0, dot_mag = 0;
        for (int j = 0; j < n; ++j) {
          double dot = 0, mag = 0;
          for (int d = 0; d < D; ++d) {
            dot += (double)q[qi(b, i, h) + d] * k[ki(b, j, hk) + d];
            mag += std::fabs((double)q[qi(b, i, h) + d] * k[ki(b, j, hk) + d]);
          }
          s[j] = scale * dot, mx = std::max(mx, s[j]), dot_mag = std::max(dot_mag, scale * mag);
        }
        for (int j = 0; j < n; ++j) l += std::exp(s[j] - mx);
        const size_t row = ri(b, h, i);
        lse[row] = mx + std::log(l), lse_mag[row] = 1 + dot_mag;
        for (int j = 0; j < n; ++j) p[j] = std::exp(s[j] - lse[row]);
        double dl = 0;
        for (int d = 0; d < D; ++d) {
          double acc = 0, mag = 0;
          for (int j = 0; j < n; ++j) acc += p[j] * v[ki(b, j, hk) + d], mag += std::fabs(p[j] * v[ki(b, j, hk) + d]);
          o[qi(b, i, h) + d] = acc, o_mag[qi(b, i, h) + d] = mag;
          dl += dout[qi(b, i, h) + d] * acc;
        }
        delta[row] = dl;
        for (int j = 0; j < n; ++j) {
          double dp = 0;
          for (int d = 0; d < D; ++d) dp += (double)dout[qi(b, i, h) + d] * v[ki(b, j, hk) + d];
          const double ds = p[j] * (dp - dl), ds_mag = p[j] * (std::fabs(dp) + std::fabs(dl));
          for (int d = 0; d < D; ++d) {
            const size_t a = qi(b, i, h) + d, c = ki(b, j, hk) + d;
            gq[a] += scale * ds * k[c], gq_mag[a] += scale * ds_mag * std::fabs(k[c]);
            gk[c] += scale * ds * q[a], gk_mag[c] += scale * ds_mag * std::fabs(q[a]);
            gv[c] += p[j] * dout[a], gv_mag[c] += std::fabs(p[j] * dout[a]);
          }
        }
      }

  const std::string label = "attention d" + std::to_string(D) + " f32 B" + std::to_string(B) + " T" + std::to_string(T) +
                            " S" + std::to_string(S) + " H" + std::to_string(H) + "/" + std::to_string(Hkv);
  auto grid = [](int n, int per_block, int y, int z) { return make_uint3((n + per_block - 1) / per_block, y, z); };
  std::vector<float> out(nq, NAN), lse_out(nr, NAN), delta_out(nr, NAN);
  run(fwd, grid(T, attn::fwd_bq<float, D>(), H, B), 128, 0, q.data(), k.data(), v.data(), out.data(), lse_out.data(), T,
      S, H, Hkv, scale);
  // lse: f32 dot products (2^-20 of the largest score's terms) and logf / the sum's rounding (2^-20 relative).
  Check co = check_for<float>(), cl{0x1p-20, 0x1p-20};
  for (size_t i = 0; i < nq; ++i) co.at(out[i], o[i], o_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < nr; ++i) cl.at(lse_out[i], lse[i], lse_mag[i], (int)i, 0);
  tally.report(label + " out", co);
  tally.report(label + " lse", cl);

  // Δ = rowsum(dO⊙O) over the kernel's own out: one warp a row, lanes past D idle.
  const float* outp = out.data();
  run([](const float* o_, const float* d_, float* dl, int b_, int t_, int h_, int d) { attn::bwd_delta<float>(o_, d_, dl, b_, t_, h_, d); },
      make_uint3((B * T * H + 3) / 4, 1, 1), 128, 0, outp, dout.data(), delta_out.data(), B, T, H, D);
  Check cd = check_for<float>();
  for (int b = 0; b < B; ++b)
    for (int h = 0; h < H; ++h)
      for (int i = 0; i < T; ++i) {
        double want = 0, mag = 0;
        for (int d = 0; d < D; ++d)
          want += (double)dout[qi(b, i, h) + d] * out[qi(b, i, h) + d],
              mag += std::fabs((double)dout[qi(b, i, h) + d] * out[qi(b, i, h) + d]);
        cd.at(delta_out[ri(b, h, i)], want, mag, i, h);
      }
  tally.report(label + " delta", cd);

  // The backward from the reference's lse and Δ, rounded to f32 (as sim_attention.cpp).
  const std::vector<float> lse32(lse.begin(), lse.end()), delta32(delta.begin(), delta.end());
  std::vector<float> dq_out(nq, NAN), dk_out(nk, NAN), dv_out(nk, NAN);
  run(dq, grid(T, attn::dq_bq<float, D>(), H, B), 128, 0, q.data(), k.data(), v.data(), dout.data(), lse32.data(),
      delta32.data(), dq_out.data(), T, S, H, Hkv, scale);
  run(dkv, grid(S, attn::dkv_bk<float, D>(), Hkv, B), 128, 0, q.data(), k.data(), v.data(), dout.data(), lse32.data(),
      delta32.data(), dk_out.data(), dv_out.data(), T, S, H, Hkv, scale);
  Check cq = check_for<float>(4 * 0x1p-16), ck = check_for<float>(4 * 0x1p-16), cv = check_for<float>();
  for (size_t i = 0; i < nq; ++i) cq.at(dq_out[i], gq[i], gq_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < nk; ++i) {
    ck.at(dk_out[i], gk[i], gk_mag[i], (int)(i / D), (int)(i % D));
    cv.at(dv_out[i], gv[i], gv_mag[i], (int)(i / D), (int)(i % D));
  }
  tally.report(label + " dQ", cq);
  tally.report(label + " dK", ck);
  tally.report(label + " dV", cv);
}

// ---- sampling.cu ------------------------------------------------------------------------------------------

// The token src/backend/cpu/sampling.rs's definition picks from a row of exact logits (NaN, −inf allowed):
// greedy: the first maximum (all NaN: 0); else p ∝ exp((x − max)/temperature); kept: the most probable
// tokens until their mass reaches top_p (at least one) and every token tied with the last kept one (all
// when top_p ≥ 1); then the first kept token in id order whose running mass exceeds u·mass(kept).
// `robust` is false when top_p or u·mass(kept) lies within 2^-13 of a boundary (of the mass, relative),
// or the last kept probability within 2^-10 of the next: where the kernel's f32 sums (errors ~2^-20)
// could decide otherwise; the cases are built to stay clear of that.
struct Draw {
  int token;
  bool robust;
  std::vector<int> kept;  // in id order
  std::vector<double> p;  // normalized probabilities
};
Draw reference_draw(const std::vector<double>& x, double temp, double top_p, double u) {
  const int V = (int)x.size();
  Draw r{0, true, {}, std::vector<double>(V, 0.0)};
  if (temp == 0) {
    double best = -HUGE_VAL;
    int at = -1;
    for (int v = 0; v < V; ++v)
      if (x[v] > best || (at < 0 && x[v] == best)) best = x[v], at = v;
    r.token = at < 0 ? 0 : at;
    return r;
  }
  double mx = -HUGE_VAL, total = 0;
  for (double l : x) mx = std::max(mx, l);
  for (int v = 0; v < V; ++v) total += r.p[v] = std::exp((x[v] - mx) / temp);
  if (!(total > 0) || std::isnan(total)) return r;  // no finite logits: token 0
  std::vector<int> order(V);
  for (int v = 0; v < V; ++v) order[v] = v, r.p[v] /= total;
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return r.p[a] > r.p[b]; });
  int kept = V;
  if (top_p < 1) {
    double mass = 0;
    kept = 0;
    while (kept < V && (kept == 0 || mass < top_p)) mass += r.p[order[kept++]];
    while (kept < V && r.p[order[kept]] == r.p[order[kept - 1]]) ++kept;
    // Every group end of the sorted masses clear of top_p; the boundary's next group clearly smaller.
    double cum = 0;
    for (int i = 0; i < V; ++i) {
      cum += r.p[order[i]];
      if ((i + 1 == V || r.p[order[i + 1]] != r.p[order[i]]) && std::fabs(cum - top_p) < 0x1p-13) r.robust = false;
    }
    if (kept < V && r.p[order[kept]] > r.p[order[kept - 1]] * (1 - 0x1p-10)) r.robust = false;
  }
  r.kept.assign(order.begin(), order.begin() + kept);
  std::sort(r.kept.begin(), r.kept.end());
  double z = 0;
  for (int v : r.kept) z += r.p[v];
  const double target = u * z;
  double acc = 0;
  r.token = r.kept.back();
  bool found = false;
  for (int v : r.kept) {
    acc += r.p[v];
    if (u > 0 && std::fabs(acc - target) < 0x1p-13 * z) r.robust = false;
    if (!found && target < acc) r.token = v, found = true;
  }
  return r;
}

// u placing the draw mid-way through the share of kept token number `rank` (id order) of a row.
double u_for(const Draw& d, int rank) {
  double z = 0, before = 0;
  for (size_t i = 0; i < d.kept.size(); ++i) {
    if ((int)i < rank) before += d.p[d.kept[i]];
    z += d.p[d.kept[i]];
  }
  return (before + 0.5 * d.p[d.kept[rank]]) / z;
}

// A random kept token whose share is large enough for a draw mid-way through it to stay clear of its
// ends (2^-12 of the kept mass either side).
int sizable_rank(const Draw& d, Rng& rng) {
  double z = 0;
  for (int v : d.kept) z += d.p[v];
  int rank = (int)(next_u32(rng) % d.kept.size());
  while (d.p[d.kept[rank]] < 0x1p-11 * z) rank = (rank + 1) % (int)d.kept.size();
  return rank;
}

// One launch over the rows (grid (S), block 512) with one uniform a row; every row's token is checked.
template <typename T, class K>
void sample(K kernel, const std::string& what, const std::vector<std::vector<double>>& rows, float temp, float top_p,
            const std::vector<float>& u) {
  const int S = (int)rows.size(), V = (int)rows[0].size();
  std::vector<T> logits((size_t)S * V);
  for (int s = 0; s < S; ++s)
    for (int v = 0; v < V; ++v) {
      logits[(size_t)s * V + v] = from_f32<T>((float)rows[s][v]);
      if (!(to_f32(logits[(size_t)s * V + v]) == (float)rows[s][v]) && !std::isnan(rows[s][v]))
        sim::fail("sampling case: a logit not exact in the dtype");
    }
  std::vector<int> out(S, -7);
  run(kernel, make_uint3(S, 1, 1), 512, 0, (const T*)logits.data(), temp, top_p, u.data(), out.data(), V);
  Check c{0, 0};
  for (int s = 0; s < S; ++s) {
    const Draw d = reference_draw(rows[s], temp, top_p, u[s]);
    if (!d.robust) sim::fail("sampling case: a draw or top_p too close to a boundary to be decided exactly");
    exact(c, out[s], d.token, s, 0);
  }
  tally.report("sampling_fwd " + std::string(dt<T>()) + " V" + std::to_string(V) + " " + what, c);
}

// Logits on a grid the dtype holds exactly (also after adding 96): f32 2^-10, f16 1/16, bf16 1/2 apart,
// in [−8, 8).
template <typename T> std::vector<double> grid_logits(int V, Rng& rng) {
  const double step = sizeof(T) == 4 ? 0x1p-10 : std::is_same<T, f16>::value ? 0.0625 : 0.5;
  std::vector<double> x(V);
  for (double& l : x) l = std::floor(8 * (double)rng.next() / step) * step;
  return x;
}
std::vector<double> permuted(std::vector<double> x, Rng& rng) {
  for (size_t i = x.size() - 1; i > 0; --i) std::swap(x[i], x[next_u32(rng) % (i + 1)]);
  return x;
}

template <typename T, class K>
void sampling(K kernel, int V, int nucleus_rows) {
  Rng rng{(uint64_t)(V * 3 + sizeof(T))};
  const double NaN = std::nan("");
  // Greedy: a unique maximum; the maximum thrice (5, 517 in one thread's stride when V > 517, V − 3) and
  // twice across threads (3, 700 % V): the lowest index wins; NaNs around a maximum (NaN never wins);
  // all NaN (token 0); −inf but one. Uniforms unused.
  {
    std::vector<std::vector<double>> rows(6, grid_logits<T>(V, rng));
    for (auto& r : rows) r = permuted(r, rng);
    rows[1][V - 3] = rows[1][5 + 512 < V ? 5 + 512 : V - 1] = rows[1][5] = 9;
    rows[2][700 % V] = rows[2][3] = 9;
    for (int v = 0; v < V; v += 3) rows[3][v] = NaN;
    rows[3][V / 2 + 1] = 9;
    std::fill(rows[4].begin(), rows[4].end(), NaN);
    std::fill(rows[5].begin(), rows[5].end(), -HUGE_VAL);
    rows[5][V - 2] = -7;
    sample<T>(kernel, "greedy", rows, 0.f, 0.9f, std::vector<float>(rows.size(), 0.5f));
  }
  // Nucleus (32 bisection steps for the threshold): permutations of one row (the same sorted masses, so
  // one top_p fits every row), one shifted by 96 (exp overflows f32 without the max); top_p mid-way
  // through a probability group past half the mass; the draws on the middle, a random and the last
  // kept token (id order).
  {
    const float temp = 0.7f;
    const auto base = grid_logits<T>(V, rng);
    Draw d = reference_draw(base, temp, 1.0, 0.5);
    std::vector<double> sorted = d.p;
    std::sort(sorted.rbegin(), sorted.rend());
    float top_p = 0;
    double cum = 0, group_start = 0;
    for (int i = 0; i < V && top_p == 0; ++i) {
      if (i == 0 || sorted[i] != sorted[i - 1]) group_start = cum;
      cum += sorted[i];
      const bool group_end = i + 1 == V || sorted[i + 1] != sorted[i];
      if (group_end && group_start > 0.5 && cum - group_start > 0x1p-10) top_p = (float)(0.5 * (group_start + cum));
    }
    if (top_p == 0) sim::fail("sampling case: no probability group to put top_p in");
    std::vector<std::vector<double>> rows;
    std::vector<float> u;
    for (int s = 0; s < nucleus_rows; ++s) {
      auto r = s == 0 ? base : permuted(base, rng);
      if (s == 1)
        for (double& l : r) l += 96;
      const Draw dr = reference_draw(r, temp, top_p, 0.5);
      const int n = (int)dr.kept.size();
      rows.push_back(r);
      u.push_back((float)u_for(dr, s == 0 ? n / 2 : s == 1 ? sizable_rank(dr, rng) : n - 1));
    }
    sample<T>(kernel, "nucleus t0.7 top_p " + std::to_string(top_p), rows, temp, top_p, u);
  }
  // top_p 1 keeps every token (no bisection): a quarter of the tokens −inf (p = 0, never drawn), the draw
  // at 0 (the first finite token), on the last token (made probable enough to take a draw near the top of
  // the mass) and on random ones; all NaN (token 0).
  {
    auto masked = grid_logits<T>(V, rng);
    for (int v = 0; v < V; v += 4) masked[v] = -HUGE_VAL;
    masked[V - 1] = 7.5;
    const Draw d = reference_draw(masked, 1.3f, 1.0, 0.5);
    std::vector<std::vector<double>> rows(8, masked);
    std::vector<float> u{0.f, (float)u_for(d, (int)d.kept.size() - 1)};
    while (u.size() < rows.size()) u.push_back((float)u_for(d, sizable_rank(d, rng)));
    rows.push_back(std::vector<double>(V, NaN));
    u.push_back(0.5f);
    sample<T>(kernel, "all kept t1.3 top_p 1", rows, 1.3f, 1.f, u);
  }
  // The top token alone reaches top_p (no bisection): a clear maximum; two tied maxima kept together,
  // the draw on each of them.
  {
    auto a = grid_logits<T>(V, rng);
    a[V / 3] = 12;
    auto b = permuted(a, rng);
    b[7] = b[V - 4] = 12;
    for (int v = 0; v < V; ++v)
      if (v != 7 && v != V - 4 && b[v] == 12) b[v] = 0;
    const Draw db = reference_draw(b, 1.0, 0.2, 0.5);
    if (db.kept.size() != 2) sim::fail("sampling case: the tied maxima are not the nucleus");
    sample<T>(kernel, "top token t1 top_p 0.2", {a, b, b}, 1.f, 0.2f, {0.9f, (float)u_for(db, 0), (float)u_for(db, 1)});
  }
}

// ---- elementwise.cu ---------------------------------------------------------------------------------------

// bf16 from f32, nearest even, written out here (not the CUDA header's), for a non-NaN x: its bits, and
// its value.
uint32_t bf16_rne_bits(float x) {
  const uint32_t u = sim::as_bits(x);
  return (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16;
}
double bf16_rne(float x) { return std::isnan(x) ? NAN : sim::bf16_bits(bf16_rne_bits(x)); }
// The dtype's rounding of an f32 value, the reference of the 16-bit stores.
template <typename T> double round16(float x) {
  if constexpr (std::is_same<T, bf16>::value) return bf16_rne(x);
  else return to_f32(from_f32<T>(x));
}

// launch::stride_cfg's grid, and a 3-block grid whose threads loop.
uint3 host_grid(long long n) { return make_uint3((unsigned)std::clamp((n + 255) / 256, 1ll, 65535ll), 1, 1); }
const uint3 SMALL_GRID = make_uint3(3, 1, 1);

template <typename T> std::vector<T> values(size_t n, Rng& rng, float scale = 1.f) {
  std::vector<double> unused;
  return random16<T>(n, rng, unused, scale);
}

// Every ELEMENTWISE_ENTRY of a dtype, each on both grids; every output compared bit for bit with the
// f32 operation rounded to T (elementwise.cu's definition).
template <typename T, class Add, class AddAssign, class Cat, class Gather, class Scatter>
void elementwise(Add add, AddAssign add_assign, Cat cat, Gather gather, Scatter scatter) {
  Rng rng{(uint64_t)(sizeof(T) * 17 + std::is_same<T, f16>::value)};
  const T sentinel = from_f32<T>(-777.f);
  const std::string ty = std::string(" ") + dt<T>();
  auto f = [](T v) { return (double)to_f32(v); };
  for (const bool small : {false, true}) {
    auto grid = [&](long long n) { return small ? SMALL_GRID : host_grid(n); };
    const std::string g = small ? " grid 3" : " host grid";
    const long long n = 1000;
    const auto a = values<T>(n, rng), b = values<T>(n, rng, 1e-2f);  // b small: the sums round
    std::vector<T> out(n + 4, sentinel), acc = a;
    acc.resize(n + 4, sentinel);
    run(add, grid(n), 256, 0, a.data(), b.data(), out.data(), n);
    run(add_assign, grid(n), 256, 0, acc.data(), b.data(), n);
    Check ca{0, 0}, cs{0, 0};
    for (long long i = 0; i < n + 4; ++i) {
      const double want = i < n ? round16<T>((float)f(a[i]) + (float)f(b[i])) : f(sentinel);
      exact(ca, f(out[i]), want, 0, (int)i);  // past n: untouched
      exact(cs, f(acc[i]), want, 0, (int)i);
    }
    tally.report("add" + ty + " n1000" + g, ca);
    tally.report("add_assign" + ty + " n1000" + g, cs);

    // cat_seq: [B, S1, R] then [B, S2, R] along the sequence.
    const long long B = 2, S1 = 5, S2 = 3, R = 36;
    const auto ca_ = values<T>(B * S1 * R, rng), cb_ = values<T>(B * S2 * R, rng);
    std::vector<T> cat_out(B * (S1 + S2) * R, sentinel);
    run(cat, grid(cat_out.size()), 256, 0, ca_.data(), cb_.data(), cat_out.data(), B,
        S1, S2, R);
    Check cc{0, 0};
    for (long long bb = 0; bb < B; ++bb)
      for (long long s = 0; s < S1 + S2; ++s)
        for (long long r = 0; r < R; ++r) {
          const T want = s < S1 ? ca_[(bb * S1 + s) * R + r] : cb_[(bb * S2 + s - S1) * R + r];
          exact(cc, f(cat_out[(bb * (S1 + S2) + s) * R + r]), f(want), (int)(bb * (S1 + S2) + s), (int)r);
        }
    tally.report("cat_seq" + ty + " B2 S5+3 R36" + g, cc);

    // gather_cols (an index repeated, as gather allows) and scatter_cols_add (distinct indices; the
    // columns not named keep their values).
    const long long M = 7, K = 50, J = 30;
    std::vector<int> idx(K);
    for (int i = 0; i < K; ++i) idx[i] = i;
    for (int i = K - 1; i > 0; --i) std::swap(idx[i], idx[next_u32(rng) % (i + 1)]);
    idx.resize(J);
    std::vector<int> gidx = idx;
    gidx[J - 1] = gidx[2];
    const auto x = values<T>(M * K, rng), dout = values<T>(M * J, rng);
    std::vector<T> gout(M * J, sentinel), dx = values<T>(M * K, rng);
    const auto dx0 = dx;
    run(gather, grid(M * J), 256, 0, x.data(), (const int*)gidx.data(), gout.data(), M,
        K, J);
    run(scatter, grid(M * J), 256, 0, dx.data(), dout.data(), (const int*)idx.data(),
        M, K, J);
    Check cg{0, 0}, cx{0, 0};
    for (long long m = 0; m < M; ++m) {
      for (long long j = 0; j < J; ++j) exact(cg, f(gout[m * J + j]), f(x[m * K + gidx[j]]), (int)m, (int)j);
      for (long long k = 0; k < K; ++k) {
        const auto at = std::find(idx.begin(), idx.end(), (int)k);
        const double want = at == idx.end() ? f(dx0[m * K + k])
                                            : round16<T>((float)f(dx0[m * K + k]) + (float)f(dout[m * J + (at - idx.begin())]));
        exact(cx, f(dx[m * K + k]), want, (int)m, (int)k);
      }
    }
    tally.report("gather_cols" + ty + " M7 K50 J30" + g, cg);
    tally.report("scatter_cols_add" + ty + " M7 K50 J30" + g, cx);
  }
}

// scale_cols_f32 (one f32 product, exact in double then rounded once), round_f32_to_bf16 (nearest even:
// ties both ways, overflow to inf, subnormals, NaN, ±0) and widen_bf16_to_f32 (exact), on both grids.
void conversions() {
  Rng rng{99};
  for (const bool small : {false, true}) {
    auto grid = [&](long long n) { return small ? SMALL_GRID : host_grid(n); };
    const std::string g = small ? " grid 3" : " host grid";
    const long long M = 9, N = 111;
    const auto x = random32(M * N, rng, 3.f), l = random32(N, rng, 2.f);
    std::vector<float> out(M * N + 3, NAN);
    run(scale_cols_f32, grid(M * N), 256, 0, x.data(), l.data(), out.data(), M, N);
    Check cs{0, 0};
    for (long long i = 0; i < M * N + 3; ++i)
      exact(cs, out[i], i < M * N ? (double)(float)((double)x[i] * l[i % N]) : NAN, (int)(i / N), (int)(i % N));
    tally.report("scale_cols_f32 M9 N111" + g, cs);

    std::vector<float> v = random32(1000, rng, 100.f);
    const float specials[] = {0.f,
                              -0.f,
                              1.f + 0x1p-8f,             // halfway, even below: rounds down
                              1.f + 3 * 0x1p-8f,         // halfway, odd below: rounds up
                              -(1.f + 3 * 0x1p-8f),      //
                              1.f + 0x1p-8f + 0x1p-20f,  // just past halfway: up
                              0x1.FEp127f,               // the largest bf16
                              0x1.FFp127f,               // halfway past it, odd below: inf
                              0x1.FFFFFEp127f,           // the largest f32: inf
                              HUGE_VALF,
                              -HUGE_VALF,
                              NAN,
                              1e-40f,  // f32 subnormals
                              -3e-39f,
                              0x1p-133f + 0x1p-141f};
    std::copy(std::begin(specials), std::end(specials), v.begin() + 100);
    const long long n = (long long)v.size();
    std::vector<bf16> h(n + 2, from_f32<bf16>(-777.f));
    std::vector<float> w(n + 2, NAN);
    run(round_f32_to_bf16, grid(n), 256, 0, (const float*)v.data(), h.data(), n);
    run(widen_bf16_to_f32, grid(n), 256, 0, (const bf16*)h.data(), w.data(), n);
    // Bit patterns (the sign of zero counts); a NaN input wants any NaN.
    auto bits16 = [](bf16 x) {
      uint16_t b;
      std::memcpy(&b, &x, 2);
      return (double)b;
    };
    Check cr{0, 0}, cw{0, 0};
    for (long long i = 0; i < n + 2; ++i) {
      const double got = bits16(h[i]);
      if (i < n && std::isnan(v[i])) exact(cr, std::isnan(to_f32(h[i])), 1, 0, (int)i);
      else exact(cr, got, i < n ? bf16_rne_bits(v[i]) : bits16(from_f32<bf16>(-777.f)), 0, (int)i);
      exact(cw, sim::as_bits(w[i]), i < n ? (double)((uint32_t)got << 16) : sim::as_bits(NAN), 0, (int)i);
    }
    tally.report("round_f32_to_bf16 n1000 (specials)" + g, cr);
    tally.report("widen_bf16_to_f32 n1000" + g, cw);
  }
}

}  // namespace

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // Attention: ragged query tiles (T 21 over 16-row tiles), a KV offset (S 40: two key tiles of 32, the
  // second ragged), GQA (two query heads a kv head), two batch entries at D 16.
  attention<16>({2, 21, 40, 2, 1}, attention_fwd_d16_f32, attention_bwd_dq_d16_f32, attention_bwd_dkv_d16_f32);
  attention<32>({1, 21, 40, 4, 2}, attention_fwd_d32_f32, attention_bwd_dq_d32_f32, attention_bwd_dkv_d32_f32);

  // Sampling: V 1000 over 512 threads (2 a thread; chunks of 2), V 300 (idle threads, chunks of 1).
  sampling<float>(sampling_fwd_f32, 1000, 3);
  sampling<f16>(sampling_fwd_f16, 300, 2);
  sampling<bf16>(sampling_fwd_bf16, 1000, 2);

  // Element-wise: n 1000 (a ragged last block) and the other shapes, on both grids.
  elementwise<float>(add_f32, add_assign_f32, cat_seq_f32, gather_cols_f32, scatter_cols_add_f32);
  elementwise<f16>(add_f16, add_assign_f16, cat_seq_f16, gather_cols_f16, scatter_cols_add_f16);
  elementwise<bf16>(add_bf16, add_assign_bf16, cat_seq_bf16, gather_cols_bf16, scatter_cols_add_bf16);
  conversions();
  return tally.finish();
}
