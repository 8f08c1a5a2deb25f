#!/usr/bin/env python3
"""Generate the PyTorch/PEFT reference fixtures sectune's CPU backend is tested against.

Run from anywhere; paths are resolved against the repository root:

    python tools/reference/make_fixtures.py            # refuses to overwrite
    python tools/reference/make_fixtures.py --force    # regenerate

Everything is CPU, float32, eager attention, single-threaded, seeded. See
tools/reference/README.md for the layout and tensor names.
"""

import argparse
import json
import os
import shutil
import struct
import tempfile
import sys
import warnings
from pathlib import Path

import torch
import transformers
import peft
from peft import IA3Config, LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file, save_file
from transformers import (
    AutoModelForCausalLM,
    CodeGenConfig,
    CodeGenForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path("tests/fixtures")  # relative, so adapter_config.json records a portable base path

SEED = 1234
BATCH, SEQ = 2, 16
LR, BETAS, EPS, WEIGHT_DECAY = 1e-3, (0.9, 0.999), 1e-8, 0.01
STEPS = 3
# (row, position) pairs whose label is -100. (0, 0) is dropped by the shift anyway;
# it is there so a Rust implementation that forgets to shift shows a different loss.
IGNORED_LABELS = [(0, 0), (0, 9), (1, 4), (1, 11)]
SHARDED_SEQ = 12
SHARD_SIZE = "100KB"
OUTPUTS = ["llama-base", "codegen-base", "llama-lora", "llama-ia3", "codegen-lora", "codegen-ia3", "llama-sharded"]

LLAMA_CONFIG = dict(
    vocab_size=256,
    hidden_size=64,
    intermediate_size=176,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rms_norm_eps=1e-5,
    rope_theta=1e6,
    max_position_embeddings=128,
    tie_word_embeddings=False,
    attention_bias=False,
    mlp_bias=False,
)
CODEGEN_CONFIG = dict(
    vocab_size=256,
    n_embd=128,
    n_head=4,
    n_layer=2,
    rotary_dim=16,
    n_inner=256,
    n_positions=128,
    n_ctx=128,
    activation_function="gelu_new",
    layer_norm_epsilon=1e-5,
    tie_word_embeddings=False,
    attn_pdrop=0.0,
    embd_pdrop=0.0,
    resid_pdrop=0.0,
    # Defaults (50256) lie outside the tiny vocab and only cause warnings.
    bos_token_id=1,
    eos_token_id=2,
)

LORA_TARGETS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "codegen": ["qkv_proj", "out_proj", "fc_in", "fc_out"],
}
IA3_TARGETS = {
    "llama": (["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"], ["down_proj"]),
    "codegen": (["qkv_proj", "fc_in", "fc_out"], ["fc_out"]),
}


def seeded(offset):
    return torch.Generator().manual_seed(SEED + offset)


def randn_like(t, gen):
    return torch.randn(t.shape, generator=gen, dtype=torch.float32)


@torch.no_grad()
def randomize_base(model, gen):
    """N(0, 0.02) for every Linear/Embedding weight (transformers' own init rule), then move
    norms and biases away from their defaults so a wrong norm or a dropped bias is caught."""
    for module in model.modules():
        if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
            module.weight.copy_(0.02 * randn_like(module.weight, gen))
            if getattr(module, "bias", None) is not None:
                # lm_head and the CodeGen MLP biases: 0.1*randn, not zeros.
                module.bias.copy_(0.1 * randn_like(module.bias, gen))
        elif isinstance(module, torch.nn.LayerNorm):
            module.weight.copy_(1 + 0.1 * randn_like(module.weight, gen))
            module.bias.copy_(0.1 * randn_like(module.bias, gen))
        elif type(module).__name__ == "LlamaRMSNorm":
            module.weight.copy_(1 + 0.1 * randn_like(module.weight, gen))


def build_base(arch):
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(**LLAMA_CONFIG))
    else:
        model = CodeGenForCausalLM(CodeGenConfig(**CODEGEN_CONFIG))
    randomize_base(model, seeded(0 if arch == "llama" else 100))
    return model.to(torch.float32)


def load_base(path, dtype=torch.float32):
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype, attn_implementation="eager")
    return model


def assert_same_state(expected, model, what):
    got = model.state_dict()
    for key, tensor in expected.items():
        assert key in got, f"{what}: {key} missing after reload"
        assert torch.equal(got[key].float(), tensor.float()), f"{what}: {key} changed on reload"


def input_batch(vocab, offset, batch=BATCH, seq=SEQ):
    ids = torch.randint(0, vocab, (batch, seq), generator=seeded(offset), dtype=torch.int64)
    labels = ids.clone()
    for row, pos in IGNORED_LABELS:
        if row < batch:
            labels[row, pos] = -100
    return ids, labels


