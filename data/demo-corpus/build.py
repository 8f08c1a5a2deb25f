#!/usr/bin/env python3
"""Builds fixes.jsonl from the annotated sources in source/.

Each source file starts with `// @key: value` header lines (commit, repo, path, cwe, cve, diff).
A code line ending in `//-` exists only before the fix, one ending in `//+` only after it.
The commit SHA is a fake: sha1 of the commit label, so rebuilding is deterministic.
"""
import hashlib, json, pathlib, re, subprocess, sys, tempfile

HERE = pathlib.Path(__file__).resolve().parent
MARK = re.compile(r"\s*//([-+])$")


def parse(src):
    meta, before, after = {}, [], []
    for line in src.read_text().splitlines():
        head = re.match(r"^// @(\w+): (.*)$", line)
        if head and not before and not after:
            meta[head.group(1)] = head.group(2).strip()
            continue
        if not before and not after and line == "":
            continue
        m = MARK.search(line)
        if m is None:
            before.append(line); after.append(line)
        else:
            text = line[: m.start()]
            (before if m.group(1) == "-" else after).append(text)
    return meta, "\n".join(before) + "\n", "\n".join(after) + "\n"


def unified_diff(path, before, after):
    with tempfile.TemporaryDirectory() as tmp:
        a, b = pathlib.Path(tmp, "a"), pathlib.Path(tmp, "b")
        a.write_text(before); b.write_text(after)
        out = subprocess.run(["diff", "-u", "--label", "a/" + path, "--label", "b/" + path, str(a), str(b)],
                             capture_output=True, text=True)
        if out.returncode != 1:
            sys.exit(f"{path}: diff found no change or failed")
        return out.stdout


def main():
    records = []
    for src in sorted(HERE.glob("source/*")):
        meta, before, after = parse(src)
        if before == after:
            sys.exit(f"{src}: no //- or //+ lines")
        lang = "C" if src.suffix == ".c" else "C++"
        rec = {
            "commit": hashlib.sha1(("sectune-demo-corpus:" + meta["commit"]).encode()).hexdigest(),
            "repository": meta["repo"],
            "file_path": meta["path"],
            "language": lang,
            "cwe_ids": meta["cwe"].split(),
            "cve_ids": meta["cve"].split(),
            "before": before,
            "after": after,
        }
        if meta.get("diff") == "yes":
            rec["diff"] = unified_diff(meta["path"], before, after)
        records.append(rec)
    with open(HERE / "fixes.jsonl.tmp", "w") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    pathlib.Path(HERE / "fixes.jsonl.tmp").replace(HERE / "fixes.jsonl")
    print(f"wrote {len(records)} records")


if __name__ == "__main__":
    main()
