"""`run_report`: scored runs → report.md, one markdown + CSV file per table, and Figure 3 (PNG + CSV)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from seqtune.config import to_dict
from seqtune.manifest import write_manifest
from seqtune.records import atomic_write
from seqtune.report import describe
from seqtune.report.config import ReportConfig
from seqtune.report.figures import LengthCurve, curves_csv, draw_length_figure, length_curve
from seqtune.report.loading import ResultIndex, discover
from seqtune.report.seqeval import judge_summaries, seqeval_table
from seqtune.report.tables import EXTRA_TABLES, PAPER_TABLES, Table, results_table, to_csv, to_markdown

log = logging.getLogger(__name__)

FIGURE = "figure3"


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def _table_section(table: Table) -> str:
    heading = f"## {table.title}\n\n"
    if not table.rows:
        return heading + f"_Omitted: {table.missing}._\n"
    return heading + _table_body(table) + f"\n(CSV: `{table.key}.csv`)\n"


def _table_body(table: Table) -> str:
    notes = "".join(f"\n_Note: {note}._\n" for note in table.notes)
    return f"{table.caption}\n\n" + to_markdown(table) + notes


def _figure_scores(index: ResultIndex, config: ReportConfig, arm: str) -> tuple[list[dict] | None, str]:
    """The examples one arm contributes to Figure 3 (None: the arm has no such result) and a note."""
    task, variant, lang = config.figure_task, config.figure_variant, config.figure_lang or None
    result = index.get(arm, task, variant, lang) or index.get(arm, task, variant)
    if result is None:
        return None, ""
    scores = result.scores()
    if scores is None:
        return [], f"{arm}: no scores.jsonl"
    selected = [s for s in scores if lang is None or s.get("lang") == lang]
    if config.figure_samples:
        selected = selected[: config.figure_samples]
    if selected and config.figure_samples and len(selected) < config.figure_samples:
        return selected, f"{arm}: {len(selected)} examples, fewer than figure_samples={config.figure_samples}"
    return selected, ""


def _figure_curves(index: ResultIndex, config: ReportConfig) -> tuple[list[LengthCurve], str]:
    """The curves of Figure 3 and, when some arm has none or fewer examples than asked, why."""
    curves, notes = [], []
    for arm in index.arms:
        scores, note = _figure_scores(index, config, arm)
        if scores is None:
            continue
        notes += [note] if note else []
        curve = length_curve(arm, scores, config.window)
        if curve is None:
            if scores:
                notes.append(f"{arm}: scores.jsonl lacks `input_length` for some example")
            elif not note:
                notes.append(f"{arm}: no example in language `{config.figure_lang}`")
            continue
        curves.append(curve)
    if not curves and not notes:
        notes.append(
            f"no `{config.figure_task}/{config.figure_variant}` results (see figure_task, figure_variant)"
        )
    return curves, "; ".join(notes)


def _figure_section(index: ResultIndex, config: ReportConfig, output: Path) -> str:
    curves, note = _figure_curves(index, config)
    subset = f"{config.figure_task}-{config.figure_lang}" if config.figure_lang else config.figure_task
    title = f"Figure 3: accuracy and following rate against input length ({subset}, {config.figure_variant})"
    lines = [f"## {title}", ""]
    if curves:
        draw_length_figure(curves, output / f"{FIGURE}.png", title, config.window)
        _write_text(output / f"{FIGURE}.csv", curves_csv(curves))
        samples = f"The first {config.figure_samples}" if config.figure_samples else "All"
        lines += [
            f"{samples} examples in scores.jsonl order, sorted by input length (characters); moving average "
            f"over windows of {config.window} examples.",
            "",
            f"![{title}]({FIGURE}.png)",
            "",
            f"(Points: `{FIGURE}.csv`)",
        ]
    if note:
        lines += ["", f"_Note: {note}._"] if curves else [f"_Omitted: {note}._"]
    return "\n".join(lines) + "\n"


def _write_table(table: Table, output: Path) -> str:
    """The table's markdown and CSV files (when it has rows) and its section of report.md."""
    if table.rows:
        _write_text(output / f"{table.key}.md", f"# {table.title}\n\n" + _table_body(table))
        _write_text(output / f"{table.key}.csv", to_csv(table))
    else:
        log.info("report: %s omitted: %s", table.title, table.missing)
    return _table_section(table)


def build_report(index: ResultIndex, config: ReportConfig, output: Path, judged: list[Path]) -> str:
    """Write every table and the figure into `output`; return the text of report.md."""
    sections = [
        "# seqtune report\n\n"
        f"{len(index.results)} scored results, models: {', '.join(index.arms)}. "
        "Percentages; '–' marks a cell without results.\n",
        describe.models_section(index),
        describe.data_section(index),
        describe.decoding_section(index),
        describe.metric_definitions_section(index),
    ]
    sections += [_write_table(build(index, config), output) for build in PAPER_TABLES]
    sections.append(_figure_section(index, config, output))
    sections += [_write_table(build(index, config), output) for build in EXTRA_TABLES]
    seqeval = seqeval_table(index, config, judged)
    if seqeval.rows or index.variants("seqeval"):  # a report without SeqEval runs gets no SeqEval section
        sections.append(_write_table(seqeval, output))
    everything = results_table(index, config)
    _write_text(output / f"{everything.key}.csv", to_csv(everything))
    sections.append(_table_section(everything))
    return "\n".join(sections)


def run_report(config: ReportConfig) -> Path:
    """Build the report of `config.runs`; returns the path of report.md."""
    started = time.time()
    results = discover(config.runs, config.labels)
    index = ResultIndex(results, config.arm_order)
    output = Path(config.output) if config.output else Path(config.runs[0]) / "report"
    judged = judge_summaries(config.runs)  # one walk of the run folders, for the table and the manifest
    report_text = build_report(index, config, output, judged)
    report_path = output / "report.md"
    _write_text(report_path, report_text)
    files = {r.summary_path for r in results} | {r.scores_file.path for r in results}
    files |= set(judged)
    inputs = sorted(path for path in files if path.is_file())
    write_manifest(
        output,
        stage="report",
        config=to_dict(config),
        started=started,
        inputs=inputs,
        counts={"results": len(results), "models": len(index.arms)},
    )
    log.info("report: %d results, %d models → %s", len(results), len(index.arms), report_path)
    return report_path
