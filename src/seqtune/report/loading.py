"""Find scored results (summary.json + scores.jsonl) under the given runs and index them by arm/task/variant/lang."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from seqtune.errors import RecordError, SeqtuneError
from seqtune.records import iter_json_records, read_json

SUMMARY = "summary.json"
SCORES = "scores.jsonl"
# Trailing path parts that name a model folder's role rather than the model: "runs/demo/train/sit/model" is "sit".
_GENERIC_PARTS = {"model", "adapter", "final", "best", "merged"}


# Per-example fields the report reads from scores.jsonl, with the type each must have when present.
_SCORE_FIELDS: dict[str, tuple[type, ...]] = {
    "correct": (bool,),
    "followed": (bool,),
    "input_length": (int, float),
}


class ScoresFile:
    """One scores.jsonl, read on first use and shared by the results (variants) of its folder."""

    def __init__(self, path: Path):
        self.path = path
        self._records: list[dict] | None = None

    def records(self) -> list[dict] | None:
        if self._records is None and self.path.is_file():
            self._records = []
            for location, record in iter_json_records(self.path):
                _check_score(record, str(self.path), location)
                self._records.append(record)
        return self._records


def _check_score(record: dict, source: str, location: str) -> None:
    """A wrong type in a field the report reads is an error, never a silent gap. (NaN/Infinity never get here:
    the JSON readers of seqtune.records refuse them, naming the file and line.)"""
    for name, types in _SCORE_FIELDS.items():
        value = record.get(name)
        if value is None:
            continue
        if (bool not in types and isinstance(value, bool)) or not isinstance(value, types):
            expected = "true or false" if bool in types else "a number"
            raise RecordError(
                source, location, "wrong_type", f"expected {expected}, got {value!r}", field=name
            )


@dataclass
class ScoredResult:
    """One summary entry (one task × variant of one model, possibly one language) and its per-example scores."""

    summary_path: Path
    where: str
    """Display path: the run folder's name + the path below it (stable across machines)."""
    summary: dict[str, Any]
    arm: str
    scores_file: ScoresFile
    scores_shared: bool = False
    """Another model's entry in the same summary has this task × variant: its scores cannot be told apart."""

    @property
    def task(self) -> str:
        return self.summary["task"]

    @property
    def variant(self) -> str:
        return self.summary["variant"]

    @property
    def lang(self) -> str | None:
        return self.summary.get("lang")

    def scores(self) -> list[dict] | None:
        """This result's per-example score records, or None when they are missing or ambiguous."""
        records = None if self.scores_shared else self.scores_file.records()
        if records is None:
            return None
        return [
            r
            for r in records
            if r.get("task") == self.task
            and r.get("variant") == self.variant
            and (self.lang is None or r.get("lang") == self.lang)
        ]


def short_name(path: Any) -> str | None:
    """The last meaningful part of a model or adapter path ("runs/demo/train/sit/model" → "sit")."""
    if not isinstance(path, str) or not path:
        return None
    parts = [part for part in PurePosixPath(path.replace("\\", "/")).parts if part not in ("/", ".")]
    while len(parts) > 1 and (parts[-1] in _GENERIC_PARTS or parts[-1].startswith("checkpoint-")):
        parts.pop()
    return parts[-1] if parts else None


def derive_arm(summary: dict[str, Any]) -> str:
    """The summary's `label`, else the last meaningful part of the adapter path, else of the model path."""
    label = summary.get("label")
    if isinstance(label, str) and label:
        return label
    return short_name(summary.get("adapter")) or short_name(summary.get("model")) or "unknown"


def display_arm(summary: dict[str, Any], labels: dict[str, str]) -> str:
    derived = derive_arm(summary)
    for key in (derived, summary.get("adapter"), summary.get("model")):
        if isinstance(key, str) and key in labels:
            return labels[key]
    return derived


def _read_summaries(path: Path) -> list[dict[str, Any]]:
    """The entries of a summary.json: a list (as `seqtune score` writes it) or a single object."""
    document = read_json(path)
    entries = document if isinstance(document, list) else [document]
    for number, summary in enumerate(entries):
        location = f"entry {number}" if isinstance(document, list) else ""
        if not isinstance(summary, dict):
            raise RecordError(
                str(path), location, "not_an_object", "expected a JSON object (a scored summary)"
            )
        for name in ("task", "variant"):
            if not isinstance(summary.get(name), str) or not summary[name]:
                raise RecordError(str(path), location, "missing_field", "missing or not a string", field=name)
        if not isinstance(summary.get("metrics"), dict):
            raise RecordError(
                str(path), location, "missing_field", "missing or not an object", field="metrics"
            )
        _check_numbers(summary["metrics"], str(path), location, "metrics")
        if "by_lang" in summary:
            if not isinstance(summary["by_lang"], dict):
                raise RecordError(str(path), location, "wrong_type", "expected an object", field="by_lang")
            _check_numbers(summary["by_lang"], str(path), location, "by_lang")
    return entries


