//! Precompiled headers for the judge's C++ compiles. Parsing `<iostream>` and friends is most of
//! a small C++ compile (~0.5 of ~0.8 CPU-s here), and every sample of a scenario starts with the
//! same include lines (the prompt's). So for each distinct block of leading `#include <…>` lines
//! and each set of flags, the block is compiled once into a `.gch` (in the sandbox) and later
//! compiles get `-include` of it.
//!
//! The program is unchanged: the precompiled block is exactly the program's own first
//! directives, which then re-include nothing (include guards), and the main file's line numbers
//! stay the same. A `.gch` gcc finds unusable is ignored by gcc, which then reads the header
//! text: slower, same result. The flags a PCH was built with are the compile's own.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::eval::judge::ScratchDir;
use crate::eval::sandbox::{Limits, RunSpec, Sandbox};

const HEADER: &str = "pre.h";

/// Precompiled headers built so far, shared by every worker.
pub struct PchCache {
    root: ScratchDir,
    built: Mutex<HashMap<String, Arc<OnceLock<Option<PathBuf>>>>>,
    next: AtomicUsize,
}

/// How to use one precompiled header in a compile.
pub struct PchUse {
    /// Host folder holding `pre.h` and `pre.h.gch`; goes in `RunSpec::readonly_dir`.
    pub dir: PathBuf,
    /// `-include <folder as the run sees it>/pre.h`.
    pub args: [String; 2],
}

impl PchCache {
    pub fn new() -> std::io::Result<PchCache> {
        Ok(PchCache {
            root: ScratchDir::new("pch")?,
            built: Mutex::new(HashMap::new()),
            next: AtomicUsize::new(0),
        })
    }

    /// A precompiled header for the C++ compile `argv` of the file `source_name` whose text is
    /// `source`, or `None` when the source has no leading system includes or the header does
    /// not build. The header is built with the compile's own flags.
    pub fn for_compile(
        &self,
        sandbox: &Sandbox,
        argv: &[String],
        source_name: &str,
        source: &str,
    ) -> Option<PchUse> {
        let header = leading_includes(source)?;
        let (compiler, flags) = pch_flags(argv, source_name)?;
        let key = format!("{compiler}\0{}\0{header}", flags.join("\0"));
        let cell = {
            let mut built = self.built.lock().ok()?;
            built.entry(key).or_default().clone()
        };
        let dir = cell
            .get_or_init(|| {
                let index = self.next.fetch_add(1, Ordering::Relaxed);
                let dir = self.root.path().join(index.to_string());
                build(sandbox, compiler, &flags, &header, &dir).then_some(dir)
            })
            .clone()?;
        let inside = sandbox.readonly_dir_inside(&dir).join(HEADER);
        Some(PchUse {
            dir,
            args: ["-include".into(), inside.display().to_string()],
        })
    }
}

impl PchUse {
    /// Puts `-include …` right after the compiler name.
    pub fn add_to(&self, argv: &mut Vec<String>) {
        let at = argv.len().min(1);
        argv.splice(at..at, self.args.iter().cloned());
    }
}

/// The compiler and the flags of a compile command: everything but `-c`, `-o FILE` and the
/// source file.
fn pch_flags<'a>(argv: &'a [String], source_name: &str) -> Option<(&'a str, Vec<String>)> {
    let (compiler, rest) = argv.split_first()?;
    let mut flags = Vec::new();
    let mut skip_next = false;
    for arg in rest {
        if skip_next {
            skip_next = false;
        } else if arg == "-o" {
            skip_next = true;
        } else if arg != "-c" && arg != source_name {
            flags.push(arg.clone());
        }
    }
    Some((compiler, flags))
}

