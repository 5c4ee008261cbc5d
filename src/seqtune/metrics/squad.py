"""Extractive-QA metrics: SQuAD v1.1 exact match and token F1, and the paper's lenient "answer contained".

EM and F1 follow the official SQuAD v1.1 `evaluate-v1.1.py` (normalize, compare / token-overlap F1, maximum over
the gold answers); on English text they give the official numbers. For other scripts the normalization also
removes Unicode punctuation and F1 counts characters of Chinese/Japanese/Thai-like scripts as tokens (those
scripts do not put spaces between words, so whitespace tokens would make F1 all-or-nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from seqtune.metrics.tokenize import squad_normalize, squad_tokens


def exact_match(prediction: str, gold: str) -> float:
    return float(squad_normalize(prediction) == squad_normalize(gold))


def token_f1(prediction: str, gold: str) -> float:
    predicted = squad_tokens(squad_normalize(prediction))
    expected = squad_tokens(squad_normalize(gold))
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def answer_contained(prediction: str, gold: str) -> float:
    """The paper's lenient accuracy: the gold answer is inside the prediction, or the prediction inside the gold.

    Compared after SQuAD normalization. An empty prediction contains nothing (the reference code counted an
    empty output as correct, since "" is inside every string).
    """
    predicted, expected = squad_normalize(prediction), squad_normalize(gold)
    if not predicted or not expected:
        return 0.0
    return float(expected in predicted or predicted in expected)


def best_over_golds(metric, prediction: str, golds: Sequence[str]) -> float:
    """The official "max over ground truths"; no gold answers scores 0."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)
