#!/usr/bin/env python3
"""Check that PEFT reads an adapter the way sectune meant it.

    python tools/reference/check_adapter_in_peft.py MODEL_DIR ADAPTER_DIR IDS_JSON EXPECTED_LOSS

Loads MODEL_DIR with transformers (f32, eager attention, CPU), applies ADAPTER_DIR with
PeftModel.from_pretrained, computes the HF causal-LM loss of the token ids with labels = ids
(shifted inside the model, mean over all predicted tokens), and compares it with EXPECTED_LOSS
(relative tolerance 1e-4 unless --rtol is given).

IDS_JSON is a path to a JSON file, or the JSON text itself when it starts with '['; either way it
holds a list of equally long lists of token ids, e.g. [[1, 5, 9], [2, 7, 3]].

Exit status: 0 match, 1 mismatch, 2 bad input.
"""

import argparse
import json
import math
import sys
import warnings
from pathlib import Path


def fail_input(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def read_ids(arg):
    if arg.lstrip().startswith("["):
        source, text = "the IDS_JSON argument", arg
    else:
        path = Path(arg)
        if not path.is_file():
            fail_input(f"{arg}: no such file (pass a JSON file or inline JSON starting with '[')")
        source, text = str(path), path.read_text()
    try:
        ids = json.loads(text)
    except json.JSONDecodeError as err:
        fail_input(f"{source}: not valid JSON ({err})")
    well_formed = (
        isinstance(ids, list)
        and ids
        and all(isinstance(row, list) and row for row in ids)
        and all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for row in ids for t in row)
    )
    if not well_formed:
        fail_input(f"{source}: expected a non-empty list of non-empty lists of non-negative integers")
    if len({len(row) for row in ids}) != 1:
        fail_input(f"{source}: rows have different lengths {sorted({len(r) for r in ids})}; no padding is applied")
    if len(ids[0]) < 2:
        fail_input(f"{source}: rows need at least 2 tokens for a shifted loss")
    return ids


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir")
    parser.add_argument("adapter_dir")
    parser.add_argument("ids_json")
    parser.add_argument("expected_loss", type=float)
    parser.add_argument("--rtol", type=float, default=1e-4)
    args = parser.parse_args()

    for what, path, needed in (
        ("MODEL_DIR", args.model_dir, "config.json"),
        ("ADAPTER_DIR", args.adapter_dir, "adapter_config.json"),
    ):
        if not (Path(path) / needed).is_file():
            fail_input(f"{what} {path}: no {needed} in it")
    if not math.isfinite(args.expected_loss):
        fail_input(f"EXPECTED_LOSS {args.expected_loss} is not finite")
    ids = read_ids(args.ids_json)

    # Imported late so usage errors are instant.
    import torch
    import transformers
    from peft import PeftModel

    warnings.filterwarnings("ignore", category=FutureWarning)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    base = transformers.AutoModelForCausalLM.from_pretrained(
        args.model_dir, dtype=torch.float32, attn_implementation="eager"
    )
    vocab = base.config.vocab_size
    if max(t for row in ids for t in row) >= vocab:
        fail_input(f"token ids must be below the model's vocab_size {vocab}")
    model = PeftModel.from_pretrained(base, args.adapter_dir, is_trainable=False).eval()
    # PEFT upcasts bf16/fp16 adapters to f32 on load (autocast_adapter_dtype); report what it kept.
    dtypes = sorted({str(p.dtype) for n, p in model.named_parameters() if "lora_" in n or "ia3_" in n})

    input_ids = torch.tensor(ids, dtype=torch.int64)
    with torch.no_grad():
        loss = model(input_ids=input_ids, labels=input_ids).loss.item()

    rel = abs(loss - args.expected_loss) / max(abs(args.expected_loss), 1e-12)
    verdict = "OK" if rel <= args.rtol else "MISMATCH"
    print(
        f"{verdict}: peft loss {loss:.7f}, expected {args.expected_loss:.7f}, "
        f"relative difference {rel:.2e} (rtol {args.rtol:g}); adapter dtypes {', '.join(dtypes)}"
    )
    sys.exit(0 if verdict == "OK" else 1)


if __name__ == "__main__":
    main()
