"""Extractive-QA metrics: SQuAD v1.1 exact match and token F1, and the paper's lenient "answer contained".

EM and F1 follow the official SQuAD v1.1 `evaluate-v1.1.py` (normalize, compare / token-overlap F1, maximum over
the gold answers); on English text they give the official numbers. For other scripts the normalization also
removes Unicode punctuation and F1 counts Chinese/Japanese characters as tokens (those
scripts do not put spaces between words, so whitespace tokens would make F1 all-or-nothing). Thai, Lao, Khmer and
Myanmar are tokenized on whitespace, as the official script does: their characters are letters of words, not
words, and per-character F1 would give unrelated answers partial credit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import regex

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
    """The paper's lenient accuracy: the gold answer is inside the prediction, compared after SQuAD normalization.

    An empty prediction contains nothing (the reference code counted an empty output as correct, since "" is
    inside every string), and a prediction inside the gold does not count: "the" or "1" would match most golds.
    """
    predicted, expected = squad_normalize(prediction), squad_normalize(gold)
    if not predicted or not expected:
        return 0.0
    start = predicted.find(expected)
    while start != -1:
        end = start + len(expected)
        if not _continues_word(predicted[start - 1 : start]) and not _continues_word(
            predicted[end : end + 1]
        ):
            return 1.0
        start = predicted.find(expected, start + 1)
    return 0.0


# A character that continues a word: "1000" is not inside "10000", nor "art" inside "party". Characters of scripts
# written without spaces (Chinese, Thai ...) never separate words, so they do not count: "2018" is in "2018年".
_WORD_CHAR = regex.compile(
    r"(?V1)[[\p{L}\p{N}]--[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]]"
)


def _continues_word(character: str) -> bool:
    return bool(character) and _WORD_CHAR.match(character) is not None


def best_over_golds(metric, prediction: str, golds: Sequence[str]) -> float:
    """The official "max over ground truths"; no gold answers scores 0."""
    return max((metric(prediction, gold) for gold in golds), default=0.0)
