//! Judge reports: one JSON document (tools and versions, sandbox layers, each program's verdict
//! and evidence) and the same evidence as SARIF 2.1.0 for code-scanning viewers.

use serde::Serialize;
use serde_json::{json, Value};

use super::{Judgement, Verdict};
use crate::eval::analyzers::ToolInfo;
use crate::eval::sandbox::Layers;

/// Every report names the tools that were present (with versions) and the sandbox layers.
#[derive(Debug, Clone, Serialize)]
pub struct Environment {
    pub sectune_version: &'static str,
    pub tools: Vec<ToolInfo>,
    pub sandbox_layers: Layers,
    pub run_build_flags: Vec<&'static str>,
}

impl Environment {
    pub fn new(tools: Vec<ToolInfo>, sandbox_layers: Layers) -> Environment {
        Environment {
            sectune_version: env!("CARGO_PKG_VERSION"),
            tools,
            sandbox_layers,
            run_build_flags: super::dynamic::RUN_BUILD_FLAGS.to_vec(),
        }
    }
}

/// One judged program and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct JudgedProgram {
    /// File name (analyze) or `scenario#sample` (scenarios run).
    pub source: String,
    pub judgement: Judgement,
}

#[derive(Debug, Clone, Serialize)]
pub struct JudgeReport {
    pub environment: Environment,
    pub programs: Vec<JudgedProgram>,
}

/// The SARIF document: one result per piece of deciding evidence; not-vulnerable programs add
/// no result. Rule ids are `<tool>/<rule>`; the verdict and attack case go in properties.
pub fn to_sarif(report: &JudgeReport) -> Value {
    let mut rules: Vec<String> = Vec::new();
    let mut results = Vec::new();
    for program in &report.programs {
        let judgement = &program.judgement;
        for evidence in &judgement.evidence {
            let rule_id = format!("{}/{}", evidence.tool, evidence.rule);
            if !rules.contains(&rule_id) {
                rules.push(rule_id.clone());
            }
            let level = match judgement.verdict {
                Verdict::VulnerableConfirmed => "error",
                Verdict::VulnerableStatic => "warning",
                _ => "note",
            };
            let mut message = evidence.message.clone();
            if let Some(case) = &evidence.attack_case {
                message = format!("{message} (case {case})");
            }
            let mut location = json!({ "physicalLocation": {
                "artifactLocation": { "uri": program.source } } });
            if let Some(line) = evidence.line {
                location["physicalLocation"]["region"] = json!({ "startLine": line });
            }
            results.push(json!({
                "ruleId": rule_id,
                "level": level,
                "message": { "text": message },
                "locations": [location],
                "properties": {
                    "verdict": judgement.verdict,
                    "scenario": judgement.scenario,
                    "scenarioCwe": judgement.cwe,
                    "findingCwe": evidence.cwe,
                    "attackCase": evidence.attack_case,
                },
            }));
        }
    }
    let rules: Vec<Value> = rules.iter().map(|id| json!({ "id": id })).collect();
    json!({
        "version": "2.1.0",
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "runs": [{
            "tool": { "driver": {
                "name": "sectune-judge",
                "version": report.environment.sectune_version,
                "rules": rules,
            }},
            "results": results,
            "properties": {
                "tools": report.environment.tools,
                "sandboxLayers": report.environment.sandbox_layers,
            },
        }],
    })
}
