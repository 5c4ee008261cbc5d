"""The interface every benchmark implements (one file per benchmark in this package).

A task loads Examples, knows its prompt variants, turns (example, variant) into an instruction + input, and
scores one prediction. `generate` uses `load`, `variant_names`, `build_prompt` and `prediction_fields` (the
fields a prediction record carries so that scoring needs neither data nor model); `score` uses `score`.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.records import looks_like_path
from seqtune.registry import Registry


@dataclass
class Example:
    id: str
    question: str
    """The task input shown to the model (question, choices, context ...)."""
    gold: Any
    """What a correct answer is: a choice letter, a list of acceptable answer strings, ..."""
    lang: str = "en"
    meta: dict[str, Any] = field(default_factory=dict)
    """Task-specific extras a prediction must carry for scoring (CSQA: choices; XQuAD: the English input)."""


@dataclass
class PromptSpec:
    """What the model is asked, before a prompt template (Alpaca, chat) wraps it."""

    instruction: str
    input: str
    steps: list[str]
    """Names of the intermediate steps the instruction asks for, in order (empty for non-sequential prompts)."""
    expected: list[str]
    """Expected text of each intermediate step where it is known (repeat: the input), else ""."""
    template: str = ""
    """Verbalization id(s) used, e.g. "repeat/paper" or "repeat/paper+paraphrase/paper"."""
    template_split: str = ""
    """"seen" or "unseen" verbalizations ("" for a non-sequential prompt)."""
    response_prefix: str = ""
    """Text forced at the start of the response (the SIT (neg.) analysis); generation continues after it."""


class Task(ABC):
    name: str = ""
    instruction: str = ""
    """The task's own (non-sequential) instruction; sequential variants put their steps before it."""
    chains: tuple[str, ...] = (
        "plain",
        "repeat",
        "paraphrase",
        "repeat_paraphrase",
        "paraphrase_repeat_paraphrase",
    )
    """Step chains offered as variants (see variants.py); each also comes as -unseen and -neg."""
    neg_seed: int = 0
    """Seed of the choice of the other example whose intermediate text a -neg variant forces."""

    def __init__(self) -> None:
        self.examples: list[Example] = []

    # ---- loading and prompting (generate) ----

    def load(self, source: str | None = None, limit: int | None = None, **options: Any) -> list[Example]:
        """Read the examples (and keep them: -neg variants draw another example's text from them)."""
        examples = self.read(source, **options)
        self.examples = examples[:limit] if limit is not None else examples
        if not self.examples:
            raise ConfigError(
                f"task '{self.name}': no examples were loaded from {source or 'the default source'}"
            )
        return self.examples

    @abstractmethod
    def read(self, source: str | None, **options: Any) -> list[Example]:
        """Every example of the task from `source` (a local path or a hub id; None = the default source)."""

    def variant_names(self) -> list[str]:
        from seqtune.tasks.variants import variant_names

        return variant_names(self.chains)

    def build_prompt(self, example: Example, variant: str) -> PromptSpec:
        from seqtune.tasks.variants import parse_variant, sequential_instruction

        if variant not in self.variant_names():
            raise ConfigError(
                f"task '{self.name}' has no variant '{variant}'; known: {', '.join(self.variant_names())}"
            )
        parsed = parse_variant(variant)
        instruction, template = sequential_instruction(parsed, self.instruction_for(example))
        prefix = ""
        if parsed.negative:
            other = self.other_example(example)
            prefix = (self.step_target(other, parsed.steps[0]) or other.question) + "\n"
        return PromptSpec(
            instruction=instruction,
            input=example.question,
            steps=list(parsed.steps),
            expected=[self.step_target(example, step) for step in parsed.steps],
            template=template,
            template_split=parsed.split,
            response_prefix=prefix,
        )

    def instruction_for(self, example: Example) -> str:
        """The non-sequential instruction for `example` (the task's own; generic JSONL records bring theirs)."""
        return self.instruction

    def step_target(self, example: Example, step: str) -> str:
        """The expected text of `step` for `example` where it is known offline, else ""."""
        if step == "repeat":
            return example.question
        if step == "translate":
            return example.question if example.lang == "en" else example.meta.get("english", "")
        return ""  # a paraphrase has no single right text

    def other_example(self, example: Example) -> Example:
        """A different loaded example, chosen by a seeded hash of the example id (stable across runs and order)."""
        others = [candidate for candidate in self.examples if candidate.id != example.id]
        if not others:
            raise ConfigError(f"task '{self.name}': a -neg variant needs at least two loaded examples")
        digest = hashlib.sha256(f"{self.neg_seed}:{example.id}".encode()).digest()
        return others[int.from_bytes(digest[:8], "big") % len(others)]

    def prediction_fields(self, example: Example, spec: PromptSpec) -> dict[str, Any]:
        """What a prediction record must carry, besides the response, for `score` (no data, no model)."""
        return {
            "gold": example.gold,
            "lang": example.lang,
            "question": example.question,
            "steps": spec.steps,
            "expected": spec.expected,
            "template": spec.template,
            "template_split": spec.template_split,
            "response_prefix": spec.response_prefix,
            "meta": example.meta,
        }

    # ---- scoring (score) ----

    @abstractmethod
    def extract_answer(self, text: str, prediction: dict) -> str | None:
        """The answer in the final segment `text`, or None when there is none (an invalid answer)."""

    @abstractmethod
    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        """Per-example answer metrics; must contain "correct" (False for answer None)."""

    def extra_metrics(self, response: str, correct: bool, prediction: dict, options: Any) -> dict[str, Any]:
        """Task-specific per-example metrics beyond the answer's (the probe's R / A / R+A)."""
        return {}

    def score(self, prediction: dict, options: Any = None) -> dict:
        """Per-example score record from one prediction record (which carries gold and expected steps)."""
        from seqtune.score import ScoreOptions, score_prediction

        return score_prediction(self, prediction, options or ScoreOptions())


TASKS: Registry[Task] = Registry("task", "seqtune.tasks")
CHAINS_WITH_TRANSLATE = (*Task.chains[:3], "translate", *Task.chains[3:])
"""The chains of tasks whose inputs may be in another language (translate the input into English first)."""


def hub_rows(hub_id: str, *args: Any, **kwargs: Any) -> list[dict]:
    """The rows of a Hugging Face hub dataset (`datasets.load_dataset(hub_id, *args, **kwargs)`), with a
    one-line error for a mistyped local path, a missing `datasets` package or an unreachable hub."""
    if looks_like_path(hub_id):
        raise SeqtuneError(f"{hub_id}: no such file or folder")
    try:
        from datasets import load_dataset
    except ImportError:
        raise SeqtuneError(f"{hub_id}: reading a hub dataset needs `pip install seqtune[ml]`") from None
    try:
        return [dict(row) for row in load_dataset(hub_id, *args, **kwargs)]
    except Exception as exc:  # datasets raises many types: connection, not found, offline mode, bad config
        raise SeqtuneError(
            f"{hub_id}: cannot load it from the Hugging Face hub ({type(exc).__name__}: {exc})"
        ) from None
