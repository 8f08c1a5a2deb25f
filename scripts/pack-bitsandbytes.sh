#!/usr/bin/env bash
# Unpacks bitsandbytes (the pinned wheel, keeping only its CPU and CUDA 13 libraries: ~9 MB of the
# 43 MB) into .gpu-carry/python, for a lent GPU machine that has torch, transformers and peft but
# no bitsandbytes and no network: the device tool's `carry` takes the folder along, and
# scripts/gpu-check.sh's layer-bnb step puts it on PYTHONPATH.
# Usage: scripts/pack-bitsandbytes.sh [DEST]   (BNB_VERSION overrides the pin)
set -euo pipefail
version=${BNB_VERSION:-0.50.2}
root=$(cd "$(dirname "$0")/.." && pwd)
dest=${1:-$root/.gpu-carry/python}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip download -q --no-deps "bitsandbytes==$version" -d "$tmp"
rm -rf "$dest/bitsandbytes" "$dest"/bitsandbytes-*.dist-info
python3 - "$tmp"/bitsandbytes-*.whl "$dest" <<'PY'
import re, sys, zipfile
whl, dest = sys.argv[1], sys.argv[2]
keep = re.compile(r"libbitsandbytes_(cpu|cuda13\d+)\.so$")
with zipfile.ZipFile(whl) as z:
    for name in z.namelist():
        if not name.endswith(".so") or keep.search(name):
            z.extract(name, dest)
PY
echo "bitsandbytes $version in $dest ($(du -sh "$dest" | cut -f1)); carry it with the binaries"
