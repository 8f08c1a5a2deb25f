// On the CPU: what the warpgroup GEMM core's descriptors make wgmma read from the tiles its loaders
// write, per the PTX ISA, against a plain matrix product. Built and run by tests/wgmma_layout.rs.
//
// The kernel's side is its own code, called on the host: tc::RowkChunk and tc::BChunk (where each
// thread's 8-element chunks of a k-tile go), wg::a_desc / wg::b_desc (the 64-bit descriptors of each
// warpgroup's k16 step), wg::slab_row and tc::frag_row / frag_col (where an accumulator is stored).
// The hardware's side is the PTX ISA's, as transcribed in sim/wgmma_isa.h (descriptor bits, the
// canonical K-major / MN-major layouts with the 128-byte swizzle, the m64nNk16 accumulator layout).
// Negative controls (a misaligned tile base, the N-major descriptor's LBO and SBO swapped) must
// mismatch, so the check is shown to be able to fail.
#include "gemm_wgmma.cuh"
#include "sim/wgmma_isa.h"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

constexpr int KT = tc::STAGES;  // one k-tile per stage of the ring
constexpr int M = tc::BM, N = tc::BN, K = KT * tc::BK;

// Shared memory as the emulated tensor cores see it: one value per 16-bit element, by byte address.
struct Smem {
  uint32_t base;
  std::vector<float> value;
  std::vector<int> writes;
  explicit Smem(uint32_t base) : base(base), value(tc::PIPE_BYTES / 2), writes(tc::PIPE_BYTES / 2) {}
  int index(uint32_t addr) const {
    const long i = ((long)addr - (long)base) / 2;
    if (addr % 2 != 0 || i < 0 || i >= (long)value.size()) return -1;
    return (int)i;
  }
};

using isa::decode;
using isa::Desc;
using isa::k_major;
using isa::mn_major;

struct Fault {
  int count = 0;
  void say(const char* what, int a, int b) {
    if (count++ < 5) std::printf("  %s (%d, %d)\n", what, a, b);
  }
};

float small_int(uint32_t& s) {
  s = s * 1664525u + 1013904223u;
  return (float)((int)((s >> 24) % 9) - 4);
}

