// A small SIMT emulator, so the CUDA kernels' own source runs on a CPU without a GPU (tests/kernel_sim.rs).
// Include it before a kernels/*.cu file and compile with a host C++ compiler (g++), SECTUNE_SIM defined.
//
// Model: a launch runs its blocks one after another; each thread of a block is a fiber (fiber.h) with
// its own stack, so registers are the fibers' locals and `static` stands in for __shared__. A fiber runs
// until it reaches a synchronisation point (__syncthreads, a warp collective, a warpgroup wait), and the
// scheduler then picks the next ready fiber (seeded): code that reads what another thread wrote without
// a barrier in between sees it in some orders and not in others, so races show up as wrong results
// across seeds. Per block, the pick is either uniform over ready fibers (the warps advance nearly in
// step) or warp-greedy (a random warp order; the first warp with a ready fiber runs, so one warp runs
// as far ahead as the barriers let it, which is what exposes a barrier missing between a read and the
// next refill).
// Warp collectives (ldmatrix, mma.sync, shuffles) wait for every live lane of the warp and are computed
// from all lanes' operands, per the PTX ISA's fragment layouts. A cp.async copy lands either at once or
// as late as the ISA allows, at the thread's cp.async.wait_group that covers it (chosen at random per
// copy, so both a read before the wait and a refill while other threads still read show up).
// wgmma.mma_async reads its shared operands at the wgmma.wait_group that retires it, and a hash of
// them taken at issue catches a stage overwritten while the wgmma is in flight. Dynamic shared memory
// starts as NaN bytes on every block, so a read of something no thread wrote shows.
// wmma fragments (layout unspecified by CUDA) hold the whole tile in every lane.
// What it cannot show: the GPU's memory model beyond barrier order, timing, bank conflicts, and a
// misreading of the ISA itself (its transcription is here and in wgmma_isa.h, for review).
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <vector_functions.h>
#include <vector_types.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "fiber.h"
#include "wgmma_isa.h"

