"""The SIT authors' own evaluation files: Alpaca records whose `input` packs the task and whose `output` is the gold.

Written by the authors' scripts (hanxuhu/SeqIns, construct_data/make_data_commonsense.py and make_data_xquad.py)
as a JSON array, or one record per line:

CommonsenseQA — `output` is the answer key::

    {"instruction": "Select the correct choice to answer the question in the input",
     "input": "Question: A revolving door is convenient for two direction travel, but it also serves as a security
               measure at a what?\\nChoices: A:bank, B:library, C:department store, D:mall, E:new york",
     "output": "A"}

XQuAD — `output` is the first gold answer; the authors append a note to the question and the start of the
response to the input, and neither is part of the question::

    {"instruction": "Answer the question from the given passage. ...",
     "input": "Passage: The Panthers defense gave up just 308 points, ...\\nQuestion: How many points did the
               Panthers defense surrender?Note: Your answer should be directly extracted from the passage and be a
               single entity, name, or number. Provide the answer in quotations.\\n### Response: Based on the
               passage, the answer to the question is : ",
     "output": "308"}

The records carry no id and no language: a reader takes the record's position as its id and the language from the
file name (the authors name them `xquad_<lang>.json`). Pure functions; every malformed record is a RecordError
naming the source, the record and the field.
"""

from __future__ import annotations

import re

from seqtune.errors import RecordError
from seqtune.records import require_str

SIT_FIELDS = ("instruction", "input", "output")

_QUESTION_START = re.compile(r"\A\s*Question\s*:\s*", re.IGNORECASE)
_CHOICES_LINE = re.compile(r"^[ \t]*Choices\s*:[ \t]*", re.IGNORECASE | re.MULTILINE)
_FIRST_LABEL = re.compile(r"\s*A\s*:\s*")
_PASSAGE_START = re.compile(r"\A\s*(?:Passage|Context)\s*:[ \t]*", re.IGNORECASE)
_QUESTION_LINE = re.compile(r"\n[ \t]*Question\s*:[ \t]*", re.IGNORECASE)
# what the authors' make_data_xquad.py appends to every question, and the response start it appends to the input
_AUTHORS_NOTE = re.compile(r"\s*Note:\s*Your answer should be\b.*\Z", re.DOTALL)
_RESPONSE_START = re.compile(r"\n\s*###\s*Response\s*:.*\Z", re.DOTALL)
# a gold that is a letter: "A", "A.", "(A)", "A)"; or a letter and its choice's text: "A: bank", "A. bank", "(A) bank"
_GOLD_LETTER = re.compile(r"\A\(?([A-Z])\)?[.:)]?\Z")
_GOLD_LETTER_TEXT = re.compile(r"\A(?:\(([A-Z])\)[.:]?|([A-Z])[.:)])\s*(\S.*)\Z", re.DOTALL)


def is_sit_format(record: object) -> bool:
    """A record in the authors' format: instruction, input and output fields (their types are checked when it
    is read, so that a wrong type is an error rather than a record of another format)."""
    return isinstance(record, dict) and all(field in record for field in SIT_FIELDS)


def parse_csqa_input(text: str, source: str = "", location: str = "") -> tuple[str, dict[str, str]]:
    """(question stem, {label: choice text}) from "Question: <stem>\\nChoices: A:bank, B:library, ...".

    Choices are split at ", X:" where X is the next label in sequence (A, B, C, ...), so a choice's text may hold
    commas and other letters followed by colons: only the next label ends it.
    """

    def error(detail: str) -> RecordError:
        return RecordError(source, location, "bad_input", detail, field="input")

    start = _QUESTION_START.match(text)
    if start is None:
        raise error("expected 'Question: <question>' then a 'Choices: A:…, B:…' line")
    choices_line = _CHOICES_LINE.search(text, start.end())
    if choices_line is None:
        raise error("no 'Choices:' line after the question")
    stem = text[start.end() : choices_line.start()].strip()
    listing = text[choices_line.end() :].rstrip()
    if not stem:
        raise error("the question is empty")
    if "\n" in listing:
        raise error("unexpected text after the 'Choices:' line")
    first = _FIRST_LABEL.match(listing)
    if first is None:
        raise error("the choices do not start with 'A:'")
    choices: dict[str, str] = {}
    label, position = "A", first.end()
    while True:
        following = chr(ord(label) + 1)
        separator = re.compile(rf",\s*{following}\s*:\s*").search(listing, position) if label < "Z" else None
        end = separator.start() if separator else len(listing)
        choice = listing[position:end].strip()
        if not choice:
            raise error(f"choice {label} is empty")
        choices[label] = choice
        if separator is None:
            break
        label, position = following, separator.end()
    if len(choices) < 2:
        raise error("fewer than two choices")
    return stem, choices


