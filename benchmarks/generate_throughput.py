"""Generation throughput: the reference way (one prompt at a time) vs seqtune's batched HF back-end, in one run.

Prompts: CommonsenseQA dev questions in the repeat-then-answer form ("First repeat the input, then answer ..."),
wrapped in the Alpaca template (seqtune's commonsense_qa task, variant `repeat`). The model is a Llama with random
weights of the chosen shape and a BPE tokenizer trained locally on the questions (nothing is downloaded). Every
prompt gets exactly --max-new-tokens tokens (EOS ignored: min_new_tokens = max_new_tokens), greedy, so both ways
generate the same number of tokens and the rate is comparable.

The reference way is measured on the first --reference-prompts prompts (one at a time it would take hours on the
full set with a 7B model); tokens/s is a rate, so the subset gives the same figure. Both ways run in this process,
on the same model object. Example:
    python benchmarks/generate_throughput.py --shape 7b --prompts 1221 --batch-size 64       # GPU
    python benchmarks/generate_throughput.py --shape tiny --prompts 256 --reference-prompts 32  # CPU
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

SHAPES = {
    # name: (hidden, intermediate, layers, heads, kv heads, vocab)
    "tiny": (64, 176, 2, 4, 2, 2048),
    "small": (512, 1376, 8, 8, 8, 32000),
    "7b": (4096, 11008, 32, 32, 32, 32000),  # Llama-2-7B
}
DEFAULT_DATA = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "commonsense_qa" / "dev_rand_split.jsonl"
)


def build_prompts(data: str, count: int) -> list[str]:
    from seqtune.prompts import get_template
    from seqtune.tasks import TASKS

    task = TASKS.get("commonsense_qa")()
    template = get_template("alpaca")
    prompts = []
    for example in task.load(data, limit=count):
        spec = task.build_prompt(example, "repeat")
        prompts.append(template.render(spec.instruction, spec.input))
    return prompts


def build_model(shape: str, prompts: list[str], device: str):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from seqtune.generate.hf_backend import resolve_device_dtype
    from seqtune.tiny_model import train_tokenizer

    hidden, intermediate, layers, heads, kv_heads, vocab = SHAPES[shape]
    tokenizer = train_tokenizer(prompts, vocab_size=min(vocab, 8000))
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch_device, dtype = resolve_device_dtype(device, "auto")
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)  # build the random weights directly in the target dtype (7B: no fp32 copy)
    try:
        with torch.device(torch_device):
            model = LlamaForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    return model.eval(), tokenizer, torch_device, dtype


def synchronize(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def reference_way(model, tokenizer, prompts: list[str], max_new_tokens: int, device) -> tuple[int, float]:
    """One prompt at a time, as the paper's evaluation code does: tokenize, generate, decode."""
    import torch

    synchronize(device)
    start = time.perf_counter()
    tokens = 0
    for prompt in prompts:
        encoded = tokenizer(prompt, return_tensors="pt").to(device)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                min_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        new = output[0, encoded["input_ids"].shape[1] :]
        tokenizer.decode(new, skip_special_tokens=True)
        tokens += new.numel()
    synchronize(device)
    return tokens, time.perf_counter() - start


def seqtune_way(
    model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int, device
) -> tuple[int, float]:
    from seqtune.generate.backend import Decoding
    from seqtune.generate.hf_backend import HFBackend

    backend = HFBackend(model, tokenizer, model="random", batch_size=batch_size)
    decoding = Decoding(max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens)
    synchronize(device)
    start = time.perf_counter()
    ids = backend.generate_ids(prompts, decoding)
    texts = [backend.decode(one, decoding) for one in ids]
    synchronize(device)
    elapsed = time.perf_counter() - start
    assert len(texts) == len(prompts) and all(len(one) == max_new_tokens for one in ids), (
        "EOS was not ignored"
    )
    return sum(len(one) for one in ids), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CommonsenseQA dev_rand_split.jsonl")
    parser.add_argument("--prompts", type=int, default=1221, help="prompts for seqtune's back-end")
    parser.add_argument(
        "--reference-prompts", type=int, default=64, help="prompts for the one-at-a-time reference"
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    prompts = build_prompts(args.data, args.prompts)
    model, tokenizer, device, dtype = build_model(args.shape, prompts, args.device)
    prompt_lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    reference_prompts = prompts[: args.reference_prompts]

    seqtune_way(model, tokenizer, prompts[: min(4, len(prompts))], 4, args.batch_size, device)  # warm-up
    ref_tokens, ref_seconds = reference_way(model, tokenizer, reference_prompts, args.max_new_tokens, device)
    our_tokens, our_seconds = seqtune_way(
        model, tokenizer, prompts, args.max_new_tokens, args.batch_size, device
    )

    results = {
        "shape": args.shape,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)",
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "prompt_tokens_mean": round(sum(prompt_lengths) / len(prompt_lengths), 1),
        "max_new_tokens": args.max_new_tokens,
        "reference": {
            "prompts": len(reference_prompts),
            "tokens": ref_tokens,
            "seconds": round(ref_seconds, 2),
            "tokens_per_s": round(ref_tokens / ref_seconds, 1),
        },
        "seqtune": {
            "prompts": len(prompts),
            "batch_size": args.batch_size,
            "tokens": our_tokens,
            "seconds": round(our_seconds, 2),
            "tokens_per_s": round(our_tokens / our_seconds, 1),
        },
    }
    results["speedup"] = round(results["seqtune"]["tokens_per_s"] / results["reference"]["tokens_per_s"], 2)
    if device.type == "cuda":
        results["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
