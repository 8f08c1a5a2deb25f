#!/usr/bin/env python3
"""Generate the quantization fixtures sectune's int8 / NF4 code is tested against.

    python tools/reference/make_quant_fixtures.py            # refuses to overwrite
    python tools/reference/make_quant_fixtures.py --force    # regenerate

Needs torch, transformers, safetensors, numpy and bitsandbytes (0.50.2 was used; its CPU code
paths run without a GPU). Every bitsandbytes result is also recomputed here from the published
formulas in NumPy and the script stops unless the two agree bit for bit, so the fixtures pin the
formulas, not one library's accident.

Writes tests/fixtures/quant/:
  blocks.safetensors   standalone tensors: NF4 (with and without double quantization), int8,
                       the 8-bit dynamic map; inputs, bitsandbytes' codes/statistics, and the
                       dequantized f32 values.
  llama-nf4/           tests/fixtures/llama-base quantized by transformers + bitsandbytes
  llama-int8/          (load_in_4bit nf4 with double quant / load_in_8bit) and saved with
                       save_pretrained: the bitsandbytes safetensors layout users have.
                       expected.safetensors: input_ids, layer 0's dequantized weights (deq.<module>)
                       and the logits of the f32 model run with those dequantized weights.
See docs/quantization.md for the formulas.
"""

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
import transformers
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import save_canonical  # noqa: E402  (sorted-header writer, shared)

import bitsandbytes as bnb  # noqa: E402
import bitsandbytes.functional as F  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
BASE = REPO_ROOT / "tests/fixtures/llama-base"
OUT = REPO_ROOT / "tests/fixtures/quant"
SEED = 4321

# The NormalFloat-4 levels of the QLoRA paper (Dettmers et al. 2023, appendix E), as float32.
NF4 = np.array(
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ],
    dtype=np.float32,
)
INV127 = np.float32(7.874015718698502e-3)  # bitsandbytes multiplies by this instead of dividing


def nearest_code(scaled, code):
    """Index of the nearest level; a value exactly on a midpoint takes the lower level
    (torch.bucketize(right=False) over the f32 midpoints)."""
    mids = ((code[:-1] + code[1:]) / np.float32(2)).astype(np.float32)
    return np.searchsorted(mids, scaled, side="left").astype(np.uint8)


def blockwise_absmax(flat, block):
    n = flat.size
    absmax = np.array([np.abs(flat[i : i + block]).max() for i in range(0, n, block)], dtype=np.float32)
    safe = np.maximum(absmax, np.float32(1e-38))
    scaled = np.empty_like(flat)
    for b, i in enumerate(range(0, n, block)):
        scaled[i : i + block] = np.clip(flat[i : i + block] * (np.float32(1) / safe[b]), -1, 1)
    return absmax, scaled


def formula_nf4(w, block=64):
    flat = w.reshape(-1).astype(np.float32)
    absmax, scaled = blockwise_absmax(flat, block)
    q = nearest_code(scaled, NF4)
    if q.size % 2:
        q = np.append(q, np.uint8(7))
    packed = (q[0::2] << 4) | q[1::2]  # first element in the high nibble
    return packed, absmax


def formula_nf4_deq(packed, absmax, n, block=64):
    q = np.empty(packed.size * 2, dtype=np.uint8)
    q[0::2], q[1::2] = packed >> 4, packed & 0xF
    vals = NF4[q[:n]]
    return (vals * np.repeat(absmax, block)[:n]).astype(np.float32)


def formula_blockwise8(x, code, block):
    absmax, scaled = blockwise_absmax(x.astype(np.float32), block)
    return nearest_code(scaled, code), absmax


def formula_int8(w):
    absmax = np.abs(w).max(axis=1).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.round(w * (np.float32(127) / absmax)[:, None])  # round half to even, like torch
    q = np.nan_to_num(q, nan=0.0)
    return q.astype(np.int8), absmax


def formula_int8_deq(q, absmax):
    return ((q.astype(np.float32) * absmax[:, None]).astype(np.float32) * INV127).astype(np.float32)


def same(a, b, what):
    a, b = np.atleast_1d(np.asarray(a)), np.atleast_1d(np.asarray(b))
    if a.shape != b.shape or not np.array_equal(a.view(np.uint8), b.view(np.uint8)):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64)).max() if a.shape == b.shape else "shape"
        sys.exit(f"error: {what}: bitsandbytes and the formula differ ({diff})")


