#!/usr/bin/env bash
# Installs what sectune's build, tests and demo need on a fresh Debian machine (idempotent).
# Each part lives in its own script; a part whose script is absent is skipped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (https://rustup.rs) first" >&2
  exit 1
fi
for part in install-cuda-toolchain.sh install-sandbox.sh install-analyzers.sh; do
  if [ -f "$here/$part" ]; then
    echo "setup: $part"
    bash "$here/$part"
  fi
done
