"""The SIT paper's tables (1, 2, 3, 5, 6) and an all-results table, built from a ResultIndex.

Cells hold fractions (accuracy, following rate, ...) shown as percentages, counts, or None (no result: "–").
Layouts follow the paper as described in docs/report.md; a table with no input at all is returned with no rows
and a `missing` note, and the report prints the note instead of the table.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from seqtune.report.config import ReportConfig
from seqtune.report.loading import ResultIndex

Cell = str | int | float | None

NEG = "-neg"
UNSEEN = "-unseen"
STEP_CHAINS = [("R+A", "repeat"), ("R+P+A", "repeat_paraphrase"), ("P+R+P+A", "paraphrase_repeat_paraphrase")]
UNSEEN_TASKS = [("Repeat", "repeat"), ("Paraphrase", "paraphrase")]
# Metrics listed first in the all-results table; any other numeric metric follows alphabetically.
LEADING_METRICS = ["accuracy", "following_rate"]


@dataclass
class Table:
    key: str
    title: str
    caption: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    missing: str = ""
    """Why the table has no rows (shown in the report instead of the table)."""


def _percent(value: float, digits: int) -> str:
    return f"{100 * value:.{digits}f}"


def _format(cell: Cell, *, digits: int, empty: str) -> str:
    if cell is None:
        return empty
    if isinstance(cell, bool):
        return str(cell).lower()
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return _percent(cell, digits)
    return cell


def _escape_markdown(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(table: Table) -> str:
    """A GitHub markdown table, percentages with one decimal, '–' for a missing cell."""
    lines = [
        "| " + " | ".join(_escape_markdown(h) for h in table.headers) + " |",
        "|" + "|".join("---" for _ in table.headers) + "|",
    ]
    for row in table.rows:
        cells = (_escape_markdown(_format(cell, digits=1, empty="–")) for cell in row)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """CSV with the same rows, percentages with two decimals, an empty field for a missing cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow([_format(cell, digits=2, empty="") for cell in row])
    return buffer.getvalue()


