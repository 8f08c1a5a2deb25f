//! `sectune bench`, memory-bound ops: the bf16 instances of norm, RoPE, activation,
//! cross-entropy, embedding and sampling kernels, and `--precision bf16`'s conversion and IA3
//! scaling passes, at CodeLlama-7B shapes, each with GB/s, % of
//! peak bandwidth and the ratio to its torch equivalent from bench/torch_baselines.py (the
//! `ops` object, keyed like the rows here), timed on the same GPU in the same invocation.
//! Bytes are the minimum traffic each op needs (every input read once, every output written
//! once; fp32 atomics count read + write), so GB/s is a lower bound of what the kernel moves:
//! cross-entropy reads its logits twice and sampling ~35 times (32 bisection passes).

use std::sync::Arc;

use anyhow::Result;
use cudarc::driver::{sys::CUevent_flags, CudaStream};

use super::bench::peaks;
use super::device::CudaDevice;
use super::half::{Half, HalfRunner};

/// Tokens per step at 7B: seq 2048 × batch 2, and 16k (seq 4096 × batch 4).
const TOKENS: [usize; 2] = [4096, 16384];
const HIDDEN: usize = 4096;
const FFN: usize = 11008;
const HEADS: usize = 32;
const VOCAB: usize = 32016;
const SAMPLE_ROWS: usize = 32;

fn time_ms(stream: &Arc<CudaStream>, reps: u32, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..3 {
        f()?;
    }
    let start = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    for _ in 0..reps {
        f()?;
    }
    let end = stream.record_event(Some(CUevent_flags::CU_EVENT_DEFAULT))?;
    Ok(start.elapsed_ms(&end)? as f64 / reps.max(1) as f64)
}

/// A deterministic fill in [−scale, scale) (timing only; a short period does not matter).
fn fill(n: usize, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919 % 2003) as f32 / 1001.5 - 1.0) * scale)
        .collect()
}

struct Printer<'a> {
    peak_bw: Option<f64>,
    torch: Option<&'a serde_json::Value>,
}

impl Printer<'_> {
    fn header(&self) {
        println!(
            "{:<24} {:>9} {:>8} {:>7} {:>9} {:>7} {:<8}",
            "op (bf16)", "ours ms", "GB/s", "%peak", "torch ms", "ratio", "torch is"
        );
    }

    /// One row; `ratio` = torch ms / ours ms (> 1: ours is faster).
    fn row(&self, key: &str, ms: f64, bytes: f64) {
        let gbs = bytes / (ms * 1e-3) / 1e9;
        let pct = self
            .peak_bw
            .map(|p| format!("{:6.1}%", 100.0 * gbs * 1e9 / p))
            .unwrap_or_else(|| "    n/a".into());
        let t = self.torch.and_then(|j| j["ops"].get(key));
        let (tms, kind) = (
            t.and_then(|r| r["ms"].as_f64()),
            t.and_then(|r| r["kind"].as_str()).unwrap_or("-"),
        );
        let (tshow, ratio) = match tms {
            Some(x) => (format!("{x:9.3}"), format!("{:7.2}", x / ms)),
            None => ("      n/a".into(), "    n/a".into()),
        };
        println!("{key:<24} {ms:>9.3} {gbs:>8.0} {pct} {tshow} {ratio} {kind:<8}");
    }
}

/// Runs every op bench; `torch` is bench/torch_baselines.py's JSON when it ran.
pub fn run(dev: &CudaDevice, reps: u32, torch: Option<&serde_json::Value>) -> Result<()> {
    let p = Printer {
        peak_bw: peaks(&dev.name()).map(|x| x.1),
        torch,
    };
    let g = HalfRunner::new(dev, Half::Bf16);
    let s = g.stream().clone();
    println!("\nMemory-bound ops, bf16, CodeLlama-7B shapes (ratio = torch ms / ours ms)");
    p.header();
    for t in TOKENS {
        norms(&g, &s, &p, reps, t)?;
        rope(&g, &s, &p, reps, t)?;
        activations(&g, &s, &p, reps, t)?;
        embedding(&g, &s, &p, reps, t)?;
        mixed_precision(&g, &s, &p, reps, t)?;
    }
    cross_entropy(&g, &s, &p, reps, 4096)?;
    sampling(&g, &s, &p, reps)?;
    Ok(())
}

