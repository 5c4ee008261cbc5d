"""InstructBLIP throughput with random weights: Q-Former-only training, and batched against one-at-a-time generation.

The model is an `InstructBlipForConditionalGeneration` of the chosen shape with random weights (nothing is
downloaded), set up as `seqtune train` sets it up for `finetune: qformer` (`seqtune.train.instructblip.set_trainable`:
the Q-Former, query tokens and language projection train in fp32; the vision encoder and language model are frozen,
in bf16 on a GPU). Inputs are random token ids and pixels of the real shapes: 32 `<image>` tokens + BOS + a prompt
of --prompt-tokens + a response of --response-tokens (loss on the response only).

Training: forward + backward + AdamW step on micro-batches of --batch-size (autocast bf16 on a GPU), after
--warmup steps; reported: samples/s and peak memory. This times the model's step, not the Trainer's data loading
(image decoding and resizing happen in the data loader, off this path).
Generation: --prompts prompts, greedy, exactly --new-tokens new tokens each (EOS suppressed, so both ways generate
the same number), once in batches of --gen-batch-size (left-padded prompts of different lengths) and once one at a
time; reported: new tokens/s of each and the speed-up.

    python benchmarks/vlm_throughput.py --shape tiny                 # CPU, seconds
    python benchmarks/vlm_throughput.py --shape 7b --json 7b.json    # InstructBLIP-Vicuna-7B shape, one CUDA GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import torch

SHAPES = {
    # InstructBLIP-Vicuna-7B (Salesforce/instructblip-vicuna-7b config.json): EVA ViT-g/14 at 224 px, BERT-base
    # Q-Former with cross-attention every 2nd layer, 32 query tokens, Vicuna-7B (LLaMA-7B shape)
    "7b": dict(
        vision=dict(
            hidden_size=1408,
            intermediate_size=6144,
            num_hidden_layers=39,
            num_attention_heads=16,
            image_size=224,
            patch_size=14,
        ),
        qformer=dict(
            vocab_size=30523,
            hidden_size=768,
            intermediate_size=3072,
            num_hidden_layers=12,
            num_attention_heads=12,
            cross_attention_frequency=2,
        ),
        text=dict(
            vocab_size=32002,
            hidden_size=4096,
            intermediate_size=11008,
            num_hidden_layers=32,
            num_attention_heads=32,
            num_key_value_heads=32,
            max_position_embeddings=2048,
        ),
        num_query_tokens=32,
    ),
    # the tiny InstructBLIP of the tests and the demo (seqtune.tiny_model.TinyBlipSpec, hidden 64 language model)
    "tiny": dict(
        vision=dict(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
            image_size=64,
            patch_size=8,
        ),
        qformer=dict(
            vocab_size=2048,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=1,
            num_attention_heads=2,
        ),
        text=dict(
            vocab_size=2049,
            hidden_size=64,
            intermediate_size=176,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=1024,
        ),
        num_query_tokens=4,
    ),
}
PAD, BOS, EOS = 0, 1, 2


def build_model(shape: dict, device: torch.device, half: torch.dtype | None):
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration, LlamaConfig

    from seqtune.train.instructblip import set_trainable

    text = LlamaConfig(**shape["text"], bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    config = InstructBlipConfig(
        vision_config=shape["vision"],
        qformer_config=dict(shape["qformer"], pad_token_id=PAD),
        text_config=text.to_dict(),
        num_query_tokens=shape["num_query_tokens"],
        image_token_index=shape["text"]["vocab_size"] - 1,
    )
    torch.manual_seed(0)
    default = torch.get_default_dtype()
    torch.set_default_dtype(half or torch.float32)  # built in half precision on the device: 8 B params fit
    try:
        with torch.device(device):
            model = InstructBlipForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(default)
    trained = set_trainable(model, "qformer")
    return model, trained


def random_batch(model, batch: int, prompt_tokens: list[int], response: int, device, generator) -> dict:
    """Left-padded `<image>` × Q + BOS + prompt (+ response, scored) rows; prompts may differ in length."""
    config = model.config
    vocab = config.text_config.vocab_size - 1
    image = [config.image_token_index] * config.num_query_tokens
    rows, labels = [], []
    for length in prompt_tokens[:batch]:
        text = torch.randint(3, vocab, (length + response,), generator=generator).tolist()
        rows.append(image + [BOS] + text)
        labels.append([-100] * (len(image) + 1 + length) + text[length:])
    longest = max(map(len, rows))
    pad = [longest - len(row) for row in rows]
    size = config.vision_config.image_size
    qformer = torch.randint(3, config.qformer_config.vocab_size, (batch, 24), generator=generator)
    return {
        "input_ids": torch.tensor([[PAD] * p + row for p, row in zip(pad, rows, strict=True)], device=device),
        "attention_mask": torch.tensor(
            [[0] * p + [1] * len(row) for p, row in zip(pad, rows, strict=True)], device=device
        ),
        "labels": torch.tensor([[-100] * p + lab for p, lab in zip(pad, labels, strict=True)], device=device),
        "qformer_input_ids": qformer.to(device),
        "qformer_attention_mask": torch.ones_like(qformer, device=device),
        "pixel_values": torch.randn(batch, 3, size, size, generator=generator).to(device),
    }


def synchronize(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_gib(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB → GiB (process RSS)


def time_training(model, args, device, half) -> dict:
    generator = torch.Generator().manual_seed(0)
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=1e-5, weight_decay=0.05
    )
    model.train()
    batches = [
        random_batch(
            model,
            args.batch_size,
            [args.prompt_tokens] * args.batch_size,
            args.response_tokens,
            device,
            generator,
        )
        for _ in range(args.warmup + args.steps)
    ]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = None
    for step, batch in enumerate(batches):
        if step == args.warmup:
            synchronize(device)
            start = time.perf_counter()
        with torch.autocast(device.type, dtype=half, enabled=half is not None):
            loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    synchronize(device)
    seconds = time.perf_counter() - start
    return {
        "samples_per_s": round(args.steps * args.batch_size / seconds, 3),
        "step_s": round(seconds / args.steps, 4),
        "peak_memory_gib": round(peak_memory_gib(device), 2),
        "last_loss": round(loss.item(), 4),
    }


@torch.no_grad()
def time_generation(model, args, device, half) -> dict:
    model.eval()
    generator = torch.Generator().manual_seed(1)
    lengths = [args.prompt_tokens - (i * 7) % max(1, args.prompt_tokens // 2) for i in range(args.prompts)]
    settings = dict(
        max_new_tokens=args.new_tokens,
        min_new_tokens=args.new_tokens,
        do_sample=False,
        pad_token_id=PAD,
        eos_token_id=EOS,
    )

    def generate(batch_lengths: list[int]) -> int:
        batch = random_batch(model, len(batch_lengths), batch_lengths, 0, device, generator)
        batch.pop("labels")
        with torch.autocast(device.type, dtype=half, enabled=half is not None):
            out = model.generate(**batch, **settings)
        return out.shape[0] * args.new_tokens

    generate(lengths[: args.gen_batch_size])  # warm-up (kernels, allocator)
    results = {}
    for name, size in (("batched", args.gen_batch_size), ("one_at_a_time", 1)):
        synchronize(device)
        start = time.perf_counter()
        tokens = sum(generate(lengths[i : i + size]) for i in range(0, len(lengths), size))
        synchronize(device)
        results[name] = {
            "new_tokens_per_s": round(tokens / (time.perf_counter() - start), 2),
            "new_tokens": tokens,
        }
    results["speed_up"] = round(
        results["batched"]["new_tokens_per_s"] / results["one_at_a_time"]["new_tokens_per_s"], 2
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--device", default="auto", help="auto: cuda when available, else cpu")
    parser.add_argument("--batch-size", type=int, default=None, help="training micro-batch (tiny 16, 7b 8)")
    parser.add_argument("--steps", type=int, default=None, help="timed training steps (tiny 20, 7b 10)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--prompt-tokens", type=int, default=40, help="text tokens of a prompt (VQA question + template)"
    )
    parser.add_argument("--response-tokens", type=int, default=24, help="a caption and a short answer")
    parser.add_argument("--prompts", type=int, default=32, help="prompts generated for")
    parser.add_argument("--gen-batch-size", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=24)
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    args.batch_size = args.batch_size or (8 if args.shape == "7b" else 16)
    args.steps = args.steps or (10 if args.shape == "7b" else 20)

    device = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else "cpu"
        if args.device == "auto"
        else args.device
    )
    if args.shape == "7b" and device.type != "cuda":
        print("--shape 7b needs a CUDA GPU (about 40 GB at the default batch size)", file=sys.stderr)
        return 2
    half = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else None
    torch.set_num_threads(torch.get_num_threads())
    model, trained = build_model(SHAPES[args.shape], device, half)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for n, p in model.named_parameters() if n in set(trained))
    result = {
        "shape": args.shape,
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"cpu ({torch.get_num_threads()} threads)",
        "precision": "bf16 (frozen) + fp32 (trained), autocast bf16" if half else "fp32",
        "parameters_m": round(parameters / 1e6, 2),
        "trainable_m": round(trainable / 1e6, 2),
        "settings": {k: v for k, v in vars(args).items() if k != "json"},
        "train": time_training(model, args, device, half),
        "generate": time_generation(model, args, device, half),
        "torch": torch.__version__,
    }
    import transformers

    result["transformers"] = transformers.__version__
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
