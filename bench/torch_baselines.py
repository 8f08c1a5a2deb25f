#!/usr/bin/env python3
"""Outside baselines for `sectune bench`, timed on the same GPU in the same invocation.

Prints one JSON object on stdout: {"device", "sdpa": [{d, h, t, fwd_ms, bwd_ms}], "adamw": {n, ms},
"bnb": [{m, n, k, nf4_fwd_ms, nf4_bwd_ms, int8_fwd_ms, int8_bwd_ms}] or {"error"}},
or {"error": "..."} (exit 0) when torch or a CUDA GPU is missing, so the caller can go on without it.
Shapes mirror src/backend/cuda/bench.rs: causal SDPA with the flash backend, bf16, B = 1;
torch.optim.AdamW(fused=True) on one fp32 tensor of 16 Mi elements.
"""
import json
import sys

WARMUP, REPS = 3, 20
SDPA_SHAPES = [(128, 32, 1024), (128, 32, 4096), (256, 16, 1024), (256, 16, 4096)]
ADAMW_N = 16 << 20


def time_ms(torch, fn):
    for _ in range(WARMUP):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(REPS):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / REPS


def sdpa(torch, d, h, t):
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as attn

    shape = (1, h, t, d)
    q, k, v = (torch.randn(shape, device="cuda", dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
    grad = torch.randn(shape, device="cuda", dtype=torch.bfloat16)
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        fwd_ms = time_ms(torch, lambda: attn(q, k, v, is_causal=True))
        out = attn(q, k, v, is_causal=True)
        bwd_ms = time_ms(torch, lambda: torch.autograd.grad(out, (q, k, v), grad, retain_graph=True))
    return {"d": d, "h": h, "t": t, "fwd_ms": fwd_ms, "bwd_ms": bwd_ms}


def adamw(torch):
    p = torch.nn.Parameter(torch.randn(ADAMW_N, device="cuda"))
    p.grad = torch.randn(ADAMW_N, device="cuda")
    opt = torch.optim.AdamW([p], lr=3e-4, weight_decay=0.01, fused=True)
    return {"n": ADAMW_N, "ms": time_ms(torch, opt.step)}


# Quantized linears (src/backend/cuda/bench_quant.rs): bitsandbytes' nf4 matmul_4bit and 8-bit
# Linear8bitLt (threshold 0: no outlier decomposition), bf16/fp16 activations, forward and dX.
BNB_SHAPES = [(2048, 4096, 4096), (2048, 11008, 4096), (2048, 4096, 11008), (4096, 4096, 4096)]


def bnb_linears(torch):
    try:
        import bitsandbytes as bnb
    except ImportError as e:
        return {"error": f"not installed ({e})"}
    rows = []
    for m, n, k in BNB_SHAPES:
        row = {"m": m, "n": n, "k": k}
        try:
            w = torch.randn(n, k, device="cuda", dtype=torch.bfloat16) / 64
            qw, state = bnb.functional.quantize_4bit(w, quant_type="nf4")
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16, requires_grad=True)
            grad = torch.randn(m, n, device="cuda", dtype=torch.bfloat16)
            row["nf4_fwd_ms"] = time_ms(torch, lambda: bnb.matmul_4bit(x, qw.t(), quant_state=state))
            out = bnb.matmul_4bit(x, qw.t(), quant_state=state)
            row["nf4_bwd_ms"] = time_ms(torch, lambda: torch.autograd.grad(out, x, grad, retain_graph=True))
            lin = bnb.nn.Linear8bitLt(k, n, bias=False, has_fp16_weights=False, threshold=0.0)
            lin.weight = bnb.nn.Int8Params(w.half().cpu(), requires_grad=False, has_fp16_weights=False)
            lin = lin.cuda()
            x16 = torch.randn(m, k, device="cuda", dtype=torch.float16, requires_grad=True)
            row["int8_fwd_ms"] = time_ms(torch, lambda: lin(x16))
            out8 = lin(x16)
            row["int8_bwd_ms"] = time_ms(torch, lambda: torch.autograd.grad(out8, x16, grad.half(), retain_graph=True))
        except Exception as e:  # keep what was timed
            row["error"] = f"{type(e).__name__}: {e}"
        rows.append(row)
    return rows


def main():
    try:
        import torch
    except ImportError as e:
        print(json.dumps({"error": f"torch is not installed ({e}); pip install torch"}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA GPU"}))
        return 0
    try:
        result = {
            "device": torch.cuda.get_device_name(0),
            "torch": torch.__version__,
            "sdpa": [sdpa(torch, *s) for s in SDPA_SHAPES],
            "adamw": adamw(torch),
            "bnb": bnb_linears(torch),
        }
    except Exception as e:  # report, do not crash the Rust side's run
        result = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
