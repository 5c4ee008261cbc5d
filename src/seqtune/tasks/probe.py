"""The paper's Table 1 probe of off-the-shelf models on CommonsenseQA.

One prompt: "Please repeat the input and then answer the question in the input." Each response is scored as
R (it repeated the input: ROUGE-L recall of the input inside the whole response ≥ the repeat threshold), A (the
answer is correct: read from the final segment, or from the last line when the response has no repetition) and
R+A (both).
"""

from __future__ import annotations

from typing import Any

from seqtune.metrics.rouge import rouge_l
from seqtune.tasks.base import TASKS, Example, PromptSpec
from seqtune.tasks.commonsense_qa import CommonsenseQA

PROBE_INSTRUCTION = "Please repeat the input and then answer the question in the input."
PROBE_VARIANT = "probe"


@TASKS.register("probe")
class Probe(CommonsenseQA):
    name = "probe"

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

    def extra_metrics(self, response: str, correct: bool, prediction: dict, options: Any) -> dict[str, Any]:
        """R / A / R+A of one response (R is judged on the whole response: the probe imposes no layout)."""
        threshold = options.thresholds.repeat_min_rouge_l
        repeated = rouge_l(prediction.get("question") or "", response).recall >= threshold
        return {"repeated": repeated, "answered": correct, "repeated_and_answered": repeated and correct}
