// quant_tc.cu's NF4 linears (plain and double-quantized absmax), forward and dX, on the
// warp-specialized TMA core (gemm_tma.cuh): x or dY comes in by TMA, and the producer warpgroup's
// 128 threads decode the stages' W tiles, so the decode runs beside the consumers' wgmmas instead
// of between their k-tiles (on the wg_ and tc_ cores the same threads decode and multiply: NF4
// forwards take 2.1–2.4× the dense GEMM there, wg_ NF4 dX 3.3–4.7×). Each producer thread decodes
// 16 chunks of 8 weights per stage (the forward's K-major [256][64] tile, or dX's four N-major
// [64][64] quarters), loads the next k-tile's raw codes while it writes this one's, then
// `fence.proxy.async` and arrives on the stage's `full` barrier (128 arrivals; the lead tile's
// bytes are armed without one). Each entry takes its wg_q* namesake's arguments with x / dY
// replaced by a tensor map over it (src/backend/cuda/tma.rs); grid, block and shared memory as
// gemm_tma.cu's (plan::wgt_smem_bytes: the decode tables follow the barriers). Built as sm_90a;
// launched when SECTUNE_GEMM_CORE=wgmma-tma and the lead operand suits TMA (int8 stays on its
// Hopper-default core).
//   wgt_qlinear_fwd_nf4_f32y_bf16        y = x·deq(W)ᵀ + bias
//   wgt_qlinear_bwd_dx_nf4_f32y_bf16     dX = dY·deq(W)
//   wgt_qlora_fwd_rR_nf4_f32y_bf16       y = x·deq(W)ᵀ + bias + s·xa·Bᵀ     (R = 16 | 64: r ≤ R)
//   wgt_qlora_bwd_dx_rR_nf4_f32y_bf16    dX = dY·deq(W) + s·(dyb·A)⊙mask
#include "gemm_tma.cuh"
#include "quant_formats.cuh"

namespace quant_wgt {

// Which weights chunk i of producer thread p decodes in k-tile k0 and where they go: tc::BChunk for the
// 128 × 256 tile and the 128 producer threads (e = p + 128·i).
//   !B_KN (y = x·Wᵀ): tile row e / 8 is output column n, chunk e % 8 runs along k: W (n, k..k+8),
//     into the [256][64] K-major tile (rowk_off).
//    B_KN (dX = dY·W): tile row e / 32 is reduction row k, chunk e % 32 runs along n: W (k, n..n+8),
//     into the four N-major [64 k][64 n] quarters (kn_off_halves; a warp decodes one 128-byte row of
//     codes).
template <bool B_KN>
using TileChunk = tc::BChunk<B_KN, true, wgt::BN, 128>;

// The producer policy of wgt::gemm for a quantized W: [N, K] for the forward (B K-major), [K, N]
// for dX (B_KN, the reduction runs over W's rows).
template <class Q, bool B_KN>
struct DecodedB {
  static constexpr int FULL_ARRIVALS = 128, REGS = 112;
  static constexpr int CHUNKS = wgt::BN * (wgt::BK / 8) / 128;  // per producer thread per stage
  static_assert(CHUNKS == wgt::BK * (wgt::BN / 8) / 128, "both layouts give a thread the same chunks");
  Q w;
  int N, K;
  bool vec;  // W's cols % 8 == 0: every whole chunk is one aligned word and one absmax block
  typename Q::Raw raw[CHUNKS];

  __device__ __forceinline__ void stage(float* tables) { w.stage(tables); }
  __device__ __forceinline__ TileChunk<B_KN> chunk(int p, int i, int n0, int k0) const {
    return TileChunk<B_KN>(p, i, N, K, n0, k0);
  }

