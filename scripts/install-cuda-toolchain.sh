#!/usr/bin/env bash
# Installs the pinned CUDA compiler from PyPI when no nvcc is found, so build.rs can compile kernels/*.cu.
# Idempotent: a usable nvcc (NVCC, CUDA_HOME/CUDA_PATH, PATH, or an earlier run of this script) is kept.
# Prints the nvcc it found or installed on the last line. Needs python3 with pip; no GPU needed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=cuda-toolchain.env
source "$here/cuda-toolchain.env"
prefix="${SECTUNE_CUDA_PREFIX:-$HOME/$SECTUNE_CUDA_DEFAULT_PREFIX}"
pip_nvcc="$prefix/$SECTUNE_CUDA_TREE/$SECTUNE_CUDA_NVCC"

works() { [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

found=""
if [ -n "${NVCC:-}" ] && works "$NVCC"; then
  found="$NVCC"
elif [ -n "${CUDA_HOME:-}" ] && works "$CUDA_HOME/bin/nvcc"; then
  found="$CUDA_HOME/bin/nvcc"
elif [ -n "${CUDA_PATH:-}" ] && works "$CUDA_PATH/bin/nvcc"; then
  found="$CUDA_PATH/bin/nvcc"
elif command -v nvcc >/dev/null 2>&1 && works "$(command -v nvcc)"; then
  found="$(command -v nvcc)"
elif works "$pip_nvcc"; then
  found="$pip_nvcc"
fi

if [ -z "$found" ]; then
  python="${PYTHON:-python3}"
  if ! command -v "$python" >/dev/null 2>&1; then
    echo "error: no nvcc and no $python to install it with; install python3 + pip, or set NVCC" >&2
    exit 1
  fi
  echo "installing the CUDA toolchain from PyPI into $prefix" >&2
  # shellcheck disable=SC2086  # the package list is meant to split into words
  "$python" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-deps --upgrade \
    --target "$prefix" $SECTUNE_CUDA_PIP_PACKAGES >&2
  if ! works "$pip_nvcc"; then
    echo "error: pip finished but $pip_nvcc does not run" >&2
    exit 1
  fi
  found="$pip_nvcc"
fi

"$found" --version | tail -n 2 >&2
echo "nvcc: $found"
