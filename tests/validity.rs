//! Validity with the real compilers in the sandbox: each failure class from an actual gcc/g++
//! error. Needs gcc and g++.

use sectune::eval::sandbox::{Sandbox, SandboxConfig};
use sectune::eval::validity::{check_source, CompileConfig, ErrorClass, Language, ValidityCounts};

#[test]
fn compiles_and_classifies_failures_with_real_gcc() {
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let config = CompileConfig::default();
    let cases: &[(Language, &str, Option<ErrorClass>)] = &[
        (
            Language::C,
            "#include <stdio.h>\nint main(void) { puts(\"hi\"); return 0; }\n",
            None,
        ),
        // gcc 12 only warns on an implicit declaration: still valid, as in the study.
        (Language::C, "int main(void) { return foo(1); }\n", None),
        (
            Language::C,
            "int main(void) { int x = 1 return x; }\n",
            Some(ErrorClass::Syntax),
        ),
        (
            Language::C,
            "int main(void) { return y; }\n",
            Some(ErrorClass::UndeclaredIdentifier),
        ),
        (
            Language::C,
            "int f(void) { return 1; }\nint f(void) { return 2; }\n",
            Some(ErrorClass::Redefinition),
        ),
        (
            Language::C,
            "#include \"nothere.h\"\nint main(void) { return 0; }\n",
            Some(ErrorClass::MissingHeader),
        ),
        (
            Language::C,
            "struct s { int a; };\nint main(void) { struct s v; int *p = v; return *p; }\n",
            Some(ErrorClass::TypeMismatch),
        ),
        (
            Language::Cpp,
            "#include <string>\nint main() { std::string s = \"a\"; return s.size(); }\n",
            None,
        ),
        (
            Language::Cpp,
            "int main() { return undeclared_fn(); }\n",
            Some(ErrorClass::UndeclaredIdentifier),
        ),
        (
            Language::Cpp,
            "#include <string>\nint main() { std::string s = \"a\"; int n = s; return n; }\n",
            Some(ErrorClass::TypeMismatch),
        ),
        (
            Language::Cpp,
            "int main() {\n  return 0;\n",
            Some(ErrorClass::Syntax),
        ),
    ];
    let mut counts = ValidityCounts::default();
    for (lang, text, want) in cases {
        let report = check_source(&sandbox, text, *lang, &config).unwrap();
        assert_eq!(report.primary, *want, "{text}: {:#?}", report.errors);
        assert_eq!(report.valid, want.is_none());
        counts.add(&report);
    }
    assert_eq!(counts.generated, cases.len());
    assert_eq!(counts.compiled, 3);
    assert_eq!(counts.syntax_errors, 2);
    assert_eq!(counts.semantic_errors, 6);
}

/// Precompiled leading includes must not change any verdict: same validity, same first error
/// class and line, same warning count, with and without them; and they must really be used.
#[test]
fn precompiled_headers_give_the_same_reports() {
    use sectune::eval::pch::PchCache;
    use sectune::eval::validity::check_source_with_pch;
    let sandbox = Sandbox::new(SandboxConfig::default()).unwrap();
    let config = CompileConfig::default();
    let cache = PchCache::new().unwrap();
    let head = "#include <iostream>\n#include <string>\n// reads a name\n";
    let bodies = [
        "int main() {\n    std::string s;\n    std::cin >> s;\n    std::cout << s << '\\n';\n}\n",
        "int main() {\n    int x = 1\n    return x;\n}\n",
        "int main() {\n    return undeclared_thing;\n}\n",
        // <cstring> is not among the precompiled includes: still missing with them.
        "int main() {\n    char *p = strdup(\"x\");\n    return p[0];\n}\n",
        "#include <vector>\nint main() {\n    std::vector<int> v(3);\n    return v[1];\n}\n",
    ];
    for body in bodies {
        let text = format!("{head}{body}");
        let plain = check_source(&sandbox, &text, Language::Cpp, &config).unwrap();
        let fast = check_source_with_pch(&sandbox, &text, Language::Cpp, &config, &cache).unwrap();
        assert!(
            fast.command.iter().any(|a| a == "-include"),
            "no precompiled header used: {:?}",
            fast.command
        );
        assert_eq!(plain.valid, fast.valid, "{text}");
        assert_eq!(plain.primary, fast.primary, "{text}");
        assert_eq!(plain.warnings, fast.warnings, "{text}");
        let lines = |r: &sectune::eval::validity::CompileReport| {
            r.errors
                .iter()
                .map(|e| (e.class, e.line))
                .collect::<Vec<_>>()
        };
        assert_eq!(lines(&plain), lines(&fast), "{text}");
    }
}