namespace sim {

[[noreturn]] inline void fail(const char* what) {
  std::fprintf(stderr, "sim: %s\n", what);
  std::fflush(stdout);
  std::abort();
}

// ---- the block's threads as fibers --------------------------------------------------------------------

struct Copy {  // one pending cp.async
  unsigned char* dst;
  unsigned char bytes[16];
};
struct WgOp {  // one pending wgmma.mma_async
  float* d;
  uint64_t da, db;
  bool trans_a, trans_b, bf16;  // trans_a: A in shared memory is M-major (imm-trans-a)
  int n;                        // N of m64nNk16
  uint64_t operands;  // hash of what it would read from shared memory at issue
  // A in registers (the .m64nNk16 register fragment, mma.sync's A layout per warp): the thread's four
  // registers and what they held at issue; a_regs null when A comes from shared memory.
  const uint32_t* a_regs;
  uint32_t a_vals[4];
  bool accumulate;  // scale-d: D = A·B + D, or D = A·B
};

// Deliberate defects, for the negative controls of tests/kernel_sim.rs (environment SIM_FAULT):
//   skip-barrier:N  every thread's N-th __syncthreads of each block does nothing;
//   cp-wait-early   cp.async.wait_group n completes all but the newest n + 1 groups;
//   wg-wait-early   wgmma.wait_group n likewise;
//   mbar-wait-early every mbarrier try_wait succeeds at once (its copies never land).
struct Faults {
  int skip_barrier = 0;
  bool cp_wait_early = false, wg_wait_early = false, mbar_wait_early = false;
  static const Faults& get() {
    static const Faults f = [] {
      Faults f;
      if (const char* e = std::getenv("SIM_FAULT")) {
        if (std::sscanf(e, "skip-barrier:%d", &f.skip_barrier) == 1) return f;
        f.cp_wait_early = std::strcmp(e, "cp-wait-early") == 0;
        f.wg_wait_early = std::strcmp(e, "wg-wait-early") == 0;
        f.mbar_wait_early = std::strcmp(e, "mbar-wait-early") == 0;
        if (f.cp_wait_early || f.wg_wait_early || f.mbar_wait_early) return f;
        std::fprintf(stderr, "sim: unknown SIM_FAULT %s\n", e);
        std::exit(2);
      }
      return f;
    }();
    return f;
  }
};

// A thread's asynchronous operations of one kind, in the commit groups its *.commit_group closed.
template <class Op>
struct Groups {
  std::vector<std::vector<Op>> committed;  // oldest first
  std::vector<Op> open;
  void commit() {
    committed.push_back(std::move(open));
    open.clear();
  }
  // *.wait_group n: completes every committed group but the newest n, oldest first.
  template <class Complete>
  void wait(int n, Complete complete) {
    while ((int)committed.size() > n) {
      for (const Op& op : committed.front()) complete(op);
      committed.erase(committed.begin());
    }
  }
};

struct Thread {
  uint3 tid;
  int barriers = 0;
  int linear, warp, lane;
  fiber::Context ctx;
  std::unique_ptr<char[]> stack;
  // POLLING: a failed mbarrier try_wait (runs again once no other thread can); AT_NAMED: bar.sync id, n.
  enum State { READY, AT_BARRIER, IN_WARP_OP, POLLING, AT_NAMED, DONE } state = READY;
  int named_bar = -1;
  uint32_t polled = 0, polled_parity = 0;  // the mbarrier and parity of the last failed wait (0: a wgmma wait)
  long wg_commits = 0;                     // wgmma groups committed so far
  int regs = -1;                           // registers after setmaxnreg (-1: the launch count)
  Groups<Copy> cp;
  Groups<WgOp> wg;
};

// A warp collective's slots: every lane posts its operands, the last lane to arrive computes every
// lane's result (the op is the same for all lanes: .sync.aligned), each lane then takes its own.
struct Warp {
  int arrived = 0;
  const char* op = nullptr;
  uint32_t in[32][16];
  uint32_t out[32][4];
};

constexpr size_t STACK_BYTES = 256 << 10;
constexpr size_t DYN_SMEM_MAX = 232448;  // an H100's opt-in maximum per block
constexpr uint32_t SMEM_BASE = 1024;     // shared addresses of the arena start here (1024-aligned)

// An mbarrier (sm_90): arrivals still expected in the current phase, pending transaction bytes, the
// number of completed phases, and the TMA copies that complete bytes on it but have not landed yet.
struct TmaCopy {
  unsigned char* dst;
  std::vector<unsigned char> bytes;
};
struct MBar {
  int count = 0, pending = 0;
  long tx = 0;
  uint32_t phase = 0;
  std::vector<TmaCopy> copies;
};
struct Named {  // bar.sync id, n
  int arrived = 0, count = 0;
};

struct State {
  std::vector<Thread> threads;
  std::unordered_map<uint32_t, MBar> mbars;  // the initialized ones, by shared address
  Named named[16];
  long progress = 0;          // bumped by every mbarrier arrival, landed copy and completed phase
  long reg_pool = 0;          // registers (per thread of a warp) setmaxnreg.dec gave back, not yet taken
  std::vector<Warp> warps;
  Thread* cur = nullptr;
  fiber::Context main_ctx;
  std::function<void()> body;
  int bar_arrived = 0;
  size_t dyn_bytes = 0;
  std::mt19937_64 rng{1};
  uint3 block_idx, block_dim, grid_dim;
  long switches = 0;
};
inline State& st() {
  static State s;
  return s;
}
alignas(1024) inline unsigned char arena[DYN_SMEM_MAX];

inline Thread& current() {
  if (!st().cur) fail("a kernel builtin was used outside a launch");
  return *st().cur;
}
inline unsigned char* dynamic_smem() { return arena; }

inline void park(Thread::State why) {
  Thread& t = current();
  t.state = why;
  ++st().switches;
  fiber::switch_to(t.ctx, st().main_ctx);
}

inline int live_in_block() {
  int n = 0;
  for (auto& t : st().threads) n += t.state != Thread::DONE;
  return n;
}
inline int live_in_warp(int w) {
  int n = 0;
  const int first = 32 * w, last = std::min<int>(first + 32, (int)st().threads.size());
  for (int i = first; i < last; ++i) n += st().threads[i].state != Thread::DONE;
  return n;
}

// Opens the barrier once every live thread is at it (exited threads do not hold it up).
inline bool release_barrier_if_complete() {
  State& s = st();
  if (s.bar_arrived == 0 || s.bar_arrived != live_in_block()) return false;
  s.bar_arrived = 0;
  for (auto& t : s.threads)
    if (t.state == Thread::AT_BARRIER) t.state = Thread::READY;
  return true;
}

inline void syncthreads() {
  if (++current().barriers == Faults::get().skip_barrier) return;
  ++st().bar_arrived;
  // The last thread to arrive yields too, so the order after a barrier is the scheduler's as well.
  park(Thread::AT_BARRIER);
}

// Runs `compute(warp)` once every live lane of the calling thread's warp has posted its operands in
// warp.in[lane]; returns the warp for the lane to read warp.out[lane].
template <class F>
inline Warp& collective(const char* op, F compute) {
  State& s = st();
  Thread& t = current();
  Warp& w = s.warps[t.warp];
  if (w.arrived == 0) w.op = op;
  if (w.op != op) fail("lanes of one warp reached different warp collectives (.sync.aligned needs all)");
  if (live_in_warp(t.warp) != 32) fail("a warp collective with exited lanes");
  if (++w.arrived == 32) {
    compute(w);
    w.arrived = 0;
    w.op = nullptr;
    for (int i = 32 * t.warp; i < 32 * t.warp + 32; ++i)
      if (s.threads[i].state == Thread::IN_WARP_OP) s.threads[i].state = Thread::READY;
    park(Thread::READY);
  } else {
    park(Thread::IN_WARP_OP);
  }
  return w;
}

// Lets the threads parked in a failed mbarrier wait poll again, once nothing else can run; fails when
// a whole round of polls changed nothing since the last wake (no thread can complete their phases).
inline bool wake_pollers(long& progress_at_wake) {
  State& s = st();
  bool any = false;
  for (auto& t : s.threads) any |= t.state == Thread::POLLING;
  if (!any) return false;
  if (s.progress == progress_at_wake) {
    for (auto& t : s.threads)
      if (t.state == Thread::POLLING && t.polled == 1) {
        std::fprintf(stderr, "sim: thread %d waits in setmaxnreg.inc for registers no warp gives back\n", t.linear);
      } else if (t.state == Thread::POLLING && t.polled == 0) {
        std::fprintf(stderr, "sim: thread %d waits for its warpgroup to commit a wgmma group\n", t.linear);
      } else if (t.state == Thread::POLLING) {
        const MBar& b = s.mbars[t.polled];
        std::fprintf(stderr, "sim: thread %d waits for parity %u of the mbarrier at %u (phase %u, %d arrivals and %ld bytes due)\n",
                     t.linear, t.polled_parity, t.polled, b.phase, b.pending, b.tx);
      }
    fail("deadlock: mbarrier waits that no arrival or copy can complete");
  }
  progress_at_wake = s.progress;
  for (auto& t : s.threads)
    if (t.state == Thread::POLLING) t.state = Thread::READY;
  return true;
}

// bar.sync id, count: the calling thread waits until `count` threads have arrived at barrier id.
inline void bar_sync(int id, int count) {
  State& s = st();
  if (id < 1 || id >= 16 || count % 32 || count < 32) fail("bar.sync with a bad id or thread count");
  Named& b = s.named[id];
  if (b.arrived == 0) b.count = count;
  if (b.count != count) fail("bar.sync: threads disagree on a named barrier's count");
  current().named_bar = id;
  if (++b.arrived == count) {
    b.arrived = 0;
    for (auto& t : s.threads)
      if (t.state == Thread::AT_NAMED && t.named_bar == id) t.state = Thread::READY;
    park(Thread::READY);
  } else {
    park(Thread::AT_NAMED);
  }
}

inline void entry() {
  State& s = st();
  s.body();
  s.cur->state = Thread::DONE;
}

struct Launch {
  uint3 grid, block;
  size_t dyn_bytes;
  uint64_t seed;
};

// Runs `body` as the kernel of `l`, every block, every thread.
inline void launch(const Launch& l, std::function<void()> body) {
  State& s = st();
  if (l.dyn_bytes > DYN_SMEM_MAX) fail("dynamic shared memory over the 227 KB an H100 allows");
  const int n = l.block.x * l.block.y * l.block.z;
  if (n < 1 || n > 1024) fail("block size out of range");
  s.body = std::move(body);
  s.dyn_bytes = l.dyn_bytes;
  s.grid_dim = l.grid;
  s.block_dim = l.block;
  s.rng.seed(l.seed);
  for (unsigned bz = 0; bz < l.grid.z; ++bz)
    for (unsigned by = 0; by < l.grid.y; ++by)
      for (unsigned bx = 0; bx < l.grid.x; ++bx) {
        s.block_idx = make_uint3(bx, by, bz);
        std::memset(arena, 0xFF, sizeof arena);  // NaN in every float type
        s.threads.clear();
        s.threads.resize(n);
        s.warps.assign((n + 31) / 32, Warp{});
        s.bar_arrived = 0;
        s.mbars.clear();
        s.reg_pool = 0;
        for (auto& b : s.named) b = Named{};
        long progress_at_wake = -1;
        for (int i = 0; i < n; ++i) {
          Thread& t = s.threads[i];
          t.linear = i;
          t.warp = i / 32;
          t.lane = i % 32;
          t.tid = make_uint3(i % l.block.x, (i / l.block.x) % l.block.y, i / (l.block.x * l.block.y));
          t.stack.reset(new char[STACK_BYTES]);
          fiber::start(t.ctx, t.stack.get(), STACK_BYTES, entry, s.main_ctx);
        }
        std::vector<int> ready, warp_rank(s.warps.size());
        for (size_t w = 0; w < warp_rank.size(); ++w) warp_rank[w] = (int)w;
        std::shuffle(warp_rank.begin(), warp_rank.end(), s.rng);
        const bool warp_greedy = s.rng() & 1;
        for (;;) {
          ready.clear();
          bool all_done = true;
          int best = (int)warp_rank.size();
          for (int i = 0; i < n; ++i) {
            all_done &= s.threads[i].state == Thread::DONE;
            if (s.threads[i].state != Thread::READY) continue;
            const int rank = warp_rank[s.threads[i].warp];
            if (warp_greedy && rank > best) continue;
            if (warp_greedy && rank < best) ready.clear(), best = rank;
            ready.push_back(i);
          }
          if (all_done) break;
          if (ready.empty() && release_barrier_if_complete()) continue;
          if (ready.empty() && wake_pollers(progress_at_wake)) continue;
          if (ready.empty()) fail("deadlock: threads wait at a barrier or warp collective others never reach");
          s.cur = &s.threads[ready[s.rng() % ready.size()]];
          fiber::switch_to(s.main_ctx, s.cur->ctx);
        }
        s.cur = nullptr;
      }
}

// ---- shared memory addresses --------------------------------------------------------------------------

inline uint32_t smem_addr(const void* p) {
  const auto* b = static_cast<const unsigned char*>(p);
  if (b < arena || b > arena + st().dyn_bytes) fail("a shared address outside the launch's dynamic shared memory");
  return SMEM_BASE + (uint32_t)(b - arena);
}
inline unsigned char* smem_ptr(uint32_t addr, size_t bytes) {
  if (addr < SMEM_BASE || addr + bytes > SMEM_BASE + st().dyn_bytes)
    fail("an access outside the launch's dynamic shared memory");
  return arena + (addr - SMEM_BASE);
}

// ---- cp.async -------------------------------------------------------------------------------------------

// cp.async.cg.shared.global [dst], [src], 16, src_bytes: src_bytes of src, the rest zero. The source is
// read now (inputs do not change during a kernel), the destination written when the copy completes.
inline void cp_async(uint32_t dst, const void* src, int src_bytes) {
  Copy c;
  c.dst = smem_ptr(dst, 16);
  if (dst % 16) fail("cp.async of 16 bytes to an address not 16-byte aligned");
  if (src_bytes > 0 && (uintptr_t)src % 16) fail("cp.async of 16 bytes from a global address not 16-byte aligned");
  std::memset(c.bytes, 0, 16);
  if (src_bytes > 0) std::memcpy(c.bytes, src, src_bytes);
  // Half the copies land at once, half at the wait that covers them: the first catch a buffer refilled
  // while others still read it, the second a read before the wait.
  if (st().rng() & 1) std::memcpy(c.dst, c.bytes, 16);
  else current().cp.open.push_back(c);
}
inline void cp_async_commit() { current().cp.commit(); }
inline void cp_async_wait(int n) {
  current().cp.wait(n + Faults::get().cp_wait_early, [](const Copy& c) { std::memcpy(c.dst, c.bytes, 16); });
}

// ---- 16-bit and tf32 values -----------------------------------------------------------------------------

inline float bf16_bits(uint32_t h) {
  const uint32_t u = h << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline float f16_bits(uint32_t h) {
  __half_raw r;
  r.x = (unsigned short)h;
  return __half2float(__half(r));
}
inline float elem(uint32_t h, bool bf16) { return bf16 ? bf16_bits(h & 0xFFFF) : f16_bits(h & 0xFFFF); }
inline float lo(uint32_t v, bool bf16) { return elem(v & 0xFFFF, bf16); }
inline float hi(uint32_t v, bool bf16) { return elem(v >> 16, bf16); }
inline float as_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
inline uint32_t as_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
// cvt.rna.tf32.f32: to 10 mantissa bits, ties away from zero.
inline uint32_t cvt_rna_tf32(float x) {
  const uint32_t u = as_bits(x);
  if (std::isnan(x) || std::isinf(x)) return u;
  return (u + 0x1000u) & ~0x1FFFu;
}

// ---- warp collectives -----------------------------------------------------------------------------------

// ldmatrix.sync.aligned.m8n8.x4[.trans].shared.b16: lane l gives the row address of row l % 8 of
// matrix l / 8; register i of lane l holds matrix i's row l / 4, elements 2(l % 4) and 2(l % 4) + 1
// (with .trans: the transposed matrix, i.e. column l / 4, rows 2(l % 4) and 2(l % 4) + 1).
inline void ldmatrix_x4(uint32_t r[4], uint32_t addr, bool trans) {
  Thread& t = current();
  if (addr % 16) fail("ldmatrix row address not 16-byte aligned");
  Warp& w = st().warps[t.warp];
  w.in[t.lane][0] = addr;
  collective(trans ? "ldmatrix.trans" : "ldmatrix", [trans](Warp& w) {
    auto at = [&](int m, int row, int col) {  // 16-bit element (row, col) of matrix m
      uint16_t v;
      std::memcpy(&v, smem_ptr(w.in[8 * m + row][0], 16) + 2 * col, 2);
      return (uint32_t)v;
    };
    for (int l = 0; l < 32; ++l)
      for (int m = 0; m < 4; ++m) {
        const int a = l / 4, b = 2 * (l % 4);
        w.out[l][m] = trans ? at(m, b, a) | at(m, b + 1, a) << 16 : at(m, a, b) | at(m, a, b + 1) << 16;
      }
  });
  for (int i = 0; i < 4; ++i) r[i] = w.out[t.lane][i];
}

// The mma.sync.aligned.m16n8kK family: every lane posts C, A and B; `unpack(g, t, operands, A, B)`
// places one lane's A and B elements (g = lane / 4, t = lane % 4); then each lane's C fragment,
// c0 c1 (g, 2t, 2t+1), c2 c3 (g+8, 2t, 2t+1), gets A·B added. The products are exact in double and the
// sum is rounded to f32 once (the hardware's internal order differs; the kernels' tolerances cover it).
template <int K, class Unpack>
inline void mma_sync(const char* op, float c[4], const uint32_t a[4], const uint32_t b[2], Unpack unpack) {
  Thread& t = current();
  Warp& w = st().warps[t.warp];
  for (int i = 0; i < 4; ++i) w.in[t.lane][i] = as_bits(c[i]), w.in[t.lane][4 + i] = a[i];
  w.in[t.lane][8] = b[0];
  w.in[t.lane][9] = b[1];
  collective(op, [&unpack](Warp& w) {
    float A[16][K], B[K][8];
    for (int l = 0; l < 32; ++l) unpack(l / 4, l % 4, w.in[l], A, B);
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i) {
        const int row = l / 4 + 8 * (i / 2), col = 2 * (l % 4) + i % 2;
        double s = as_float(w.in[l][i]);
        for (int k = 0; k < K; ++k) s += (double)A[row][k] * B[k][col];
        w.out[l][i] = as_bits((float)s);
      }
  });
  for (int i = 0; i < 4; ++i) c[i] = as_float(w.out[t.lane][i]);
}

// m16n8k16 .row.col with bf16 / f16 inputs: A a0 (g, 2t..2t+1), a1 (g+8, 2t..), a2 (g, 2t+8..),
// a3 (g+8, 2t+8..); B b0 (k 2t.., n g), b1 (k 2t+8.., n g); the lower index in the low half.
inline void mma_m16n8k16(float c[4], const uint32_t a[4], const uint32_t b[2], bool bf16) {
  mma_sync<16>(bf16 ? "mma.bf16" : "mma.f16", c, a, b,
               [bf16](int g, int t, const uint32_t* in, float (&A)[16][16], float (&B)[16][8]) {
                 const int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {2 * t, 2 * t, 2 * t + 8, 2 * t + 8};
                 for (int i = 0; i < 4; ++i) {
                   A[rows[i]][cols[i]] = lo(in[4 + i], bf16);
                   A[rows[i]][cols[i] + 1] = hi(in[4 + i], bf16);
                 }
                 for (int i = 0; i < 2; ++i) {
                   B[2 * t + 8 * i][g] = lo(in[8 + i], bf16);
                   B[2 * t + 8 * i + 1][g] = hi(in[8 + i], bf16);
                 }
               });
}

// m16n8k8 .row.col .tf32: A a0 (g, t), a1 (g+8, t), a2 (g, t+4), a3 (g+8, t+4); B b0 (k t, n g),
// b1 (k t+4, n g); the low 13 bits of each operand are ignored.
inline void mma_m16n8k8_tf32(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  mma_sync<8>("mma.tf32", c, a, b, [](int g, int t, const uint32_t* in, float (&A)[16][8], float (&B)[8][8]) {
    auto tf = [](uint32_t u) { return as_float(u & ~0x1FFFu); };
    A[g][t] = tf(in[4]);
    A[g + 8][t] = tf(in[5]);
    A[g][t + 4] = tf(in[6]);
    A[g + 8][t + 4] = tf(in[7]);
    B[t][g] = tf(in[8]);
    B[t + 4][g] = tf(in[9]);
  });
}

// __shfl_sync / __shfl_xor_sync on 32-bit values (full mask: the kernels use no other).
inline uint32_t shfl_bits(uint32_t v, int src_lane, bool xor_mode, unsigned mask) {
  if (mask != 0xffffffffu) fail("shuffle with a partial mask");
  Thread& t = current();
  Warp& w = st().warps[t.warp];
  w.in[t.lane][0] = v;
  w.in[t.lane][1] = (uint32_t)(xor_mode ? (t.lane ^ src_lane) : src_lane);
  collective("shfl", [](Warp& w) {
    for (int l = 0; l < 32; ++l) w.out[l][0] = w.in[w.in[l][1] & 31][0];
  });
  return w.out[t.lane][0];
}

// ---- wgmma (sm_90a) ---------------------------------------------------------------------------------------

// Element (row, k) of the A operand (from shared memory) and (n, k) of the B operand of one m64nNk16 step.
inline float wg_a(const WgOp& op, int row, int k) {
  const isa::Desc d = isa::decode(op.da);
  uint16_t v;
  std::memcpy(&v, smem_ptr(op.trans_a ? isa::mn_major(d, row, k) : isa::k_major(d, row, k), 2), 2);
  return elem(v, op.bf16);
}
inline float wg_b(const WgOp& op, int n, int k) {
  const isa::Desc d = isa::decode(op.db);
  uint16_t v;
  std::memcpy(&v, smem_ptr(op.trans_b ? isa::mn_major(d, n, k) : isa::k_major(d, n, k), 2), 2);
  return elem(v, op.bf16);
}
inline uint64_t wg_hash(const WgOp& op) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](float f) { h = (h ^ as_bits(f)) * 1099511628211ull; };
  if (!op.a_regs)
    for (int r = 0; r < 64; ++r)
      for (int k = 0; k < 16; ++k) mix(wg_a(op, r, k));
  for (int n = 0; n < op.n; ++n)
    for (int k = 0; k < 16; ++k) mix(wg_b(op, n, k));
  return h;
}

