"""CommonsenseQA (Talmor et al., 2019), dev split (the paper reports on dev): 5-way multiple choice.

Input: the question, then one line per choice ("A. bank"). Answer: the committed choice letter
(`seqtune.metrics.answers.extract_choice`). Sources: a local JSONL in the original format (`dev_rand_split.jsonl`,
question.stem/choices), in the hub format (question/choices.label/choices.text/answerKey) or in the SIT authors'
evaluation format ("Question: …\nChoices: A:bank, B:library, …" with the answer key as output; example ids are
the records' positions, "0", "1", …), or a hub id (default `tau/commonsense_qa`, split `validation`) through
`datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import regex

from seqtune.errors import RecordError
from seqtune.metrics.answers import Extraction, extract_choice
from seqtune.records import record_position
from seqtune.sequential import InputView
from seqtune.tasks.base import TASKS, Example, Task, hub_rows, read_examples
from seqtune.tasks.sit_format import is_sit_format, sit_csqa_example

HUB_ID = "tau/commonsense_qa"
HUB_SPLIT = "validation"

_CHOICE_LINE = regex.compile(r"^([A-J])\. (.*)$", regex.MULTILINE)


def format_question(stem: str, choices: dict[str, str]) -> str:
    return "\n".join([stem, *(f"{label}. {text}" for label, text in choices.items())])


def choices_of(prediction: dict) -> dict[str, str]:
    """label → text, from the prediction's meta, else read back from the question's "A. …" lines."""
    choices = (prediction.get("meta") or {}).get("choices")
    if isinstance(choices, dict) and choices:
        return choices
    return dict(_CHOICE_LINE.findall(prediction.get("question") or ""))


@TASKS.register("commonsense_qa")
class CommonsenseQA(Task):
    name = "commonsense_qa"
    options = ("on_error", "split")
    accuracy_definition = "the committed choice letter equals the gold letter"
    instruction = "Answer the question in the input by selecting the correct choice."

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if source and Path(source).exists():
            return read_examples(source, options.get("on_error", "fail"), self._example)
        return self._read_hub(source or HUB_ID, options.get("split", HUB_SPLIT))

    def _read_hub(self, hub_id: str, split: str) -> list[Example]:
        return [self._example(row, hub_id, f"row {i}") for i, row in enumerate(hub_rows(hub_id, split=split))]

    def _example(self, record: dict, source: str, location: str) -> Example:
        if is_sit_format(record):  # the SIT authors' evaluation files (docs/generate.md)
            stem, choices, gold = sit_csqa_example(record, source, location)
            position = str(record_position(location))
            return Example(position, format_question(stem, choices), gold, meta={"choices": choices})
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

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        gold = prediction.get("gold")
        if not isinstance(gold, str) or gold not in choices_of(prediction):
            return (
                "gold",
                f"{gold!r} is not one of the example's choice labels (a prediction of another task?)",
            )
        return super().check_prediction(prediction)

    def input_view(self, prediction: dict) -> InputView:
        return InputView.of(prediction.get("question") or "", choices_of(prediction))

    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        return extract_choice(lines, choices_of(prediction))

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        return {"correct": answer is not None and answer == prediction.get("gold")}
