"""`seqtune report`: the paper's tables one for one, extra views apart, the figure, bad input.

The golden report (tests/fixtures/report/golden/) is built from REAL score output: hand-written responses go
through `generate backend=responses`, `run_score` and `run_report`. Regenerate it after an intended change of
scoring or of the report's format with
    .venv/bin/python tests/fixtures/report/make_golden.py
and review the diff of tests/fixtures/report/ before committing it. The other tests write small summaries of
their own, so each table's cells can be traced to the metric they show.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
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
RUN = FIXTURE / "runs" / "paper"
GOLDEN = FIXTURE / "golden"


def _make_golden():
    spec = importlib.util.spec_from_file_location("make_golden", FIXTURE / "make_golden.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GOLDEN_OPTIONS = _make_golden().REPORT_OPTIONS


def _report(tmp_path: Path, runs: list[Path], **options) -> Path:
    values = {"runs": [str(r) for r in runs], "output": str(tmp_path / "report"), **options}
    return run_report(build(ReportConfig, values))


def _text_outputs(folder: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()) if p.suffix in (".md", ".csv")
    }


def _csv(path: Path) -> dict[str, dict[str, str]]:
    """First column → {header: field} of a table's CSV."""
    rows = list(csv.reader(path.read_text(encoding="utf-8").splitlines()))
    return {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}


# ---- summaries written by the tests ----


def _entry(task: str, variant: str, metrics: dict, **extra) -> dict:
    return {
        "task": task,
        "variant": variant,
        "decoding": {},
        "template": "",
        "n": 10,
        "gold": "",
        "metrics": {"n": 10, **metrics},
        **extra,
    }


def _run(root: Path, arms: dict[str, list[dict]]) -> Path:
    """One folder per arm with its summary.json; the arm is named by the summary's `model`."""
    for arm, entries in arms.items():
        folder = root / arm
        folder.mkdir(parents=True)
        document = [{"model": arm, "adapter": None, **entry} for entry in entries]
        (folder / "summary.json").write_text(json.dumps(document), encoding="utf-8")
    return root


def _acc_fol(accuracy: float, following: float) -> dict:
    return {"accuracy": accuracy, "following_rate": following}


# ---- golden report from real score output ----


def test_report_matches_golden_files(tmp_path):
    produced = _text_outputs(_report(tmp_path, [RUN], **GOLDEN_OPTIONS).parent)
    expected = _text_outputs(GOLDEN)
    assert sorted(produced) == sorted(expected)
    for name, text in expected.items():
        assert produced[name] == text, f"{name} differs from the golden file (see the module docstring)"


def test_fixture_scores_are_what_scoring_gives_today(tmp_path):
    """The fixture's scores come from run_score, not from a hand: re-scoring its predictions gives them again."""
    from seqtune.score import ScoreConfig, run_score

    folders = sorted(path.parent for path in RUN.rglob("predictions.jsonl"))
    assert len(folders) >= 8
    for folder in folders:
        output = tmp_path / folder.relative_to(RUN)
        run_score(build(ScoreConfig, {"predictions": [str(folder)], "output": str(output)}))
        for name in ("scores.jsonl", "summary.json"):
            assert (output / name).read_bytes() == (folder / name).read_bytes(), (
                f"{folder / name} is stale: run tests/fixtures/report/make_golden.py"
            )


def test_report_shows_the_paper_tables_in_order_and_extra_views_apart(tmp_path):
    report = _report(tmp_path, [RUN], **GOLDEN_OPTIONS).read_text(encoding="utf-8")
    titles = [line[3:] for line in report.splitlines() if line.startswith("## ")]
    paper = [t for t in titles if t.startswith(("Table", "§", "Figure"))]
    assert [t.split(":")[0] for t in paper] == [
        "Table 1",
        "Table 2",
        "Table 3",
        "Table 4",
        "Table 5",
        "Table 6",
        "§5.2",
        "Figure 3",
    ]
    assert all(t.startswith("Extra (not in the paper)") for t in titles[titles.index(paper[-1]) + 1 : -1])
    assert not re.search(r"\b(nan|inf)\b", report, re.IGNORECASE)


