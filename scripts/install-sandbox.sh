#!/bin/sh
# Installs what sectune's sandbox needs on Debian 12 (run as root; safe to run again):
# bubblewrap, gcc/g++, and one unprivileged run user per parallel worker
# (sectune-run0 .. sectune-run{N-1}; N = SECTUNE_RUN_USERS or the number of CPUs, at least 2).
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "install-sandbox.sh: run as root (it installs packages and creates users)" >&2
    exit 1
fi

need=""
command -v bwrap >/dev/null 2>&1 || need="$need bubblewrap"
command -v gcc >/dev/null 2>&1 || need="$need gcc"
command -v g++ >/dev/null 2>&1 || need="$need g++"
if [ -n "$need" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need
fi

count="${SECTUNE_RUN_USERS:-$(nproc)}"
[ "$count" -ge 2 ] || count=2
i=0
while [ "$i" -lt "$count" ]; do
    name="sectune-run$i"
    if ! id -u "$name" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin --user-group "$name"
    fi
    i=$((i + 1))
done

echo "sandbox ready: $(bwrap --version), run users sectune-run0..sectune-run$((count - 1))"
