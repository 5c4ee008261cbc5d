"""Generation throughput: one prompt at a time (the reference way) vs seqtune's local model (seqtune.lm.hf) with
static batches and with continuous batching, in one run on the same model object.

Prompts: CommonsenseQA dev questions in the repeat-then-answer form ("First repeat the input, then answer ..."),
wrapped in the Alpaca template (seqtune's commonsense_qa task, variant `repeat`). The model is a Llama with random
weights of the chosen shape and a BPE tokenizer trained locally on the questions (nothing is downloaded). The EOS row
of its output layer is zeroed, so greedy decoding never picks EOS (its logit is 0, the largest of the others is
positive): every way generates exactly --max-new-tokens tokens per prompt (checked), and the rates are comparable.

The reference way is measured on the first --reference-prompts prompts (one at a time it would take hours on the
full set with a 7B model); tokens/s is a rate, so the subset gives the same figure. Static and continuous batching
each run --repeats times after a small warm-up; continuous batching's own warm-up (CUDA-graph capture) happens in
every engine run and is part of its time, as in real use. Example:
    python benchmarks/generate_throughput.py --shape 7b --prompts 1024 --batch-size 64 --repeats 2   # GPU
    python benchmarks/generate_throughput.py --shape tiny --prompts 128 --reference-prompts 16        # CPU
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

    from seqtune.lm.hf import resolve_device_dtype
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
    with torch.no_grad():
        model.lm_head.weight[tokenizer.eos_token_id].zero_()  # greedy decoding never ends early
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
                **encoded, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id
            )
        new = output[0, encoded["input_ids"].shape[1] :]
        tokenizer.decode(new, skip_special_tokens=True)
        tokens += new.numel()
    synchronize(device)
    assert tokens == len(prompts) * max_new_tokens, "generation ended early"
    return tokens, time.perf_counter() - start


def seqtune_way(lm, prompts: list[str], max_new_tokens: int, device) -> tuple[int, float]:
    """seqtune.lm.hf with its configured batching: token ids, then the decoded texts."""
    from seqtune.lm.base import Decoding

    decoding = Decoding(max_new_tokens=max_new_tokens)
    synchronize(device)
    start = time.perf_counter()
    ids = lm.trimmed_ids(prompts, decoding)
    texts = [lm.tokenizer.decode(one, skip_special_tokens=True) for one in ids]
    synchronize(device)
    elapsed = time.perf_counter() - start
    assert len(texts) == len(prompts) and all(len(one) == max_new_tokens for one in ids), (
        "generation ended early"
    )
    return sum(len(one) for one in ids), elapsed


def rate(tokens: int, seconds: float, **extra) -> dict:
    return {
        **extra,
        "tokens": tokens,
        "seconds": round(seconds, 2),
        "tokens_per_s": round(tokens / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CommonsenseQA dev_rand_split.jsonl")
    parser.add_argument("--prompts", type=int, default=1024, help="prompts for seqtune's batched ways")
    parser.add_argument(
        "--reference-prompts", type=int, default=64, help="prompts for the one-at-a-time reference"
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=1, help="measurements of each batched way")
    parser.add_argument("--ways", default="reference,static,continuous", help="which ways to measure")
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

    from seqtune.lm.hf import HFCausalLM

    ways = args.ways.split(",")
    results = {
        "shape": args.shape,
        "parameters": sum(p.numel() for p in model.parameters()),
        "device": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({torch.get_num_threads()} threads)",
        "dtype": str(dtype).replace("torch.", ""),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "python": platform.python_version(),
        "prompts": len(prompts),
        "prompt_tokens_mean": round(sum(prompt_lengths) / len(prompt_lengths), 1),
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
    }
    if "reference" in ways:
        tokens, seconds = reference_way(model, tokenizer, reference_prompts, args.max_new_tokens, device)
        results["reference"] = rate(tokens, seconds, prompts=len(reference_prompts))
        print(json.dumps({"reference": results["reference"]}), flush=True)
    for way in ("static", "continuous"):
        if way not in ways:
            continue
        lm = HFCausalLM(
            "random", network=model, tokenizer=tokenizer, batch_size=args.batch_size, batching=way
        )
        results[way] = []
        try:
            seqtune_way(lm, prompts[: min(4, len(prompts))], 4, device)  # warm-up
            for _ in range(args.repeats):
                results[way].append(rate(*seqtune_way(lm, prompts, args.max_new_tokens, device)))
                print(json.dumps({way: results[way][-1]}), flush=True)
        except (
            Exception
        ) as error:  # one way failing (e.g. a kernel missing on this machine) still reports the rest
            results[f"{way}_error"] = f"{error.__class__.__name__}: {error}"[:500]
            print(json.dumps({f"{way}_error": results[f"{way}_error"]}), flush=True)
            continue
        if "reference" in results:
            best = max(run["tokens_per_s"] for run in results[way])
            results[f"{way}_speedup"] = round(best / results["reference"]["tokens_per_s"], 2)
    if device.type == "cuda":
        results["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
