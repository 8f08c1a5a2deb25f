//! Extraction speed of `sectune dataset build` on generated C files (target: ≥ 1,000 files/s
//! per core). Prints files/s for the tree-sitter cut alone and for the whole single-threaded
//! build (diff, cut, JSONL writing, split) from a JSONL source.
//! Run: `cargo bench --bench dataset_extract`.

use std::fmt::Write as _;
use std::time::Instant;

use sectune::data::granularity::Extractor;
use sectune::data::pipeline::{build, BuildOptions, SourceSpec};
use sectune::data::{Granularity, Lang, Side, SourceKind};

const FILES: usize = 1000;
const FUNCTIONS_PER_FILE: usize = 12;

/// A typical C file (~300 lines): includes, a struct, functions with nested blocks and loops.
fn c_file(seed: usize, fixed: bool) -> String {
    let mut s = String::from("#include <stdio.h>\n#include <string.h>\n#include <stdlib.h>\n\n");
    let _ = writeln!(s, "struct item_{seed} {{\n    int len;\n    char name[32];\n    struct item_{seed} *next;\n}};\n");
    for f in 0..FUNCTIONS_PER_FILE {
        let _ = writeln!(
            s,
            "static int process_{seed}_{f}(struct item_{seed} *it, const char *src, size_t n)\n{{"
        );
        s.push_str("    int total = 0;\n    if (it == NULL) {\n        return -1;\n    }\n");
        if fixed && f % 3 == 0 {
            s.push_str(
                "    if (n >= sizeof(it->name)) {\n        n = sizeof(it->name) - 1;\n    }\n",
            );
        }
        s.push_str("    memcpy(it->name, src, n);\n    it->name[n] = '\\0';\n");
        s.push_str("    for (size_t i = 0; i < n; i++) {\n        if (src[i] == ',') {\n            total += 1;\n        } else {\n            total += src[i] & 0x7;\n        }\n    }\n");
        s.push_str("    while (it->next != NULL) {\n        it = it->next;\n        total += it->len;\n    }\n    return total;\n}\n\n");
    }
    s
}

/// CPU seconds of this process, all threads (Linux /proc; `None` elsewhere). Reported next to wall time because
/// a shared machine's wall time understates per-core speed.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name; 100 ticks/s.
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// Times `f`, returning (wall seconds, CPU seconds when known).
fn timed(f: impl FnOnce()) -> (f64, Option<f64>) {
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    f();
    let wall = start.elapsed().as_secs_f64();
    (wall, cpu0.and_then(|c0| cpu_seconds().map(|c1| c1 - c0)))
}

fn rate(label: &str, files: usize, (wall, cpu): (f64, Option<f64>)) {
    let cpu_part = cpu.filter(|&c| c > 0.0).map_or(String::new(), |c| {
        format!(", {:.0} files/s per CPU-second", files as f64 / c)
    });
    println!(
        "{label}: {files} files in {wall:.3} s wall = {:.0} files/s{cpu_part}",
        files as f64 / wall
    );
}

fn main() {
    let files: Vec<(String, String)> = (0..FILES)
        .map(|i| (c_file(i, false), c_file(i, true)))
        .collect();
    let bytes: usize = files.iter().map(|f| f.1.len()).sum();
    println!(
        "{FILES} generated C files, {:.1} kB each on average",
        bytes as f64 / FILES as f64 / 1e3
    );

    // 0. tree-sitter parse alone: the floor for the cut.
    let mut parser = tree_sitter::Parser::new();
    parser
        .set_language(&tree_sitter_c::LANGUAGE.into())
        .expect("grammar");
    let mut nodes = 0;
    let t = timed(|| {
        for (_, after) in &files {
            nodes += parser
                .parse(after, None)
                .expect("parse")
                .root_node()
                .child_count();
        }
    });
    rate("parse", FILES, t);

    // 1. the cut (parse + map changed lines to functions and blocks).
    let mut extractor = Extractor::new().expect("grammar");
    let changed: Vec<Vec<u32>> = files
        .iter()
        .map(|(_, after)| {
            let marks = |l: &str| l.contains("sizeof(it->name)) {") || l.contains("- 1;");
            after
                .lines()
                .enumerate()
                .filter(|(_, l)| marks(l))
                .map(|(i, _)| i as u32 + 1)
                .collect()
        })
        .collect();
    let mut items = 0;
    let t = timed(|| {
        for ((_, after), lines) in files.iter().zip(&changed) {
            let cut = extractor.cut(after, Lang::C, lines).expect("parse");
            items += cut.functions.len() + cut.blocks.len();
        }
    });
    rate("cut  ", FILES, t);
    assert!(items > 0 && nodes > 0);

    // 2. whole build from a JSONL source, all four granularities, one thread.
    let tmp = tempfile::tempdir().expect("temp dir");
    let jsonl = tmp.path().join("fixes.jsonl");
    let mut text = String::new();
    for (i, (before, after)) in files.iter().enumerate() {
        let row = serde_json::json!({"commit": format!("{:040x}", i + 1), "file_path": format!("f{i}.c"),
            "cwe_ids": ["CWE-119"], "before": before, "after": after});
        text.push_str(&row.to_string());
        text.push('\n');
    }
    std::fs::write(&jsonl, text).expect("write");
    let opts = BuildOptions {
        sources: vec![SourceSpec {
            kind: SourceKind::Jsonl,
            path: jsonl,
            commits_file: None,
        }],
        out: tmp.path().join("out"),
        granularities: Granularity::ALL.to_vec(),
        languages: vec![Lang::C, Lang::Cpp],
        cwes: Vec::new(),
        side: Side::Fixed,
        train_fraction: 0.9,
        seed: 1,
        strict: false,
        force: false,
    };
    let mut n_items = 0;
    let t = timed(|| {
        let manifest = build(&opts).expect("build");
        n_items = manifest
            .items
            .values()
            .map(|c| c.train + c.validation)
            .sum::<u64>();
    });
    rate("build", FILES, t); // rayon cuts on every core: compare the per-CPU-second figure
    println!("build wrote {n_items} items");
}
