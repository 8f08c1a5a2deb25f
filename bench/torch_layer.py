#!/usr/bin/env python3
"""The outside baseline of `sectune bench layer`: transformers + PEFT on the same shapes.

A random model of --layers decoder blocks with a --vocab-token vocabulary (as the Rust side builds),
the study's adapter (LoRA r 8, alpha 16, dropout 0.05 on q/v or qkv; IA3 on its targets), timed
for a forward + loss in eval mode without autograd, and for a training step (forward, loss,
backward). bf16 on a GPU (what people train in), f32 on the CPU (what sectune's CPU backend
computes in); SDPA attention. With --base-dtype int8 / nf4 the base linears are bitsandbytes'
(LLM.int8 with its default threshold, or 4-bit NF4, optionally double-quantized), loaded the way
QLoRA users load them (from_pretrained with a BitsAndBytesConfig, prepare_model_for_kbit_training),
so `sectune bench layer --base-dtype nf4` compares against bitsandbytes + PEFT. Prints one JSON
object; {"error": ...} (exit 0) when torch, transformers, peft or (quantized) bitsandbytes is
missing, or the device is not there.
"""
import argparse
import json
import tempfile
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
    """The model in the compute dtype (bf16 on a GPU, f32 on the CPU), its base linears in
    bitsandbytes' storage when --base-dtype says so, with the adapter."""
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
    if args.base_dtype == "bf16":
        model = model.to(dtype=dtype, device=args.device)
    else:
        model = quantized(peft, model, dtype, args)
    model = peft.get_peft_model(model, pc)
    model.config.use_cache = False
    if args.checkpoint:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model, dtype


def quantized(peft, model, dtype, args):
    """The same weights saved and loaded back with a BitsAndBytesConfig (the QLoRA recipe), then
    prepare_model_for_kbit_training (norms in f32, input gradients on; checkpointing only with
    --checkpoint)."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if args.base_dtype == "int8":
        qc = BitsAndBytesConfig(load_in_8bit=True)
    else:
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                bnb_4bit_use_double_quant=args.double_quant)
    with tempfile.TemporaryDirectory() as tmp:
        model.to(dtype=dtype).save_pretrained(tmp)
        del model
        model = AutoModelForCausalLM.from_pretrained(tmp, quantization_config=qc, dtype=dtype,
                                                     device_map={"": args.device})
    import bitsandbytes as bnb

    held = sum(isinstance(m, (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)) for m in model.modules())
    if held == 0:
        raise SystemExit("bitsandbytes quantized no linear: the baseline would be the bf16 model")
    return peft.prepare_model_for_kbit_training(model, use_gradient_checkpointing=args.checkpoint)


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
    p.add_argument("--base-dtype", default="bf16", choices=["bf16", "int8", "nf4"])
    p.add_argument("--double-quant", action="store_true")
    args = p.parse_args()
    try:
        import peft
        import torch
        import transformers
    except ImportError as e:
        print(json.dumps({"error": f"missing {e.name}: pip install torch transformers peft"}))
        return
    bnb_version = None
    if args.base_dtype != "bf16":
        try:
            import bitsandbytes
        except ImportError:
            print(json.dumps({"error": "missing bitsandbytes (for --base-dtype int8/nf4): pip install bitsandbytes"}))
            return
        bnb_version = bitsandbytes.__version__
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
        "base": args.base_dtype + (" (double quant)" if args.double_quant and args.base_dtype == "nf4" else ""),
        "bitsandbytes": bnb_version,
        "threads": torch.get_num_threads(),
        "forward_ms": mean_ms(torch, args.device, args.reps, forward),
        "step_ms": mean_ms(torch, args.device, args.reps, step),
    }))


if __name__ == "__main__":
    main()
