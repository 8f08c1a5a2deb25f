#!/usr/bin/env python3
"""The outside baseline of `sectune bench layer`: transformers + PEFT on the same shapes.

A random model of --layers decoder blocks with a --vocab-token vocabulary (as the Rust side builds),
the study's adapter (LoRA r 8, alpha 16, dropout 0.05 on q/v or qkv; IA3 on its targets), timed
for a forward + loss in eval mode without autograd, and for a training step (forward, loss,
backward). bf16 on a GPU (what people train in), f32 on the CPU (what sectune's CPU backend
computes in); SDPA attention. Prints one JSON object; {"error": ...} (exit 0) when torch,
transformers or peft is missing, or the device is not there.
"""
import argparse
import json
import time



def shapes(name):
    """transformers config kwargs; mirrors src/train/layer_bench.rs `config`."""
    if name == "codellama7b":
        return "llama", dict(hidden_size=4096, intermediate_size=11008, num_attention_heads=32,
                             num_key_value_heads=32, rope_theta=1e6)
    if name == "small":
        return "llama", dict(hidden_size=256, intermediate_size=688, num_attention_heads=8,
                             num_key_value_heads=4, rope_theta=1e6)
    if name == "codegen27b":
        return "codegen", dict(n_embd=4096, n_head=16, n_inner=16384, rotary_dim=64)
    raise SystemExit(f"unknown shape {name}")


def build(torch, args):
    """The model in the base's dtype (bf16 on a GPU, f32 on the CPU): the bf16 path only; no
    bitsandbytes comparison here."""
    import peft
    from transformers import CodeGenConfig, CodeGenForCausalLM, LlamaConfig, LlamaForCausalLM

    arch, kw = shapes(args.shape)
    if arch == "llama":
        cfg = LlamaConfig(vocab_size=args.vocab, num_hidden_layers=args.layers, max_position_embeddings=16384,
                          rms_norm_eps=1e-5, attn_implementation="sdpa", **kw)
        model = LlamaForCausalLM(cfg)
        lora_targets = ["q_proj", "v_proj"]
        ia3 = (["q_proj", "k_proj", "v_proj", "gate_proj", "up_proj", "down_proj"], ["down_proj"])
    else:
        cfg = CodeGenConfig(vocab_size=args.vocab, n_layer=args.layers, n_positions=16384, bos_token_id=0,
                            eos_token_id=0, **kw)
        model = CodeGenForCausalLM(cfg)
        lora_targets = ["qkv_proj"]
        ia3 = (["qkv_proj", "fc_in", "fc_out"], ["fc_out"])
    if args.method == "lora":
        pc = peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=lora_targets)
    else:
        pc = peft.IA3Config(target_modules=ia3[0], feedforward_modules=ia3[1])
    dtype = torch.bfloat16 if args.device == "cuda" else torch.float32
    model = peft.get_peft_model(model.to(dtype=dtype, device=args.device), pc)
    model.config.use_cache = False
    if args.checkpoint:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, dtype


def mean_ms(torch, device, reps, fn):
    fn()
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(reps):
        fn()
    if device == "cuda":
        torch.cuda.synchronize()
    return (time.perf_counter() - start) * 1e3 / reps


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shape", default="codellama7b")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--layers", type=int, default=1)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--seq", type=int, default=2048)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--method", default="lora", choices=["lora", "ia3"])
    p.add_argument("--checkpoint", action="store_true")
    p.add_argument("--vocab", type=int, default=320)
    args = p.parse_args()
    try:
        import peft
        import torch
        import transformers
    except ImportError as e:
        print(json.dumps({"error": f"missing {e.name}: pip install torch transformers peft"}))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        print(json.dumps({"error": "torch sees no CUDA GPU"}))
        return
    torch.manual_seed(0)
    model, dtype = build(torch, args)
    ids = (torch.arange(args.batch * args.seq) * 37 % args.vocab).reshape(args.batch, args.seq).to(args.device)

    def forward():
        model.eval()
        with torch.no_grad():
            return model(input_ids=ids, labels=ids).loss.item()

    def step():
        model.train()
        model.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        return loss.item()

    device_name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    print(json.dumps({
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "device": device_name,
        "dtype": "bf16" if dtype == torch.bfloat16 else "f32",
        "threads": torch.get_num_threads(),
        "forward_ms": mean_ms(torch, args.device, args.reps, forward),
        "step_ms": mean_ms(torch, args.device, args.reps, step),
    }))


if __name__ == "__main__":
    main()
