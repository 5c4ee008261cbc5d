"""The interface every benchmark implements (one file per benchmark in this package).

A task loads Examples, knows its prompt variants, turns (example, variant) into an instruction + input, and
scores one prediction. `generate` uses `load`, `variant_names`, `build_prompt` and `prediction_fields` (the
fields a prediction record carries so that scoring needs neither data nor model); `score` uses `score`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from seqtune.errors import ConfigError, RecordError, SeqtuneError
from seqtune.metrics.answers import Extraction
from seqtune.records import ErrorPolicy, iter_json_records, looks_like_path, seeded_index
from seqtune.registry import Registry
from seqtune.sequential import Analysis, InputView, analyse, answer_lines


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

    options: tuple[str, ...] = ("on_error",)
    """The `task_options` this task reads."""

    def check_options(self, options: dict[str, Any]) -> None:
        """A one-line ConfigError for an option the task does not read or a bad value (checked before a run)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            raise ConfigError(
                f"task '{self.name}': unknown task_options {', '.join(unknown)}; known: {', '.join(self.options)}"
            )

    def load(self, source: str | None = None, limit: int | None = None, **options: Any) -> list[Example]:
        """Read the examples (and keep them: -neg variants draw another example's text from them)."""
        self.check_options(options)
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
        prefix = self.negative_prefix(example, parsed.steps[0]) + "\n" if parsed.negative else ""
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

    def negative_prefix(self, example: Example, step: str) -> str:
        """The intermediate text a -neg variant forces: another example's (SIT (neg.))."""
        other = self.other_example(example)
        return self.step_target(other, step) or other.question

    def other_example(self, example: Example) -> Example:
        """A different loaded example, chosen by a seeded hash of the example id (stable across runs and order)."""
        others = [candidate for candidate in self.examples if candidate.id != example.id]
        if not others:
            raise ConfigError(f"task '{self.name}': a -neg variant needs at least two loaded examples")
        return others[seeded_index(self.neg_seed, example.id, len(others))]

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

    metrics: tuple[Metric, ...] = ()
    """What this task reports beyond the metrics every task has (`COMMON_METRICS`): per-example field, summary
    name, aggregation and definition. score.py aggregates exactly these and knows no task."""
    accuracy_definition: str = ""
    """What `accuracy` means for this task (written into every summary)."""

    def all_metrics(self) -> tuple[Metric, ...]:
        return (*COMMON_METRICS, *self.metrics)

    @cached_property
    def _known_variants(self) -> frozenset[str]:
        return frozenset(self.variant_names())

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        """(field, why) when this prediction cannot be one of this task's (unknown variant, wrong gold ...)."""
        if prediction["variant"] not in self._known_variants:
            return "variant", f"task '{self.name}' has no variant '{prediction['variant']}'"
        return None

    def input_view(self, prediction: dict) -> InputView:
        """The example's input as the response analysis sees it (multiple-choice tasks add their choices)."""
        return InputView.of(prediction.get("question") or "")

    @abstractmethod
    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        """The committed answer in the answer lines of a response (`seqtune.sequential.answer_lines`)."""

    @abstractmethod
    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        """Per-example answer fields; must contain "correct" (False for answer None)."""

    def extra_metrics(self, analysis: Analysis, extraction: Extraction, prediction: dict) -> dict:
        """Task-specific per-example fields beyond the answer's (the probe's R / A / R+A)."""
        return {}

    def score(self, prediction: dict, options: Any) -> dict:
        """The score record of one prediction (which carries gold, steps and expected texts): answer, correctness,
        following, and per step the output's presence, faithfulness and similarity."""
        from seqtune.metrics.following import has_output, is_faithful
        from seqtune.metrics.rouge import rouge_l

        steps = list(prediction.get("steps") or [])
        expected = expected_texts(prediction)
        source = prediction.get("question") or ""
        view = self.input_view(prediction)
        analysis = analyse(
            prediction.get("response") or "", steps, expected, view, prediction.get("response_prefix") or ""
        )
        extraction = self.extract(answer_lines(analysis.answer_part, view), prediction)
        answer = extraction.answer
        fields = self.answer_metrics(answer, prediction)
        thresholds = options.thresholds
        step_output = [
            has_output(step, segment, source, text, thresholds)
            for step, segment, text in zip(steps, analysis.segments, expected, strict=True)
        ]
        record = {
            "id": prediction["id"],
            "task": prediction["task"],
            "variant": prediction["variant"],
            "lang": prediction.get("lang", "en"),
            "template": prediction.get("template", ""),
            "gold": fields.pop("gold_used", prediction.get("gold")),
            "answer": answer,
            "answer_rule": extraction.rule if answer is not None else None,
            "valid": answer is not None,
            "invalid_reason": None if answer is not None else _invalid_reason(prediction, extraction),
            "attempted": extraction.attempted,
            **fields,
            "correct": fields["correct"] if answer is not None else False,  # a share for VQA's accuracy
            "followed": all(step_output) and extraction.attempted,
            "steps": steps,
            "segments": analysis.segments,
            "answer_part": analysis.answer_part,
            "step_output": step_output,
            "faithful": [
                is_faithful(step, segment, source, text, thresholds)
                for step, segment, text in zip(steps, analysis.segments, expected, strict=True)
            ],
            "rouge_l": [
                rouge_l(text, segment).fmeasure if text else None
                for text, segment in zip(expected, analysis.segments, strict=True)
            ],
            "input_length": len(source),
        }
        record.update(self.extra_metrics(analysis, extraction, prediction))
        return record


