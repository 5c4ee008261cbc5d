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
from seqtune.report.tables import PAPER_TABLES, Table, results_table, to_csv, to_markdown

log = logging.getLogger(__name__)

FIGURE = "figure3"


def _write_text(path: Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


def _table_section(table: Table) -> str:
    heading = f"## {table.title}\n\n"
    if not table.rows:
        return heading + f"_Omitted: {table.missing}._\n"
    return heading + f"{table.caption}\n\n" + to_markdown(table) + f"\n(CSV: `{table.key}.csv`)\n"


def _figure_curves(index: ResultIndex, config: ReportConfig) -> tuple[list[LengthCurve], str]:
    """The curves of Figure 3 and, when some arm has none, why."""
    task, variant = config.analysis_task, config.figure_variant
    curves, notes = [], []
    for arm in index.arms:
        result = index.get(arm, task, variant)
        scores = result.scores() if result else None
        curve = length_curve(arm, scores or [], config.window)
        if curve is None:
            if result is not None:
                notes.append(f"{arm}: no scores.jsonl with `input_length` for every example")
            continue
        curves.append(curve)
    if not curves and not notes:
        notes.append(f"no `{task}/{variant}` results (see analysis_task, figure_variant)")
    return curves, "; ".join(notes)


def _figure_section(index: ResultIndex, config: ReportConfig, output: Path) -> str:
    curves, note = _figure_curves(index, config)
    title = f"Figure 3: accuracy and following rate against input length ({config.analysis_task}/{config.figure_variant})"
    lines = [f"## {title}", ""]
    if curves:
        draw_length_figure(curves, output / f"{FIGURE}.png", title, config.window)
        _write_text(output / f"{FIGURE}.csv", curves_csv(curves))
        lines += [
            f"Moving average over windows of {config.window} examples sorted by input length (characters).",
            "",
            f"![{title}]({FIGURE}.png)",
            "",
            f"(Points: `{FIGURE}.csv`)",
        ]
    if note:
        lines += ["", f"_Not plotted: {note}._"] if curves else [f"_Omitted: {note}._"]
    return "\n".join(lines) + "\n"


def build_report(index: ResultIndex, config: ReportConfig, output: Path) -> str:
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
    for build in PAPER_TABLES:
        table = build(index, config)
        if table.rows:
            _write_text(
                output / f"{table.key}.md", f"# {table.title}\n\n{table.caption}\n\n" + to_markdown(table)
            )
            _write_text(output / f"{table.key}.csv", to_csv(table))
        else:
            log.info("report: %s omitted: %s", table.title, table.missing)
        sections.append(_table_section(table))
    sections.append(_figure_section(index, config, output))
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
    report_text = build_report(index, config, output)
    report_path = output / "report.md"
    _write_text(report_path, report_text)
    files = {r.summary_path for r in results} | {r.scores_file.path for r in results}
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
