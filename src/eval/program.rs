//! Completion → program: prompt + completion, cut where the block the prompt leaves open (the
//! function it starts) closes. Brace matching skips strings, character literals, comments and
//! C++ raw strings. When the braces never balance (generation stopped mid-function), the
//! unfinished last line is dropped and the missing braces are appended.
//!
//! This generalizes the study's published rule ("cut where the first top-level block closes;
//! the second for prompts that already hold one complete function"): blocks the prompt already
//! closed are skipped, whatever their number.

use serde::Serialize;

/// Name and version of the rule, recorded with every result.
pub const RULE: &str = "brace-cut/1";

/// How the program was obtained from the completion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Cut {
    /// The open block closed inside the completion; the rest of the completion was dropped.
    Closed { dropped_bytes: usize },
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

/// Lexer state carried across the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    LineComment,
    BlockComment,
    Str,
    Char,
}

/// Brace depth tracker, fed one byte at a time (all syntax that matters is ASCII).
#[derive(Debug, Clone)]
struct Scanner {
    state: State,
    depth: usize,
    escaped: bool,
    prev: u8,
    /// Closing delimiter of a raw string we are inside, e.g. `)xyz"`.
    raw_end: Option<Vec<u8>>,
}

impl Scanner {
    fn new() -> Scanner {
        Scanner {
            state: State::Code,
            depth: 0,
            escaped: false,
            prev: 0,
            raw_end: None,
        }
    }

    /// Feeds `text[i]`; returns true when this byte closed a block back to depth `target`.
    fn step(&mut self, text: &[u8], i: usize, target: usize) -> bool {
        let c = text[i];
        let mut closed = false;
        if let Some(end) = &self.raw_end {
            if text[..=i].ends_with(end) {
                self.raw_end = None;
                self.state = State::Code;
            }
            self.prev = c;
            return false;
        }
        match self.state {
            State::Code => match c {
                b'/' if text.get(i + 1) == Some(&b'/') => self.state = State::LineComment,
                b'/' if text.get(i + 1) == Some(&b'*') => self.state = State::BlockComment,
                b'"' => {
                    if self.prev == b'R' {
                        if let Some(end) = raw_string_end(&text[i + 1..]) {
                            self.raw_end = Some(end);
                            self.state = State::Str;
                            self.prev = c;
                            return false;
                        }
                    }
                    self.state = State::Str;
                }
                b'\'' if !is_digit_separator(text, i) => self.state = State::Char,
                b'{' => self.depth += 1,
                b'}' if self.depth > 0 => {
                    self.depth -= 1;
                    closed = self.depth == target;
                }
                _ => {}
            },
            State::LineComment => {
                if c == b'\n' && self.prev != b'\\' {
                    self.state = State::Code;
                }
            }
            State::BlockComment => {
                if c == b'/' && self.prev == b'*' && i > 0 {
                    self.state = State::Code;
                    self.prev = 0;
                    return false;
                }
            }
            State::Str | State::Char => {
                let quote = if self.state == State::Str {
                    b'"'
                } else {
                    b'\''
                };
                if self.escaped {
                    self.escaped = false;
                } else if c == b'\\' {
                    self.escaped = true;
                } else if c == quote || c == b'\n' {
                    self.state = State::Code;
                }
            }
        }
        // A `*/` must not also start a comment with its `*`: reset prev after opening one.
        self.prev = if self.state == State::BlockComment && c == b'*' && self.prev == b'/' {
            0
        } else {
            c
        };
        closed
    }
}

/// `1'000` is a C++14 digit separator, not a character literal.
fn is_digit_separator(text: &[u8], i: usize) -> bool {
    i > 0 && text[i - 1].is_ascii_digit() && text.get(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
}

/// For `R"delim(`, the closing `)delim"`.
fn raw_string_end(after_quote: &[u8]) -> Option<Vec<u8>> {
    let open = after_quote.iter().take(17).position(|&c| c == b'(')?;
    let delim = &after_quote[..open];
    if delim
        .iter()
        .any(|c| c.is_ascii_whitespace() || matches!(c, b')' | b'\\'))
    {
        return None;
    }
    let mut end = vec![b')'];
    end.extend_from_slice(delim);
    end.push(b'"');
    Some(end)
}

/// Joins prompt and completion and cuts as described in the module docs.
pub fn complete(prompt: &str, completion: &str) -> Program {
    let text = format!("{prompt}{completion}");
    let bytes = text.as_bytes();
    let mut scanner = Scanner::new();
    for i in 0..prompt.len() {
        scanner.step(bytes, i, usize::MAX);
    }
    // The block to close: the innermost-from-top one the prompt leaves open, or else the next
    // top-level block the completion opens.
    let target = scanner.depth.saturating_sub(1);
    for i in prompt.len()..bytes.len() {
        if scanner.step(bytes, i, target) {
            let mut end = i + 1;
            end += trailing_semicolon(&bytes[end..]);
            let dropped_bytes = bytes.len() - end;
            let mut text = text;
            text.truncate(end);
            text.push('\n');
            return Program {
                text,
                cut: Cut::Closed { dropped_bytes },
                rule: RULE,
            };
        }
    }
    close_truncated(prompt, completion)
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
    let bytes = text.as_bytes().to_vec();
    let mut scanner = Scanner::new();
    for i in 0..bytes.len() {
        scanner.step(&bytes, i, usize::MAX);
    }
    if !text.ends_with('\n') {
        text.push('\n');
    }
    match scanner.state {
        State::BlockComment => text.push_str("*/\n"),
        State::Str => text.push_str("\";\n"),
        _ => {}
    }
    let braces_added = scanner.depth;
    for _ in 0..braces_added {
        text.push_str("}\n");
    }
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
        assert_eq!(p.cut, Cut::Closed { dropped_bytes: 31 });
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
}