/// Compiles `header` into `dir/pre.h.gch` inside the sandbox; false when that fails.
fn build(sandbox: &Sandbox, compiler: &str, flags: &[String], header: &str, dir: &Path) -> bool {
    let attempt = || -> Option<()> {
        let work = sandbox.workdir().ok()?;
        work.write_file(HEADER, header.as_bytes()).ok()?;
        let mut argv = vec![compiler.to_string()];
        argv.extend(flags.iter().cloned());
        argv.extend(["-x", "c++-header", HEADER, "-o", "pre.h.gch"].map(String::from));
        let spec = RunSpec::new(argv).limits(Limits {
            wall: Duration::from_secs(120),
            cpu_secs: 120,
            address_space_bytes: Some(4 << 30),
            memory_bytes: 2 << 30,
            ..Limits::default()
        });
        let outcome = sandbox.run(&work, &spec).ok()?;
        if !outcome.success() {
            return None;
        }
        let gch = work.read_file_beneath("pre.h.gch").ok()?;
        std::fs::create_dir_all(dir).ok()?;
        std::fs::write(dir.join(HEADER), header).ok()?;
        std::fs::write(dir.join("pre.h.gch"), gch).ok()
    };
    attempt().is_some()
}

/// The source's first lines while they are blank, `//` comments or `#include <…>` lines; the
/// include lines of that run, or `None` if there are none. Stops at anything else (a `#define`,
/// a block comment, a continued line), so the block is always a true prefix of the program.
pub fn leading_includes(source: &str) -> Option<String> {
    let mut includes = String::new();
    for line in source.lines() {
        let trimmed = line.trim();
        if trimmed.ends_with('\\') {
            break;
        }
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        if !is_system_include(trimmed) {
            break;
        }
        includes.push_str(trimmed);
        includes.push('\n');
    }
    (!includes.is_empty()).then_some(includes)
}

/// `#include <name>`, possibly spaced, with nothing after `>` but a `//` comment.
fn is_system_include(line: &str) -> bool {
    let Some(rest) = line.strip_prefix('#') else {
        return false;
    };
    let Some(rest) = rest.trim_start().strip_prefix("include") else {
        return false;
    };
    let rest = rest.trim_start();
    let Some(name_and_tail) = rest.strip_prefix('<') else {
        return false;
    };
    let Some((name, tail)) = name_and_tail.split_once('>') else {
        return false;
    };
    let tail = tail.trim();
    !name.is_empty() && (tail.is_empty() || tail.starts_with("//"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leading_system_includes_only() {
        let source = "// tool\n#include <iostream>\n\n#  include <string> // for names\n#include \"local.h\"\n#include <vector>\nint main() {}\n";
        assert_eq!(
            leading_includes(source).as_deref(),
            Some("#include <iostream>\n#  include <string> // for names\n")
        );
        // A #define before an include changes it: stop there.
        assert_eq!(
            leading_includes("#include <cstdio>\n#define _GNU_SOURCE\n#include <cstring>\n")
                .as_deref(),
            Some("#include <cstdio>\n")
        );
        // A continued comment would swallow the next line: stop.
        assert_eq!(leading_includes("// note \\\n#include <cstdio>\n"), None);
        assert_eq!(leading_includes("/* c */\n#include <cstdio>\n"), None);
        assert_eq!(leading_includes("int x;\n"), None);
    }

    #[test]
    fn flags_leave_out_output_and_files() {
        let argv: Vec<String> = ["g++", "-g", "-O", "-c", "-o", "prog.o", "prog.cpp", "-lm"]
            .map(String::from)
            .to_vec();
        let (compiler, flags) = pch_flags(&argv, "prog.cpp").unwrap();
        assert_eq!(compiler, "g++");
        assert_eq!(flags, ["-g", "-O", "-lm"]);
        let using = PchUse {
            dir: PathBuf::from("/x"),
            args: ["-include".into(), "/x/pre.h".into()],
        };
        let mut argv = argv;
        using.add_to(&mut argv);
        assert_eq!(argv[..3], ["g++", "-include", "/x/pre.h"]);
    }
}
