//! De-duplication of commits across sources: the first source (in the order cvefixes, bigvul,
//! jsonl, git) to deliver a commit owns it; later sources' rows for it are dropped. An
//! abbreviated SHA matches any full SHA it is a prefix of, both ways.

use std::collections::BTreeMap;

use super::SourceKind;

/// Shortest abbreviation git prints; shorter hex strings are not treated as commit ids.
const MIN_PREFIX: usize = 7;

#[derive(Default)]
pub struct CommitClaims {
    owner: BTreeMap<String, SourceKind>,
}

impl CommitClaims {
    /// The source that already owns `commit` (normalized, lower-case hex), if it is another one
    /// than `source`; otherwise records `source` as owner and returns `None`.
    pub fn claim(&mut self, commit: &str, source: SourceKind) -> Option<SourceKind> {
        match self.owner_of(commit) {
            Some(owner) if owner != source => Some(owner),
            Some(_) => None,
            None => {
                self.owner.insert(commit.to_string(), source);
                None
            }
        }
    }

    fn owner_of(&self, commit: &str) -> Option<SourceKind> {
        if let Some(&owner) = self.owner.get(commit) {
            return Some(owner);
        }
        // A longer claimed SHA that starts with `commit`.
        if let Some((key, &owner)) = self.owner.range(commit.to_string()..).next() {
            if key.starts_with(commit) {
                return Some(owner);
            }
        }
        // A shorter claimed SHA that `commit` starts with.
        (MIN_PREFIX..commit.len())
            .find_map(|len| commit.get(..len).and_then(|p| self.owner.get(p)).copied())
    }

    pub fn len(&self) -> usize {
        self.owner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.owner.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn same_source_keeps_claiming_and_later_sources_lose() {
        let mut c = CommitClaims::default();
        assert_eq!(c.claim(FULL, SourceKind::Cvefixes), None);
        assert_eq!(c.claim(FULL, SourceKind::Cvefixes), None);
        assert_eq!(
            c.claim(FULL, SourceKind::Bigvul),
            Some(SourceKind::Cvefixes)
        );
    }

    #[test]
    fn abbreviated_matches_full_both_ways() {
        let mut c = CommitClaims::default();
        c.claim(FULL, SourceKind::Cvefixes);
        assert_eq!(
            c.claim("0123456789ab", SourceKind::Git),
            Some(SourceKind::Cvefixes)
        );
        let mut d = CommitClaims::default();
        d.claim("0123456", SourceKind::Bigvul);
        assert_eq!(d.claim(FULL, SourceKind::Jsonl), Some(SourceKind::Bigvul));
        assert_eq!(d.claim("0123457", SourceKind::Jsonl), None);
    }
}
