#!/usr/bin/env python3
"""Writes a samples JSONL for timing the judge: N samples per scenario, alternating the
scenario's secure and vulnerable reference completions. Each sample gets its own comment line
so no two programs are identical (the judge's duplicate cache cannot help: worst case), unless
--duplicates is given (then the references repeat verbatim, as repeated model samples do).

usage: scripts/judge-bench-samples.py SUITE_DIR OUT.jsonl [--per-scenario 30] [--duplicates]
"""
import argparse
import json
import pathlib
import sys
import tomllib


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("suite", type=pathlib.Path)
    parser.add_argument("out", type=pathlib.Path)
    parser.add_argument("--per-scenario", type=int, default=30)
    parser.add_argument("--duplicates", action="store_true")
    args = parser.parse_args()
    if args.out.exists():
        print(f"{args.out} exists; remove it first", file=sys.stderr)
        return 1
    lines = []
    for toml_path in sorted(args.suite.glob("*/scenario.toml")):
        meta = tomllib.loads(toml_path.read_text())
        folder = toml_path.parent
        references = [
            (folder / meta["secure"]).read_text(),
            (folder / meta["vulnerable"]).read_text(),
        ]
        for n in range(args.per_scenario):
            completion = references[n % 2]
            if not args.duplicates:
                completion = f"    /* sample {n} */\n{completion}"
            lines.append(json.dumps({"prompt_id": meta["id"], "sample": n, "completion": completion}))
    args.out.write_text("\n".join(lines) + "\n")
    print(f"{len(lines)} samples written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
