#!/usr/bin/env bash
# The GPU checks in one pass, for a lent GPU machine that has CUDA, compute-sanitizer and torch
# but no Rust: the test and bench binaries are built elsewhere (`cargo test --features cuda
# --no-run`, `cargo build --features cuda`), stripped, xz-compressed into BIN_DIR as
# cuda_parity.xz, cuda_model.xz and sectune.xz.
# Usage: scripts/gpu-check.sh BIN_DIR OUT_DIR [STEP...]
#   BIN_DIR: scripts/pack-gpu.sh builds it (.gpu-carry/bin).
#   steps (default: all of these): parity model extra memcheck racecheck train train-nf4 train-bf16
#   train-mixed train-mixed-nf4 bench layer layer-mixed layer-mixed-quant quant-memory sanitize-new
#   rank-tiled wgmma wgmma-inflight attention-fused;
#   extra runs every other cuda_* test binary in BIN_DIR (bf16 parity, tensor-core attention,
#   quantized linears, mixed precision); sanitize-new runs memcheck on those and racecheck on the
#   tc attention; rank-tiled reruns the LoRA parity suites with the tiled rank projections
#   (SECTUNE_RANK_PROJECT=tiled) and racechecks them; wgmma (compute capability 9.0) runs the 16-bit
#   linear parity, mixed-precision suites (dense and int8/NF4), their memchecks, a mixed CLI run and
#   one mixed layer (bf16 and NF4 base) with every linear on the warpgroup core (SECTUNE_GEMM_CORE=wgmma);
#   wgmma-inflight the same on its in-flight pipeline, without the memchecks and CLI run;
#   attention-fused runs the tc attention parity (split and fused backward), its memcheck and
#   racecheck, a mixed CLI run and mixed layers of both shapes with SECTUNE_ATTENTION_BWD=fused.
#   wgmma-tma runs the opt-in TMA core's parity suites, a racecheck, memchecks, a CLI run and layers
#   (wgmma-tma-parity only the parity suites); attention-wg the opt-in warpgroup attention's
#   parity (cuda_attention_tc, which runs its forward and backward on 9.0), sanitizers, a CLI run
#   and layers with and without it (SECTUNE_ATTENTION_FWD=wgmma, SECTUNE_ATTENTION_BWD=wgmma);
#   wgmma-parity / wgmma-inflight-parity run only the parity suites of those two, wgmma-sanitize
#   only wgmma's memchecks and CLI run; sanitize-attention-bf16 memchecks and racechecks the tc
#   attention (both backwards);
#   layers-compare times one mixed layer per GEMM core, base dtype and attention backward; bench-only-LIST
#   runs `sectune bench --only LIST` (tables: lora,ia3,attention,adamw,quant,ops); quant-scratch
#   runs the quantized parity suites, a memcheck, a CLI run and layers (against fused, and NF4
#   against bitsandbytes + PEFT) with SECTUNE_QUANT_DECODE=scratch; rank-vec the parity suites,
#   racechecks and a layer with SECTUNE_RANK_PROJECT=vec (vec rank projections and sums).
#   One-offs: quant-memory-DTYPE and layer-SHAPE run one of theirs, test-BINARY runs one test
#   binary and memcheck-BINARY memchecks it; not in the default list: full-memory-DTYPE (the whole
#   32-block CodeLlama-7B), profile-mixed[-SHAPE] (an ncu kernel-time summary of one
#   mixed-precision layer's forward and training steps, scripts/kernel-times.py) and layer-bnb (an
#   int8 and an NF4 + double-quant layer against bitsandbytes + PEFT; needs .gpu-carry/python from
#   scripts/pack-bitsandbytes.sh carried along).
# Everything goes to OUT_DIR/gpu-check.log, one section per step with its exit code and time.
set -u
packed=$(cd "$1" && pwd); out=$2; shift 2
bin=$(mktemp -d)
steps=${*:-parity model extra memcheck racecheck train train-nf4 train-bf16 train-mixed train-mixed-nf4 bench layer layer-mixed layer-mixed-quant quant-memory sanitize-new rank-tiled wgmma wgmma-inflight attention-fused}
log="$out/gpu-check.log"
mkdir -p "$out"
for f in "$packed"/*.xz; do
  name=$(basename "${f%.xz}")
  python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$f" "$bin/$name"
  chmod +x "$bin/$name"
done
# The test binaries read fixtures at the path they were compiled in (CARGO_MANIFEST_DIR).
repo=$(pwd)
# SECTUNE_BUILD_DIR: the repository path on the build machine (default /work/main).
manifest=${SECTUNE_BUILD_DIR:-/work/main}
if [ -n "$manifest" ] && [ ! -e "$manifest" ]; then mkdir -p "$(dirname "$manifest")"; ln -s "$repo" "$manifest"; fi
export SECTUNE_REQUIRE_GPU=1 RUST_BACKTRACE=1

# GPU_CHECK_SECONDS: the whole run's budget; a step's limit is cut to what is left, and a step
# with under 15 s left is skipped (logged), so a device call ends in time with its log.
t_start=$(date +%s)
step() {  # step NAME TIMEOUT_S COMMAND...
  local name=$1 limit=$2; shift 2
  local t0; t0=$(date +%s)
  if [ -n "${GPU_CHECK_SECONDS:-}" ]; then
    local left=$((t_start + GPU_CHECK_SECONDS - t0))
    if [ "$left" -lt 15 ]; then echo "=== $name: skipped, out of time" | tee -a "$log"; return; fi
    [ "$left" -lt "$limit" ] && limit=$left
  fi
  echo "=== $name: $*" >>"$log"
  timeout "$limit" "$@" >>"$log" 2>&1
  local rc=$?
  echo "=== $name: rc=$rc in $(( $(date +%s) - t0 ))s" | tee -a "$log"
  return $rc
}

# A GEMM core whose first parity run timed out (a hung kernel) is left out of the later steps, so
# one hang costs one timeout, not one per step.
hung_cores=""
core_ok() { [[ " $hung_cores " != *" $1 "* ]] || { echo "=== $2: skipped, $1 hung earlier" | tee -a "$log"; return 1; }; }

# train_pair DIR TAG STEPS FLAGS...: the same short LoRA run (demo corpus, tiny Llama written in
# ${model_dtype:-f32}) on cuda (plus ${cuda_flags}, default --precision f32) and on cpu into DIR/run-{cuda,cpu}; fails
# unless every step's loss agrees to ${loss_tol:-1e-3} relative.
train_pair() {
  local d=$1 tag=$2 steps=$3; shift 3
  "$bin/sectune" dataset build --jsonl data/demo-corpus/fixes.jsonl --out "$d/data" --granularity all --seed 42 >/dev/null &&
  "$bin/sectune" init-model --arch llama --seed 1 --dtype "${model_dtype:-f32}" --out "$d/llama" >/dev/null || return 1
  for dev in cuda cpu; do
    local extra=""; [ "$dev" = cuda ] && extra=${cuda_flags:---precision f32}
    # shellcheck disable=SC2086 # extra is a word list
    "$bin/sectune" train --device "$dev" $extra --model "$d/llama" --train-file "$d/data/train-function.jsonl" \
      --method lora --max-steps "$steps" --batch-size 2 --max-tokens 256 --lr 3e-3 "$@" \
      --out "$d/run-$dev" || return 1
    echo "$dev: $(tail -n 1 "$d/run-$dev/metrics.jsonl")"
  done
  python3 - "$d" "$tag" "$steps" "${loss_tol:-1e-3}" <<'PY'
import json, sys
d, tag, steps, tol = sys.argv[1:]
loss = {dev: [json.loads(l)["loss"] for l in open(f"{d}/run-{dev}/metrics.jsonl") if '"loss"' in l] for dev in ("cuda", "cpu")}
worst = max(abs(a - b) / abs(b) for a, b in zip(loss["cuda"], loss["cpu"]))
print(f"{tag} {steps} steps: loss cuda {loss['cuda'][0]:.5f} -> {loss['cuda'][-1]:.5f}, cpu {loss['cpu'][0]:.5f} -> {loss['cpu'][-1]:.5f}; worst relative step-loss difference {worst:.2e}")
sys.exit(0 if worst < float(tol) else 1)
PY
}

# The CLI path end to end: 30 steps with grad-accum 2 and checkpoints on both backends, then
# generation from the GPU-trained adapter on the GPU.
train_both() {
  local d; d=$(mktemp -d)
  train_pair "$d" lora 30 --grad-accum 2 --save-every 10 || return 1
  "$bin/sectune" generate --device cuda --model "$d/llama" --adapter "$d/run-cuda/adapter" --prompts scenarios \
    --out "$d/gen.jsonl" --samples 2 --max-new-tokens 20 --seed 3 && wc -l "$d/gen.jsonl"
}

# The same on an NF4 (double-quantized) base, 10 steps.
train_nf4() {
  train_pair "$(mktemp -d)" nf4 10 --base-dtype nf4 --double-quant
}

# The same on a bf16 checkpoint, which the default --base-dtype bf16 holds in 16 bits.
train_bf16() {
  model_dtype=bf16 train_pair "$(mktemp -d)" bf16-held 10
}

# --precision bf16 on cuda (tensor-core linears over the bf16-held base) against the f32 CPU:
# bf16 rounding, so the step losses agree to 5e-3 relative (a CPU emulation of the roundings:
# 2.6e-4 over the same 10 steps).
train_mixed() {
  model_dtype=bf16 cuda_flags="--precision bf16" loss_tol=5e-3 train_pair "$(mktemp -d)" bf16-mixed 10
}

# The same on an NF4 (double-quantized) base: quant_tc.cu's tensor-core kernels.
train_mixed_nf4() {
  model_dtype=bf16 cuda_flags="--precision bf16" loss_tol=5e-3 train_pair "$(mktemp -d)" nf4-mixed 10 \
    --base-dtype nf4 --double-quant
}

{ date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv; compute-sanitizer --version | tail -n 1; } >>"$log" 2>&1
# mixed_layer NAME SHAPE VAR=VALUE...: one mixed-precision layer of SHAPE under those settings
# (plus ${layer_args}), without the torch side.
mixed_layer() {
  local name=$1 shape=$2; shift 2
  # shellcheck disable=SC2086 # layer_args is a word list
  step "$name" 90 env "$@" "$bin/sectune" bench layer --device cuda --precision bf16 --shape "$shape" --seq 2048 \
    --reps 3 --python none ${layer_args:-}
}

# bnb_layer NAME "DTYPE [FLAGS]" [VAR=VALUE...]: one quantized CodeLlama-7B layer against
# bitsandbytes + PEFT (scripts/pack-bitsandbytes.sh's .gpu-carry/python, carried).
bnb_layer() {
  local name=$1 q=$2; shift 2
  # shellcheck disable=SC2086 # q is a word list
  step "$name" 150 env "$@" PYTHONPATH="$repo/.gpu-carry/python${PYTHONPATH:+:$PYTHONPATH}" "$bin/sectune" \
    bench layer --device cuda --precision bf16 --shape codellama7b --seq 2048 --reps 3 --base-dtype $q
}

# attention_sanitizers TAG: memcheck and racecheck of the tc attention's bf16 half (both
# backwards; the f16 instances are the same code).
attention_sanitizers() {
  [ -x "$bin/cuda_attention_tc" ] || return
  step "memcheck-attention-tc-$1" 90 compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/cuda_attention_tc" --test-threads=1 bf16
  step "racecheck-attention-tc-$1" 90 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/cuda_attention_tc" --test-threads=1 bf16
}

# wgmma_steps CORE PARTS: one warpgroup pipeline for everything (SECTUNE_GEMM_CORE=CORE); PARTS picks
# from parity (the 16-bit linears and the mixed-precision suites, dense and int8/NF4), sanitize
# (their memchecks and a mixed CLI run against the CPU) and layers (bf16 and NF4 base).
wgmma_steps() {
  local core=$1 parts=$2
  core_ok "$core" "wgmma_steps $core $parts" || return
  if [[ $parts == *parity* ]]; then
    if [ -x "$bin/cuda_bf16" ]; then
      step "cuda_bf16-$core" 90 env SECTUNE_GEMM_CORE="$core" "$bin/cuda_bf16" --test-threads=1 linear
      [ $? = 124 ] && { hung_cores="$hung_cores $core"; return; }
    fi
    [ -x "$bin/cuda_mixed" ] && step "cuda_mixed-$core" 90 env SECTUNE_GEMM_CORE="$core" "$bin/cuda_mixed" --test-threads=1
    [ -x "$bin/cuda_quant" ] && step "cuda_quant-$core" 90 env SECTUNE_GEMM_CORE="$core" "$bin/cuda_quant" --test-threads=1 mixed_precision
  fi
  if [[ $parts == *sanitize* ]]; then
    [ -x "$bin/cuda_bf16" ] && step "memcheck-cuda_bf16-$core" 90 env SECTUNE_GEMM_CORE="$core" compute-sanitizer --tool memcheck \
      --error-exitcode 3 "$bin/cuda_bf16" --skip 7b --test-threads=1 linear
    [ -x "$bin/cuda_quant" ] && step "memcheck-cuda_quant-$core" 90 env SECTUNE_GEMM_CORE="$core" compute-sanitizer --tool memcheck \
      --error-exitcode 3 "$bin/cuda_quant" --skip 7b --test-threads=1 mixed_precision
    export -f train_pair train_mixed; export bin; step "train-mixed-$core" 90 env SECTUNE_GEMM_CORE="$core" bash -c train_mixed
  fi
  if [[ $parts == *layers* ]]; then
    step "layer-mixed-$core" 120 env SECTUNE_GEMM_CORE="$core" "$bin/sectune" bench layer --device cuda --precision bf16 \
      --shape codellama7b --seq 2048 --reps 3
    layer_args="--base-dtype nf4" mixed_layer "layer-mixed-nf4-$core" codellama7b SECTUNE_GEMM_CORE="$core"
  fi
}

for s in $steps; do
  case $s in
    parity) step parity 75 "$bin/cuda_parity" --test-threads=1 ;;
    model) step model 75 "$bin/cuda_model" --test-threads=1 ;;
    extra) for t in "$bin"/cuda_*; do
        case $(basename "$t") in cuda_parity|cuda_model) ;; *) step "$(basename "$t")" 75 "$t" --test-threads=1 ;; esac
      done ;;
    memcheck) step memcheck 100 compute-sanitizer --tool memcheck --leak-check full --error-exitcode 3 "$bin/cuda_parity" --skip 7b --test-threads=1 ;;
    test-*) t=${s#test-}; [ -x "$bin/$t" ] && step "$s" 90 "$bin/$t" --test-threads=1 ;;
    memcheck-*) t=${s#memcheck-}; [ -x "$bin/$t" ] && step "$s" 90 compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/$t" --skip 7b --test-threads=1 ;;
    racecheck) step racecheck 60 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/cuda_parity" --test-threads=1 attention norms activations ;;
    train) export -f train_pair train_both; export bin; step train 120 bash -c train_both ;;
    train-nf4) export -f train_pair train_nf4; export bin; step train-nf4 90 bash -c train_nf4 ;;
    train-bf16) export -f train_pair train_bf16; export bin; step train-bf16 90 bash -c train_bf16 ;;
    train-mixed) export -f train_pair train_mixed; export bin; step train-mixed 90 bash -c train_mixed ;;
    train-mixed-nf4) export -f train_pair train_mixed_nf4; export bin; step train-mixed-nf4 90 bash -c train_mixed_nf4 ;;
    bench) step bench 200 "$bin/sectune" bench --reps 10 ;;
    full-memory-*) dt=${s#full-memory-}  # all 32 blocks: writes a 13.5 GB bf16 checkpoint first
      step "$s" 420 "$bin/sectune" bench layer --device cuda --precision f32 --shape codellama7b --layers 32 \
        --vocab 32016 --seq 2048 --checkpoint --reps 1 --base-dtype "$dt" --python none ;;
    profile-mixed|profile-mixed-*)  # per-kernel GPU time of one mixed bf16 decoder layer (ncu)
      shapes=${s#profile-mixed-}; [ "$shapes" = "$s" ] && shapes="codellama7b codegen27b"; for shape in $shapes; do
        step "profile-mixed-$shape" 150 ncu --csv --page raw --print-units base --metrics gpu__time_duration.sum --cache-control none \
          --clock-control none --log-file "$out/ncu-$shape.csv" "$bin/sectune" bench layer --device cuda --precision bf16 \
          --shape "$shape" --seq 2048 --reps 1 --python none
        python3 scripts/kernel-times.py "$out/ncu-$shape.csv" >>"$log" 2>&1
      done ;;
    quant-memory|quant-memory-*) dts=${s#quant-memory-}; [ "$dts" = "$s" ] && dts="bf16 int8 nf4"; for dt in $dts; do
        step "quant-memory-$dt" 150 "$bin/sectune" bench layer --device cuda --shape codellama7b --layers 4 \
          --vocab 32016 --seq 2048 --checkpoint --reps 2 --base-dtype "$dt" --precision f32 --python none
      done ;;
    layer-mixed-quant) for dt in int8 nf4; do  # one CodeLlama-7B layer, base quantized, against bf16 (layer-mixed)
        step "layer-mixed-$dt" 90 "$bin/sectune" bench layer --device cuda --precision bf16 --shape codellama7b \
          --seq 2048 --reps 3 --base-dtype "$dt" --python none
      done ;;
    layer-mixed) for shape in codellama7b codegen27b; do
        step "layer-mixed-$shape" 120 "$bin/sectune" bench layer --device cuda --precision bf16 --shape "$shape" --seq 2048 --reps 3
      done ;;
    layer-bnb)  # one quantized CodeLlama-7B layer against bitsandbytes + PEFT (scripts/pack-bitsandbytes.sh, carried)
      for q in "int8" "nf4 --double-quant"; do bnb_layer "layer-bnb-${q%% *}" "$q"; done ;;
    layer|layer-*) shapes=${s#layer-}; [ "$shapes" = "$s" ] && shapes="codellama7b codegen27b"; for shape in $shapes; do
        step "layer-$shape" 120 "$bin/sectune" bench layer --device cuda --precision f32 --shape "$shape" --seq 2048 --reps 3
      done ;;
    sanitize-new)
      for t in cuda_attention_tc cuda_quant cuda_bf16; do
        [ -x "$bin/$t" ] && step "memcheck-$t" 90 compute-sanitizer --tool memcheck --error-exitcode 3 "$bin/$t" --skip 7b --test-threads=1
      done
      [ -x "$bin/cuda_attention_tc" ] && step racecheck-attention-tc 90 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/cuda_attention_tc" --test-threads=1 ;;
    rank-tiled)
      [ -x "$bin/cuda_bf16" ] && step racecheck-rank-tiled 60 compute-sanitizer --tool racecheck --error-exitcode 3 "$bin/cuda_bf16" --test-threads=1 rank_projections_tiled
      for t in cuda_parity cuda_model cuda_bf16 cuda_quant; do
        [ -x "$bin/$t" ] && step "$t-rank-tiled" 75 env SECTUNE_RANK_PROJECT=tiled "$bin/$t" --test-threads=1
      done ;;
    wgmma-parity|wgmma-sanitize) wgmma_steps wgmma "${s#wgmma-}" ;;
    wgmma-inflight-parity) wgmma_steps wgmma-inflight parity ;;
    sanitize-attention-bf16) attention_sanitizers bf16 ;;
    bench-only-*) tables=${s#bench-only-}  # the LoRA tables time every GEMM core: not after a hang
      [ -n "$hung_cores" ] && [[ $tables == *lora* ]] && { echo "=== $s: lora left out, a core hung" | tee -a "$log"
        tables=$(echo "$tables" | sed 's/lora,\?//; s/,$//'); }
      [ -n "$tables" ] && step "bench-only-$tables" 200 "$bin/sectune" bench --reps 10 --only "$tables" ;;
    layers-compare)  # one mixed layer per setting, the default first (with torch); "tc-split" is the
      # default before the twelfth session (mma.sync GEMMs, split attention backward)
      for shape in codellama7b codegen27b; do
        step "layer-mixed-$shape" 120 "$bin/sectune" bench layer --device cuda --precision bf16 --shape "$shape" --seq 2048 --reps 3
        mixed_layer "layer-mixed-tc-split-$shape" "$shape" SECTUNE_GEMM_CORE=tc SECTUNE_ATTENTION_BWD=split
        mixed_layer "layer-mixed-split-$shape" "$shape" SECTUNE_ATTENTION_BWD=split
        mixed_layer "layer-mixed-fused-$shape" "$shape" SECTUNE_ATTENTION_BWD=fused
      done
      for core in auto tc wgmma wgmma-inflight; do
        core_ok "$core" "layer-mixed-$core" || continue
        mixed_layer "layer-mixed-$core-codellama7b" codellama7b SECTUNE_GEMM_CORE="$core"
        for dt in int8 nf4; do
          layer_args="--base-dtype $dt" mixed_layer "layer-mixed-$dt-$core-codellama7b" codellama7b SECTUNE_GEMM_CORE="$core"
        done
      done ;;
    quant-scratch)  # the opt-in whole-weight decode of int8 / NF4 bases (SECTUNE_QUANT_DECODE=scratch)
      [ -x "$bin/cuda_quant" ] && step cuda_quant-scratch 90 env SECTUNE_QUANT_DECODE=scratch "$bin/cuda_quant" --test-threads=1 mixed_precision
      [ -x "$bin/cuda_mixed" ] && step cuda_mixed-scratch 90 env SECTUNE_QUANT_DECODE=scratch "$bin/cuda_mixed" --test-threads=1
      [ -x "$bin/cuda_quant" ] && step memcheck-cuda_quant-scratch 90 env SECTUNE_QUANT_DECODE=scratch compute-sanitizer \
        --tool memcheck --error-exitcode 3 "$bin/cuda_quant" --skip 7b --test-threads=1 mixed_precision
      export -f train_pair train_mixed_nf4; export bin
      step train-mixed-nf4-scratch 90 env SECTUNE_QUANT_DECODE=scratch bash -c train_mixed_nf4
      for dt in int8 nf4; do  # scratch beside fused (the default), same run
        for decode in scratch fused; do
          layer_args="--base-dtype $dt" mixed_layer "layer-mixed-$dt-$decode-codellama7b" codellama7b SECTUNE_QUANT_DECODE=$decode
        done
      done
      bnb_layer layer-bnb-nf4-scratch "nf4 --double-quant" SECTUNE_QUANT_DECODE=scratch ;;
    rank-vec)  # the opt-in vec rank projections and sums (SECTUNE_RANK_PROJECT=vec): parity, racechecks, a layer
      [ -x "$bin/cuda_bf16" ] && step racecheck-rank-vec 60 env SECTUNE_RANK_PROJECT=vec compute-sanitizer --tool racecheck \
        --error-exitcode 3 "$bin/cuda_bf16" --test-threads=1 lora
      [ -x "$bin/cuda_parity" ] && step racecheck-rank-sums-vec 60 env SECTUNE_RANK_PROJECT=vec compute-sanitizer \
        --tool racecheck --error-exitcode 3 "$bin/cuda_parity" --test-threads=1 linear_with_every_adapter
      for t in cuda_parity cuda_model cuda_bf16 cuda_quant cuda_mixed; do
        [ -x "$bin/$t" ] && step "$t-rank-vec" 75 env SECTUNE_RANK_PROJECT=vec "$bin/$t" --test-threads=1
      done
      mixed_layer layer-mixed-rank-vec-codellama7b codellama7b SECTUNE_RANK_PROJECT=vec
      mixed_layer layer-mixed-rank-default-codellama7b codellama7b SECTUNE_RANK_PROJECT= ;;
    wgmma) wgmma_steps wgmma parity,sanitize,layers ;;
    wgmma-inflight) wgmma_steps wgmma-inflight parity,layers ;;
    wgmma-tma|wgmma-tma-parity)  # the opt-in TMA core (gemm_tma.cu, never run on a GPU before): parity
      # first (a hang marks it hung), then a racecheck of its mbarrier ring, memchecks, layers
      parts=parity,sanitize,layers; [ "$s" = wgmma-tma-parity ] && parts=parity
      wgmma_steps wgmma-tma parity
      if [ "$parts" != parity ] && core_ok wgmma-tma "wgmma-tma racecheck"; then
        [ -x "$bin/cuda_bf16" ] && step racecheck-cuda_bf16-wgmma-tma 90 env SECTUNE_GEMM_CORE=wgmma-tma compute-sanitizer \
          --tool racecheck --error-exitcode 3 "$bin/cuda_bf16" --skip 7b --test-threads=1 linear
        wgmma_steps wgmma-tma sanitize,layers
      fi ;;
    attention-wg)  # the opt-in warpgroup attention (attention_wg.cu, never run on a GPU before):
      # cuda_attention_tc checks its forward and backward on 9.0 beside the mma.sync ones; then the
      # sanitizers, a CLI run and both shapes' layers with it, with only its forward, and without
      # (same run); the attention table times all of them
      [ -x "$bin/cuda_attention_tc" ] && step attention-tc-wg 60 "$bin/cuda_attention_tc" --test-threads=1
      [ $? = 124 ] && { echo "=== attention-wg: the parity run hung; the rest left out" | tee -a "$log"; continue; }
      attention_sanitizers wg
      export -f train_pair train_mixed; export bin
      step train-mixed-attention-wg 90 env SECTUNE_ATTENTION_FWD=wgmma SECTUNE_ATTENTION_BWD=wgmma bash -c train_mixed
      for shape in codellama7b codegen27b; do
        mixed_layer "layer-mixed-attention-wg-$shape" "$shape" SECTUNE_ATTENTION_FWD=wgmma SECTUNE_ATTENTION_BWD=wgmma
        mixed_layer "layer-mixed-attention-wg-fwd-$shape" "$shape" SECTUNE_ATTENTION_FWD=wgmma
        mixed_layer "layer-mixed-attention-tc-$shape" "$shape" SECTUNE_ATTENTION_FWD=tc
      done ;;
    attention-fused)  # the fused tc attention backward; compare its layers with layer-mixed's
      [ -x "$bin/cuda_attention_tc" ] && step attention-tc-both 60 "$bin/cuda_attention_tc" --test-threads=1
      attention_sanitizers both
      export -f train_pair train_mixed; export bin; step train-mixed-attention-fused 90 env SECTUNE_ATTENTION_BWD=fused bash -c train_mixed
      for shape in codellama7b codegen27b; do
        mixed_layer "layer-mixed-attention-fused-$shape" "$shape" SECTUNE_ATTENTION_BWD=fused
      done ;;
  esac
done
grep -E '^=== .*(rc=|skipped|left out)|test result|FAILED|panicked|ERROR SUMMARY|RACECHECK SUMMARY' "$log" | head -n 60