  __device__ __forceinline__ void fetch(int p, int n0, int k0) {
#pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
      const TileChunk<B_KN> ch = chunk(p, i, n0, k0);
      if (vec && ch.valid == 8) raw[i] = w.fetch8(ch.src_row, ch.src_col);
    }
  }
  // Decodes k-tile k0 into sb, each chunk's raw words replaced by the next k-tile's as soon as they
  // are decoded (next: whether there is one).
  __device__ __forceinline__ void land(int p, bf16* sb, int n0, int k0, bool next) {
#pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
      const TileChunk<B_KN> ch = chunk(p, i, n0, k0);
      float v[8];
      if (vec && ch.valid == 8) {
        w.decode8(raw[i], v);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = j < ch.valid ? w.at(ch.src_row, ch.src_col + j) : 0.f;
      }
      if (next && vec) {
        const TileChunk<B_KN> after = chunk(p, i, n0, k0 + wgt::BK);
        if (after.valid == 8) raw[i] = w.fetch8(after.src_row, after.src_col);
      }
      __align__(16) bf16 h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) h[j] = __float2bfloat16_rn(v[j]);
      *reinterpret_cast<uint4*>(sb + ch.dst) = *reinterpret_cast<const uint4*>(h);
    }
  }
  __device__ __forceinline__ void run(const wgt::TensorMap& ta, uint32_t ring, uint32_t full, uint32_t empty, int,
                                      int m0, int n0) {
    using namespace wgt;
    const int p = threadIdx.x - PRODUCER;
    unsigned char* const smem = wg::dyn_smem();
    // Bounds from K (a kernel parameter ptxas re-reads from the constant bank), not KT: holding KT
    // across the register split spilled it in the dX entries.
    if (K > 0) fetch(p, n0, 0);
    for (int kt = 0; kt * BK < K; ++kt) {
      wait_free(empty, kt);
      const int s = kt % STAGES;
      const uint32_t sa = ring + s * STAGE_BYTES, bar = full + 8 * s;
      if (p == 0) {
        mbar_expect_tx(bar, A_BYTES);
        tma_load(sa, ta, kt * BK, m0, bar);
      }
      land(p, reinterpret_cast<bf16*>(smem + s * STAGE_BYTES + A_BYTES), n0, kt * BK, (kt + 1) * BK < K);
      wg::fence_to_async_proxy();  // this thread's tile writes, to the consumers' wgmmas
      mbar_arrive(bar);
    }
  }
};

// One block of y [M, N] = A·deq(W)ᵀ (forward) or A·deq(W) (B_KN: dX, W [K, N]), A by the map `ta`.
template <bool B_KN, int RMAX, class Q>
__device__ void gemm(const wgt::TensorMap& ta, Q w, int M, int N, int K, const bf16* bias, float* y,
                     const tc::Rank& rank) {
  static_assert(Q::TABLE * sizeof(float) <= wgt::TABLE_BYTES, "the decode tables fit after the barriers");
  DecodedB<Q, B_KN> b{w, N, K, (w.cols & 7) == 0};
  wgt::gemm<bf16, B_KN, RMAX>(ta, b, M, N, K, bias, y, N, rank);
}

}  // namespace quant_wgt

#define WGTQ_MAP const __grid_constant__ wgt::TensorMap ta

#define WGTQ_RANK_ENTRIES(F, Q, R)                                                                               \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlora_fwd_r##R##_##F##_f32y_bf16(             \
      WGTQ_MAP, QW_PARAMS, const bf16* bias, const float* xa, const float* B, float scale, float* y, int M,      \
      int N, int K, int r) {                                                                                     \
    WGT_BODY(const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                              \
             quant_wgt::gemm<false, R>(ta, Q(QW_ARGS, K), M, N, K, bias, y, rank);)                              \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlora_bwd_dx_r##R##_##F##_f32y_bf16(          \
      WGTQ_MAP, QW_PARAMS, const float* dyb, const float* A, float scale, float p, unsigned long long seed,      \
      float* dx, int M, int N, int K, int r) {                                                                   \
    WGT_BODY(const tc::Rank rank{dyb, A, 1, K, r, scale, p, seed};                                               \
             quant_wgt::gemm<true, R>(ta, Q(QW_ARGS, K), M, K, N, (const bf16*)nullptr, dx, rank);)              \
  }

#define WGTQ_ENTRIES(F, Q)                                                                                       \
  WGTQ_RANK_ENTRIES(F, Q, 16)                                                                                    \
  WGTQ_RANK_ENTRIES(F, Q, 64)                                                                                    \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlinear_fwd_##F##_f32y_bf16(                  \
      WGTQ_MAP, QW_PARAMS, const bf16* bias, float* y, int M, int N, int K) {                                    \
    WGT_BODY(quant_wgt::gemm<false, 0>(ta, Q(QW_ARGS, K), M, N, K, bias, y, tc::Rank{});)                        \
  }                                                                                                              \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlinear_bwd_dx_##F##_f32y_bf16(               \
      WGTQ_MAP, QW_PARAMS, float* dx, int M, int N, int K) {                                                     \
    WGT_BODY(quant_wgt::gemm<true, 0>(ta, Q(QW_ARGS, K), M, K, N, (const bf16*)nullptr, dx, tc::Rank{});)        \
  }

// NF4 only: decoding costs most there (int8 already meets issue 9's bitsandbytes target on mma.sync),
// and the int8 LoRA entries spilled ~100 bytes under the 168-register launch cap.
WGTQ_ENTRIES(nf4, quant::Nf4W)
