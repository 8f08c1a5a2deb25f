// The flash attention's own kernels run on the CPU by the SIMT emulator (sim/simt.h): the tensor-core
// ones (attention_tc.cuh; head dims 64, 128, 256; bf16 and f16) and the CUDA-core f32 ones the f32
// backend trains with (attention.cuh, with its Δ pass), causal with a KV offset (S > T) and GQA,
// against a double-precision reference of the same rounded inputs: out and lse from the forward,
// Δ = rowsum(dO⊙O) from the f32 out, dQ / dK / dV from the backward given the reference's lse and Δ.
// Built and run by tests/kernel_sim.rs; argv[1] (optional): the first scheduler seed.
#include "sim/attention_ref.h"

#include "attention.cu"
#include "attention_tc.cu"

namespace {

using namespace cases;
Tally tally;

// A kernel family's launch geometry: queries per fwd / dq block, keys per dkv block, block size and
// dynamic shared memory (plan::attention_tc_tiles, plan::attention_tiles).
struct Tiles {
  int fwd_q, dq_q, dkv_k, threads, fwd_smem, dq_smem, dkv_smem, fused_smem;
};
template <int D> Tiles tc_tiles() {
  return {attn_tc::BQ, attn_tc::BQ, attn_tc::dkv_bk<D>(), attn_tc::THREADS, attn_tc::smem_fwd<D>(),
          attn_tc::smem_dq<D>(), attn_tc::smem_dkv<D>(), attn_tc::smem_fused<D>()};
}
template <typename T, int D> Tiles cuda_core_tiles() {
  return {attn::fwd_bq<T, D>(), attn::dq_bq<T, D>(), attn::dkv_bk<T, D>(), 128, 0, 0, 0, 0};
}

// The tensor-core fused backward: dK, dV and f32 dQ sums from one kernel, then dQ's conversion.
template <class Kernel, class Convert> struct Fused {
  Kernel kernel;
  Convert convert;
};

template <typename T, int D, class Fwd, class Dq, class Dkv, class F = std::nullptr_t>
void attention(const char* name, const Shape& sh, const Tiles& tiles, Fwd fwd, Dq dq, Dkv dkv, F fused = nullptr) {
  const int B = sh.B, Tq = sh.T, S = sh.S, H = sh.H, Hkv = sh.Hkv;
  const float scale = 1.f / std::sqrt((float)D);
  const AttentionCase<T> c = attention_case<T, D>(sh, scale);
  const auto &q = c.q, &k = c.k, &v = c.v, &dout = c.dout;
  const auto &o = c.o, &o_mag = c.o_mag, &lse = c.lse, &delta = c.delta, &de = c.de;
  const auto &dq_ref = c.dq, &dq_mag = c.dq_mag, &dk_ref = c.dk, &dk_mag = c.dk_mag, &dv_ref = c.dv,
             &dv_mag = c.dv_mag;
  auto qi = [&](int b, int t, int h, int d) { return (((size_t)b * Tq + t) * H + h) * D + d; };
  const std::string label = attention_label(name, D, sh);
  // P and dS enter the second products rounded to T: one rounding of T per term (f32: the sums' order).
  const double per_term = sizeof(T) == 4 ? 0x1p-16 : ulp<T>();
  auto grid = [](int n, int per_block, int y, int z) { return make_uint3((n + per_block - 1) / per_block, y, z); };

  // Outputs start at NaN: the host allocates them uninitialized, so every element must be written.
  std::vector<T> out(q.size(), from_f32<T>(NAN));
  std::vector<float> lse_out(lse.size(), NAN);
  run(fwd, grid(Tq, tiles.fwd_q, H, B), tiles.threads, tiles.fwd_smem, (const T*)q.data(), (const T*)k.data(), (const T*)v.data(),
      out.data(), lse_out.data(), Tq, S, H, Hkv, scale);
  Check co = check_for<T>(per_term), cl{0x1p-20, 0.0};
  for (size_t i = 0; i < out.size(); ++i) co.at(to_f32(out[i]), o[i], o_mag[i], (int)(i / D), (int)(i % D));
  for (size_t i = 0; i < lse.size(); ++i) cl.at(lse_out[i], lse[i], 1.0, (int)i, 0);
  tally.report(label + " out", co);
  tally.report(label + " lse", cl);

  if constexpr (sizeof(T) == 4) {  // the Δ pass over the kernel's own out (attention.cu)
    std::vector<float> delta_out(delta.size(), NAN);
    run(attention_bwd_delta_f32, grid(B * Tq * H, 4, 1, 1), 128, 0, (const float*)out.data(), (const float*)dout.data(),
        delta_out.data(), B, Tq, H, D);
    Check cd = check_for<T>();
    for (int b = 0; b < B; ++b)
      for (int h = 0; h < H; ++h)
        for (int i = 0; i < Tq; ++i) {
          double want = 0, mag = 0;
          for (int d = 0; d < D; ++d) {
            want += de[qi(b, i, h, d)] * to_f32(out[qi(b, i, h, d)]);
            mag += std::fabs(de[qi(b, i, h, d)] * to_f32(out[qi(b, i, h, d)]));
          }
          cd.at(delta_out[((size_t)b * H + h) * Tq + i], want, mag, i, h);
        }
    tally.report(label + " delta", cd);
  }
  std::vector<float> lse32(lse.begin(), lse.end()), delta32(delta.begin(), delta.end());
  std::vector<T> dq_out(q.size(), from_f32<T>(NAN)), dk_out(k.size(), from_f32<T>(NAN)), dv_out(k.size(), from_f32<T>(NAN));
  run(dq, grid(Tq, tiles.dq_q, H, B), tiles.threads, tiles.dq_smem, (const T*)q.data(), (const T*)k.data(), (const T*)v.data(),
      (const T*)dout.data(), (const float*)lse32.data(), (const float*)delta32.data(), dq_out.data(), Tq, S, H, Hkv, scale);
  run(dkv, grid(S, tiles.dkv_k, Hkv, B), tiles.threads, tiles.dkv_smem, (const T*)q.data(), (const T*)k.data(), (const T*)v.data(), (const T*)dout.data(),
      (const float*)lse32.data(), (const float*)delta32.data(), dk_out.data(), dv_out.data(), Tq, S, H, Hkv, scale);
  // dS = P⊙(dP − Δ) is rounded to T from a difference: a few units of its own rounding per term.
  auto check_grads = [&](const std::string& what, const std::vector<T>& gq, const std::vector<T>& gk,
                         const std::vector<T>& gv) {
    Check cq = check_for<T>(4 * per_term), ck = check_for<T>(4 * per_term), cv = check_for<T>(per_term);
    for (size_t i = 0; i < q.size(); ++i) cq.at(to_f32(gq[i]), dq_ref[i], dq_mag[i], (int)(i / D), (int)(i % D));
    for (size_t i = 0; i < k.size(); ++i) {
      ck.at(to_f32(gk[i]), dk_ref[i], dk_mag[i], (int)(i / D), (int)(i % D));
      cv.at(to_f32(gv[i]), dv_ref[i], dv_mag[i], (int)(i / D), (int)(i % D));
    }
    tally.report(what + " dQ", cq);
    tally.report(what + " dK", ck);
    tally.report(what + " dV", cv);
  };
  check_grads(label, dq_out, dk_out, dv_out);

  if constexpr (!std::is_same<F, std::nullptr_t>::value) {
    // Same allowances: dS enters dQ rounded to T as in the split kernel; the atomics only reorder
    // f32 sums. dq_acc starts at zero as the host's memset leaves it; the convert kernel's grid
    // (3 blocks) is smaller than the data, so its grid-stride loop is exercised.
    std::vector<float> acc(q.size(), 0.f);
    std::vector<T> fq(q.size(), from_f32<T>(NAN)), fk(k.size(), from_f32<T>(NAN)), fv(k.size(), from_f32<T>(NAN));
    run(fused.kernel, grid(S, tiles.dkv_k, Hkv, B), tiles.threads, tiles.fused_smem, (const T*)q.data(),
        (const T*)k.data(), (const T*)v.data(), (const T*)dout.data(), (const float*)lse32.data(),
        (const float*)delta32.data(), fk.data(), fv.data(), acc.data(), Tq, S, H, Hkv, scale);
    run(fused.convert, make_uint3(3, 1, 1), 128, 0, (const float*)acc.data(), fq.data(), (long long)q.size(), scale);
    check_grads(label + " fused", fq, fk, fv);
  }
}

}  // namespace

