"""InstructBLIP throughput with random weights: Q-Former-only training, and batched against one-at-a-time generation.

The model is an `InstructBlipForConditionalGeneration` of the chosen shape with random weights (nothing is
downloaded), set up as `seqtune train` sets it up for `finetune: qformer` (`seqtune.train.instructblip.set_trainable`:
the Q-Former, query tokens and language projection train in fp32; the vision encoder and language model are frozen,
in bf16 on a GPU). Inputs are random token ids and pixels of the real shapes: 32 `<image>` tokens + BOS + a prompt
of --prompt-tokens + a response of --response-tokens (loss on the response only).

Training: forward + backward + AdamW step on micro-batches of --batch-size (autocast bf16 on a GPU), after
--warmup steps; reported: samples/s and peak memory. This times the model's step, not the Trainer's data loading
(image decoding and resizing happen in the data loader, off this path).
Generation: the path `seqtune generate` takes (`seqtune.lm.hf_vlm.HFVisionLM.complete`: tokenizing with the
processor's layout, reading and resizing each image file, left-padded batches, decoding the answers), on the same
model cast to the generation dtype (bf16 on a GPU, as generate loads it), with a processor built here (a BPE
tokenizer trained on random words, InstructBLIP's image processor) and --prompts random JPEG images of
--image-height × --image-width on disk. --prompts prompts of different lengths, greedy, exactly --new-tokens new
tokens each (EOS suppressed, so both ways generate the same number), once in batches of --gen-batch-size and once
one at a time (batch_size=1); reported: new tokens/s and requests/s of each, the speed-up, and the mean prompt
length in tokens (image tokens and BOS included).

    python benchmarks/vlm_throughput.py --shape tiny                 # CPU, seconds
    python benchmarks/vlm_throughput.py --shape 7b --json 7b.json    # InstructBLIP-Vicuna-7B shape, one CUDA GPU
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import resource
import string
import sys
import tempfile
import time
from pathlib import Path

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
    # a tiny InstructBLIP to run on a CPU in seconds (the shape measured in BENCHMARKS.md; the demo's model,
    # seqtune.tiny_model.TinyBlipSpec, is of the same order: hidden 64, four 32×32 patches)
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
PAD, BOS, EOS = 3, 1, 2
"""The ids of seqtune.tiny_model's tokenizers (<unk>, <s>, </s>, <pad>)."""


def random_text(rng: random.Random, words: int) -> str:
    return " ".join("".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 8))) for _ in range(words))


def build_processor(shape: dict):
    """An InstructBlipProcessor without a download: a BPE tokenizer trained on random words (at most the model's
    vocabulary less one id, kept for `<image>`), a copy of it for the Q-Former, InstructBLIP's image processor."""
    from transformers import BlipImageProcessor, InstructBlipProcessor

    from seqtune.tiny_model import train_tokenizer

    rng = random.Random(0)
    vocab = min(shape["text"]["vocab_size"], shape["qformer"]["vocab_size"]) - 1
    tokenizer = train_tokenizer([random_text(rng, 50) for _ in range(2000)], vocab)
    qformer_tokenizer = copy.deepcopy(tokenizer)
    qformer_tokenizer.padding_side = "right"
    size = shape["vision"]["image_size"]
    image_processor = BlipImageProcessor(size={"height": size, "width": size}, do_convert_rgb=True)
    return InstructBlipProcessor(
        image_processor, tokenizer, qformer_tokenizer, num_query_tokens=shape["num_query_tokens"]
    )


