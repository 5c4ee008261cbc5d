"""Answer handling shared by tasks whose gold is one or more answer strings (xquad, jsonl)."""

from __future__ import annotations

from typing import Any

from seqtune.metrics.answers import NO_ANSWER, Extraction, extract_span
from seqtune.metrics.squad import answer_contained, best_over_golds, exact_match, token_f1
from seqtune.metrics.tokenize import squad_normalize
from seqtune.tasks.base import Metric

TEXT_METRICS = (
    Metric("exact_match", "exact_match", "SQuAD v1.1 exact match vs the gold in use, max over golds"),
    Metric("f1", "f1", "SQuAD v1.1 token F1 vs the gold in use, max over golds"),
    Metric(
        "answer_contained",
        "answer_contained",
        "the paper's lenient accuracy: the normalized gold is contained in the extracted answer",
    ),
)
TEXT_ACCURACY = (
    "the paper's lenient measure: the normalized gold (any of the golds in use) is contained in the extracted "
    "answer; an empty answer never counts"
)


def golds_of(gold: Any) -> list[str]:
    if isinstance(gold, str):
        return [gold]
    return [g for g in gold or [] if isinstance(g, str)]


def check_text_gold(prediction: dict) -> tuple[str, str] | None:
    """Text tasks' predictions carry their gold as a list of answer strings (a bare string is another task's)."""
    gold = prediction.get("gold")
    if isinstance(gold, list) and gold and all(isinstance(g, str) for g in gold):
        return None
    return "gold", f"expected a list of answer strings, got {gold!r} (a prediction of another task?)"


def extract_text_answer(lines: list[str]) -> Extraction:
    """The answer text; one with nothing left after SQuAD normalization (only punctuation or articles) is none."""
    extraction = extract_span(lines)
    if extraction.answer is not None and not squad_normalize(extraction.answer):
        return NO_ANSWER
    return extraction


def text_answer_metrics(answer: str | None, golds: list[str]) -> dict[str, Any]:
    """SQuAD EM and F1 (official definition) and the paper's lenient "gold contained in the answer"."""
    if answer is None:
        return {"exact_match": 0.0, "f1": 0.0, "answer_contained": 0.0}
    return {
        "exact_match": best_over_golds(exact_match, answer, golds),
        "f1": best_over_golds(token_f1, answer, golds),
        "answer_contained": best_over_golds(answer_contained, answer, golds),
    }