def peft_config(arch, method):
    if method == "lora":
        return LoraConfig(
            r=4,
            lora_alpha=8,
            lora_dropout=0.0,
            bias="none",
            task_type="CAUSAL_LM",
            target_modules=LORA_TARGETS[arch],
        )
    targets, feedforward = IA3_TARGETS[arch]
    return IA3Config(task_type="CAUSAL_LM", target_modules=targets, feedforward_modules=feedforward)


@torch.no_grad()
def randomize_adapter(model, method, gen):
    """LoRA: B = 0.1*randn (A keeps PEFT's kaiming init); IA3: l = 1 + 0.2*randn. Otherwise the
    first forward equals the base and half of the LoRA gradients are exactly zero."""
    touched = 0
    for name, param in sorted(model.named_parameters()):
        if method == "lora" and ".lora_B." in name:
            param.copy_(0.1 * randn_like(param, gen))
            touched += 1
        elif method == "ia3" and ".ia3_l." in name:
            param.copy_(1 + 0.2 * randn_like(param, gen))
            touched += 1
    assert touched > 0, f"no {method} parameters found to randomize"


def saved_key(param_name):
    # PEFT strips the adapter name when saving: ...lora_A.default.weight -> ...lora_A.weight
    return param_name.replace(".default", "")


def make_case(arch, method, base_dir, out_dir):
    base = load_base(base_dir)
    torch.manual_seed(SEED + 7)  # PEFT's kaiming_uniform_ init of lora_A draws from the global RNG
    model = get_peft_model(base, peft_config(arch, method))
    randomize_adapter(model, method, seeded(200))

    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, "no trainable parameters"
    for name, p in trainable.items():
        # autocast_adapter_dtype only upcasts fp16/bf16; everything here must already be f32.
        assert p.dtype == torch.float32, f"{name} is {p.dtype}"
    for name, p in model.named_parameters():
        assert p.dtype == torch.float32, f"{name} is {p.dtype}"

    adapter_dir = out_dir / "adapter"
    model.save_pretrained(str(adapter_dir))
    saved = load_file(str(adapter_dir / "adapter_model.safetensors"))
    key_of = {name: saved_key(name) for name in trainable}
    assert set(key_of.values()) == set(saved), (
        f"adapter keys differ from trainable params: {sorted(set(key_of.values()) ^ set(saved))}"
    )
    for name, p in trainable.items():
        assert torch.equal(saved[key_of[name]], p.detach()), f"{name} saved differently"

    ids, labels = input_batch(model.config.vocab_size, offset=300)
    model.train()  # all dropout probabilities are 0, so train mode is deterministic

    with torch.no_grad(), model.disable_adapter():
        base_logits = model(input_ids=ids).logits.clone()

    optimizer = torch.optim.AdamW(
        list(trainable.values()), lr=LR, betas=BETAS, eps=EPS, weight_decay=WEIGHT_DECAY
    )
    first = None
    for step in range(STEPS):
        optimizer.zero_grad()
        out = model(input_ids=ids, labels=labels)
        out.loss.backward()
        if step == 0:
            first = {
                "logits": out.logits.detach().clone(),
                "loss": out.loss.detach().reshape(1).clone(),
                "grads": {key_of[n]: p.grad.detach().clone() for n, p in trainable.items()},
            }
        optimizer.step()

    # Cross-check the loss against an explicit shift-and-mean so "mean over non-ignored" holds.
    shift_logits = first["logits"][:, :-1].reshape(-1, model.config.vocab_size)
    shift_labels = labels[:, 1:].reshape(-1)
    manual = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    assert torch.allclose(manual, first["loss"][0], rtol=1e-6, atol=0), (manual, first["loss"])

    for key, grad in first["grads"].items():
        assert torch.isfinite(grad).all(), f"grad of {key} is not finite"
        assert grad.abs().max() > 0, f"grad of {key} is all zero"
    adapter_effect = (first["logits"] - base_logits).abs().max().item()
    assert adapter_effect > 1e-3, f"adapter barely changes logits ({adapter_effect})"

    tensors = {
        "input_ids": ids,
        "labels": labels,
        "logits": first["logits"],
        "loss": first["loss"],
    }
    for key, grad in first["grads"].items():
        tensors[f"grad.{key}"] = grad
    for name, p in trainable.items():
        after = p.detach().clone()
        assert not torch.equal(after, saved[key_of[name]]), f"{name} did not move in {STEPS} steps"
        tensors[f"step{STEPS}.{key_of[name]}"] = after

    metadata = run_metadata()
    metadata.update(
        {
            "arch": arch,
            "method": method,
            "base_model": str(base_dir),
            "steps": str(STEPS),
            "ignored_label_positions": json.dumps(IGNORED_LABELS),
            "loss_mode": "mean_over_non_ignored",
        }
    )
    save_canonical(tensors, out_dir / "fixture.safetensors", metadata)
    print(
        f"{out_dir}: loss {first['loss'].item():.6f}, {len(first['grads'])} adapter tensors, "
        f"adapter moves logits by up to {adapter_effect:.4f}"
    )