int main(int argc, char** argv) {
  parse_seed(argc, argv);
  // Ragged query tiles (T not a multiple of 64), a KV offset (S > T, so early keys are seen by every
  // query), GQA (two query heads per kv head), two batch entries.
  const Shape gqa{2, 70, 90, 4, 2}, mha{1, 64, 64, 2, 2};
#define ATTN(T, NAME, D, P) P##fwd_d##D##_##NAME, P##bwd_dq_d##D##_##NAME, P##bwd_dkv_d##D##_##NAME
#define TC(NAME, D) ATTN(NAME, NAME, D, attention_tc_), Fused<decltype(&attention_tc_bwd_fused_d##D##_##NAME), \
  decltype(&attention_tc_dq_convert_##NAME)>{attention_tc_bwd_fused_d##D##_##NAME, attention_tc_dq_convert_##NAME}
  attention<bf16, 64>("tc bf16", gqa, tc_tiles<64>(), TC(bf16, 64));
  attention<f16, 64>("tc f16", mha, tc_tiles<64>(), TC(f16, 64));
  attention<bf16, 128>("tc bf16", gqa, tc_tiles<128>(), TC(bf16, 128));
  attention<f16, 128>("tc f16", gqa, tc_tiles<128>(), TC(f16, 128));
  attention<bf16, 256>("tc bf16", gqa, tc_tiles<256>(), TC(bf16, 256));
  attention<f16, 256>("tc f16", mha, tc_tiles<256>(), TC(f16, 256));
  attention<float, 64>("f32", gqa, cuda_core_tiles<float, 64>(), ATTN(float, f32, 64, attention_));
  attention<float, 128>("f32", mha, cuda_core_tiles<float, 128>(), ATTN(float, f32, 128, attention_));
  attention<float, 256>("f32", mha, cuda_core_tiles<float, 256>(), ATTN(float, f32, 256, attention_));
  return tally.finish();
}
