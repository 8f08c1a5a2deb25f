#!/usr/bin/env bash
# Runs a command and prints the peak anonymous resident memory (RssAnon: heap, not the mmapped
# checkpoint pages) of its process, sampled every 20 ms, with its exit status and last output line.
# usage: scripts/peak-anon.sh COMMAND [ARGS...]
set -uo pipefail
out=$(mktemp)
"$@" >"$out" 2>&1 &
pid=$!
peak=0
while kill -0 "$pid" 2>/dev/null; do
  kb=$(awk '/^RssAnon/{print $2}' "/proc/$pid/status" 2>/dev/null)
  [ -n "$kb" ] && [ "$kb" -gt "$peak" ] && peak=$kb
  sleep 0.02
done
wait "$pid"
rc=$?
echo "rc=$rc peak_anon_MiB=$((peak / 1024))"
tail -n 1 "$out"
rm -f "$out"
exit "$rc"