# ---- each table's layout and cells ----


def test_table1_layout_and_cells(tmp_path):
    probe = {
        "repeated": 0.8,
        "answered": 0.6,
        "repeated_and_answered": 0.5,
        "accuracy": 0.1,  # correctness is not Table 1's A
        "rouge_l": [{"step": "repeat", "mean": 0.91, "n": 10}],
        "bertscore": [{"step": "repeat", "mean": 0.955, "n": 10}],
    }
    no_bertscore = {**probe, "rouge_l": [{"step": "repeat", "mean": 0.4, "n": 10}]}
    del no_bertscore["bertscore"]
    run = _run(
        tmp_path / "run",
        {"chat": [_entry("probe", "probe", probe)], "base": [_entry("probe", "probe", no_bertscore)]},
    )
    folder = _report(tmp_path, [run], methods={"chat": "SFT+RLHF"}, arm_order=["chat", "base"]).parent
    lines = (folder / "table1.md").read_text(encoding="utf-8").splitlines()
    assert "| Method | Model | R-L | B-S | Following R | A | R+A |" in lines
    assert "| SFT+RLHF | chat | 91.0 | 95.5 | 80.0 | 60.0 | 50.0 |" in lines
    assert "| – | base | 40.0 | – | 80.0 | 60.0 | 50.0 |" in lines


def _vision(task: str, variant: str, accuracy: float, following: float, rouge: float | None = None) -> dict:
    metrics = _acc_fol(accuracy, following)
    if variant.startswith("caption"):
        metrics["rouge_l"] = [{"step": "caption", "mean": rouge, "n": 0 if rouge is None else 10}]
    return _entry(task, variant, metrics)