// One block tile (M × N over K) through the loaders, the descriptors and the emulated wgmmas.
// Returns the number of wrong outputs (0: the layouts agree).
template <bool B_KN>
int run_case(const char* name, uint32_t base, bool swap_b_strides) {
  uint32_t seed = B_KN ? 7u : 3u;
  std::vector<float> a((size_t)M * K), b((size_t)N * K);  // a [M][K]; b [N][K], or [K][N] when B_KN
  for (float& v : a) v = small_int(seed);
  for (float& v : b) v = small_int(seed);
  auto b_at = [&](int n, int k) { return B_KN ? b[(size_t)k * N + n] : b[(size_t)n * K + k]; };

  Smem smem(base);
  Fault fault;
  std::vector<double> d(2 * 64 * N, 0.0);  // per warpgroup: 64 rows × N
  for (int kt = 0; kt < KT; ++kt) {
    const int k0 = kt * tc::BK;
    const uint32_t sa = base + (kt % tc::STAGES) * 2 * tc::TILE * wg::ELEM, sb = sa + tc::TILE * wg::ELEM;
    auto put = [&](uint32_t addr, float v) {
      const int i = smem.index(addr);
      if (i < 0) return fault.say("write outside the ring at tile offset", (int)(addr - sa), 0);
      smem.value[i] = v;
      smem.writes[i] = kt + 1;
    };
    for (int tid = 0; tid < tc::THREADS; ++tid) {
      for (int i = 0; i < tc::RowkChunk::PER_THREAD; ++i) {
        const tc::RowkChunk ch(tid, i);
        for (int j = 0; j < 8; ++j) put(sa + (ch.dst + j) * wg::ELEM, a[(size_t)ch.row * K + k0 + ch.c * 8 + j]);
      }
      for (int i = 0; i < tc::B_CHUNKS; ++i) {
        const tc::BChunk<B_KN, true> ch(tid, i, N, K, 0, k0);
        if (ch.valid != 8) fault.say("partial B chunk at", ch.src_row, ch.src_col);
        for (int j = 0; j < 8; ++j) {
          const float v = B_KN ? b[(size_t)ch.src_row * N + ch.src_col + j] : b[(size_t)ch.src_row * K + ch.src_col + j];
          put(sb + (ch.dst + j) * wg::ELEM, v);
        }
      }
    }
    auto read = [&](uint32_t addr, uint32_t lo, int r, int c) {
      const int i = smem.index(addr);
      if (i < 0 || addr < lo || addr >= lo + tc::TILE * wg::ELEM || smem.writes[i] != kt + 1) {
        fault.say("wgmma reads an element this k-tile's loaders did not write, operand element", r, c);
        return 0.f;
      }
      return smem.value[i];
    };
    for (int wgi = 0; wgi < 2; ++wgi)
      for (int kk = 0; kk < tc::BK; kk += 16) {
        const Desc da = decode(wg::a_desc(sa, wgi, kk));
        Desc db = decode(wg::b_desc<B_KN>(sb, kk));
        if (swap_b_strides) std::swap(db.lbo, db.sbo);
        if (da.swizzle != 1 || db.swizzle != 1 || da.base_offset != 0 || db.base_offset != 0)
          fault.say("descriptor swizzle / base offset", (int)da.swizzle, (int)db.swizzle);
        for (int r = 0; r < 64; ++r)
          for (int n = 0; n < N; ++n) {
            double acc = 0;
            for (int k = 0; k < 16; ++k) {
              const float av = read(k_major(da, r, k), sa, r, k);
              const float bv = B_KN ? read(mn_major(db, n, k), sb, n, k) : read(k_major(db, n, k), sb, n, k);
              acc += (double)av * bv;
            }
            d[((size_t)wgi * 64 + r) * N + n] += acc;
          }
      }
  }

  // Accumulator registers per the wgmma D layout, then stored by the kernel's own mapping.
  std::vector<double> y((size_t)M * N, 0.0);
  std::vector<int> stores((size_t)M * N, 0);
  for (int tid = 0; tid < tc::THREADS; ++tid) {
    const int wgi = tid / 128, w = (tid % 128) / 32, lane = tid % 32;
    for (int q = 0; q < 2 * 32; ++q) {
      const int row = isa::acc_row(w, lane, q), col = isa::acc_col(lane, q);
      const double v = d[((size_t)wgi * 64 + row) * N + col];
      const int nt = q / 4, i = q % 4;  // acc[0][nt][i]
      const int m = wg::slab_row(tid / 32) + tc::frag_row(lane, 0, i), n = tc::frag_col(lane, nt, i);
      if (m < 0 || m >= M || n < 0 || n >= N) {
        fault.say("store outside the tile at", m, n);
        continue;
      }
      y[(size_t)m * N + n] = v;
      stores[(size_t)m * N + n]++;
    }
  }
  int wrong = 0;
  for (int m = 0; m < M; ++m)
    for (int n = 0; n < N; ++n) {
      double want = 0;
      for (int k = 0; k < K; ++k) want += (double)a[(size_t)m * K + k] * b_at(n, k);
      if (stores[(size_t)m * N + n] != 1 || y[(size_t)m * N + n] != want) {
        if (wrong < 3) std::printf("  y[%d][%d] = %g, want %g (stored %d times)\n", m, n, y[(size_t)m * N + n], want, stores[(size_t)m * N + n]);
        ++wrong;
      }
    }
  std::printf("%s: %d of %d outputs wrong, %d layout faults\n", name, wrong, M * N, fault.count);
  return wrong + fault.count;
}

}  // namespace

int main() {
  const uint32_t aligned = 1024;  // the kernel traps unless its dynamic shared memory is 1024-aligned
  int failures = 0;
  failures += run_case<false>("case y = x·Wᵀ (B K-major)", aligned, false) != 0;
  failures += run_case<true>("case dX = dY·W (B N-major, two 64-column halves)", aligned, false) != 0;
  // Each control must find wrong outputs. (A 512-aligned base moves the swizzle key of every row by
  // the same XOR, which for two K-major operands permutes k identically on both sides and leaves
  // the product unchanged; the N-major B breaks that symmetry.)
  failures += run_case<true>("control: tiles 512-aligned, B N-major", aligned / 2, false) == 0;
  failures += run_case<true>("control: N-major LBO and SBO swapped", aligned, true) == 0;
  std::printf(failures ? "FAIL: %d of 4 checks\n" : "ok: all 4 checks\n", failures);
  return failures ? 1 : 0;
}
