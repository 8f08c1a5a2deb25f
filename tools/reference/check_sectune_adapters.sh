#!/usr/bin/env bash
# Writes LoRA and IA3 adapters with sectune for tiny Llama and CodeGen models and checks that
# peft loads each one and computes the same loss (check_adapter_in_peft.py, rtol 1e-4).
# Needs: cargo, and `pip install torch transformers peft safetensors`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --quiet
bin=target/debug/sectune
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '#include <stdio.h>\nint main(int argc, char **argv) {\n  char name[32];\n  sprintf(name, "%%s", argv[1]);\n  puts(name);\n  return 0;\n}\n' > "$work/text.c"
for arch in llama codegen; do
  "$bin" init-model --arch "$arch" --seed 5 --out "$work/$arch" >/dev/null
  for method in lora ia3; do
    "$bin" init-adapter --model "$work/$arch" --method "$method" --perturb 0.3 --dropout 0 --seed 2 --out "$work/$arch-$method" >/dev/null
    json=$("$bin" score --model "$work/$arch" --adapter "$work/$arch-$method" --text-file "$work/text.c" --json --show-ids)
    loss=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["loss"])' "$json")
    ids=$(python3 -c 'import json,sys; print(json.dumps([json.loads(sys.argv[1])["token_ids"]]))' "$json")
    echo "== $arch $method: sectune loss $loss"
    python3 tools/reference/check_adapter_in_peft.py "$work/$arch" "$work/$arch-$method" "$ids" "$loss"
  done
done
