//! `sectune eval …`: the evaluation verbs and their handlers.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};

use crate::eval::sandbox::{RunSpec, Sandbox, SandboxConfig};

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(subcommand)]
    pub command: EvalCommand,
}

#[derive(Subcommand, Debug)]
pub enum EvalCommand {
    /// Show which sandbox layers are active here and measure the cost of one sandboxed run.
    Sandbox(SandboxCheckArgs),
}

#[derive(Args, Debug)]
pub struct SandboxCheckArgs {
    /// Runs of /bin/true to time.
    #[arg(long, default_value_t = 20)]
    pub runs: usize,
    /// Fail unless every isolation layer is active.
    #[arg(long)]
    pub strict: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    match args.command {
        EvalCommand::Sandbox(a) => sandbox_check(a),
    }
}

fn sandbox_check(args: SandboxCheckArgs) -> Result<()> {
    let config = SandboxConfig {
        require_full_isolation: args.strict,
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config).context("setting up the sandbox")?;
    let dir = sandbox.workdir().context("making a work folder")?;
    let spec = RunSpec::new(["true"]);
    let mut total = std::time::Duration::ZERO;
    for _ in 0..args.runs.max(1) {
        let out = sandbox
            .run(&dir, &spec)
            .context("running /bin/true in the sandbox")?;
        anyhow::ensure!(
            out.success(),
            "/bin/true failed in the sandbox: {:?}",
            out.exit
        );
        total += out.wall;
    }
    let per_run_ms = total.as_secs_f64() * 1e3 / args.runs.max(1) as f64;
    if args.json {
        let v = serde_json::json!({ "layers": sandbox.layers(), "per_run_ms": per_run_ms });
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("layers: {}", sandbox.layers().summary());
        println!("per run of /bin/true: {per_run_ms:.1} ms");
    }
    Ok(())
}
