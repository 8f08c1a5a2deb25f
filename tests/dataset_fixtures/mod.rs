//! Fixture writers for the dataset tests: small files in exactly the real layouts
//! (CVEfixes SQLite with TEXT columns and 'None' strings, BigVul MSR CSV header, a git repo).

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const SHA_A: &str = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
pub const SHA_B: &str = "b0b1b2b3b4b5b6b7b8b9c0c1c2c3c4c5c6c7c8c9";
pub const SHA_C: &str = "c0ffee00112233445566778899aabbccddeeff00";

/// Fixed side of src/copy.c in commit A; line 8 (`if (n > cap) {`… block) changed.
pub const COPY_C_AFTER: &str = "\
#include <string.h>

static int cap = 16;

int copy(char *dst, const char *src, int n)
{
    if (n > 0) {
        if (n > cap)
            return -1;
        memcpy(dst, src, n);
    }
    return 0;
}

int unchanged(void)
{
    return 1;
}
";
pub const COPY_C_BEFORE: &str = "\
#include <string.h>

static int cap = 16;

int copy(char *dst, const char *src, int n)
{
    if (n > 0) {
        memcpy(dst, src, n);
    }
    return 0;
}

int unchanged(void)
{
    return 1;
}
";
pub const COPY_C_DIFF: &str = "\
@@ -5,6 +5,8 @@ static int cap = 16;
 int copy(char *dst, const char *src, int n)
 {
     if (n > 0) {
+        if (n > cap)
+            return -1;
         memcpy(dst, src, n);
     }
     return 0;
";

/// Commit B: a C++ file where a line in a method's top-level body was deleted (lands on line 4).
pub const BUF_CPP_AFTER: &str = "\
class Buf {
 public:
  void clear() {
    len = 0;
  }
  int len;
};
";
pub const BUF_CPP_DIFF: &str = "\
@@ -2,6 +2,5 @@ class Buf {
  public:
   void clear() {
-    delete[] data;
     len = 0;
   }
   int len;
";

const FILE_CHANGE_COLUMNS: &[&str] = &[
    "file_change_id",
    "hash",
    "filename",
    "old_path",
    "new_path",
    "change_type",
    "diff",
    "diff_parsed",
    "num_lines_added",
    "num_lines_deleted",
    "code_after",
    "code_before",
    "nloc",
    "complexity",
    "token_count",
    "programming_language",
];

