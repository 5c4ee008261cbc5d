"""The toy world of the demo: deterministic, well-formed, one right choice per question, no leak into training —
and, trained end to end at a small size, a SIT model that follows "First repeat the input, then ..." where the
IT model does not."""

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqtune import toyworld
from seqtune.tasks import TASKS

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "src" / "seqtune" / "samples" / "toyworld"
FILES = ("train.jsonl", "mc.dev.jsonl", "heldout.dev.jsonl")


def _read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_same_seed_gives_identical_bytes_and_another_seed_another_world(tmp_path):
    sizes = {"train": 80, "mc": 12, "heldout": 6}
    for folder, seed in (("a", 3), ("b", 3), ("c", 4)):
        toyworld.write_world(tmp_path / folder, seed, sizes)
    for name in FILES:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (tmp_path / "a" / "train.jsonl").read_bytes() != (tmp_path / "c" / "train.jsonl").read_bytes()


def test_bundled_files_equal_a_regeneration(tmp_path):
    # the command the bundled README names, with its defaults
    subprocess.run([sys.executable, "-m", "seqtune.toyworld", str(tmp_path)], check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (BUNDLED / name).read_bytes(), (
            f"{name} differs: regenerate it"
        )


def test_files_load_through_augment_and_the_evaluation_tasks():
    from seqtune.records import iter_json_records

    train = [record for _, record in iter_json_records(str(BUNDLED / "train.jsonl"))]
    assert len(train) == toyworld.DEFAULT_SIZES["train"]
    for record in train:
        assert set(record) == {"id", "instruction", "input", "output"}
        assert all(isinstance(v, str) and v.strip() for v in record.values()), record
    assert len({record["id"] for record in train}) == len(train)

    mc = TASKS.get("commonsense_qa")().load(str(BUNDLED / "mc.dev.jsonl"))
    heldout = TASKS.get("jsonl")().load(str(BUNDLED / "heldout.dev.jsonl"))
    assert len(mc) == toyworld.DEFAULT_SIZES["mc"] and len(heldout) == toyworld.DEFAULT_SIZES["heldout"]
    # a training question looks exactly like the task's prompt input, so training teaches the evaluated format
    mc_train = [r for r in train if r["instruction"] == TASKS.get("commonsense_qa").instruction]
    assert mc_train and all(re.fullmatch(r"Answer: [A-E]", r["output"]) for r in mc_train)
    assert {example.question.count("\n") for example in mc} == {len(toyworld.LABELS)}


_LIST_QUESTION = re.compile(r"Which word (is in|comes first in) the list (.+)\?")
_CATEGORY_QUESTION = re.compile(r"Which of these is an? (\w+)\?")


def _correct_choices(stem: str, choices: list[str]) -> list[str]:
    """The choices that answer `stem` right, decided from the word lists alone (not by the generator's code)."""
    category = _CATEGORY_QUESTION.fullmatch(stem)
    if category:
        return [word for word in choices if word in toyworld.CATEGORIES[category.group(1)]]
    kind, items = _LIST_QUESTION.fullmatch(stem).groups()
    items = items.split(", ")
    return [word for word in choices if (word in items if kind == "is in" else word == items[0])]


def _mc_questions() -> list[tuple[str, list[str], str]]:
    """(stem, choices, gold letter) of every multiple-choice question, in training and evaluation."""
    questions = []
    for record in _read(BUNDLED / "mc.dev.jsonl"):
        choices = record["question"]["choices"]
        assert [c["label"] for c in choices] == list(toyworld.LABELS)
        questions.append((record["question"]["stem"], [c["text"] for c in choices], record["answerKey"]))
    for record in _read(BUNDLED / "train.jsonl"):
        if record["output"].startswith("Answer: "):
            stem, *lines = record["input"].split("\n")
            assert [line[:3] for line in lines] == [f"{label}. " for label in toyworld.LABELS]
            questions.append((stem, [line[3:] for line in lines], record["output"].removeprefix("Answer: ")))
    return questions


def test_every_multiple_choice_question_has_exactly_one_correct_choice_and_it_is_the_key():
    questions = _mc_questions()
    assert len(questions) > 500
    kinds = set()
    for stem, choices, gold in questions:
        assert len(set(choices)) == len(choices), stem
        correct = _correct_choices(stem, choices)
        assert len(correct) == 1, (stem, choices)
        assert choices[toyworld.LABELS.index(gold)] == correct[0], (stem, choices, gold)
        kinds.add(stem.split(" ")[1])
    assert kinds == {"of", "word"}
    # the keys are spread over the letters, so answering one letter always is not a strategy
    golds = [gold for _, _, gold in questions]
    assert all(golds.count(label) > len(golds) / 10 for label in toyworld.LABELS)


def test_text_answers_are_right_and_the_heldout_type_never_occurs_in_training():
    train = _read(BUNDLED / "train.jsonl")
    heldout = _read(BUNDLED / "heldout.dev.jsonl")
    for record in heldout:
        assert record["instruction"] == toyworld.HELDOUT_INSTRUCTION
        assert record["answer"] == record["input"].split(", ")[-1]
    checks = {
        "Reverse the order of the items in the list.": lambda items: ", ".join(items[::-1]),
        "Sort the items in the list alphabetically.": lambda items: ", ".join(sorted(items)),
        "Give the first item of the list.": lambda items: items[0],
    }
    instructions = set()
    for record in train:
        instructions.add(record["instruction"])
        items = record["input"].split(", ")
        if record["instruction"] in checks:
            assert record["output"] == checks[record["instruction"]](items), record
        elif record["instruction"].startswith("Name the "):
            category = record["instruction"].split(" ")[2]
            assert [w for w in items if w in toyworld.CATEGORIES[category]] == [record["output"]], record
        elif record["instruction"].startswith("Count the "):
            category = record["instruction"].split(" ")[2]
            assert record["output"] == str(sum(w in toyworld.CATEGORIES[category] for w in items)), record
        else:
            assert record["instruction"] == toyworld.MC_INSTRUCTION, record
    assert toyworld.HELDOUT_INSTRUCTION not in instructions
    assert set(checks) < instructions
    # every list has the same length, so each input of a kind is the same number of tokens (see toyworld)
    lists = [r["input"] for r in train + heldout if "\n" not in r["input"]]
    assert {len(text.split(", ")) for text in lists} == {toyworld.LIST_SIZE}


def test_no_evaluation_input_is_in_the_training_data():
    train_inputs = {(r["instruction"], r["input"]) for r in _read(BUNDLED / "train.jsonl")}
    mc = TASKS.get("commonsense_qa")().load(str(BUNDLED / "mc.dev.jsonl"))
    for example in mc:
        assert (TASKS.get("commonsense_qa").instruction, example.question) not in train_inputs
    for record in _read(BUNDLED / "heldout.dev.jsonl"):
        assert (record["instruction"], record["input"]) not in train_inputs


def test_a_draw_that_was_already_drawn_is_replaced():
    # the bundled world is too sparse for a collision to be likely, so the mechanism is tested on a tiny space
    seen = {"a"}
    draws = [
        toyworld._unique(random.Random(0), lambda rng: (rng.choice("abc"),), lambda d: d[0], seen)
        for _ in "12"
    ]
    assert sorted(draw[0] for draw in draws) == ["b", "c"] and seen == {"a", "b", "c"}


def test_bad_sizes_are_one_clear_line_and_exit_status_2(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "seqtune.toyworld", str(tmp_path / "w"), "--train", "0"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "--train: must be at least 1" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "w").exists()


# ---- end to end: the effect the demo shows, at a smaller size ----

SMALL_RUN = """
output_dir: {out}
seed: 0
augment:
  inputs: [{world}/train.jsonl]
  steps: [repeat]
  verbalization: seen
train:
  preset: {repo}/configs/paper/train/tiny.yaml
  template: {repo}/src/seqtune/samples/toyworld/prompt.json
  tiny_hidden_size: 96
  tiny_vocab_size: 512
  learning_rate: 1.0e-3
  global_batch_size: 4
  micro_batch_size: 4
  epochs: 4
  eval_steps: 100000  # no checkpoint on the way: this run is never resumed
  keep_best: false
  dev_size: 0
generate:
  max_new_tokens: 48
  batch_size: 32
eval:
  - task: commonsense_qa
    data: {world}/mc.dev.jsonl
    variants: [repeat]
stages: [augment, train, generate, score]
"""


@pytest.mark.slow
def test_sit_follows_repeat_then_answer_and_it_does_not(tmp_path):
    """Trained on the same toy world, only the model that saw sequential records writes a repeat of the input (its
    shape, at this size) before it answers. Seen failing when the labels mask the response instead of the prompt,
    and when sequential records lose their intermediate outputs; training on the prompt as well (no masking) still
    passes, so this does not catch that."""
    from seqtune.cli import main

    world = tmp_path / "world"
    toyworld.write_world(world, seed=1, sizes={"train": 600, "mc": 30, "heldout": 1})
    config = tmp_path / "run.yaml"
    config.write_text(SMALL_RUN.format(out=tmp_path / "run", world=world, repo=REPO), encoding="utf-8")
    assert main(["run", str(config)]) == 0

    def metrics(arm: str, variant: str) -> dict:
        path = tmp_path / "run" / "eval" / arm / "commonsense_qa" / "summary.json"
        return next(s["metrics"] for s in json.loads(path.read_text()) if s["variant"] == variant)

    sit, it = metrics("SIT", "repeat"), metrics("IT", "repeat")
    # measured: SIT 33%, IT 0% (30 questions); the IT model never saw "First ..., then ..." and answers at once
    assert it["following_rate"] <= 0.05, it
    assert sit["following_rate"] >= it["following_rate"] + 0.2, sit
