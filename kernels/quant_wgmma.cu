// quant_tc.cu's int8 / NF4 linears on the sm_90a warpgroup core (gemm_wgmma.cuh): each wg_* entry
// takes its tc_* namesake's arguments and grid, with plan::wg_smem_bytes of dynamic shared memory (the
// decode tables sit after the pipeline ring); each wgp_* entry the same on the in-flight pipeline,
// with plan::wgp_smem_bytes. The B tiles are decoded from the quantized weight
// (quant_b.cuh) while the previous tile's wgmmas run. Built as sm_90a (build.rs); every other image
// holds stubs that trap, and the host launches these only on compute capability 9.0: the wg_ NF4
// forwards by default (plan::GemmCore::Hopper), every entry when SECTUNE_GEMM_CORE=wgmma |
// wgmma-inflight. __launch_bounds__(256, 1): decoding while the accumulators are in flight
// needs 128–154 registers (at a 128 cap the int8 entries spilled up to 48 bytes).
//   P_qlinear_fwd_F_f32y_bf16        y = x·deq(W)ᵀ + bias               (P = wg | wgp, F = nf4 | int8)
//   P_qlinear_bwd_dx_F_f32y_bf16     dX = dY·deq(W)
//   P_qlora_fwd_rR_F_f32y_bf16       y = x·deq(W)ᵀ + bias + s·xa·Bᵀ     (R = 16 | 64: r ≤ R)
//   P_qlora_bwd_dx_rR_F_f32y_bf16    dX = dY·deq(W) + s·(dyb·A)⊙mask
#include "gemm_wgmma.cuh"
#include "quant_b.cuh"
#include "quant_entries.cuh"

namespace quant_wg {

template <bool B_KN, int RMAX, class Q, class P = wg::Overlap>
__device__ void gemm(const bf16* A, int lda, Q w, int M, int N, int K, const bf16* bias, float* y, int ldy,
                     const tc::Rank& rank) {
#if SECTUNE_WGMMA
  static_assert(Q::TABLE * sizeof(float) <= wg::TABLE_BYTES, "the decode tables fit after the ring");
  w.stage(reinterpret_cast<float*>(wg::dyn_smem() + tc::ring_bytes(P::RING, RMAX)));
  __syncthreads();  // the tables are read from the first k-tile on
  quant_tc::QuantB<B_KN, Q, true> src{w, N, K, (int)blockIdx.x * tc::BN, (w.cols & 7) == 0};
  wg::gemm_from<bf16, B_KN, RMAX, P>(A, lda, src, M, N, K, bias, y, ldy, rank);
#else
  __trap();
#endif
}

}  // namespace quant_wg

// The same on the in-flight pipeline (the wgp_q* entries).
namespace quant_wgp {

template <bool B_KN, int RMAX, class Q>
__device__ void gemm(const bf16* A, int lda, Q w, int M, int N, int K, const bf16* bias, float* y, int ldy,
                     const tc::Rank& rank) {
  quant_wg::gemm<B_KN, RMAX, Q, wg::InFlight>(A, lda, w, M, N, K, bias, y, ldy, rank);
}

}  // namespace quant_wgp

QUANT_GEMM_ENTRIES(wg, quant_wg, 1, nf4, quant::Nf4W)
QUANT_GEMM_ENTRIES(wg, quant_wg, 1, int8, quant::Int8W)
QUANT_GEMM_ENTRIES(wgp, quant_wgp, 1, nf4, quant::Nf4W)
QUANT_GEMM_ENTRIES(wgp, quant_wgp, 1, int8, quant::Int8W)
