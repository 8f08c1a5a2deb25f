#!/usr/bin/env bash
# Reads the machine code of one kernel without a GPU: compiles kernels/FILE.cu for one arch with
# build.rs's flags and prints, per entry point, its SASS instruction count, its subroutine calls
# (a 64-bit divide or a spilled helper shows up here) and its memory / tensor-core instruction
# mix. With --dump it prints the whole SASS of the entries instead.
# Usage: scripts/sass.sh FILE ARCH [ENTRY_SUBSTRING] [--dump]
#   FILE: a kernels/ stem (quant_tc); ARCH: 80, 86, 89, 90 or 90a; e.g.
#   scripts/sass.sh quant_tc 80 qlinear_fwd_nf4
# cuobjdump / nvdisasm are not published on PyPI for CUDA 13.0; the first 13.x that is (13.2) goes
# into its own folder, beside the pinned compiler, and reads 13.0 cubins.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
[ $# -ge 2 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
file=$1 arch=$2 filter=${3:-} dump=0
[ "${4:-${3:-}}" = "--dump" ] && dump=1
[ "$filter" = "--dump" ] && filter=""
src="$root/kernels/$file.cu"
[ -f "$src" ] || { echo "error: no $src (give a kernels/ stem, e.g. quant_tc)" >&2; exit 2; }

nvcc_line=$(bash "$here/install-cuda-toolchain.sh" 2>/dev/null | tail -n 1)
nvcc=${nvcc_line#nvcc: }
tree="$(dirname "$(dirname "$nvcc")")"

tools="${SECTUNE_SASS_PREFIX:-$HOME/.cache/sectune/cuda-sass-13.2}"
bin="$tools/nvidia/cu13/bin"
if [ ! -x "$bin/cuobjdump" ] || [ ! -x "$bin/nvdisasm" ]; then
  echo "installing cuobjdump and nvdisasm from PyPI into $tools" >&2
  "${PYTHON:-python3}" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps \
    --target "$tools" nvidia-cuda-cuobjdump==13.2.51 nvidia-cuda-nvdisasm==13.2.51 >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$nvcc" --cubin -O3 -std=c++17 -lineinfo -gencode "arch=compute_$arch,code=sm_$arch" \
  -I"$tree/include" -I"$tree/include/cccl" "$src" -o "$work/k.cubin"
PATH="$bin:$PATH" "$bin/cuobjdump" -sass "$work/k.cubin" >"$work/k.sass"

if [ "$dump" = 1 ]; then
  awk -v f="$filter" '/Function :/{keep = index($3, f) > 0} keep' "$work/k.sass"
  exit 0
fi
# One line per entry: instructions, then the counts of the opcodes that matter for a GEMM's loop.
awk -v f="$filter" '
  function flush() {
    if (name != "" && index(name, f) > 0)
      printf "%-44s %6d instr  CALL %3d  HMMA %3d  WGMMA %3d  LDG %4d  LDGSTS %3d  LDS %4d  LDSM %3d  STS %4d  BAR %2d\n",
        name, n, c["CALL"], c["HMMA"], c["HGMMA"], c["LDG"], c["LDGSTS"], c["LDS"], c["LDSM"], c["STS"], c["BAR"]
  }
  /Function :/ { flush(); name = $3; n = 0; split("", c); next }
  /^[[:space:]]+\/\*[0-9a-f]+\*\// {
    line = $0; sub(/^[[:space:]]+\/\*[0-9a-f]+\*\/[[:space:]]+/, "", line); sub(/^@!?U?P[T0-9]+[[:space:]]+/, "", line)
    split(line, w, /[ .;]/); n++; c[w[1]]++
  }
  END { flush() }' "$work/k.sass"
