"""SeqEval: the task (reading, ids, responses replayed by id, scoring without gold), the judge (verdict parsing,
both orders of every pair, ties, win-rate arithmetic, invalid verdicts, resume after SIGKILL) and the report table.

The judge is the suite's fake OpenAI server (tests/fake_openai.py) with scripted replies; the replies in the
parsing tests are written the way judge LLMs answer, labelled by reading them.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from conftest import SRC
from fake_openai import FakeOpenAI
from seqtune.cli import main
from seqtune.config import build
from seqtune.errors import ConfigError, SeqtuneError
from seqtune.generate.config import GenerateConfig
from seqtune.generate.pipeline import run_generate
from seqtune.judge.config import JudgeConfig
from seqtune.judge.pipeline import outcome, run_judge
from seqtune.judge.verdicts import FIRST, SECOND, TIE, parse_pair, parse_single
from seqtune.layout import JUDGE_SUMMARY as SUMMARY
from seqtune.layout import JUDGMENTS
from seqtune.report.config import ReportConfig
from seqtune.report.pipeline import run_report
from seqtune.score import ScoreConfig, run_score
from seqtune.tasks import TASKS

ITEMS = [
    {"instruction": "Summarize the text about Broadway, then list three actors it names.", "iteration": 2},
    {"instruction": "Translate 'good morning' into French, then explain when it is used.", "iteration": 1},
    {
        "instruction": "First define a prime number, then give the first five primes, then sum them.",
        "iteration": 3,
    },
    {"instruction": "Name a planet, then describe its atmosphere.", "iteration": 1},
    {
        "instruction": "Write a haiku about rain, then explain its syllable count, then title it.",
        "iteration": 4,
    },
    {"instruction": "List two fruits, then say which is sweeter.", "iteration": 2},
]


def _data(tmp_path: Path) -> Path:
    path = tmp_path / "seqEval.json"
    path.write_text(json.dumps(ITEMS), encoding="utf-8")
    return path


def _predictions(folder: Path, model: str, responses: list[str]) -> Path:
    """A predictions.jsonl as generate writes it for the seqeval task (built through the task itself)."""
    task = TASKS.get("seqeval")()
    examples = task.load(str(_data(folder.parent)))
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for example, response in zip(examples, responses, strict=True):
        spec = task.build_prompt(example, "plain")
        record = {"id": example.id, "task": "seqeval", "variant": "plain", "prompt": spec.instruction}
        record |= {"response": response, "model": model, "adapter": None, "decoding": {}}
        lines.append(json.dumps({**record, **task.prediction_fields(example, spec)}))
    path = folder / "predictions.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ---- the task ----


def test_the_shared_file_gives_805_prompts_with_position_ids_and_levels(shared_data):
    task = TASKS.get("seqeval")()
    examples = task.load(str(shared_data / "seqeval" / "seqEval.json"))
    assert len(examples) == 805
    assert [e.id for e in examples] == [str(i) for i in range(805)]
    assert Counter(e.meta["iteration"] for e in examples) == {1: 81, 2: 161, 3: 242, 4: 321}
    assert examples[547].question == ""  # the published file's one empty item is kept, so ids stay positions
    assert task.variant_names() == ["plain"]
    spec = task.build_prompt(examples[0], "plain")
    assert spec.instruction.startswith("Do some research about famous actors") and spec.input == ""
    assert spec.steps == [] and spec.response_prefix == ""


def test_the_hub_id_is_read_through_datasets_with_rows_as_positions(monkeypatch):
    asked = {}

    def rows(hub_id, **kwargs):
        asked.update(hub_id=hub_id, **kwargs)
        return ITEMS[:3]

    monkeypatch.setattr("seqtune.tasks.seqeval.hub_rows", rows)
    examples = TASKS.get("seqeval")().load(None)
    assert asked == {"hub_id": "pinzhenchen/SeqEval", "split": "train"}
    assert [(e.id, e.question, e.meta) for e in examples] == [
        (str(i), item["instruction"], {"iteration": item["iteration"]}) for i, item in enumerate(ITEMS[:3])
    ]


def test_a_bad_iteration_level_names_the_file_record_and_field(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps([ITEMS[0], {"instruction": "x", "iteration": 7}]), encoding="utf-8")
    with pytest.raises(
        SeqtuneError, match=r"bad.json:record 1: field 'iteration': expected an iteration level"
    ):
        TASKS.get("seqeval")().load(str(path))


def test_responses_of_another_system_are_replayed_by_id(tmp_path):
    data = _data(tmp_path)
    responses = tmp_path / "responses.jsonl"
    # out of order, ids as numbers or strings, one example without a response
    lines = [
        {"id": 4, "response": "haiku"},
        {"id": "0", "response": "summary"},
        {"id": 2, "response": "primes"},
    ]
    responses.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    values = {"task": "seqeval", "data": str(data), "output": str(tmp_path / "out"), "backend": "responses"}
    values["variants"] = ["plain"]
    run_generate(build(GenerateConfig, {**values, "responses": str(responses)}))
    predictions = [
        json.loads(line) for line in (tmp_path / "out" / "predictions.jsonl").read_text().splitlines()
    ]
    assert [(p["id"], p["response"], p["meta"]["iteration"]) for p in predictions] == [
        ("0", "summary", 2),
        ("2", "primes", 3),
        ("4", "haiku", 4),
    ]
    assert all(p["question"] == ITEMS[int(p["id"])]["instruction"] and p["gold"] is None for p in predictions)

    by_position = (
        tmp_path / "by_position.jsonl"
    )  # the SIT authors' files: no ids, the Nth line answers id N-1
    by_position.write_text(
        "".join(json.dumps({"output": f"r{i}"}) + "\n" for i in range(6)), encoding="utf-8"
    )
    overrides = {"responses": str(by_position), "id_field": "", "response_field": "output"}
    run_generate(build(GenerateConfig, {**values, **overrides, "output": str(tmp_path / "pos")}))
    replayed = [
        json.loads(line) for line in (tmp_path / "pos" / "predictions.jsonl").read_text().splitlines()
    ]
    assert [(p["id"], p["response"]) for p in replayed] == [(str(i), f"r{i}") for i in range(6)]


def test_score_reports_only_n_and_the_attempted_rate(tmp_path):
    responses = ["A summary.\nActors: X, Y, Z", "", ITEMS[2]["instruction"], "Mars.", "Rain falls", "Apple"]
    path = _predictions(tmp_path / "arm", "m", responses)
    run_score(build(ScoreConfig, {"predictions": [str(path)]}))
    (summary,) = json.loads((tmp_path / "arm" / "summary.json").read_text())
    metrics = summary["metrics"]
    assert metrics["n"] == 6
    assert metrics["attempted_rate"] == round(4 / 6, 6)  # empty, and a mere copy of the instruction, are not
    assert "accuracy" not in metrics and "following_rate" not in metrics  # no gold; following is the judge's
    assert metrics["invalid_reasons"] == {"empty_response": 1, "no_answer": 1}
    assert "seqtune judge" in summary["metric_definitions"]["accuracy"]
    assert "seqtune judge" in summary["metric_definitions"]["following_rate"]
    scores = [json.loads(line) for line in (tmp_path / "arm" / "scores.jsonl").read_text().splitlines()]
    assert {(s["correct"], s["followed"]) for s in scores} == {(None, None)}


# ---- verdicts, as judges write them (labelled by reading) ----

SINGLE_REPLIES = [
    (
        "The instruction has two parts: a summary and a list of actors. Both are present.\n```json\n"
        '{"reasons": "Both sub-tasks are done.", "following": "yes", "score": 4}\n```',
        (True, 4.0, None),
    ),
    (
        "Sub-tasks: (1) define a prime, (2) list five primes, (3) sum them. The answer lists primes but never sums "
        "them.\n\nFollowing: no\nScore: 2",
        (False, 2.0, None),
    ),
    ("**Reasons:** Every part is answered, clearly.\n**Following:** Yes\n**Score:** 4/5", (True, 4.0, None)),
    ("The answer is thorough.\nFollowing: Yes\nRating: [[5]]", (True, 5.0, None)),
    ('{"following": true, "score": "3"}', (True, 3.0, None)),
    ("Following: yes\nScore: 4.5", (True, 4.5, None)),
    ("Following: yes\nScore: 7", (None, None, "score_out_of_range")),
    ("Following: no\nScore: 0", (None, None, "score_out_of_range")),
    ("Following: yes\nScore: 8/10", (None, None, "wrong_scale")),
    ("The response is helpful and well organised. I would rate it highly.", (None, None, "no_following")),
    ('Here is my evaluation:\n{"following": "partially", "score": 3}', (None, None, "no_following")),
    ("Following: yes\nThe answer is fine overall.", (None, None, "no_score")),
    ("Following: yes\nFollowing: no\nScore: 3", (None, None, "conflicting_following")),
    (
        "Following: yes\nScore: 3\nOn reflection the list is incomplete. Score: 2",
        (None, None, "conflicting_scores"),
    ),
    ("", (None, None, "empty_reply")),
    # the prompt numbers the two things to judge, and judges number their answers the same way
    ("1. Following: yes, both parts are there.\n2. Score: 4", (True, 4.0, None)),
    ('{"following": "Yes.", "score": 5}', (True, 5.0, None)),
]


@pytest.mark.parametrize(("reply", "expected"), SINGLE_REPLIES)
def test_a_per_response_verdict_is_read_or_invalid_with_a_reason(reply, expected):
    verdict = parse_single(reply)
    assert (verdict.following, verdict.score, verdict.invalid_reason) == expected


PAIR_REPLIES = [
    ("Output (a) answers every part; Output (b) forgets the list of actors.\n\n[[A]]", FIRST, None),
    ("Output (b)", SECOND, None),
    ("Tie", TIE, None),
    ("Both outputs are equally good.", TIE, None),
    ("Verdict: [[TIE]]", TIE, None),
    ("Both miss the last step. [[C]]", TIE, None),
    ("Output (a) is better.", FIRST, None),
    ("**Verdict:** Output (a)", FIRST, None),
    ("Better response: (b)", SECOND, None),
    ('```json\n{"reason": "(b) sums the primes", "winner": "Output (b)"}\n```', SECOND, None),
    ("B", SECOND, None),
    ("[[A]]\nWait, output (b) does list all three actors. [[B]]", None, "conflicting_verdicts"),
    ("Final verdict: Output (a) and Output (b)", None, "conflicting_verdicts"),
    ("Output (a) is more detailed but Output (b) is more accurate.", None, "no_verdict"),
    ("I cannot decide between them.", None, "no_verdict"),
    ("", None, "empty_reply"),
    # a pick stays a pick when the verdict line also uses a tie word about something else
    ("Verdict: A — B says the same thing, less clearly.", FIRST, None),
    ("Winner: Output (a). Neither is perfect.", FIRST, None),
    ("Verdict: Output (a) and Output (b) are the same.", TIE, None),
    ("Verdict: a tie.", TIE, None),
]


@pytest.mark.parametrize(("reply", "choice", "reason"), PAIR_REPLIES)
def test_a_pairwise_verdict_is_read_or_invalid_with_a_reason(reply, choice, reason):
    verdict = parse_pair(reply)
    assert (verdict.choice, verdict.invalid_reason) == (choice, reason)


def test_two_files_answering_under_one_model_name_are_refused_not_mixed(tmp_path):
    sit = _predictions(tmp_path / "sit", "responses.jsonl", SIT)
    it = _predictions(tmp_path / "it", "responses.jsonl", IT)
    values = {"predictions": [str(sit)], "baseline": str(it), "backend": "openai", "model": "judge"}
    with pytest.raises(SeqtuneError, match="model 'responses.jsonl' already answers seqeval/plain"):
        run_judge(build(JudgeConfig, {**values, "base_url": "http://127.0.0.1:9/v1"}))


def test_two_orders_give_a_win_or_loss_only_when_they_agree():
    assert outcome("a", "a") == "win"
    assert outcome("b", "b") == "loss"
    assert [
        outcome(x, y) for x, y in [("tie", "tie"), ("a", "b"), ("b", "a"), ("a", "tie"), ("tie", "b")]
    ] == ["tie"] * 5


# ---- the judge through the fake server ----

SIT = [f"SIT-{i}: every step answered" for i in range(6)]
IT = [f"IT-{i}: only the last step" for i in range(6)]


def _sections(user: str) -> tuple[str, str]:
    """The responses shown as output (a) and output (b) in a pairwise prompt."""
    first = user.split("[Output (a)]\n")[1].split("\n[End of output (a)]")[0]
    second = user.split("[Output (b)]\n")[1].split("\n[End of output (b)]")[0]
    return first, second


def _judge(server, tmp_path, **overrides) -> dict:
    sit = _predictions(tmp_path / "sit", "sit-model", SIT)
    it = _predictions(tmp_path / "it", "it-model", IT)
    values = {
        "predictions": [str(sit)],
        "baseline": str(it),
        "backend": "openai",
        "model": "judge",
        "base_url": server.base_url,
        "concurrency": 3,
    }
    path = run_judge(build(JudgeConfig, {**values, **overrides}))
    return json.loads(path.read_text(encoding="utf-8"))


def _always_first(messages):
    user = messages[-1]["content"]
    return (
        "Both are fine, the first reads better.\n[[A]]"
        if "[Output (a)]" in user
        else "Following: yes\nScore: 3"
    )


def test_every_pair_is_judged_in_both_orders_and_a_first_position_judge_cancels_out(tmp_path):
    with FakeOpenAI(answer=_always_first) as server:
        summary = _judge(server, tmp_path, per_response=False)
        shown = [_sections(body["messages"][-1]["content"]) for body in server.bodies]
    assert sorted(shown) == sorted(
        [(s, i) for s, i in zip(SIT, IT, strict=True)] + list(zip(IT, SIT, strict=True))
    )
    (pairwise,) = summary["pairwise"]
    assert (pairwise["wins"], pairwise["ties"], pairwise["losses"], pairwise["n"]) == (0, 6, 0, 6)
    assert pairwise["win_rate"] == 0.5
    assert summary["per_response"] == []


def _scripted(messages):
    """Per example, a judge with a different behaviour (hand-computed outcomes in the test below)."""
    user = messages[-1]["content"]
    if "[Output (a)]" not in user:
        arm, index = user.split("[Answer]\n")[1].split(":")[0].split("-")
        if arm == "SIT":
            return [
                "Following: yes\nScore: 5",
                "Following: yes\nScore: 4",
                '```json\n{"following": "no", "score": 3}\n```',
                "Following: yes\nScore: 4/5",
                "Score: 4",
                "Following: yes\nScore: 9",
            ][int(index)]
        return "Following: no\nScore: 2"
    first, second = _sections(user)
    index = int(first.split(":")[0].split("-")[1])
    sit_first = first.startswith("SIT")
    if index in (0, 1):  # prefers SIT in both orders: a win
        return "[[A]]" if sit_first else "[[B]]"
    if index == 2:  # prefers IT in both orders: a loss
        return "Output (b) is better." if sit_first else "Output (a)"
    if index == 3:  # a tie in both orders
        return "Verdict: [[TIE]]"
    if index == 4:  # SIT in one order, a tie in the other: the orders disagree, a tie
        return "[[A]]" if sit_first else "Tie"
    return "I cannot choose." if sit_first else "[[B]]"  # one unreadable order: the pair is invalid


def test_win_rate_ties_and_invalid_verdicts_are_counted_as_documented(tmp_path):
    with FakeOpenAI(answer=_scripted) as server:
        summary = _judge(server, tmp_path)
        assert server.received == 6 + 6 + 2 * 6  # each response once, each pair twice
    (pairwise,) = summary["pairwise"]
    # wins: ids 0, 1; loss: id 2; ties: ids 3, 4; id 5 invalid → (2 + 0.5 * 2) / 5
    assert {k: pairwise[k] for k in ("pairs", "n", "wins", "ties", "losses", "win_rate")} == {
        "pairs": 6,
        "n": 5,
        "wins": 2,
        "ties": 2,
        "losses": 1,
        "win_rate": 0.6,
    }
    assert pairwise["invalid_reasons"] == {"no_verdict": 1}
    assert pairwise["a"] == {"model": "sit-model", "adapter": None} and pairwise["b"]["model"] == "it-model"
    # levels: ids 1, 3 are level 1 (win, tie); ids 0, 5 level 2 (win, invalid); id 2 level 3 (loss); id 4 level 4 (tie)
    assert {level: block["win_rate"] for level, block in pairwise["by_iteration"].items()} == {
        "1": 0.75,
        "2": 1.0,
        "3": 0.0,
        "4": 0.5,
    }
    sit, it = summary["per_response"]
    # SIT: ids 0-3 valid (yes 5, yes 4, no 3, yes 4), id 4 has no following, id 5 scores out of range
    assert (sit["model"], sit["n"], sit["judged"], sit["following_rate"], sit["quality"]) == (
        "sit-model",
        6,
        4,
        0.75,
        4.0,
    )
    assert sit["invalid_reasons"] == {"no_following": 1, "score_out_of_range": 1}
    assert (it["following_rate"], it["quality"], it["judged"]) == (0.0, 2.0, 6)
    judgments = [
        json.loads(line) for line in (tmp_path / "sit" / "judge" / JUDGMENTS).read_text().splitlines()
    ]
    pair = next(j for j in judgments if j["kind"] == "pairwise" and j["id"] == "4")
    assert [(o["first"], o["winner"]) for o in pair["orders"]] == [("a", "a"), ("b", "tie")]
    assert pair["outcome"] == "tie" and pair["orders"][1]["reply"] == "Tie"  # the judge's reply is kept
    single = next(
        j for j in judgments if j["kind"] == "single" and j["id"] == "2" and j["model"] == "sit-model"
    )
    assert (single["following"], single["score"], single["iteration"]) == (False, 3.0, 3)
    assert (tmp_path / "sit" / "judge" / "judgments.jsonl.manifest.json").is_file()


def test_a_rerun_asks_nothing_and_writes_the_same_bytes(tmp_path):
    with FakeOpenAI(answer=_scripted) as server:
        _judge(server, tmp_path)
        first = (tmp_path / "sit" / "judge" / JUDGMENTS).read_bytes()
        asked = server.received
        _judge(server, tmp_path)
        assert server.received == asked
    assert (tmp_path / "sit" / "judge" / JUDGMENTS).read_bytes() == first


def test_judge_prompts_are_replaceable_and_checked(tmp_path):
    prompt = tmp_path / "mine.json"
    prompt.write_text(
        json.dumps({"system": "", "user": "Rate {response} for {instruction}."}), encoding="utf-8"
    )
    with FakeOpenAI(answer=_always_first) as server:
        summary = _judge(server, tmp_path, single_prompt=str(prompt))
        users = [body["messages"][-1]["content"] for body in server.bodies]
    assert f"Rate {SIT[0]} for {ITEMS[0]['instruction']}." in users
    assert summary["judge"]["prompts"]["single"]["name"] == "mine"
    prompt.write_text(json.dumps({"system": "", "user": "Rate {response}."}), encoding="utf-8")
    with (
        FakeOpenAI(answer=_always_first) as server,
        pytest.raises(ConfigError, match=r"lacks the placeholder"),
    ):
        _judge(server, tmp_path, single_prompt=str(prompt), output=str(tmp_path / "other"))


def test_prompts_that_differ_between_the_arms_are_refused(tmp_path):
    sit = _predictions(tmp_path / "sit", "sit-model", SIT)
    it = _predictions(tmp_path / "it", "it-model", IT)
    records = [json.loads(line) for line in it.read_text().splitlines()]
    records[3]["question"] = "Another instruction."
    it.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    values = {"predictions": [str(sit)], "baseline": str(it), "backend": "openai", "model": "j"}
    with pytest.raises(SeqtuneError, match=r"id '3' of seqeval/plain has two different instructions"):
        run_judge(build(JudgeConfig, {**values, "base_url": "http://127.0.0.1:9/v1"}))


def test_predictions_of_a_task_without_an_open_instruction_are_one_line_and_status_2(tmp_path, capsys):
    path = tmp_path / "csqa.jsonl"
    record = {"id": "1", "task": "commonsense_qa", "variant": "plain", "response": "A", "gold": "A"}
    path.write_text(
        json.dumps({**record, "meta": {"choices": {"A": "x", "B": "y"}}}) + "\n", encoding="utf-8"
    )
    assert main(["judge", str(path), "model=j", "backend=openai"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("field 'task': task 'commonsense_qa' has no open-ended instruction to judge")
    assert "\n" not in error and "csqa.jsonl:line 1" in error


def test_cut_off_and_empty_replies_are_invalid_by_reason_and_failed_requests_are_asked_again(tmp_path):
    # IT-5's requests come back cut off by the token limit, SIT-0's empty, SIT-3's refused (HTTP 400)
    faults = {"IT-5: only": "length", "SIT-0": "empty", "SIT-3": "400"}
    with FakeOpenAI(answer=_scripted, faults_for=faults) as server:
        # a request refused every time must not keep the summary from being written: it is counted
        failing = _judge(server, tmp_path, max_retries=0)
        assert failing["per_response"][0]["invalid_reasons"]["request_failed"] == 1
        assert failing["pairwise"][0]["invalid_reasons"]["request_failed"] == 1
        asked = Counter(server.answered)
        server.faults_for = {k: v for k, v in faults.items() if v != "400"}
        summary = _judge(server, tmp_path, max_retries=0)
    again = Counter(server.answered) - asked
    assert all("SIT-3" in user for user in again) and sum(again.values()) == 3  # only the failed ones
    sit, it = summary["per_response"]
    assert sit["invalid_reasons"] == {"empty_reply": 1, "no_following": 1, "score_out_of_range": 1}
    assert it["invalid_reasons"] == {"truncated_reply": 1}
    (pairwise,) = summary["pairwise"]
    assert pairwise["invalid_reasons"] == {"empty_reply": 1, "truncated_reply": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"question": None}, "field 'question': missing: SeqEval predictions carry the instruction"),
        ({"meta": {"iteration": 5}}, "field 'meta.iteration': expected an iteration level 1-4, got 5"),
        ({"gold": ["x"]}, "field 'gold': SeqEval has no gold"),
    ],
)
def test_a_prediction_that_cannot_be_seqevals_is_refused_naming_the_field(tmp_path, change, message):
    path = _predictions(tmp_path / "arm", "m", SIT)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    records[1] |= change
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    with pytest.raises(SeqtuneError, match=rf"predictions.jsonl:line 2: {message}"):
        run_judge(build(JudgeConfig, {"predictions": [str(path)], "backend": "openai", "model": "j"}))


def _cached(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path) as db:
            return db.execute("SELECT count(*) FROM answers").fetchone()[0]
    except sqlite3.OperationalError:  # the judge has created the file but not its table yet
        return 0


@pytest.mark.slow
def test_a_killed_judge_resumes_without_asking_twice_and_writes_the_same_bytes(tmp_path):
    sit = _predictions(tmp_path / "sit", "sit-model", SIT)
    it = _predictions(tmp_path / "it", "it-model", IT)
    env = {**os.environ, "PYTHONPATH": str(SRC)}

    def command(server, output):
        start = [sys.executable, "-m", "seqtune.cli", "judge", str(sit), f"baseline={it}", "backend=openai"]
        return [*start, "model=judge", f"base_url={server.base_url}", "concurrency=2", f"output={output}"]

    with FakeOpenAI(answer=_scripted) as server:
        server.answer_limit = 9  # the server stalls after 9 answers; then the judge is killed
        process = subprocess.Popen(
            command(server, tmp_path / "out"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _cached(tmp_path / "out" / "judge_cache.sqlite") < 9:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (tmp_path / "out" / JUDGMENTS).exists() and not (tmp_path / "out" / SUMMARY).exists()
        assert sum(server.answered.values()) == 9
        server.answer_limit = None
        server.released.set()
        finished = subprocess.run(command(server, tmp_path / "out"), env=env, capture_output=True, text=True)
        assert finished.returncode == 0, finished.stderr
        assert max(server.answered.values()) == 1  # no judge request was answered twice
        assert sum(server.answered.values()) == 6 + 6 + 2 * 6
    with FakeOpenAI(answer=_scripted) as server:  # an uninterrupted run, for the bytes
        fresh = subprocess.run(command(server, tmp_path / "fresh"), env=env, capture_output=True, text=True)
        assert fresh.returncode == 0, fresh.stderr
    for name in (JUDGMENTS, SUMMARY):
        assert (tmp_path / "out" / name).read_bytes() == (tmp_path / "fresh" / name).read_bytes()


# ---- the report ----


def test_the_report_shows_following_quality_and_win_rate_vs_the_it_arm_by_level(tmp_path):
    with FakeOpenAI(answer=_scripted) as server:
        _judge(server, tmp_path, output=str(tmp_path / "runs" / "judge"))
    for arm in ("sit", "it"):
        run_score(
            build(ScoreConfig, {"predictions": [str(tmp_path / arm)], "output": str(tmp_path / "runs" / arm)})
        )
    config = {"runs": [str(tmp_path / "runs")], "output": str(tmp_path / "report")}
    # the IT arm is the first candidate of the `it` role that has results
    config |= {
        "labels": {"sit-model": "SIT", "it-model": "IT-base"},
        "arm_roles": {"it": ["IT-large", "IT-base"]},
    }
    run_report(build(ReportConfig, config))
    table = (tmp_path / "report" / "seqeval.csv").read_text(encoding="utf-8").splitlines()
    assert table == [  # arms in the report's order (arm_order, then alphabetical)
        "Arm,Level,n,Following,Quality,Win rate vs IT,W / T / L",
        "IT-base,all,6,0.00,2.00,,",
        "IT-base,1,2,0.00,2.00,,",
        "IT-base,2,2,0.00,2.00,,",
        "IT-base,3,1,0.00,2.00,,",
        "IT-base,4,1,0.00,2.00,,",
        "SIT,all,4,75.00,4.00,60.00,2 / 2 / 1",
        "SIT,1,2,100.00,4.00,75.00,1 / 1 / 0",
        "SIT,2,1,100.00,5.00,100.00,1 / 0 / 0",
        "SIT,3,1,0.00,3.00,0.00,0 / 0 / 1",
        "SIT,4,0,,,50.00,0 / 1 / 0",
    ]
    report = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    assert "Win rate vs IT (`IT-base`)" in report
    assert "SIT: 2 invalid judgments (no_following 1, score_out_of_range 1)" in report
    assert "SIT: 1 invalid pairs vs IT-base (no_verdict 1)" in report
    manifest = json.loads((tmp_path / "report" / "manifest.json").read_text(encoding="utf-8"))
    assert str(tmp_path / "runs" / "judge" / SUMMARY) in manifest["inputs"]
