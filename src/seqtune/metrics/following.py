"""Per-step checks: is there an output for the step (following, as the paper defines it), and is it a good one
(the separate "faithful" rate)? Thresholds are documented in docs/metrics.md and set from ScoreConfig.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from seqtune.metrics.rouge import rouge_l
from seqtune.metrics.tokenize import rouge_tokens
from seqtune.sequential import REPRODUCTION_MIN_PRECISION, STEP_OUTPUT_MIN_TOKENS

_LETTER = regex.compile(r"(\p{Latin})|\p{L}")
# Frequent English function words: a translation into English of any sentence of a few words contains some.
_ENGLISH_STOPWORDS = frozenset(
    "the a an of to in on at for by with from and or but is are was were be been has have had it its this that "
    "these those what which who whom whose when where why how not no do does did as than then there their they "
    "he she his her we you i can will would should could".split()
)


@dataclass(frozen=True)
class FollowingThresholds:
    """Thresholds of the per-step checks (docs/metrics.md explains each value)."""

    repeat_min_rouge_l: float = 0.8
    """A faithful repetition reaches this ROUGE-L F against the input (a near-verbatim copy)."""
    paraphrase_min_rouge_l: float = 0.2
    """A faithful paraphrase reaches this ROUGE-L F against the input (it is about the input) ..."""
    paraphrase_max_rouge_l: float = 0.9
    """... and less than this share of its tokens come from the input in order (ROUGE-L precision): a verbatim
    copy, whole or partial, is an output but not a paraphrase."""
    translation_min_rouge_l: float = 0.3
    """A faithful translation reaches this ROUGE-L F against the reference English input, where it is known."""
    english_min_latin_share: float = 0.8
    """A translation into English must have at least this share of Latin letters among its letters..."""
    english_min_stopword_share: float = 0.15
    """... and, when it has at least `english_stopword_min_tokens` tokens, this share of English function words
    (English prose has ~30-40%; German, Spanish or Vietnamese text that shares a few words stays under 10%)."""
    english_stopword_min_tokens: int = 4
    """Shorter segments (names, numbers) are judged by their script alone."""
    output_min_overlap: float = 0.2
    """A translation shares at least this share of its tokens, in order, with the reference English input: it is
    about the input, not a preamble or an unrelated line."""


@lru_cache(maxsize=4096)
def latin_share(text: str) -> float:
    """Share of Latin letters among the letters of `text` (0 for text without letters)."""
    letters = _LETTER.findall(text)  # one pass: each letter, or "" for a non-Latin one
    return sum(map(bool, letters)) / len(letters) if letters else 0.0


def is_english(text: str, thresholds: FollowingThresholds = FollowingThresholds()) -> bool:
    """Script + stopword heuristic (no language-ID model): Latin letters and some English function words."""
    if latin_share(text) < thresholds.english_min_latin_share:
        return False
    tokens = rouge_tokens(text)
    if len(tokens) < thresholds.english_stopword_min_tokens:
        return True
    stopwords = sum(token in _ENGLISH_STOPWORDS for token in tokens)
    return stopwords / len(tokens) >= thresholds.english_min_stopword_share


def has_output(step: str, segment: str, source: str, expected: str, thresholds: FollowingThresholds) -> bool:
    """Whether `segment` is an output for `step` at all — the paper's following asks only this, whatever its quality.

    repeat: the segment comes from the input (a copy, possibly partial, reformatted or on one line); paraphrase:
    a few words of text in its place (the analysis never puts an answer or a label there); translate: English text about the input (a text left in the source language, or a
    preamble such as "Here is the translation:" alone, is not a translation); other steps: non-empty.
    """
    if not segment.strip():
        return False
    if step == "repeat":
        return rouge_l(source, segment).precision >= REPRODUCTION_MIN_PRECISION
    if step == "paraphrase":
        return len(rouge_tokens(segment)) >= STEP_OUTPUT_MIN_TOKENS  # a restatement, however free
    if step == "translate":
        if not expected:
            return is_english(segment, thresholds)
        # names and numbers make some English passages poor in function words: the overlap with the reference
        # English input, in Latin script, is the stronger sign that the segment is its translation
        return latin_share(segment) >= thresholds.english_min_latin_share and (
            rouge_l(expected, segment).precision >= thresholds.output_min_overlap
        )
    return True


def is_faithful(step: str, segment: str, source: str, expected: str, thresholds: FollowingThresholds) -> bool:
    """Whether the output is a good one (reported apart from following): a near-verbatim repetition, a paraphrase
    that is related but not a copy, an English translation close to the reference."""
    if not segment.strip():
        return False
    if step == "repeat":
        return rouge_l(expected or source, segment).fmeasure >= thresholds.repeat_min_rouge_l
    if step == "paraphrase":
        similarity = rouge_l(source, segment)
        return (
            similarity.fmeasure >= thresholds.paraphrase_min_rouge_l
            and similarity.precision < thresholds.paraphrase_max_rouge_l
        )
    if step == "translate":
        if not is_english(segment, thresholds):
            return False
        return not expected or rouge_l(expected, segment).fmeasure >= thresholds.translation_min_rouge_l
    return True
