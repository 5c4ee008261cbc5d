"""`seqtune seqinstruct` (Seq-Instruct): reading classifier and rewriter replies as models write them, the rounds
against a scripted fake server (tests/fake_openai.py), unreadable replies counted with the record kept, the IT
control, resume after SIGKILL without a repeated request, the output read by train, and bad input.

The expected readings of the replies below were decided by reading them, not by running the parser."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import pytest

from conftest import SRC
from fake_openai import FakeOpenAI
from seqtune.cli import main
from seqtune.prompts import get_template
from seqtune.records import ErrorPolicy
from seqtune.seqinstruct.parsing import parse_classification, parse_rewrite
from seqtune.train.data import read_pairs

# ---- classification replies ----

CLASSIFICATIONS = [
    ("Reasoning: The input lists three apps; saying what each is helps.\nOption: B", "prefix"),
    ("**Answer: (B) Add a prefix task**", "prefix"),
    ("It already has two parts. **Answer: (A) Decompose**", "decompose"),
    ("The instruction is a complete task whose result can be explained. The best option is C.", "suffix"),
    ("reasoning: a simple factual question.\noption: d", "keep"),
    ("Option: A, because the instruction already holds two tasks.", "decompose"),
    ("Option B could work, but the instruction already has two parts.\n\nOption: A", "decompose"),
    ("The result could be summarised afterwards.\nFinal answer: \\boxed{C}", "suffix"),
    ("I'd go with D: the question is trivial and needs no extra step.", "keep"),
    ("Considering everything, I would choose option b.", "prefix"),
    ("This is a one-fact question.\n\n**D**", "keep"),
    ("The answer can be explained afterwards.\n\n**Option C: Add a suffix task**", "suffix"),
    ("Reasoning: explaining the rewritten sentence afterwards is useful.\n\n(C) Add a suffix task", "suffix"),
    ("Operation: add a suffix task", "suffix"),
    ("Answer: a prefix task listing the facts would help here.", "prefix"),
    ("<think>Maybe A? The poem has two parts... no, a prefix is better.</think>\nOption: B", "prefix"),
    # a model that goes on writing examples of its own after answering
    (
        "Option: D\n\nInstruction: Translate the text.\nInput: Hola\nReasoning: A translation.\nOption: B",
        "keep",
    ),
]
CLASSIFICATION_FAILURES = [
    ("Option: B or C", "conflicting_options"),
    ("Option: A\nOn second thought, adding a step afterwards is better.\nOption: C", "conflicting_options"),
    ("I cannot decide which operation fits this instruction.", "no_option"),
    ("The answer is not A.", "no_option"),
    (
        "A. Decompose into two sub-tasks\nB. Add a prefix task\nC. Add a suffix task\nD. Keep the instruction",
        "no_option",
    ),
    ("<think>The instruction is simple so the option is D", "no_option"),
    ("", "no_option"),
]


@pytest.mark.parametrize(("reply", "operation"), CLASSIFICATIONS)
def test_classification_replies_as_models_write_them(reply, operation):
    parsed = parse_classification(reply)
    assert (parsed.value, parsed.failure) == (operation, None)


@pytest.mark.parametrize(("reply", "failure"), CLASSIFICATION_FAILURES)
def test_unreadable_classifications_are_a_reason_never_a_default(reply, failure):
    parsed = parse_classification(reply)
    assert (parsed.value, parsed.failure) == (None, failure)


# ---- rewrite replies ----

ODD = "Find the odd one out."
REWRITES = [
    (
        "Explanation: A first step names the apps.\nNew instruction: First list what each app is for, then find "
        "the odd one out.",
        "First list what each app is for, then find the odd one out.",
    ),
    (
        "**Explanation:** The category of each item helps.\n\n**New instruction:** First name each item's "
        "category, then find the odd one out.",
        "First name each item's category, then find the odd one out.",
    ),
    (
        'Explanation: added a prefix.\nNew instruction: "First list the items, then find the odd one out."',
        "First list the items, then find the odd one out.",
    ),
    (
        "Explanation: added a prefix.\nNew instruction: **First list the items, then find the odd one out.**",
        "First list the items, then find the odd one out.",
    ),
    (
        "Explanation: added a prefix.\nNew instruction:\n```text\nFirst list the items, then find the odd one out.\n```",
        "First list the items, then find the odd one out.",
    ),
    (
        "### New instruction\nFirst list the items, then find the odd one out.\n\nNote: the answer stays the same.",
        "First list the items, then find the odd one out.",
    ),
    (
        "Explanation: x.\nNew instruction: First list the items, then find the odd one out.\n"
        "Input: Twitter, Instagram, Telegram",
        "First list the items, then find the odd one out.",
    ),
    (
        "Revised Instruction: “First list the items, then find the “odd” one out.”",
        "First list the items, then find the “odd” one out.",
    ),
    (  # straight quotes that open and close the text but quote two words inside it are kept
        'New instruction: "Odd" means different; first list the items, then say which one is "odd"',
        '"Odd" means different; first list the items, then say which one is "odd"',
    ),
    (
        "New instruction: First find the odd one out.\nWait, that adds nothing.\n"
        "New instruction: First list the items, then find the odd one out.",
        "First list the items, then find the odd one out.",
    ),
    (
        "<think>What could come first?</think>\nExplanation: x.\nNew instruction: > First list the items, then "
        "find the odd one out.",
        "First list the items, then find the odd one out.",
    ),
]


@pytest.mark.parametrize(("reply", "instruction"), REWRITES)
def test_rewrite_replies_as_models_write_them(reply, instruction):
    parsed = parse_rewrite(reply, ODD)
    assert (parsed.value, parsed.failure) == (instruction, None)


def test_code_in_a_new_instruction_is_kept_whole():
    code = "First explain what the code does, then fix the bug:\n```python\nprint(x\n```"
    assert parse_rewrite(f"Explanation: x.\nNew instruction: {code}", "Fix the bug.").value == code
    # lines of a code block inside the instruction ("Input:", "Answer:") do not end it; a "Note:" after it does
    example = "First add the numbers, then explain the result. Example:\n```\nInput: 3 5\nAnswer: 8\n```"
    reply = f"Explanation: x.\nNew instruction: {example}\nNote: the answer stays the same."
    assert parse_rewrite(reply, "Add the numbers.").value == example


@pytest.mark.parametrize(
    ("reply", "failure"),
    [
        ("First list the apps, then find the odd one out.", "no_instruction"),
        ("Explanation: nothing to add.\nNew instruction:", "no_instruction"),
        ("Explanation: kept.\nNew instruction: Find the odd one out.", "unchanged_instruction"),
        ("New instruction: find the odd   one OUT.", "unchanged_instruction"),
    ],
)
def test_unreadable_rewrites_are_a_reason(reply, failure):
    parsed = parse_rewrite(reply, ODD)
    assert (parsed.value, parsed.failure) == (None, failure)


# ---- the stage against a scripted server ----

RECORDS = [
    {"id": "odd", "instruction": ODD, "input": "Twitter, Instagram, Telegram", "output": "Telegram"},
    {"id": "poem", "instruction": "Write a poem about autumn and give it a title.", "output": "Leaves ..."},
    {"id": "capital", "instruction": "What is the capital of France?", "output": "Paris"},
    {"id": "summary", "instruction": "Summarise the text.", "input": "A long text.", "output": "Short."},
    {"id": "sort", "instruction": "Sort the numbers.", "input": "3, 1, 2", "output": "1, 2, 3"},
    {"id": "french", "instruction": "Translate to French.", "input": "Good morning", "output": "Bonjour"},
    {"id": "count", "instruction": "Count the words.", "input": "one two", "output": "2"},
]
ODD_1 = "First list what each app is for, then find the odd one out."
POEM_1 = "First write a poem about autumn, then give it a title."
POEM_2 = "First write a poem about autumn, then give it a title, then say in one sentence why you chose it."
CLASSIFY = {  # instruction → the classifier's reply
    ODD: "Reasoning: naming the apps first helps.\nOption: B",
    ODD_1: "Reasoning: nothing more to add.\nOption: D",
    RECORDS[1]["instruction"]: "It already has two parts. **Answer: (A) Decompose**",
    POEM_1: "Explaining the title afterwards fits. The best option is C.",
    "What is the capital of France?": "A single fact.\nOption: D",
    "Summarise the text.": "I am not sure what to do with this one.",  # no option
    "Sort the numbers.": "Option: B",
    "Translate to French.": "Option: C",
    "Count the words.": "Option: D",
}
REWRITE = {  # (operation, instruction) → the rewriter's reply
    ("PREFIX", ODD): f"Explanation: a first step.\nNew instruction: {ODD_1}",
    ("DECOMPOSE", RECORDS[1]["instruction"]): f"Explanation: two steps.\n\n**New instruction:** {POEM_1}",
    ("SUFFIX", POEM_1): f'Explanation: a last step.\nNew instruction: "{POEM_2}"',
    ("PREFIX", "Sort the numbers."): "Sure! First list the numbers, then sort them.",  # no label
    ("SUFFIX", "Translate to French."): "never answered: the request fails",
}


def _prompt_files(folder: Path) -> dict[str, str]:
    """Plain prompt files whose first line names the request, so the fake server can tell them apart."""
    options = {}
    for name in ("classify", "decompose", "prefix", "suffix"):
        path = folder / f"{name}.txt"
        path.write_text(f"{name.upper()}\n{{instruction}}\n---\n{{input}}\n", encoding="utf-8")
        options[f"--{name}-prompt"] = str(path)
    return options


def _scripted(messages: list[dict]) -> str:
    head, _, rest = messages[-1]["content"].partition("\n")
    instruction = rest.split("\n---\n")[0]
    if head == "CLASSIFY":
        return CLASSIFY[instruction]
    if head in ("PREFIX", "SUFFIX", "DECOMPOSE"):
        return REWRITE[(head, instruction)]
    return f"ANSWER: {head}"  # a response: the bundled respond prompt starts with the instruction


def _sent(server: FakeOpenAI, head: str) -> list[str]:
    """The instructions of the requests of one kind, in arrival order."""
    users = [body["messages"][-1]["content"] for body in server.bodies]
    return [u.partition("\n")[2].split("\n---\n")[0] for u in users if u.startswith(head + "\n")]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _scripted_argv(server: FakeOpenAI, tmp_path: Path, data: Path, output: Path, control: Path, *extra: str):
    """`seqtune seqinstruct` on the fake server with the scripted prompt files, no retries."""
    argv = ["seqinstruct", str(data), "--output", str(output), "--it-output", str(control), *extra]
    argv += ["--backend", "openai", "--model", "fake", "--base-url", server.base_url, "--max-retries", "0"]
    for option, path in _prompt_files(tmp_path).items():
        argv += [option, path]
    return argv


@pytest.fixture
def scripted_run(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS), encoding="utf-8")
    output, control = tmp_path / "out" / "seq.jsonl", tmp_path / "out" / "it.jsonl"
    faults = {"SUFFIX\nTranslate to French.": "500", "Count the words.\n\none two": "500"}
    with FakeOpenAI(answer=_scripted, faults_for=faults) as server:
        assert main(_scripted_argv(server, tmp_path, data, output, control)) == 0
    return server, output, control, capsys.readouterr().out


def test_rounds_rewrite_and_reconsider_only_the_records_not_kept(scripted_run):
    server, output, _, printed = scripted_run
    classified = _sent(server, "CLASSIFY")
    originals = [r["instruction"] for r in RECORDS]
    # round 1 classifies every record; round 2 only the two rewritten in round 1 (kept and unreadable ones stop)
    assert sorted(classified[: len(RECORDS)]) == sorted(originals)
    assert sorted(classified[len(RECORDS) :]) == sorted([ODD_1, POEM_1])
    assert sorted(_sent(server, "SUFFIX")) == sorted(["Translate to French.", POEM_1])
    records = {r["source_id"]: r for r in _jsonl(output)}
    assert [r["source_id"] for r in _jsonl(output)] == [r["id"] for r in RECORDS]  # input order, none dropped
    odd, poem = records["odd"], records["poem"]
    assert (odd["instruction"], odd["output"], odd["kind"], odd["id"]) == (
        ODD_1,
        f"ANSWER: {ODD_1}",
        "sequential",
        "odd:seqinstruct",
    )
    assert (odd["input"], odd["template"], odd["seqinstruct"]["operations"]) == (
        RECORDS[0]["input"],
        "seqinstruct/prefix",
        ["prefix"],
    )
    assert [(e["round"], e["operation"], e["failure"]) for e in odd["seqinstruct"]["rounds"]] == [
        (1, "prefix", None),
        (2, "keep", None),
    ]
    assert (poem["instruction"], poem["seqinstruct"]["operations"]) == (POEM_2, ["decompose", "suffix"])
    assert poem["template"] == "seqinstruct/decompose+suffix"
    capital = records["capital"]
    assert (capital["kind"], capital["instruction"], capital["output"]) == (
        "original",
        "What is the capital of France?",
        "ANSWER: What is the capital of France?",
    )
    summary = json.loads(output.with_name("seq.jsonl.manifest.json").read_text())["counts"]
    first, second = summary["rounds"]
    assert (first["considered"], first["classified"], first["rewritten"]) == (7, 6, 2)
    assert first["operations"] == {"decompose": 1, "prefix": 2, "suffix": 1, "keep": 2}
    assert first["shares"] == {"decompose": 0.1667, "prefix": 0.3333, "suffix": 0.1667, "keep": 0.3333}
    assert (second["considered"], second["operations"], second["rewritten"]) == (
        2,
        {"decompose": 0, "prefix": 0, "suffix": 1, "keep": 1},
        1,
    )
    assert "round 1: considered 7, classified 6: decompose 1 (17%), prefix 2 (33%)" in printed


def test_unreadable_replies_are_counted_and_the_record_kept(scripted_run):
    server, output, control, printed = scripted_run
    records = {r["source_id"]: r for r in _jsonl(output)}
    manifest = json.loads(output.with_name("seq.jsonl.manifest.json").read_text())
    assert manifest["counts"]["unparsed"] == {
        "classify:no_option": 1,
        "respond:failed": 1,
        "respond_control:failed": 1,
        "rewrite:failed": 1,
        "rewrite:no_instruction": 1,
    }
    assert manifest["counts"]["rounds"][0]["unparsed"] == {
        "classify:no_option": 1,
        "rewrite:failed": 1,
        "rewrite:no_instruction": 1,
    }
    for source_id, failure in [("summary", "classify:no_option"), ("sort", "rewrite:no_instruction")]:
        record = records[source_id]
        original = next(r for r in RECORDS if r["id"] == source_id)
        # the instruction is kept as it was, and answered like any other
        assert (record["kind"], record["instruction"]) == ("original", original["instruction"])
        assert record["output"] == f"ANSWER: {original['instruction']}"
        assert record["seqinstruct"]["rounds"][-1]["failure"] == failure
    assert records["french"]["seqinstruct"]["rounds"] == [
        {
            "round": 1,
            "operation": "suffix",
            "instruction": "Translate to French.",
            "failure": "rewrite:failed",
        }
    ]
    # no response: the record stays exactly as it came, and says why
    count = records["count"]
    assert (count["instruction"], count["output"], count["kind"]) == ("Count the words.", "2", "original")
    assert count["seqinstruct"]["response"] == "original"
    assert count["seqinstruct"]["response_failure"] == "respond:failed"
    assert "classify:no_option 1" in printed and "rewrite:no_instruction 1" in printed


def test_it_control_differs_only_in_instructions_and_kept_records_are_asked_once(scripted_run):
    server, output, control, _ = scripted_run
    sequential, originals = _jsonl(output), _jsonl(control)
    assert [r["source_id"] for r in originals] == [r["source_id"] for r in sequential]
    assert [r["instruction"] for r in originals] == [r["instruction"] for r in RECORDS]
    assert [r["input"] for r in originals] == [r["input"] for r in sequential]
    assert all(
        r["kind"] == "original" and r["seqinstruct"]["prompts"].keys() == {"respond"} for r in originals
    )
    assert originals[0]["output"] == f"ANSWER: {ODD}"
    # a record kept in round 1 asks the same question for both files: the layer sends it once
    assert server.answered["What is the capital of France?"] == 1
    assert json.loads(control.with_name("it.jsonl.manifest.json").read_text())["role"] == "it_control"


def test_a_response_missing_on_one_side_keeps_the_record_as_it_came_in_both_files(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(RECORDS[0]) + "\n", encoding="utf-8")
    output, control = tmp_path / "seq.jsonl", tmp_path / "it.jsonl"
    # the answer to the rewritten instruction fails; the one to the original instruction comes back
    with FakeOpenAI(answer=_scripted, faults_for={f"{ODD_1}\n\nTwitter": "500"}) as server:
        assert main(_scripted_argv(server, tmp_path, data, output, control, "--rounds", "1")) == 0
        assert server.answered[f"{ODD}\n\nTwitter, Instagram, Telegram"] == 1
    (sequential,), (original,) = _jsonl(output), _jsonl(control)
    assert (sequential["instruction"], sequential["output"]) == (ODD, "Telegram")
    assert (original["instruction"], original["output"]) == (ODD, "Telegram")  # not the model's answer alone
    assert sequential["seqinstruct"]["response_failure"] == "respond:failed"
    assert original["seqinstruct"]["response_failure"] == "paired respond:failed"


def test_provenance_names_the_model_and_the_prompt_files_hashes(scripted_run, tmp_path):
    _, output, _, _ = scripted_run
    record = _jsonl(output)[0]["seqinstruct"]
    names = ("classify", "decompose", "prefix", "suffix")
    expected = {name: hashlib.sha256((tmp_path / f"{name}.txt").read_bytes()).hexdigest() for name in names}
    bundled = resources.files("seqtune.seqinstruct").joinpath("prompts", "respond.txt").read_bytes()
    assert record["prompts"] == {**expected, "respond": hashlib.sha256(bundled).hexdigest()}
    assert (record["model"], record["original_instruction"], record["original_output"]) == (
        "fake",
        ODD,
        "Telegram",
    )


def test_train_reads_the_output(scripted_run):
    _, output, control, _ = scripted_run
    for path in (output, control):
        pairs = read_pairs(path, get_template("alpaca"), None, ErrorPolicy())
        assert len(pairs) == len(RECORDS)
    pairs = read_pairs(output, get_template("alpaca"), None, ErrorPolicy())
    assert ODD_1 in pairs[0].prompt and "Twitter, Instagram, Telegram" in pairs[0].prompt
    assert pairs[0].completion == f"ANSWER: {ODD_1}"


def test_bundled_prompts_carry_the_instruction_and_input(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(RECORDS[0]) + "\n" + json.dumps(RECORDS[2]) + "\n", encoding="utf-8")
    with FakeOpenAI(answer=lambda messages: "Reasoning: fine as it is.\nOption: D") as server:
        argv = ["seqinstruct", str(data), "--output", str(tmp_path / "o.jsonl"), "--backend", "openai"]
        assert main([*argv, "--model", "m", "--base-url", server.base_url]) == 0
    users = [body["messages"][-1]["content"] for body in server.bodies]
    classify = [u for u in users if u.rstrip().endswith("Reasoning:")]
    assert len(classify) == 2 and len(users) == 4  # classify and respond once per record; nothing rewritten
    assert any(f"Instruction: {ODD}\nInput: Twitter, Instagram, Telegram\n" in u for u in classify)
    assert any("Instruction: What is the capital of France?\nInput: (none)\n" in u for u in classify)
    assert f"{ODD}\n\nTwitter, Instagram, Telegram" in users and "What is the capital of France?" in users
    assert all(body["temperature"] == 0 for body in server.bodies)


def test_rewrites_are_sampled_as_the_method_says(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(RECORDS[0]) + "\n", encoding="utf-8")
    with FakeOpenAI(answer=_scripted) as server:
        argv = ["seqinstruct", str(data), "--output", str(tmp_path / "o.jsonl"), "--backend", "openai"]
        argv += ["--model", "m", "--base-url", server.base_url, "--rounds", "1"]
        for option, path in _prompt_files(tmp_path).items():
            argv += [option, path]
        assert main(argv) == 0
    rewrite = next(b for b in server.bodies if b["messages"][-1]["content"].startswith("PREFIX\n"))
    assert (rewrite["temperature"], rewrite["top_p"]) == (1.0, 0.9)
    assert len(_sent(server, "CLASSIFY")) == 1  # one round: the rewritten record is not reconsidered


# ---- resume after SIGKILL ----


def _flow(messages: list[dict]) -> str:
    """Every original gets a prefix task; every rewritten instruction is kept; responses echo."""
    user = messages[-1]["content"]
    head, _, rest = user.partition("\n")
    instruction = rest.split("\n---\n")[0]
    if head == "CLASSIFY":
        return "Option: D" if instruction.startswith("First") else "Reasoning: a first step helps.\nOption: B"
    if head == "PREFIX":
        return f"Explanation: x.\nNew instruction: First list the facts, then {instruction.lower()}"
    return f"ANSWER: {head}"


def _answers_cached(cache: Path) -> int:
    try:
        with sqlite3.connect(cache) as db:
            return db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_killed_run_resumes_without_asking_twice_and_writes_the_same_bytes(tmp_path):
    data = tmp_path / "data.jsonl"
    records = [
        {"instruction": f"Describe item {i}.", "input": f"item {i}", "output": f"o{i}"} for i in range(24)
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    prompts = [part for option, path in _prompt_files(tmp_path).items() for part in (option, path)]

    def command(folder: Path, server: FakeOpenAI) -> list[str]:
        return [
            *["seqinstruct", str(data), "--output", str(folder / "seq.jsonl")],
            *["--it-output", str(folder / "it.jsonl"), "--backend", "openai", "--model", "fake"],
            *["--base-url", server.base_url, "--concurrency", "4", *prompts],
        ]

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    with FakeOpenAI(answer=_flow) as server:
        server.answer_limit = (
            30  # round 1's rewrites are under way when the server stalls and the run is killed
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "seqtune.cli", *command(killed, server)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and _answers_cached(killed / "seq.cache.sqlite") < 30:
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not (killed / "seq.jsonl").exists() and not (killed / "it.jsonl").exists()
        assert sum(server.answered.values()) == 30
        server.answer_limit = None
        server.released.set()
        finished = subprocess.run(
            [sys.executable, "-m", "seqtune.cli", *command(killed, server)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert finished.returncode == 0, finished.stderr
        # 24 classifications, 24 rewrites, 24 re-classifications, 24 + 24 responses: each asked exactly once
        assert max(server.answered.values()) == 1 and sum(server.answered.values()) == 5 * 24
    whole = tmp_path / "whole"
    with FakeOpenAI(answer=_flow) as server:
        assert main(command(whole, server)) == 0
    for name in ("seq.jsonl", "it.jsonl"):
        assert (killed / name).read_bytes() == (whole / name).read_bytes()
    assert all(r["kind"] == "sequential" for r in _jsonl(killed / "seq.jsonl"))


# ---- bad input ----


def _one_line_error(capsys, argv: list[str], *expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("seqtune: error:"), err
    assert all(text in err for text in expected), err


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    good = tmp_path / "data.jsonl"
    good.write_text(json.dumps(RECORDS[0]) + "\n", encoding="utf-8")
    out = str(tmp_path / "o.jsonl")
    base = ["--output", out, "--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]
    _one_line_error(capsys, ["seqinstruct", str(tmp_path / "missing.jsonl"), *base], "missing.jsonl")
    _one_line_error(capsys, ["seqinstruct", str(good), *base, "--rounds", "0"], "rounds")
    _one_line_error(capsys, ["seqinstruct", str(good), *base, "--rewrite-top-p", "0"], "rewrite_top_p")
    _one_line_error(capsys, ["seqinstruct", str(good), *base, "--no-such-option", "1"], "--no-such-option")
    _one_line_error(capsys, ["seqinstruct", str(good), "--output", out], "model")
    _one_line_error(capsys, ["seqinstruct", str(good), *base, "--prefix-prompt", "nope.txt"], "prefix_prompt")
    no_placeholder = tmp_path / "p.txt"
    no_placeholder.write_text("Rewrite it.", encoding="utf-8")
    _one_line_error(
        capsys, ["seqinstruct", str(good), *base, "--prefix-prompt", str(no_placeholder)], "{instruction}"
    )
    _one_line_error(capsys, ["seqinstruct", str(good), *base, "--it-output", out], "it_output")
    _one_line_error(capsys, ["seqinstruct", str(good), *base[:1], str(good), *base[2:]], "also an input")
    assert not Path(out).exists() and not (tmp_path / "o.cache.sqlite").exists()  # refused before any work


def test_a_bad_record_is_one_line_naming_file_line_and_field_or_skipped_and_counted(tmp_path, capsys):
    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps(RECORDS[2]) + "\n" + json.dumps({"instruction": "x"}) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    with FakeOpenAI(answer=lambda messages: "Option: D") as server:
        argv = ["seqinstruct", str(data), "--output", str(out), "--backend", "openai", "--model", "m"]
        argv += ["--base-url", server.base_url]
        _one_line_error(capsys, argv, f"{data}:line 2", "output")
        assert not out.exists()
        assert main([*argv, "--on-error", "skip"]) == 0
    counts = json.loads(out.with_name("o.jsonl.manifest.json").read_text())["counts"]
    assert (counts["read"], counts["written"], counts["skipped"]) == (1, 1, {"missing_field": 1})


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit):
        main(["seqinstruct", "--help"])
    text = capsys.readouterr().out
    for option in ("--rounds", "--it-output", "--classify-prompt", "--rewrite-temperature", "--base-url"):
        assert option in text
    assert "round k+1 reconsiders only the records rewritten in round k" in " ".join(text.split())


@pytest.mark.slow
def test_a_local_model_that_writes_nonsense_keeps_every_record_and_counts_why(tiny_model, tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in RECORDS[:3]), encoding="utf-8")
    output = tmp_path / "o.jsonl"
    argv = ["seqinstruct", str(data), "--output", str(output), "--model", str(tiny_model), "--device", "cpu"]
    assert main([*argv, "--max-new-tokens", "8"]) == 0
    records = _jsonl(output)
    assert [(r["instruction"], r["output"]) for r in records] == [
        (r["instruction"], r["output"]) for r in RECORDS[:3]
    ]
    counts = json.loads(output.with_name("o.jsonl.manifest.json").read_text())["counts"]
    assert counts["rounds"][0]["considered"] == 3 and counts["rounds"][1]["considered"] == 0
    assert sum(counts["unparsed"].values()) == 6  # three classifications and three responses, none usable
