//! Changed line numbers from a unified diff (or from two texts), on both sides of a fix.
//!
//! A run of consecutive `+`/`-` lines is one change. On the new side it marks its added lines;
//! a pure deletion marks the new-file line where it lands (the line right after the removed
//! text, or the last line when it removed the end of the file). The old side is symmetric.

use std::collections::BTreeSet;

/// Changed lines, 1-based, sorted and unique. Landing lines may exceed the file length by one
/// (deletion at the end); [`ChangedLines::clamped`] fixes that once the text is known.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ChangedLines {
    pub new: Vec<u32>,
    pub old: Vec<u32>,
}

impl ChangedLines {
    /// Lines of one side limited to `1..=line_count` (landings past the end move to the end).
    pub fn clamped(lines: &[u32], line_count: u32) -> Vec<u32> {
        let set: BTreeSet<u32> = lines
            .iter()
            .filter(|_| line_count > 0)
            .map(|&l| l.clamp(1, line_count))
            .collect();
        set.into_iter().collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line} of the diff: {reason}")]
pub struct DiffError {
    pub line: usize,
    pub reason: String,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Context,
    Add,
    Del,
}

/// Accumulates one change group at a time and records it when a context line ends it.
#[derive(Default)]
struct Groups {
    new: BTreeSet<u32>,
    old: BTreeSet<u32>,
    added: Vec<u32>,
    deleted: Vec<u32>,
    // Where the open group sits on each side (the next line number there).
    new_at: u32,
    old_at: u32,
    open: bool,
}

impl Groups {
    fn push(&mut self, op: Op, old_line: u32, new_line: u32) {
        match op {
            Op::Context => self.close(),
            Op::Add | Op::Del => {
                if !self.open {
                    self.open = true;
                    self.old_at = old_line;
                    self.new_at = new_line;
                }
                if op == Op::Add {
                    self.added.push(new_line);
                } else {
                    self.deleted.push(old_line);
                }
            }
        }
    }

    fn close(&mut self) {
        if !self.open {
            return;
        }
        self.open = false;
        if self.added.is_empty() {
            self.new.insert(self.new_at); // the new line the deletion lands on
        }
        if self.deleted.is_empty() {
            self.old.insert(self.old_at);
        }
        self.new.extend(self.added.drain(..));
        self.old.extend(self.deleted.drain(..));
    }

    fn finish(mut self) -> ChangedLines {
        self.close();
        ChangedLines {
            new: self.new.into_iter().collect(),
            old: self.old.into_iter().collect(),
        }
    }
}

/// Parse the hunks of a unified diff (one file, or several: headers between hunks are skipped).
/// Text outside hunks is ignored; a malformed `@@` header or a hunk cut short is an error.
pub fn parse_unified(diff: &str) -> Result<ChangedLines, DiffError> {
    let mut groups = Groups::default();
    let (mut old_left, mut new_left) = (0u32, 0u32);
    let (mut old_line, mut new_line) = (0u32, 0u32);
    for (idx, raw) in diff.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if old_left == 0 && new_left == 0 {
            groups.close();
            if line.starts_with("@@") {
                let h = parse_hunk_header(line).ok_or_else(|| DiffError {
                    line: idx + 1,
                    reason: format!("bad hunk header `{}`", truncate(line)),
                })?;
                (old_line, old_left) = (h.0.max(1), h.1);
                (new_line, new_left) = (h.2.max(1), h.3);
                // A side with count 0 names the line *before* the hunk.
                if h.1 == 0 {
                    old_line = h.0 + 1;
                }
                if h.3 == 0 {
                    new_line = h.2 + 1;
                }
            }
            continue;
        }
        let op = match line.as_bytes().first() {
            Some(b'+') => Op::Add,
            Some(b'-') => Op::Del,
            Some(b' ') | None => Op::Context, // some tools strip the space of empty context lines
            Some(b'\\') => continue,          // "\ No newline at end of file"
            Some(_) => {
                return Err(DiffError {
                    line: idx + 1,
                    reason: format!("unexpected line inside a hunk `{}`", truncate(line)),
                })
            }
        };
        let short = |left: u32| -> Result<(), DiffError> {
            if left == 0 {
                Err(DiffError {
                    line: idx + 1,
                    reason: "hunk longer than its header says".into(),
                })
            } else {
                Ok(())
            }
        };
        groups.push(op, old_line, new_line);
        match op {
            Op::Add => {
                short(new_left)?;
                new_left -= 1;
                new_line += 1;
            }
            Op::Del => {
                short(old_left)?;
                old_left -= 1;
                old_line += 1;
            }
            Op::Context => {
                short(old_left.min(new_left))?;
                old_left -= 1;
                new_left -= 1;
                old_line += 1;
                new_line += 1;
            }
        }
    }
    if old_left != 0 || new_left != 0 {
        return Err(DiffError {
            line: diff.lines().count(),
            reason: "diff ends inside a hunk".into(),
        });
    }
    Ok(groups.finish())
}

