"""`seqtune report`: golden report of a small fixture, smoothing, the figure, missing inputs and bad input.

Regenerate the golden files after an intended change of the report's format with
    SEQTUNE_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_report.py -q
and review the diff of tests/fixtures/report/golden/ before committing it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune.cli import main
from seqtune.config import build
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.report.config import ReportConfig
from seqtune.report.figures import length_curve, moving_average
from seqtune.report.loading import derive_arm
from seqtune.report.pipeline import run_report

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "report"
RUN = FIXTURE / "runs" / "demo"
GOLDEN = FIXTURE / "golden"
REGENERATE = os.environ.get("SEQTUNE_REGEN_GOLDEN") == "1"
LABELS = {"it": "IT", "sit": "SIT"}


def _report(tmp_path: Path, runs: list[Path], **options) -> Path:
    values = {"runs": [str(r) for r in runs], "output": str(tmp_path / "report"), "labels": LABELS, **options}
    return run_report(build(ReportConfig, values))


def _text_outputs(folder: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.suffix in (".md", ".csv")
    }


def test_report_matches_golden_files(tmp_path):
    report = _report(tmp_path, [RUN])
    produced = _text_outputs(report.parent)
    if REGENERATE:
        shutil.rmtree(GOLDEN, ignore_errors=True)
        GOLDEN.mkdir(parents=True)
        for name, text in produced.items():
            (GOLDEN / name).write_text(text, encoding="utf-8")
    expected = _text_outputs(GOLDEN)
    assert sorted(produced) == sorted(expected)
    for name, text in expected.items():
        assert produced[name] == text, f"{name} differs from the golden file (see the test's docstring)"


def test_report_names_model_adapter_data_decoding_and_metric_definitions(tmp_path):
    text = _report(tmp_path, [RUN]).read_text(encoding="utf-8")
    assert "| SIT | runs/demo/train/sit/model | none | 6 |" in text
    assert "samples/commonsense_qa.dev.jsonl (first 14)" in text
    assert '"max_new_tokens": 64' in text
    assert "- bertscore_model: none" in text
    assert "- version: 1" in text


def _summary(relative: str, variant: str) -> dict:
    entries = json.loads((RUN / "eval" / relative / "summary.json").read_text(encoding="utf-8"))
    return next(entry for entry in entries if entry["variant"] == variant)


def _csv_rows(path: Path) -> dict[str, list[str]]:
    return {row[0]: row for row in csv.reader(path.read_text(encoding="utf-8").splitlines())}


def test_table_values_come_from_the_summaries(tmp_path):
    folder = _report(tmp_path, [RUN]).parent
    metrics = _summary("sit/commonsense_qa", "repeat_paraphrase")["metrics"]
    table6 = _csv_rows(folder / "table6.csv")
    assert float(table6["SIT"][3]) == pytest.approx(100 * metrics["accuracy"], abs=0.005)
    assert float(table6["SIT"][4]) == pytest.approx(100 * metrics["following_rate"], abs=0.005)
    assert table6["SIT"][5:] == ["", ""]  # no P+R+P+A results: empty cells, not zeros
    by_lang = _summary("sit/xquad", "translate")["by_lang"]
    table2 = _csv_rows(folder / "table2.csv")
    header = table2["Model"]
    assert float(table2["SIT"][header.index("zh")]) == pytest.approx(
        100 * by_lang["zh"]["accuracy"], abs=0.005
    )
    seen = [by_lang[lang]["accuracy"] for lang in ("de", "zh", "es")]
    assert float(table2["SIT"][header.index("Seen Avg")]) == pytest.approx(100 * sum(seen) / 3, abs=0.005)
    probe = _summary("base/probe", "probe")["metrics"]
    table1 = _csv_rows(folder / "table1.csv")
    assert float(table1["tiny-base"][4]) == pytest.approx(100 * probe["repeated_and_answered"], abs=0.005)


def test_report_is_deterministic(tmp_path):
    first = _report(tmp_path / "a", [RUN]).parent
    second = _report(tmp_path / "b", [RUN]).parent
    assert _text_outputs(first) == _text_outputs(second)
    assert (first / "figure3.png").read_bytes() == (second / "figure3.png").read_bytes()


def test_figure_is_a_non_empty_png(tmp_path):
    figure = _report(tmp_path, [RUN]).parent / "figure3.png"
    data = figure.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5_000


def test_moving_average_on_hand_worked_values():
    assert moving_average([1, 0, 1, 1, 0], 2) == [0.5, 0.5, 1.0, 0.5]
    assert moving_average([3, 6, 9, 12], 3) == [6.0, 9.0]
    assert moving_average([1, 2], 10) == [1.5]  # fewer values than the window: one mean of all
    assert moving_average([4, 5], 1) == [4.0, 5.0]
    assert moving_average([], 10) == []
    with pytest.raises(ValueError):
        moving_average([1], 0)


def test_length_curve_sorts_by_input_length_then_id():
    scores = [
        {"id": "b", "input_length": 30, "correct": True, "followed": False},
        {"id": "a", "input_length": 10, "correct": False, "followed": True},
        {"id": "d", "input_length": 20, "correct": True, "followed": True},
        {"id": "c", "input_length": 20, "correct": False, "followed": False},
    ]
    # sorted: a(10, F, T), c(20, F, F), d(20, T, T), b(30, T, F)
    curve = length_curve("x", scores, 2)
    assert curve.lengths == [15.0, 20.0, 25.0]
    assert curve.accuracy == [0.0, 0.5, 1.0]
    assert curve.following == [0.5, 0.5, 0.5]
    assert length_curve("x", [{"id": "a", "correct": True}], 2) is None  # no input_length: no curve


def _copy_results(target: Path, wanted: dict[str, list[str]]) -> Path:
    """A run holding only the `wanted` variants of the fixture's task folders (summary and scores filtered)."""
    for relative, variants in wanted.items():
        source, folder = RUN / "eval" / relative, target / relative
        folder.mkdir(parents=True)
        entries = json.loads((source / "summary.json").read_text(encoding="utf-8"))
        kept = [entry for entry in entries if entry["variant"] in variants]
        (folder / "summary.json").write_text(json.dumps(kept), encoding="utf-8")
        lines = (source / "scores.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / "scores.jsonl").write_text(
            "".join(line for line in lines if json.loads(line)["variant"] in variants), encoding="utf-8"
        )
    return target


