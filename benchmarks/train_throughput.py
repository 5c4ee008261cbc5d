"""Training throughput of seqtune's default batching against the reference code's, in one run.

(a) reference: micro-batch 4 padded to the longest, random order, no packing (alpaca-lora's way);
(b) seqtune: its default (padding-free micro-batches of --micro-batch examples, no attention across examples).
Both run through seqtune's own trainer set-up (`seqtune.train.pipeline.prepare`) on a Llama-shaped model with random
weights and LoRA q/k/v r8, on the real length distribution of Alpaca + "repeat the input" SIT data, tokenized with a
BPE tokenizer of the model's vocabulary size trained locally on that text. Reported: real (non-pad) tokens/s, peak
memory, and MFU = (4·params + attention) FLOPs per token × tokens/s over the measured matmul peak of the device.
Also timed: reading + tokenizing the full Alpaca + SIT set (a CPU cost paid before training).

    python benchmarks/train_throughput.py --shape tiny          # CPU-sized
    python benchmarks/train_throughput.py --shape 7b            # Llama-2-7B shape, on a GPU (bf16)
    python benchmarks/train_throughput.py --long-record-mb 50   # only: peak memory of reading + tokenizing
                                                                # a file with one 50 MB record
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

from transformers import TrainerCallback

SHAPES = {
    "tiny": dict(
        hidden_size=64,
        intermediate_size=176,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=2048,
    ),
    "7b": dict(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    ),
}


def alpaca_and_sit(path: Path) -> list[dict]:
    """The Alpaca records plus, for each record with an input, its "first repeat the input" version."""
    from seqtune.records import read_json

    records = []
    for record in read_json(path):
        records.append(record)
        if record["input"]:
            instruction = record["instruction"]
            records.append(
                {
                    "instruction": "First repeat the input, then "
                    + instruction[:1].lower()
                    + instruction[1:],
                    "input": record["input"],
                    "output": record["input"] + "\n" + record["output"],
                }
            )
    return records


def measured_matmul_peak(device, dtype) -> float:
    """FLOP/s of a large square matmul on this device and dtype (the MFU denominator)."""
    import torch

    n = 8192 if device.type == "cuda" else 1024
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    repeats = 20 if device.type == "cuda" else 5
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    sync()
    return 2 * n**3 * repeats / (time.perf_counter() - start)


def time_tokenization(records, tokenizer) -> dict:
    from seqtune.prompts import get_template
    from seqtune.records import ErrorPolicy, write_jsonl
    from seqtune.train.data import read_pairs, tokenize_pairs

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alpaca_sit.jsonl"
        write_jsonl(path, records)
        start = time.perf_counter()
        pairs = read_pairs(path, get_template("alpaca"), tokenizer, ErrorPolicy())
        split = tokenize_pairs(
            pairs, tokenizer, cutoff_len=512, train_on_inputs=False, add_special_tokens=True
        )
        seconds = time.perf_counter() - start
    lengths = [len(ids) for ids in split.input_ids]
    return {
        "records": len(records),
        "examples": len(split),
        "tokens": sum(lengths),
        "seconds": round(seconds, 2),
        "records_per_s": round(len(records) / seconds),
        "mean_len": round(sum(lengths) / len(lengths), 1),
        "max_len": max(lengths),
    }


def long_record_peak_rss(megabytes: int, cutoff_len: int = 512) -> dict:
    """Peak RSS of reading and tokenizing 100 short records and one of `megabytes` MB, against the same without it
    (ru_maxrss only grows: run it in a process of its own)."""
    from seqtune.prompts import get_template
    from seqtune.records import ErrorPolicy, write_jsonl
    from seqtune.tiny_model import train_tokenizer
    from seqtune.train.data import read_pairs, tokenize_pairs

    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    short = [{"instruction": "Repeat the input.", "input": " ".join(words), "output": " ".join(words)}] * 100
    tokenizer = train_tokenizer([" ".join(words)] * 10, 512)
    rng = random.Random(0)
    long_text = " ".join(rng.choice(words) for _ in range(megabytes * 2**20 // 5))
    peaks = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, records in (
            ("short_only", short),
            ("with_long_record", [*short, {**short[0], "output": long_text}]),
        ):
            path = Path(folder) / f"{name}.jsonl"
            write_jsonl(path, records)
            pairs = read_pairs(path, get_template("alpaca"), tokenizer, ErrorPolicy())
            tokenize_pairs(
                pairs, tokenizer, cutoff_len=cutoff_len, train_on_inputs=False, add_special_tokens=True
            )
            peaks[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)  # KiB → GiB
    return {"long_record_mb": megabytes, "cutoff_len": cutoff_len, "peak_rss_gib": peaks}


class StepClock(TrainerCallback):
    """Notes the wall time at the end of every optimizer step."""

    def __init__(self):
        self.times: dict[int, float] = {}

    def on_step_end(self, args, state, control, **kwargs):
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.times[state.global_step] = time.perf_counter()


def run_arm(name, model_dir, data_path, *, batching, micro_batch, global_batch, steps, warmup, out) -> dict:
    import torch

    from seqtune.config import build
    from seqtune.train.config import TrainConfig
    from seqtune.train.pipeline import prepare

    config = build(
        TrainConfig,
        {
            "data": str(data_path),
            "output_dir": str(out / name),
            "model": str(model_dir),
            "finetune": "lora",
            "batching": batching,
            "micro_batch_size": micro_batch,
            "global_batch_size": global_batch,
            "max_steps": steps,
            "dev_size": 0,
            "keep_best": False,
            "eval_steps": 10**6,
            "logging_steps": 1,
            "warmup_steps": 0,
            "report_to": "none",
            "cutoff_len": 512,
            "seed": 0,
        },
    )
    run = prepare(config)
    clock = StepClock()
    run.trainer.add_callback(clock)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    run.trainer.train()
    tokens = {e["step"]: float(e["num_tokens"]) for e in run.trainer.state.log_history if "num_tokens" in e}
    seconds = clock.times[steps] - clock.times[warmup]
    real_tokens = tokens[steps] - tokens[warmup]
    peak = (
        torch.cuda.max_memory_allocated()
        if torch.cuda.is_available()
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return {
        "arm": name,
        "batching": run.config.batching,  # as resolved: auto → padding_free or grouped
        "micro_batch": micro_batch,
        "accumulation": run.accumulation,
        "timed_steps": steps - warmup,
        "real_tokens_per_s": real_tokens / seconds,
        "peak_memory_gib": peak / 2**30,
        "memory_kind": "cuda max allocated" if torch.cuda.is_available() else "process max RSS",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument(
        "--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/alpaca/alpaca_data.json.gz")
    )
    parser.add_argument("--records", type=int, default=4000, help="records sampled for the throughput runs")
    parser.add_argument("--global-batch", type=int, default=128)
    parser.add_argument("--micro-batch", type=int, default=16, help="seqtune arm's micro-batch (examples)")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2, help="optimizer steps left out of the timing")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--long-record-mb", type=int, help="only measure the memory of a record of this size")
    args = parser.parse_args()
    if args.long_record_mb:
        print(json.dumps(long_record_peak_rss(args.long_record_mb), indent=2))
        return

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from seqtune.records import write_jsonl
    from seqtune.tiny_model import train_tokenizer

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    shape = SHAPES[args.shape]
    records = alpaca_and_sit(Path(args.data))
    texts = (text for r in records for text in (r["instruction"], r["input"], r["output"]))
    start = time.perf_counter()
    tokenizer = train_tokenizer(texts, shape["vocab_size"])
    tokenizer_seconds = time.perf_counter() - start
    tokenization = time_tokenization(records, tokenizer)

    results = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else "CPU",
        "shape": args.shape,
        "dtype": str(dtype).replace("torch.", ""),
        "torch_threads": torch.get_num_threads(),
        "tokenizer_training_s": round(tokenizer_seconds, 1),
        "tokenization": tokenization,
    }
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        torch.manual_seed(0)
        config = LlamaConfig(
            **shape,
            max_position_embeddings=2048,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
        )
        with torch.device(device):
            model = LlamaForCausalLM(config).to(dtype)
        params = sum(p.numel() for p in model.parameters())
        model.save_pretrained(folder / "model")
        tokenizer.save_pretrained(folder / "model")
        del model
        sample = random.Random(0).sample(records, min(args.records, len(records)))
        write_jsonl(folder / "data.jsonl", sample)

        common = dict(global_batch=args.global_batch, steps=args.steps, warmup=args.warmup, out=folder)
        arms = [
            run_arm(
                "a_reference",
                folder / "model",
                folder / "data.jsonl",
                batching="padded",
                micro_batch=4,
                **common,
            ),
            run_arm(
                "b_seqtune",
                folder / "model",
                folder / "data.jsonl",
                batching="auto",  # the default: padding_free with flash attention, else grouped
                micro_batch=args.micro_batch,
                **common,
            ),
        ]
        other = "grouped" if arms[1]["batching"] == "padding_free" else "padding_free"
        arms.append(
            run_arm(
                f"c_{other}",
                folder / "model",
                folder / "data.jsonl",
                batching=other,
                micro_batch=args.micro_batch,
                **common,
            )
        )
    peak = measured_matmul_peak(device, dtype)
    mean_len = tokenization["mean_len"]
    # forward 2N + backward (activation gradients only; the base is frozen) 2N, plus causal attention
    # (QK^T and AV: 2 matmuls × 2 FLOPs × layers × hidden × mean length / 2 for causality) × 3 for fwd + bwd
    flops_per_token = 4 * params + 3 * 2 * shape["num_hidden_layers"] * shape["hidden_size"] * mean_len
    for arm in arms:
        arm["mfu"] = arm["real_tokens_per_s"] * flops_per_token / peak
    results.update(
        params=params,
        matmul_peak_tflops=round(peak / 1e12, 3),
        arms=arms,
        speedup_b_over_a=arms[1]["real_tokens_per_s"] / arms[0]["real_tokens_per_s"],
    )
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
