#!/usr/bin/env python3
"""Outside baselines for `sectune bench`, timed on the same GPU in the same invocation.

Prints one JSON object on stdout: {"device", "sdpa": [{d, h, t, fwd_ms, bwd_ms}], "adamw": {n, ms},
"bnb": [{m, n, k, nf4_fwd_ms, nf4_bwd_ms, int8_fwd_ms, int8_bwd_ms}] or {"error"},
"ops": {key: {ms, kind}}}, or {"error": "..."} (exit 0) when torch or a CUDA GPU is missing, so the
caller can go on without it.
Shapes mirror src/backend/cuda/bench.rs: causal SDPA with the flash backend, bf16, B = 1;
torch.optim.AdamW(fused=True) on one fp32 tensor of 16 Mi elements; "ops" mirrors
src/backend/cuda/bench_ops.rs (same keys, bf16, 7B shapes). Each op's "kind" says what torch runs:
"fused" = one native kernel (F.layer_norm, F.gelu tanh, F.embedding, dtype casts, x * l); "eager" = several kernels
from plain torch ops (hand-written RMSNorm, rotate-half, silu·u, sampling); "native" = torch's
own multi-kernel implementation (F.cross_entropy = log_softmax + nll, embedding backward).
No torch.compile: its first compile would dominate a 20-rep run.
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


OP_TOKENS = (4096, 16384)
HIDDEN, FFN, HEADS, VOCAB, SAMPLE_ROWS = 4096, 11008, 32, 32016, 32


def fwd_bwd_ms(torch, fn, inputs, grad):
    """Time of backward alone (autograd.grad of fn's output, graph kept)."""
    out = fn(*inputs)
    return time_ms(torch, lambda: torch.autograd.grad(out, inputs, grad, retain_graph=True))


def rms_norm(torch, x, w, eps=1e-5):
    xf = x.float()
    return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w


def rotate_half(torch, x, cos, sin):
    half = x.shape[-1] // 2
    rot = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rot * sin


def ops(torch):
    import torch.nn.functional as F

    bf = dict(device="cuda", dtype=torch.bfloat16)
    res = {}

    def put(key, ms, kind):
        res[key] = {"ms": ms, "kind": kind}

    for t in OP_TOKENS:
        x = torch.randn(t, HIDDEN, **bf, requires_grad=True)
        w = torch.randn(HIDDEN, **bf, requires_grad=True)
        b = torch.randn(HIDDEN, **bf, requires_grad=True)
        dy = torch.randn(t, HIDDEN, **bf)
        put(f"rmsnorm_fwd_t{t}", time_ms(torch, lambda: rms_norm(torch, x, w)), "eager")
        put(f"rmsnorm_bwd_t{t}", fwd_bwd_ms(torch, lambda x, w: rms_norm(torch, x, w), (x, w), dy), "eager")
        put(f"layernorm_fwd_t{t}", time_ms(torch, lambda: F.layer_norm(x, (HIDDEN,), w, b)), "fused")
        put(f"layernorm_bwd_t{t}",
            fwd_bwd_ms(torch, lambda x, w, b: F.layer_norm(x, (HIDDEN,), w, b), (x, w, b), dy), "fused")

        d = HIDDEN // HEADS
        q = torch.randn(t, HEADS, d, **bf, requires_grad=True)
        inv = 1.0 / (10000 ** (torch.arange(0, d, 2, device="cuda").float() / d))
        ang = torch.outer(torch.arange(t, device="cuda").float(), inv)
        emb = torch.cat((ang, ang), dim=-1)[:, None, :]
        cos, sin = emb.cos().to(torch.bfloat16), emb.sin().to(torch.bfloat16)
        put(f"rope_fwd_t{t}", time_ms(torch, lambda: rotate_half(torch, q, cos, sin)), "eager")
        put(f"rope_bwd_t{t}",
            fwd_bwd_ms(torch, lambda q: rotate_half(torch, q, cos, sin), (q,), torch.randn_like(q)), "eager")

        g = torch.randn(t, FFN, **bf, requires_grad=True)
        u = torch.randn(t, FFN, **bf, requires_grad=True)
        dh = torch.randn(t, FFN, **bf)
        put(f"swiglu_fwd_t{t}", time_ms(torch, lambda: F.silu(g) * u), "eager")
        put(f"swiglu_bwd_t{t}", fwd_bwd_ms(torch, lambda g, u: F.silu(g) * u, (g, u), dh), "eager")
        put(f"gelu_new_fwd_t{t}", time_ms(torch, lambda: F.gelu(g, approximate="tanh")), "fused")
        put(f"gelu_new_bwd_t{t}", fwd_bwd_ms(torch, lambda g: F.gelu(g, approximate="tanh"), (g,), dh), "fused")

        table = torch.randn(VOCAB, HIDDEN, **bf, requires_grad=True)
        ids = (torch.arange(t, device="cuda") * 7919) % VOCAB
        put(f"embedding_fwd_t{t}", time_ms(torch, lambda: F.embedding(ids, table)), "fused")
        put(f"embedding_bwd_t{t}", fwd_bwd_ms(torch, lambda tb: F.embedding(ids, tb), (table,), dy), "native")

        xf = torch.randn(t, FFN, device="cuda", dtype=torch.float32)
        lf = torch.randn(FFN, device="cuda", dtype=torch.float32)
        xb = xf.to(torch.bfloat16)
        put(f"round_to_bf16_t{t}", time_ms(torch, lambda: xf.to(torch.bfloat16)), "fused")
        put(f"widen_to_f32_t{t}", time_ms(torch, lambda: xb.float()), "fused")
        put(f"scale_cols_f32_t{t}", time_ms(torch, lambda: xf * lf), "fused")
        del x, w, b, dy, q, g, u, dh, table, xf, lf, xb

    t = 4096
    logits = torch.randn(t, VOCAB, **bf, requires_grad=True)
    labels = (torch.arange(t, device="cuda") * 7919) % VOCAB

    def ce_step():
        loss = F.cross_entropy(logits, labels)
        return torch.autograd.grad(loss, (logits,))

    put(f"cross_entropy_t{t}", time_ms(torch, ce_step), "native")
    del logits

    rows = torch.randn(SAMPLE_ROWS, VOCAB, **bf) * 6

    def sample(temperature=0.8, top_p=0.9):
        probs = torch.softmax(rows.float() / temperature, dim=-1)
        sp, si = torch.sort(probs, dim=-1, descending=True)
        cum = torch.cumsum(sp, dim=-1)
        sp = sp.masked_fill(cum - sp > top_p, 0.0)
        return si.gather(-1, torch.multinomial(sp, 1))

    put(f"sampling_b{SAMPLE_ROWS}", time_ms(torch, sample), "eager")
    return res


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
            "ops": ops(torch),
        }
    except Exception as e:  # report, do not crash the Rust side's run
        result = {"error": f"{type(e).__name__}: {e}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