def build_model(shape: dict, device: torch.device, half: torch.dtype | None, image_token: int):
    from transformers import InstructBlipConfig, InstructBlipForConditionalGeneration, LlamaConfig

    from seqtune.train.instructblip import set_trainable

    text = LlamaConfig(**shape["text"], bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD)
    config = InstructBlipConfig(
        vision_config=shape["vision"],
        qformer_config=dict(shape["qformer"], pad_token_id=PAD),
        text_config=text.to_dict(),
        num_query_tokens=shape["num_query_tokens"],
        image_token_index=image_token,
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
    vocab = config.image_token_index  # the tokenizer's ids below <image>, special tokens left out below
    image = [config.image_token_index] * config.num_query_tokens
    rows, labels = [], []
    for length in prompt_tokens[:batch]:
        text = torch.randint(4, vocab, (length + response,), generator=generator).tolist()
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


def prompt_of(tokenizer, rng: random.Random, tokens: int) -> str:
    """Random words up to `tokens` text tokens (BOS included)."""
    words: list[str] = []
    while len(tokenizer(" ".join(words))["input_ids"]) < tokens:
        words.append(random_text(rng, 1))
    return " ".join(words)


def write_images(folder: Path, count: int, height: int, width: int) -> list[str]:
    """Random-noise JPEGs (COCO-like size and format): the back-end reads and resizes each one."""
    from PIL import Image

    generator = torch.Generator().manual_seed(2)
    paths = []
    for index in range(count):
        pixels = torch.randint(0, 256, (height, width, 3), generator=generator, dtype=torch.uint8).numpy()
        path = folder / f"image_{index}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(str(path))
    return paths


def time_generation(model, processor, args, device, half) -> dict:
    from seqtune.lm.base import Decoding, Request
    from seqtune.lm.hf_vlm import HFVisionLM

    if half is not None:
        model.to(
            half
        )  # as generate loads it (dtype auto: bf16 on a GPU); training kept the trained groups fp32
    model.eval()
    rng = random.Random(1)
    lengths = [args.prompt_tokens - (i * 7) % max(1, args.prompt_tokens // 2) for i in range(args.prompts)]
    decoding = Decoding(max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens)
    with tempfile.TemporaryDirectory(prefix="vlm-bench-") as folder:
        images = write_images(Path(folder), args.prompts, args.image_height, args.image_width)
        requests = [
            Request(prompt=prompt_of(processor.tokenizer, rng, length), images=(image,), decoding=decoding)
            for length, image in zip(lengths, images, strict=True)
        ]

        def run(batch_size: int, subset: list[Request]) -> tuple[float, int]:
            lm = HFVisionLM(
                "benchmark",
                network=model,
                processor=processor,
                batch_size=batch_size,
                reject_incomplete=False,
            )
            synchronize(device)
            start = time.perf_counter()
            completions = lm.complete(subset)
            synchronize(device)
            if not all(c.ok for c in completions):
                raise RuntimeError(next(c.error for c in completions if not c.ok))
            return time.perf_counter() - start, len(subset) * args.new_tokens

        run(args.gen_batch_size, requests[: args.gen_batch_size])  # warm-up (kernels, allocator, first read)
        results = {}
        for name, size in (("batched", args.gen_batch_size), ("one_at_a_time", 1)):
            seconds, tokens = run(size, requests)
            results[name] = {
                "new_tokens_per_s": round(tokens / seconds, 2),
                "requests_per_s": round(len(requests) / seconds, 2),
                "new_tokens": tokens,
            }
        lm = HFVisionLM("benchmark", network=model, processor=processor)
        encoded = lm.encode_with_images(requests)
    results["speed_up"] = round(
        results["batched"]["new_tokens_per_s"] / results["one_at_a_time"]["new_tokens_per_s"], 2
    )
    results["mean_prompt_tokens"] = round(sum(len(ids) for ids, _ in encoded) / len(encoded), 1)
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
    parser.add_argument(
        "--image-height", type=int, default=480, help="images on disk (COCO's are about 480×640)"
    )
    parser.add_argument("--image-width", type=int, default=640)
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
    processor = build_processor(SHAPES[args.shape])
    image_token = processor.tokenizer.convert_tokens_to_ids(processor.image_token.content)
    model, trained = build_model(SHAPES[args.shape], device, half, image_token)
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
        "generate": time_generation(model, processor, args, device, half),
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
