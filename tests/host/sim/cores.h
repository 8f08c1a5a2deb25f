// The tensor-core GEMM cores' launches for the emulator programs (plan::gemm16_core_launch; dynamic
// shared memory per plan::tc_smem_bytes / wg_smem_bytes / wgp_smem_bytes / wgt_smem_bytes).
#pragma once
#include "gemm_tma.cuh"
#include "linear_cases.h"

namespace cases {

const Core TC{tc::THREADS, tc::BM, [](int rmax) { return tc::smem_bytes(rmax); }};
const Core WG{tc::THREADS, tc::BM,
              [](int rmax) { return tc::ring_bytes(wg::Overlap::RING, rmax) + wg::TABLE_BYTES; }};
const Core WGP{tc::THREADS, tc::BM,
               [](int rmax) { return tc::ring_bytes(wg::InFlight::RING, rmax) + wg::TABLE_BYTES; }};

const Core WGT{wgt::THREADS, wgt::BM,
               [](int) { return wgt::RING_BYTES + wgt::BARRIER_BYTES + wgt::TABLE_BYTES; }, wgt::BN};

}  // namespace cases