inline void wgmma_queue(WgOp op) {
  if (op.n != 32 && op.n != 64 && op.n != 128 && op.n != 256) fail("wgmma N other than 32 / 64 / 128 / 256");
  const isa::Desc a = isa::decode(op.da), b = isa::decode(op.db);
  if ((!op.a_regs && (a.swizzle != 1 || a.base_offset)) || b.swizzle != 1 || b.base_offset)
    fail("wgmma descriptor without the 128-byte swizzle / with a base offset (the emulator knows no other)");
  // One lane per warpgroup hashes the shared operands (the same for all 128).
  if (current().linear % 128 == 0) op.operands = wg_hash(op);
  current().wg.open.push_back(op);
}
// wgmma.mma_async m64nNk16 with A and B in shared memory: queued until its wait_group.
inline void wgmma_issue(float* d, uint64_t da, uint64_t db, bool trans_b, bool bf16, int n = 128,
                        bool accumulate = true, bool trans_a = false) {
  wgmma_queue(WgOp{d, da, db, trans_a, trans_b, bf16, n, 0, nullptr, {}, accumulate});
}
// The same with A from this thread's four registers `a` (which must hold their values until the
// wait_group that retires it, as on the GPU).
inline void wgmma_issue_rs(float* d, const uint32_t* a, uint64_t db, bool trans_b, bool bf16, int n) {
  WgOp op{d, 0, db, false, trans_b, bf16, n, 0, a, {a[0], a[1], a[2], a[3]}, true};
  wgmma_queue(op);
}
inline void wgmma_commit() {
  current().wg.commit();
  ++current().wg_commits;
  ++st().progress;
}
// Retires every committed group but the newest n. A warpgroup's wgmmas are collective: a group runs
// once all 128 threads issued it (a thread waits here until the slower warps of its warpgroup have
// committed it) and completes for all of them at once (the wait computes every thread's accumulators
// of the groups it retires, from shared memory and A's registers as they are now).
inline void wgmma_wait(int n) {
  Thread& t = current();
  const long target = t.wg_commits - n - Faults::get().wg_wait_early;
  const int first = t.linear / 128 * 128, last = std::min<int>(first + 128, (int)st().threads.size());
  for (;;) {
    bool issued = true;
    for (int i = first; i < last; ++i) issued &= st().threads[i].wg_commits >= target;
    if (issued) break;
    t.polled = 0;
    park(Thread::POLLING);
  }
  Thread& lead = st().threads[first];
  while (lead.wg_commits - (long)lead.wg.committed.size() < target) {  // the oldest group is everyone's
    const size_t ops = lead.wg.committed.front().size();
    for (int i = first; i < last; ++i)
      if (st().threads[i].wg.committed.front().size() != ops) fail("a warpgroup's threads issued different wgmmas");
    for (size_t o = 0; o < ops; ++o) {
      const WgOp& op0 = lead.wg.committed.front()[o];
      if (wg_hash(op0) != op0.operands) fail("shared memory under an in-flight wgmma changed before its wait_group");
      float a_rs[64][16];
      if (op0.a_regs)
        for (int i = first; i < last; ++i) {
          const Thread& u = st().threads[i];
          const WgOp& op = u.wg.committed.front()[o];
          if (std::memcmp(op.a_regs, op.a_vals, sizeof op.a_vals))
            fail("registers of an in-flight wgmma's A changed before its wait_group");
          const int row = 16 * ((u.linear % 128) / 32) + u.lane / 4, col = 2 * (u.lane % 4);
          for (int r = 0; r < 4; ++r) {  // a0: (g, 2t..), a1: (g+8, 2t..), a2: (g, 2t+8..), a3: (g+8, 2t+8..)
            const int rr = row + 8 * (r & 1), cc = col + 8 * (r >> 1);
            a_rs[rr][cc] = lo(op.a_vals[r], op.bf16);
            a_rs[rr][cc + 1] = hi(op.a_vals[r], op.bf16);
          }
        }
      for (int i = first; i < last; ++i) {
        const Thread& u = st().threads[i];
        const WgOp& op = u.wg.committed.front()[o];
        const int w = (u.linear % 128) / 32, l = u.lane;
        for (int q = 0; q < op.n / 2; ++q) {
          const int row = isa::acc_row(w, l, q), col = isa::acc_col(l, q);
          double s = op.accumulate ? op.d[q] : 0.0;
          for (int k = 0; k < 16; ++k) s += (double)(op.a_regs ? a_rs[row][k] : wg_a(op, row, k)) * wg_b(op, col, k);
          op.d[q] = (float)s;
        }
      }
    }
    for (int i = first; i < last; ++i) st().threads[i].wg.committed.erase(st().threads[i].wg.committed.begin());
  }
}

