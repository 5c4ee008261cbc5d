"""The provenance sections of report.md: which model, adapter, data, decoding and metric definitions."""

from __future__ import annotations

import json
from typing import Any

from seqtune.records import read_json
from seqtune.report.loading import ResultIndex, ScoredResult
from seqtune.report.tables import Table, to_markdown

NOT_RECORDED = "not recorded"
# summary.json fields that may name the evaluation data, in order of preference
DATA_FIELDS = ("data", "source", "dataset")


def _text(value: Any) -> str:
    if value in (None, ""):
        return NOT_RECORDED
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _data(result: ScoredResult) -> str:
    """The evaluation data: named in the summary, else in a generate manifest.json beside it."""
    named = next((result.summary[f] for f in DATA_FIELDS if result.summary.get(f)), None)
    if named is not None:
        return _text(named)
    manifest = result.summary_path.parent / "manifest.json"
    if manifest.is_file():
        document = read_json(manifest)
        config = document.get("config") if isinstance(document, dict) else None
        if document.get("stage") == "generate" and isinstance(config, dict):
            source = config.get("data") or f"{result.task} default source"
            limit = config.get("limit")
            return _text(source) + (f" (first {limit})" if limit else "")
    return NOT_RECORDED


def _by_arm(index: ResultIndex) -> list[tuple[str, list[ScoredResult]]]:
    return [(arm, [r for r in index.results if r.arm == arm]) for arm in index.arms]


def _distinct(values: list[str]) -> str:
    return "; ".join(dict.fromkeys(values))


def models_section(index: ResultIndex) -> str:
    table = Table("models", "", "", ["Model", "Model path or id", "Adapter", "Results"])
    for arm, results in _by_arm(index):
        table.rows.append(
            [
                arm,
                _distinct([_text(r.summary.get("model")) for r in results]),
                _distinct([_text(r.summary.get("adapter") or "none") for r in results]),
                len(results),
            ]
        )
    return "## Models\n\n" + to_markdown(table)


def data_section(index: ResultIndex) -> str:
    table = Table("data", "", "", ["Model", "Task", "Variant", "Lang", "n", "Data", "Scored result"])
    for arm, results in _by_arm(index):
        for r in sorted(results, key=lambda r: (r.task, r.variant, r.lang or "")):
            n = r.summary.get("n")
            table.rows.append(
                [
                    arm,
                    r.task,
                    r.variant,
                    r.lang or "all",
                    n if isinstance(n, int) else None,
                    _data(r),
                    r.where,
                ]
            )
    return "## Data\n\n" + to_markdown(table)


def decoding_section(index: ResultIndex) -> str:
    table = Table("decoding", "", "", ["Model", "Decoding"])
    for arm, results in _by_arm(index):
        table.rows.append([arm, _distinct([_text(r.summary.get("decoding")) for r in results])])
    return "## Decoding\n\n" + to_markdown(table)


def metric_definitions_section(index: ResultIndex) -> str:
    """Each task's metric definitions (tasks define their own metrics), with the arms that used them; a warning
    when one task was scored under different definitions (e.g. another BERTScore model or threshold)."""
    groups: dict[str, dict[str, list[str]]] = {}
    for r in sorted(index.results, key=lambda r: r.task):
        arms = groups.setdefault(r.task, {}).setdefault(_text(r.summary.get("metric_definitions")), [])
        if r.arm not in arms:
            arms.append(r.arm)
    lines = ["## Metric definitions", ""]
    mixed = [task for task, sets in groups.items() if len(sets) > 1]
    if mixed:
        lines += [
            f"**Warning: {', '.join(mixed)} results were scored with different metric definitions.**",
            "",
        ]
    for task, sets in groups.items():
        for encoded, arms in sets.items():
            lines += [f"### {task}" + (f" (used by: {', '.join(arms)})" if len(sets) > 1 else ""), ""]
            if encoded == NOT_RECORDED:
                lines.append(f"- {NOT_RECORDED}")
            else:
                definitions = json.loads(encoded)
                entries = (
                    definitions.items() if isinstance(definitions, dict) else [("definitions", definitions)]
                )
                # a null definition means the metric was not computed (e.g. bertscore_model without BERTScore)
                lines += [
                    f"- {key}: {'none' if value is None else _text(value)}" for key, value in sorted(entries)
                ]
            lines.append("")
    return "\n".join(lines)
