//! Reading SARIF 2.1 results (clang, cppcheck, CodeQL) into findings.

use std::collections::HashMap;

use serde_json::Value;

use super::families::cwe_from_tag;
use super::Finding;

/// Every result of every run; the CWE comes from the rule's tags or, failing that, `rule_cwe`.
pub fn findings(
    sarif: &str,
    tool: &str,
    rule_cwe: impl Fn(&str, &str) -> Option<u32>,
) -> Result<Vec<Finding>, String> {
    let doc: Value = serde_json::from_str(sarif).map_err(|e| format!("bad SARIF: {e}"))?;
    let mut out = Vec::new();
    for run in doc["runs"].as_array().into_iter().flatten() {
        let mut tag_cwe: HashMap<String, u32> = HashMap::new();
        for rule in run["tool"]["driver"]["rules"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let id = rule["id"].as_str().unwrap_or_default();
            let cwe = rule["properties"]["tags"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().and_then(cwe_from_tag))
                .next();
            if let Some(cwe) = cwe {
                tag_cwe.insert(id.to_string(), cwe);
            }
        }
        for result in run["results"].as_array().into_iter().flatten() {
            let rule = result["ruleId"].as_str().unwrap_or("unknown").to_string();
            let message = result["message"]["text"].as_str().unwrap_or("").to_string();
            let line = result["locations"][0]["physicalLocation"]["region"]["startLine"]
                .as_u64()
                .and_then(|l| u32::try_from(l).ok());
            let cwe = tag_cwe
                .get(&rule)
                .copied()
                .or_else(|| rule_cwe(&rule, &message));
            out.push(Finding {
                tool: tool.to_string(),
                rule,
                line,
                message,
                cwe,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rule_tags_and_locations() {
        let sarif = r#"{"runs":[{"tool":{"driver":{"name":"Cppcheck","rules":[
            {"id":"arrayIndexOutOfBounds","properties":{"tags":["external/cwe/cwe-788","security"]}}]}},
            "results":[{"ruleId":"arrayIndexOutOfBounds","message":{"text":"Array 'a[4]' accessed at index 4"},
            "locations":[{"physicalLocation":{"region":{"startLine":7}}}]},
            {"ruleId":"core.NullDereference","message":{"text":"Dereference of null pointer"},
            "locations":[{"physicalLocation":{"region":{"startLine":9}}}]}]}]}"#;
        let found = findings(sarif, "t", |rule, _| {
            (rule == "core.NullDereference").then_some(476)
        })
        .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].cwe, Some(788));
        assert_eq!(found[0].line, Some(7));
        assert_eq!(found[1].cwe, Some(476));
        assert!(findings("not json", "t", |_, _| None).is_err());
    }
}
