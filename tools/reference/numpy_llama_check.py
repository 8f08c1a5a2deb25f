#!/usr/bin/env python3
"""Independent NumPy re-implementation of the tiny Llama forward (no torch, no safetensors lib).

    python tools/reference/numpy_llama_check.py

Reads tests/fixtures/llama-base + the llama-lora and llama-ia3 adapters straight from the
.safetensors bytes, recomputes logits and loss in float64, and compares them with the
fixtures written by make_fixtures.py. Also reloads the bf16 sharded copy through its index and
compares with llama-sharded/expected.safetensors. Exits non-zero if any error exceeds 1e-5.

It is meant as the readable spec for the Rust backend: every step below is one the engine has
to reproduce (RMSNorm, rotate-half RoPE with theta from config, GQA, LoRA scaling alpha/r, IA3
on outputs vs inputs, shifted mean cross-entropy).
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
TOLERANCE = 1e-5  # f32 vs f64 differences here are <2e-6; 1e-4 would let exact-erf GELU pass (8e-5 off)
PREFIX = "base_model.model."  # PeftModel prefix in adapter keys


def read_safetensors(path):
    """8-byte little-endian header length, JSON header, then raw little-endian tensor bytes."""
    raw = Path(path).read_bytes()
    (header_len,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + header_len])
    data = raw[8 + header_len :]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        chunk = data[start:end]
        if info["dtype"] == "F32":
            array = np.frombuffer(chunk, dtype="<f4")
        elif info["dtype"] == "I64":
            array = np.frombuffer(chunk, dtype="<i8")
        elif info["dtype"] == "BF16":
            # bf16 is the top half of an f32.
            array = (np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            raise ValueError(f"{path}: {name} has unsupported dtype {info['dtype']}")
        tensors[name] = array.reshape(info["shape"])
    return tensors, header.get("__metadata__", {})


def read_model_dir(path):
    path = Path(path)
    index = path / "model.safetensors.index.json"
    if not index.exists():
        return read_safetensors(path / "model.safetensors")[0]
    weights = {}
    for shard in sorted(set(json.loads(index.read_text())["weight_map"].values())):
        weights.update(read_safetensors(path / shard)[0])
    return weights


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_tables(seq, head_dim, theta):
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    freqs = np.arange(seq, dtype=np.float64)[:, None] * inv_freq[None, :]
    angles = np.concatenate([freqs, freqs], axis=-1)  # [T, head_dim]: halves share a frequency
    return np.cos(angles), np.sin(angles)


def apply_rope(x, cos, sin):
    """x: [B, heads, T, head_dim]. rotate_half pairs dim i with dim i + head_dim/2."""
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


class Adapter:
    """LoRA: y += (x A^T B^T) * alpha/r. IA3: y *= l (l shaped [out,1]) or x *= l before W
    (feedforward, l shaped [1,in]). Keys: base_model.model.<module path>.<lora_A.weight|...>."""

    def __init__(self, directory):
        self.config = json.loads((Path(directory) / "adapter_config.json").read_text())
        self.tensors = read_safetensors(Path(directory) / "adapter_model.safetensors")[0]
        self.kind = self.config["peft_type"]
        if self.kind == "LORA":
            assert not self.config.get("use_rslora"), "rslora scaling is alpha/sqrt(r)"
            self.scaling = self.config["lora_alpha"] / self.config["r"]

    def linear(self, module, x, weight, bias=None):
        key = PREFIX + module
        base = x @ weight.T + (0 if bias is None else bias)
        if self.kind == "LORA" and key + ".lora_A.weight" in self.tensors:
            a = self.tensors[key + ".lora_A.weight"].astype(np.float64)
            b = self.tensors[key + ".lora_B.weight"].astype(np.float64)
            return base + (x @ a.T @ b.T) * self.scaling
        if self.kind == "IA3" and key + ".ia3_l" in self.tensors:
            scale = self.tensors[key + ".ia3_l"].astype(np.float64)
            if scale.shape[0] == 1:  # feedforward: scales the input features, bias untouched
                return (x * scale[0]) @ weight.T + (0 if bias is None else bias)
            return base * scale[:, 0]  # output scaling also scales the bias
        return base


def plain_linear(module, x, weight, bias=None):
    return x @ weight.T + (0 if bias is None else bias)

def llama_logits(config, weights, ids, adapter=None):
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    linear = adapter.linear if adapter else plain_linear
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // heads
    eps = config["rms_norm_eps"]
    # transformers 5 writes rope_parameters.rope_theta; older configs (CodeLlama) a top-level rope_theta.
    theta = config.get("rope_parameters", {}).get("rope_theta", config.get("rope_theta"))
    batch, seq = ids.shape
    cos, sin = rope_tables(seq, head_dim, theta)
    causal = np.triu(np.full((seq, seq), -np.inf), k=1)

    x = w["model.embed_tokens.weight"][ids]
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)

        def project(name, width):
            out = linear(p + f"self_attn.{name}", h, w[p + f"self_attn.{name}.weight"])
            return out.reshape(batch, seq, width, head_dim).transpose(0, 2, 1, 3)

        q = apply_rope(project("q_proj", heads), cos, sin)
        k = apply_rope(project("k_proj", kv_heads), cos, sin)
        v = project("v_proj", kv_heads)
        # GQA: query head i reads kv head i // (heads / kv_heads).
        group = heads // kv_heads
        k = np.repeat(k, group, axis=1)
        v = np.repeat(v, group, axis=1)
        scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(head_dim) + causal
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        attn = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, heads * head_dim)
        x = x + linear(p + "self_attn.o_proj", attn, w[p + "self_attn.o_proj.weight"])

        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = linear(p + "mlp.gate_proj", h, w[p + "mlp.gate_proj.weight"])
        up = linear(p + "mlp.up_proj", h, w[p + "mlp.up_proj.weight"])
        act = gate / (1.0 + np.exp(-gate)) * up  # silu(gate) * up
        x = x + linear(p + "mlp.down_proj", act, w[p + "mlp.down_proj.weight"])

    x = rms_norm(x, w["model.norm.weight"], eps)
    return x @ w["lm_head.weight"].T


def causal_lm_loss(logits, labels):
    """Position t predicts label t+1; labels of -100 are skipped; mean over the rest."""
    logits, targets = logits[:, :-1], labels[:, 1:]
    keep = targets != -100
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
    picked = np.take_along_axis(log_probs, np.where(keep, targets, 0)[..., None], axis=-1)[..., 0]
    return -picked[keep].mean()


def main():
    config = json.loads((FIXTURES / "llama-base" / "config.json").read_text())
    weights = read_model_dir(FIXTURES / "llama-base")
    worst = 0.0
    for case in ("llama-lora", "llama-ia3"):
        fixture, _ = read_safetensors(FIXTURES / case / "fixture.safetensors")
        adapter = Adapter(FIXTURES / case / "adapter")
        logits = llama_logits(config, weights, fixture["input_ids"], adapter)
        logit_err = np.abs(logits - fixture["logits"]).max()
        loss_err = abs(causal_lm_loss(logits, fixture["labels"]) - fixture["loss"][0])
        base_gap = np.abs(llama_logits(config, weights, fixture["input_ids"]) - fixture["logits"]).max()
        print(f"{case}: max |logits error| {logit_err:.2e}, |loss error| {loss_err:.2e} (without adapter: {base_gap:.2e})")
        worst = max(worst, logit_err, loss_err)

    sharded_config = json.loads((FIXTURES / "llama-sharded" / "config.json").read_text())
    expected, _ = read_safetensors(FIXTURES / "llama-sharded" / "expected.safetensors")
    sharded = llama_logits(sharded_config, read_model_dir(FIXTURES / "llama-sharded"), expected["input_ids"])
    sharded_err = np.abs(sharded - expected["logits"]).max()
    print(f"llama-sharded (bf16 weights, f32 math): max |logits error| {sharded_err:.2e}")
    worst = max(worst, sharded_err)

    if worst > TOLERANCE:
        print(f"FAIL: worst error {worst:.2e} exceeds {TOLERANCE:g}")
        sys.exit(1)
    print(f"OK: worst error {worst:.2e} <= {TOLERANCE:g}")


if __name__ == "__main__":
    main()
