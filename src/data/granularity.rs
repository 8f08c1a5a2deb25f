//! Function and block extraction with tree-sitter (C and C++ grammars).
//!
//! For each changed line we take the syntax node at its first non-blank character and walk up:
//! - function: the innermost `function_definition` (with its `template<...>` header in C++);
//! - block: the innermost `compound_statement`, or the whole function when that statement is the
//!   function body (or the line is in the signature); outside functions, the top-level
//!   declaration (struct, global, macro) that holds the line.
//!
//! Items are whole lines from the node's first to its last line. tree-sitter recovers from syntax
//! errors (macros, K&R definitions), so a file with errors is still cut, and flagged.

use std::collections::{BTreeMap, BTreeSet};

use tree_sitter::{Node, Parser, Point};

use super::{DataError, Lang, Result};

/// One function or block: 1-based inclusive line range and the changed lines inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub start_line: u32,
    pub end_line: u32,
    pub changed_lines: Vec<u32>,
}

/// The functions and blocks of one file that hold changed lines, in file order.
#[derive(Debug, Default)]
pub struct Cut {
    pub functions: Vec<Span>,
    pub blocks: Vec<Span>,
    /// tree-sitter reported syntax errors (the cut is best effort).
    pub parse_error: bool,
    /// Changed lines that lie in no function (no function item for them).
    pub lines_outside_functions: usize,
}

/// Holds one parser per language; reuse it across files.
pub struct Extractor {
    c: Parser,
    cpp: Parser,
}

// Nodes whose children are independent top-level items.
const CONTAINERS: &[&str] = &[
    "translation_unit",
    "declaration_list",
    "field_declaration_list",
    "preproc_if",
    "preproc_ifdef",
    "preproc_else",
    "preproc_elif",
    "preproc_elifdef",
];

impl Extractor {
    pub fn new() -> Result<Self> {
        let mut c = Parser::new();
        c.set_language(&tree_sitter_c::LANGUAGE.into())
            .map_err(|e| DataError::Grammar(e.to_string()))?;
        let mut cpp = Parser::new();
        cpp.set_language(&tree_sitter_cpp::LANGUAGE.into())
            .map_err(|e| DataError::Grammar(e.to_string()))?;
        Ok(Extractor { c, cpp })
    }

    /// Cut `code` around `changed` (1-based lines, out-of-range ones ignored). `None` when
    /// tree-sitter gives no tree at all.
    pub fn cut(&mut self, code: &str, lang: Lang, changed: &[u32]) -> Option<Cut> {
        let parser = match lang {
            Lang::C => &mut self.c,
            Lang::Cpp => &mut self.cpp,
        };
        let tree = parser.parse(code, None)?;
        let root = tree.root_node();
        let lines: Vec<&str> = code.split('\n').collect();
        let mut functions: BTreeMap<(u32, u32), BTreeSet<u32>> = BTreeMap::new();
        let mut blocks: BTreeMap<(u32, u32), BTreeSet<u32>> = BTreeMap::new();
        let mut outside = 0;
        for &line in changed {
            let Some(text) = line.checked_sub(1).and_then(|row| lines.get(row as usize)) else {
                continue;
            };
            let column = text.len() - text.trim_start().len();
            let point = Point {
                row: line as usize - 1,
                column,
            };
            let Some(leaf) = root.descendant_for_point_range(point, point) else {
                continue;
            };
            let found = enclosing(leaf);
            match found.function {
                Some(f) => {
                    functions.entry(line_range(f)).or_default().insert(line);
                }
                None => outside += 1,
            }
            if let Some(b) = found.block {
                blocks.entry(line_range(b)).or_default().insert(line);
            }
        }
        let spans = |m: BTreeMap<(u32, u32), BTreeSet<u32>>| {
            m.into_iter()
                .map(|((start_line, end_line), set)| Span {
                    start_line,
                    end_line,
                    changed_lines: set.into_iter().collect(),
                })
                .collect()
        };
        Some(Cut {
            functions: spans(functions),
            blocks: spans(blocks),
            parse_error: root.has_error(),
            lines_outside_functions: outside,
        })
    }
}

