"""What every step is: a name, a label, verbalizations (templates/steps.json) and a way to get its target text.

A step's `prepare(records)` does the batch work for a chunk of records (provider calls) before `target(record)`
is asked for each; offline steps (repeat, parallel translate, caption) need no preparation. A target that cannot
be produced raises StepUnavailable with a stable reason key, which the pipeline counts (skip) or reports (fail).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.registry import Registry
from seqtune.templates import load_bundled

if TYPE_CHECKING:
    from seqtune.augment.config import AugmentConfig
    from seqtune.data.instructions import InstructionRecord
    from seqtune.providers.base import Completion, Provider

SPLITS = ("seen", "unseen")


@dataclass(frozen=True)
class Verbalization:
    id: str
    text: str
    split: str


class StepUnavailable(SeqtuneError):
    """The step has no target for this record (no caption for the image, provider failed, ...)."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        super().__init__(detail)


def _bank(bank_path: str | None = None) -> dict:
    if bank_path is None:
        return load_bundled("steps.json")
    from seqtune.records import read_json

    return read_json(bank_path)


def _entry(step: str, bank_path: str | None = None) -> dict:
    bank = _bank(bank_path)
    if step not in bank:
        raise ConfigError(
            f"step '{step}' has no entry in the verbalization bank; known: {', '.join(sorted(bank))}"
        )
    return bank[step]


def step_label(step: str, bank_path: str | None = None) -> str:
    """The step's label in the labelled output format, e.g. "Repetition"."""
    return _entry(step, bank_path)["label"]


def verbalizations(step: str, split: str | None = None, bank_path: str | None = None) -> list[Verbalization]:
    """The step's phrasings, in bank order; `split` ("seen"/"unseen") keeps only those of that split."""
    items = [
        Verbalization(v["id"], v["text"], v.get("split", "seen"))
        for v in _entry(step, bank_path)["verbalizations"]
    ]
    if split is not None:
        if split not in SPLITS:
            raise ConfigError(f"verbalization split must be one of {SPLITS}, got '{split}'")
        items = [v for v in items if v.split == split]
    return items


class StepContext:
    """What steps share in one run, built on first use: the provider (one cache for all steps), the captions."""

    def __init__(self, config: AugmentConfig, progress: Any = None):
        self.config = config
        self.progress = progress
        self._provider: Provider | None = None
        self._captions: dict[int, list[str]] | None = None

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            from seqtune.providers.base import ProviderSettings, build_provider

            config = self.config
            if not config.provider_model:
                raise ConfigError(
                    "augment: steps that generate text need --provider-model (and --provider-base-url)"
                )
            settings = ProviderSettings(
                model=config.provider_model,
                base_url=config.provider_base_url,
                api_key_env=config.provider_api_key_env,
                concurrency=config.provider_concurrency,
                max_retries=config.provider_max_retries,
                timeout_s=config.provider_timeout,
                cache_path=str(config.cache_path),
                options=dict(config.provider_options),
            )
            self._provider = build_provider(config.provider, settings)
        return self._provider

    @property
    def captions(self) -> dict[int, list[str]]:
        if self._captions is None:
            if not self.config.captions:
                raise ConfigError("augment: the caption step needs --captions (COCO caption annotations)")
            from seqtune.data.captions import load_captions

            self._captions = load_captions(self.config.captions)
        return self._captions

    def close(self) -> None:
        if self._provider is not None:
            self._provider.close()


class Step(ABC):
    name: ClassVar[str] = ""
    needs_input: ClassVar[bool] = True
    """Records without input are left unchanged when any step of the chain needs the input (paper rule)."""

    def __init__(self, context: StepContext):
        self.context = context

    def prepare(self, records: list[InstructionRecord]) -> None:
        """Batch work for a chunk of records before `target` is called on each of them."""

    @abstractmethod
    def target(self, record: InstructionRecord) -> str:
        """The expected intermediate text of this step for `record`."""


class GeneratedTextStep(Step):
    """A step whose target a provider writes from the input (one chat request per distinct input)."""

    @abstractmethod
    def system_prompt(self) -> str:
        """The system prompt of this step's provider requests."""

    def wants_provider(self, record: InstructionRecord) -> bool:
        return True

    def prepare(self, records: list[InstructionRecord]) -> None:
        from seqtune.providers.base import ChatRequest

        config = self.context.config
        todo = [r for r in records if self.wants_provider(r)]
        requests = [
            ChatRequest.system_user(
                self.system_prompt(), r.input, temperature=config.temperature, max_tokens=config.max_tokens
            )
            for r in todo
        ]
        self._answers: dict[int, Completion] = {}
        if requests:
            if self.context.progress is not None:
                self.context.progress.total = (self.context.progress.total or 0) + len(requests)
                self.context.progress.refresh()
            completions = self.context.provider.complete(requests, self.context.progress)
            self._answers = {id(r): c for r, c in zip(todo, completions, strict=True)}

    def generated(self, record: InstructionRecord) -> str:
        completion = self._answers.get(id(record))
        if completion is None:
            raise StepUnavailable(
                "not_prepared", f"{self.name}: no provider answer was requested for record {record.id}"
            )
        if not completion.ok:
            raise StepUnavailable(
                "provider_failed", f"{self.name}: provider failed for record {record.id}: {completion.error}"
            )
        text = completion.text.strip()
        if not text:
            raise StepUnavailable(
                "provider_empty", f"{self.name}: provider answered with empty text for record {record.id}"
            )
        return text


STEPS: Registry[Step] = Registry("step", "seqtune.steps")