/// `@@ -a[,b] +c[,d] @@ ...` -> (a, b, c, d); omitted counts are 1.
fn parse_hunk_header(line: &str) -> Option<(u32, u32, u32, u32)> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(u32, u32)> {
        match r.split_once(',') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

fn truncate(s: &str) -> &str {
    match s.char_indices().nth(60) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

/// Line diff of two texts (longest common subsequence after trimming the common prefix and
/// suffix). Past `max_cells` of DP table the middle is marked changed wholesale: coarser, never
/// wrong about which lines are untouched outside it.
pub fn diff_texts(before: &str, after: &str, max_cells: usize) -> ChangedLines {
    let a: Vec<&str> = before.lines().collect();
    let b: Vec<&str> = after.lines().collect();
    let prefix = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut groups = Groups::default();
    let base = prefix as u32 + 1;
    let ops = if am.len().saturating_mul(bm.len()) <= max_cells {
        lcs_ops(am, bm)
    } else {
        let mut ops = vec![Op::Del; am.len()];
        ops.extend(std::iter::repeat_n(Op::Add, bm.len()));
        ops
    };
    let (mut old_line, mut new_line) = (base, base);
    for op in ops {
        groups.push(op, old_line, new_line);
        match op {
            Op::Add => new_line += 1,
            Op::Del => old_line += 1,
            Op::Context => {
                old_line += 1;
                new_line += 1;
            }
        }
    }
    groups.finish()
}

fn lcs_ops(a: &[&str], b: &[&str]) -> Vec<Op> {
    let (n, m) = (a.len(), b.len());
    // table[i][j] = LCS length of a[i..] and b[j..]
    let mut table = vec![0u32; (n + 1) * (m + 1)];
    let at = |i: usize, j: usize| i * (m + 1) + j;
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            table[at(i, j)] = if a[i] == b[j] {
                table[at(i + 1, j + 1)] + 1
            } else {
                table[at(i + 1, j)].max(table[at(i, j + 1)])
            };
        }
    }
    let (mut i, mut j, mut ops) = (0, 0, Vec::with_capacity(n + m));
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push(Op::Context);
            i += 1;
            j += 1;
        } else if j < m && (i == n || table[at(i, j + 1)] >= table[at(i + 1, j)]) {
            ops.push(Op::Add);
            j += 1;
        } else {
            ops.push(Op::Del);
            i += 1;
        }
    }
    // Put deletions before additions inside a group, as unified diffs do.
    normalize_groups(ops)
}

fn normalize_groups(ops: Vec<Op>) -> Vec<Op> {
    let mut out = Vec::with_capacity(ops.len());
    let mut i = 0;
    while i < ops.len() {
        if ops[i] == Op::Context {
            out.push(Op::Context);
            i += 1;
            continue;
        }
        let end = ops[i..]
            .iter()
            .position(|&o| o == Op::Context)
            .map_or(ops.len(), |p| i + p);
        let dels = ops[i..end].iter().filter(|&&o| o == Op::Del).count();
        out.extend(std::iter::repeat_n(Op::Del, dels));
        out.extend(std::iter::repeat_n(Op::Add, end - i - dels));
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacement_marks_added_lines_and_deleted_lines() {
        let d = "@@ -1,4 +1,4 @@\n a\n-b\n+B\n c\n d\n";
        let c = parse_unified(d).unwrap();
        assert_eq!(c.new, vec![2]);
        assert_eq!(c.old, vec![2]);
    }

    #[test]
    fn pure_deletion_lands_on_next_new_line() {
        // old: a b c d ; new: a d  -> deletion of b,c lands on new line 2 ("d").
        let d = "@@ -1,4 +1,2 @@\n a\n-b\n-c\n d\n";
        let c = parse_unified(d).unwrap();
        assert_eq!(c.new, vec![2]);
        assert_eq!(c.old, vec![2, 3]);
    }

    #[test]
    fn pure_addition_lands_on_old_side_and_counts_zero_header() {
        let d = "@@ -3,0 +4,2 @@\n+x\n+y\n";
        let c = parse_unified(d).unwrap();
        assert_eq!(c.new, vec![4, 5]);
        assert_eq!(c.old, vec![4]);
    }

    #[test]
    fn deletion_at_end_is_clamped_to_last_line() {
        let d = "@@ -2,2 +2,1 @@\n b\n-c\n";
        let c = parse_unified(d).unwrap();
        assert_eq!(c.new, vec![3]);
        assert_eq!(ChangedLines::clamped(&c.new, 2), vec![2]);
    }

    #[test]
    fn headers_between_files_and_no_newline_marker_are_skipped() {
        let d = "diff --git a/x.c b/x.c\n--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n";
        assert_eq!(parse_unified(d).unwrap().new, vec![1]);
    }

    #[test]
    fn malformed_diffs_are_errors() {
        assert!(parse_unified("@@ -x +1 @@\n").is_err());
        assert!(parse_unified("@@ -1,3 +1,3 @@\n a\n").is_err());
        assert!(parse_unified("@@ -1,1 +1,1 @@\n a\n b\n c\n").is_ok()); // trailing text after the hunk
        assert!(parse_unified("@@ -1,2 +1,2 @@\n a\n?b\n").is_err());
    }

    #[test]
    fn text_diff_matches_unified_semantics() {
        let before = "a\nb\nc\nd\n";
        let after = "a\nB\nc\nd\ne\n";
        let c = diff_texts(before, after, 1 << 20);
        assert_eq!(c.new, vec![2, 5]);
        assert_eq!(c.old, vec![2, 5]);
        let del = diff_texts("a\nb\nc\n", "a\nc\n", 1 << 20);
        assert_eq!(del.new, vec![2]);
        assert_eq!(del.old, vec![2]);
    }

    #[test]
    fn text_diff_over_budget_marks_middle() {
        let c = diff_texts("a\nx\ny\nz\n", "a\np\ny\nz\n", 0);
        assert_eq!(c.new, vec![2]);
    }
}