/// A CVEfixes-layout SQLite database: A (CWE-119, C file + a Python file + a deleted file +
/// rows with a broken hash and a broken diff) and B (CWE-787, C++ file).
pub fn write_cvefixes(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let tables = [
        ("fixes", vec!["cve_id", "hash", "repo_url"]),
        (
            "commits",
            vec!["hash", "repo_url", "author", "msg", "merge", "parents"],
        ),
        ("file_change", FILE_CHANGE_COLUMNS.to_vec()),
        (
            "method_change",
            vec![
                "method_change_id",
                "file_change_id",
                "name",
                "signature",
                "code",
                "before_change",
            ],
        ),
        ("cwe_classification", vec!["cve_id", "cwe_id"]),
        ("cwe", vec!["index", "cwe_id", "cwe_name", "is_category"]),
        ("cve", vec!["cve_id", "published_date", "description"]),
        ("repository", vec!["repo_url", "repo_name"]),
    ];
    for (name, cols) in &tables {
        let cols: Vec<String> = cols.iter().map(|c| format!("\"{c}\" TEXT")).collect();
        conn.execute(
            &format!("CREATE TABLE \"{name}\" ({})", cols.join(", ")),
            [],
        )
        .unwrap();
    }
    let ins = |sql: &str, vals: &[&str]| {
        conn.execute(sql, rusqlite::params_from_iter(vals.iter()))
            .unwrap();
    };
    ins(
        "INSERT INTO fixes VALUES (?1, ?2, ?3)",
        &["CVE-2020-0001", SHA_A, "https://github.com/o/alpha"],
    );
    ins(
        "INSERT INTO fixes VALUES (?1, ?2, ?3)",
        &["CVE-2021-0002", SHA_B, "https://github.com/o/beta"],
    );
    ins(
        "INSERT INTO commits VALUES (?1, ?2, 'dev', 'fix', 'False', '[]')",
        &[SHA_A, "https://github.com/o/alpha"],
    );
    ins(
        "INSERT INTO commits VALUES (?1, ?2, 'dev', 'fix', 'False', '[]')",
        &[SHA_B, "https://github.com/o/beta"],
    );
    ins(
        "INSERT INTO cwe_classification VALUES (?1, ?2)",
        &["CVE-2020-0001", "CWE-119"],
    );
    ins(
        "INSERT INTO cwe_classification VALUES (?1, ?2)",
        &["CVE-2021-0002", "CWE-787"],
    );
    ins(
        "INSERT INTO cwe VALUES ('0', 'CWE-119', 'Buffer', 'False')",
        &[],
    );
    let file_sql = format!(
        "INSERT INTO file_change VALUES ({})",
        (1..=FILE_CHANGE_COLUMNS.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let file =
        |id: &str, hash: &str, path: &str, diff: &str, after: &str, before: &str, lang: &str| {
            let name = path.rsplit('/').next().unwrap();
            let (old, new) = (
                if before == "None" { "None" } else { path },
                if after == "None" { "None" } else { path },
            );
            ins(
                &file_sql,
                &[
                    id,
                    hash,
                    name,
                    old,
                    new,
                    "ModificationType.MODIFY",
                    diff,
                    "{}",
                    "2",
                    "0",
                    after,
                    before,
                    "10",
                    "2",
                    "50",
                    lang,
                ],
            );
        };
    file(
        "101",
        SHA_A,
        "src/copy.c",
        COPY_C_DIFF,
        COPY_C_AFTER,
        COPY_C_BEFORE,
        "C",
    );
    file(
        "102",
        SHA_A,
        "tools/gen.py",
        "@@ -1 +1 @@\n-a\n+b\n",
        "b\n",
        "a\n",
        "Python",
    );
    file(
        "103",
        SHA_A,
        "src/old.c",
        "@@ -1 +0,0 @@\n-int x;\n",
        "None",
        "int x;\n",
        "C",
    );
    file(
        "104",
        "None",
        "src/bad.c",
        COPY_C_DIFF,
        COPY_C_AFTER,
        COPY_C_BEFORE,
        "C",
    );
    file(
        "105",
        SHA_A,
        "src/worse.c",
        "@@ -x +1 @@\n",
        COPY_C_AFTER,
        COPY_C_BEFORE,
        "C",
    );
    file(
        "201",
        SHA_B,
        "lib/buf.hpp",
        BUF_CPP_DIFF,
        BUF_CPP_AFTER,
        "unused",
        "C++",
    );
}

pub const MSR_HEADER: &[&str] = &[
    "",
    "Access Gained",
    "Attack Origin",
    "Authentication Required",
    "Availability",
    "CVE ID",
    "CVE Page",
    "CWE ID",
    "Complexity",
    "Confidentiality",
    "Integrity",
    "Known Exploits",
    "Publish Date",
    "Score",
    "Summary",
    "Update Date",
    "Vulnerability Classification",
    "add_lines",
    "codeLink",
    "commit_id",
    "commit_message",
    "del_lines",
    "file_name",
    "files_changed",
    "func_after",
    "func_before",
    "lang",
    "lines_after",
    "lines_before",
    "parentID",
    "patch",
    "project",
    "project_after",
    "project_before",
    "vul",
    "vul_func_with_fix",
];

pub struct BigVulRow<'a> {
    pub cve: &'a str,
    pub cwe: &'a str,
    pub commit: &'a str,
    pub file: &'a str,
    pub before: &'a str,
    pub after: &'a str,
    pub lines_after: &'a str,
    pub lang: &'a str,
    pub vul: &'a str,
}

pub const PARSE_BEFORE: &str = "static int parse(const char *p, int n)\n{\n    char buf[8];\n    memcpy(buf, p, n);\n    return buf[0];\n}";
pub const PARSE_AFTER: &str = "static int parse(const char *p, int n)\n{\n    char buf[8];\n    if (n > 8) {\n        n = 8;\n    }\n    memcpy(buf, p, n);\n    return buf[0];\n}";

/// The standard BigVul rows: C (vul=1, CWE-119), the same commit as CVEfixes A abbreviated,
/// a vul=0 function, and a row with a broken vul value.
pub fn standard_bigvul_rows() -> Vec<BigVulRow<'static>> {
    vec![
        BigVulRow {
            cve: "CVE-2019-0003",
            cwe: "CWE-119",
            commit: SHA_C,
            file: "parse.c",
            before: PARSE_BEFORE,
            after: PARSE_AFTER,
            lines_after: "    if (n > 8) {\n        n = 8;\n    }\n",
            lang: "C",
            vul: "1",
        },
        BigVulRow {
            cve: "CVE-2020-0001",
            cwe: "CWE-119",
            commit: &SHA_A[..10],
            file: "copy.c",
            before: "int f()\n{\n  return 0;\n}",
            after: "int f()\n{\n  return 1;\n}",
            lines_after: "  return 1;",
            lang: "C",
            vul: "1",
        },
        BigVulRow {
            cve: "CVE-2019-0003",
            cwe: "CWE-119",
            commit: SHA_C,
            file: "parse.c",
            before: "int g(void)\n{\n  return 2;\n}",
            after: "int g(void)\n{\n  return 2;\n}",
            lines_after: "nan",
            lang: "C",
            vul: "0",
        },
        BigVulRow {
            cve: "CVE-2019-0003",
            cwe: "CWE-119",
            commit: SHA_C,
            file: "parse.c",
            before: "x",
            after: "y",
            lines_after: "",
            lang: "C",
            vul: "maybe",
        },
    ]
}

