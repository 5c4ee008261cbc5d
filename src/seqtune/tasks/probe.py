"""The paper's Table 1 probe of off-the-shelf models on CommonsenseQA.

One prompt: "Please repeat the input and then answer the question in the input." Each response gets
R (`repeated`: the question is reproduced near-verbatim somewhere in it — choices reformatted or left out still
count, a sentence that weaves an answer into the question does not), A (`answered`: it commits to exactly one
choice, right or wrong; listing the choices is not answering) and R+A (both). R-L and B-S of Table 1 are the
per-step ROUGE-L / BERTScore of the repetition against the input.
"""

from __future__ import annotations

import regex

from seqtune.metrics.answers import Extraction
from seqtune.metrics.rouge import lcs_length
from seqtune.metrics.tokenize import rouge_tokens
from seqtune.sequential import Analysis
from seqtune.tasks.base import TASKS, Example, Metric, PromptSpec
from seqtune.tasks.commonsense_qa import CommonsenseQA, choices_of

PROBE_INSTRUCTION = "Please repeat the input and then answer the question in the input."
PROBE_VARIANT = "probe"
QUESTION_MIN_RECALL = 0.8
"""Share of the question's tokens a line must reproduce, in order, to count as a repetition of it."""
_QUESTION_WORDS = frozenset("what where who whom whose which why how when".split())
_CHOICE_LINE = regex.compile(r"^\s*[A-J]\.\s")


def question_stem(question: str) -> str:
    """The question without its choice lines."""
    return "\n".join(line for line in question.split("\n") if not _CHOICE_LINE.match(line))


def repeats_question(response: str, stem: str) -> bool:
    """A line (or the whole short response) reproduces at least `QUESTION_MIN_RECALL` of the question's tokens in
    order and keeps its question words: "… at a bank." for "… at a what?" answers the question, it does not
    repeat it."""
    wanted = rouge_tokens(stem)
    if not wanted:
        return False
    question_words = _QUESTION_WORDS.intersection(wanted)
    candidates = [line for line in response.split("\n") if line.strip()]
    if len(rouge_tokens(response)) <= 3 * len(wanted):
        candidates.append(response)
    for text in candidates:
        tokens = rouge_tokens(text)
        if lcs_length(tokens, wanted) >= QUESTION_MIN_RECALL * len(wanted) and question_words <= set(tokens):
            return True
    return False


@TASKS.register("probe")
class Probe(CommonsenseQA):
    name = "probe"
    metrics = (
        Metric("repeated", "repeated", "R: the question is reproduced near-verbatim (docs/metrics.md)"),
        Metric("answered", "answered", "A: the response commits to exactly one choice, right or wrong"),
        Metric("repeated_and_answered", "repeated_and_answered", "R+A: both"),
    )

    def variant_names(self) -> list[str]:
        return [PROBE_VARIANT]

    def build_prompt(self, example: Example, variant: str) -> PromptSpec:
        if variant != PROBE_VARIANT:
            from seqtune.errors import ConfigError

            raise ConfigError(f"task 'probe' has one variant, '{PROBE_VARIANT}', not '{variant}'")
        return PromptSpec(
            instruction=PROBE_INSTRUCTION,
            input=example.question,
            steps=["repeat"],
            expected=[example.question],
            template="probe/paper",
            template_split="seen",
        )

    def extra_metrics(self, analysis: Analysis, extraction: Extraction, prediction: dict) -> dict:
        response = (prediction.get("response_prefix") or "") + (prediction.get("response") or "")
        repeated = repeats_question(response, question_stem(prediction.get("question") or ""))
        answered = extraction.answer is not None and extraction.answer in choices_of(prediction)
        return {"repeated": repeated, "answered": answered, "repeated_and_answered": repeated and answered}
