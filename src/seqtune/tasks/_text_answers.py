"""Answer handling shared by tasks whose gold is one or more answer strings (xquad, jsonl)."""

from __future__ import annotations

from typing import Any

from seqtune.metrics.squad import answer_contained, best_over_golds, exact_match, token_f1
from seqtune.metrics.tokenize import squad_normalize


def golds_of(prediction: dict) -> list[str]:
    gold = prediction.get("gold")
    if isinstance(gold, str):
        return [gold]
    return [g for g in gold or [] if isinstance(g, str)]


def extract_text_answer(text: str) -> str | None:
    """The answer line as it is; a line with nothing left after SQuAD normalization (empty, only punctuation or
    articles) is no answer, so that degenerate output never counts as a followed instruction."""
    answer = text.strip()
    return answer if squad_normalize(answer) else None


def text_answer_metrics(answer: str | None, prediction: dict) -> dict[str, Any]:
    """SQuAD EM and F1 (official definition) and the paper's lenient "answer contained"; correct = EM."""
    if answer is None:
        return {"correct": False, "exact_match": 0.0, "f1": 0.0, "answer_contained": 0.0}
    golds = golds_of(prediction)
    em = best_over_golds(exact_match, answer, golds)
    return {
        "correct": em == 1.0,
        "exact_match": em,
        "f1": best_over_golds(token_f1, answer, golds),
        "answer_contained": best_over_golds(answer_contained, answer, golds),
    }
