#!/usr/bin/env bash
# Builds what a lent GPU machine runs (it has CUDA, compute-sanitizer and torch, but no Rust and no
# network) into the ignored .gpu-carry: bin/ holds sectune and the CUDA test binaries, stripped and
# xz-compressed, for `scripts/gpu-check.sh .gpu-carry/bin OUT [STEP...]`; with --bnb, python/ holds
# bitsandbytes for the layer-bnb step (scripts/pack-bitsandbytes.sh). Give the device tool
# carry [".gpu-carry"]: it must stay under 64 MiB, which this checks. The kernels are built for the
# lent GPUs only (H100 / H200: SECTUNE_CUDA_ARCHS=sm_90 unless set), which keeps each binary's
# embedded fatbins small; the next plain build goes back to every arch (cached per arch set).
# Usage: scripts/pack-gpu.sh [--bnb] [TEST...]   (TEST: a tests/cuda_*.rs stem; default all of them)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bnb=0
if [ "${1:-}" = "--bnb" ]; then bnb=1; shift; fi
if [ $# -gt 0 ]; then tests=("$@"); else
  tests=(); for f in tests/cuda_*.rs; do tests+=("$(basename "${f%.rs}")"); done
fi
dest=.gpu-carry/bin
export SECTUNE_CUDA_ARCHS=${SECTUNE_CUDA_ARCHS:-sm_90}
executables() {  # executables KIND < cargo's JSON messages → "NAME PATH" per built KIND target
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == [sys.argv[1]]:
        print(m["target"]["name"], m["executable"])' "$1"
}
args=(); for t in "${tests[@]}"; do args+=(--test "$t"); done
exes=$(cargo build --features cuda --bin sectune --message-format=json | executables bin
  cargo test --features cuda --no-run "${args[@]}" --message-format=json | executables test)
rm -rf "$dest" && mkdir -p "$dest"
while read -r name exe; do
  strip -o "$dest/$name" "$exe" && xz -T0 -9 "$dest/$name"
done <<<"$exes"
[ "$bnb" = 1 ] && bash scripts/pack-bitsandbytes.sh
kib=$(du -sk .gpu-carry | cut -f1)
ls -la "$dest"
echo "pack-gpu: .gpu-carry is $((kib / 1024)) MiB (the carry limit is 64 MiB); on the device run"
echo "  SECTUNE_BUILD_DIR=$root bash scripts/gpu-check.sh .gpu-carry/bin \$OUT [STEP...]"
if [ "$kib" -gt $((64 * 1024)) ]; then
  echo "error: .gpu-carry is over 64 MiB: pass fewer tests" >&2
  exit 1
fi
