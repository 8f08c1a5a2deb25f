#!/usr/bin/env python3
"""Outside baselines for `sectune bench`, timed on the same GPU in the same invocation.

Prints one JSON object on stdout: {"device", "sdpa": [{d, h, t, fwd_ms, bwd_ms}], "adamw": {n, ms}},
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
        }
    except Exception as e:  # report, do not crash the Rust side's run
        result = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