def test_tables_without_inputs_are_omitted_with_a_note(tmp_path):
    run = _copy_results(tmp_path / "run", {"it/commonsense_qa": ["repeat"], "sit/commonsense_qa": ["repeat"]})
    report = _report(tmp_path, [run])
    text = report.read_text(encoding="utf-8")
    assert "_Omitted: no scored `probe` results" in text
    assert "_Omitted: no `commonsense_qa` results for an `-unseen` variant._" in text
    assert not (report.parent / "table1.csv").exists() and not (report.parent / "table5.csv").exists()
    table2 = (report.parent / "table2.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in table2[1:]] == ["IT", "SIT"]  # no (neg.) rows without -neg results
    assert (report.parent / "figure3.png").is_file()


def test_missing_scores_file_omits_per_example_outputs(tmp_path):
    run = _copy_results(tmp_path / "run", {"it/commonsense_qa": ["repeat"]})
    for scores in run.rglob("scores.jsonl"):
        scores.unlink()
    report = _report(tmp_path, [run])
    text = report.read_text(encoding="utf-8")
    assert "_Omitted: IT: no scores.jsonl with `input_length` for every example._" in text
    assert not (report.parent / "figure3.png").exists()
    assert (
        "| IT | commonsense_qa | repeat | all | 14 |" in text
    )  # summaries alone still give the results table


def test_several_runs_and_arm_order(tmp_path):
    it_run = _copy_results(tmp_path / "one", {"it/commonsense_qa": ["repeat"]})
    sit_run = _copy_results(tmp_path / "two", {"sit/commonsense_qa": ["repeat"]})
    report = _report(tmp_path, [sit_run, it_run], arm_order=["SIT", "IT"])
    rows = (report.parent / "table3.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["SIT", "IT"]


def test_bad_inputs_give_one_clear_error(tmp_path):
    with pytest.raises(SeqtuneError, match="no such run folder"):
        _report(tmp_path, [tmp_path / "absent"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SeqtuneError, match="no summary.json found"):
        _report(tmp_path, [tmp_path / "empty"])
    broken = tmp_path / "broken" / "summary.json"
    broken.parent.mkdir()
    broken.write_text(json.dumps({"variant": "repeat", "metrics": {}}))
    with pytest.raises(RecordError, match="field 'task'"):
        _report(tmp_path, [broken.parent])
    same = _copy_results(tmp_path / "again", {"it/commonsense_qa": ["repeat"]})
    first = _copy_results(tmp_path / "first", {"it/commonsense_qa": ["repeat"]})
    with pytest.raises(SeqtuneError, match="distinct labels"):
        _report(tmp_path, [first, same])
    with pytest.raises(ConfigError, match="runs"):
        build(ReportConfig, {"runs": []})


def test_arm_labels_are_derived_from_label_adapter_or_model():
    assert derive_arm({"label": "SIT", "adapter": "x/it/model"}) == "SIT"
    assert derive_arm({"adapter": "runs/demo/train/sit/model", "model": "m"}) == "sit"
    assert derive_arm({"adapter": "out/lora/checkpoint-200", "model": "m"}) == "lora"
    assert derive_arm({"adapter": None, "model": "meta-llama/Llama-2-7b-hf"}) == "Llama-2-7b-hf"
    assert derive_arm({}) == "unknown"


def test_cli_runs_the_report_without_torch(tmp_path):
    output = tmp_path / "cli-report"
    code = (
        "import sys; from seqtune.cli import main; "
        f"rc = main(['report', {str(RUN)!r}, 'output={output}', 'labels={{it: IT, sit: SIT}}']); "
        "assert 'torch' not in sys.modules, 'report imported torch'; sys.exit(rc)"
    )
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path / "mpl")}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)
    assert (output / "report.md").read_text(encoding="utf-8") == (GOLDEN / "report.md").read_text(
        encoding="utf-8"
    )


