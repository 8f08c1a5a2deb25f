#!/usr/bin/env python3
"""Reference for sectune's greedy decoding: transformers' generate(do_sample=False).

    python tools/reference/make_generate_fixture.py [--force]

For tests/fixtures/{llama-lora,codegen-lora}: base + adapter (peft), prompt = the first 7 ids
of row 0 of the case's fixture input_ids, 12 new tokens, greedy, no EOS stop (eos_token_id set
to -1 so every run has all 12). Writes greedy.safetensors with `prompt_ids` (I64 [7]) and
`greedy_ids` (I64 [12]).
"""

import argparse
import sys
from pathlib import Path

import torch
from peft import PeftModel
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import REPO_ROOT, load_base, save_canonical, version_metadata  # noqa: E402

PROMPT, NEW = 7, 12


def make(case, force):
    arch = case.split("-")[0]
    root = REPO_ROOT / "tests/fixtures"
    out = root / case / "greedy.safetensors"
    if out.exists() and not force:
        sys.exit(f"{out} exists; pass --force to regenerate")
    model = PeftModel.from_pretrained(load_base(root / f"{arch}-base"), str(root / case / "adapter")).eval()
    prompt = load_file(str(root / case / "fixture.safetensors"))["input_ids"][0, :PROMPT]
    with torch.no_grad():
        seq = model.generate(
            input_ids=prompt[None, :],
            attention_mask=torch.ones(1, PROMPT, dtype=torch.long),
            do_sample=False,
            max_new_tokens=NEW,
            min_new_tokens=NEW,
            eos_token_id=None,
            pad_token_id=0,
        )[0]
    greedy = seq[PROMPT:].clone()
    assert greedy.numel() == NEW
    save_canonical({"prompt_ids": prompt.clone(), "greedy_ids": greedy}, out, version_metadata())
    print(f"{out}: {greedy.tolist()}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    for case in ["llama-lora", "codegen-lora"]:
        make(case, args.force)


if __name__ == "__main__":
    main()
