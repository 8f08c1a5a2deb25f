//! Evaluation: the sandbox, completion → program, validity, HumanEval-X pass@k, statistics,
//! and (elsewhere in this folder) the scenario suite and the vulnerability judge.

pub mod analyzers;
pub mod cli;
pub mod judge;
pub mod sandbox;
pub mod scenario;
pub mod program;
pub mod passk;
pub mod stats;
pub mod humaneval;
pub mod validity;