def _metric(metrics: dict | None, name: str) -> float | None:
    value = (metrics or {}).get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _mean_present(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _keep_rows_with_values(rows: list[list[Cell]], key_columns: int) -> list[list[Cell]]:
    return [row for row in rows if any(cell is not None for cell in row[key_columns:])]


def _acc_fol(index: ResultIndex, arm: str, task: str, variant: str) -> list[Cell]:
    metrics = index.metrics(arm, task, variant)
    return [_metric(metrics, "accuracy"), _metric(metrics, "following_rate")]


# ---- Table 1: probe of off-the-shelf models ----


def table1(index: ResultIndex, config: ReportConfig) -> Table:
    table = Table(
        "table1",
        "Table 1: probe of off-the-shelf models",
        'Prompt: "Please repeat the input and then answer the question in the input." (CommonsenseQA). '
        "Share of outputs that repeat the input (R), answer the question correctly (A), and do both (R+A).",
        ["Model", "Variant", "R", "A", "R+A", "n"],
    )
    for arm in index.arms:
        for variant in index.variants("probe"):
            metrics = index.metrics(arm, "probe", variant)
            if _metric(metrics, "repeated") is None:
                continue
            n = metrics.get("n")
            table.rows.append(
                [
                    arm,
                    variant,
                    *(_metric(metrics, name) for name in ("repeated", "answered", "repeated_and_answered")),
                    n if isinstance(n, int) else None,
                ]
            )
    if not table.rows:
        table.missing = (
            "no scored `probe` results with R/A metrics (repeated, answered, repeated_and_answered)"
        )
    return table


# ---- Table 2: main results, IT vs SIT ----


def table2(index: ResultIndex, config: ReportConfig) -> Table:
    seen, unseen = config.seen_languages, config.unseen_languages
    csqa_variant = config.main_variants.get("commonsense_qa", "")
    xquad_variant = config.main_variants.get("xquad", "")
    table = Table(
        "table2",
        "Table 2: main results",
        f"CommonsenseQA ({csqa_variant}) accuracy and following rate; XQuAD ({xquad_variant}) "
        f"{config.xquad_metric} per language, seen ({', '.join(seen)}) and unseen ({', '.join(unseen)}) in "
        "training, with the average over the listed languages that have results and the following rate. "
        '"(neg.)" rows use a forced wrong intermediate output (the -neg variants).',
        ["Model", "CSQA Acc", "CSQA Fol", *seen, "Seen Avg", *unseen, "Unseen Avg", "Seen Fol", "Unseen Fol"],
    )
    for arm in index.arms:
        for suffix, label in (("", arm), (NEG, f"{arm} (neg.)")):
            csqa = _acc_fol(index, arm, "commonsense_qa", csqa_variant + suffix)
            per_lang = {
                lang: index.metrics(arm, "xquad", xquad_variant + suffix, lang) for lang in [*seen, *unseen]
            }
            scores = {lang: _metric(m, config.xquad_metric) for lang, m in per_lang.items()}
            following = {lang: _metric(m, "following_rate") for lang, m in per_lang.items()}
            table.rows.append(
                [
                    label,
                    *csqa,
                    *(scores[lang] for lang in seen),
                    _mean_present([scores[lang] for lang in seen]),
                    *(scores[lang] for lang in unseen),
                    _mean_present([scores[lang] for lang in unseen]),
                    _mean_present([following[lang] for lang in seen]),
                    _mean_present([following[lang] for lang in unseen]),
                ]
            )
    table.rows = _keep_rows_with_values(table.rows, 1)
    if not table.rows:
        table.missing = (
            f"no `commonsense_qa/{csqa_variant}` or `xquad/{xquad_variant}` results (see main_variants)"
        )
    return table


# ---- Tables 3 and 6: one row per arm, accuracy + following per prompt variant ----


def _variant_grid(
    key: str, title: str, caption: str, columns: list[tuple[str, str]], index: ResultIndex, task: str
) -> Table:
    headers = ["Model"] + [f"{name} {metric}" for name, _ in columns for metric in ("Acc", "Fol")]
    table = Table(key, title, caption, headers)
    for arm in index.arms:
        table.rows.append(
            [arm] + [cell for _, variant in columns for cell in _acc_fol(index, arm, task, variant)]
        )
    table.rows = _keep_rows_with_values(table.rows, 1)
    if not table.rows:
        names = ", ".join(variant for _, variant in columns)
        table.missing = f"no `{task}` results for the variants {names}"
    return table


def table3(index: ResultIndex, config: ReportConfig) -> Table:
    return _variant_grid(
        "table3",
        "Table 3: unseen intermediate tasks",
        f"{config.analysis_task}: accuracy and following rate when the intermediate task is repetition or "
        "paraphrasing; compare models trained with one of them and tested on the other.",
        UNSEEN_TASKS,
        index,
        config.analysis_task,
    )


def table6(index: ResultIndex, config: ReportConfig) -> Table:
    return _variant_grid(
        "table6",
        "Table 6: number of steps",
        f"{config.analysis_task}: accuracy and following rate with 1, 2 and 3 intermediate steps "
        "(R = repeat, P = paraphrase, A = answer).",
        STEP_CHAINS,
        index,
        config.analysis_task,
    )


# ---- Table 5: unseen prompt templates ----


def table5(index: ResultIndex, config: ReportConfig) -> Table:
    task = config.analysis_task
    table = Table(
        "table5",
        "Table 5: unseen prompt templates",
        f"{task}: accuracy and following rate with the verbalizations seen in training and with unseen ones "
        "(the -unseen variants).",
        ["Model", "Variant", "Seen Acc", "Seen Fol", "Unseen Acc", "Unseen Fol"],
    )
    bases = [v[: -len(UNSEEN)] for v in index.variants(task) if v.endswith(UNSEEN)]
    for arm in index.arms:
        for base in bases:
            table.rows.append(
                [
                    arm,
                    base,
                    *_acc_fol(index, arm, task, base),
                    *_acc_fol(index, arm, task, base + UNSEEN),
                ]
            )
    table.rows = _keep_rows_with_values(table.rows, 2)
    if not table.rows:
        table.missing = f"no `{task}` results for an `{UNSEEN}` variant"
    return table


# ---- every result, every numeric metric ----


def _mean_of_steps(value: object) -> float | None:
    """A per-step metric of summary.json ([{"step", "mean", "n"}, ...]) as one number: the mean of its step means."""
    if not isinstance(value, list):
        return None
    return _mean_present([_metric(step, "mean") if isinstance(step, dict) else None for step in value])


def _scalar_metrics(metrics: dict) -> dict[str, float]:
    """Every number of a summary's metrics; per-step lists (rouge_l, bertscore, step_done) as their mean."""
    values: dict[str, float] = {}
    for name, value in metrics.items():
        number = _mean_of_steps(value) if isinstance(value, list) else _metric(metrics, name)
        if number is not None and name != "n":
            values[name] = number
    return values


def results_table(index: ResultIndex, config: ReportConfig) -> Table:
    scalars = {id(r): _scalar_metrics(r.summary["metrics"]) for r in index.results}
    names = {name for values in scalars.values() for name in values}
    metric_names = [m for m in LEADING_METRICS if m in names] + sorted(names - set(LEADING_METRICS))
    table = Table(
        "results",
        "All results",
        "Every scored result and every numeric metric of its summary.json; a per-step metric (rouge_l, "
        "bertscore, step_done) is the mean of its step means.",
        ["Model", "Task", "Variant", "Lang", "n", *metric_names],
    )
    arm_rank = {arm: i for i, arm in enumerate(index.arms)}
    ordered = sorted(index.results, key=lambda r: (arm_rank[r.arm], r.task, r.variant, r.lang or ""))
    for result in ordered:
        n = result.summary.get("n", result.summary["metrics"].get("n"))
        table.rows.append(
            [
                result.arm,
                result.task,
                result.variant,
                result.lang or "all",
                n if isinstance(n, int) else None,
                *(scalars[id(result)].get(name) for name in metric_names),
            ]
        )
    return table


PAPER_TABLES: list[Callable[[ResultIndex, ReportConfig], Table]] = [table1, table2, table3, table5, table6]