def test_table4_rows_from_the_base_it_and_sit_arms(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "prompt": [
                _vision("vqav2", "plain", 0.40, 0.9),
                _vision("gqa", "plain", 0.30, 0.9),
                _vision("vqav2", "caption", 0.35, 0.2, 0.25),
            ],
            "IT": [_vision("vqav2", "plain", 0.70, 1.0), _vision("vqav2", "caption", 0.65, 0.1, 0.05)],
            "SIT": [
                _vision("vqav2", "plain", 0.99, 1.0),  # not a Table 4 cell: SIT is asked to describe first
                _vision("vqav2", "caption", 0.75, 0.95, 0.6),
                _vision("gqa", "caption", 0.45, 0.9, None),
                _vision("vqav2", "caption-neg", 0.55, 0.9, 0.15),
            ],
            # a text arm of another table: Table 4's SIT stays the arm with VQA results, Table 3's this one
            "SIT-R": [_xquad_entry("translate", {"de": (0.5, 0.9)}, "english")],
        },
    )
    folder = _report(tmp_path, [run], arm_roles={"sit": ["SIT-R", "SIT"]}).parent
    lines = (folder / "table4.md").read_text(encoding="utf-8").splitlines()
    assert "| Model | Method | VQAv2 (in D) | GQA (out D) |" in lines
    assert lines[-4:] == [
        "| prompt | prompt | 40.0 | 30.0 |",
        "| IT | IT | 70.0 | – |",
        "| SIT | SIT | 75.0 | 45.0 |",
        "| SIT | SIT (neg.) | 55.0 | – |",
    ]
    text = "\n".join(lines)
    assert "Prompt variant of each row: prompt on `plain`, IT on `plain`, SIT on `caption`" in text
    assert "Arms: prompt = `prompt`, IT = `IT`, SIT = `SIT`." in text
    assert "| SIT | 50.0 |" in (folder / "table3.md").read_text(encoding="utf-8").replace(" – |", "")
    extra = _csv(folder / "extra_table4.csv")
    rows = list(csv.reader((folder / "extra_table4.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0] == [
        "Model",
        "Method",
        "VQAv2 (in D) Fol",
        "VQAv2 (in D) R-L",
        "GQA (out D) Fol",
        "GQA (out D) R-L",
    ]
    assert rows[1:] == [
        ["prompt", "prompt", "20.00", "25.00", "", ""],
        ["IT", "IT", "10.00", "5.00", "", ""],
        ["SIT", "SIT", "95.00", "60.00", "90.00", ""],
        ["SIT", "SIT (neg.)", "90.00", "15.00", "", ""],
    ]
    assert extra["prompt"]["VQAv2 (in D) Fol"] == "20.00"


def test_table4_prompt_of_each_row_and_a_missing_arm(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "IT": [_vision("vqav2", "caption", 0.6, 0.5, 0.2)],
            "SIT": [_vision("gqa", "caption-unseen", 0.8, 0.9, 0.4)],
        },
    )
    variants = {"it": "caption", "sit": "caption-unseen"}
    folder = _report(tmp_path, [run], table4_variants=variants).parent
    table = _csv(folder / "table4.csv")
    assert table["IT"] == {"Model": "IT", "Method": "IT", "VQAv2 (in D)": "60.00", "GQA (out D)": ""}
    assert table["SIT"]["GQA (out D)"] == "80.00" and len(table) == 2
    text = (folder / "table4.md").read_text(encoding="utf-8")
    assert "IT on `caption`, SIT on `caption-unseen`, SIT (neg.) on `caption-neg`" in text
    assert "_Note: prompt: no arm with results among base, prompt (see arm_roles)._" in text
    empty = _report(
        tmp_path / "none", [_run(tmp_path / "text", {"IT": [_entry("commonsense_qa", "repeat", {})]})]
    )
    assert "_Omitted: no `vqav2` or `gqa` results for the Table 4 arms and variants" in empty.read_text()


def _csqa(accuracy: float, following: float, **more) -> dict:
    return {**_acc_fol(accuracy, following), **more}


def test_table2_each_sit_arm_on_its_own_intermediate_task(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "IT": [_entry("commonsense_qa", "repeat", _csqa(0.5, 0.2))],
            "SIT-R": [
                _entry("commonsense_qa", "repeat", _csqa(0.6, 0.9)),
                _entry("commonsense_qa", "paraphrase", _csqa(0.1, 0.1)),
            ],
            "SIT-P": [
                _entry("commonsense_qa", "repeat", _csqa(0.2, 0.2)),
                _entry("commonsense_qa", "paraphrase", _csqa(0.7, 0.95)),
                _entry("commonsense_qa", "paraphrase-neg", _csqa(0.3, 0.8)),
            ],
        },
    )
    folder = _report(tmp_path, [run]).parent
    text = (folder / "table2.md").read_text(encoding="utf-8")
    assert "| Model | IT | SIT +Repeat | SIT +Paraphrase |" in text
    assert "| all arms | 50.0 | 60.0 | 70.0 |" in text
    assert "IT on `repeat`, SIT +Repeat on `repeat`, SIT +Paraphrase on `paraphrase`" in text
    assert "Arms: IT = `IT`, SIT +Repeat = `SIT-R`, SIT +Paraphrase = `SIT-P`." in text
    extra = _csv(folder / "extra_table2.csv")
    assert extra["all arms"]["SIT +Paraphrase Fol"] == "95.00"
    assert extra["all arms (neg.)"]["SIT +Paraphrase Acc"] == "30.00"
    assert extra["all arms (neg.)"]["IT Acc"] == ""


