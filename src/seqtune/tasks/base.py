"""The interface every benchmark implements (one file per benchmark in this package).

A task loads Examples, knows its prompt variants, turns (example, variant) into an instruction + input, and
scores one response. `generate` uses only `load`, `variant_names` and `build_prompt`; `score` uses `score`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

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
    """Verbalization id(s) used, e.g. "repeat/paper" — marks seen vs unseen templates."""
    response_prefix: str = ""
    """Text forced at the start of the response (the SIT (neg.) analysis); generation continues after it."""


class Task:
    name: str = ""

    def load(self, source: str | None = None, limit: int | None = None, **options: Any) -> list[Example]:
        raise NotImplementedError

    def variant_names(self) -> list[str]:
        raise NotImplementedError

    def build_prompt(self, example: Example, variant: str) -> PromptSpec:
        raise NotImplementedError

    def score(self, prediction: dict) -> dict:
        """Per-example score record from one prediction record (which carries gold and expected steps)."""
        raise NotImplementedError


TASKS: Registry[Task] = Registry("task", "seqtune.tasks")