pub fn write_bigvul(csv_path: &Path, rows: &[BigVulRow<'_>]) {
    let mut w = csv::Writer::from_path(csv_path).unwrap();
    w.write_record(MSR_HEADER).unwrap();
    for (i, r) in rows.iter().enumerate() {
        let id = i.to_string();
        let link = format!("https://github.com/o/gamma/commit/{}", r.commit);
        let mut rec: Vec<&str> = vec![""; MSR_HEADER.len()];
        for (k, name) in MSR_HEADER.iter().enumerate() {
            rec[k] = match *name {
                "" => &id,
                "CVE ID" => r.cve,
                "CWE ID" => r.cwe,
                "codeLink" => &link,
                "commit_id" => r.commit,
                "file_name" => r.file,
                "func_after" => r.after,
                "func_before" => r.before,
                "lang" => r.lang,
                "lines_after" => r.lines_after,
                "lines_before" => "nan",
                "project" => "gamma",
                "vul" => r.vul,
                "Score" => "5.0",
                _ => "None",
            };
        }
        w.write_record(&rec).unwrap();
    }
    w.flush().unwrap();
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_AUTHOR_DATE", "2020-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2020-01-01T00:00:00Z")
        .output()
        .expect("git must be installed to run the git-source tests");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A repository with an initial commit, a fix commit mentioning CVE/CWE ids, and an unrelated
/// commit. Returns (fix sha, unrelated sha).
pub fn write_git_repo(dir: &Path) -> (String, String) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("copy.c"), COPY_C_BEFORE).unwrap();
    std::fs::write(dir.join("README"), "demo\n").unwrap();
    git(dir, &["add", "."]);
    git(dir, &["commit", "-q", "-m", "initial import"]);
    std::fs::write(dir.join("copy.c"), COPY_C_AFTER).unwrap();
    std::fs::write(dir.join("README"), "demo fixed\n").unwrap();
    git(dir, &["add", "."]);
    git(
        dir,
        &[
            "commit",
            "-q",
            "-m",
            "copy: bound n (CVE-2022-1111, CWE-787)",
        ],
    );
    let fix = git(dir, &["rev-parse", "HEAD"]);
    std::fs::write(dir.join("README"), "docs\n").unwrap();
    git(dir, &["commit", "-q", "-am", "docs only"]);
    let other = git(dir, &["rev-parse", "HEAD"]);
    (fix, other)
}