def save_canonical(tensors, path, metadata):
    """save_file, then rewrite its JSON header with sorted keys: the library emits the metadata
    in hash-map order, which would make every regeneration a spurious git diff."""
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata)
    raw = Path(path).read_bytes()
    header_len = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + header_len])
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the format pads the header with spaces to 8-byte alignment
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + raw[8 + header_len :])
    reread = load_file(str(path))
    assert reread.keys() == tensors.keys() and all(torch.equal(reread[k], tensors[k]) for k in tensors)


def version_metadata():
    return {
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "peft_version": peft.__version__,
        "seed": str(SEED),
        "attn_implementation": "eager",
    }


def run_metadata():
    metadata = version_metadata()
    metadata.update(
        {
            "lr": repr(LR),
            "betas": json.dumps(list(BETAS)),
            "eps": repr(EPS),
            "weight_decay": repr(WEIGHT_DECAY),
            "dtype": "float32",
        }
    )
    return metadata


def make_sharded(base_dir, out_dir):
    """The llama base stored in bf16 across several shards, laid out like the real repo."""
    model = load_base(base_dir).to(torch.bfloat16)
    model.save_pretrained(str(out_dir), max_shard_size=SHARD_SIZE)
    index = json.loads((out_dir / "model.safetensors.index.json").read_text())
    shards = sorted(set(index["weight_map"].values()))
    assert len(shards) >= 2, f"expected 2+ shards, got {shards}"

    reloaded = load_base(out_dir, dtype=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in reloaded.parameters())
    assert_same_state(model.state_dict(), reloaded, "sharded bf16")
    reloaded = reloaded.float().eval()  # bf16 values, f32 arithmetic
    ids, _ = input_batch(reloaded.config.vocab_size, offset=400, batch=1, seq=SHARDED_SEQ)
    with torch.no_grad():
        logits = reloaded(input_ids=ids).logits
    metadata = version_metadata()
    metadata.update({"weights_dtype": "bfloat16", "compute_dtype": "float32", "base_model": str(base_dir)})
    save_canonical({"input_ids": ids, "logits": logits}, out_dir / "expected.safetensors", metadata)
    print(f"{out_dir}: {len(shards)} shards")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="replace existing fixture folders")
    args = parser.parse_args()

    if os.environ.get("PYTHONHASHSEED") != "0":
        # PEFT stores target_modules from a set; a fixed hash seed keeps adapter_config.json stable.
        os.environ["PYTHONHASHSEED"] = "0"
        os.execv(sys.executable, [sys.executable, *sys.argv])

    torch.set_num_threads(1)  # one thread: reductions in a fixed order, bitwise reproducible
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    warnings.filterwarnings("ignore", category=FutureWarning)  # deprecation notices from PEFT/transformers internals
    transformers.utils.logging.disable_progress_bar()

    target = REPO_ROOT / FIXTURES
    existing = [name for name in OUTPUTS if (target / name).exists()]
    if existing and not args.force:
        sys.exit(f"error: {', '.join(str(target / n) for n in existing)} exist; rerun with --force to replace them")

    target.mkdir(parents=True, exist_ok=True)
    # Build everything in a scratch tree with the same relative layout (adapter configs record
    # "tests/fixtures/<arch>-base"), and only swap folders in once every case has passed its checks.
    with tempfile.TemporaryDirectory(dir=target, prefix=".generating-") as scratch:
        os.chdir(scratch)
        generate_all()
        os.chdir(REPO_ROOT)
        for name in OUTPUTS:
            if (target / name).exists():
                shutil.rmtree(target / name)
            os.replace(Path(scratch) / FIXTURES / name, target / name)
    print(f"wrote {', '.join(OUTPUTS)} under {target}")


def generate_all():
    for arch in ("llama", "codegen"):
        base_dir = FIXTURES / f"{arch}-base"
        model = build_base(arch)
        model.save_pretrained(str(base_dir))
        # Fixtures are computed from the reloaded files, so they describe exactly what is on disk.
        assert_same_state(model.state_dict(), load_base(base_dir), f"{arch} base")
        for method in ("lora", "ia3"):
            make_case(arch, method, base_dir, FIXTURES / f"{arch}-{method}")
    make_sharded(FIXTURES / "llama-base", FIXTURES / "llama-sharded")

if __name__ == "__main__":
    main()
