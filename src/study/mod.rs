//! `sectune study`: the study's grid from one TOML config (docs/study.md), resumable, with a
//! summary and the report over every finished cell.

pub mod cli;
pub mod config;
pub mod run;
