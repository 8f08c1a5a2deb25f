#!/usr/bin/env bash
# Issue 9's accuracy target: validation loss after a fixed number of LoRA steps with a quantized
# base (int8, nf4, nf4 + double quant) against the unquantized base, same data, seed and settings.
# usage: scripts/quant-val-loss.sh SECTUNE_BIN OUT_DIR [DEVICE] [PRESET] [STEPS]
#   DEVICE cpu|cuda (default cpu), PRESET tiny|small (default small), STEPS (default 60).
# Prints one line per base dtype with its final validation loss and the relative difference to
# the unquantized run; exits 1 when a quantized run is more than 1% off (the issue's target).
set -euo pipefail
bin=$1 out=$2 device=${3:-cpu} preset=${4:-small} steps=${5:-60}
mkdir -p "$out"
"$bin" dataset build --jsonl data/demo-corpus/fixes.jsonl --out "$out/data" --granularity all --seed 42 >/dev/null
[ -e "$out/model/model.safetensors" ] ||
  "$bin" init-model --arch llama --preset "$preset" --seed 1 --out "$out/model" >/dev/null
for base in bf16 int8 nf4 nf4dq; do
  flags=(--base-dtype "${base%dq}")
  [ "$base" = nf4dq ] && flags+=(--double-quant)
  rm -rf "$out/run-$base"
  "$bin" train --device "$device" --model "$out/model" --train-file "$out/data/train-function.jsonl" \
    --validation-file "$out/data/validation-function.jsonl" "${flags[@]}" --method lora \
    --max-steps "$steps" --batch-size 4 --max-tokens 256 --lr 3e-3 --seed 7 \
    --out "$out/run-$base" >"$out/run-$base.log" 2>&1
done
python3 - "$out" "$steps" <<'PY'
import json, sys
out, steps = sys.argv[1], sys.argv[2]
def final(base):
    rows = [json.loads(l) for l in open(f"{out}/run-{base}/metrics.jsonl")]
    first = next(r["loss"] for r in rows if "loss" in r)
    return first, [r["val_loss"] for r in rows if "val_loss" in r][-1]
ref_first, ref = final("bf16")
worst = 0.0
for base in ("bf16", "int8", "nf4", "nf4dq"):
    first, v = final(base)
    rel = (v - ref) / ref
    worst = max(worst, abs(rel))
    print(f"{base:>6}: first step loss {first:.5f}, validation loss after {steps} steps {v:.5f} ({rel:+.3%} vs the unquantized base)")
sys.exit(0 if worst <= 0.01 else 1)
PY
