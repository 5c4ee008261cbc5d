"""What every step is: a name, a label, verbalizations (templates/steps.json) and a way to get its target text.

A step's `prepare(records)` does the batch work for a chunk of records (model calls) before `target(record)`
is asked for each; offline steps (repeat, parallel translate, caption) need no preparation. A target that cannot
be produced raises StepUnavailable with a stable reason key, which the pipeline counts (skip) or reports (fail).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from seqtune.errors import ConfigError, SeqtuneError
from seqtune.registry import Registry
from seqtune.templates import load_bundled

if TYPE_CHECKING:
    from seqtune.augment.config import AugmentConfig
    from seqtune.data.instructions import InstructionRecord
    from seqtune.lm.base import LM, Completion

SPLITS = ("seen", "unseen")


@dataclass(frozen=True)
class Verbalization:
    id: str
    text: str
    split: str


class StepUnavailable(SeqtuneError):
    """The step has no target for this record (no caption for the image, the model failed, ...)."""

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
    where = bank_path or "the bundled verbalization bank"
    if not isinstance(bank, dict):
        raise ConfigError(f"{where}: expected a mapping of step name → entry (templates/README.md)")
    if step not in bank:
        raise ConfigError(f"step '{step}' has no entry in {where}; known: {', '.join(sorted(bank))}")
    entry = bank[step]
    phrasings = entry.get("verbalizations") if isinstance(entry, dict) else None
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("label"), str)
        or not isinstance(phrasings, list)
        or not all(
            isinstance(v, dict) and isinstance(v.get("id"), str) and isinstance(v.get("text"), str)
            for v in phrasings
        )
    ):
        raise ConfigError(
            f"{where}: step '{step}': expected {{label: text, verbalizations: [{{id, text, split?}}, ...]}}"
        )
    return entry


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
    """What steps and sources share in one run, built on first use: the model and the translation models (one answer
    cache for all)."""

    def __init__(self, config: AugmentConfig):
        self.config = config
        self._lm: LM | None = None
        self._translators: dict[str, LM] = {}

    @property
    def lm(self) -> LM:
        if self._lm is None:
            from seqtune.lm.settings import build_lm

            if not self.config.model:
                raise ConfigError(
                    "augment: steps that generate text need --model (and --backend, --base-url)"
                )
            # an empty or cut-off answer would become a training target: it is a failure here
            self._lm = build_lm(self.config, reject_incomplete=True, cache_path=str(self.config.answer_cache))
        return self._lm

    def translator(self, lang: str) -> LM:
        """The translation model from English into `lang` (`mt_model`), sharing the answer cache."""
        if lang not in self._translators:
            from seqtune.lm.mt import Translator

            config = self.config
            codes = config.mt_lang_codes
            self._translators[lang] = Translator(
                config.mt_model.replace("{lang}", lang),
                source_lang=codes.get(config.lang, config.lang),
                target_lang=codes.get(lang, lang),
                device=config.device,
                dtype=config.dtype,
                batch_size=config.batch_size,
                cache_path=str(config.answer_cache),
            )
        return self._translators[lang]

    @property
    def lm_stats(self) -> dict | None:
        """The model's call counts, or None when no step called it."""
        return dict(self._lm.stats) if self._lm is not None else None

    @property
    def translation_stats(self) -> dict[str, dict]:
        """The translation models' call counts, by target language."""
        return {lang: dict(translator.stats) for lang, translator in self._translators.items()}

    def close(self) -> None:
        for lm in [self._lm, *self._translators.values()]:
            if lm is not None:
                lm.close()


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
    """A step whose target a model writes from the input (one chat request per distinct input)."""

    @abstractmethod
    def system_prompt(self) -> str:
        """The system prompt of this step's requests."""

    def wants_model(self, record: InstructionRecord) -> bool:
        return True

    def prepare(self, records: list[InstructionRecord]) -> None:
        from seqtune.lm.base import Decoding, Request

        config = self.context.config
        decoding = Decoding(max_new_tokens=config.max_new_tokens, temperature=config.temperature)
        todo = [r for r in records if self.wants_model(r)]
        self._answers: dict[int, Completion] = {}
        if todo:
            requests = [Request.chat(self.system_prompt(), r.input, decoding) for r in todo]
            completions = self.context.lm.complete(requests, desc=self.name)
            self._answers = {id(r): c for r, c in zip(todo, completions, strict=True)}

    def generated(self, record: InstructionRecord) -> str:
        completion = self._answers.get(id(record))
        if completion is None:
            raise StepUnavailable(
                "not_prepared", f"{self.name}: no model answer was requested for record {record.id}"
            )
        if not completion.ok:
            # model_failed, model_empty, model_truncated, model_lone_surrogate: counted apart
            raise StepUnavailable(
                f"model_{completion.failure or 'failed'}",
                f"{self.name}: no usable model answer for record {record.id}: {completion.error}",
            )
        return completion.text.strip()


STEPS: Registry[Step] = Registry("step", "seqtune.steps")
