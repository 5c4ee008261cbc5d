"""Reading the model's replies: the operation a classification commits to, and the instruction a rewrite gives.

Both readers return a `Parsed` with either a value and the name of the rule that found it, or no value and a
failure reason (counted by the stage; the record is then kept unchanged) — never a silent default.

Classification replies put their reasoning first and the choice last, and real models write the choice in many
ways: "Option: B", "**Answer: (B) Add a prefix task**", "option: b", "The best option is C.", "I would go with
A", or a lone "D" on the last line. Reasoning that merely discusses an option ("Option B could work, but ...")
commits to nothing. Forms are tried from the most explicit down; the first form found decides, and every
commitment of that form must name the same operation ("Option: B" ... "Final answer: B" agree), otherwise the reply
is `conflicting_options` (as is "Option: B or C") rather than a guess. No commitment at all is `no_option`.

Rewrite replies give an explanation, then the new instruction after a label ("New instruction:", "**Rewritten
instruction:**", "### New instruction" on its own line). The instruction is what follows the last such label, up
to a line that starts another part ("Explanation:", "Note:", "Input:", "Response:", ...), unwrapped from bold,
quotes, a block quote or a code fence around the whole of it (a code block inside it is kept as it is, and lines
in it such as "Input: 3 5" end nothing); the "**"
that closes a bold label ("**New instruction:** ...") is not part of it.

Both: a reasoning model's leading <think>...</think> block is not part of the answer, and a model that goes on to
write a further example of the prompt (a line "Instruction: ..." after its answer) stops being read there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

OPERATIONS = {"A": "decompose", "B": "prefix", "C": "suffix", "D": "keep"}
"""The classifier's options, in the prompt's letters."""
REWRITES = ("decompose", "prefix", "suffix")


@dataclass(frozen=True)
class Parsed:
    value: str | None
    """The operation name (classification) or the new instruction (rewrite); None when unreadable."""
    rule: str | None = None
    """Which rule found the value."""
    failure: str | None = None
    """Why there is no value: no_option, conflicting_options, no_instruction, unchanged_instruction."""


_THINK = re.compile(r"^\s*<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_NEXT_EXAMPLE = re.compile(r"^[\s>*#_]*instruction[\s*_]*:", re.IGNORECASE | re.MULTILINE)


def strip_thinking(text: str) -> str:
    """The reply without a reasoning model's leading <think> block; an unclosed one is all thought, no answer."""
    text = _THINK.sub("", text, count=1)
    return "" if text.lstrip().lower().startswith("<think>") else text


_FENCE_LINE = re.compile(r"^[ \t]*```", re.MULTILINE)


def _outside_code(pattern: re.Pattern, text: str, start: int = 0) -> re.Match | None:
    """The first match of `pattern` from `start` that is not inside a ``` code block: an instruction's example
    may hold lines such as "Input: 3 5" that are part of it."""
    for match in pattern.finditer(text, start):
        if len(_FENCE_LINE.findall(text, 0, match.start())) % 2 == 0:
            return match
    return None


def _until_next_example(text: str, answer: re.Pattern) -> str:
    """`text` up to a line "Instruction: ..." that follows the first match of `answer` (a model continuing the
    prompt's pattern with an example of its own); a restated instruction before the answer is kept."""
    first = answer.search(text)
    if first is None:
        return text
    following = _outside_code(_NEXT_EXAMPLE, text, first.end())
    return text if following is None else text[: following.start()]


# ---- classification ----


# An option letter in (), [] or \boxed{}, or bare. A bare letter followed by a lowercase word may be the article
# "a" ("Answer: a prefix task fits" is not option A), so it must be followed by the end of the line,
# punctuation, a bracket or dash, a capitalised word ("B Add a prefix task"; case-sensitively, hence (?-i:)), or
# "or"/"and" and another letter (so that "Option: B or C" is seen as two options).
def _letter(group: str) -> str:
    return (
        rf"(?:(?:\\boxed\{{|[(\[])(?P<{group}>[A-Da-d])[)\]}}]|(?P<{group}_bare>[A-Da-d])"
        r"(?=[ \t]*$|[ \t]*[.:,;)\]*/&\-–—]|[ \t]+[(\-–—]|(?-i:[ \t]+[A-Z])|[ \t]+(?:or|and)[ \t]+\(?[A-Da-d]\b))"
    )


