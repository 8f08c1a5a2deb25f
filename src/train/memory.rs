//! The memory planner: estimated peak memory of a training step before the first step runs.

use crate::model::ModelConfig;

#[derive(Clone, Debug, PartialEq)]
pub struct MemoryPlan {
    pub weights: u64,
    pub adapter_and_optimizer: u64,
    pub activations: u64,
    pub logits: u64,
    /// Transient bf16 copies under `--precision bf16` (`bf16_copies`); 0 in f32.
    pub bf16_copies: u64,
}

impl MemoryPlan {
    pub fn total(&self) -> u64 {
        self.weights
            + self.adapter_and_optimizer
            + self.activations
            + self.logits
            + self.bf16_copies
    }
}

/// The most transient bf16 copies `--precision bf16` holds at once (src/backend/cuda/ops/mixed.rs)
/// for `tokens` tokens: a linear's rounded input plus, for an f32-held weight of
/// `largest_f32_weight` values (a 7B lm_head: 131 M), its rounded copy (or a quantized weight's
/// whole decoded copy under SECTUNE_QUANT_DECODE=scratch: the caller passes the larger); or the
/// attention backward's eight bf16 tensors (q, k, v, out, dout, dq, dk, dv, each at most hidden
/// wide), plus, with `fused_attention` (plan::AttentionBwd::Fused), its f32 dQ sums.
pub fn bf16_copies(
    cfg: &ModelConfig,
    tokens: u64,
    largest_f32_weight: u64,
    fused_attention: bool,
) -> u64 {
    let (c, i) = (cfg.hidden as u64, cfg.intermediate as u64);
    let linear = 2 * tokens * c.max(i) + 2 * largest_f32_weight;
    let dq_sums = match fused_attention {
        true => 4 * tokens * (cfg.n_heads * cfg.head_dim) as u64,
        false => 0,
    };
    let attention = 8 * 2 * tokens * c + dq_sums;
    linear.max(attention)
}

/// Bytes for the base weights as stored (`weight_bytes`: quantized linears at their packed
/// size, see `Model::weight_bytes` and `quant::planned_bytes`), an adapter of
/// `adapter_params` (param, grad, m, v in f32), and activations for `batch × seq` tokens at
/// `act_bytes` each. The CPU's quantized linear decodes one weight at a time, so at most one
/// layer's f32 copy is added on top (`largest_linear` values, `BaseWeight::decoded_copy_values`:
/// 0 on the GPU, whose kernels decode tile by tile).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    cfg: &ModelConfig,
    weight_bytes: u64,
    largest_linear: u64,
    adapter_params: u64,
    batch: usize,
    seq: usize,
    act_bytes: u64,
    checkpoint: bool,
) -> MemoryPlan {
    let tokens = (batch * seq) as u64;
    let (c, i, l) = (
        cfg.hidden as u64,
        cfg.intermediate as u64,
        cfg.n_layers as u64,
    );
    let kv = (cfg.n_kv_heads * cfg.head_dim) as u64;
    // Tensors a block keeps for its backward: norms' inputs/outputs, q/k/v, attention output,
    // residuals (~8·C + 2·kv) and the MLP's gate/up/activation (~3·I); attention keeps only
    // the log-sum-exp (flash-style), not T×T scores.
    let per_block = tokens * (8 * c + 2 * kv + 3 * i) * act_bytes;
    let activations = if checkpoint {
        tokens * c * act_bytes * l + per_block
    } else {
        per_block * l
    };
    MemoryPlan {
        weights: weight_bytes + 4 * largest_linear,
        adapter_and_optimizer: adapter_params * 16,
        activations,
        // logits and their gradient, f32
        logits: tokens * cfg.vocab_size as u64 * 4 * 2,
        bf16_copies: 0,
    }
}

pub fn human(bytes: u64) -> String {
    const GIB: f64 = (1u64 << 30) as f64;
    const MIB: f64 = (1u64 << 20) as f64;
    if bytes as f64 >= GIB {
        format!("{:.2} GiB", bytes as f64 / GIB)
    } else {
        format!("{:.1} MiB", bytes as f64 / MIB)
    }
}

/// Refuses a run whose plan (beyond the weights already loaded) exceeds what the backend can
/// still allocate, naming the settings that shrink it.
pub fn check_fits(
    still_needed: u64,
    available: Option<u64>,
    backend: &str,
    base_unquantized: bool,
) -> crate::error::Result<()> {
    let Some(avail) = available else {
        return Ok(());
    };
    if still_needed <= avail {
        return Ok(());
    }
    let quantize = if base_unquantized {
        ", or store the base with --base-dtype nf4 (or int8) and load the model again"
    } else {
        ""
    };
    Err(crate::error::Error::Unsupported(format!(
        "the memory plan needs {} more after loading the model, but {backend} has {} free; lower \
         --batch-size, turn on --gradient-checkpointing, or lower --max-tokens{quantize}",
        human(still_needed),
        human(avail)
    )))
}

#[cfg(test)]
mod bf16_copy_tests {
    use super::*;
    use crate::model::init::{preset_config, Preset};
    use crate::model::Arch;

    #[test]
    fn the_lm_heads_rounded_copy_dominates_at_7b_and_counts_in_the_total() {
        let mut cfg = preset_config(Arch::Llama, Preset::Small);
        (cfg.hidden, cfg.intermediate, cfg.vocab_size) = (4096, 11008, 32016);
        let head = (cfg.vocab_size * cfg.hidden) as u64;
        let copies = bf16_copies(&cfg, 2048, head, true);
        // 2048 × 11008 rounded inputs (45 MB) + the head's 262 MB bf16 copy.
        assert_eq!(copies, 2 * 2048 * 11008 + 2 * head);
        assert!(copies > 250 << 20 && copies < 320 << 20, "{copies}");
        // Without an f32-held weight, attention's eight copies are the most at 7B.
        assert_eq!(bf16_copies(&cfg, 2048, 0, false), 16 * 2048 * 4096);
        // The fused backward adds its f32 dQ sums (2048 × 32 heads × 128).
        assert_eq!(
            bf16_copies(&cfg, 2048, 0, true),
            16 * 2048 * 4096 + 4 * 2048 * (cfg.n_heads * cfg.head_dim) as u64
        );
        let mut p = plan(&cfg, 0, 0, 0, 1, 2048, 4, true);
        let f32_total = p.total();
        p.bf16_copies = copies;
        assert_eq!(p.total(), f32_total + copies);
    }
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    #[test]
    fn a_plan_over_the_free_memory_is_refused_with_the_way_out() {
        assert!(check_fits(10, Some(10), "cpu", true).is_ok());
        assert!(
            check_fits(10, None, "cpu", true).is_ok(),
            "unknown: no check"
        );
        let gib = 1u64 << 30;
        let e = check_fits(9 * gib, Some(6 * gib), "cuda (f32, RTX 4060 Ti)", true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("9.00 GiB") && e.contains("6.00 GiB"), "{e}");
        assert!(
            e.contains("RTX 4060 Ti") && e.contains("--base-dtype nf4"),
            "{e}"
        );
        let quantized = check_fits(9 * gib, Some(6 * gib), "cpu", false)
            .unwrap_err()
            .to_string();
        assert!(!quantized.contains("--base-dtype"), "{quantized}");
    }
}