def test_table2_rows_per_base_model_and_the_it_prompt_from_config(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "llama-IT": [_entry("commonsense_qa", "plain", _csqa(0.4, 0.4))],
            "llama-SIT": [_entry("commonsense_qa", "repeat", _csqa(0.6, 0.9))],
            "mistral-IT": [_entry("commonsense_qa", "plain", _csqa(0.55, 0.5))],
        },
    )
    rows = {
        "LLaMA-7B": {"it": "llama-IT", "sit_repeat": "llama-SIT"},
        "Mistral-7B": {"it": "mistral-IT"},
    }
    folder = _report(tmp_path, [run], table2_rows=rows, table2_variants={"it": "plain"}).parent
    table = _csv(folder / "table2.csv")
    assert table["LLaMA-7B"] == {
        "Model": "LLaMA-7B",
        "IT": "40.00",
        "SIT +Repeat": "60.00",
        "SIT +Paraphrase": "",
    }
    assert table["Mistral-7B"]["IT"] == "55.00" and table["Mistral-7B"]["SIT +Repeat"] == ""
    text = (folder / "table2.md").read_text(encoding="utf-8")
    assert "IT on `plain`" in text
    assert "_Note: Mistral-7B: SIT +Repeat: no results for arm '' (see table2_rows)._" in text
    rows["Mistral-7B"]["sit_repeat"] = "mistral-SIT"  # a name without results, e.g. a typo
    text = _report(tmp_path / "typo", [run], table2_rows=rows).parent.joinpath("table2.md").read_text()
    assert "_Note: Mistral-7B: SIT +Repeat: no results for arm 'mistral-SIT' (see table2_rows)._" in text


def test_table2_row_is_named_after_the_adapters_base_model(tmp_path):
    run = tmp_path / "run"
    for arm, accuracy in (("IT", 0.4), ("SIT-R", 0.6)):
        entry = {**_entry("commonsense_qa", "repeat", _acc_fol(accuracy, 0.5)), "label": arm}
        entry |= {"model": "huggyllama/llama-7b", "adapter": f"runs/paper/table2/train/{arm}/model"}
        (run / arm).mkdir(parents=True)
        (run / arm / "summary.json").write_text(json.dumps([entry]), encoding="utf-8")
    table = _csv(_report(tmp_path, [run]).parent / "table2.csv")
    assert table["llama-7b"]["IT"] == "40.00" and table["llama-7b"]["SIT +Repeat"] == "60.00"


def _xquad_entry(variant: str, per_lang: dict[str, tuple[float, float]], gold: str) -> dict:
    by_lang = {lang: {"n": 5, **_acc_fol(*values)} for lang, values in per_lang.items()}
    return _entry("xquad", variant, _acc_fol(0.0, 0.0), by_lang=by_lang, gold=gold)


def test_table3_per_language_accuracy_and_gold(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "IT": [_xquad_entry("translate", {"de": (0.2, 0.1), "ar": (0.1, 0.0)}, "english")],
            "SIT": [
                _xquad_entry("translate", {"de": (0.5, 0.9), "zh": (0.3, 0.7), "th": (0.25, 0.5)}, "english"),
                _xquad_entry("plain", {"de": (0.9, 0.9)}, "passage"),
            ],
        },
    )
    folder = _report(tmp_path, [run]).parent
    text = (folder / "table3.md").read_text(encoding="utf-8")
    assert "| Model | de | zh | ru | es | ar | el | vi | hi | tr | th |" in text
    assert "| IT | 20.0 | – | – | – | 10.0 | – | – | – | – | – |" in text
    assert "| SIT | 50.0 | 30.0 | – | – | – | – | – | – | – | 25.0 |" in text
    assert "Gold: the English answer (XQuAD is parallel by id) (summary `gold`: english)." in text
    extra = _csv(folder / "extra_table3.csv")
    assert extra["SIT"] == {
        "Model": "SIT",
        "Seen Avg": "40.00",
        "Unseen Avg": "25.00",
        "Seen Fol": "80.00",
        "Unseen Fol": "50.00",
    }


