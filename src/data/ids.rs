//! Identifiers shared by every source: commit SHAs, CVE/CWE ids, languages by file extension.

use super::Lang;

/// Lower-cased SHA if `raw` is 7..=64 hex digits (abbreviated or full; SHA-1 or SHA-256).
pub fn normalize_commit(raw: &str) -> Option<String> {
    let sha = raw.trim();
    let ok = (7..=64).contains(&sha.len()) && sha.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then(|| sha.to_ascii_lowercase())
}

/// `119`, `cwe-119`, `CWE-119` -> `CWE-119`; NVD pseudo ids are kept verbatim.
pub fn normalize_cwe(raw: &str) -> Option<String> {
    let s = raw.trim();
    if s.is_empty() || is_missing(s) {
        return None;
    }
    if s.starts_with("NVD-CWE-") {
        return Some(s.to_string());
    }
    let digits = s
        .strip_prefix("CWE-")
        .or_else(|| s.strip_prefix("cwe-"))
        .unwrap_or(s);
    let digits = digits.trim_start_matches('0');
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("CWE-{digits}"))
    } else {
        None
    }
}

/// CVEfixes writes missing values as Python's `str(None)` / `str(nan)`; BigVul CSVs as empty/NaN.
pub fn is_missing(s: &str) -> bool {
    matches!(s.trim(), "" | "None" | "nan" | "NaN" | "null")
}

/// Every `CVE-YYYY-NNNN` token in free text (commit messages), in order, without repeats.
pub fn scan_cve_ids(text: &str) -> Vec<String> {
    scan(text, "CVE-", |rest| {
        let year: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        if year.len() != 4 || !rest[4..].starts_with('-') {
            return None;
        }
        let num: String = rest[5..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        (num.len() >= 4).then(|| format!("CVE-{year}-{num}"))
    })
}

/// Every `CWE-N` token in free text, normalized, in order, without repeats.
pub fn scan_cwe_ids(text: &str) -> Vec<String> {
    scan(text, "CWE-", |rest| {
        let num: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
        normalize_cwe(&num)
    })
}

fn scan(text: &str, prefix: &str, parse: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let upper = text.to_ascii_uppercase();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(pos) = upper[from..].find(prefix) {
        let start = from + pos + prefix.len();
        let boundary = from + pos == 0 || !upper.as_bytes()[from + pos - 1].is_ascii_alphanumeric();
        if boundary {
            if let Some(id) = parse(&upper[start..]) {
                if !found.contains(&id) {
                    found.push(id);
                }
            }
        }
        from = start;
    }
    found
}

/// Language from a file name; `.h` is ambiguous and takes `hint` (a source's language field).
pub fn lang_of_path(path: &str, hint: Option<Lang>) -> Option<Lang> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e)?;
    match ext {
        "c" => Some(Lang::C),
        "h" => Some(hint.unwrap_or(Lang::C)),
        "C" | "cc" | "cpp" | "cxx" | "c++" | "hh" | "hpp" | "hxx" | "h++" | "ipp" | "tcc"
        | "inl" => Some(Lang::Cpp),
        _ => None,
    }
}

/// Language from a dataset's language column (`C`, `C++`, `cpp`).
pub fn lang_of_field(field: &str) -> Option<Lang> {
    match field.trim().to_ascii_lowercase().as_str() {
        "c" => Some(Lang::C),
        "c++" | "cpp" | "cxx" => Some(Lang::Cpp),
        _ => None,
    }
}

/// `https://github.com/o/r/commit/<sha>` -> `https://github.com/o/r`.
pub fn repository_of_commit_url(url: &str) -> Option<String> {
    let url = url.trim();
    let cut = url.find("/commit/").or_else(|| url.find("/+/"))?;
    Some(url[..cut].trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_are_hex_and_lowercased() {
        assert_eq!(normalize_commit(" ABCDEF1 ").as_deref(), Some("abcdef1"));
        assert_eq!(normalize_commit("abc123"), None);
        assert_eq!(normalize_commit("None"), None);
        assert_eq!(normalize_commit("abcdefg"), None);
    }

    #[test]
    fn cwe_forms_normalize() {
        assert_eq!(normalize_cwe("119").as_deref(), Some("CWE-119"));
        assert_eq!(normalize_cwe("cwe-020").as_deref(), Some("CWE-20"));
        assert_eq!(
            normalize_cwe("NVD-CWE-Other").as_deref(),
            Some("NVD-CWE-Other")
        );
        assert_eq!(normalize_cwe("nan"), None);
        assert_eq!(normalize_cwe("CWE-x"), None);
    }

    #[test]
    fn scans_ids_in_messages() {
        let msg =
            "Fix overflow (CVE-2020-1234, cve-2021-99999); see CWE-787 and CWE-787. XCVE-2000-1111";
        assert_eq!(scan_cve_ids(msg), vec!["CVE-2020-1234", "CVE-2021-99999"]);
        assert_eq!(scan_cwe_ids(msg), vec!["CWE-787"]);
        assert!(scan_cve_ids("CVE-20-1 CVE-").is_empty());
    }

    #[test]
    fn languages_by_extension() {
        assert_eq!(lang_of_path("a/b.c", None), Some(Lang::C));
        assert_eq!(lang_of_path("x.h", Some(Lang::Cpp)), Some(Lang::Cpp));
        assert_eq!(lang_of_path("x.cc", None), Some(Lang::Cpp));
        assert_eq!(lang_of_path("Makefile", Some(Lang::C)), None);
        assert_eq!(lang_of_path("x.py", None), None);
    }

    #[test]
    fn repository_from_commit_link() {
        assert_eq!(
            repository_of_commit_url("https://github.com/o/r/commit/abc").as_deref(),
            Some("https://github.com/o/r")
        );
        assert_eq!(repository_of_commit_url("nope"), None);
    }
}
