//! Evaluation: the sandbox, completion → program, validity, HumanEval-X pass@k, statistics,
//! and (elsewhere in this folder) the scenario suite and the vulnerability judge.

pub mod analyzers;
pub mod cli;
pub mod compare;
pub mod humaneval;
pub mod judge;
pub mod passk;
pub mod pch;
pub mod program;
pub mod sandbox;
pub mod scenario;
pub mod stats;
pub mod validity;