@dataclass(frozen=True)
class Metric:
    """One number of a task's summary: the mean of a per-example field (or, per_step, of each step's values)."""

    field: str
    name: str
    definition: str
    per_step: bool = False


COMMON_METRICS = (
    Metric("correct", "accuracy", "see the task's accuracy definition; an invalid answer counts as wrong"),
    Metric(
        "followed",
        "following_rate",
        "the paper's following: every step has an output and an answer was attempted, regardless of correctness",
    ),
    Metric("attempted", "attempted_rate", "an answer was attempted (committed to), right or wrong"),
    Metric("valid", "valid_rate", "an answer could be read (a choice letter / an answer text)"),
    Metric("step_output", "step_output", "per step: the response has an output for it", per_step=True),
    Metric(
        "faithful",
        "faithful",
        "per step: the output is a good one (near-verbatim repetition, related non-copy paraphrase, English "
        "translation close to the reference); thresholds in following_thresholds",
        per_step=True,
    ),
    Metric(
        "rouge_l",
        "rouge_l",
        "per step: ROUGE-L F vs the expected text (a caption step: the best over the image's reference captions; "
        "Unicode-aware)",
        per_step=True,
    ),
    Metric(
        "bertscore", "bertscore", "per step: BERTScore F1 vs the expected text (model named)", per_step=True
    ),
)


def _invalid_reason(prediction: dict, extraction: Extraction) -> str | None:
    if not (prediction.get("response") or "").strip():
        return "empty_response"
    return extraction.invalid_reason


def expected_texts(prediction: dict) -> list[str]:
    """One expected text per step ("" where unknown)."""
    steps = prediction.get("steps") or []
    return ([*(prediction.get("expected") or []), *[""] * len(steps)])[: len(steps)]


TASKS: Registry[Task] = Registry("task", "seqtune.tasks")
CHAINS_WITH_TRANSLATE = (*Task.chains[:3], "translate", *Task.chains[3:])
"""The chains of tasks whose inputs may be in another language (translate the input into English first)."""


def read_examples(path: str, on_error: str, make: Callable[[dict, str, str], Example]) -> list[Example]:
    """`make(record, path, location)` for every record of a JSON/JSONL file; a bad record (one `make` refuses
    with a RecordError) stops the read or, with on_error=skip, is counted and left out."""
    policy = ErrorPolicy(on_error)
    examples = []
    for location, record in iter_json_records(path, policy):
        try:
            examples.append(make(record, path, location))
        except RecordError as error:
            policy.handle(error)
    return examples


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
