#!/usr/bin/env python3
"""Reference for sectune's training loop: 5 AdamW steps with transformers' linear schedule.

    python tools/reference/make_train_fixture.py [--force]

For tests/fixtures/{llama-lora,codegen-ia3}: loads the base and the adapter (trainable) with
peft, then on the case's fixed batch (fixture.safetensors input_ids/labels) runs 5 steps of
torch.optim.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) with
get_linear_schedule_with_warmup(num_warmup_steps=0, num_training_steps=5), dropout 0, and
writes train5.safetensors: `losses` (F32 [5], the loss before each step) and `step5.<KEY>`
for every adapter tensor. CPU, f32, eager attention, one thread.
"""

import argparse
import sys
from pathlib import Path

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import get_linear_schedule_with_warmup

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import REPO_ROOT, load_base, save_canonical, version_metadata  # noqa: E402

STEPS, LR, WD = 5, 1e-3, 0.01


def make(case, force):
    arch = case.split("-")[0]
    root = REPO_ROOT / "tests/fixtures"
    out = root / case / "train5.safetensors"
    if out.exists() and not force:
        sys.exit(f"{out} exists; pass --force to regenerate")
    model = load_base(root / f"{arch}-base")
    model = PeftModel.from_pretrained(model, str(root / case / "adapter"), is_trainable=True)
    fx = load_file(str(root / case / "fixture.safetensors"))
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=WD)
    sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=0, num_training_steps=STEPS)
    losses = []
    for _ in range(STEPS):
        opt.zero_grad()
        loss = model(input_ids=fx["input_ids"], labels=fx["labels"]).loss
        losses.append(loss.item())
        loss.backward()
        opt.step()
        sched.step()
    tensors = {"losses": torch.tensor(losses, dtype=torch.float32)}
    for name, p in model.named_parameters():
        if p.requires_grad:
            key = name.replace(".default", "")
            tensors[f"step5.{key}"] = p.detach().clone()
    meta = version_metadata()
    meta.update({"lr": repr(LR), "weight_decay": repr(WD), "steps": str(STEPS), "schedule": "linear, warmup 0"})
    save_canonical(tensors, out, meta)
    print(f"{out}: losses {['%.6f' % l for l in losses]}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for case in ["llama-lora", "codegen-ia3"]:
        make(case, args.force)


if __name__ == "__main__":
    main()
