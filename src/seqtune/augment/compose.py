"""Compose a sequential record's instruction and output from step phrases and step targets.

Instruction: "First <phrase 1>, then <phrase 2>, then <original instruction>" (the paper's wording).
Output, two formats (`seqtune.parse.parse_response` is the inverse of both):
- "newline" (the paper): the step targets, then the original output, joined by "\\n".
- "labelled": every part under a header line of its own, e.g. "Repetition:\\n<input>\\nAnswer:\\n<output>".
  Header lines are exact ("<label>:"), so a parser that knows how many lines each target spans never confuses a
  target line that happens to read "Answer:" with a header.
"""

from __future__ import annotations

import re

OUTPUT_FORMATS = ("newline", "labelled")
ANSWER_LABEL = "Answer"

# First words that keep their capital: the pronoun I, and names that often open Alpaca instructions. Acronyms
# and CamelCase words ("SQL", "iPhone", "JavaScript") are caught by the letter-case rule in _keeps_capital.
_PROPER_FIRST_WORDS = frozenset(
    """I I'm I've I'd I'll English French Spanish German Chinese Japanese Italian Russian Arabic Portuguese Hindi
    Korean Dutch Greek Turkish Latin Python Java Excel Google Amazon Apple Microsoft Facebook Twitter Instagram
    YouTube Netflix Linux Windows America American Europe European Africa African Asia Asian Australia Canada
    China India Japan France Germany Italy Spain Mexico Brazil Russia London Paris Shakespeare Einstein Mr Mrs Ms
    Dr Monday Tuesday Wednesday Thursday Friday Saturday Sunday January February March April June July August
    September October November December Christmas Earth Mars Jupiter Venus God Bitcoin Covid COVID-19 Harry""".split()
)
_WORD = re.compile(r"[^\s,.;:!?\"')\]]+")


def header(label: str) -> str:
    """The header line of one part in the labelled format."""
    return f"{label}:"


def _keeps_capital(instruction: str) -> bool:
    match = _WORD.match(instruction)
    if not match:
        return True
    word = match.group(0)
    if not word[0].isupper():
        return True  # already lower case, or starts with a digit/symbol: nothing to change
    if word in _PROPER_FIRST_WORDS or word.removesuffix("'s") in _PROPER_FIRST_WORDS:
        return True
    # an acronym ("SQL", "AI") or a CamelCase name ("McDonald", "JavaScript"): any later capital letter
    return any(ch.isupper() for ch in word[1:])


def lower_first(instruction: str) -> str:
    """The instruction with its first letter lower-cased, unless that would be wrong (I, acronyms, names)."""
    if not instruction or _keeps_capital(instruction):
        return instruction
    return instruction[0].lower() + instruction[1:]


def compose_instruction(phrases: list[str], instruction: str) -> str:
    """ "First p1, then p2, then <instruction>"; no phrases → the instruction unchanged."""
    if not phrases:
        return instruction
    parts = [f"First {phrases[0]}", *(f"then {phrase}" for phrase in phrases[1:])]
    if instruction:
        parts.append(f"then {lower_first(instruction)}")
    return ", ".join(parts)


def compose_output(
    targets: list[str], final: str, fmt: str = "newline", labels: list[str] | None = None
) -> str:
    """The sequential output: every step target, then the original output, in format `fmt`.

    `labels` (labelled format only) are the steps' labels, one per target, e.g. ["Repetition"].
    """
    if fmt == "newline":
        return "\n".join([*targets, final])
    if fmt == "labelled":
        if labels is None or len(labels) != len(targets):
            raise ValueError("the labelled format needs one label per step target")
        parts = [f"{header(label)}\n{target}" for label, target in zip(labels, targets, strict=True)]
        parts.append(f"{header(ANSWER_LABEL)}\n{final}")
        return "\n".join(parts)
    raise ValueError(f"unknown output format '{fmt}'; known: {', '.join(OUTPUT_FORMATS)}")
