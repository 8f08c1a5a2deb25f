#!/usr/bin/env bash
# Times `sectune eval scenarios` on N samples per scenario of the shipped suite (every program
# unique: the worst case), measuring wall time and the CPU time (user + sys) of the judge and
# everything it ran (/usr/bin/time counts waited-for children: compilers, analyzers, runs).
# The 2-core estimate is CPU / 2; the load average says how busy the machine was.
#
# usage: scripts/judge-bench.sh N OUT_DIR [extra eval scenarios flags, e.g. --all-static-tools]
set -euo pipefail
per_scenario=${1:?samples per scenario}
out=${2:?output folder}
shift 2
bin=${SECTUNE_BIN:-target/debug/sectune}
mkdir -p "$out"
samples="$out/samples.jsonl"
rm -f "$samples"
python3 scripts/judge-bench-samples.py scenarios "$samples" --per-scenario "$per_scenario" >&2
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/bench.txt"
/usr/bin/time -f 'wall_s %e\nuser_s %U\nsys_s %S\nmax_rss_kb %M' -o "$out/time.txt" \
  "$bin" eval scenarios --suite scenarios --samples "$samples" --out "$out/judged" --force "$@" \
  > "$out/stdout.txt" 2> "$out/stderr.txt"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/bench.txt"
cat "$out/time.txt" | tee -a "$out/bench.txt"
programs=$(wc -l < "$samples")
awk -v n="$programs" '/^user_s/{u=$2} /^sys_s/{s=$2} /^wall_s/{w=$2}
  END {cpu=u+s; printf "programs %d\ncpu_s %.1f\ncpu_s_per_program %.3f\nwall_s %.1f\ntwo_core_estimate_min %.1f\n", n, cpu, cpu/n, w, cpu/2/60}' \
  "$out/time.txt" | tee -a "$out/bench.txt"
grep -E "^judged" "$out/stderr.txt" | tee -a "$out/bench.txt"
