"""SeqEval (Hu et al., Seq-Instruct): 805 sequential instructions, the AlpacaEval prompts rewritten by an LLM over
1–4 iterations (adding a prefix task, a suffix task, or decomposing the instruction). No reference answers.

Each item is `{"instruction", "iteration"}`; the prompt is the instruction alone (one variant, `plain`: the
instructions are sequential already). Example ids are the items' 0-based positions in the file, as strings, so
responses written by another system (`backend=responses`, `id_field=""`) line up. Predictions carry the iteration
level in `meta.iteration`.

Scoring: there is no gold, so `seqtune score` reports only how many responses there are and how many attempt an
answer (a non-empty response that is more than a copy of the instruction); accuracy and following are left out
(null), since the following and quality of open-ended responses need a judge: `seqtune judge` (docs/seqeval.md).
Sources: a local JSON/JSONL file (e.g. ../shared/data/seqeval/seqEval.json), or a hub id (default
`pinzhenchen/SeqEval`, split `train`) through `datasets`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqtune.errors import ConfigError, RecordError
from seqtune.metrics.answers import NO_ANSWER, Extraction
from seqtune.records import record_position, require_str
from seqtune.tasks.base import TASKS, Example, Metric, PromptSpec, Task, hub_rows, read_examples

HUB_ID = "pinzhenchen/SeqEval"
HUB_SPLIT = "train"
LEVELS = (1, 2, 3, 4)
"""Iteration levels: how many rewriting rounds made the instruction (more rounds, more sub-tasks)."""
VARIANT = "plain"


@TASKS.register("seqeval")
class SeqEval(Task):
    name = "seqeval"
    options = ("on_error", "split")
    chains = (VARIANT,)
    accuracy_definition = (
        "not computed: SeqEval has no reference answers; judge following and quality with `seqtune judge` "
        "(score reports only n and the attempted rate: a non-empty response that is more than a copy of the "
        "instruction)"
    )

    def all_metrics(self) -> tuple[Metric, ...]:
        # the summary's definitions must not claim a following rate that score does not compute here
        unjudged = Metric(
            "followed", "following_rate", "not computed by score for SeqEval: see `seqtune judge`"
        )
        return tuple(unjudged if m.field == "followed" else m for m in super().all_metrics())

    def read(self, source: str | None, **options: Any) -> list[Example]:
        if source and Path(source).exists():
            return read_examples(source, options.get("on_error", "fail"), self._example)
        rows = hub_rows(source or HUB_ID, split=options.get("split", HUB_SPLIT))
        # hub rows are located like a JSON array's records, so ids are positions either way
        return [self._example(row, source or HUB_ID, f"record {i}") for i, row in enumerate(rows)]

    def _example(self, record: dict, source: str, location: str) -> Example:
        # kept even when empty (item 547 of the published file is): ids and n stay the benchmark's
        instruction = require_str(record, "instruction", source, location)
        level = record.get("iteration")
        if isinstance(level, bool) or level not in LEVELS:
            raise RecordError(
                source,
                location,
                "wrong_type",
                f"expected an iteration level 1-4, got {level!r}",
                field="iteration",
            )
        # the position, not a field: the SIT authors' response files are keyed by position too
        return Example(str(record_position(location)), instruction, None, meta={"iteration": level})

    def build_prompt(self, example: Example, variant: str) -> PromptSpec:
        if variant != VARIANT:
            raise ConfigError(f"task 'seqeval' has one variant, '{VARIANT}', not '{variant}'")
        return PromptSpec(instruction=example.question, input="", steps=[], expected=[])

    def judged_instruction(self, prediction: dict) -> str:
        """What the model was asked, as the judge shows it (seqtune.judge)."""
        return prediction.get("question") or ""

    def check_prediction(self, prediction: dict) -> tuple[str, str] | None:
        if prediction.get("gold") is not None:
            return "gold", f"SeqEval has no gold, got {prediction['gold']!r} (a prediction of another task?)"
        if not isinstance(prediction.get("question"), str):  # the judge shows it as the instruction
            return "question", "missing: SeqEval predictions carry the instruction the model was given"
        level = (prediction.get("meta") or {}).get("iteration")
        if isinstance(level, bool) or level not in LEVELS:
            return "meta.iteration", f"expected an iteration level 1-4, got {level!r}"
        return super().check_prediction(prediction)

    def extract(self, lines: list[str], prediction: dict) -> Extraction:
        # the lines left once copies of the instruction are gone are the response's own text
        text = "\n".join(lines).strip()
        return Extraction(text, "response", True) if text else NO_ANSWER

    def answer_metrics(self, answer: str | None, prediction: dict) -> dict[str, Any]:
        return {"correct": None}

    def score(self, prediction: dict, options: Any) -> dict:
        record = super().score(prediction, options)
        # no gold, no steps to check offline: correctness and following are the judge's, never a default here
        record.update(correct=None, followed=None)
        return record