_NAME = (
    r"(?P<name>decompos\w*|split\w*|(?:(?:add(?:ing)?\s+)?an?\s+)?(?:prefix|suffix)|keep\w*|kept"
    r"|no\s+change|unchanged|leave\s+it)"
)
_NAMED = (("decompos", "decompose"), ("split", "decompose"), ("prefix", "prefix"), ("suffix", "suffix"))
_CHOICE = rf"(?:option\s+)?(?:{_letter('letter')}|{_NAME}\b)"
_LABEL = (
    r"(?:^|(?<=[.!?])[ \t]+)[ \t>*#_\-]*(?:\d+\.\s*)?(?:(?:final|selected|chosen|best|my|correct)\s+)?"
    r"(?:option|answer|choice|operation|decision|verdict|classification|category|label)"
    r"[ \t*_]*[:：][ \t*_]*"
)
# a label starts a line or follows the end of a sentence ("It has two parts. **Answer: (A) Decompose**")
_LABELLED = re.compile(_LABEL + _CHOICE, re.IGNORECASE | re.MULTILINE)
_SENTENCES = [
    re.compile(pattern + _CHOICE, re.IGNORECASE)
    for pattern in (
        r"\b(?:best|correct|right|appropriate|suitable|most\s+(?:appropriate|suitable|fitting)|final)\s+"
        r"(?:option|answer|choice|operation)\s+(?:here\s+|for\s+this\s+\w+\s+)?(?:is|would\s+be|will\s+be)[\s:*]*",
        r"\b(?:the\s+)?answer\s+(?:is|would\s+be)[\s:*]*",
        r"\bI(?:\s+would|\s+will|'d|'ll)?\s+(?:choose|pick|select|go\s+with|opt\s+for)[\s*]+",
    )
]
_OPTION_IS_BEST = re.compile(
    r"\boption\s+" + _letter("letter") + r"[\s*]*(?:is|seems|would\s+be)\s+(?:the\s+)?"
    r"(?:best|most\s+(?:appropriate|suitable|fitting)|correct|right|appropriate|suitable)\b",
    re.IGNORECASE,
)
# "B", "**B**", "(B)", "Option B" alone on a line
_LONE = re.compile(
    r"^[ \t>*#_]*(?:option\s+)?" + _letter("letter") + r"[ \t.*_]*$", re.IGNORECASE | re.MULTILINE
)
# "B) Add a prefix task", "(C) Add a suffix task." — a line led by an option letter
_LETTER_LED = re.compile(r"^[ \t>*#_]*(?:[Oo]ption\s+)?[(\[]?(?P<letter>[A-D])[)\].:]", re.MULTILINE)
# a second option right after a committed one: "Option: B or C", "Answer: B/C"
_SECOND = re.compile(r"[ \t*]*(?:or|and|/|,|&)\s*(?:option\s+)?" + _letter("second"), re.IGNORECASE)


def _operation(match: re.Match) -> str:
    groups = match.groupdict()
    letter = groups.get("letter") or groups.get("letter_bare")
    if letter:
        return OPERATIONS[letter.upper()]
    name = groups["name"].lower()
    return next((operation for key, operation in _NAMED if key in name), "keep")


def _decide(matches: list[re.Match], rule: str, text: str) -> Parsed:
    """One operation when every commitment of the deciding form names it, else conflicting_options."""
    operations = {_operation(match) for match in matches}
    if len(operations) > 1 or any(_SECOND.match(text, match.end()) for match in matches):
        return Parsed(None, rule, "conflicting_options")
    return Parsed(operations.pop(), rule)