def t(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def blocks_fixture():
    rng = np.random.default_rng(SEED)
    out = {}
    # NF4: 480 values = 7.5 blocks (a partial last block, blocks spanning rows), one all-zero
    # block and values exactly at ±absmax.
    w = rng.standard_normal((12, 40)).astype(np.float32) * np.float32(0.05)
    w.reshape(-1)[128:192] = 0.0
    w.reshape(-1)[5] = 0.2
    w.reshape(-1)[70] = -0.3
    packed, st = F.quantize_4bit(torch.from_numpy(w), blocksize=64, quant_type="nf4")
    deq = F.dequantize_4bit(packed, st).numpy()
    fp, fa = formula_nf4(w)
    same(packed.numpy().reshape(-1), fp, "nf4 codes")
    same(st.absmax.numpy(), fa, "nf4 absmax")
    same(deq.reshape(-1), formula_nf4_deq(fp, fa, w.size), "nf4 dequantized")
    same(st.code.numpy(), NF4, "nf4 table")
    out.update({"nf4.input": t(w), "nf4.weight": packed, "nf4.absmax": st.absmax, "nf4.dequantized": t(deq)})

    # NF4 with double quantization: 300 absmax values = 2 blocks of 256 (the second partial).
    w = (rng.standard_normal((30, 640)) * np.linspace(0.01, 0.2, 640)).astype(np.float32)
    packed, st = F.quantize_4bit(torch.from_numpy(w), blocksize=64, quant_type="nf4", compress_statistics=True)
    deq = F.dequantize_4bit(packed, st).numpy()
    dyn = F.create_dynamic_map().numpy()
    fp, fa = formula_nf4(w)
    same(packed.numpy().reshape(-1), fp, "nf4+dq codes")
    offset = np.float32(fa.mean(dtype=np.float32))
    same(np.float32(st.offset.item()), offset, "nested offset")
    qa, na = formula_blockwise8((fa - offset).astype(np.float32), dyn, 256)
    same(st.absmax.numpy(), qa, "nested absmax codes")
    same(st.state2.absmax.numpy(), na, "nested absmax")
    absmax2 = (dyn[qa] * np.repeat(na, 256)[: qa.size]).astype(np.float32) + offset
    same(deq.reshape(-1), formula_nf4_deq(fp, absmax2.astype(np.float32), w.size), "nf4+dq dequantized")
    out.update(
        {
            "nf4dq.input": t(w),
            "nf4dq.weight": packed,
            "nf4dq.absmax": st.absmax,
            "nf4dq.nested_absmax": st.state2.absmax,
            "nf4dq.nested_offset": torch.tensor([st.offset.item()], dtype=torch.float32),
            "nf4dq.dequantized": t(deq),
            "dynamic_map": torch.from_numpy(dyn),
        }
    )

    # int8 rows: one all-zero row, one row with a .5 tie after scaling.
    w = (rng.standard_normal((16, 48)) * 0.1).astype(np.float16).astype(np.float32)
    w[3] = 0.0
    w[7, :] = np.float32(0.0)
    w[7, 0], w[7, 1] = np.float32(1.0), np.float32(0.5 / 127)  # 0.5/127·127 rounds half to even
    q, scb, _ = F.int8_vectorwise_quant(torch.from_numpy(w).to(torch.float16))
    deq = F.int8_vectorwise_dequant(q, scb).numpy()
    fq, fs = formula_int8(w)
    same(q.numpy(), fq, "int8 codes")
    same(scb.numpy(), fs, "int8 absmax")
    same(deq, formula_int8_deq(fq, fs), "int8 dequantized")
    out.update({"int8.input": t(w), "int8.weight": q, "int8.scb": scb, "int8.dequantized": t(deq)})
    meta = {"bitsandbytes_version": bnb.__version__, "torch_version": torch.__version__, "seed": str(SEED)}
    return out, meta


LINEARS = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
           "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"]


def model_fixture(kind, scratch):
    if kind == "nf4":
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                bnb_4bit_compute_dtype=torch.float32)
    else:
        qc = BitsAndBytesConfig(load_in_8bit=True)
    qm = AutoModelForCausalLM.from_pretrained(BASE, quantization_config=qc, device_map="cpu", dtype=torch.float32)
    out = scratch / f"llama-{kind}"
    qm.save_pretrained(out)
    ref = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32, attn_implementation="eager")
    saved = load_file(str(out / "model.safetensors"))
    expected = {}
    for layer in range(ref.config.num_hidden_layers):
        for lin in LINEARS:
            name = f"model.layers.{layer}.{lin}"
            module = qm.get_submodule(name)
            if kind == "nf4":
                deq = F.dequantize_4bit(module.weight.data, module.weight.quant_state).float()
            else:
                deq = F.int8_vectorwise_dequant(saved[f"{name}.weight"], saved[f"{name}.SCB"])
            ref.get_submodule(name).weight.data.copy_(deq)
            if layer == 0:  # one layer's worth keeps the fixture small
                expected[f"deq.{name}"] = deq.contiguous()
    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, ref.config.vocab_size, (2, 12), generator=gen)
    with torch.no_grad():
        logits = ref(ids).logits.float()
        if kind == "nf4":  # bitsandbytes' own 4-bit forward (dequantize, then f32 matmul)
            own = qm(ids).logits.float()
            gap = (own - logits).abs().max().item()
            assert gap < 1e-5, f"bitsandbytes nf4 forward differs from the dequantized f32 model by {gap}"
    expected["input_ids"] = ids
    expected["logits"] = logits
    meta = {"bitsandbytes_version": bnb.__version__, "transformers_version": transformers.__version__,
            "torch_version": torch.__version__, "seed": str(SEED), "base": "tests/fixtures/llama-base"}
    save_canonical(expected, out / "expected.safetensors", meta)
    # Rewrite the checkpoint with a sorted header too, so regeneration gives identical bytes.
    save_canonical(saved, out / "model.safetensors", {"format": "pt"})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="replace tests/fixtures/quant")
    args = parser.parse_args()
    if OUT.exists() and not args.force:
        sys.exit(f"error: {OUT} exists; rerun with --force to replace it")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    warnings.filterwarnings("ignore")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT.parent, prefix=".quant-") as tmp:
        scratch = Path(tmp) / "quant"
        scratch.mkdir()
        tensors, meta = blocks_fixture()
        save_canonical(tensors, scratch / "blocks.safetensors", meta)
        for kind in ["nf4", "int8"]:
            model_fixture(kind, scratch)
        if OUT.exists():
            shutil.rmtree(OUT)
        os.replace(scratch, OUT)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