// ---- setmaxnreg (sm_90a) ---------------------------------------------------------------------------------

// setmaxnreg.{inc,dec}.sync.aligned.u32 n: the block's pool starts empty (every register is some
// thread's at launch, `launch_regs` each); .dec gives the difference back, .inc waits until the
// pool holds what it asks for. Kept per thread, which is the per-warp account divided by 32.
inline void setmaxnreg(int n, int launch_regs, bool inc) {
  Thread& t = current();
  if (t.regs < 0) t.regs = launch_regs;
  if (n % 8 || n < 24 || n > 256) fail("setmaxnreg: a count outside 24..256 or not a multiple of 8");
  if (inc ? n < t.regs : n > t.regs) fail("setmaxnreg: .inc below / .dec above the current count");
  if (!inc) {
    st().reg_pool += t.regs - n;
    t.regs = n;
    ++st().progress;
    return;
  }
  while (st().reg_pool < n - t.regs) {
    t.polled = 1;
    park(Thread::POLLING);
  }
  st().reg_pool -= n - t.regs;
  t.regs = n;
}

// ---- mbarrier and TMA (sm_90) -----------------------------------------------------------------------------

inline MBar& mbar(uint32_t addr) {
  auto it = st().mbars.find(addr);
  if (it == st().mbars.end()) fail("mbarrier used before mbarrier.init");
  return it->second;
}
inline void mbar_init(uint32_t addr, int count) {
  smem_ptr(addr, 8);
  if (addr % 8) fail("mbarrier at an address not 8-byte aligned");
  if (count < 1) fail("mbarrier.init with a count below 1");
  MBar b;
  b.count = b.pending = count;
  st().mbars[addr] = b;
}
// Completes the current phase once every arrival is in and every expected byte has landed.
inline void mbar_settle(MBar& b) {
  if (b.pending == 0 && b.tx == 0) {
    ++b.phase;
    b.pending = b.count;
    ++st().progress;
  }
}
// mbarrier.arrive[.expect_tx] (tx_bytes 0: plain arrive).
inline void mbar_arrive(uint32_t addr, int tx_bytes) {
  MBar& b = mbar(addr);
  b.tx += tx_bytes;
  if (--b.pending < 0) fail("mbarrier: more arrivals than its count in one phase");
  ++st().progress;
  mbar_settle(b);
}
// mbarrier.expect_tx: more transaction bytes for the current phase, no arrival.
inline void mbar_expect_tx(uint32_t addr, int tx_bytes) { mbar(addr).tx += tx_bytes; }
inline void tma_land(MBar& b, const TmaCopy& c) {
  std::memcpy(c.dst, c.bytes.data(), c.bytes.size());
  b.tx -= (long)c.bytes.size();
  ++st().progress;
}
// mbarrier.try_wait.parity: true once the phase of that parity has completed (the current, incomplete
// phase has the other parity). Copies still in flight on the barrier land first: a TMA load lands
// either at issue or at the first wait on its barrier after it (chosen per copy).
inline bool mbar_try_wait(uint32_t addr, uint32_t parity) {
  MBar& b = mbar(addr);
  if (Faults::get().mbar_wait_early) return true;
  if (!b.copies.empty()) {
    for (const TmaCopy& c : b.copies) tma_land(b, c);
    b.copies.clear();
    mbar_settle(b);
  }
  if ((b.phase & 1) != (parity & 1)) return true;
  current().polled = addr;
  current().polled_parity = parity;
  park(Thread::POLLING);
  return false;
}