def parse_classification(reply: str) -> Parsed:
    """The operation (decompose, prefix, suffix, keep) the reply commits to, or a failure (module docstring)."""
    text = _until_next_example(strip_thinking(reply), _LABELLED)
    labelled = list(_LABELLED.finditer(text))
    if labelled:
        return _decide(labelled, "labelled", text)
    sentences = [match for pattern in _SENTENCES for match in pattern.finditer(text)]
    sentences += _OPTION_IS_BEST.finditer(text)
    if sentences:
        return _decide(sentences, "sentence", text)
    lone = list(_LONE.finditer(text))
    if lone:
        return _decide(lone, "lone_letter", text)
    lines = [line for line in text.splitlines() if line.strip()]
    led = list(_LETTER_LED.finditer(text))
    # one letter-led line, the last: a verdict; several: the model is listing the options, not choosing one
    if len(led) == 1 and lines and _LETTER_LED.match(lines[-1]):
        return Parsed(OPERATIONS[led[0].group("letter")], "last_line")
    return Parsed(None, None, "no_option")


# ---- rewrite ----

_INSTRUCTION_LABEL = re.compile(
    r"^[ \t>*#_]*(?:new|rewritten|revised|sequential|final|updated|modified|resulting)[ \t]+instruction"
    r"[ \t*_]*(?:[:：]|$)",
    re.IGNORECASE | re.MULTILINE,
)
_NEXT_PART = re.compile(
    r"^[ \t>*#_]*(?:explanation|reasoning|rationale|justification|notes?|input|instruction|response|answer)"
    r"[ \t*_]*[:：]",
    re.IGNORECASE | re.MULTILINE,
)
_FENCE = re.compile(r"^```[\w+-]*[ \t]*\n(?P<body>.*?)\n?```$", re.DOTALL)
_QUOTES = {'"': '"', "“": "”", "'": "'", "‘": "’", "«": "»", "`": "`"}


def _unwrap(text: str) -> str:
    """`text` without bold, quotes, a block quote or a code fence wrapping the whole of it (repeatedly)."""
    while True:
        before = text
        text = text.strip()
        fence = _FENCE.match(text)
        if fence and "```" not in fence.group("body"):
            text = fence.group("body")
        elif (
            len(text) > 4
            and text[:2] == text[-2:]
            and text[:2] in ("**", "__")
            and text[:2] not in text[2:-2]
        ):
            text = text[2:-2]
        elif len(text) > 1 and _QUOTES.get(text[0]) == text[-1] and _quote_wraps(text):
            text = text[1:-1]
        elif text.startswith(">") and all(line.startswith(">") for line in text.splitlines()):
            text = "\n".join(line[1:].removeprefix(" ") for line in text.splitlines())
        if text == before:
            return text


def _quote_wraps(text: str) -> bool:
    """The first and last characters are one pair of quotes around the whole text: with straight quotes, none
    inside (in '"Hello" means hi, say "bye"' they are two quoted words); with curly ones, balanced inside."""
    opening, closing, inner = text[0], text[-1], text[1:-1]
    if opening == closing:
        return opening not in inner
    depth = 0
    for char in inner:
        depth += (char == opening) - (char == closing)
        if depth < 0:
            return False
    return depth == 0


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


def parse_rewrite(reply: str, original: str) -> Parsed:
    """The new instruction of a rewrite reply, or a failure: no_instruction (no label, or nothing after it),
    unchanged_instruction (the same instruction, up to spacing and case)."""
    text = _until_next_example(strip_thinking(reply), _INSTRUCTION_LABEL)
    labels = list(_INSTRUCTION_LABEL.finditer(text))
    if not labels:
        return Parsed(None, None, "no_instruction")
    rest = text[labels[-1].end() :]
    end = _outside_code(_NEXT_PART, rest)
    instruction = rest[: end.start()] if end else rest
    instruction = _unwrap(
        instruction.strip().removeprefix("**") if instruction.count("**") % 2 else instruction
    )
    if not instruction:
        return Parsed(None, "label", "no_instruction")
    if _normal(instruction) == _normal(original):
        return Parsed(None, "label", "unchanged_instruction")
    return Parsed(instruction, "label")
