"""ROUGE-L (sentence level, F-measure) on the Unicode-aware tokens of `tokenize.rouge_tokens`.

Same definition as rouge_score's `rougeL` without stemming: precision = LCS / candidate tokens, recall = LCS /
reference tokens, F = 2PR / (P + R). The LCS length is computed bit-parallel (Hyyrö 2004) on Python integers,
which makes it ~50× faster than the dynamic-programming table and is what lets 10,000 predictions score in
seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from seqtune.metrics.tokenize import rouge_tokens


@dataclass(frozen=True)
class RougeScore:
    precision: float
    recall: float
    fmeasure: float


def lcs_length(first: Sequence[str], second: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists."""
    if len(first) < len(second):
        first, second = second, first  # the bit vector runs over the longer list: fewer loop iterations
    if not second:
        return 0
    positions: dict[str, int] = {}
    for index, token in enumerate(first):
        positions[token] = positions.get(token, 0) | (1 << index)
    all_ones = (1 << len(first)) - 1
    vector = all_ones
    for token in second:
        matches = vector & positions.get(token, 0)
        vector = ((vector + matches) | (vector - matches)) & all_ones
    return len(first) - vector.bit_count()


def rouge_l_tokens(reference: Sequence[str], candidate: Sequence[str]) -> RougeScore:
    if not reference or not candidate:
        return RougeScore(0.0, 0.0, 0.0)
    common = lcs_length(reference, candidate)
    if common == 0:
        return RougeScore(0.0, 0.0, 0.0)
    precision = common / len(candidate)
    recall = common / len(reference)
    return RougeScore(precision, recall, 2 * precision * recall / (precision + recall))


@lru_cache(maxsize=4096)
def rouge_l(reference: str, candidate: str) -> RougeScore:
    """ROUGE-L of `candidate` against `reference` (argument order as rouge_score's `score(target, prediction)`)."""
    return rouge_l_tokens(rouge_tokens(reference), rouge_tokens(candidate))