// The emulator's CUtensorMap: a 2-D tiled map of 16-bit elements with the 128-byte swizzle (the only
// kind the kernels encode), written into the map's 128 opaque bytes by encode_tma_2d.
struct TmaMap {
  const unsigned char* base;
  uint64_t dim[2];   // elements along the inner dimension, rows
  uint64_t stride;   // bytes from one row to the next
  uint32_t box[2];   // box elements along the inner dimension, box rows
  uint32_t elem;     // bytes per element
};
static_assert(sizeof(TmaMap) <= 128, "fits a CUtensorMap");
// cuTensorMapEncodeTiled's checks for this kind of map (16-byte base and stride, box ≤ 256, a
// 128-byte inner box for the 128-byte swizzle), then the map.
inline void encode_tma_2d(unsigned long long* opaque, const void* base, int elem, uint64_t inner, uint64_t rows,
                          uint64_t stride, uint32_t box_inner, uint32_t box_rows) {
  if ((uintptr_t)base % 16 || stride % 16) fail("tensor map: base and row stride must be multiples of 16 bytes");
  if (box_rows < 1 || box_rows > 256 || box_inner * elem != 128) fail("tensor map: box not 128 bytes × ≤ 256 rows");
  if (inner * elem > stride && rows > 1) fail("tensor map: row stride shorter than a row");
  TmaMap m{static_cast<const unsigned char*>(base), {inner, rows}, stride, {box_inner, box_rows}, (uint32_t)elem};
  std::memset(opaque, 0, 128);
  std::memcpy(opaque, &m, sizeof m);
}
// cp.async.bulk.tensor.2d...mbarrier::complete_tx::bytes [dst], [map, {c0, c1}], [bar]: the box at
// element c0, row c1, zero outside the matrix, row r's 128 bytes at dst + 128 r with the 128-byte
// swizzle on the address (the pattern anchored at 1024-byte boundaries, as wgmma reads it).
inline void tma_load_2d(uint32_t dst, const unsigned long long* opaque, int c0, int c1, uint32_t bar) {
  TmaMap m;
  std::memcpy(&m, opaque, sizeof m);
  if (dst % 1024) fail("TMA with the 128-byte swizzle to an address not 1024-byte aligned");
  const size_t bytes = (size_t)m.box[0] * m.box[1] * m.elem;
  TmaCopy c{smem_ptr(dst, bytes), std::vector<unsigned char>(bytes, 0)};
  for (uint32_t r = 0; r < m.box[1]; ++r)
    for (uint32_t e = 0; e < m.box[0]; ++e) {
      const int64_t col = (int64_t)c0 + e, row = (int64_t)c1 + r;
      if (col < 0 || row < 0 || (uint64_t)col >= m.dim[0] || (uint64_t)row >= m.dim[1]) continue;
      const uint32_t at = isa::swizzle128(dst + r * 128 + e * m.elem) - dst;
      std::memcpy(&c.bytes[at], m.base + row * m.stride + col * m.elem, m.elem);
    }
  MBar& b = mbar(bar);
  if (st().rng() & 1) {
    tma_land(b, c);
    mbar_settle(b);
  } else {
    b.copies.push_back(std::move(c));
  }
}

}  // namespace sim

