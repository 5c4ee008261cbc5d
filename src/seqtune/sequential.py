"""THE sequential format, both ways: composing sequential records (augment) and reading model responses (score).

Composing: the instruction is "First <phrase 1>, then <phrase 2>, then <original instruction>" (the paper's
wording); the output is every step target, then the original output, either joined by "\n" ("newline", the
paper's) or each under a header line of its own ("labelled": "Repetition:\n<input>\nAnswer:\n<output>").

Reading: one segment per intermediate step, then the answer part. The split uses what is known at scoring time —
the example's input, each step's expected text, header lines ("Repetition:", "Here is the translation:",
"Answer:") — never line counts alone, so a repetition written on one line, a chat preamble or a base model that
goes on to invent the next prompt are all read as a person would:

- Empty lines and label-only lines are skipped; a prompt-scaffold line ("### Instruction:", "### Input:") ends the
  response (a base model has started a new example).
- repeat: the run of lines that reproduces the input, each line copying a later part of the input than the one
  before (so a second copy of the question starts the next step); choice lines ("A. bank") only inside a listing,
  in increasing label order, so a lone "A. bank" after the listing is an answer. A line that reproduces the input
  and then answers ("E. new york Answer: A", "… what language? 美国手语") is cut where the answer starts.
- a step with a known expected text (translate: the English input): the lines that overlap that text.
- other steps (paraphrase, ...): the lines up to the first one that answers ("Answer: B", a lone "B", a choice
  line), else up to the next repetition (when a repeat step follows), else all lines but the last (the answer is
  one line). An answer statement after text on the same line ("… they were what? Answer: B") is cut off.
- A forced start (`response_prefix`, the SIT (neg.) analysis) is the first step's segment as it is.

What remains is the answer part; `answer_lines` gives its lines without any text that reproduces the input, which
is never a source of the answer (docs/metrics.md lists every rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import regex

from seqtune.metrics.rouge import lcs_length
from seqtune.metrics.tokenize import rouge_tokens

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
_WORD = regex.compile(r"[^\s,.;:!?\"')\]]+")


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


# ---- reading responses ----

# A label, possibly numbered or a markdown heading ("1. Paraphrase:", "### Answer").
_HEADER = regex.compile(r"^\s*(?:\d{1,2}[.)]\s*|[-•]\s*)?(?:#+\s*)?([^\n:：]{2,60}?)\s*[:：]\s*(.*)$")
_HEADING = regex.compile(r"^\s*#+\s*([^\n:：#]{2,60}?)\s*#*\s*$")
_EMPHASIS = regex.compile(r"\*\*|__")
_TWO_LETTERS = regex.compile(r"\p{L}{2}")
_LABEL_WORD = regex.compile(r"^\s*(\w+)\s*[:：]")
_LONE_LETTER = regex.compile(r"\s*[\(\[]?[A-Ja-j][\)\]]?[.!]?\s*")
_HEADER_MAX_WORDS = 7
_ANNOUNCEMENT_MAX_WORDS = 20
# Words that open a line of the input itself ("Passage: ...", "Question: ...") rather than a label.
_INPUT_LABELS = frozenset({"passage", "question", "context", "choices", "options", "input text"})
_SCAFFOLD = regex.compile(r"^\s*#{2,}\s*(?:instruction|input)\b", regex.IGNORECASE)
# Where an answer statement starts: "the answer is", "Answer:", "correct choice:", "Output:", and the same in the
# languages of XQuAD ("Antwort:", "答案：", "Ответ:", "الإجابة:", "คำตอบคือ" ...).
_ANSWER_MARKER = regex.compile(
    r"(?i)(?:\b(?:(?:the|my|final|correct|right|best)\s+)*(?:answer|choice|option|output|result)\b\s*"
    r"(?:(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b|[:：=])"
    r"|\b(?:die\s+)?antwort(?:\s+ist)?\s*[:：]|\bdie\s+antwort\s+ist\b|\b(?:la\s+)?respuesta(?:\s+es)?\s*[:：]"
    r"|\bla\s+respuesta\s+es\b|\bответ\s*[:：]|\bответ\s*[-—–]|الإجابة\s*[:：]|الجواب\s*[:：]|答案\s*(?:是|为|[:：])"
    r"|คำตอบ(?:คือ)?\s*[:：]?|\bcâu\s+trả\s+lời(?:\s+là)?\s*[:：]?|\bréponse\s*[:：]|\bαπάντηση\s*[:：]"
    r"|(?:\bη\s+)?απάντηση(?:\s+είναι)?\s*[:：]?|\b(?:cevap|yanıt)(?:\s+şudur)?\s*[:：]|उत्तर(?:\s+है)?\s*[:：]?)"
)
# Words one of which every answer marker holds: a cheap test that spares most lines (long passages) the search.
_MARKER_WORDS = (
    "answer",
    "choice",
    "option",
    "output",
    "result",
    "antwort",
    "respuesta",
    "ответ",
    "الإجابة",
    "الجواب",
    "答案",
    "คำตอบ",
    "câu trả lời",
    "réponse",
    "απάντηση",
    "cevap",
    "yanıt",
    "उत्तर",
)


def find_marker(line: str) -> regex.Match | None:
    """The first answer marker in `line` ("the answer is", "Answer:", "答案：" ...), or None."""
    lowered = line.lower()
    if not any(word in lowered for word in _MARKER_WORDS):
        return None
    return _ANSWER_MARKER.search(line)


def find_markers(line: str) -> list[regex.Match]:
    lowered = line.lower()
    return list(_ANSWER_MARKER.finditer(line)) if any(word in lowered for word in _MARKER_WORDS) else []


# A choice label: "(A)", "[A]", "A.", "A)", "A:".
_LABEL = r"(?:[\(\[]([A-J])[\)\]]\s*[.:：]?|([A-J])\s*[.):：])"
_CHOICE_LINE = regex.compile(rf"^\s*{_LABEL}\s*(.+?)\s*$")
_INLINE_CHOICE = regex.compile(rf"(?<![\p{{L}}\p{{N}}]){_LABEL}\s*")
_QUESTION_END = regex.compile(r"[?？؟]\s*$")
# Question words of the languages seqtune evaluates: a copy of a question keeps them, an answer written into the
# question's sentence ("… serves as a security measure at a bank.") drops one.
_QUESTION_WORD = regex.compile(
    r"(?i)\b(?:what|where|who|whom|whose|which|why|how|when|was|wo|wer|wen|wem|wann|wie|welche[rsnm]?|warum"
    r"|qué|que|dónde|quién|quiénes|cuándo|cómo|cuál|cuáles|cuánto|cuántos|что|где|кто|когда|как|какой|какая"
    r"|какие|сколько|почему|ما|ماذا|أين|من|متى|كيف|كم|أي|gì|đâu|ai|nào|bao)\b|什么|哪|谁|何时|几|多少|为什么|怎么"
    r"|อะไร|ที่ไหน|ใคร|เมื่อไร|อย่างไร|กี่|ไหน"
)
_QUESTION_LABEL = regex.compile(r"^\s*(?:question|q)\s*[:：]", regex.IGNORECASE)
_LAST_QUESTION_MARK = regex.compile(r"^(.*[?？؟])\s*(\S.*)$")
REPRODUCTION_MIN_TOKENS = 4
"""Shorter text (a choice's words, a name from the passage) is an answer, never a copy of the input."""
REPRODUCTION_MIN_PRECISION = 0.75
"""Share of a line's tokens that must come from the input (in order) for the line to be a reproduction ..."""
REPRODUCTION_MIN_COVER = 0.5
"""... and it must also cover this share of one input line (so a short answer span quoted from a passage is not a
reproduction) — or be a long verbatim copy (`LONG_COPY_CHARS` characters at precision ≥ 0.9), as a truncated
repetition of a passage is."""
LONG_COPY_CHARS = 60
STEP_OUTPUT_MIN_TOKENS = 3
"""Fewer tokens than this, alone where a step's output (a paraphrase, a caption) should be, is an answer."""
TRANSLATION_MIN_OVERLAP = 0.5
"""A line belongs to a translation step when this share of its tokens are words of the reference English input
(and it has `REPRODUCTION_MIN_TOKENS` tokens)."""


@dataclass
class Analysis:
    segments: list[str]
    """One per step, "" where the response has no output for it."""
    answer_part: str
    """What follows the last step's output (up to a prompt-scaffold line)."""


@dataclass(frozen=True)
class InputView:
    """The example's input, prepared once per prediction for the reproduction tests."""

    tokens: tuple[str, ...]
    lines: tuple[tuple[str, ...], ...]
    questions: dict[int, frozenset[str]]
    """Input lines that are questions (end with a question mark): index → their question words."""
    choices: dict[str, tuple[str, ...]]
    """label → tokens of the choice text (multiple-choice inputs), else empty."""
    choice_texts: dict[str, str]
    """label → the choice text, lower-cased (to recognise a choice line cut off mid-word)."""
    has_question_label: bool
    """The input itself has a "Question:" line (XQuAD), so such a line in a response may be a copy of it."""
    choice_lines: frozenset[int]
    """Indices of the input lines that are choice lines ("A. bank")."""

    @classmethod
    def of(cls, source: str, choices: dict[str, str] | None = None) -> InputView:
        return _input_view(source, tuple((choices or {}).items()))

    @classmethod
    def build(cls, source: str, choices: dict[str, str]) -> InputView:
        raw = [line for line in source.split("\n") if rouge_tokens(line)]
        lines = tuple(rouge_tokens(line) for line in raw)
        return cls(
            tuple(token for line in lines for token in line),  # no token spans a newline
            lines,
            {
                index: frozenset(word.lower() for word in _QUESTION_WORD.findall(line))
                for index, line in enumerate(raw)
                if _QUESTION_END.search(line)
            },
            {label: rouge_tokens(text) for label, text in (choices or {}).items()},
            {label: text.strip().lower() for label, text in (choices or {}).items()},
            any(_QUESTION_LABEL.match(line) for line in raw),
            frozenset(index for index, line in enumerate(raw) if choices and _CHOICE_LINE.match(line)),
        )


@lru_cache(maxsize=8192)
def _input_view(source: str, choices: tuple[tuple[str, str], ...]) -> InputView:
    """Cached: every variant and model of a run scores the same inputs (a dev set of a few thousand fits)."""
    return InputView.build(source, dict(choices))


def header_of(line: str) -> tuple[str, str] | None:
    """(label, rest) when `line` opens with a label ("Translation:", "Here is the paraphrase:"), else None.
    Lines of the input itself ("Passage: …", "Question: …") and choice lines ("A: bank") are not headers."""
    match = _HEADER.match(line) or _HEADING.match(line)
    if not match:
        return None
    label = match.group(1).strip().lower()
    rest = match.group(2).strip() if match.re is _HEADER else ""
    if len(label.split()) > _HEADER_MAX_WORDS or label in _INPUT_LABELS or not _TWO_LETTERS.search(label):
        return None
    return label, rest


def is_answer_label(label: str) -> bool:
    return find_marker(label + ":") is not None


def _best_line(tokens: tuple[str, ...], view: InputView) -> tuple[int, float]:
    """(index, cover) of the input line that `tokens` copies most tokens of (cover: the share of that line)."""
    if not view.lines:
        return -1, 0.0
    common = [lcs_length(tokens, line) for line in view.lines]
    best = max(range(len(common)), key=lambda i: (common[i], common[i] / len(view.lines[i])))
    return best, common[best] / len(view.lines[best])


def _answers_question(text: str, tokens: tuple[str, ...], line: int, view: InputView) -> bool:
    """`text` is the question at `line` turned into its answer: a question word dropped, new words added."""
    words = view.questions.get(line)
    if not words or _QUESTION_END.search(text):
        return False
    kept = {word.lower() for word in _QUESTION_WORD.findall(text)}
    return not words <= kept and bool(set(tokens) - set(view.lines[line]))


def reproduced_line(text: str, view: InputView) -> int | None:
    """The index of the input line that `text` copies (possibly imperfectly, partly or reformatted), or None when
    `text` is new text. A one-line copy of several input lines gives the first of them."""
    tokens = rouge_tokens(text)
    if len(tokens) < REPRODUCTION_MIN_TOKENS:
        return None
    if view.choices and _listed_choices(text, view) >= 2:
        return 0  # "Choices: A) bank B) library ..." on one line
    precision = lcs_length(tokens, view.tokens) / len(tokens) if view.tokens else 0.0
    if precision < REPRODUCTION_MIN_PRECISION:
        return None
    index, cover = _best_line(tokens, view)
    if _answers_question(text, tokens, index, view):
        return None  # "… serves as a security measure at a bank." answers the question; it does not copy it
    truncated = tokens == view.lines[index][: len(tokens)]  # a copy cut off by the token limit
    if (
        cover >= REPRODUCTION_MIN_COVER
        or truncated
        or (len(text.strip()) >= LONG_COPY_CHARS and precision >= 0.9)
    ):
        return index
    return None


def reproduces_input(text: str, view: InputView) -> bool:
    return reproduced_line(text, view) is not None


def choice_line(line: str, view: InputView, *, in_listing: bool = False) -> str | None:
    """The label of a line that is one of the input's choice lines ("A. bank", "(A) bank", "A: bank"), else None.
    in_listing (the line follows the question or another choice line): an imperfect copy ("D. take a class" for
    "take class") or a line cut off inside the choice's text ("D. slaughter h") is one too."""
    match = _CHOICE_LINE.match(line)
    label = match and (match.group(1) or match.group(2))
    if not match or label not in view.choices:
        return None
    text = match.group(3)
    if _same_text(text, view.choices[label]):
        return label
    if not in_listing:
        return None
    similar = _same_text(text, view.choices[label], share=0.5)
    return label if similar or view.choice_texts[label].startswith(text.strip().lower()) else None


def mentioned_choices(text: str, view: InputView) -> int:
    """How many different choices' texts `text` mentions as whole words (a listing without labels mentions several)."""
    tokens = rouge_tokens(text)
    return sum(contains_run(tokens, choice) for choice in view.choices.values() if choice)


def contains_run(tokens: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    """`wanted` occurs in `tokens` as consecutive tokens (a choice's words, whole)."""
    size = len(wanted)
    return any(tokens[i : i + size] == wanted for i in range(len(tokens) - size + 1))


def _same_text(text: str, choice: tuple[str, ...], share: float = 0.8) -> bool:
    tokens = rouge_tokens(text)
    return (
        bool(tokens) and bool(choice) and lcs_length(tokens, choice) >= share * max(len(tokens), len(choice))
    )


def _listed_choices(text: str, view: InputView) -> int:
    """How many of the input's choices `text` lists with their labels ("A) bank B) library" → 2)."""
    marks = list(_INLINE_CHOICE.finditer(text))
    listed = 0
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(text)
        label = mark.group(1) or mark.group(2)
        if label in view.choices and _same_text(text[mark.end() : end].strip(" ,;"), view.choices[label]):
            listed += 1
    return listed


def split_answer(line: str, view: InputView) -> tuple[str, str | None]:
    """(copied part, answer part) of a line that reproduces the input and then answers on the same line:
    "E. new york Answer: A" → ("E. new york", "Answer: A"); "… what language? 美国手语" → ("… what language?",
    "美国手语"). A line with no such answer → (line, None)."""
    marker = find_marker(line)
    if marker and marker.start() > 0:
        head = line[: marker.start()]
        if choice_line(head, view) or reproduces_input(_unlabel(head), view):
            return head.rstrip(), line[marker.start() :]
    after_question = _LAST_QUESTION_MARK.match(line)
    if after_question and view.questions:
        question, rest = after_question.group(1), after_question.group(2)
        listing = _listed_choices(rest, view) or mentioned_choices(rest, view) >= 2
        if not listing and not reproduces_input(rest, view) and reproduces_input(_unlabel(question), view):
            return question, rest
    return line, None


def _unlabel(line: str) -> str:
    """The line without a leading label ("The input is: Where …" → "Where …")."""
    header = header_of(line)
    return header[1] if header and header[1] else line


def _content_lines(response: str, view: InputView) -> list[str]:
    """The response up to a line where a base model starts a new example ("### Instruction:", or "Question:" when
    the input has no such line)."""
    lines: list[str] = []
    for line in _EMPHASIS.sub("", response).split("\n"):
        new_example = _SCAFFOLD.match(line) or (_QUESTION_LABEL.match(line) and not view.has_question_label)
        if new_example and any(previous.strip() for previous in lines):
            break
        lines.append(line)
    return lines


def _is_label_only(line: str, view: InputView) -> bool:
    """A line that only announces what follows: "Translation:", "Sure! Here is the input repeated:", "As an AI
    language model, …, but I can repeat the input:"."""
    header = header_of(line)
    if header and not header[1]:
        return not is_answer_label(header[0])
    stripped = line.strip()
    announces = stripped.endswith((":", "：")) and len(stripped.split()) <= _ANNOUNCEMENT_MAX_WORDS
    return announces and not find_marker(stripped) and not reproduces_input(stripped, view)


def _skip_labels(lines: list[str], position: int, view: InputView) -> tuple[int, str | None]:
    """Past empty lines and label-only lines; returns the position and the text after a label on the same line
    ("Translation: The passage …" → that text), or None."""
    while position < len(lines):
        line = lines[position]
        if not line.strip() or _is_label_only(line, view):
            position += 1
            continue
        header = header_of(line)
        if header and not is_answer_label(header[0]):
            return position, header[1]
        return position, None
    return position, None


def _take_repetition(lines: list[str], position: int, view: InputView) -> tuple[str, int, str | None]:
    """The run of lines that reproduces the input, from `position`. Returns (segment, next position, the answer
    that followed the copy on its last line, if any)."""
    position, inline = _skip_labels(lines, position, view)
    taken: list[str] = []
    last_line, last_label = -1, ""
    while position < len(lines):
        line = inline if (inline is not None and not taken) else lines[position]
        if not line.strip():
            position += 1
            continue
        copied, answer = split_answer(line, view)
        label = choice_line(copied, view, in_listing=bool(taken))
        if label:
            if not taken or label != _next_label(last_label, view):
                break  # a choice line alone, or out of order ("E. sweat" after the question), is an answer
            last_label = label
        elif last_label:
            break  # the listing ended the copy: a new line is the next step or the answer
        else:
            index = reproduced_line(_unlabel(copied), view)
            if index is None or index <= last_line:
                break  # new text, or a second copy of the same part of the input (the next step)
            last_line = index
        taken.append(copied.rstrip())
        position += 1
        if answer is not None:
            return "\n".join(taken), position, answer
    return "\n".join(taken), position, None


def _next_label(label: str, view: InputView) -> str | None:
    """The choice label that follows `label` in the input ("" → the first one)."""
    labels = sorted(view.choices)
    following = [other for other in labels if other > label]
    return following[0] if following else None


def _find_repetition(lines: list[str], position: int, view: InputView) -> tuple[str, int, int, str | None]:
    """The first run of lines from `position` on that reproduces the input: (segment, start, end, answer cut from
    its last line). A model may answer first and repeat after ("Answer: C\n\nInput: <the question>")."""
    for start in range(position, len(lines)):
        if lines[start].strip():
            segment, end, answer = _take_repetition(lines, start, view)
            if segment:
                return segment, start, end, answer
    return "", position, position, None


def _take_overlapping(
    lines: list[str], position: int, expected: str, view: InputView
) -> tuple[str, int, str | None]:
    """The lines of a translation of the input: at most as many lines as the expected text, each opening with the
    same label as its line there ("Passage:", "Question:") or overlapping the expected text."""
    position, inline = _skip_labels(lines, position, view)
    wanted = set(rouge_tokens(expected))
    expected_lines = [line for line in expected.split("\n") if line.strip()]
    taken: list[str] = []
    while position < len(lines) and len(taken) < len(expected_lines):
        line = inline if (inline is not None and not taken) else lines[position]
        if not line.strip():
            position += 1
            continue
        marker = find_marker(line)
        head = line[: marker.start()] if marker else line
        label = _label_word(head)
        tokens = rouge_tokens(head)
        same_label = label is not None and label == _label_word(expected_lines[len(taken)])
        shared = sum(token in wanted for token in tokens)
        if not same_label and (
            len(tokens) < REPRODUCTION_MIN_TOKENS or shared < TRANSLATION_MIN_OVERLAP * len(tokens)
        ):
            break
        taken.append(head.rstrip())
        position += 1
        if marker:
            return "\n".join(taken), position, line[marker.start() :]
    return "\n".join(taken), position, None


def _label_word(line: str) -> str | None:
    match = _LABEL_WORD.match(line)
    return match.group(1).lower() if match else None


def _take_other(
    lines: list[str], position: int, view: InputView, next_is_repeat: bool
) -> tuple[str, int, str | None]:
    """Lines up to the first answer (or the next repetition), else all but the last non-empty line."""
    position, inline = _skip_labels(lines, position, view)
    if position >= len(lines):
        return "", position, None
    rest = [inline if inline is not None else lines[position], *lines[position + 1 :]]
    listing = _listing_lines(rest, view)  # a paraphrase of a multiple-choice input may list the choices again
    for offset, line in enumerate(rest):
        marker = find_marker(line)
        if marker and marker.start() > 0 and not header_of(line):
            # "… they were what? Answer: B": the step's text, then the answer on the same line
            segment = "\n".join([*rest[:offset], line[: marker.start()]]).strip()
            return segment, position + offset + 1, line[marker.start() :]
        next_part = offset > 0 and (
            _is_label_only(line, view) or (next_is_repeat and reproduces_input(line, view))
        )
        if offset not in listing and (_starts_answer(line, view) or next_part):
            return "\n".join(rest[:offset]).strip(), position + offset, None
    filled = [offset for offset, line in enumerate(rest) if line.strip()]
    if len(filled) == 1 and len(rouge_tokens(rest[filled[0]])) < STEP_OUTPUT_MIN_TOKENS:
        return (
            "",
            position + filled[0],
            None,
        )  # one short line ("red", "308"): the answer; the step was skipped
    stop = filled[-1] if len(filled) > 1 and filled[-1] not in listing else len(rest)
    return "\n".join(rest[:stop]).strip(), position + stop, None


def _starts_answer(line: str, view: InputView) -> bool:
    """A line that is an answer: an answer statement or label, a lone choice letter or a choice line."""
    if find_marker(line):
        return True
    if not view.choices:
        return False
    return bool(_LONE_LETTER.fullmatch(line)) or bool(choice_line(line, view))


def analyse(
    response: str, steps: list[str], expected: list[str], view: InputView, prefix: str = ""
) -> Analysis:
    """Split `prefix + response` into one segment per step and the answer part (module docstring)."""
    lines = _content_lines(response, view)
    segments: list[str] = []
    position = 0
    carried: str | None = None  # an answer that followed the last step's output on the same line
    early: list[str] = []  # lines before a repetition that came late: an answer given first
    for index, step in enumerate(steps):
        if index == 0 and prefix.strip():
            segments.append(prefix.strip())
            continue
        if carried is not None:
            segments.append("")
            continue
        if step == "repeat":
            segment, start, end, carried = _find_repetition(lines, position, view)
            early.extend(line for line in lines[position:start] if line.strip())
            position = end
        elif expected[index]:
            segment, position, carried = _take_overlapping(lines, position, expected[index], view)
        else:
            next_is_repeat = index + 1 < len(steps) and steps[index + 1] == "repeat"
            segment, position, carried = _take_other(lines, position, view, next_is_repeat)
        segments.append(segment)
    rest = [*early, *([carried] if carried is not None else []), *lines[position:]]
    return Analysis(segments, "\n".join(rest).strip())


def answer_lines(answer_part: str, view: InputView) -> list[str]:
    """The answer part's non-empty lines with every reproduction of the input removed (choice listings, the
    question), and label-only lines dropped. A run of choice lines is a listing when it has three lines or more or
    runs to the last choice; a choice line alone, or two that stop short ("C. exercise\nD. movement"), are
    answers."""
    lines = [line for line in answer_part.split("\n") if line.strip()]
    listing = _listing_lines(lines, view)
    kept: list[str] = []
    for index, line in enumerate(lines):
        if index in listing:
            continue
        if choice_line(line, view):
            kept.append(line.strip())
            continue
        copied, answer = split_answer(line, view)
        if answer is not None:
            kept.append(answer.strip())
            continue
        header = header_of(line)
        if (header and not header[1]) or _is_label_only(line, view):
            continue  # "Answer:" alone: the answer is on the next line
        if not find_marker(line) and _copies_question(line, view):
            continue
        kept.append(line.strip())
    return kept


def _copies_question(line: str, view: InputView) -> bool:
    """A copy of the input other than of one choice line ("Maybe D, school students?" names choice D)."""
    index = reproduced_line(_unlabel(line), view)
    return index is not None and index not in view.choice_lines


def _listing_lines(lines: list[str], view: InputView) -> set[int]:
    """Indices of the lines that list the choices (runs of choice lines in increasing label order)."""
    listing: set[int] = set()
    run: list[int] = []
    last_label = max(view.choices, default="")
    for index, line in enumerate([*lines, ""]):
        label = choice_line(line, view, in_listing=bool(run)) if line else None
        previous = choice_line(lines[run[-1]], view, in_listing=True) if run else None
        if label and (not run or (previous is not None and label > previous)):
            run.append(index)
            continue
        if len(run) >= 3 or (
            len(run) >= 2 and choice_line(lines[run[-1]], view, in_listing=True) == last_label
        ):
            listing.update(run)
        run = [index] if label else []
    return listing