fn norms(g: &HalfRunner, s: &Arc<CudaStream>, p: &Printer, reps: u32, t: usize) -> Result<()> {
    let n = t * HIDDEN;
    let (x, w, b, dy) = (
        g.upload(&fill(n, 2.0))?,
        g.upload(&fill(HIDDEN, 1.0))?,
        g.upload(&fill(HIDDEN, 0.5))?,
        g.upload(&fill(n, 1.0))?,
    );
    let (y, dx) = (g.zeros(n)?, g.zeros(n)?);
    let (mean, rstd) = (g.zeros_f32(t)?, g.zeros_f32(t)?);
    let (dw, db) = (g.zeros_f32(HIDDEN)?, g.zeros_f32(HIDDEN)?);
    let (m, c) = (t, HIDDEN);
    let ms = time_ms(
        s,
        reps,
        || Ok(g.rmsnorm_fwd(&x, &w, &y, &rstd, m, c, 1e-5)?),
    )?;
    p.row(&format!("rmsnorm_fwd_t{t}"), ms, 4.0 * n as f64);
    let ms = time_ms(s, reps, || {
        g.rmsnorm_bwd(&dy, &x, &w, &rstd, &dx, m, c)?;
        Ok(g.norm_bwd_dw(&dy, &x, None, &rstd, &dw, None, m, c)?)
    })?;
    p.row(&format!("rmsnorm_bwd_t{t}"), ms, 10.0 * n as f64);
    let ms = time_ms(s, reps, || {
        Ok(g.layernorm_fwd(&x, &w, &b, &y, &mean, &rstd, m, c, 1e-5)?)
    })?;
    p.row(&format!("layernorm_fwd_t{t}"), ms, 4.0 * n as f64);
    let ms = time_ms(s, reps, || {
        g.layernorm_bwd(&dy, &x, &w, &mean, &rstd, &dx, m, c)?;
        Ok(g.norm_bwd_dw(&dy, &x, Some(&mean), &rstd, &dw, Some(&db), m, c)?)
    })?;
    p.row(&format!("layernorm_bwd_t{t}"), ms, 10.0 * n as f64);
    Ok(())
}

/// Rotate-half over q [T, 32, 128] (k costs the same); theta 1e4.
fn rope(g: &HalfRunner, s: &Arc<CudaStream>, p: &Printer, reps: u32, t: usize) -> Result<()> {
    let d = HIDDEN / HEADS;
    let n = t * HIDDEN;
    let (x, y) = (g.upload(&fill(n, 1.0))?, g.zeros(n)?);
    let freqs = g.upload_f32(&crate::backend::cpu::rope::inv_freq(1e4, d))?;
    for inverse in [false, true] {
        let ms = time_ms(s, reps, || {
            Ok(g.rope(&x, &y, &freqs, t, t, HEADS, d, None, 0, inverse)?)
        })?;
        let dir = if inverse { "bwd" } else { "fwd" };
        p.row(&format!("rope_{dir}_t{t}"), ms, 4.0 * n as f64);
    }
    Ok(())
}

fn activations(
    g: &HalfRunner,
    s: &Arc<CudaStream>,
    p: &Printer,
    reps: u32,
    t: usize,
) -> Result<()> {
    let n = t * FFN;
    let (a, b, d) = (
        g.upload(&fill(n, 4.0))?,
        g.upload(&fill(n, 1.0))?,
        g.upload(&fill(n, 1.0))?,
    );
    let (o1, o2) = (g.zeros(n)?, g.zeros(n)?);
    let nb = n as f64;
    let ms = time_ms(s, reps, || Ok(g.swiglu_fwd(&a, &b, &o1, n)?))?;
    p.row(&format!("swiglu_fwd_t{t}"), ms, 6.0 * nb);
    let ms = time_ms(s, reps, || Ok(g.swiglu_bwd(&d, &a, &b, &o1, &o2, n)?))?;
    p.row(&format!("swiglu_bwd_t{t}"), ms, 10.0 * nb);
    let ms = time_ms(s, reps, || Ok(g.gelu_new_fwd(&a, &o1, n)?))?;
    p.row(&format!("gelu_new_fwd_t{t}"), ms, 4.0 * nb);
    let ms = time_ms(s, reps, || Ok(g.gelu_new_bwd(&d, &a, &o1, n)?))?;
    p.row(&format!("gelu_new_bwd_t{t}"), ms, 6.0 * nb);
    Ok(())
}