// ---- the CUDA dialect on the host ------------------------------------------------------------------------
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#undef __align__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __grid_constant__
#define SECTUNE_DYNAMIC_SMEM(ALIGN, NAME) unsigned char* const NAME = ::sim::dynamic_smem()
#define __CUDA_ARCH_FEAT_SM90_ALL 1

#define threadIdx (::sim::current().tid)
#define blockIdx (::sim::st().block_idx)
#define blockDim (::sim::st().block_dim)
#define gridDim (::sim::st().grid_dim)

inline void __syncthreads() { ::sim::syncthreads(); }
[[noreturn]] inline void __trap() { ::sim::fail("__trap()"); }
inline uint32_t __cvta_generic_to_shared(const void* p) { return ::sim::smem_addr(p); }
inline float __uint_as_float(unsigned u) { return ::sim::as_float(u); }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fadd_rn(float a, float b) { return a + b; }
// prmt's default mode: byte i of the result is byte (s >> 4i) & 7 of y:x.
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  const uint64_t both = (uint64_t)y << 32 | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i) r |= (unsigned)((both >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
  return r;
}
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x), *c = std::cos(x); }
// 1/sqrt(x), rounded once (CUDA allows 2 ulp): rsqrtf(±0) = ±inf, rsqrtf(+inf) = +0, x < 0 gives NaN.
inline float rsqrtf(float x) { return (float)(1.0 / std::sqrt((double)x)); }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline T atomicAdd(T* p, T v) {
  const T old = *p;
  *p = old + v;  // fibers never interleave inside this
  return old;
}
namespace sim {
template <class T> inline T shfl(T v, int lane_arg, bool xor_mode, unsigned mask) {
  static_assert(sizeof(T) == 4, "32-bit shuffles");
  uint32_t u;
  std::memcpy(&u, &v, 4);
  u = shfl_bits(u, lane_arg, xor_mode, mask);
  std::memcpy(&v, &u, 4);
  return v;
}
}  // namespace sim
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask) { return ::sim::shfl(v, lane_mask, true, mask); }
template <class T> inline T __shfl_sync(unsigned mask, T v, int src_lane) { return ::sim::shfl(v, src_lane, false, mask); }
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
using std::fmaxf;
using std::fminf;

