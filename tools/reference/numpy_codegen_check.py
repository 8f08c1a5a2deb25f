#!/usr/bin/env python3
"""Independent NumPy re-implementation of the tiny CodeGen forward (transformers' native
CodeGenForCausalLM), checked against tests/fixtures/codegen-{lora,ia3}.

    python tools/reference/numpy_codegen_check.py

Spells out the CodeGen traps the Rust backend must match: the fused qkv_proj split per
model-parallel shard in q, v, k order; GPT-J interleaved rotary on the first rotary_dim dims
only; one LayerNorm feeding attention and MLP in parallel; gelu_new; lm_head with bias.
Exits non-zero if any error exceeds 1e-5.
"""

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from numpy_llama_check import FIXTURES, TOLERANCE, Adapter, causal_lm_loss, plain_linear, read_model_dir, read_safetensors

MP_NUM = 4  # hard-coded in transformers' CodeGenAttention


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased variance, as torch
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def rotary_tables(seq, rotary_dim):
    inv_freq = 1.0 / 10000 ** (np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    angles = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
    # Each frequency serves an adjacent pair (2i, 2i+1): repeat_interleave, not concatenation.
    return np.repeat(np.sin(angles), 2, axis=-1), np.repeat(np.cos(angles), 2, axis=-1)


def apply_rotary(x, sin, cos):
    """x: [B, T, heads, rotary_dim]; rotate_every_two pairs dim 2i with 2i+1."""
    rotated = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
    return x * cos[None, :, None, :] + rotated * sin[None, :, None, :]


def codegen_logits(config, weights, ids, adapter=None):
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    linear = adapter.linear if adapter else plain_linear
    d, heads, rotary_dim = config["n_embd"], config["n_head"], config["rotary_dim"]
    head_dim, eps = d // heads, config["layer_norm_epsilon"]
    batch, seq = ids.shape
    sin, cos = rotary_tables(seq, rotary_dim)
    causal = np.triu(np.full((seq, seq), -np.inf), k=1)
    local = d // MP_NUM

    x = w["transformer.wte.weight"][ids]
    for layer in range(config["n_layer"]):
        p = f"transformer.h.{layer}."
        h = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], eps)

        qkv = linear(p + "attn.qkv_proj", h, w[p + "attn.qkv_proj.weight"])
        # Rows of qkv_proj: shard 0 [q | v | k], shard 1 [q | v | k], ... each part d/MP_NUM wide.
        qkv = qkv.reshape(batch, seq, MP_NUM, 3 * local)
        q, v, k = qkv[..., :local], qkv[..., local : 2 * local], qkv[..., 2 * local :]
        # Shards then heads within a shard: head index = shard * (heads / MP_NUM) + j.
        q, k, v = (t.reshape(batch, seq, heads, head_dim) for t in (q, k, v))
        q = np.concatenate([apply_rotary(q[..., :rotary_dim], sin, cos), q[..., rotary_dim:]], axis=-1)
        k = np.concatenate([apply_rotary(k[..., :rotary_dim], sin, cos), k[..., rotary_dim:]], axis=-1)
        q, k, v = (t.transpose(0, 2, 1, 3) for t in (q, k, v))
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + causal
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        attn = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, d)
        attn = linear(p + "attn.out_proj", attn, w[p + "attn.out_proj.weight"])

        inner = linear(p + "mlp.fc_in", h, w[p + "mlp.fc_in.weight"], w[p + "mlp.fc_in.bias"])
        mlp = linear(p + "mlp.fc_out", gelu_new(inner), w[p + "mlp.fc_out.weight"], w[p + "mlp.fc_out.bias"])
        x = x + attn + mlp  # parallel residual: both branches read the same ln_1 output

    x = layer_norm(x, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], eps)
    return x @ w["lm_head.weight"].T + w["lm_head.bias"]


def main():
    config = json.loads((FIXTURES / "codegen-base" / "config.json").read_text())
    weights = read_model_dir(FIXTURES / "codegen-base")
    worst = 0.0
    for case in ("codegen-lora", "codegen-ia3"):
        fixture, _ = read_safetensors(FIXTURES / case / "fixture.safetensors")
        logits = codegen_logits(config, weights, fixture["input_ids"], Adapter(FIXTURES / case / "adapter"))
        logit_err = np.abs(logits - fixture["logits"]).max()
        loss_err = abs(causal_lm_loss(logits, fixture["labels"]) - fixture["loss"][0])
        base_gap = np.abs(codegen_logits(config, weights, fixture["input_ids"]) - fixture["logits"]).max()
        print(f"{case}: max |logits error| {logit_err:.2e}, |loss error| {loss_err:.2e} (without adapter: {base_gap:.2e})")
        worst = max(worst, logit_err, loss_err)
    if worst > TOLERANCE:
        print(f"FAIL: worst error {worst:.2e} exceeds {TOLERANCE:g}")
        sys.exit(1)
    print(f"OK: worst error {worst:.2e} <= {TOLERANCE:g}")


if __name__ == "__main__":
    main()
