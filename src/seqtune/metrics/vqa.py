"""The official VQA accuracy and GQA exact match — pure functions, no model, no data files.

Re-implemented from the rules of the official evaluation script (GT-Vision-Lab/VQA,
`PythonEvaluationTools/vqaEvaluation/vqaEval.py`), so that numbers compare with published ones:

- A response answer is normalized in two passes. Punctuation: each of ``; : / ' [ ] " ( ) = + \\ _ > < @ ` , ?``
  is deleted when the text has that mark next to a space (or has a number written with a comma, "1,000"),
  else replaced by a space; then every period not followed by a digit is deleted ("2.5" keeps its period).
  Words: lower-cased, number words "none"/"zero" … "ten" become digits, the articles a/an/the are dropped, and
  contractions written without their apostrophe become the contraction ("dont" → "don’t", with the script's
  typographic apostrophe).
- Human answers are only punctuation-normalized, and only when the ten are not all the same (the official
  annotations are already normalized by the collection pipeline).
- Accuracy: for each of the n human answers left out in turn, min(#other humans who gave the response / 3, 1);
  the mean over the n subsets. With 10 answers, a response matching k humans scores 0.3 (k=1), 0.6 (k=2),
  0.9 (k=3), 1 (k≥4).

Two quirks of the script are kept on purpose, because they change numbers: the period rule's
`"(?!<=\\d)(\\.)(?!\\d)"` has a typo for a look-behind, so only "not followed by a digit" applies; and
`re.UNICODE` is passed where the count goes, so at most 32 periods are deleted. Its contraction keys that start
with a capital ("Im", "Ive") never match lower-cased text, so they are left out here.

GQA: exact match of the fully normalized response with the fully normalized gold (as LLaVA and LAVIS score GQA
with the same answer processor).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

PUNCTUATION = (";", ":", "/", "'", "[", "]", '"', "(", ")", "=", "+", "\\", "_", ">", "<", "@", "`", ",", "?")
_NUMBER_WITH_COMMA = re.compile(r"\d,\d")
_PERIOD = re.compile(r"\.(?!\d)")
_OFFICIAL_PERIOD_COUNT = 32  # the script passes re.UNICODE (= 32) as `count`
NUMBER_WORDS = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES = frozenset({"a", "an", "the"})
HUMANS_FOR_FULL_CREDIT = 3

# The contractions the script restores. It writes most with a typographic apostrophe and these few with "'".
_PLAIN_APOSTROPHE = "ain't aren't can't could've couldn't we've where's who've"
_TYPOGRAPHIC = """couldn't've didn't doesn't don't hadn't hadn't've hasn't haven't he'd he'd've he's how'd how'll
how's isn't it'd it'd've it'll ma'am mightn't mightn't've might've mustn't must've needn't not've o'clock oughtn't
'ow's'at shan't she'd've should've shouldn't shouldn't've somebody'd've somebody'll somebody's someone'd
someone'd've someone'll someone's something'd something'd've something'll that's there'd there'd've there're
there's they'd they'd've they'll they're they've 'twas wasn't we'd've weren't what'll what're what's what've when's
where'd where've who'd who'd've who'll who's why'll why're why's won't would've wouldn't wouldn't've y'all y'all'll
y'all'd've you'd you'd've you'll you're you've"""


def _contraction_keys(form: str) -> list[str]:
    """The spellings the script maps to `form`: with one apostrophe, the form without it; with several, the
    form with any one of them left out ("couldn’t’ve" ← "couldnt’ve", "couldn’tve")."""
    marks = [index for index, char in enumerate(form) if char == "’" or char == "'"]
    return [form[:index] + form[index + 1 :] for index in marks]


def _contractions() -> dict[str, str]:
    table = {}
    for form in _PLAIN_APOSTROPHE.split():
        table.update(dict.fromkeys(_contraction_keys(form), form))
    for form in _TYPOGRAPHIC.replace("'", "’").split():
        table.update(dict.fromkeys(_contraction_keys(form), form))
    return table


CONTRACTIONS = _contractions()


def normalize_punctuation(text: str) -> str:
    """The script's punctuation pass (module docstring); whether a mark is deleted or becomes a space is decided
    on the whole input text, as the script does."""
    drop = bool(_NUMBER_WITH_COMMA.search(text))
    out = text
    for mark in PUNCTUATION:
        if drop or f"{mark} " in text or f" {mark}" in text:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=_OFFICIAL_PERIOD_COUNT)


def normalize_words(text: str) -> str:
    """The script's word pass: lower case, number words → digits, no articles, contractions restored."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    return " ".join(CONTRACTIONS.get(word, word) for word in words if word not in ARTICLES)


def normalize_answer(text: str) -> str:
    """A response's answer as the official evaluation compares it. (The script also turns newlines and tabs into
    spaces first; the word pass splits on any white space, so that changes nothing.)"""
    return normalize_words(normalize_punctuation(text))


def vqa_accuracy(answer: str, human_answers: Sequence[str]) -> float:
    """The official VQA accuracy of `answer` against the human answers (10 in VQAv2)."""
    if not human_answers:
        raise ValueError("VQA accuracy needs at least one human answer")
    response = normalize_answer(answer)
    humans = list(human_answers)
    if len(set(humans)) > 1:
        humans = [normalize_punctuation(human) for human in humans]
    matches = [human == response for human in humans]
    total = sum(matches)
    # leaving out human i leaves total - matches[i] matching answers among the others
    scores = [min(1.0, (total - own) / HUMANS_FOR_FULL_CREDIT) for own in matches]
    return sum(scores) / len(scores)


def gqa_exact_match(answer: str, golds: Sequence[str]) -> float:
    """1.0 when the normalized answer equals a normalized gold answer, else 0.0."""
    response = normalize_answer(answer)
    return float(any(normalize_answer(gold) == response for gold in golds))
