"""Reading a judge's reply: per response (following yes/no and a 1–5 score) and pairwise (which output is better).

Judges answer in many shapes: the JSON asked for (often in a code fence), "Following: yes\\nScore: 4",
"**Score:** 4/5", "Rating: [[5]]", "[[A]]", "Output (a)", "Tie". Every reply gets either a value or an explicit
invalid reason (a stable key the summary counts); nothing falls back to a default. Two different values for one
field ("Score: 3 ... Score: 4", "[[A]] ... [[B]]") are invalid, never a guess. docs/seqeval.md lists the rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import regex

SCALE = (1, 5)
"""The quality scale the prompts ask for."""
FIRST, SECOND, TIE = "first", "second", "tie"

_FENCE = regex.compile(r"```(?:json|JSON)?\s*(\{.*?\})\s*```", regex.DOTALL)
_YES = {"yes", "true", "y"}
_NO = {"no", "false", "n"}
# "Following: yes", "**Following:** Yes", "- following = no"; the label may say "followed" or "sub-tasks followed"
_FOLLOWING = regex.compile(
    r"(?im)^[\s*#>_-]*(?:\d+[.)]\s*)?[\s*_]*(?:all\s+)?(?:sub-?tasks?\s+)?follow(?:ing|ed|s)?[\s*_]*[:：=-][\s*_\[]*(yes|no|true|false)\b"
)
# "Score: 4", "**Score:** 4/5", "Rating: [[5]]", "Quality score = 3 out of 5"
_SCORE = regex.compile(
    r"(?im)\b(?:quality\s+)?(?:score|rating)[\s*_]*[:：=][\s*_\[]*(-?\d+(?:\.\d+)?)\]*"
    r"(?:\s*(?:/|out\s+of)\s*(\d+))?"
)
_NUMBER = regex.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*(?:(?:/|out\s+of)\s*(\d+))?\s*$")

# pairwise: "[[A]]", "[[B]]", "[[TIE]]" (and MT-bench's "[[C]]" for a tie)
_BRACKETED = regex.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", regex.IGNORECASE)
_VERDICT_LINE = regex.compile(
    r"(?im)^[\s*#>_-]*(?:final\s+)?(?:verdict|winner|decision|judg(?:e)?ment|"
    r"(?:better|preferred|best)(?:\s+(?:output|response))?)[\s*_]*[:：][\s*_]*(.+)$"
)
_PREFERENCE = regex.compile(
    r"(?i)\b(?:output|response)\s*\(?([ab])\)?\s+is\s+(?:clearly\s+|slightly\s+|much\s+)?"
    r"(?:better|preferred|superior|the\s+better\s+(?:one|output|response))\b"
)
_NAMED = regex.compile(r"(?i)(?:\b(?:output|response)\s*\(?([ab])\)?(?![\p{L}])|^\W*\(?([ab])\)?\W*$)")
# "A — B says the same": an upper-case or bracketed letter; a lower-case one is read as the article ("a tie")
_LEADING_LETTER = regex.compile(r"^[^\p{L}\p{N}(]*(?:\(([abAB])\)|([AB])(?![\p{L}\p{N}]))")
_TIE_WORDS = regex.compile(r"(?i)\b(?:tie|tied|equal(?:ly)?|neither|same)\b")
_SHORT_REPLY = 6
"""A reply of at most this many words is read whole as a verdict ("Output (a)", "Tie", "B")."""


@dataclass(frozen=True)
class SingleVerdict:
    following: bool | None
    score: float | None
    invalid_reason: str | None = None
    """None when both were read; else empty_reply, no_following, conflicting_following, no_score,
    conflicting_scores, wrong_scale (a score out of another maximum), score_out_of_range."""


@dataclass(frozen=True)
class PairVerdict:
    choice: str | None
    """FIRST, SECOND or TIE: the output shown first or second is better, or neither."""
    invalid_reason: str | None = None
    """None when read; else empty_reply, no_verdict, conflicting_verdicts."""


def _json_object(reply: str) -> dict | None:
    """The first JSON object in the reply (a fenced one first) that holds a verdict field, lower-cased keys."""
    candidates = [match.group(1) for match in _FENCE.finditer(reply)]
    decoder = json.JSONDecoder()
    candidates += [reply[i:] for i, char in enumerate(reply) if char == "{"]
    for text in candidates:
        try:
            value, _ = decoder.raw_decode(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            lowered = {str(key).lower(): item for key, item in value.items()}
            if {"following", "score", "winner", "verdict"} & set(lowered):
                return lowered
    return None


def _yes_no(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().strip("*").rstrip(".!").lower()
    return True if text in _YES else False if text in _NO else None


def _score(value: str, scale: str | None) -> tuple[float | None, str | None]:
    if scale is not None and int(scale) != SCALE[1]:
        return None, "wrong_scale"
    number = float(value)
    if not SCALE[0] <= number <= SCALE[1]:
        return None, "score_out_of_range"
    return number, None


def _one(values: list, missing: str, conflicting: str) -> tuple[object, str | None]:
    distinct = list(dict.fromkeys(values))
    if not distinct:
        return None, missing
    if len(distinct) > 1:
        return None, conflicting
    return distinct[0], None


def parse_single(reply: str) -> SingleVerdict:
    """Following and quality score of one response, or why they cannot be read."""
    if not reply.strip():
        return SingleVerdict(None, None, "empty_reply")
    found = _json_object(reply)
    if found is not None:
        followings = [] if "following" not in found else [_yes_no(found["following"])]
        raw = found.get("score")
        parts = None if raw is None or isinstance(raw, bool) else _NUMBER.match(str(raw))
        if raw is not None and parts is None:  # "score": "good"
            return SingleVerdict(None, None, "no_score")
        numbers = [] if parts is None else [(parts.group(1), parts.group(2))]
    else:
        followings = [_yes_no(match.group(1)) for match in _FOLLOWING.finditer(reply)]
        numbers = [(match.group(1), match.group(2)) for match in _SCORE.finditer(reply)]
    if None in followings:  # a JSON "following" that is neither yes nor no
        return SingleVerdict(None, None, "no_following")
    following, reason = _one(followings, "no_following", "conflicting_following")
    if reason:
        return SingleVerdict(None, None, reason)
    chosen, reason = _one(numbers, "no_score", "conflicting_scores")
    if reason:
        return SingleVerdict(None, None, reason)
    score, reason = _score(*chosen)  # type: ignore[misc]
    if reason:
        return SingleVerdict(None, None, reason)
    return SingleVerdict(bool(following), score)


def _choice_in(text: str) -> str | None:
    """The one verdict a short text names: exactly one of the outputs (named, or a letter the text opens with:
    "A — B says the same, less clearly"), else a tie word; None otherwise."""
    named = {(match.group(1) or match.group(2)).lower() for match in _NAMED.finditer(text)}
    if not named:
        leading = _LEADING_LETTER.match(text)
        named = {(leading.group(1) or leading.group(2)).lower()} if leading else set()
    tie = _TIE_WORDS.search(text) is not None
    if len(named) == 1:
        return FIRST if named == {"a"} else SECOND
    if named:  # both outputs named: "(a) and (b) are the same" is a tie, "(a), no, (b)" a conflict
        return TIE if tie else "both"
    return TIE if tie else None


def parse_pair(reply: str) -> PairVerdict:
    """Which of two outputs the judge prefers (FIRST / SECOND / TIE), or why that cannot be read."""
    if not reply.strip():
        return PairVerdict(None, "empty_reply")
    label = {"a": FIRST, "b": SECOND, "c": TIE, "tie": TIE}
    choices = [label[match.group(1).lower()] for match in _BRACKETED.finditer(reply)]
    if not choices:
        found = _json_object(reply)
        if found is not None:
            choices = [_choice_in(str(found.get("winner", found.get("verdict", ""))))]
    if not choices:
        choices = [_choice_in(match.group(1)) for match in _VERDICT_LINE.finditer(reply)]
    if not choices and len(reply.split()) <= _SHORT_REPLY:
        choices = [_choice_in(reply)]
    if not choices:
        choices = [
            FIRST if match.group(1).lower() == "a" else SECOND for match in _PREFERENCE.finditer(reply)
        ]
    choices = [choice for choice in choices if choice is not None]
    if "both" in choices:
        return PairVerdict(None, "conflicting_verdicts")
    choice, reason = _one(choices, "no_verdict", "conflicting_verdicts")
    return PairVerdict(choice, reason)  # type: ignore[arg-type]