def test_cli_reports_a_missing_run_as_one_line(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nothing"), f"output={tmp_path / 'out'}"]) == 2
    assert "no such run folder" in capsys.readouterr().err


def _xquad_scores(folder: Path, summary: dict | list) -> None:
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    scores = [
        {
            "id": f"{lang}{i}",
            "task": "xquad",
            "variant": "translate",
            "lang": lang,
            "correct": i < ok,
            "followed": True,
        }
        for lang, ok in (("de", 1), ("ar", 2))
        for i in range(4)
    ]
    (folder / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores), encoding="utf-8")


def test_language_cells_from_scores_or_from_a_per_language_summary(tmp_path):
    base = {"task": "xquad", "variant": "translate", "model": "m", "metrics": {"accuracy": 0.375}}
    # one summary object without a by_lang block: languages are computed from scores.jsonl
    _xquad_scores(tmp_path / "run" / "a", base)
    # a per-language summary (its own `lang`) of another model
    _xquad_scores(tmp_path / "run" / "b", {**base, "label": "B", "lang": "de", "metrics": {"accuracy": 0.9}})
    table2 = _csv_rows(_report(tmp_path, [tmp_path / "run"]).parent / "table2.csv")
    header = table2["Model"]
    assert table2["m"][header.index("de")] == "25.00" and table2["m"][header.index("ar")] == "50.00"
    assert table2["B"][header.index("de")] == "90.00" and table2["B"][header.index("ar")] == ""