/// Lookup of t ids in the 32016 × 4096 table; backward adds into an fp32 table gradient.
fn embedding(g: &HalfRunner, s: &Arc<CudaStream>, p: &Printer, reps: u32, t: usize) -> Result<()> {
    let ids: Vec<i32> = (0..t).map(|i| ((i * 7919) % VOCAB) as i32).collect();
    let (table, ids) = (g.upload(&fill(VOCAB * HIDDEN, 1.0))?, g.upload_i32(&ids)?);
    let (out, dout) = (g.zeros(t * HIDDEN)?, g.upload(&fill(t * HIDDEN, 1.0))?);
    let dw = g.zeros_f32(VOCAB * HIDDEN)?;
    let n = (t * HIDDEN) as f64;
    let ms = time_ms(s, reps, || {
        Ok(g.embedding_fwd(&ids, &table, &out, t, HIDDEN, VOCAB, None)?)
    })?;
    p.row(&format!("embedding_fwd_t{t}"), ms, 4.0 * n);
    let ms = time_ms(s, reps, || {
        Ok(g.embedding_bwd(&ids, &dout, &dw, t, HIDDEN, VOCAB)?)
    })?;
    p.row(&format!("embedding_bwd_t{t}"), ms, 10.0 * n);
    Ok(())
}

/// `--precision bf16`'s own passes: rounding an f32 activation to bf16, widening one back, and
/// IA3's f32 column scaling, at [t, 11008] (torch: `.to(bfloat16)`, `.float()`, `x * l`).
fn mixed_precision(
    g: &HalfRunner,
    s: &Arc<CudaStream>,
    p: &Printer,
    reps: u32,
    t: usize,
) -> Result<()> {
    let n = t * FFN;
    let (x, l) = (g.upload_f32(&fill(n, 4.0))?, g.upload_f32(&fill(FFN, 1.0))?);
    let (h, y) = (g.zeros(n)?, g.zeros_f32(n)?);
    let nb = n as f64;
    let ms = time_ms(s, reps, || Ok(g.round_from_f32(&x, &h, n)?))?;
    p.row(&format!("round_to_bf16_t{t}"), ms, 6.0 * nb);
    let ms = time_ms(s, reps, || Ok(g.widen_to_f32(&h, &y, n)?))?;
    p.row(&format!("widen_to_f32_t{t}"), ms, 6.0 * nb);
    let ms = time_ms(s, reps, || Ok(g.scale_cols_f32(&x, &l, &y, t, FFN)?))?;
    p.row(&format!("scale_cols_f32_t{t}"), ms, 8.0 * nb);
    Ok(())
}

/// Loss and dlogits in one kernel over [t, 32016] bf16 logits (torch: F.cross_entropy fwd + bwd).
fn cross_entropy(
    g: &HalfRunner,
    s: &Arc<CudaStream>,
    p: &Printer,
    reps: u32,
    t: usize,
) -> Result<()> {
    let n = t * VOCAB;
    let logits = g.upload(&fill(n, 8.0))?;
    let labels: Vec<i32> = (0..t).map(|i| ((i * 7919) % VOCAB) as i32).collect();
    let labels = g.upload_i32(&labels)?;
    let (loss, lse, dl) = (g.zeros_f32(t)?, g.zeros_f32(t)?, g.zeros(n)?);
    let scale = 1.0 / t as f32;
    let ms = time_ms(s, reps, || {
        Ok(g.cross_entropy(&logits, &labels, &loss, &lse, Some(&dl), scale, t, VOCAB)?)
    })?;
    p.row(&format!("cross_entropy_t{t}"), ms, 4.0 * n as f64);
    Ok(())
}

/// Temperature 0.8, top-p 0.9 over [32, 32016] (torch: softmax, sort, cumsum, multinomial).
fn sampling(g: &HalfRunner, s: &Arc<CudaStream>, p: &Printer, reps: u32) -> Result<()> {
    let n = SAMPLE_ROWS * VOCAB;
    let logits = g.upload(&fill(n, 6.0))?;
    let u: Vec<f32> = (0..SAMPLE_ROWS)
        .map(|i| (i as f32 + 0.5) / SAMPLE_ROWS as f32)
        .collect();
    let (u, out) = (g.upload_f32(&u)?, g.zeros_i32(SAMPLE_ROWS)?);
    let ms = time_ms(s, reps, || {
        Ok(g.sample(&logits, 0.8, 0.9, &u, &out, SAMPLE_ROWS, VOCAB)?)
    })?;
    p.row(&format!("sampling_b{SAMPLE_ROWS}"), ms, 2.0 * n as f64);
    Ok(())
}