struct Enclosing<'t> {
    function: Option<Node<'t>>,
    block: Option<Node<'t>>,
}

fn enclosing(leaf: Node<'_>) -> Enclosing<'_> {
    let mut function = None;
    let mut block = None;
    let mut top_level = None;
    let mut node = Some(leaf);
    while let Some(n) = node {
        let parent = n.parent();
        match n.kind() {
            "compound_statement" if block.is_none() => {
                block = Some(match parent {
                    Some(p) if p.kind() == "function_definition" => with_template(p),
                    _ => n,
                });
            }
            "function_definition" if function.is_none() => {
                function = Some(with_template(n));
                block.get_or_insert(with_template(n));
            }
            _ => {}
        }
        if top_level.is_none() && parent.is_some_and(|p| CONTAINERS.contains(&p.kind())) {
            top_level = Some(n);
        }
        node = parent;
    }
    Enclosing {
        function,
        block: block.or(top_level),
    }
}

fn with_template(function: Node<'_>) -> Node<'_> {
    match function.parent() {
        Some(p) if p.kind() == "template_declaration" => p,
        _ => function,
    }
}

/// 1-based inclusive lines of a node; a node ending at column 0 ends on the previous line.
fn line_range(node: Node<'_>) -> (u32, u32) {
    let start = node.start_position().row as u32 + 1;
    let end = node.end_position();
    let mut end_line = end.row as u32 + 1;
    if end.column == 0 && end_line > start {
        end_line -= 1;
    }
    (start, end_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    const C_FILE: &str = "\
#include <string.h>
static int limit = 10;

int copy(char *dst, const char *src, int n)
{
    if (n > limit) {
        return -1;
    }
    memcpy(dst, src, n);
    return 0;
}
";

    fn cut(code: &str, lang: Lang, lines: &[u32]) -> Cut {
        Extractor::new().unwrap().cut(code, lang, lines).unwrap()
    }

    #[test]
    fn line_in_nested_block_gives_that_block_and_the_function() {
        let c = cut(C_FILE, Lang::C, &[7]);
        assert_eq!(
            c.functions,
            vec![Span {
                start_line: 4,
                end_line: 11,
                changed_lines: vec![7]
            }]
        );
        assert_eq!(
            c.blocks,
            vec![Span {
                start_line: 6,
                end_line: 8,
                changed_lines: vec![7]
            }]
        );
        assert!(!c.parse_error);
    }

    #[test]
    fn top_level_body_change_gives_the_whole_function_as_block() {
        let c = cut(C_FILE, Lang::C, &[9, 4]);
        assert_eq!(
            c.blocks,
            vec![Span {
                start_line: 4,
                end_line: 11,
                changed_lines: vec![4, 9]
            }]
        );
        assert_eq!(c.functions.len(), 1);
    }

    #[test]
    fn global_change_is_outside_functions() {
        let c = cut(C_FILE, Lang::C, &[2]);
        assert!(c.functions.is_empty());
        assert_eq!(c.lines_outside_functions, 1);
        assert_eq!(
            c.blocks,
            vec![Span {
                start_line: 2,
                end_line: 2,
                changed_lines: vec![2]
            }]
        );
    }

    #[test]
    fn cpp_method_in_class_and_namespace() {
        let code = "namespace n {\nclass A {\n  int f(int x) {\n    return x + 1;\n  }\n};\n}\n";
        let c = cut(code, Lang::Cpp, &[4]);
        assert_eq!(
            c.functions,
            vec![Span {
                start_line: 3,
                end_line: 5,
                changed_lines: vec![4]
            }]
        );
        assert_eq!(c.blocks, c.functions);
    }

    #[test]
    fn macros_and_kr_style_do_not_crash() {
        let code = "#define F(x) do { x; } while (0)\nint old(a, b)\n int a; char *b;\n{\n  F(a);\n  return a;\n}\nFOO BAR {{ ]]\n";
        let c = cut(code, Lang::C, &[5, 8, 99]);
        assert!(!c.blocks.is_empty());
    }
}