def _check_numbers(value: Any, source: str, location: str, name: str) -> None:
    """Every metric is a number or null, nested in objects and per-step lists ({step, mean, n}).

    A string or a boolean where a number belongs would otherwise drop a cell or a whole table without a word; it
    is an error naming the file, the entry and the metric. (NaN/Infinity never get here: the JSON readers of
    seqtune.records refuse them, naming the file.)
    """
    if isinstance(value, dict):
        for key, item in value.items():
            if not (key == "step" and isinstance(item, str)):
                _check_numbers(item, source, location, f"{name}.{key}")
    elif isinstance(value, list):
        for position, item in enumerate(value):
            _check_numbers(item, source, location, f"{name}[{position}]")
    elif value is None:
        return
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(
            source, location, "wrong_type", f"expected a number or null, got {value!r}", field=name
        )


def _summary_files(run: str) -> list[tuple[Path, str]]:
    """(summary path, display path) for every summary.json a run argument names."""
    path = Path(run)
    if path.is_file():
        return [(path, path.parent.name or path.name)]
    if not path.is_dir():
        raise SeqtuneError(f"{run}: no such run folder or summary file")
    root_name = path.resolve().name
    return [
        (found, (PurePosixPath(root_name) / found.parent.relative_to(path).as_posix()).as_posix())
        for found in sorted(path.rglob(SUMMARY))
    ]


def discover(runs: Iterable[str], labels: dict[str, str] | None = None) -> list[ScoredResult]:
    """Every scored result under `runs`; an error when none is found or two share arm/task/variant/lang."""
    runs = list(runs)
    labels = labels or {}
    results: list[ScoredResult] = []
    seen: dict[tuple, ScoredResult] = {}
    for run in runs:
        for summary_path, where in _summary_files(run):
            entries = _read_summaries(summary_path)
            scores_file = ScoresFile(summary_path.parent / SCORES)
            cells = Counter((e["task"], e["variant"], e.get("lang")) for e in entries)
            for summary in entries:
                result = ScoredResult(
                    summary_path,
                    where,
                    summary,
                    display_arm(summary, labels),
                    scores_file,
                    scores_shared=cells[summary["task"], summary["variant"], summary.get("lang")] > 1,
                )
                key = (result.arm, result.task, result.variant, result.lang)
                if key in seen:
                    raise SeqtuneError(
                        f"{summary_path}: model '{result.arm}' already has {result.task}/{result.variant} from "
                        f"{seen[key].summary_path}; give the models distinct labels (labels={{...}})"
                    )
                seen[key] = result
                results.append(result)
    if not results:
        raise SeqtuneError(f"no {SUMMARY} found under: {', '.join(runs)}")
    return results


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class ResultIndex:
    """Look results up by (arm, task, variant, lang); arms in the configured order, then alphabetical."""

    def __init__(self, results: list[ScoredResult], arm_order: Iterable[str] = ()):
        self.results = results
        self._by_key = {(r.arm, r.task, r.variant, r.lang): r for r in results}
        present = {r.arm for r in results}
        ordered = [arm for arm in dict.fromkeys(arm_order) if arm in present]
        self.arms = ordered + sorted(present - set(ordered))

    def get(self, arm: str, task: str, variant: str, lang: str | None = None) -> ScoredResult | None:
        return self._by_key.get((arm, task, variant, lang))

    def variants(self, task: str) -> list[str]:
        return sorted({r.variant for r in self.results if r.task == task})

    def metrics(self, arm: str, task: str, variant: str, lang: str | None = None) -> dict[str, Any] | None:
        """Aggregate metrics of one cell; a language's come from its own summary, the summary's per-language
        block, or (last resort) the per-example `correct`/`followed` of that language in scores.jsonl."""
        own = self.get(arm, task, variant, lang)
        if own is not None:
            return own.summary["metrics"]
        whole = self.get(arm, task, variant)
        if lang is None or whole is None:
            return None
        by_lang = whole.summary.get("by_lang")
        if isinstance(by_lang, dict) and isinstance(by_lang.get(lang), dict):
            block = by_lang[lang]
            return block.get("metrics", block)
        scores = [s for s in whole.scores() or [] if s.get("lang") == lang]
        if not scores:
            return None
        return {
            "n": len(scores),
            "accuracy": _mean([float(bool(s.get("correct"))) for s in scores]),
            "following_rate": _mean([float(bool(s.get("followed"))) for s in scores]),
        }
