//! `sectune kernels`: the ptxas report embedded by build.rs (registers, shared memory, spills per
//! kernel and arch), as a table or JSON.

use std::fmt::Write as _;

use anyhow::{bail, Result};
use serde::Serialize;

use super::kernels::{KernelModule, ARCHS, KERNELS_BUILT, NVCC_PATH, NVCC_VERSION, PTXAS_REPORT};

/// Modules whose kernels must not spill: they carry the training step's time.
pub const HOT_MODULES: &[&str] = &[
    "lora_matmul",
    "attention",
    "attention_tc",
    "attention_wg",
    "cross_entropy",
    "adamw",
    "quant_dequant",
    "quant_tc",
    "gemm_wgmma",
    "gemm_tma",
    "quant_wgmma",
    "quant_tma",
];

/// One kernel compiled for one arch, as `ptxas -v` described it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelReport {
    pub module: String,
    pub kernel: String,
    pub arch: String,
    pub registers: u32,
    pub smem_bytes: u64,
    pub stack_bytes: u64,
    pub spill_stores: u64,
    pub spill_loads: u64,
}

impl KernelReport {
    pub fn spills(&self) -> bool {
        self.spill_stores > 0 || self.spill_loads > 0
    }
}

/// Parses the TSV that build.rs writes (header line, then one row per kernel and arch).
pub fn parse_report(tsv: &str) -> Result<Vec<KernelReport>> {
    let mut rows = Vec::new();
    for (i, line) in tsv.lines().enumerate().skip(1) {
        let f: Vec<&str> = line.split('\t').collect();
        let [module, kernel, arch, regs, smem, stack, stores, loads] = f.as_slice() else {
            bail!(
                "ptxas report line {}: expected 8 tab-separated fields, got {}",
                i + 1,
                f.len()
            );
        };
        let num = |s: &str| -> Result<u64> {
            s.parse()
                .map_err(|_| anyhow::anyhow!("ptxas report line {}: `{s}` is not a number", i + 1))
        };
        rows.push(KernelReport {
            module: module.to_string(),
            kernel: kernel.to_string(),
            arch: arch.to_string(),
            registers: u32::try_from(num(regs)?)?,
            smem_bytes: num(smem)?,
            stack_bytes: num(stack)?,
            spill_stores: num(stores)?,
            spill_loads: num(loads)?,
        });
    }
    Ok(rows)
}

/// The report embedded in this binary (empty when it has no kernels), sorted by module, kernel, arch.
pub fn embedded_report() -> Result<Vec<KernelReport>> {
    let mut rows = parse_report(PTXAS_REPORT)?;
    rows.sort_by(|a, b| (&a.module, &a.kernel, &a.arch).cmp(&(&b.module, &b.kernel, &b.arch)));
    Ok(rows)
}

/// Arguments of `sectune kernels`.
#[derive(clap::Args, Debug)]
pub struct KernelsArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct JsonOut<'a> {
    kernels_built: bool,
    nvcc: &'a str,
    nvcc_version: &'a str,
    archs: &'a [&'a str],
    modules: Vec<&'static str>,
    kernels: Vec<KernelReport>,
}

pub fn run(args: KernelsArgs) -> Result<()> {
    let rows = embedded_report()?;
    if args.json {
        let out = JsonOut {
            kernels_built: KERNELS_BUILT,
            nvcc: NVCC_PATH,
            nvcc_version: NVCC_VERSION,
            archs: ARCHS,
            modules: KernelModule::ALL.iter().map(|m| m.name()).collect(),
            kernels: rows,
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if !KERNELS_BUILT {
        println!("no CUDA kernels in this binary: {}", super::NO_KERNELS_FIX);
        return Ok(());
    }
    print!("{}", render_table(&rows));
    Ok(())
}

/// A fixed-width table, one line per kernel and arch, hot kernels that spill marked `SPILLS`.
pub fn render_table(rows: &[KernelReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "nvcc: {NVCC_PATH} ({NVCC_VERSION}); SASS for {}",
        ARCHS.join(", ")
    );
    let width = rows
        .iter()
        .map(|r| r.kernel.len())
        .max()
        .unwrap_or(6)
        .max(6);
    let _ = writeln!(
        s,
        "{:<14} {:<width$} {:<6} {:>4} {:>7} {:>6} {:>12}",
        "module", "kernel", "arch", "regs", "smem", "stack", "spill st/ld"
    );
    for r in rows {
        let flag = if r.spills() && HOT_MODULES.contains(&r.module.as_str()) {
            "  SPILLS"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "{:<14} {:<width$} {:<6} {:>4} {:>7} {:>6} {:>6}/{:<5}{flag}",
            r.module,
            r.kernel,
            r.arch,
            r.registers,
            r.smem_bytes,
            r.stack_bytes,
            r.spill_stores,
            r.spill_loads
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows_and_flags_spills() {
        let tsv =
            "module\tkernel\tarch\tregisters\tsmem_bytes\tstack_bytes\tspill_stores\tspill_loads\n\
                   adamw\tadamw_fwd_f32\tsm_80\t32\t0\t0\t0\t0\n\
                   attention\tattention_fwd_bf16\tsm_86\t255\t32768\t8\t4\t8\n";
        let rows = parse_report(tsv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].registers, 255);
        assert_eq!(rows[1].smem_bytes, 32768);
        assert!(!rows[0].spills());
        assert!(rows[1].spills());
        assert!(render_table(&rows).contains("SPILLS"));
    }

    #[test]
    fn rejects_a_short_line() {
        let err = parse_report("header\nadamw\tk\tsm_80\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }
}