def csqa_gold(output: str, choices: dict[str, str], source: str = "", location: str = "") -> str:
    """The gold choice letter from the record's `output`: a letter ("A", "A.", "(A)"), a letter with its choice's
    text ("A: bank", "A. bank"), or the text of exactly one choice ("bank"). A letter whose text is another
    choice's, or a text that is no choice's, is an error: the record contradicts itself."""

    def error(detail: str) -> RecordError:
        return RecordError(source, location, "bad_gold", detail, field="output")

    gold = output.strip()
    letter = _GOLD_LETTER.match(gold)
    if letter:
        if letter.group(1) not in choices:
            raise error(f"'{gold}' names no choice (choices: {', '.join(choices)})")
        return letter.group(1)
    lettered = _GOLD_LETTER_TEXT.match(gold)
    label = lettered and (lettered.group(1) or lettered.group(2))
    if lettered and label in choices:
        text = lettered.group(3)
        if _fold(text) != _fold(choices[label]):
            raise error(f"'{gold}': choice {label} is '{choices[label]}'")
        return label
    matching = [label for label, text in choices.items() if _fold(text) == _fold(gold)]
    if len(matching) != 1:
        reason = (
            "is the text of several choices" if matching else "is neither a choice letter nor a choice's text"
        )
        raise error(f"'{gold}' {reason}")
    return matching[0]


def _fold(text: str) -> str:
    """Case, spacing and a final period do not tell choices apart ("New York." is "new york")."""
    return " ".join(text.casefold().split()).rstrip(".")


def parse_xquad_input(text: str, source: str = "", location: str = "") -> tuple[str, str]:
    """(passage, question) from "Passage: <passage>\\nQuestion: <question>" ("Context:" is read as "Passage:").
    The authors' note appended to the question and the response start appended to the input are dropped."""

    def error(detail: str) -> RecordError:
        return RecordError(source, location, "bad_input", detail, field="input")

    start = _PASSAGE_START.match(text)
    if start is None:
        raise error("expected 'Passage: <passage>' then a 'Question: <question>' line")
    body = _RESPONSE_START.sub("", text[start.end() :])
    questions = list(_QUESTION_LINE.finditer(body))
    if not questions:
        raise error("no 'Question:' line after the passage")
    passage = body[: questions[-1].start()].strip()
    question = _AUTHORS_NOTE.sub("", body[questions[-1].end() :]).strip()
    if not passage or not question:
        raise error(f"the {'passage' if not passage else 'question'} is empty")
    return passage, question


def xquad_gold(output: str, source: str = "", location: str = "") -> list[str]:
    """The acceptable answers: the authors keep only the first gold answer, as `output`."""
    answer = output.strip()
    if not answer:
        raise RecordError(source, location, "bad_gold", "the answer is empty", field="output")
    return [answer]


def sit_csqa_example(record: dict, source: str, location: str) -> tuple[str, dict[str, str], str]:
    """(stem, choices, gold letter) of one CommonsenseQA record in the authors' format."""
    stem, choices = parse_csqa_input(require_str(record, "input", source, location), source, location)
    return (
        stem,
        choices,
        csqa_gold(require_str(record, "output", source, location), choices, source, location),
    )


def sit_xquad_example(record: dict, source: str, location: str) -> tuple[str, str, list[str]]:
    """(passage, question, gold answers) of one XQuAD record in the authors' format."""
    passage, question = parse_xquad_input(require_str(record, "input", source, location), source, location)
    return passage, question, xquad_gold(require_str(record, "output", source, location), source, location)
