#!/usr/bin/env bash
# Checks fixes.jsonl: record shape, fake SHAs, commit/repository consistency, that every
# before/after side compiles on its own (gcc/g++ -fsyntax-only), and that each shipped diff
# turns before into after with patch(1). Exit status 0 only if every check passes.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
corpus="${1:-$here/fixes.jsonl}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Shape checks and extraction of each side into $work/<n>/{before,after,diff,lang}.
failed=0
(python3 - "$corpus" "$work" <<'PY'
import collections, json, os, re, sys
corpus, work = sys.argv[1], sys.argv[2]
required = {"commit", "repository", "file_path", "language", "cwe_ids", "cve_ids", "before", "after"}
errors, repo_of, paths = [], {}, set()
cwe_count, lang_count = collections.Counter(), collections.Counter()
records = 0
with open(corpus) as f:
    for n, line in enumerate(f, 1):
        where = f"{corpus}:{n}"
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{where}: not JSON ({e})"); continue
        records += 1
        keys = set(rec)
        if not required <= keys or keys - required - {"diff"}:
            errors.append(f"{where}: fields {sorted(keys)} (want {sorted(required)} plus optional diff)"); continue
        if not re.fullmatch(r"[0-9a-f]{40}", rec["commit"]):
            errors.append(f"{where}: commit {rec['commit']!r} is not 40 lowercase hex chars")
        if repo_of.setdefault(rec["commit"], rec["repository"]) != rec["repository"]:
            errors.append(f"{where}: commit {rec['commit']} appears with two repositories")
        if (rec["commit"], rec["file_path"]) in paths:
            errors.append(f"{where}: {rec['file_path']} appears twice in commit {rec['commit']}")
        paths.add((rec["commit"], rec["file_path"]))
        if rec["language"] not in ("C", "C++"):
            errors.append(f"{where}: language {rec['language']!r}")
        if not rec["cwe_ids"] or not all(re.fullmatch(r"CWE-\d+", c) for c in rec["cwe_ids"]):
            errors.append(f"{where}: cwe_ids {rec['cwe_ids']}")
        if not rec["cve_ids"] or not all(re.fullmatch(r"CVE-2099-\d{4}", c) for c in rec["cve_ids"]):
            errors.append(f"{where}: cve_ids {rec['cve_ids']} (must be fake CVE-2099-NNNN)")
        if rec["before"] == rec["after"]:
            errors.append(f"{where}: before equals after")
        for side in ("before", "after"):
            lines = rec[side].count("\n")
            if not 25 <= lines <= 120:
                errors.append(f"{where}: {side} has {lines} lines (want 25-120)")
        if "diff" in rec and not rec["diff"].startswith(f"--- a/{rec['file_path']}\n+++ b/{rec['file_path']}\n@@ "):
            errors.append(f"{where}: diff does not start with ---/+++ headers for {rec['file_path']}")
        d = os.path.join(work, f"{n:03d}")
        os.makedirs(d)
        for side in ("before", "after", "diff"):
            if side in rec:
                with open(os.path.join(d, side), "w") as out:
                    out.write(rec[side])
        with open(os.path.join(d, "lang"), "w") as out:
            out.write(rec["language"])
        with open(os.path.join(d, "name"), "w") as out:
            out.write(f"{where} {rec['repository']} {rec['file_path']}")
        lang_count[rec["language"]] += 1
        for c in rec["cwe_ids"]:
            cwe_count[c] += 1
study = [20, 22, 78, 79, 119, 125, 190, 416, 476, 732, 787]
for c in study:
    if cwe_count[f"CWE-{c}"] < 3:
        errors.append(f"CWE-{c}: {cwe_count[f'CWE-{c}']} records (want at least 3)")
if not 36 <= records <= 48:
    errors.append(f"{records} records (want 36-48)")
print(f"records: {records}, commits: {len(repo_of)}, repositories: {len(set(repo_of.values()))}")
print("languages: " + ", ".join(f"{k}={v}" for k, v in sorted(lang_count.items())))
print("cwes: " + ", ".join(f"{c}={cwe_count[c]}" for c in sorted(cwe_count, key=lambda s: int(s[4:]))))
for e in errors:
    print("FAIL " + e)
sys.exit(1 if errors else 0)
PY
) || failed=1

compiled=0 patched=0
for d in "$work"/*/; do
    name="$(cat "$d/name")"
    for side in before after; do
        if [ "$(cat "$d/lang")" = C ]; then
            cmd=(gcc -fsyntax-only -std=gnu11 -x c "$d/$side")
        else
            cmd=(g++ -fsyntax-only -std=c++17 -x c++ "$d/$side")
        fi
        if "${cmd[@]}" 2>"$d/$side.log"; then
            compiled=$((compiled + 1))
        else
            echo "FAIL $name: $side does not compile:"; sed 's/^/    /' "$d/$side.log"; failed=1
        fi
    done
    if [ -f "$d/diff" ]; then
        cp "$d/before" "$d/patched"
        if patch --quiet --force "$d/patched" "$d/diff" >"$d/patch.log" 2>&1 && cmp -s "$d/patched" "$d/after"; then
            patched=$((patched + 1))
        else
            echo "FAIL $name: diff does not turn before into after"; sed 's/^/    /' "$d/patch.log"; failed=1
        fi
    fi
done
echo "compiled: $compiled sides; diffs applied: $patched"
[ "$failed" = 0 ] && echo "OK" || { echo "check failed"; exit 1; }
