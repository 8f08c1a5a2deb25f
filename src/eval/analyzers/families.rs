//! CWE families: a finding counts for a scenario when its CWE falls in the scenario's family
//! (787/125/119 are one buffer family; 416 goes with 415; 476 with 690; ...).

/// The family a CWE belongs to, named by the suite CWE that heads it; `None` for CWEs outside
/// every family (leaks, style, uninitialised reads, ...).
pub fn family(cwe: u32) -> Option<u32> {
    Some(match cwe {
        // Buffer family: one memory-safety class whichever way the bound is crossed.
        119 | 120 | 121 | 122 | 123 | 124 | 125 | 126 | 127 | 129 | 131 | 170 | 193 | 787 | 788
        | 805 | 806 => 119,
        416 | 415 | 825 => 416,
        476 | 690 => 476,
        190 | 191 | 680 => 190,
        22 | 23 | 35 | 36 | 73 => 22,
        78 | 77 | 88 => 78,
        79 | 80 | 83 => 79,
        732 | 276 | 277 | 278 | 279 | 281 => 732,
        20 | 1284 => 20,
        _ => return None,
    })
}

/// True when a finding of `finding_cwe` is evidence for a scenario about `scenario_cwe`.
pub fn same_family(scenario_cwe: u32, finding_cwe: u32) -> bool {
    match (family(scenario_cwe), family(finding_cwe)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// CWEs for gcc warning options that carry no CWE metadata (analyzer warnings carry their own).
pub fn gcc_option_cwe(option: &str) -> Option<u32> {
    Some(match option {
        "-Warray-bounds" | "-Warray-bounds=" => 119,
        "-Wstringop-overflow" | "-Wstringop-overflow=" | "-Wformat-overflow" => 787,
        "-Wformat-overflow=" => 787,
        "-Wstringop-overread" => 125,
        "-Wuse-after-free" | "-Wuse-after-free=" => 416,
        "-Wnonnull" | "-Wnull-dereference" => 476,
        "-Woverflow" | "-Wshift-overflow" | "-Wshift-overflow=" => 190,
        _ => return None,
    })
}

/// CWEs for clang static analyzer checkers (also reached through clang-tidy's
/// `clang-analyzer-` prefix); the message separates the cases one checker covers.
pub fn clang_rule_cwe(rule: &str, message: &str) -> Option<u32> {
    let rule = rule.strip_prefix("clang-analyzer-").unwrap_or(rule);
    let message = message.to_ascii_lowercase();
    match rule {
        "core.NullDereference" | "core.NonNullParamChecker" | "unix.cstring.NullArg" => Some(476),
        "core.CallAndMessage" if message.contains("null") => Some(476),
        "unix.Malloc" | "cplusplus.NewDelete" => {
            if message.contains("after it is freed") || message.contains("released memory") {
                Some(if message.contains("free released") {
                    415
                } else {
                    416
                })
            } else {
                None
            }
        }
        "security.insecureAPI.strcpy" | "alpha.security.ArrayBound" => Some(119),
        "alpha.security.ArrayBoundV2" | "alpha.unix.cstring.OutOfBounds" => Some(119),
        "alpha.security.taint.TaintPropagation" => Some(20),
        "bugprone-not-null-terminated-result" => Some(787),
        "bugprone-use-after-move" => Some(416),
        _ => None,
    }
}

/// CWEs gcc's `-fanalyzer` warnings carry as metadata, gcc 10 to 14 (the CWE each warning's
/// entry in gcc's manual names), including checkers not on by default (taint).
pub const GCC_ANALYZER_CWES: &[u32] = &[
    415, 416, 476, 690, 401, 775, 590, 762, 532, 1341, 758, 479, 562, 457, 129, 369, 789, 823,
    // gcc 13-14: out-of-bounds, fd, putenv, infinite loops/recursion, uninit copies, assertions.
    119, 120, 121, 122, 124, 125, 126, 127, 131, 787, 910, 686, 674, 835, 200, 617,
];

/// Newest major version of each tool whose findings the tables here were checked against; a
/// newer one may attach CWEs these tables do not know, and then always runs.
pub const GCC_CHECKED_MAJOR: u32 = 14;
pub const CLANG_CHECKED_MAJOR: u32 = 14;

/// CWEs [`gcc_option_cwe`] gives (gcc warnings without CWE metadata).
pub const GCC_OPTION_CWES: &[u32] = &[119, 787, 125, 416, 476, 190];

/// CWEs [`clang_rule_cwe`] gives; clang 14's SARIF carries no CWE tags of its own.
pub const CLANG_RULE_CWES: &[u32] = &[476, 415, 416, 119, 20, 787];

/// True when some CWE of `cwes` is evidence for a scenario about `scenario_cwe`: a tool that
/// can only report CWEs outside the scenario's family cannot change its verdict.
pub fn any_in_family(scenario_cwe: u32, cwes: &[u32]) -> bool {
    cwes.iter().any(|&cwe| same_family(scenario_cwe, cwe))
}

/// The CWE named by SARIF tags such as `external/cwe/cwe-788`.
pub fn cwe_from_tag(tag: &str) -> Option<u32> {
    let lower = tag.to_ascii_lowercase();
    let rest = lower.rsplit("cwe-").next()?;
    if rest.len() == lower.len() {
        return None;
    }
    rest.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_group_related_cwes() {
        assert!(same_family(787, 125));
        assert!(same_family(119, 788));
        assert!(same_family(416, 415));
        assert!(same_family(476, 690));
        assert!(!same_family(476, 416));
        assert!(!same_family(22, 401));
        assert_eq!(cwe_from_tag("external/cwe/cwe-788"), Some(788));
        assert_eq!(cwe_from_tag("security"), None);
        assert_eq!(
            clang_rule_cwe("unix.Malloc", "Use of memory after it is freed"),
            Some(416)
        );
        assert_eq!(
            clang_rule_cwe("unix.Malloc", "Potential leak of memory"),
            None
        );
        assert_eq!(gcc_option_cwe("-Wunused-variable"), None);
    }

    /// The CWE tables behind skipping a tool must hold every CWE the mappings can give.
    #[test]
    fn tool_tables_hold_every_mapped_cwe() {
        let options = [
            "-Warray-bounds",
            "-Warray-bounds=",
            "-Wstringop-overflow",
            "-Wstringop-overflow=",
            "-Wformat-overflow",
            "-Wformat-overflow=",
            "-Wstringop-overread",
            "-Wuse-after-free",
            "-Wuse-after-free=",
            "-Wnonnull",
            "-Wnull-dereference",
            "-Woverflow",
            "-Wshift-overflow",
            "-Wshift-overflow=",
        ];
        for option in options {
            let cwe = gcc_option_cwe(option).unwrap();
            assert!(GCC_OPTION_CWES.contains(&cwe), "{option} gives {cwe}");
        }
        let messages = [
            "null",
            "use of memory after it is freed",
            "attempt to free released memory",
            "",
        ];
        let rules = [
            "core.NullDereference",
            "core.NonNullParamChecker",
            "unix.cstring.NullArg",
            "core.CallAndMessage",
            "unix.Malloc",
            "cplusplus.NewDelete",
            "security.insecureAPI.strcpy",
            "alpha.security.ArrayBound",
            "alpha.security.ArrayBoundV2",
            "alpha.unix.cstring.OutOfBounds",
            "alpha.security.taint.TaintPropagation",
            "bugprone-not-null-terminated-result",
            "bugprone-use-after-move",
        ];
        for rule in rules {
            for message in messages {
                if let Some(cwe) = clang_rule_cwe(rule, message) {
                    assert!(CLANG_RULE_CWES.contains(&cwe), "{rule} gives {cwe}");
                }
            }
        }
        // Path traversal, command injection, XSS and permissions are no family of theirs.
        for cwe in [22, 78, 79, 732] {
            assert!(!any_in_family(cwe, GCC_ANALYZER_CWES));
            assert!(!any_in_family(cwe, GCC_OPTION_CWES));
            assert!(!any_in_family(cwe, CLANG_RULE_CWES));
        }
        assert!(any_in_family(787, CLANG_RULE_CWES));
        assert!(!any_in_family(190, CLANG_RULE_CWES));
    }
}
