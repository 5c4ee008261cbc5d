"""Any JSONL (or JSON array) of {"instruction", "input", "answer"} records, scored like extractive QA.

`answer` is a string or a list of acceptable strings; optional `id` and `lang`. The record's instruction is the
task instruction (sequential variants put their steps before it) and its input is what the steps act on.
"""

from __future__ import annotations

from typing import Any

from seqtune.errors import ConfigError, RecordError
from seqtune.metrics.answers import Extraction
from seqtune.records import require_str
from seqtune.tasks._text_answers import (
    TEXT_ACCURACY,
    TEXT_METRICS,
    check_text_gold,
    extract_text_answer,
    golds_of,
    text_answer_metrics,
)
from seqtune.tasks.base import CHAINS_WITH_TRANSLATE, TASKS, Example, Task, read_examples


@TASKS.register("jsonl")
class GenericJsonl(Task):
    name = "jsonl"
    chains = CHAINS_WITH_TRANSLATE
    metrics = TEXT_METRICS
    accuracy_definition = TEXT_ACCURACY

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if not source:
            raise ConfigError("task 'jsonl' needs a data file (data=path/to/file.jsonl)")
        return read_examples(source, options.get("on_error", "fail"), self._example)

    def _example(self, record: dict, source: str, location: str) -> Example:
        instruction = require_str(record, "instruction", source, location)
        input_text = require_str(record, "input", source, location, allow_missing=True)
        answer = record.get("answer")
        golds = [answer] if isinstance(answer, str) else answer
        if not isinstance(golds, list) or not golds or not all(isinstance(g, str) for g in golds):
            raise RecordError(
                source, location, "missing_answer", "expected a string or a list of strings", field="answer"
            )
        lang = record.get("lang", "en")
        if not isinstance(lang, str):
            raise RecordError(source, location, "wrong_type", "expected a string", field="lang")
        return Example(str(record.get("id", location)), input_text, golds, lang, {"instruction": instruction})

    def instruction_for(self, example: Example) -> str:
        return example.meta["instruction"]

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        return check_text_gold(prediction) or super().check_prediction(prediction)

    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        return extract_text_answer(lines)

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        metrics = text_answer_metrics(answer, golds_of(prediction.get("gold")))
        return {**metrics, "correct": metrics["answer_contained"] == 1.0}
