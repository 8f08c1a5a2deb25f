// quant_tc.cu's NF4 forward linears (plain and double-quantized absmax) on the warp-specialized TMA core (gemm_tma.cuh): x comes
// in by TMA, and the producer warpgroup's 128 threads decode the stages' W tiles, so the decode runs
// beside the consumers' wgmmas instead of between their k-tiles (on the wg_ and tc_ cores the same
// threads decode and multiply: NF4 forwards take 2.1–2.4× the dense GEMM there). Each producer
// thread decodes 16 chunks of 8 weights per stage, loads the next k-tile's raw codes while it
// writes this one's, then `fence.proxy.async` and arrives on the stage's `full` barrier (128
// arrivals; the x tile's bytes are armed without one). Each entry takes its wg_q* namesake's
// arguments with x replaced by a tensor map over it (src/backend/cuda/tma.rs); grid, block and
// shared memory as gemm_tma.cu's (plan::wgt_smem_bytes: the decode tables follow the barriers).
// Built as sm_90a; launched when SECTUNE_GEMM_CORE=wgmma-tma and x suits TMA (dX stays on
// quant_tc.cu's mma.sync entries, and int8 on its Hopper-default core).
//   wgt_qlinear_fwd_nf4_f32y_bf16        y = x·deq(W)ᵀ + bias
//   wgt_qlora_fwd_rR_nf4_f32y_bf16       y = x·deq(W)ᵀ + bias + s·xa·Bᵀ     (R = 16 | 64: r ≤ R)
#include "gemm_tma.cuh"
#include "quant_formats.cuh"

namespace quant_wgt {

// The producer policy of wgt::gemm for a quantized W [N, K] (the forward: B is K-major).
template <class Q>
struct DecodedB {
  static constexpr int FULL_ARRIVALS = 128, REGS = 112;
  static constexpr int CHUNKS = wgt::BN * (wgt::BK / 8) / 128;  // per producer thread per stage
  Q w;
  int N, K;
  bool vec;  // K % 8 == 0: every whole chunk is one aligned word and one absmax block
  typename Q::Raw raw[CHUNKS];

  __device__ __forceinline__ void stage(float* tables) { w.stage(tables); }
  // Chunk i of producer thread p: tile row e / 8, 8 weights from column 8 (e % 8) of the k-tile.
  __device__ __forceinline__ static int row_of(int p, int i) { return (p + 128 * i) >> 3; }
  __device__ __forceinline__ static int chunk_of(int p, int i) { return (p + 128 * i) & 7; }
  __device__ __forceinline__ int valid(int n, int k) const { return n < N ? min(8, K - k) : 0; }

  __device__ __forceinline__ void fetch(int p, int n0, int k0) {
#pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
      const int n = n0 + row_of(p, i), k = k0 + 8 * chunk_of(p, i);
      if (vec && valid(n, k) == 8) raw[i] = w.fetch8(n, k);
    }
  }
  // Decodes k-tile k0 into sb ([256][64] bf16, rowk_off's swizzle), each chunk's raw words replaced
  // by the next k-tile's as soon as they are decoded (next: whether there is one).
  __device__ __forceinline__ void land(int p, bf16* sb, int n0, int k0, bool next) {
#pragma unroll
    for (int i = 0; i < CHUNKS; ++i) {
      const int row = row_of(p, i), c = chunk_of(p, i), n = n0 + row, k = k0 + 8 * c;
      const int ok = valid(n, k);
      float v[8];
      if (vec && ok == 8) {
        w.decode8(raw[i], v);
      } else {
#pragma unroll
        for (int j = 0; j < 8; ++j) v[j] = j < ok ? w.at(n, k + j) : 0.f;
      }
      if (next && vec && valid(n, k + wgt::BK) == 8) raw[i] = w.fetch8(n, k + wgt::BK);
      __align__(16) bf16 h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) h[j] = __float2bfloat16_rn(v[j]);
      *reinterpret_cast<uint4*>(sb + tc::rowk_off(row, c)) = *reinterpret_cast<const uint4*>(h);
    }
  }
  __device__ __forceinline__ void run(const wgt::TensorMap& ta, uint32_t ring, uint32_t full, uint32_t empty,
                                      int KT, int m0, int n0) {
    using namespace wgt;
    const int p = threadIdx.x - PRODUCER;
    unsigned char* const smem = wg::dyn_smem();
    if (KT > 0) fetch(p, n0, 0);
    for (int kt = 0; kt < KT; ++kt) {
      wait_free(empty, kt);
      const int s = kt % STAGES;
      const uint32_t sa = ring + s * STAGE_BYTES, bar = full + 8 * s;
      if (p == 0) {
        mbar_expect_tx(bar, A_BYTES);
        tma_load(sa, ta, kt * BK, m0, bar);
      }
      land(p, reinterpret_cast<bf16*>(smem + s * STAGE_BYTES + A_BYTES), n0, kt * BK, kt + 1 < KT);
      wg::fence_to_async_proxy();  // this thread's tile writes, to the consumers' wgmmas
      mbar_arrive(bar);
    }
  }
};

template <int RMAX, class Q>
__device__ void forward(const wgt::TensorMap& ta, Q w, int M, int N, int K, const bf16* bias, float* y,
                        const tc::Rank& rank) {
  static_assert(Q::TABLE * sizeof(float) <= wgt::TABLE_BYTES, "the decode tables fit after the barriers");
  DecodedB<Q> b{w, N, K, (K & 7) == 0};
  wgt::gemm<bf16, false, RMAX>(ta, b, M, N, K, bias, y, N, rank);
}

}  // namespace quant_wgt

#define WGTQ_RANK_ENTRY(F, Q, R)                                                                                 \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlora_fwd_r##R##_##F##_f32y_bf16(             \
      const __grid_constant__ wgt::TensorMap ta, QW_PARAMS, const bf16* bias, const float* xa, const float* B,   \
      float scale, float* y, int M, int N, int K, int r) {                                                       \
    WGT_BODY(const tc::Rank rank{xa, B, r, 1, r, scale, 0.f, 0ull};                                              \
             quant_wgt::forward<R>(ta, Q(QW_ARGS, K), M, N, K, bias, y, rank);)                                  \
  }

#define WGTQ_ENTRIES(F, Q)                                                                                       \
  WGTQ_RANK_ENTRY(F, Q, 16)                                                                                      \
  WGTQ_RANK_ENTRY(F, Q, 64)                                                                                      \
  extern "C" __global__ void __launch_bounds__(wgt::THREADS, 1) wgt_qlinear_fwd_##F##_f32y_bf16(                  \
      const __grid_constant__ wgt::TensorMap ta, QW_PARAMS, const bf16* bias, float* y, int M, int N, int K) {   \
    WGT_BODY(quant_wgt::forward<0>(ta, Q(QW_ARGS, K), M, N, K, bias, y, tc::Rank{});)                            \
  }

// NF4 only: its forward is where decoding costs most (int8 already meets issue 9's bitsandbytes
// target on mma.sync), and the int8 LoRA entries spilled ~100 bytes under the 168-register launch cap.
WGTQ_ENTRIES(nf4, quant::Nf4W)
