"""Scoring speed: 10,000 saved predictions → scores.jsonl + summary.json, everything but BERTScore.

Predictions are built from real examples (CommonsenseQA dev with the repeat variant, XQuAD in 10 languages with
the translate variant; ../shared/data when present, else the bundled samples) with seeded synthetic responses:
exact and damaged repetitions/translations, answer-only and empty responses. Baseline, in the same run:
rouge_score's own RougeScorer (rougeL) on the same (segment, expected) pairs — ROUGE-L alone, which is one part
of what `seqtune score` computes.

Run: .venv/bin/python benchmarks/score_speed.py [--n 10000]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

from seqtune.config import build
from seqtune.records import write_jsonl
from seqtune.score import ScoreConfig, run_score
from seqtune.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
SAMPLES = REPO / "src" / "seqtune" / "samples"


def _damage(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    kept = [w for w in words if rng.random() > 0.2]
    return " ".join(kept)


def _response(expected: str, answer: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.6:
        return f"{expected}\n{answer}"
    if roll < 0.8:
        return f"{_damage(expected, rng)}\n{answer}"
    if roll < 0.95:
        return answer
    return ""


def build_predictions(n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    csqa_source = SHARED / "commonsense_qa" / "dev_rand_split.jsonl"
    xquad_source = SHARED / "xquad"
    if not csqa_source.is_file():
        csqa_source, xquad_source = SAMPLES / "commonsense_qa.dev.jsonl", SAMPLES
    plans = [
        ("commonsense_qa", str(csqa_source), {}, "repeat"),
        ("xquad", str(xquad_source), {}, "translate"),
    ]
    predictions = []
    for name, source, options, variant in plans:
        task = TASKS.get(name)()
        examples = task.load(source, **options)
        for index in range(n // len(plans)):
            example = examples[index % len(examples)]
            spec = task.build_prompt(example, variant)
            answer = example.gold if isinstance(example.gold, str) else example.gold[0]
            expected = spec.expected[0] or example.question
            predictions.append(
                {
                    "id": f"{example.id}#{index}",
                    "task": name,
                    "variant": variant,
                    "prompt": "",
                    "response": _response(expected, answer, rng),
                    "model": "synthetic",
                    "adapter": None,
                    "decoding": {"temperature": 0.0},
                    **task.prediction_fields(example, spec),
                }
            )
    return predictions


def baseline_rouge_score(predictions: list[dict]) -> float:
    """rouge_score's rougeL on each (response's first part, expected text) pair; seconds."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    pairs = [(p["expected"][0], p["response"].rsplit("\n", 1)[0]) for p in predictions]
    started = time.perf_counter()
    for reference, candidate in pairs:
        scorer.score(reference, candidate)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000)
    args = parser.parse_args()
    predictions = build_predictions(args.n)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "predictions.jsonl"
        write_jsonl(path, predictions)
        config = build(ScoreConfig, {"predictions": [str(path)], "output": folder})
        started = time.perf_counter()
        counts = run_score(config)
        seconds = time.perf_counter() - started
        summary = json.loads((Path(folder) / "summary.json").read_text())
    baseline = baseline_rouge_score(predictions)
    groups = ", ".join(f"{entry['task']}/{entry['variant']}" for entry in summary)
    print(f"predictions: {counts['scored']} ({groups})")
    print(
        f"seqtune score (read + parse + answers + EM/F1 + ROUGE-L + following + write): {seconds:.2f} s "
        f"({counts['scored'] / seconds:,.0f} predictions/s)"
    )
    print(f"baseline rouge_score rougeL alone on the same pairs: {baseline:.2f} s")
    for entry in summary:
        metrics = entry["metrics"]
        print(
            f"  {entry['task']}/{entry['variant']}: accuracy {metrics['accuracy']:.3f}, "
            f"following {metrics['following_rate']:.3f}, ROUGE-L {metrics['rouge_l'][0]['mean']:.3f}"
        )


if __name__ == "__main__":
    main()