def test_table5_acc_fol_cells_and_missing_arm_note(tmp_path):
    variants = {"plain": (0.6, 0.6), "repeat": (0.55, 0.3), "paraphrase": (0.5, 0.2)}
    run = _run(
        tmp_path / "run",
        {
            "IT": [_entry("commonsense_qa", v, _acc_fol(*m)) for v, m in variants.items()],
            "SIT-R": [_entry("commonsense_qa", "repeat", _acc_fol(0.65, 0.99))],
        },
    )
    folder = _report(tmp_path, [run]).parent
    lines = (folder / "table5.md").read_text(encoding="utf-8").splitlines()
    assert "| Evaluation instruction | IT | SIT (+Repeat) | SIT (+Paraphrase) |" in lines
    assert "| Non-sequential | 60.0 / 60.0 | – | – |" in lines
    assert "| Repeat | 55.0 / 30.0 | 65.0 / 99.0 | – |" in lines
    assert "| Paraphrase | 50.0 / 20.0 | – | – |" in lines
    assert any(line.startswith("_Note: SIT (+Paraphrase): no arm with results among SIT-P") for line in lines)
    table = _csv(folder / "table5.csv")
    assert table["Repeat"]["SIT (+Repeat) Acc"] == "65.00" and table["Repeat"]["SIT (+Repeat) Fol"] == "99.00"


def _steps(name: str, *means: float | None) -> dict:
    steps = ["repeat", "paraphrase", "repeat"]
    return {
        name: [
            {"step": s, "mean": m, "n": 0 if m is None else 10} for s, m in zip(steps, means, strict=False)
        ]
    }


def test_table6_rouge_and_bertscore_of_the_intermediate_outputs(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "IT": [_entry("commonsense_qa", "repeat", {**_acc_fol(0.9, 0.1), **_steps("rouge_l", 0.3)})],
            "SIT-1": [
                _entry(
                    "commonsense_qa",
                    "repeat_paraphrase",
                    {**_steps("rouge_l", 0.9, None), **_steps("bertscore", 0.96, None)},
                )
            ],
            "SIT-2": [
                _entry(
                    "commonsense_qa",
                    "paraphrase_repeat_paraphrase",
                    _steps("rouge_l", None, 0.8, None) | {"accuracy": 0.99},
                )
            ],
        },
    )
    folder = _report(tmp_path, [run]).parent
    lines = (folder / "table6.md").read_text(encoding="utf-8").splitlines()
    assert "| Steps | IT | SIT-1 (+R) | SIT-2 (+R+P) |" in lines
    assert "| R+A | 30.0 / – | – | – |" in lines  # ROUGE-L, not accuracy (90.0)
    assert "| R+P+A | – | 90.0 / 96.0 | – |" in lines
    assert "| P+R+P+A | – | – | 80.0 / – |" in lines


def test_table6_mean_is_over_the_steps_with_an_expected_text(tmp_path):
    metrics = {
        "rouge_l": [{"step": "repeat", "mean": 0.9, "n": 10}, {"step": "repeat", "mean": 0.5, "n": 10}]
    }
    metrics["rouge_l"].insert(1, {"step": "paraphrase", "mean": None, "n": 0})
    run = _run(
        tmp_path / "run", {"SIT-2": [_entry("commonsense_qa", "paraphrase_repeat_paraphrase", metrics)]}
    )
    table = _csv(_report(tmp_path, [run]).parent / "table6.csv")
    assert table["P+R+P+A"]["SIT-2 (+R+P) ROUGE-L"] == "70.00"


