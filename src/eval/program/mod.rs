//! Completion → program: prompt + completion, cut where the function the prompt opens closes.
//! Brace matching skips strings, character literals, comments and C++ raw strings
//! (`scan.rs`). When the braces never balance (generation stopped mid-function), the unfinished
//! last line is dropped and the missing closers are appended.
//!
//! Which block is "the function": each open block is classified from the code before its `{`
//! as a scope (`namespace`, `extern "C"`), an aggregate (class/struct/union/enum body), an
//! initializer (`= {`) or a body. The unit the prompt opens is its outermost open body or
//! initializer (blocks nested in it, such as a loop the prompt leaves open, do not end it);
//! failing that its outermost open aggregate; failing that, the first block the completion
//! opens at the prompt's level. The cut is where that unit closes (or where the completion
//! closes a scope around it); the scopes and aggregates still open around the cut are then
//! closed (`}` / `};`), so a function inside a namespace or class still compiles.
//!
//! This generalizes the study's published rule ("cut where the first top-level block closes;
//! the second for prompts that already hold one complete function"): blocks the prompt already
//! closed are skipped, whatever their number.

mod scan;

use serde::Serialize;

use scan::{Block, Scanner, State};

/// Name and version of the rule, recorded with every result.
pub const RULE: &str = "brace-cut/2";

