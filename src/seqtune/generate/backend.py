"""The interface every generation back-end implements, the decoding settings, and the back-end registry.

A back-end turns rendered prompts into response texts: `Backend.generate(prompts, decoding) -> list[str]`, in the
order given. It may call `on_done(indices, texts)` as soon as some responses are ready (the pipeline flushes them
to disk, so an interrupted run resumes where it stopped).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from seqtune.prompts import PromptTemplate
from seqtune.registry import Registry

OnDone = Callable[[list[int], list[str]], None]


@dataclass(frozen=True)
class Decoding:
    """How responses are decoded; saved with every prediction so that scores can be traced to it."""

    max_new_tokens: int = 256
    min_new_tokens: int = 0
    temperature: float = 0.0
    """0 means greedy decoding."""
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0

    def to_dict(self) -> dict:
        values = asdict(self)
        values["stop"] = list(self.stop)
        return values


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to (not including) the earliest stop string it contains."""
    cut = min((text.find(s) for s in stop if s and s in text), default=-1)
    return text if cut < 0 else text[:cut]


class Backend(ABC):
    """Base class: `model`/`adapter` name what answered (recorded in every prediction)."""

    name: str = ""
    model: str = ""
    adapter: str | None = None
    continues_prompt: bool = True
    """The model continues the prompt text itself, so a forced response start (response_prefix) is honoured."""

    def render(self, template: PromptTemplate, instruction: str, input_text: str) -> str:
        """The text sent for one (instruction, input); back-ends with a tokenizer pass it for chat templates."""
        return template.render(instruction, input_text)

    def saved_template(self) -> PromptTemplate | None:
        """The prompt template stored beside the model/adapter, if the back-end can see one."""
        return None

    @abstractmethod
    def generate(
        self, prompts: Sequence[str], decoding: Decoding, on_done: OnDone | None = None
    ) -> list[str]:
        """One response per prompt, in order; `on_done(indices, texts)` is called as batches finish."""

    def close(self) -> None:
        """Release files, connections or memory held by the back-end."""

    def describe(self) -> dict:
        """What goes into the manifest about this back-end."""
        return {"backend": self.name, "model": self.model, "adapter": self.adapter}


BACKENDS: Registry[Backend] = Registry("generation back-end", "seqtune.generate")
"""name → factory(GenerateConfig) -> Backend."""