// ---- wmma ----------------------------------------------------------------------------------------------------
// wmma's fragment layout is unspecified: any layout consistent between load, mma and store is one the
// kernels must work with, so each lane here holds the whole 16×16 tile.
namespace nvcuda {
namespace wmma {
inline float widen(float x) { return x; }
inline float widen(__half x) { return __half2float(x); }
inline float widen(__nv_bfloat16 x) { return __bfloat162float(x); }
struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };
template <class Use, int M, int N, int K, class T, class Layout = void>
struct fragment {
  float v[16][16];  // (row, col) of the tile: A is M×K, B is K×N, the accumulator M×N
};
template <class Use, int M, int N, int K, class T, class L>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, float x) {
  for (auto& row : f.v)
    for (float& e : row) e = x;
}
template <class Use, class T, class L, class E>
inline void load_matrix_sync(fragment<Use, 16, 16, 16, T, L>& f, const E* p, unsigned ld) {
  constexpr bool col = std::is_same<L, col_major>::value;
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) f.v[r][c] = widen(col ? p[(size_t)c * ld + r] : p[(size_t)r * ld + c]);
}
template <class T, class LA, class LB>
inline void mma_sync(fragment<accumulator, 16, 16, 16, float>& d, const fragment<matrix_a, 16, 16, 16, T, LA>& a,
                     const fragment<matrix_b, 16, 16, 16, T, LB>& b, const fragment<accumulator, 16, 16, 16, float>& c) {
  float out[16][16];
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 16; ++j) {
      double s = c.v[i][j];
      for (int k = 0; k < 16; ++k) s += (double)a.v[i][k] * b.v[k][j];
      out[i][j] = (float)s;
    }
  std::memcpy(d.v, out, sizeof out);
}
inline void store_matrix_sync(float* p, const fragment<accumulator, 16, 16, 16, float>& f, unsigned ld, layout_t l) {
  for (int r = 0; r < 16; ++r)
    for (int c = 0; c < 16; ++c) (l == mem_row_major ? p[(size_t)r * ld + c] : p[(size_t)c * ld + r]) = f.v[r][c];
}
}  // namespace wmma
}  // namespace nvcuda
