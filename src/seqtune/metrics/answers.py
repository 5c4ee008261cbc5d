"""Answer extraction: the committed answer in the answer lines of a response, by an ordered list of named rules.

Input lines come from `seqtune.sequential.answer_lines`, so text that reproduces the input (the question, the
choice listing) is already gone. The first committed answer wins — an explanation after it does not replace it —
and two different committed answers make the response invalid (never a match). Every result names the rule that
matched, so a surprising score can be traced to one line of this file. docs/metrics.md lists the rules.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from seqtune.metrics.tokenize import rouge_tokens
from seqtune.sequential import contains_run, find_marker, find_markers

REFUSAL = regex.compile(
    r"(?i)(?:\bI(?:'m|\s+am)\s+(?:unable|not\s+able)\s+to|\bI\s+(?:cannot|can't|can\s+not|don't\s+know|do\s+not\s+know)"
    r"|không\s+thể\s+trả\s+lời|无法回答|不能回答|не\s+могу\s+ответить|لا\s+أستطيع|ไม่สามารถตอบ"
    r"|kann\s.*nicht\s+beantworten|no\s+puedo\s+responder|\bI'm\s+sorry\b|\bI\s+apologi[sz]e\b"
    r"|\bnot\s+comfortable\s+answering|\bI\s+(?:won't|will\s+not)\s+(?:choose|answer|pick)|\bas\s+an\s+AI\b"
    r"|(?:not|no)\s+(?:enough\s+)?information|(?:does\s+not|doesn't|do\s+not|don't)\s+"
    r"(?:say|mention|specify|state|provide|contain)|not\s+(?:mentioned|stated|specified|provided|given)\b"
    r"|none\s+of\s+the\s+(?:choices|options|above|answers))"
)
# Lines that are pleasantries, not answers ("Sure! Let me find the answer.", "I hope this helps!").
FILLER = regex.compile(
    r"(?i)^\W*(?:(?:sure|certainly|of\s+course|okay|ok|great)\b[!.,]*\s*)?"
    r"(?:I\s+hope\s+(?:this|that)\s+helps|let\s+me\b|here\s+(?:is|are)\b|I(?:'ll|\s+will)\b|happy\s+to\s+help"
    r"|the\s+question\s+(?:asks|is\s+asking|is\s+about)\b|answer\s+the\s+question\b|please\b)"
)
# "is not D", "isn't D": a denial, not a commitment.
_NEGATED = regex.compile(r"^\s*(?:not\b|n't\b)", regex.IGNORECASE)
_LETTER_AFTER = regex.compile(
    r"^\s*(?:option\s+|choice\s+|letter\s+)?[\(\[*]*([A-Ja-j])[\)\]*]*(?=$|[\s.,:;!)\]*])"
)
_LONE_LETTER = regex.compile(r"(?i:^\s*(?:option|choice|letter)?)\s*[\(\[*]*([A-Ja-j])[\)\]*]*[.!]?\s*$")
_LETTER_LED = regex.compile(r"^\s*[\(\[*]*([A-J])[\)\]*]*\s*[.):：-]\s*(.+)$")
_PARENTHESIZED = regex.compile(r"\(([A-J])\)")
_HEDGE = regex.compile(
    r"(?i:\b(?:it'?s|it\s+is|I(?:'d|\s+would)?\s+(?:think|believe|guess|say|choose|pick|select|go\s+with)"
    r"|probably|likely|maybe|perhaps))\s+(?:(?i:it'?s|it\s+is|option|choice)\s+)?\(?([A-J])\)?(?=$|[\s.,:;!)])"
)
_WORDS_FOLLOW = regex.compile(r"^\s+\p{L}")
_WORD = regex.compile(r"[\p{L}\p{N}\p{M}]+")
_SENTENCE_BREAK = regex.compile(r"(?<=[.!?])\s|\n")
_FINAL_PERIOD = regex.compile(r"[.。]+$")
_CONJUNCTION = regex.compile(r"(?i)^\W*(?:and|or|&|/)\W+")
# "A or C", "B and D", "A. play cards or D. listen to music": two choices offered side by side.
_ALTERNATIVES = regex.compile(
    r"(?<![\p{L}])\(?([A-J])\)?(?:[.:)]\s+[^.!?\n]{1,40}?)?\s*(?:,\s*)?(?:or|and|/)\s+\(?([A-J])\)?(?![\p{L}])"
)
_QUOTES = "\"'“”‘’«»「」『』`*"


@dataclass(frozen=True)
class Extraction:
    answer: str | None
    """The committed answer (a choice letter or an answer text), or None."""
    rule: str | None
    """The rule that found it ("statement", "lone_letter", ...), or None."""
    attempted: bool
    """The response committed to an answer, even one that is no choice."""
    invalid_reason: str | None = None
    """Why there is no answer: no_answer, refusal, conflicting_answers (attempted, but not one answer),
    not_a_choice (attempted, but no choice's letter or text)."""


NO_ANSWER = Extraction(None, None, False, "no_answer")


# ---- multiple choice ----


def _fold(text: str) -> tuple[str, ...]:
    return rouge_tokens(text)


def _choice_in(text: str, choices: dict[str, str], *, whole: bool) -> str | None:
    """The one choice whose text `text` is (whole=True) or contains as whole words (whole=False)."""
    tokens = _fold(text)
    if not tokens:
        return None
    found = []
    for label, choice in choices.items():
        wanted = _fold(choice)
        if not wanted:
            continue
        if whole:
            if tokens == wanted:
                found.append(label)
        elif contains_run(tokens, wanted):
            found.append(label)
    return found[0] if len(found) == 1 else None


@dataclass(frozen=True)
class _Statement:
    position: int
    letter: str | None
    """The choice it names (by letter or by text), or None."""
    negated: bool
    """ "the answer is not D": a denial, no commitment."""
    has_text: bool
    """Something follows the marker ("The correct answer is" cut off there has nothing)."""
    conflicting: bool = False
    """It names two choices ("Answer: have no home and have no car")."""


def _statement(line: str, choices: dict[str, str]) -> _Statement | None:
    """The first answer statement in `line`: "the answer is B", "Answer: (C) department store", "the correct
    answer is a bank" (→ the letter of "bank")."""
    marker = find_marker(line)
    if marker is None:
        return None
    after = line[marker.end() :]
    has_text = bool(_fold(after))
    if _NEGATED.match(after):
        return _Statement(marker.start(), None, True, has_text)
    letter = _LETTER_AFTER.match(after)
    if letter:
        candidate, rest = letter.group(1), after[letter.end() :]
        followed_by_words = _WORDS_FOLLOW.match(rest) is not None
        # "the answer is A bank": a letter followed by words is the letter only when those words are that choice's
        # text (and it is a capital); otherwise "A"/"a" is the article and the words are the answer.
        if candidate.upper() in choices and (
            not followed_by_words or (candidate.isupper() and _starts_with_choice(rest, choices[candidate]))
        ):
            return _Statement(marker.start(), candidate.upper(), False, has_text)
    # "The answer is Europe, which has castles in Germany and France": the choice named right after the marker
    opening = [label for label, choice in choices.items() if _starts_with_choice(after, choice)]
    if len(opening) > 1:  # two choices with the same text: no one letter
        return _Statement(marker.start(), None, False, has_text)
    if opening:
        rest = _after_words(after, len(_fold(choices[opening[0]])))
        conjunction = _CONJUNCTION.match(rest)
        if conjunction and any(_starts_with_choice(rest[conjunction.end() :], c) for c in choices.values()):
            return _Statement(marker.start(), None, False, has_text, conflicting=True)
        return _Statement(marker.start(), opening[0], False, has_text)
    return _Statement(
        marker.start(), _choice_in(_first_sentence(after), choices, whole=False), False, has_text
    )


def _after_words(text: str, count: int) -> str:
    """`text` after its first `count` word tokens."""
    matches = list(_WORD.finditer(text))
    return text[matches[count - 1].end() :] if 0 < count <= len(matches) else ""


def _starts_with_choice(rest: str, choice: str) -> bool:
    tokens, wanted = _fold(rest), _fold(choice)
    return bool(wanted) and tokens[: len(wanted)] == wanted


def _first_sentence(text: str) -> str:
    return _SENTENCE_BREAK.split(text.strip(), maxsplit=1)[0]


def _line_commitment(line: str, choices: dict[str, str]) -> tuple[str | None, str | None, bool]:
    """(letter, rule, stated) of the first commitment in one line; stated = an answer statement with some text
    was seen, even when its text is no choice. Rule "conflicting" when the statement names two choices."""
    candidates: list[tuple[int, str, str]] = []
    statement = _statement(line, choices)
    committed = statement is not None and not statement.negated
    if committed and statement.conflicting:
        return None, "conflicting", True
    if committed and statement.letter:
        candidates.append((statement.position, statement.letter, "statement"))
    lone = _LONE_LETTER.match(line)
    if lone and lone.group(1).upper() in choices:
        candidates.append((0, lone.group(1).upper(), "lone_letter"))
    led = _LETTER_LED.match(line)
    if led and led.group(1) in choices and _starts_with_choice(led.group(2), choices[led.group(1)]):
        candidates.append((led.start(1), led.group(1), "letter_and_text"))
    for pattern, rule in ((_PARENTHESIZED, "parenthesized_letter"), (_HEDGE, "hedged_letter")):
        for match in pattern.finditer(line):
            if match.group(1) in choices:
                candidates.append((match.start(1), match.group(1), rule))
    if candidates:
        _, letter, rule = min(candidates)
        return letter, rule, True
    if REFUSAL.search(line):
        return None, "refusal", False
    if not committed:
        text_choice = _choice_in(line, choices, whole=False)
        if text_choice:
            return text_choice, "choice_text", True
    return None, None, committed and statement.has_text


def _strong_letters(line: str, choices: dict[str, str]) -> set[str]:
    """Letters a line commits to explicitly (answer statements, lone letters): the ones that can contradict an
    earlier answer. Mentions inside an explanation ("not D. mall", "a library") cannot."""
    letters = set()
    for marker in find_markers(line):
        after = line[marker.end() :]
        letter = _LETTER_AFTER.match(after)
        if letter and not _NEGATED.match(after) and letter.group(1).isupper() and letter.group(1) in choices:
            letters.add(letter.group(1))
    lone = _LONE_LETTER.match(line)
    if lone and lone.group(1).upper() in choices:
        letters.add(lone.group(1).upper())
    led = _LETTER_LED.match(line)
    if led and led.group(1) in choices and _fold(led.group(2)) == _fold(choices[led.group(1)]):
        letters.add(led.group(1))  # a line that is one choice and nothing else ("D. hutch")
    letters.update(m.group(1) for m in _HEDGE.finditer(line) if m.group(1) in choices)
    return letters


def extract_choice(lines: list[str], choices: dict[str, str]) -> Extraction:
    """The committed choice letter in `lines` (see the module docstring)."""
    refused = False
    for index, line in enumerate(lines):
        if _offers_alternatives(line, choices):
            # "Both C and D could work, but I'd pick C": a pick besides the alternatives is the answer
            rest = [_ALTERNATIVES.sub(" ", line), *lines[index + 1 :]]
            picked = set().union(*(_strong_letters(other, choices) for other in rest))
            if len(picked) == 1:
                return Extraction(picked.pop(), "picked_letter", True)
            return Extraction(None, None, True, "conflicting_answers")
        letter, rule, stated = _line_commitment(line, choices)
        if rule == "conflicting":
            return Extraction(None, None, True, "conflicting_answers")
        if rule == "refusal":
            refused = True
            continue
        if letter is None:
            if stated:
                return Extraction(None, "statement", True, "not_a_choice")
            continue
        later = set().union(*(_strong_letters(other, choices) for other in lines[index:]))
        if later - {letter}:
            return Extraction(None, None, True, "conflicting_answers")
        return Extraction(letter, rule, True)
    if refused:
        return Extraction(None, "refusal", False, "refusal")
    offered = [
        line
        for line in lines
        if _fold(line) and not (FILLER.match(line) or _bare_statement(line) or _cut_off(line))
    ]
    if offered and (
        len(_fold(offered[0])) <= SHORT_ANSWER_TOKENS
        or any(_names_choices(line, choices) for line in offered)
    ):
        # an answer that is no single choice: "glasses", "farm" for "farm house", "in a small neighborhood or a
        # mall"; a discussion that names no choice ("A very large table could be many things …") is none
        return Extraction(None, None, True, "not_a_choice")
    return NO_ANSWER


SHORT_ANSWER_TOKENS = 6
"""A line this short, offered where the answer goes, is an answer even when it names no choice."""


def _names_choices(line: str, choices: dict[str, str]) -> bool:
    tokens = _fold(line)
    return any(contains_run(tokens, _fold(choice)) for choice in choices.values() if _fold(choice))


def _offers_alternatives(line: str, choices: dict[str, str]) -> bool:
    return any(
        m.group(1) != m.group(2) and m.group(1) in choices and m.group(2) in choices
        for m in _ALTERNATIVES.finditer(line)
    )


def _bare_statement(line: str) -> bool:
    """ "The correct answer is" cut off there: a statement with nothing stated."""
    marker = find_marker(line)
    return marker is not None and not _fold(line[marker.end() :])


def _cut_off(line: str) -> bool:
    """A sentence cut off by the token limit before it says anything ("The hikers stopped to have a drink
    because they"): it ends on a word that cannot end a sentence."""
    tokens = _fold(line)
    return len(tokens) >= 3 and tokens[-1] in _NON_FINAL and not line.rstrip().endswith((".", "!", "?"))


_NON_FINAL = frozenset(
    "the a an and or but because so to of in on at for with from by as that which who they he she it we you is are "
    "was were be been their his her its my your our".split()
)


# ---- free-text answers (extractive QA) ----


def extract_span(lines: list[str]) -> Extraction:
    """The answer text: the first answer line, after an answer marker when it has one ("Answer: 308",
    "Based on the passage, the answer is 308."), without quotes, emphasis or a final period. Lines after it (an
    explanation) are not part of the answer."""
    refused = False
    for line in lines:
        marker = find_marker(line)
        text, rule = (line[marker.end() :], "statement") if marker else (line, "first_line")
        if not marker and (REFUSAL.search(line) or FILLER.match(line)):
            refused = refused or bool(REFUSAL.search(line))
            continue
        answer = _clean_span(text)
        if answer:
            return Extraction(answer, rule, True)
    return Extraction(None, "refusal", False, "refusal") if refused else NO_ANSWER


def _clean_span(text: str) -> str:
    text = text.strip().lstrip(":：- ").strip()
    text = text.strip(_QUOTES).strip()
    text = _FINAL_PERIOD.sub("", text).strip()
    return text.strip(_QUOTES).strip()
