"""CommonsenseQA (Talmor et al., 2019), dev split (the paper reports on dev): 5-way multiple choice.

Input: the question, then one line per choice ("A. bank"). Answer: a choice letter, or a choice's text mapped to
its letter. Sources: a local JSONL in the original format (`dev_rand_split.jsonl`, question.stem/choices) or
in the hub format (question/choices.label/choices.text/answerKey), or a hub id (default `tau/commonsense_qa`,
split `validation`) through `datasets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import regex

from seqtune.errors import RecordError
from seqtune.records import ErrorPolicy, iter_json_records
from seqtune.tasks.base import TASKS, Example, Task, hub_rows

HUB_ID = "tau/commonsense_qa"
HUB_SPLIT = "validation"

_LETTER_ALONE = regex.compile(r"^\(?([A-J])\)?[.:)]?$")
_LETTER_THEN_TEXT = regex.compile(r"^\(?([A-J])[.:)]\s")
# "answer" in any case, then a capital letter that stands alone ("the answer is A bank" is not a letter answer)
_ANSWER_IS_LETTER = regex.compile(r"(?i:\banswer(?:\s+is)?)\s*[:：]?\s*\(?([A-J])\)?(?:[.:),]|\s*$)")
_CHOICE_LINE = regex.compile(r"^([A-J])\. (.*)$", regex.MULTILINE)


def format_question(stem: str, choices: dict[str, str]) -> str:
    return "\n".join([stem, *(f"{label}. {text}" for label, text in choices.items())])


def choices_of(prediction: dict) -> dict[str, str]:
    """label → text, from the prediction's meta, else read back from the question's "A. …" lines."""
    choices = (prediction.get("meta") or {}).get("choices")
    if isinstance(choices, dict) and choices:
        return choices
    return dict(_CHOICE_LINE.findall(prediction.get("question") or ""))


def extract_choice(text: str, choices: dict[str, str]) -> str | None:
    """A choice letter from an answer line, or None. In order:
    1. the line is a letter ("B", "(B)", "B.") or starts with one followed by punctuation ("B. library");
    2. "answer: B" / "the answer is B";
    3. the line is a choice's text, or contains exactly one choice's text as whole words.
    "A bank" (letter + space) is not read as choice A: the article "A" starts many sentences.
    """
    line = text.strip()
    labels = set(choices) or set("ABCDE")
    for pattern in (_LETTER_ALONE, _LETTER_THEN_TEXT):
        match = pattern.match(line)
        if match and match.group(1) in labels:
            return match.group(1)
    match = _ANSWER_IS_LETTER.search(line)
    if match and match.group(1) in labels:
        return match.group(1)
    folded = _fold(line)
    exact = [label for label, choice in choices.items() if _fold(choice) == folded]
    if len(exact) == 1:
        return exact[0]
    inside = [
        label for label, choice in choices.items() if _fold(choice) and f" {_fold(choice)} " in f" {folded} "
    ]
    return inside[0] if len(inside) == 1 else None


def _fold(text: str) -> str:
    return " ".join(regex.sub(r"[\p{P}\p{S}]+", " ", text.casefold()).split())


@TASKS.register("commonsense_qa")
class CommonsenseQA(Task):
    name = "commonsense_qa"
    instruction = "Answer the question in the input by selecting the correct choice."

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if source and Path(source).exists():
            return self._read_file(source, options.get("on_error", "fail"))
        return self._read_hub(source or HUB_ID, options.get("split", HUB_SPLIT))

    def _read_file(self, path: str, on_error: str) -> list[Example]:
        policy = ErrorPolicy(on_error)
        examples = []
        for location, record in iter_json_records(path, policy):
            try:
                examples.append(self._example(record, path, location))
            except RecordError as error:
                policy.handle(error)
        return examples

    def _read_hub(self, hub_id: str, split: str) -> list[Example]:
        return [self._example(row, hub_id, f"row {i}") for i, row in enumerate(hub_rows(hub_id, split=split))]

    def _example(self, record: dict, source: str, location: str) -> Example:
        question = record.get("question")
        bad_choices = RecordError(
            source, location, "bad_choices", "choices must be label/text strings", field="choices"
        )
        if isinstance(question, dict):  # original format: question.stem, question.choices[{label, text}]
            stem = question.get("stem")
            raw = question.get("choices") or []
            if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
                raise bad_choices
            choices = {c.get("label"): c.get("text") for c in raw}
        else:  # hub format: question, choices.label[], choices.text[]
            stem = question
            raw = record.get("choices") or {}
            if not isinstance(raw, dict):
                raise bad_choices
            choices = dict(zip(raw.get("label") or [], raw.get("text") or [], strict=False))
        if not isinstance(stem, str) or not stem.strip():
            raise RecordError(source, location, "missing_field", "missing question text", field="question")
        if not choices or not all(isinstance(k, str) and isinstance(v, str) for k, v in choices.items()):
            raise bad_choices
        gold = record.get("answerKey")
        if gold not in choices:
            raise RecordError(
                source,
                location,
                "missing_answer",
                f"answerKey {gold!r} is not a choice label",
                field="answerKey",
            )
        return Example(
            id=str(record.get("id", location)),
            question=format_question(stem, choices),
            gold=gold,
            meta={"choices": choices},
        )

    def extract_answer(self, text: str, prediction: dict) -> str | None:
        return extract_choice(text, choices_of(prediction))

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        return {"correct": answer is not None and answer == prediction.get("gold")}
