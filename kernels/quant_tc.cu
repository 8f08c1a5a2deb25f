// Tensor-core linears over int8 / NF4 frozen weights, for `--precision bf16` (sm_80+): the pipelined
// bf16 core of gemm_tc.cuh with its B operand decoded from the quantized weight on the way into
// shared memory (quant_b.cuh: fetched a tile ahead into registers, decoded exactly as the CPU
// reference decodes, rounded to bf16, as bitsandbytes dequantizes to the compute dtype before its
// matmul), so no decoded copy of W ever exists in global memory. quant_wgmma.cu runs the same decode
// on the sm_90a warpgroup core.
// Entries (F = nf4 | int8; arguments as quant_dequant.cu's namesakes, outputs f32 holding bf16 values
// as lora_matmul.cu's `_f32y` entries):
//   tc_qlinear_fwd_F_f32y_bf16        y = x·deq(W)ᵀ + bias
//   tc_qlinear_bwd_dx_F_f32y_bf16     dX = dY·deq(W)
//   tc_qlora_fwd_rR_F_f32y_bf16       y = x·deq(W)ᵀ + bias + s·xa·Bᵀ
//   tc_qlora_bwd_dx_rR_F_f32y_bf16    dX = dY·deq(W) + s·(dyb·A)⊙mask
// IA3 under --precision bf16 scales around the plain entries (src/backend/cuda/ops/mixed.rs).
// Launch: as lora_matmul.cu's tc_ entries: grid (ceil(N_out/128), ceil(M/128)), block 256, dynamic
//   shared memory tc::smem_bytes(0 | 16 | 64) (the decode tables are static, 1 KiB).
// Limits: any M, N, K ≥ 1, sizes < 2^31, nf4 block size 64. In sm_75 images the entries are stubs
//   that trap.
// The opt-in scratch path (plan::QuantDecode::Scratch, SECTUNE_QUANT_DECODE=scratch) decodes the
// whole weight instead, once per call, into a transient bf16 buffer for the dense GEMM:
//   dequant_bf16_F(QW_PARAMS, bf16* out, int rows, int cols)   out [rows, cols] = bf16(deq(W))
//   each thread 8 weights at a time (QuantB's chunks: the same values bit for bit), grid-stride;
//   launch::stride_cfg over rows·ceil(cols/8) chunks, block 256.
#include "quant_b.cuh"
#include "quant_entries.cuh"

namespace quant_tc {

// One block of y [M, N_out] = A · deq(W) (B_KN: dX, W read [reduction, out]); W has `cols` = its in_features.
template <bool B_KN, int RMAX, class Q>
__device__ void gemm(const bf16* A, int lda, Q w, int M, int N, int K, const bf16* bias, float* y, int ldy,
                     const tc::Rank& rank) {
#if SECTUNE_TC
  __shared__ float table[Q::TABLE];
  w.stage(table);
  __syncthreads();  // the tables are read from the first k-tile on
  QuantB<B_KN, Q> src{w, N, K, (int)blockIdx.x * tc::BN, (w.cols & 7) == 0};
  tc::gemm_from<bf16, B_KN, RMAX>(A, lda, src, M, N, K, bias, y, ldy, rank);
#else
  __trap();  // sm_75 images: stubs (the host launches these only on sm_80+; the report lists every arch)
#endif
}

// out [rows, cols] = the bf16 rounding of W decoded, as QuantB::land writes its tiles.
template <class Q>
__device__ void dequant(Q w, bf16* out, int rows, int cols) {
#if SECTUNE_TC
  __shared__ float table[Q::TABLE];
  w.stage(table);
  __syncthreads();
  const long long per_row = (cols + 7) / 8, chunks = (long long)rows * per_row;
  const bool vec = (cols & 7) == 0;  // every chunk one aligned word and one absmax block
  const long long stride = (long long)gridDim.x * blockDim.x;
  for (long long c = (long long)blockIdx.x * blockDim.x + threadIdx.x; c < chunks; c += stride) {
    const int n = (int)(c / per_row), k = (int)(c % per_row) * 8;
    bf16* dst = out + (size_t)n * cols + k;
    if (vec) {
      float v[8];
      w.decode8(w.fetch8(n, k), v);
      __align__(16) bf16 h[8];
#pragma unroll
      for (int j = 0; j < 8; ++j) h[j] = __float2bfloat16_rn(v[j]);
      *reinterpret_cast<uint4*>(dst) = *reinterpret_cast<const uint4*>(h);
    } else {
      for (int j = 0; j < 8 && k + j < cols; ++j) dst[j] = __float2bfloat16_rn(w.at(n, k + j));
    }
  }
#else
  __trap();
#endif
}

}  // namespace quant_tc

#define DEQUANT_ENTRY(F, Q)                                                                              \
  extern "C" __global__ void __launch_bounds__(256) dequant_bf16_##F(QW_PARAMS, bf16* out, int rows, int cols) { \
    quant_tc::dequant(Q(QW_ARGS, cols), out, rows, cols);                                               \
  }
DEQUANT_ENTRY(nf4, quant::Nf4W)
DEQUANT_ENTRY(int8, quant::Int8W)

QUANT_GEMM_ENTRIES(tc, quant_tc, 2, nf4, quant::Nf4W)
QUANT_GEMM_ENTRIES(tc, quant_tc, 2, int8, quant::Int8W)