def test_unseen_template_rows_name_each_template(tmp_path):
    entries = {
        "IT": [
            _entry("commonsense_qa", "repeat-unseen", _acc_fol(0.5, 0.1), template="repeat/write-out"),
            _entry("commonsense_qa", "repeat-unseen-neg", _acc_fol(0.1, 0.1), template="repeat/write-out"),
        ],
        "SIT": [
            _entry("commonsense_qa", "repeat-unseen", _acc_fol(0.6, 0.8), template="repeat/write-out"),
            _entry("commonsense_qa", "paraphrase-unseen", _acc_fol(0.7, 0.75), template="paraphrase/express"),
        ],
    }
    folder = _report(tmp_path, [_run(tmp_path / "run", entries)]).parent
    lines = (folder / "unseen_templates.md").read_text(encoding="utf-8").splitlines()
    assert "| Template (variant) | IT | SIT |" in lines
    assert "| paraphrase/express (paraphrase-unseen) | – | 70.0 / 75.0 |" in lines
    assert "| repeat/write-out (repeat-unseen) | 50.0 / 10.0 | 60.0 / 80.0 |" in lines
    assert not any("-neg" in line for line in lines)


def test_arm_roles_map_any_arm_names_to_the_columns(tmp_path):
    run = _run(
        tmp_path / "run",
        {
            "baseline": [_entry("commonsense_qa", "repeat", _acc_fol(0.5, 0.2))],
            "ours": [_entry("commonsense_qa", "repeat", _acc_fol(0.6, 0.9))],
        },
    )
    folder = _report(tmp_path, [run], arm_roles={"it": ["baseline"], "sit_repeat": ["ours"]}).parent
    assert _csv(folder / "table2.csv")["all arms"]["SIT +Repeat"] == "60.00"
    with pytest.raises(ConfigError, match="arm_roles.sit_para: unknown role"):
        build(ReportConfig, {"runs": ["x"], "arm_roles": {"sit_para": ["y"]}})


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"analysis_task": "csqa"}, "analysis_task: unknown task 'csqa'"),
        (
            {"table2_variants": {"sit_paraphrase": "paraphrse"}},
            "analysis_task: task 'commonsense_qa' has no variant",
        ),
        ({"template_variants": ["repeat-unsen"]}, "has no variant(s) repeat-unsen"),
        ({"figure_variant": "translat"}, "figure_task: task 'xquad' has no variant(s) translat"),
        ({"xquad_variant": "translate-negg"}, "xquad_variant: task 'xquad' has no variant(s) translate-negg"),
        ({"unseen_languages": ["ar", "jp"]}, "unknown XQuAD language(s) jp"),
        ({"table2_rows": {"x": {"sit2": "a"}}}, "table2_rows.x.sit2: unknown role"),
        ({"table4_variants": {"sit": "captoin"}}, "table4_variants: task 'vqav2' has no variant(s) captoin"),
        ({"table4_variants": {"neg": "caption-neg"}}, "table4_variants.neg: unknown role 'neg'"),
    ],
)
def test_a_typo_in_a_name_is_a_config_error(option, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        build(ReportConfig, {"runs": ["x"], **option})


def test_tables_without_inputs_are_omitted_with_a_note(tmp_path):
    run = _run(tmp_path / "run", {"IT": [_entry("commonsense_qa", "repeat", _acc_fol(0.5, 0.2))]})
    report = _report(tmp_path, [run])
    text = report.read_text(encoding="utf-8")
    assert "_Omitted: no scored `probe/probe` results._" in text
    # each table's arms are those with results for its task: IT has none for XQuAD
    assert (
        "_Omitted: no `xquad/translate` results; IT: no arm with results among IT (see arm_roles); SIT: no arm "
        "with results among SIT, SIT-R, SIT-1" in text
    )
    assert not (report.parent / "table1.csv").exists() and not (report.parent / "table3.csv").exists()
    assert (report.parent / "table2.csv").is_file()


# ---- Figure 3 ----


def _xquad_scores(folder: Path, arm: str) -> None:
    """An XQuAD translate result with per-example scores: 30 Spanish examples and 5 German ones."""
    folder.mkdir(parents=True)
    entry = {"model": arm, **_xquad_entry("translate", {"es": (0.5, 0.5)}, "english")}
    (folder / "summary.json").write_text(json.dumps([entry]), encoding="utf-8")
    scores = [
        {
            "id": f"{lang}/{i}",
            "task": "xquad",
            "variant": "translate",
            "lang": lang,
            "input_length": 100 - i,
            "correct": i % 2 == 0,
            "followed": lang == "es",
        }
        for lang, count in (("es", 30), ("de", 5))
        for i in range(count)
    ]
    (folder / "scores.jsonl").write_text("".join(json.dumps(s) + "\n" for s in scores), encoding="utf-8")


def test_figure3_plots_the_first_samples_of_the_language(tmp_path):
    _xquad_scores(tmp_path / "run" / "SIT", "SIT")
    folder = _report(tmp_path, [tmp_path / "run"], figure_samples=20, window=10).parent
    rows = list(csv.reader((folder / "figure3.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["model", "input_length", "accuracy", "following_rate"]
    # the first 20 Spanish examples (lengths 100..81), sorted by length: 11 windows of 10
    assert len(rows) - 1 == 11
    assert rows[1] == ["SIT", "85.5", "50.00", "100.00"]
    assert rows[-1] == ["SIT", "95.5", "50.00", "100.00"]
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "Figure 3: accuracy and following rate against input length (xquad-es, translate)" in report
    assert (folder / "figure3.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_figure3_notes_fewer_examples_than_asked(tmp_path):
    _xquad_scores(tmp_path / "run" / "SIT", "SIT")
    text = _report(tmp_path, [tmp_path / "run"], figure_lang="de").read_text(encoding="utf-8")
    assert "_Note: SIT: 5 examples, fewer than figure_samples=100._" in text


def test_report_is_deterministic(tmp_path):
    first = _report(tmp_path / "a", [RUN], **GOLDEN_OPTIONS).parent
    second = _report(tmp_path / "b", [RUN], **GOLDEN_OPTIONS).parent
    assert _text_outputs(first) == _text_outputs(second)
    assert (first / "figure3.png").read_bytes() == (second / "figure3.png").read_bytes()


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


# ---- bad input: never nan/inf, never a silently dropped table ----


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999"])
def test_a_non_finite_metric_is_an_error_naming_the_file(tmp_path, number):
    run = _run(tmp_path / "run", {"IT": [_entry("commonsense_qa", "repeat", {"accuracy": 0.5})]})
    summary = run / "IT" / "summary.json"
    summary.write_text(summary.read_text(encoding="utf-8").replace("0.5", number), encoding="utf-8")
    with pytest.raises(RecordError, match=f"{re.escape(str(summary))}: invalid JSON .*{number.lstrip('-')}"):
        _report(tmp_path, [run])


@pytest.mark.parametrize(
    ("metrics", "field", "got"),
    [
        ({"accuracy": "0.5"}, "metrics.accuracy", "'0.5'"),
        ({"repeated": True}, "metrics.repeated", "True"),
        ({"rouge_l": [{"step": "repeat", "mean": "high", "n": 3}]}, "metrics.rouge_l[0].mean", "'high'"),
    ],
)
def test_an_odd_typed_metric_is_an_error_naming_file_and_field(tmp_path, metrics, field, got):
    run = _run(tmp_path / "run", {"IT": [_entry("commonsense_qa", "repeat", metrics)]})
    expected = f"summary.json:entry 0: field '{field}': expected a number or null, got {got}"
    with pytest.raises(RecordError, match=re.escape(expected)):
        _report(tmp_path, [run])


def test_an_odd_typed_language_metric_is_an_error(tmp_path):
    entry = _xquad_entry("translate", {"de": ("50%", 0.5)}, "english")
    run = _run(tmp_path / "run", {"SIT": [entry]})
    with pytest.raises(
        RecordError, match="field 'by_lang.de.accuracy': expected a number or null, got '50%'"
    ):
        _report(tmp_path, [run])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("input_length", "12", "expected a number"), ("correct", "yes", "expected true or false")],
)
def test_odd_per_example_scores_are_an_error_naming_file_line_and_field(tmp_path, field, value, message):
    _xquad_scores(tmp_path / "run" / "SIT", "SIT")
    scores = tmp_path / "run" / "SIT" / "scores.jsonl"
    lines = scores.read_text(encoding="utf-8").splitlines()
    lines[2] = json.dumps({**json.loads(lines[2]), field: value})
    scores.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RecordError, match=f"scores.jsonl:line 3: field '{field}': {message}"):
        _report(tmp_path, [tmp_path / "run"])


def test_cli_reports_a_string_metric_as_one_line(tmp_path, capsys):
    run = _run(tmp_path / "run", {"IT": [_entry("commonsense_qa", "repeat", {"accuracy": "n/a"})]})
    assert main(["report", str(run), f"output={tmp_path / 'out'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "metrics.accuracy" in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "out" / "report.md").exists()


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
    one = _run(tmp_path / "one", {"IT": [_entry("commonsense_qa", "repeat", {})]})
    two = _run(tmp_path / "two", {"IT": [_entry("commonsense_qa", "repeat", {})]})
    with pytest.raises(SeqtuneError, match="distinct labels"):
        _report(tmp_path, [one, two])
    with pytest.raises(ConfigError, match="runs"):
        build(ReportConfig, {"runs": []})


def test_several_runs_and_arm_order(tmp_path):
    one = _run(tmp_path / "one", {"IT": [_entry("commonsense_qa", "repeat", _acc_fol(0.5, 0.2))]})
    two = _run(tmp_path / "two", {"SIT": [_entry("commonsense_qa", "repeat", _acc_fol(0.6, 0.9))]})
    report = _report(tmp_path, [two, one], arm_order=["SIT", "IT"])
    rows = (report.parent / "results.csv").read_text().splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["SIT", "IT"]


def test_arm_labels_are_derived_from_label_adapter_or_model():
    assert derive_arm({"label": "SIT", "adapter": "x/it/model"}) == "SIT"
    assert derive_arm({"adapter": "runs/demo/train/sit/model", "model": "m"}) == "sit"
    assert derive_arm({"adapter": "out/lora/checkpoint-200", "model": "m"}) == "lora"
    assert derive_arm({"adapter": None, "model": "meta-llama/Llama-2-7b-hf"}) == "Llama-2-7b-hf"
    assert derive_arm({}) == "unknown"


def test_cli_runs_the_report_without_torch(tmp_path):
    output = tmp_path / "cli-report"
    overrides = [f"{key}={json.dumps(value)}" for key, value in GOLDEN_OPTIONS.items()]
    code = (
        "import sys; from seqtune.cli import main; "
        f"rc = main(['report', {str(RUN)!r}, 'output={output}', *{overrides!r}]); "
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


def test_metric_definitions_warn_only_when_one_task_was_scored_two_ways(tmp_path):
    definitions = {"version": "1", "repeat_min_rouge_l": 0.8}
    entries = {
        "IT": [_entry("commonsense_qa", "repeat", {}, metric_definitions=definitions)],
        "SIT": [_entry("xquad", "translate", {}, metric_definitions={**definitions, "f1": "token F1"})],
    }
    text = _report(tmp_path / "a", [_run(tmp_path / "a" / "run", entries)]).read_text(encoding="utf-8")
    assert "Warning" not in text and "### commonsense_qa\n" in text and "### xquad\n" in text
    entries["SIT"].append(
        _entry("commonsense_qa", "repeat", {}, metric_definitions={**definitions, "repeat_min_rouge_l": 0.5})
    )
    text = _report(tmp_path / "b", [_run(tmp_path / "b" / "run", entries)]).read_text(encoding="utf-8")
    assert "**Warning: commonsense_qa results were scored with different metric definitions.**" in text
    assert "### commonsense_qa (used by: IT)" in text and "### commonsense_qa (used by: SIT)" in text
