"""Content checks behind the following rate: did a segment do what its step asked?

A response is "followed" when every step has a non-empty segment that passes its check below and the final answer
parses (score.py combines them). Thresholds are documented in docs/metrics.md and set from ScoreConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from seqtune.metrics.rouge import rouge_l
from seqtune.metrics.tokenize import rouge_tokens

_LETTER = regex.compile(r"\p{L}")
_LATIN_LETTER = regex.compile(r"\p{Latin}")
# Frequent English function words: a translation into English of any sentence of a few words contains some.
_ENGLISH_STOPWORDS = frozenset(
    "the a an of to in on at for by with from and or but is are was were be been has have had it its this that "
    "these those what which who whom whose when where why how not no do does did as than then there their they "
    "he she his her we you i can will would should could".split()
)


@dataclass(frozen=True)
class FollowingThresholds:
    repeat_min_rouge_l: float = 0.5
    """A repetition must reach this ROUGE-L F against the input (near-verbatim copies score ~1)."""
    paraphrase_min_rouge_l: float = 0.2
    """A paraphrase must reach this ROUGE-L F against the input: related, not required identical."""
    english_min_latin_share: float = 0.8
    """A translation into English must have at least this share of Latin letters among its letters..."""
    english_min_stopword_share: float = 0.15
    """... and, when it has at least `english_stopword_min_tokens` tokens, this share of English function words
    (English prose has ~30-40%; German, Spanish or Vietnamese text that shares a few words stays under 10%)."""
    english_stopword_min_tokens: int = 4
    """Shorter segments (names, numbers) are judged by their script alone."""


def is_english(text: str, thresholds: FollowingThresholds = FollowingThresholds()) -> bool:
    """Script + stopword heuristic (no language-ID model): Latin letters and some English function words."""
    letters = len(_LETTER.findall(text))
    if letters == 0:
        return False
    if len(_LATIN_LETTER.findall(text)) / letters < thresholds.english_min_latin_share:
        return False
    tokens = rouge_tokens(text)
    if len(tokens) < thresholds.english_stopword_min_tokens:
        return True
    stopwords = sum(token in _ENGLISH_STOPWORDS for token in tokens)
    return stopwords / len(tokens) >= thresholds.english_min_stopword_share


def step_done(
    step: str, segment: str, source: str, thresholds: FollowingThresholds = FollowingThresholds()
) -> bool:
    """Whether `segment` carries out `step` on `source` (the example's input). Unknown steps: non-empty suffices."""
    if not segment.strip():
        return False
    if step == "repeat":
        return rouge_l(source, segment).fmeasure >= thresholds.repeat_min_rouge_l
    if step == "paraphrase":
        return rouge_l(source, segment).fmeasure >= thresholds.paraphrase_min_rouge_l
    if step == "translate":
        return is_english(segment, thresholds)
    return True
