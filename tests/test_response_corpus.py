"""The scorer against responses written the way real models write, each labelled by a person who read it
(tests/fixtures/responses/README.md): corpus.jsonl (377) and heldout.jsonl (189, written apart by another
labeller who never read the scorer). At least 98% agreement on every label in each; every disagreement is
printed."""

import json
from pathlib import Path

import pytest

from seqtune.metrics.tokenize import squad_normalize
from seqtune.score import ScoreOptions
from seqtune.tasks import TASKS

CORPORA = Path(__file__).resolve().parent / "fixtures" / "responses"
FILES = ("corpus.jsonl", "heldout.jsonl")
MIN_AGREEMENT = 0.98


def _items(name: str) -> list[dict]:
    text = (CORPORA / name).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _scored(name: str) -> list[tuple[dict, dict]]:
    tasks = {}
    pairs = []
    for item in _items(name):
        task = tasks.setdefault(item["task"], TASKS.get(item["task"])())
        pairs.append((item, task.score(item, ScoreOptions())))
    return pairs


def _same_answer(item: dict, label, answer) -> bool:
    if item["task"] != "xquad" or label is None or answer is None:
        return label == answer
    return squad_normalize(label) == squad_normalize(answer)


def _label_checks(item: dict, record: dict) -> dict[str, tuple]:
    """label name → (labelled, scored, agree)."""
    label = item["label"]
    checks = {
        "answer": (label["answer"], record["answer"], _same_answer(item, label["answer"], record["answer"])),
        "attempted": (label["attempted"], record["attempted"], label["attempted"] == record["attempted"]),
        "followed": (label["followed"], record["followed"], label["followed"] == record["followed"]),
    }
    for name in ("repeated", "answered"):
        if name in label:
            checks[name] = (label[name], record[name], label[name] == record[name])
    for name in ("correct", "correct_en"):
        if name in label:
            checks[name] = (label[name], record["correct"], label[name] == record["correct"])
    return checks


def test_corpus_is_large_and_varied():
    items = [item for name in FILES for item in _items(name)]
    assert len(items) >= 500 and len({item["id"] for item in items}) == len(items)
    assert {item["task"] for item in items} == {"probe", "commonsense_qa", "xquad"}
    assert {item["variant"] for item in items} >= {
        "probe",
        "plain",
        "repeat",
        "paraphrase",
        "repeat_paraphrase",
        "translate",
    }


@pytest.fixture(scope="module", params=FILES)
def agreement(request):
    per_label: dict[str, list[bool]] = {}
    disagreements: list[str] = []
    for item, record in _scored(request.param):
        for name, (labelled, scored, agree) in _label_checks(item, record).items():
            per_label.setdefault(name, []).append(agree)
            if not agree:
                disagreements.append(
                    f"{item['id']} {name}: labelled {labelled!r}, scored {scored!r} "
                    f"(rule {record['answer_rule']}, segments {record['segments']!r}) "
                    f"response={item['response'][-160:]!r}"
                )
    print("\n".join(disagreements))
    return {name: sum(values) / len(values) for name, values in per_label.items()}, disagreements


@pytest.mark.parametrize(
    "name", ["answer", "attempted", "followed", "repeated", "answered", "correct", "correct_en"]
)
def test_agreement_with_the_labels(agreement, name):
    rates, disagreements = agreement
    assert rates[name] >= MIN_AGREEMENT, f"{name}: {rates[name]:.3f} agreement\n" + "\n".join(
        line for line in disagreements if f" {name}:" in line
    )
