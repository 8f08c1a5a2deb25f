//! The lexer behind the completion rule: tracks open `{…}` blocks byte by byte, skipping
//! strings, character literals, comments and C++ raw strings, and classifies each block from
//! the code before its `{` (its "head") so the rule can tell a function body from the
//! namespace or class around it.

/// What an open `{` belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Block {
    /// `namespace …` or `extern "C"`: what is inside is still "top level".
    Scope,
    /// A class, struct, union or enum body (closes with `};`).
    Aggregate,
    /// `… = {`: a braced initializer (closes with `};`).
    Initializer,
    /// A function body or a statement block inside one.
    Body,
}

impl Block {
    pub(super) fn closer(self) -> &'static str {
        match self {
            Block::Scope | Block::Body => "}",
            Block::Aggregate | Block::Initializer => "};",
        }
    }
}

/// Lexer state carried across the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    Code,
    LineComment,
    BlockComment,
    Str,
    Char,
}

/// Heads longer than this keep only their end (a head is normally one declaration).
const HEAD_LIMIT: usize = 4096;

/// Block tracker, fed one byte at a time (all syntax that matters is ASCII).
#[derive(Debug, Clone)]
pub(super) struct Scanner {
    pub(super) state: State,
    /// Open blocks, outermost first.
    pub(super) stack: Vec<Block>,
    escaped: bool,
    prev: u8,
    /// Closing delimiter of a raw string we are inside, e.g. `)xyz"`.
    raw_end: Option<Vec<u8>>,
    /// Code (strings included, comments and preprocessor lines left out) since the last
    /// `;`, `{` or `}`.
    head: Vec<u8>,
}

impl Scanner {
    pub(super) fn new() -> Scanner {
        Scanner {
            state: State::Code,
            stack: Vec::new(),
            escaped: false,
            prev: 0,
            raw_end: None,
            head: Vec::new(),
        }
    }

    /// Scans all of `text`.
    pub(super) fn scan(text: &[u8]) -> Scanner {
        let mut scanner = Scanner::new();
        for i in 0..text.len() {
            scanner.step(text, i);
        }
        scanner
    }

    /// Feeds `text[i]`; returns true when this byte closed a block.
    pub(super) fn step(&mut self, text: &[u8], i: usize) -> bool {
        let c = text[i];
        let mut closed = false;
        if let Some(end) = &self.raw_end {
            if text[..=i].ends_with(end) {
                self.raw_end = None;
                self.state = State::Code;
            }
            self.push_head(c);
            self.prev = c;
            return false;
        }
        match self.state {
            State::Code => match c {
                b'/' if text.get(i + 1) == Some(&b'/') => self.state = State::LineComment,
                b'/' if text.get(i + 1) == Some(&b'*') => self.state = State::BlockComment,
                b'"' => {
                    self.push_head(c);
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
                b'\'' if !is_digit_separator(text, i) => {
                    self.push_head(c);
                    self.state = State::Char;
                }
                b'{' => {
                    self.stack.push(classify(&self.head));
                    self.head.clear();
                }
                b'}' => {
                    closed = self.stack.pop().is_some();
                    self.head.clear();
                }
                b';' => self.head.clear(),
                b'\n' => self.end_line(),
                _ => self.push_head(c),
            },
            State::LineComment => {
                if c == b'\n' && self.prev != b'\\' {
                    self.state = State::Code;
                    self.end_line();
                }
            }
            State::BlockComment => {
                if c == b'/' && self.prev == b'*' && i > 0 {
                    self.state = State::Code;
                    self.push_head(b' ');
                    self.prev = 0;
                    return false;
                }
            }
            State::Str | State::Char => {
                self.push_head(c);
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

    fn push_head(&mut self, c: u8) {
        if self.head.len() >= HEAD_LIMIT {
            self.head.drain(..HEAD_LIMIT / 2);
        }
        self.head.push(c);
    }

    /// A finished preprocessor line (`#include <x>`) is not part of the next block's head.
    fn end_line(&mut self) {
        let start = self
            .head
            .iter()
            .rposition(|&c| c == b'\n')
            .map_or(0, |p| p + 1);
        let line = &self.head[start..];
        let is_directive = line.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'#');
        if is_directive && line.last() != Some(&b'\\') {
            self.head.truncate(start);
        }
        self.push_head(b'\n');
    }
}

/// Classifies a block from the code before its `{`.
fn classify(head: &[u8]) -> Block {
    let text = String::from_utf8_lossy(head);
    let code = text.trim();
    if code.ends_with('=') {
        return Block::Initializer;
    }
    let has_parens = code.contains('(');
    let compact: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if compact == "extern\"C\"" || compact == "extern\"C++\"" {
        return Block::Scope;
    }
    let words = code
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty());
    if has_parens {
        return Block::Body;
    }
    let mut aggregate = false;
    for word in words {
        match word {
            "namespace" => return Block::Scope,
            "class" | "struct" | "union" | "enum" => aggregate = true,
            _ => {}
        }
    }
    if aggregate {
        Block::Aggregate
    } else {
        Block::Body
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<Block> {
        Scanner::scan(text.as_bytes()).stack
    }

    #[test]
    fn classifies_open_blocks_from_their_heads() {
        use Block::*;
        assert_eq!(
            kinds("#include <map>\nnamespace app {\nstruct S : Base<int> {\n  int f(int x) const {\n    if (x) {\n"),
            vec![Scope, Aggregate, Body, Body]
        );
        assert_eq!(kinds("extern \"C\" {\nint g(void) {\n"), vec![Scope, Body]);
        assert_eq!(
            kinds("static const char *names[] =\n{\n"),
            vec![Initializer]
        );
        // A function returning a struct, and a template function naming `class`.
        assert_eq!(kinds("struct point make(int x) {\n"), vec![Body]);
        assert_eq!(
            kinds("template <class T>\nT biggest(T a, T b) {\n"),
            vec![Body]
        );
        // A directive, comment or string before the head does not change it.
        assert_eq!(
            kinds("#include \"namespace.h\"\n/* class */ int main(void) {\n"),
            vec![Body]
        );
        assert_eq!(kinds("namespace { int x; }\n"), vec![]);
    }
}