/// How the program was obtained from the completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Cut {
    /// The open block closed inside the completion; the rest of the completion was dropped,
    /// and `closers_added` scopes or aggregates around it were closed.
    Closed {
        dropped_bytes: usize,
        closers_added: usize,
    },
    /// Never closed: the unfinished last line was dropped and braces appended.
    Truncated {
        dropped_line: bool,
        braces_added: usize,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Program {
    pub text: String,
    pub cut: Cut,
    pub rule: &'static str,
}

/// Joins prompt and completion and cuts as described in the module docs.
pub fn complete(prompt: &str, completion: &str) -> Program {
    let text = format!("{prompt}{completion}");
    let bytes = text.as_bytes();
    let mut scanner = Scanner::new();
    for i in 0..prompt.len() {
        scanner.step(bytes, i);
    }
    let target = unit_depth(&scanner.stack);
    for i in prompt.len()..bytes.len() {
        if scanner.step(bytes, i) && scanner.stack.len() <= target {
            let mut end = i + 1;
            end += trailing_semicolon(&bytes[end..]);
            let ends_line = bytes.get(end) == Some(&b'\n');
            if ends_line {
                end += 1;
            }
            let dropped_bytes = bytes.len() - end;
            let mut text = text;
            text.truncate(end);
            if !ends_line {
                text.push('\n');
            }
            push_closers(&mut text, &scanner.stack);
            return Program {
                text,
                cut: Cut::Closed {
                    dropped_bytes,
                    closers_added: scanner.stack.len(),
                },
                rule: RULE,
            };
        }
    }
    close_truncated(prompt, completion)
}

/// Stack depth at which the prompt's unit is closed (see the module docs).
fn unit_depth(open: &[Block]) -> usize {
    let is_body = |b: &Block| matches!(b, Block::Body | Block::Initializer);
    open.iter()
        .position(is_body)
        .or_else(|| open.iter().position(|b| *b == Block::Aggregate))
        .unwrap_or(open.len())
}

/// Closes the still-open blocks, innermost first.
fn push_closers(text: &mut String, open: &[Block]) {
    for block in open.iter().rev() {
        text.push_str(block.closer());
        text.push('\n');
    }
}

/// `};` after a struct or class body belongs to it.
fn trailing_semicolon(rest: &[u8]) -> usize {
    let spaces = rest
        .iter()
        .take_while(|c| **c == b' ' || **c == b'\t')
        .count();
    if rest.get(spaces) == Some(&b';') {
        spaces + 1
    } else {
        0
    }
}

fn close_truncated(prompt: &str, completion: &str) -> Program {
    let dropped_line = !completion.is_empty() && !completion.ends_with('\n');
    let kept = if dropped_line {
        match completion.rfind('\n') {
            Some(pos) => &completion[..=pos],
            None => "",
        }
    } else {
        completion
    };
    let mut text = format!("{prompt}{kept}");
    let scanner = Scanner::scan(text.as_bytes());
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match scanner.state {
        State::BlockComment => text.push_str("*/\n"),
        State::Str => text.push_str("\";\n"),
        _ => {}
    }
    let braces_added = scanner.stack.len();
    push_closers(&mut text, &scanner.stack);
    Program {
        text,
        cut: Cut::Truncated {
            dropped_line,
            braces_added,
        },
        rule: RULE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPT: &str = "#include <stdio.h>\nint main(void) {\n    char buf[8];\n";

    #[test]
    fn cuts_where_the_open_function_closes() {
        let p = complete(
            PROMPT,
            "    puts(buf);\n    return 0;\n}\nint extra(void) { return 1; }\n",
        );
        assert_eq!(
            p.text,
            format!("{PROMPT}    puts(buf);\n    return 0;\n}}\n")
        );
        assert_eq!(
            p.cut,
            Cut::Closed {
                dropped_bytes: 30,
                closers_added: 0
            }
        );
        assert_eq!(p.rule, RULE);
    }

    #[test]
    fn braces_in_strings_chars_and_comments_do_not_count() {
        let completion =
            "    puts(\"}}\"); char c = '}'; /* } */ // }\n    puts(\"\\\"}\");\n}\nREST";
        let p = complete(PROMPT, completion);
        assert!(p.text.ends_with("puts(\"\\\"}\");\n}\n"), "{}", p.text);
        assert!(!p.text.contains("REST"));
    }

    #[test]
    fn raw_strings_and_digit_separators() {
        let completion = "    auto s = R\"x(})\")x\"; int n = 1'000;\n    return n;\n}\nREST";
        let p = complete(PROMPT, completion);
        assert!(p.text.ends_with("return n;\n}\n"), "{}", p.text);
    }

    #[test]
    fn prompt_with_a_complete_function_cuts_at_the_second() {
        let prompt = "int helper(int x) {\n    return x + 1; /* { */\n}\n\nint main(void) {\n";
        let p = complete(prompt, "    return helper(1);\n}\nint junk() {}\n");
        assert_eq!(p.text, format!("{prompt}    return helper(1);\n}}\n"));
    }

    #[test]
    fn nested_blocks_close_only_at_the_function_end() {
        let p = complete(
            PROMPT,
            "    if (1) {\n        while (0) { }\n    }\n    return 0;\n}\nX",
        );
        assert!(p.text.ends_with("    return 0;\n}\n"));
    }

    #[test]
    fn truncated_completion_drops_last_line_and_closes() {
        let p = complete(
            PROMPT,
            "    if (buf[0]) {\n        puts(buf);\n        retu",
        );
        assert_eq!(
            p.text,
            format!("{PROMPT}    if (buf[0]) {{\n        puts(buf);\n}}\n}}\n")
        );
        assert_eq!(
            p.cut,
            Cut::Truncated {
                dropped_line: true,
                braces_added: 2
            }
        );
    }

    #[test]
    fn empty_completion_just_closes_the_function() {
        let p = complete(PROMPT, "");
        assert_eq!(p.text, format!("{PROMPT}}}\n"));
    }

    #[test]
    fn unterminated_block_comment_is_closed() {
        let p = complete(PROMPT, "    /* half a comment {\n    more\n");
        assert!(p.text.ends_with("more\n*/\n}\n"), "{}", p.text);
    }

    #[test]
    fn struct_prompt_keeps_its_semicolon() {
        let prompt = "struct point {\n";
        let p = complete(prompt, "    int x, y;\n};\nint main() {}\n");
        assert_eq!(p.text, "struct point {\n    int x, y;\n};\n");
    }

    #[test]
    fn prompt_without_open_block_cuts_at_next_top_level_block() {
        let prompt = "#include <stdlib.h>\n/* frees p */\n";
        let p = complete(prompt, "void f(int *p) {\n    free(p);\n}\nvoid g() {}\n");
        assert_eq!(
            p.text,
            format!("{prompt}void f(int *p) {{\n    free(p);\n}}\n")
        );
    }

    #[test]
    fn nested_block_open_in_the_prompt_does_not_end_the_program() {
        let prompt = "int main(void) {\n    int total = 0, n;\n    while (scanf(\"%d\", &n) == 1) {\n        /* add n */\n";
        let completion = "        total += n;\n    }\n    printf(\"%d\\n\", total);\n    return 0;\n}\nint junk(void) {}\n";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            format!("{prompt}        total += n;\n    }}\n    printf(\"%d\\n\", total);\n    return 0;\n}}\n")
        );
        assert_eq!(
            p.cut,
            Cut::Closed {
                dropped_bytes: "int junk(void) {}\n".len(),
                closers_added: 0
            }
        );
    }

    #[test]
    fn complete_function_then_an_open_one_with_a_nested_block() {
        let prompt = "static int twice(int x) {\n    return 2 * x;\n}\n\nint main(int argc, char **argv) {\n    for (int i = 1; i < argc; i++) {\n        if (argv[i][0] == '-') {\n";
        let completion = "            continue;\n        }\n        puts(argv[i]);\n    }\n    return twice(0);\n}\nstatic int junk;\n";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            format!("{prompt}            continue;\n        }}\n        puts(argv[i]);\n    }}\n    return twice(0);\n}}\n")
        );
    }

    #[test]
    fn function_inside_a_namespace_is_cut_and_the_namespace_closed() {
        let prompt = "#include <string>\nnamespace util {\nint parse(const std::string &s) {\n    for (char c : s) {\n";
        let completion = "        if (c == '}') return -1;\n    }\n    return 0;\n}\nint extra() { return 1; }\n}  // namespace util\nint main() {}\n";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            format!("{prompt}        if (c == '}}') return -1;\n    }}\n    return 0;\n}}\n}}\n")
        );
        assert!(matches!(
            p.cut,
            Cut::Closed {
                closers_added: 1,
                ..
            }
        ));
        // extern "C" is a scope too.
        let prompt = "extern \"C\" {\nint add(int a, int b) {\n";
        let p = complete(prompt, "    return a + b;\n}\n}\n");
        assert_eq!(p.text, format!("{prompt}    return a + b;\n}}\n}}\n"));
    }

    #[test]
    fn method_inside_a_class_is_cut_and_the_class_closed() {
        let prompt = "class Buffer {\n  public:\n    void put(char c) {\n        if (n < 8) {\n";
        let completion = "            data[n++] = c;\n        }\n    }\n    int size() const { return n; }\n};\n";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            format!("{prompt}            data[n++] = c;\n        }}\n    }}\n}};\n")
        );
        // Truncated inside the method: the class gets `};`, the blocks `}`.
        let p = complete(prompt, "            data[n++] = c;\n            ret");
        assert!(p.text.ends_with("data[n++] = c;\n}\n}\n};\n"), "{}", p.text);
    }

    #[test]
    fn namespace_prompt_without_a_function_cuts_after_the_first_block() {
        let prompt = "namespace util {\n";
        let completion = "int twice(int x) {\n    return 2 * x;\n}\nint junk() {}\n}\n";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            "namespace util {\nint twice(int x) {\n    return 2 * x;\n}\n}\n"
        );
    }

    #[test]
    fn braces_in_the_prompts_strings_and_comments_do_not_count() {
        let prompt = "/* a { in a comment */\n// and } here\nint main(void) {\n    const char *open = \"{{\";\n    char close = '}';\n    if (open[0] == '{') { /* } */\n";
        let completion = "        puts(\"}\");\n    }\n    return close == '}';\n}\nJUNK";
        let p = complete(prompt, completion);
        assert_eq!(
            p.text,
            format!("{prompt}        puts(\"}}\");\n    }}\n    return close == '}}';\n}}\n")
        );
    }
}
